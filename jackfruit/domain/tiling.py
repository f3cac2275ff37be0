"""Tile planning: which GRIB messages make which tile, and how a grid splits into cells.

Pure: works on message metadata (``GribMessage``), never on bytes or arrays. Every message of a
file must land in exactly one tile at one step; anything that cannot is refused whole.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Callable, Iterable
import hashlib

from . import levels
from .errors import InvalidInput
from .geo import BBox



@dataclass(frozen=True)
class RegularGrid:
    """A regular lat/lon grid as decoded: rows from ``lat0`` by ``dlat``, columns from ``lon0`` by ``dlon``.

    ``dlat`` is negative for north-to-south rows. Longitudes are as the file has them, eastwards (``dlon`` > 0)
    from ``lon0``, the file's first longitude brought to -180..180 (a GRIB2 335.05 is -24.95): a grid of
    -180..180 keeps them so, a 0..360 grid keeps 0..359.6, a grid across the antimeridian runs 170..190.
    Fewer than 360 degrees from first to last point, so each meridian is one column at most.
    """

    lat0: float
    lon0: float
    dlat: float
    dlon: float
    ny: int
    nx: int

    def lat(self, j: int) -> float:
        return round(self.lat0 + j * self.dlat, 6)

    def lon(self, i: int) -> float:
        return round(self.lon0 + i * self.dlon, 6)


@dataclass(frozen=True)
class GribMessage:
    """Metadata of one GRIB message, as the decoder port reports it, for GRIB1 and GRIB2 alike.

    ``level_type`` is edition-specific: GRIB2 typeOfFirstFixedSurface (code table 4.5), GRIB1
    indicatorOfTypeOfLevel (code table 3); ``level`` is ecCodes' ``level`` in the unit ``type_of_level`` implies
    (metres for heightAboveGround, hPa for isobaricInhPa, Pa for isobaricInPa, the model level number for
    hybrid, 0 for surface), always a whole number (the decoder refuses a file with any other). A profile types
    a level with ``type_of_level`` + ``level``, which mean the same in both editions. The fields after ``grid``
    default to "not reported" (None or ""), for records built by hand; the ecCodes decoder fills every one but
    the concept names (``GRIB_NAMES``) the scan was not asked for.
    """

    index: int  # 0-based position in the file
    offset: int
    length: int
    edition: int
    centre: int
    sub_centre: int
    discipline: int
    category: int
    number: int
    constituent_type: int | None
    template: int  # productDefinitionTemplateNumber
    level_type: int  # GRIB2 typeOfFirstFixedSurface, GRIB1 indicatorOfTypeOfLevel (see above)
    level: int  # in the unit of type_of_level: metres for heightAboveGround, 0 for surface (see above)
    reference_time: datetime
    step_hours: int
    grid_type: str
    grid: RegularGrid | None  # None when the grid is not regular lat/lon
    param_id: int | None = None  # ecCodes paramId (e.g. 210073 pm2p5); None when ecCodes cannot name it (0)
    table2_version: int | None = None  # GRIB1 only: the parameter table's version (None for GRIB2)
    indicator_of_parameter: int | None = None  # GRIB1 only: the parameter's code in that table
    type_of_level: str = ""  # ecCodes typeOfLevel: surface, heightAboveGround, isobaricInhPa, hybrid, ...
    packing: str = ""  # ecCodes packingType: grid_simple, grid_ccsds, grid_complex_spatial_differencing, ...
    data_type: str = ""  # ecCodes dataType: fc (forecast), an (analysis), ...
    short_name: str = ""  # ecCodes shortName ("unknown" when ecCodes cannot name the parameter)
    step_type: str = ""  # ecCodes stepType: instant, accum, avg, ... (``step_hours`` is the range's start)

    @property
    def where(self) -> str:
        """The message by position, level and time, as a refusal names it."""
        return (f"message {self.index + 1} (byte offset {self.offset}, level type {self.level_type} level "
                f"{self.level}, {self.reference_time:%Y-%m-%dT%H:%MZ} step {self.step_hours} h)")

    @property
    def valid_time(self) -> datetime:
        return self.reference_time + timedelta(hours=self.step_hours)


#: The ``GribMessage`` fields that are ecCodes concept names (ecCodes finds them by matching its concept tables).
#: A scan reports only those it is asked for (``GribDecoder.scan(path, names)``; a profile asks for the ones its
#: ``name_message`` reads, ``SourceProfile.grib_names``) and leaves the others at their "not reported" default:
#: ecCodes parses a concept's tables at its first lookup in a process, ~150 ms each for paramId and shortName.
GRIB_NAMES = frozenset({"param_id", "short_name", "type_of_level", "step_type", "data_type"})


def check_grib_names(names: Iterable[str]) -> frozenset[str]:
    """``names`` as a frozenset, or ``InvalidInput`` naming any that is not one of ``GRIB_NAMES``."""
    unknown = sorted(set(names) - GRIB_NAMES)
    if unknown:
        raise InvalidInput(f"unknown GRIB name(s) {', '.join(unknown)}: the names a scan reports are "
                           f"{', '.join(sorted(GRIB_NAMES))}")
    return frozenset(names)


@dataclass(frozen=True)
class MessageField:
    """The field one message holds, as its dataset's profile names it (``SourceProfile.name_message``)."""

    model: str
    variable: str
    level_m: int  # the level's value, in the unit of its type (metres for heights, the name is historic)
    reference_time: datetime
    step_hours: int
    level_type: str = "height"  # domain/levels.py


