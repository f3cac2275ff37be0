"""Use cases: find tiles by bbox, time range and variables; read them as one dataset."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

from jackfruit.domain import levels
from jackfruit.domain.errors import InvalidInput, NotFound
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.model import Tile
from jackfruit.domain.selection import LAYOUTS

WORLD = BBox(-180.0, -90.0, 180.0, 90.0)
#: how far a read that found nothing looks for the nearest data, each window wider than the last
_LOOKAROUND = tuple(timedelta(days=d) for d in (2, 30, 400, 4000))
_EARLIEST = datetime(1, 1, 2, tzinfo=timezone.utc)
_LATEST = datetime(9999, 12, 30, tzinfo=timezone.utc)
from jackfruit.ports import Catalog, ObjectStore, TileFormat
from jackfruit.ports.source import Profiles, SourceProfile


def _first_accepting(profiles: list[SourceProfile], check: str, *values: Any) -> None:
    """``values`` pass ``check`` of at least one of ``profiles``; else the first profile's error."""
    errors = []
    for p in profiles:
        try:
            getattr(p, check)(*values)
            return
        except InvalidInput as err:
            errors.append(err)
    if errors:
        raise errors[0]


def check_filters(profiles: Profiles, variables: Sequence[str] | None, dataset: str | None, model: str | None,
                  level_m: int | None, level_type: str | None = None) -> None:
    """The filters of a search, checked by the dataset's profile (by every profile when no dataset is named: a
    variable, model or level no dataset has is ``InvalidInput`` naming it)."""
    candidates = [profiles.get(dataset)] if dataset is not None else profiles.all()
    for variable in variables or ():
        if not any(p in candidates for p in profiles.for_variable(variable)):
            where = f"dataset {dataset!r}" if dataset else "any registered dataset"
            raise InvalidInput(f"unknown variable {variable!r}: not a variable of {where}")
    if model is not None:
        _first_accepting(candidates, "check_model", model)
    if level_m is not None:
        _first_accepting(candidates, "check_level", level_m, level_type)


def find_tiles(catalog: Catalog, profiles: Profiles, bbox: BBox, time_range: TimeRange,
               variables: Sequence[str] | None = None, *, dataset: str | None = None, model: str | None = None,
               level_m: int | None = None, level_type: str | None = None, as_of: datetime | None = None,
               history: bool = False) -> list[Tile]:
    """The current tiles (``jackfruit.domain.currency``) that meet ``bbox`` and ``time_range``; ``as_of``: those
    current at that instant (what a consumer saw then); ``history``: every tile published by then. Tiles of
    several datasets may come back when no ``dataset`` is named."""
    if level_type is not None:
        levels.check_level_type(level_type)
    check_filters(profiles, variables, dataset, model, level_m, level_type)
    tiles = catalog.find_tiles(bbox, time_range, variables, dataset=dataset, model=model, level_m=level_m,
                               level_type=level_type, as_of=as_of, history=history)
    if dataset is None and variables:
        _one_dataset_per_name(tiles)
    return tiles


def _one_dataset_per_name(tiles: Sequence[Tile]) -> None:
    """A variable named without a dataset must be one dataset's here; else ``InvalidInput`` naming them."""
    holders: dict[str, set[str]] = {}
    for t in tiles:
        holders.setdefault(t.variable, set()).add(t.dataset)
    shared = {v: sorted(d) for v, d in sorted(holders.items()) if len(d) > 1}
    if shared:
        datasets = sorted({d for ds in shared.values() for d in ds})
        raise InvalidInput(f"variable(s) {sorted(shared)} are held here by datasets {datasets}: name one "
                           "(dataset=..., --dataset)")


def _selection(catalog: Catalog, profiles: Profiles, bbox: BBox, time_range: TimeRange,
               variables: Sequence[str] | None, dataset: str | None, model: str | None, level_type: str | None,
               level_m: int | None, as_of: datetime | None) -> tuple[str | None, str | None, str | None, int | None]:
    """The dataset, model and level a read selects: those named, else the dataset holding the variables here (one:
    several are ``InvalidInput`` naming them) and its profile's default model and level."""
    if dataset is None:
        found = catalog.find_tiles(bbox, time_range, variables, model=model, level_m=level_m, level_type=level_type,
                                   as_of=as_of)
        holders = sorted({t.dataset for t in found})
        if len(holders) > 1:
            _one_dataset_per_name(found)
            raise InvalidInput(f"the tiles here are of datasets {holders}: name one (dataset=..., --dataset)")
        if not holders:  # none here: the dataset holding them elsewhere in this time range
            holders = sorted({t.dataset for t in catalog.find_tiles(WORLD, time_range, variables, as_of=as_of)})
        if len(holders) != 1:  # none anywhere, or several elsewhere: the defaults the candidates agree on
            owners = holders or sorted({p.name for v in variables or () for p in profiles.for_variable(v)})
            defaults = {(profiles.get(o).default_model, profiles.get(o).default_level) for o in owners}
            if len(defaults) == 1:
                ((default_model, (default_type, default_level)),) = defaults
                model = default_model if model is None else model
                if level_m is None and level_type is None:
                    level_type, level_m = default_type, default_level
            return None, model, level_type, level_m
        dataset = holders[0]
    if dataset is not None:
        profile = profiles.get(dataset)
        model = profile.default_model if model is None else model
        if level_m is None and level_type is None:
            level_type, level_m = profile.default_level
    return dataset, model, level_type, level_m


