"""Ports of the transformation: decode GRIB messages, write and read Zarr tiles.

Arrays cross these ports as opaque objects (numpy in the adapters); the use cases only pass them on.
"""

from __future__ import annotations

from typing import AbstractSet, Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.model import Tile
from jackfruit.domain.tiling import GRIB_NAMES, Cell, GribMessage, TileGroup

from .storage import ObjectStore


@runtime_checkable
class GribDecoder(Protocol):
    """Raises ``InvalidInput`` for a file that is not GRIB, is truncated, or has bytes outside messages."""

    def scan(self, path: str, names: AbstractSet[str] = GRIB_NAMES) -> list[GribMessage]:
        """Metadata of every message, in file order; the messages cover the file exactly. Of the ecCodes concept
        names (``GRIB_NAMES``) only ``names`` are reported, the others left "not reported" (a profile's scans ask
        for its ``grib_names``); ``InvalidInput`` for a name that is not one of them."""
        ...

    def read(self, path: str, messages: Sequence[GribMessage], out: Any = None) -> Any:
        """Values as a float32 array ``(len(messages), ny, nx)`` in grid order, NaN where the bitmap says missing.
        With ``out`` (a C-contiguous float32 array of at least that many leading rows), the values are written
        into its first ``len(messages)`` rows and that view is returned: a caller decoding slab after slab
        reuses its buffers instead of faulting in fresh memory for each."""
        ...


@runtime_checkable
class TileFormat(Protocol):
    """Writes one tile as a group of objects under ``key`` and reads tiles back, verified."""

    #: lead times a ``write`` asks ``values`` for at once (its slab of the grid): the transformation sizes the
    #: number of tiles it writes at once by it
    slab_depth: int

    def write(self, store: ObjectStore, key: str, group: TileGroup, cell: Cell,
              values: Callable[..., Any], attrs: Mapping[str, Any], scratch: str) -> tuple[int, str]:
        """Write the cell's rows and columns of every lead time of ``group`` under ``key``. ``values(k0, k1, out=None)``
        decodes lead times ``[k0, k1)`` of the group (float32 ``(k1 - k0, ny, nx)``, the whole grid; into the
        first rows of ``out`` when given, as ``GribDecoder.read`` does); the
        format asks for them in order, in slabs of its choosing, so memory does not grow with the group.
        ``scratch`` is this attempt's folder for temporary files. Returns (total bytes, SHA-256 of the tile's
        manifest). Raises ``BackendUnavailable`` (the store failed) and whatever ``values`` raises."""
        ...

    def read(self, store: ObjectStore, tiles: Sequence[Tile], bbox: BBox, time_range: TimeRange,
             layout: str = "forecast") -> Any:
        """An ``xarray.Dataset`` of the grid points ``bbox`` selects at valid times in ``time_range``, from
        ``tiles`` only, with the selection rules and layouts of ``jackfruit.domain.selection``: ``forecast``
        (forecast_reference_time, step, latitude, longitude) or ``valid_time`` (valid_time, latitude,
        longitude), each with ``present`` saying where a source message exists; provenance and licence in
        the attributes. Longitudes in the box's frame (``selection.frame``: ascending from its west edge, so
        past 180 for a box across the antimeridian), whatever the tile grid's frame; latitudes north to south.

        Raises ``NotFound`` when no grid point or no lead time is selected (naming the nearest ones),
        ``InvalidInput`` for an unknown layout, ``IntegrityError`` naming the tile and the object when a
        byte served does not match the tile's manifest anchored by ``Tile.sha256`` (docs/adr/0004)."""
        ...

    def sources(self, store: ObjectStore, tile: Tile) -> list[dict[str, int]]:
        """Where each lead time of the tile came from in its raw object, read from the tile itself (verified):
        ``[{"step": hours, "offset": byte offset, "length": bytes}, ...]`` in lead-time order; empty for tile
        versions that did not record it. Raises ``IntegrityError`` / ``BackendUnavailable`` like ``read``."""
        ...

    def verify(self, store: ObjectStore, tile: Tile) -> list[str]:
        """Every problem of one stored tile, one string each naming the tile key and the object; empty when
        intact. Checks the manifest against ``Tile.sha256`` (a tile without manifest: the version-1 digest
        over all its objects), every listed object's presence, size and SHA-256 (shards re-hashed whole), and
        objects under the tile's prefix that the manifest does not list. Problems are returned, not raised;
        raises only ``BackendUnavailable`` (the store failed)."""
        ...