@dataclass(frozen=True)
class Cell:
    cell_id: str
    bbox: BBox
    rows: tuple[int, int]  # [j0, j1)
    cols: tuple[int, int]  # [i0, i1)


#: a tile's time axis, the dataset's choice (``SourceProfile.time_axis``): the lead times of one forecast (one tile
#: per reference time), or the analysis times of one UTC day (one tile per day, each analysis at lead time 0)
LEAD_TIME, ANALYSIS_TIME = "lead_time", "analysis_time"
TIME_AXES = (LEAD_TIME, ANALYSIS_TIME)


def check_time_axis(value: str) -> str:
    if value not in TIME_AXES:
        raise InvalidInput(f"time axis {value!r} is not one of {list(TIME_AXES)}")
    return value


@dataclass(frozen=True)
class TileGroup:
    """All messages of one tile, ordered by ``steps``: the hours from ``reference_time`` of each one's valid time.

    With the ``lead_time`` axis: one (model, variable, level, reference time), ``steps`` its lead times. With the
    ``analysis_time`` axis (since transformation version 6): one (model, variable, level, UTC day) of analyses,
    ``reference_time`` the day's 00 UTC and ``steps`` the hours of its analysis times (each at lead time 0)."""

    model: str
    variable: str
    level_m: int
    reference_time: datetime
    grid: RegularGrid
    steps: tuple[int, ...]
    message_indices: tuple[int, ...]
    level_type: str = "height"  # domain/levels.py
    time_axis: str = LEAD_TIME

    def entries(self) -> tuple[tuple[datetime, int], ...]:
        """(reference time, lead time) of each message, in ``steps`` order (``time_entries``)."""
        return time_entries(self.time_axis, self.reference_time, self.steps)

    @property
    def valid_start(self) -> datetime:
        return self.reference_time + timedelta(hours=self.steps[0])

    @property
    def valid_end(self) -> datetime:
        return self.reference_time + timedelta(hours=self.steps[-1])


def grid_id(grid: RegularGrid) -> str:
    """A short stable name of a grid (the tile key's cell part): shape plus a digest of its definition."""
    text = f"{grid.lat0:.6f} {grid.lon0:.6f} {grid.dlat:.6f} {grid.dlon:.6f} {grid.ny} {grid.nx}"
    return f"grid{grid.ny}x{grid.nx}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


#: Slack for comparing a grid's degrees (its coordinates are rounded to 1e-6).
_SLACK = 1e-6


def spans_globe(grid: RegularGrid) -> bool:
    """True when the grid's columns, half a step each side, go all the way round (``nx * dlon >= 360``)."""
    return grid.nx * abs(grid.dlon) >= 360.0 - _SLACK


def grid_extent(grid: RegularGrid) -> BBox:
    """The tile's extent: half a grid step around its outermost points, clamped to the globe; never across the
    antimeridian (a catalog stores one plain box). Longitudes are given in -180..180 whatever the grid's frame:

    * a grid whose points are all within -180..180 (CAMS Europe): its points plus half a step, clamped to
      -180 and 180 (the rule tiles of earlier versions were stored with: their extents stay true);
    * a grid that goes all the way round (``spans_globe``: a 0..360 grid of 0..359.6, EAC4's 0..359.25): the
      whole -180..180 band;
    * a grid reaching past 180 that does not go round (a crop of 170..190): the whole band too. Its true
      extent crosses the antimeridian, which a tile record cannot hold; the band is a superset, so the catalog
      still finds it for every box that meets its points, and the read selects the points (none: not a piece).
    """
    lats = (grid.lat(0), grid.lat(grid.ny - 1))
    lons = (grid.lon(0), grid.lon(grid.nx - 1))
    hy, hx = abs(grid.dlat) / 2, abs(grid.dlon) / 2
    south, north = max(-90.0, round(min(lats) - hy, 6)), min(90.0, round(max(lats) + hy, 6))
    if spans_globe(grid) or max(lons) > 180.0 + _SLACK or min(lons) < -180.0 - _SLACK:
        return BBox(-180.0, south, 180.0, north)
    return BBox(max(-180.0, round(min(lons) - hx, 6)), south, min(180.0, round(max(lons) + hx, 6)), north)


