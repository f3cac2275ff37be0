"""Opening one stored tile, verified, whatever its transformation version: what a read needs (attributes,
grid of the points, lead times, the data array).

Versions 3 and later (docs/adr/0005, docs/adr/0006) hold the whole grid, described in the group's
attributes; their data array is read by the shard reader, or by zarr for a layout it does not take (the
version-3 shard of every lead time is one). Versions 1 and 2 are a 10-degree cell with CF coordinate
arrays, read by xarray.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import xarray as xr
import zarr

from jackfruit.domain.errors import NotFound
from jackfruit.domain.model import Tile
from jackfruit.domain.tiling import LEAD_TIME, RegularGrid, check_time_axis
from jackfruit.ports.storage import ObjectStore

from .shard_reader import ShardedArray
from .tile_manifest import MANIFEST, tile_entries
from .zarr_store import VerifiedZarrStore


@dataclass
class OpenTile:
    attrs: dict[str, Any]  # the group's attributes (verified)
    verified: VerifiedZarrStore
    grid: RegularGrid  # of the tile's points
    steps: tuple[int, ...]  # hours from the tile's reference time, along ``time_axis``
    array: Any  # versions 3+: the data array (a ShardedArray, or zarr's for another layout)
    data_attrs: dict[str, Any]
    legacy: Any  # versions 1 and 2: the xarray dataset
    time_axis: str = LEAD_TIME  # versions 6+ record it (``analysis_time``: a day of analyses); before: lead times


def verified_store(store: ObjectStore, key: str, sha256: str) -> VerifiedZarrStore:
    """A zarr store over the tile that serves only verified bytes (the catalog's ``sha256`` anchors it)."""
    return VerifiedZarrStore(store, key, tile_entries(store, key, sha256))


def _is_local(store: ObjectStore, tile: Tile) -> bool:
    """Whether the store keeps objects as local files (reads in turn cost less than a thread hand-off)."""
    try:
        return store.local_path(f"{tile.key}/{MANIFEST}") is not None
    except (NotFound, AttributeError):
        return False


def open_tile(store: ObjectStore, tile: Tile) -> OpenTile:
    """The tile's verified metadata and data array (its objects checked against the manifest on reading)."""
    verified = verified_store(store, tile.key, tile.sha256)
    root = json.loads(verified.get_verified("zarr.json")).get("attributes", {})
    if "jackfruit_grid" in root:
        g = root["jackfruit_grid"]
        grid = RegularGrid(g["lat0"], g["lon0"], g["dlat"], g["dlon"], g["ny"], g["nx"])
        meta = json.loads(verified.get_verified(f"{tile.variable}/zarr.json"))
        reader = ShardedArray.from_metadata(tile.key, tile.variable, meta, verified.sizes(),
                                            verified.read_range, verified.stored_size,
                                            concurrent=not _is_local(store, tile))
        # an array in a layout the shard reader does not take is read by zarr
        array = None if reader else zarr.open_array(verified, path=tile.variable, mode="r", zarr_format=3)
        return OpenTile(root, verified, grid, tuple(int(s) for s in root["jackfruit_steps"]),
                        reader or array, dict(meta.get("attributes", {})), None,
                        check_time_axis(root.get("jackfruit_time_axis", LEAD_TIME)))
    # versions 1 and 2: a 10-degree cell with CF coordinate arrays
    ds = xr.open_zarr(verified, zarr_format=3, consolidated=False, chunks=None, decode_timedelta=False)
    lat, lon = ds["latitude"].values, ds["longitude"].values
    dlat = round(float(lat[1] - lat[0]), 6) if lat.size > 1 else 0.0
    dlon = round(float(lon[1] - lon[0]), 6) if lon.size > 1 else 0.0
    grid = RegularGrid(round(float(lat[0]), 6), round(float(lon[0]), 6), dlat, dlon, lat.size, lon.size)
    return OpenTile(dict(ds.attrs), verified, grid, tuple(int(s) for s in ds["step"].values), None,
                    dict(ds[tile.variable].attrs), ds)