def read(catalog: Catalog, profiles: Profiles, curated_store: ObjectStore, tile_format: TileFormat, bbox: BBox,
         time_range: TimeRange, variables: Sequence[str] | None = None, *, dataset: str | None = None,
         model: str | None = None, level_m: int | None = None, level_type: str | None = None,
         layout: str = "forecast", as_of: datetime | None = None) -> Any:
    """An ``xarray.Dataset`` from the matching current tiles only (``jackfruit.domain.currency``), of one dataset,
    one model and one level: those named, else the dataset holding the variables here (several are
    ``InvalidInput`` naming them: pass ``dataset``) and its profile's default model and level (``default_model``,
    ``default_level``). ``NotFound`` when nothing matches, and when a requested variable has no data in the window
    (naming it)."""
    if layout not in LAYOUTS:
        raise InvalidInput(f"layout {layout!r} is not one of {list(LAYOUTS)}")
    if level_type is not None:
        levels.check_level_type(level_type)
    check_filters(profiles, variables, dataset, model, level_m, level_type)
    dataset, model, level_type, level_m = _selection(catalog, profiles, bbox, time_range, variables, dataset, model,
                                                     level_type, level_m, as_of)
    tiles = catalog.find_tiles(bbox, time_range, variables, dataset=dataset, model=model, level_m=level_m,
                               level_type=level_type, as_of=as_of)
    kinds = sorted({(t.model, t.level_type, t.level_m) for t in tiles})
    if len(kinds) > 1:
        raise InvalidInput(f"the tiles here are of {len(kinds)} models/levels "
                           f"{[f'{m} {levels.describe(k, v)}' for m, k, v in kinds]}: name the model and level")
    level = "any level" if level_m is None else levels.describe(level_type or levels.HEIGHT, level_m)
    where = (f"{model or 'any model'} at {level} in {bbox.as_tuple()} between {time_range.start.isoformat()} and "
             f"{time_range.end.isoformat()}")
    if not tiles:
        raise NotFound(f"no tiles for {list(variables or [])} {where}; " + nearest_data(
            catalog, bbox, time_range, variables, dataset=dataset, model=model, level_m=level_m,
            level_type=level_type, as_of=as_of))
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


def _shift(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, clamped to the years datetime can hold."""
    try:
        return min(_LATEST, max(_EARLIEST, moment + delta))
    except OverflowError:
        return _LATEST if delta > timedelta(0) else _EARLIEST


def _extent(tiles: Sequence[Tile]) -> tuple[float, float, float, float]:
    return (min(t.bbox.west for t in tiles), min(t.bbox.south for t in tiles),
            max(t.bbox.east for t in tiles), max(t.bbox.north for t in tiles))


def _nearest(catalog: Catalog, bbox: BBox, span: TimeRange, variables: Sequence[str] | None, after: bool,
             **filters: Any) -> tuple[datetime, list[Tile]] | None:
    """The valid time nearest to ``span`` (first after its end, or last before its start) of the tiles meeting
    ``bbox``, and those tiles; looked for in ever wider windows (a few catalog queries, only when a read found
    nothing)."""
    for width in _LOOKAROUND:
        start, end = (span.end, _shift(span.end, width)) if after else (_shift(span.start, -width), span.start)
        if start >= end:
            return None
        window = TimeRange(start, end)
        tiles = [t for t in catalog.find_tiles(bbox, window, variables, **filters)
                 if (t.valid_start >= span.end if after else t.valid_end < span.start)]
        if tiles:
            best = (min(t.valid_start for t in tiles) if after else max(t.valid_end for t in tiles))
            return best, [t for t in tiles if (t.valid_start if after else t.valid_end) == best]
    return None


def nearest_data(catalog: Catalog, bbox: BBox, span: TimeRange, variables: Sequence[str] | None, *,
                 dataset: str | None, model: str | None, level_m: int | None, as_of: datetime | None,
                 level_type: str | None = None) -> str:
    """What the catalog has nearest to a read that found no tile, for its variables (model, level): the extent
    the tiles in its time range cover elsewhere, and the nearest valid times before and after it in its bbox
    (else anywhere, with the extent of those tiles)."""
    filters: dict[str, Any] = dict(dataset=dataset, model=model, level_m=level_m, level_type=level_type, as_of=as_of)
    level = "any level" if level_m is None else levels.describe(level_type or levels.HEIGHT, level_m)
    what = f"{list(variables) if variables else 'any variable'} {model or 'any model'} at {level}"
    parts = []
    elsewhere = catalog.find_tiles(WORLD, span, variables, **filters)
    if elsewhere:
        parts.append(f"in this time range the tiles of {what} cover {_extent(elsewhere)}")
    found = False
    for where, box in (("here", bbox), ("anywhere", WORLD)):
        for after in (False, True):
            hit = _nearest(catalog, box, span, variables, after, **filters)
            if hit:
                found = True
                side = "earliest valid time after" if after else "latest valid time before"
                place = "" if where == "here" else f" (tiles covering {_extent(hit[1])})"
                parts.append(f"the {side} is {hit[0].isoformat()}{place}")
        if found:
            break
    if not parts:
        return f"the catalog has no tile of {what} at all (within {_LOOKAROUND[-1].days} days of the range)"
    return "; ".join(parts)