def plan_cells(grid: RegularGrid) -> list[Cell]:
    """The cells of a grid. Since transformation version 3 a tile holds the whole grid (one cell, named by
    ``grid_id``; its bbox is the extent of its points, half a step around the outermost ones); chunks inside
    the tile do the spatial partitioning (docs/adr/0005-whole-grid-tiles.md)."""
    return [Cell(grid_id(grid), grid_extent(grid), (0, grid.ny), (0, grid.nx))]


def time_entries(time_axis: str, reference_time: datetime, steps: tuple[int, ...]) -> tuple[tuple[datetime, int], ...]:
    """The (reference time, lead time) of each entry of a tile's time axis: ``(reference_time, step)`` along lead
    times, ``(reference_time + step hours, 0)`` along analysis times. Every entry's valid time is
    ``reference_time + step`` either way."""
    if check_time_axis(time_axis) == LEAD_TIME:
        return tuple((reference_time, s) for s in steps)
    return tuple((reference_time + timedelta(hours=s), 0) for s in steps)


#: names one message (its dataset's ``SourceProfile.name_message``); ``InvalidInput`` naming it otherwise
Namer = Callable[[GribMessage], MessageField]


def _day_start(moment: datetime) -> datetime:
    return datetime.combine(moment.date(), time(0), tzinfo=moment.tzinfo)


def plan_tiles(messages: list[GribMessage], name: Namer, time_axis: str = LEAD_TIME) -> list[TileGroup]:
    """Group messages into tile groups, each named by ``name`` (the dataset's one naming rule), along the dataset's
    ``time_axis`` (``TileGroup``); refuse the whole file if any message cannot be named or placed."""
    check_time_axis(time_axis)
    if not messages:
        raise InvalidInput("the file holds no GRIB messages")
    problems: list[str] = []
    groups: dict[tuple, list[tuple[int, GribMessage]]] = defaultdict(list)
    for msg in messages:
        try:
            named = name(msg)
            if msg.grid is None:
                raise InvalidInput(f"{msg.where}: grid type {msg.grid_type!r} is not a regular lat/lon grid "
                                   "this transformation can tile")
            ref, step = named.reference_time, named.step_hours
            if time_axis == ANALYSIS_TIME:
                if step != 0:
                    raise InvalidInput(f"{msg.where}: lead time {step} h in a dataset of analyses (lead time 0)")
                ref = _day_start(named.reference_time)
                step = int((named.reference_time - ref).total_seconds() // 3600)
            groups[(named.model, named.variable, named.level_type, named.level_m, ref)].append((step, msg))
        except InvalidInput as err:
            problems.append(str(err))
    if problems:
        raise InvalidInput(_summary(problems, len(messages)), problems=problems)
    planned = []
    for (model, variable, level_type, level, ref), members in sorted(groups.items(), key=lambda kv: kv[0]):
        where = f"{model}/{variable}/{levels.describe(level_type, level)}"
        members.sort(key=lambda sm: sm[0])
        for (s, a), (t, b) in zip(members, members[1:]):
            if s == t:
                when = (f"{ref.isoformat()} step {s} h" if time_axis == LEAD_TIME
                        else f"analysis time {(ref + timedelta(hours=s)).isoformat()}")
                problems.append(f"{a.where} and {b.where} are both {where} at {when} (duplicate field)")
        grids = {m.grid for _, m in members}
        if len(grids) > 1:
            problems.append(f"{where} at {ref.isoformat()} mixes grids across "
                            f"{', '.join(m.where for _, m in members)}")
        planned.append(TileGroup(model, variable, level, ref, members[0][1].grid,  # type: ignore[arg-type]
                                 tuple(s for s, _ in members), tuple(m.index for _, m in members), level_type,
                                 time_axis))
    if problems:
        raise InvalidInput(_summary(problems, len(messages)), problems=problems)
    return planned


#: up to this many problems are listed whole; more are summarised per reason (the error's ``problems`` has all)
LISTED_WHOLE = 12
_NAMED_PER_REASON = 3


def _summary(problems: list[str], total: int) -> str:
    return summarize(f"refusing the file ({len(problems)} problem(s) in {total} messages, nothing converted): ",
                     problems)


def summarize(head: str, problems: list[str]) -> str:
    """A refusal on one line: every problem when few; else the count of each reason with its first messages
    named (the error's ``problems`` and the CLI's ``--json`` carry the full list)."""
    if len(problems) <= LISTED_WHOLE:
        return head + "; ".join(problems)
    by_reason: dict[str, list[str]] = defaultdict(list)
    for problem in problems:
        where, sep, reason = problem.partition("): ")
        if sep and where.startswith("message "):
            by_reason[reason].append(where.split(" (", 1)[0])
        else:
            by_reason[problem].append("")
    parts = []
    for reason, named in sorted(by_reason.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        shown = [n for n in named if n][:_NAMED_PER_REASON]
        more = f" and {len(named) - len(shown)} more" if shown and len(named) > len(shown) else ""
        parts.append(f"{len(named)} x {reason}" + (f" ({', '.join(shown)}{more})" if shown else ""))
    return head + "; ".join(parts) + " (every message: --json)"
