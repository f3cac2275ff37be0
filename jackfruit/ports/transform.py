"""Ports of the transformation: decode GRIB messages, write and read Zarr tiles.

Arrays cross these ports as opaque objects (numpy in the adapters); the use cases only pass them on.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.model import Tile
from jackfruit.domain.tiling import Cell, GribMessage, TileGroup

from .storage import ObjectStore


@runtime_checkable
class GribDecoder(Protocol):
    """Raises ``InvalidInput`` for a file that is not GRIB, is truncated, or has bytes outside messages."""

    def scan(self, path: str) -> list[GribMessage]:
        """Metadata of every message, in file order; the messages cover the file exactly."""
        ...

    def read(self, path: str, messages: Sequence[GribMessage]) -> Any:
        """Values as a float32 array ``(len(messages), ny, nx)`` in grid order, NaN where the bitmap says missing."""
        ...


@runtime_checkable
class TileFormat(Protocol):
    """Writes one tile as a group of objects under ``key`` and reads tiles back, verified."""

    def write(self, store: ObjectStore, key: str, group: TileGroup, cell: Cell, values: Any,
              attrs: Mapping[str, Any]) -> tuple[int, str]:
        """Write ``values[:, rows, cols]`` of the cell; returns (total bytes, SHA-256 of the group manifest)."""
        ...

    def read(self, store: ObjectStore, tiles: Sequence[Tile], bbox: BBox, time_range: TimeRange) -> Any:
        """An ``xarray.Dataset`` of the points in ``bbox`` at valid times in ``time_range``, from ``tiles`` only.

        Every object served is verified against the tile's manifest, anchored by ``Tile.sha256``;
        raises ``IntegrityError`` naming the tile and the object on any mismatch (docs/adr/0004)."""
        ...

    def verify(self, store: ObjectStore, tile: Tile) -> list[str]:
        """Every problem of one stored tile, one string each naming the tile key and the object; empty when
        intact. Checks the manifest against ``Tile.sha256`` (a tile without manifest: the version-1 digest
        over all its objects), every listed object's presence, size and SHA-256 (shards re-hashed whole), and
        objects under the tile's prefix that the manifest does not list. Problems are returned, not raised;
        raises only ``BackendUnavailable`` (the store failed)."""
        ...
