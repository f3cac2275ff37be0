"""ZarrTileFormat: a tile is one Zarr v3 group (one sharded data array + CF coordinates) under a key prefix.

Layout and chunking are argued in docs/adr/0002-tile-cells-and-chunks.md. The tile's checksum is
the SHA-256 of its manifest: one ``"<relative key> <size> <sha256>\\n"`` line per object, sorted.
"""

from __future__ import annotations

import hashlib
from datetime import timezone
from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr
import zarr
from zarr.codecs import BloscCodec, BloscShuffle
from zarr.storage import MemoryStore

from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.model import Tile
from jackfruit.domain.tiling import Cell, TileGroup
from jackfruit.ports.storage import ObjectStore

from .zarr_store import ObjectStoreZarrStore

EPOCH_UNITS = "seconds since 1970-01-01T00:00:00Z"
_COMPRESSOR = BloscCodec(cname="zstd", clevel=3, shuffle=BloscShuffle.shuffle)


def manifest_digest(entries: Sequence[tuple[str, int, str]]) -> str:
    lines = "".join(f"{key} {size} {sha}\n" for key, size, sha in sorted(entries))
    return hashlib.sha256(lines.encode()).hexdigest()


def _epoch(dt: Any) -> int:
    return int(dt.astimezone(timezone.utc).timestamp())


class ZarrTileFormat:
    def write(self, store: ObjectStore, key: str, group: TileGroup, cell: Cell, values: Any,
              attrs: Mapping[str, Any]) -> tuple[int, str]:
        (j0, j1), (i0, i1) = cell.rows, cell.cols
        block = np.ascontiguousarray(values[:, j0:j1, i0:i1], dtype=np.float32)
        steps = np.asarray(group.steps, dtype=np.int32)
        ref = _epoch(group.reference_time)
        mem = MemoryStore()
        root = zarr.open_group(mem, mode="w", zarr_format=3, attributes={
            "Conventions": "CF-1.10",
            "title": f"{attrs.get('long_name', group.variable)} ({group.model}, {group.level_m} m)",
            "institution": "CAMS regional ensemble via the Copernicus Atmosphere Data Store",
            "source": attrs.get("source_raw_key", ""),
            "history": f"{attrs.get('transformation')} v{attrs.get('transformation_version')}",
            "license": "Copernicus licence; " + str(attrs.get("attribution", "")),
            "jackfruit_model": group.model,
            "jackfruit_level_m": group.level_m,
            "jackfruit_cell": cell.cell_id,
            "jackfruit_cell_bbox": list(cell.bbox.as_tuple()),
            **{k: v for k, v in attrs.items() if k.startswith(("source_", "transformation", "attribution"))},
        })
        data = root.create_array(
            group.variable, shape=block.shape, dtype="float32", chunks=(1,) + block.shape[1:],
            shards=block.shape, compressors=_COMPRESSOR, fill_value=np.nan,
            dimension_names=("step", "latitude", "longitude"),
            attributes={k: attrs[k] for k in ("units", "long_name", "standard_name") if k in attrs}
            | {"coordinates": "valid_time forecast_reference_time", "jackfruit_variable": group.variable})
        data[...] = block
        self._coord(root, "step", steps, ("step",), {"units": "hours", "long_name": "lead time",
                                                     "standard_name": "forecast_period"})
        self._coord(root, "latitude", np.array([group.grid.lat(j) for j in range(j0, j1)]), ("latitude",),
                    {"units": "degrees_north", "standard_name": "latitude"})
        self._coord(root, "longitude", np.array([group.grid.lon(i) for i in range(i0, i1)]), ("longitude",),
                    {"units": "degrees_east", "standard_name": "longitude"})
        self._coord(root, "valid_time", ref + steps.astype(np.int64) * 3600, ("step",),
                    {"units": EPOCH_UNITS, "calendar": "proleptic_gregorian", "standard_name": "time"})
        self._coord(root, "forecast_reference_time", np.array(ref, dtype=np.int64), (),
                    {"units": EPOCH_UNITS, "calendar": "proleptic_gregorian",
                     "standard_name": "forecast_reference_time"})
        return self._upload(mem, store, key)

    @staticmethod
    def _coord(root: Any, name: str, values: np.ndarray, dims: tuple[str, ...], attrs: dict[str, Any]) -> None:
        arr = root.create_array(name, shape=values.shape, dtype=values.dtype, chunks=values.shape if values.shape else (),
                                compressors=None, dimension_names=dims, attributes=attrs, fill_value=None)
        arr[...] = values

    @staticmethod
    def _upload(mem: MemoryStore, store: ObjectStore, key: str) -> tuple[int, str]:
        entries = []
        for rel, buf in sorted(mem._store_dict.items()):
            body = buf.to_bytes()
            info = store.put(f"{key}/{rel}", body)
            entries.append((rel, info.size, info.sha256 or hashlib.sha256(body).hexdigest()))
        return sum(e[1] for e in entries), manifest_digest(entries)

    def open(self, store: ObjectStore, key: str) -> xr.Dataset:
        return xr.open_zarr(ObjectStoreZarrStore(store, key), zarr_format=3, consolidated=False,
                            chunks=None, decode_timedelta=False)

    def read(self, store: ObjectStore, tiles: Sequence[Tile], bbox: BBox, time_range: TimeRange) -> xr.Dataset:
        start = np.datetime64(time_range.start.replace(tzinfo=None), "ns")
        end = np.datetime64(time_range.end.replace(tzinfo=None), "ns")
        pieces: dict[tuple[str, Any], list[xr.Dataset]] = {}
        for tile in tiles:
            ds = self.open(store, tile.key)
            lat, lon = ds["latitude"].values, ds["longitude"].values
            keep_lat = np.nonzero((lat >= bbox.south) & (lat <= bbox.north))[0]
            keep_lon = np.nonzero((lon >= bbox.west) & (lon <= bbox.east))[0]
            valid = ds["valid_time"].values
            keep_step = np.nonzero((valid >= start) & (valid < end))[0]
            if not (keep_lat.size and keep_lon.size and keep_step.size):
                continue
            part = ds.isel(latitude=keep_lat, longitude=keep_lon, step=keep_step).load()
            part = part.expand_dims("forecast_reference_time").set_coords("valid_time")
            part["valid_time"] = part["valid_time"].expand_dims(forecast_reference_time=part.forecast_reference_time)
            pieces.setdefault((tile.variable, tile.reference_time), []).append(part)
        if not pieces:
            return xr.Dataset()
        per_variable: dict[str, list[xr.Dataset]] = {}
        for (variable, _), parts in sorted(pieces.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            per_variable.setdefault(variable, []).append(xr.combine_by_coords(parts, combine_attrs="drop_conflicts"))
        merged = [xr.concat(v, dim="forecast_reference_time", join="outer", combine_attrs="drop_conflicts")
                  for v in per_variable.values()]
        out = xr.merge(merged, join="outer", compat="no_conflicts", combine_attrs="drop_conflicts")
        for var in out.variables.values():
            var.encoding = {}  # the tiles' on-disk layout (shards, codecs) does not describe this result
        return out.sortby("latitude", ascending=False).sortby("longitude")
