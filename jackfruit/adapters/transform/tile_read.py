"""Reading a request from tiles: from each tile the grid window and lead times the domain's selection rules
pick (tiles read in parallel), assembled into one dataset; what selects nothing is named with the nearest
data. Longitudes come back in the box's frame (``selection.frame``), ascending: -180..180 for a box that does
not cross the antimeridian, west..east + 360 for one that does (170..190 for the box 170,-170), whatever the
tile's grid (-180..180 or 0..360); each is the file's grid longitude plus a whole number of turns, and the
values under it are the file's, bit for bit. Latitudes run north to south. A crc32c failure in what was read
by byte range is an ``IntegrityError`` naming the tile and object."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable, Iterator, Sequence

import numpy as np
import xarray as xr

from jackfruit.domain.errors import IntegrityError, InvalidInput, NotFound
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.model import Tile
from jackfruit.domain.selection import LAYOUTS, nearest_valid_times, select_steps, select_window
from jackfruit.domain.tiling import time_entries
from jackfruit.ports.storage import ObjectStore

from .shard_reader import ShardedArray
from .tile_assemble import Piece, assemble
from .tile_open import OpenTile

# What zarr 3 raises when a crc32c codec's stored and computed checksums differ (zarr.codecs.Crc32cCodec,
# a plain ValueError): the chunk or the shard index fetched is not what was written.
CRC32C_FAILURE = "Stored and computed checksum do not match"

#: opens one tile (verified; cached by the caller)
Opener = Callable[[ObjectStore, Tile], OpenTile]


def is_crc32c_failure(err: BaseException) -> bool:
    return isinstance(err, ValueError) and str(err).startswith(CRC32C_FAILURE)


@contextmanager
def crc32c_checked(tile_key: str, ranged: Callable[[], Sequence[str]]) -> Iterator[None]:
    """Inside: zarr's crc32c failure (a plain ``ValueError`` raised from its async decoding) becomes an
    ``IntegrityError`` naming the tile and ``ranged()``, the objects read by byte range (only those rely on
    crc32c: every whole-object read is checked against the manifest's SHA-256 before zarr decodes it).
    Any other error passes unchanged."""
    try:
        yield
    except ValueError as err:
        if not is_crc32c_failure(err):
            raise
        objects = " or ".join(ranged()) or "(a chunk read by range)"
        raise IntegrityError(f"tile {tile_key}: object {objects} failed its crc32c check: a chunk or the "
                             f"shard index read by range is not what was written ({err})") from err


@dataclass
class Miss:
    """A tile that selects nothing: the window's refusal, or the lead times it has."""

    space: str = ""
    valid_times: list = field(default_factory=list)


def read_piece(open_tile: Opener, store: ObjectStore, tile: Tile, bbox: BBox, span: TimeRange) -> Piece | Miss:
    opened: OpenTile | None = None
    try:
        with crc32c_checked(tile.key, lambda: opened.verified.ranged() if opened else []):
            opened = open_tile(store, tile)
            try:
                win = select_window(opened.grid, bbox, what=f"tile {tile.key}")
            except NotFound as miss:
                return Miss(space=str(miss))
            steps = select_steps(tile.reference_time, opened.steps, span)
            if steps is None:
                return Miss(valid_times=[tile.reference_time + timedelta(hours=s) for s in opened.steps])
            (k0, k1), (j0, j1) = steps, win.rows
            # one run of columns, or two (a box across 0 on a 0..360 grid, across 180 on a -180..180 one)
            values = _columns(opened, tile, (k0, k1), (j0, j1), [(r.i0, r.i1) for r in win.runs])
    except NotFound as err:  # listed by the catalog, so never "nothing here"
        raise IntegrityError(f"tile {tile.key} is listed by the catalog but cannot be read: {err}") from err
    g = opened.grid
    return Piece(tile, time_entries(opened.time_axis, tile.reference_time, opened.steps[k0:k1]), np.array([g.lat(j) for j in range(j0, j1)]),
                 np.array(win.lons(g)), np.asarray(values, dtype=np.float32), opened.attrs, opened.data_attrs)


def _columns(opened: OpenTile, tile: Tile, steps: tuple[int, int], rows: tuple[int, int],
             runs: Sequence[tuple[int, int]]) -> np.ndarray:
    """The values of the column runs side by side (sharded tiles: every chunk fetched in one go)."""
    (k0, k1), (j0, j1) = steps, rows
    if isinstance(opened.array, ShardedArray):
        return opened.array.read_columns((k0, k1), (j0, j1), runs)
    source = opened.array if opened.array is not None else opened.legacy[tile.variable].values
    parts = [source[k0:k1, j0:j1, i0:i1] for i0, i1 in runs]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=2)


def read_tiles(open_tile: Opener, store: ObjectStore, tiles: Sequence[Tile], bbox: BBox, time_range: TimeRange,
               layout: str = "forecast") -> xr.Dataset:
    """``TileFormat.read``: see the port."""
    if layout not in LAYOUTS:
        raise InvalidInput(f"layout {layout!r} is not one of {list(LAYOUTS)}")
    if not tiles:
        raise NotFound("no tiles to read")
    if len(tiles) == 1:
        results = [read_piece(open_tile, store, tiles[0], bbox, time_range)]
    else:
        with ThreadPoolExecutor(min(8, len(tiles))) as pool:
            results = list(pool.map(lambda t: read_piece(open_tile, store, t, bbox, time_range), tiles))
    pieces = [r for r in results if isinstance(r, Piece)]
    if not pieces:
        misses = [r for r in results if isinstance(r, Miss)]
        space = [m.space for m in misses if m.space]
        if space:
            raise NotFound(space[0])
        times = [t for m in misses for t in m.valid_times]
        raise NotFound(f"no lead time of the {len(tiles)} tile(s) found is valid in "
                       f"[{time_range.start.isoformat()}, {time_range.end.isoformat()}); "
                       f"{nearest_valid_times(times, time_range)}")
    return assemble(pieces, layout)
