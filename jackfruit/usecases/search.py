"""Use cases: find tiles by bbox, time range and variables; read them as one dataset."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from jackfruit.domain import cams
from jackfruit.domain.errors import InvalidInput, NotFound
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.model import Tile
from jackfruit.domain.selection import LAYOUTS
from jackfruit.ports import Catalog, ObjectStore, TileFormat


def find_tiles(catalog: Catalog, bbox: BBox, time_range: TimeRange, variables: Sequence[str] | None = None, *,
               dataset: str | None = None, model: str | None = None, level_m: int | None = None,
               as_of: datetime | None = None, history: bool = False) -> list[Tile]:
    """The current tiles (``jackfruit.domain.currency``) that meet ``bbox`` and ``time_range``; ``as_of``: those
    current at that instant (what a consumer saw then); ``history``: every tile published by then."""
    if variables is not None:
        cams.check_variables(list(variables))
    return catalog.find_tiles(bbox, time_range, variables, dataset=dataset, model=model, level_m=level_m,
                              as_of=as_of, history=history)


def read(catalog: Catalog, curated_store: ObjectStore, tile_format: TileFormat, bbox: BBox,
         time_range: TimeRange, variables: Sequence[str] | None = None, *, dataset: str | None = None,
         model: str = "ensemble", level_m: int = 0, layout: str = "forecast",
         as_of: datetime | None = None) -> Any:
    """An ``xarray.Dataset`` from the matching current tiles only (``jackfruit.domain.currency``). ``NotFound`` when nothing
    matches, and when a requested variable has no data in the window (naming it)."""
    if layout not in LAYOUTS:
        raise InvalidInput(f"layout {layout!r} is not one of {list(LAYOUTS)}")
    tiles = find_tiles(catalog, bbox, time_range, variables, dataset=dataset, model=model, level_m=level_m,
                       as_of=as_of)
    where = (f"{model} at {level_m} m in {bbox.as_tuple()} between {time_range.start.isoformat()} and "
             f"{time_range.end.isoformat()}")
    if not tiles:
        raise NotFound(f"no tiles for {list(variables or [])} {where}")
    missing = sorted(set(variables or ()) - {t.variable for t in tiles})
    if missing:
        raise NotFound(f"no tiles for variable(s) {missing} {where} (found tiles for "
                       f"{sorted({t.variable for t in tiles})})")
    removed = [t for t in tiles if t.removed_at is not None]
    if removed:
        raise NotFound(f"{len(removed)} tile(s) current at {as_of} were removed since as superseded (first: "
                       f"{removed[0].key}, removed {removed[0].removed_at.isoformat()}); they cannot be read")
    ds = tile_format.read(curated_store, tiles, bbox, time_range, layout)
    missing = sorted(set(variables or ()) - set(ds.data_vars))
    if missing:
        raise NotFound(f"no lead time of variable(s) {missing} is valid {where}")
    return ds
