"""ZarrTileFormat: a tile is one Zarr v3 group (one sharded data array, its grid in the group's attributes)
under a key prefix; the ``TileFormat`` port joined from the modules that do each job:

- ``tile_write``: encoding a tile shard by shard and uploading it, manifest last;
- ``tile_manifest``: the manifest and the verification of a stored tile (docs/adr/0004-verified-tiles.md);
- ``tile_open``: opening a tile of any transformation version, verified; ``tile_cache``: opened tiles kept;
- ``tile_read`` and ``tile_assemble``: a request's pieces from the tiles, assembled in either layout;
- ``tile_attributes``: CF attributes, provenance and the licence.

Layout and chunking are argued in docs/adr/0005-whole-grid-tiles.md and docs/adr/0006-lead-time-shards.md.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Mapping, Sequence

import xarray as xr

from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.model import Tile
from jackfruit.domain.tiling import Cell, TileGroup
from jackfruit.ports.storage import ObjectStore

from .tile_attributes import EPOCH_UNITS, array_attrs, root_attrs
from .tile_cache import TileCache
from .tile_manifest import MANIFEST, MANIFEST_FORMAT, manifest_bytes, manifest_digest, parse_manifest, verify_tile
from .tile_open import OpenTile, open_tile, verified_store
from .tile_read import CRC32C_FAILURE, crc32c_checked, is_crc32c_failure, read_tiles
from .tile_write import CHUNK, COMPRESSORS, SlabSource, write_tile
from .zarr_store import VerifiedZarrStore

__all__ = ["ZarrTileFormat", "MANIFEST", "MANIFEST_FORMAT", "EPOCH_UNITS", "CHUNK", "CRC32C_FAILURE",
           "manifest_bytes", "manifest_digest", "parse_manifest", "crc32c_checked", "is_crc32c_failure"]


class ZarrTileFormat:
    """Tiles of the current transformation version: one tile per (model, variable, level, reference time)
    holding the whole grid, four objects: the group's ``zarr.json`` (CF attributes, grid, lead times, GRIB
    identity, source message offsets), the data array's ``zarr.json``, its shard (inner chunks of ``CHUNK``
    lead times x rows x columns, Blosc LZ4 + byte shuffle, crc32c per chunk), and ``manifest.json``. Built with
    zarr's public API in a scratch folder (``LocalStore``, the ``zarrs`` codec pipeline), then uploaded through
    the ``ObjectStore`` port, manifest last.

    Tiles of earlier versions stay readable and verifiable."""

    #: inner chunk (lead times, rows, columns), clipped to the grid; a shard per chunk of lead times
    chunk: tuple[int, int, int] = CHUNK
    compressors: tuple[Any, ...] = COMPRESSORS
    _root_attrs = staticmethod(root_attrs)

    def __init__(self, cache_size: int = 256) -> None:
        self._cache: TileCache[OpenTile] = TileCache(cache_size)

    @property
    def slab_depth(self) -> int:
        """A shard's lead times: ``write_tile`` decodes and encodes the tile shard by shard."""
        return self.chunk[0]

    def write(self, store: ObjectStore, key: str, group: TileGroup, cell: Cell, values: SlabSource,
              attrs: Mapping[str, Any], scratch: str) -> tuple[int, str]:
        return write_tile(store, key, group, cell, values, scratch, root_attrs=self._root_attrs(group, cell, attrs),
                          array_attrs=array_attrs(group, attrs), chunk=self.chunk, compressors=self.compressors)

    def verified_store(self, store: ObjectStore, key: str, sha256: str) -> VerifiedZarrStore:
        """A zarr store over the tile that serves only verified bytes (the catalog's ``sha256`` anchors it)."""
        return verified_store(store, key, sha256)

    def _open_tile(self, store: ObjectStore, tile: Tile) -> OpenTile:
        return self._cache.get((id(store), tile.key, tile.sha256), lambda: open_tile(store, tile))

    def read(self, store: ObjectStore, tiles: Sequence[Tile], bbox: BBox, time_range: TimeRange,
             layout: str = "forecast") -> xr.Dataset:
        return read_tiles(self._open_tile, store, tiles, bbox, time_range, layout)

    def open(self, store: ObjectStore, tile: Tile) -> xr.Dataset:
        """The whole tile as a dataset (verified), in the forecast layout of ``read``, its columns in the file's
        order (longitudes as the read gives them for that box): for inspection and tests; serving reads use
        ``read``."""
        opened = self._open_tile(store, tile)
        g = opened.grid
        # the grid's own columns, first to last, as a box in -180..180: across the antimeridian when the grid
        # runs past 180 (a 0..360 grid), so the read's frame (west..east+360) gives the file's column order
        west, east = (_in_180(g.lon(0)), _in_180(g.lon(g.nx - 1)))
        bbox = BBox(west, min(g.lat(0), g.lat(g.ny - 1)), east, max(g.lat(0), g.lat(g.ny - 1)))
        first = tile.reference_time + timedelta(hours=opened.steps[0])
        last = tile.reference_time + timedelta(hours=opened.steps[-1] + 1)
        return self.read(store, [tile], bbox, TimeRange(first, last))

    def sources(self, store: ObjectStore, tile: Tile) -> list[dict[str, int]]:
        attrs = self._open_tile(store, tile).attrs
        offsets, lengths = attrs.get("grib_message_offsets"), attrs.get("grib_message_lengths")
        steps = attrs.get("jackfruit_steps")
        if not offsets or not lengths or not steps or not len(offsets) == len(lengths) == len(steps):
            return []  # versions before the tile recorded its messages
        return [{"step": int(s), "offset": int(o), "length": int(n)} for s, o, n in zip(steps, offsets, lengths)]

    def verify(self, store: ObjectStore, tile: Tile) -> list[str]:
        return verify_tile(store, tile)


def _in_180(lon: float) -> float:
    """A longitude in -180..180 (180 itself as -180)."""
    return round((lon + 180.0) % 360.0 - 180.0, 6)
