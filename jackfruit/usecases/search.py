"""Use cases: find tiles by bbox, time range and variables; read them as one dataset."""

from __future__ import annotations

from typing import Any, Sequence

from jackfruit.domain import cams
from jackfruit.domain.errors import NotFound
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.model import Tile, latest_tiles
from jackfruit.ports import Catalog, ObjectStore, TileFormat


def find_tiles(catalog: Catalog, bbox: BBox, time_range: TimeRange, variables: Sequence[str] | None = None, *,
               dataset: str | None = None, model: str | None = None, level_m: int | None = None) -> list[Tile]:
    if variables is not None:
        cams.check_variables(list(variables))
    return catalog.find_tiles(bbox, time_range, variables, dataset=dataset, model=model, level_m=level_m)


def read(catalog: Catalog, curated_store: ObjectStore, tile_format: TileFormat, bbox: BBox,
         time_range: TimeRange, variables: Sequence[str] | None = None, *, dataset: str | None = None,
         model: str = "ensemble", level_m: int = 0) -> Any:
    """An ``xarray.Dataset`` from the matching tiles only (latest run per slot); ``NotFound`` when none match."""
    tiles = find_tiles(catalog, bbox, time_range, variables, dataset=dataset, model=model, level_m=level_m)
    if not tiles:
        raise NotFound(f"no {model} tiles at {level_m} m for {list(variables or [])} in {bbox.as_tuple()} "
                       f"between {time_range.start.isoformat()} and {time_range.end.isoformat()}")
    return tile_format.read(curated_store, latest_tiles(tiles), bbox, time_range)
