"""Which tiles are current: the one rule every catalog's ``find_tiles`` follows (the contract suite checks the SQL
against this module on random histories), "as known at" an instant, and when a tile stopped being current.

Tiles are immutable: a newer ingestion of the same product (a superseding run) or a re-transformation of a run
under a newer transformation version adds tiles next to the old ones. A tile's **field** is (dataset, model,
variable, level); its **product** adds the reference time (for a tile of analyses, its day: domain/tiling.py); its
**slot** adds the cell (since version 3, the whole grid: runs of different areas fill different slots). A tile
``t`` published at or before instant ``T`` is **current at T** unless a tile ``u`` also published at or before
``T`` outranks it:

- ``u`` fills the same slot and comes from a newer run (run ids are UUIDv7: a greater id is a later run); or
- ``u`` is of the same field and the same run under a newer transformation version, whatever its cell or reference
  time (a re-transformation converts the run's whole file: a new version may cut the grid or the time axis
  differently, as version 6 made one tile of a day of analyses that version 5 kept one tile per analysis; the
  run's old tiles are all replaced).

A run republished under a new version makes its older-version tiles stop being current at the publish; a newer
run makes the older run's tiles of the same slot stop being current. "As known at T" (``as_of``) gives the tiles a
consumer saw at ``T``; ``superseded_at`` is when a tile stopped being current (the grace period of
``gc --superseded`` counts from it).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Iterable, Sequence

from .errors import Conflict, InvalidInput
from .geo import utc
from .model import Tile, version_number


def field_of(tile: Tile) -> tuple:
    return (tile.dataset, tile.model, tile.variable, tile.level_type, tile.level_m)


def product(tile: Tile) -> tuple:
    return field_of(tile) + (tile.reference_time,)


def outranks(u: Tile, t: Tile) -> bool:
    """``u`` replaces ``t`` as current once both are published (the rule of the module docstring)."""
    if field_of(u) != field_of(t):
        return False
    if u.run_id == t.run_id:
        return version_number(u.transformation_version) > version_number(t.transformation_version)
    return u.reference_time == t.reference_time and u.cell_id == t.cell_id and u.run_id > t.run_id


def _published_by(tile: Tile, as_of: datetime | None) -> bool:
    if tile.published_at is None:
        raise ValueError(f"tile {tile.key} has no publish time: only the catalog's tiles can be judged current")
    return as_of is None or tile.published_at <= as_of


def current_tiles(tiles: Sequence[Tile], as_of: datetime | None = None) -> list[Tile]:
    """The tiles of ``tiles`` current at ``as_of`` (default: after every publish), judged against all of
    ``tiles`` (pass every tile of the fields concerned); input order kept."""
    as_of = None if as_of is None else utc(as_of)
    seen = [t for t in tiles if _published_by(t, as_of)]
    by_field: dict[tuple, list[Tile]] = defaultdict(list)
    for t in seen:
        by_field[field_of(t)].append(t)
    return [t for t in seen if not any(outranks(u, t) for u in by_field[field_of(t)])]


def superseded_at(tile: Tile, tiles: Iterable[Tile]) -> datetime | None:
    """When ``tile`` stopped being current: the first publish of a tile that outranks it (at or after its own
    publish; ``None`` while it is current)."""
    times = [max(u.published_at, tile.published_at) for u in tiles
             if outranks(u, tile) and u.published_at is not None and tile.published_at is not None]
    return min(times) if times else None


def removal_time(tile: Tile, current: bool, now: datetime) -> datetime | None:
    """The rule of ``Catalog.mark_removed`` (``gc --superseded``), for every catalog: the removal time to record for
    ``tile`` at ``now`` (None: already recorded, unchanged). A current tile is never removed (``Conflict``); a tile
    cannot be removed before it was published (``InvalidInput``)."""
    if current:
        raise Conflict(f"tile {tile.key} is current; only superseded tiles can be removed")
    now = utc(now)
    if tile.published_at is not None and now < tile.published_at:
        raise InvalidInput(f"tile {tile.key} cannot be removed before it was published")
    return None if tile.removed_at is not None else now
