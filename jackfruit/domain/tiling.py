"""Tile planning: which GRIB messages make which tile, and how a grid splits into cells.

Pure: works on message metadata (``GribMessage``), never on bytes or arrays. Every message of a
file must land in exactly one tile at one step; anything that cannot is refused whole.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from . import cams
from .errors import InvalidInput
from .geo import BBox

#: Cell edge in degrees (docs/adr/0002-tile-cells-and-chunks.md).
CELL_DEG = 10
SURFACE = 1  # typeOfFirstFixedSurface: ground or water surface
HEIGHT_ABOVE_GROUND = 103
CHEMICAL_TEMPLATE = 40  # productDefinitionTemplateNumber 4.40


@dataclass(frozen=True)
class RegularGrid:
    """A regular lat/lon grid as decoded: rows from ``lat0`` by ``dlat``, columns from ``lon0`` by ``dlon``.

    Longitudes are -180..180; ``dlat`` is negative for north-to-south rows.
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
    """Metadata of one GRIB message, as the decoder port reports it."""

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
    level_type: int  # typeOfFirstFixedSurface
    level: int  # metres for heightAboveGround, 0 for surface
    reference_time: datetime
    step_hours: int
    grid_type: str
    grid: RegularGrid | None  # None when the grid is not regular lat/lon

    @property
    def where(self) -> str:
        return f"message {self.index + 1} (byte offset {self.offset})"

    @property
    def valid_time(self) -> datetime:
        return self.reference_time + timedelta(hours=self.step_hours)


@dataclass(frozen=True)
class Cell:
    cell_id: str
    bbox: BBox
    rows: tuple[int, int]  # [j0, j1)
    cols: tuple[int, int]  # [i0, i1)


@dataclass(frozen=True)
class TileGroup:
    """All messages of one (model, variable, level, reference time), ordered by step."""

    model: str
    variable: str
    level_m: int
    reference_time: datetime
    grid: RegularGrid
    steps: tuple[int, ...]
    message_indices: tuple[int, ...]

    @property
    def valid_start(self) -> datetime:
        return self.reference_time + timedelta(hours=self.steps[0])

    @property
    def valid_end(self) -> datetime:
        return self.reference_time + timedelta(hours=self.steps[-1])


def _cell_index(coord: float, size: int) -> int:
    return int((Decimal(repr(coord)) / size).to_integral_value(rounding=ROUND_FLOOR))


def _runs(coords: list[float], size: int) -> list[tuple[int, int, int]]:
    """Contiguous index runs ``(cell_index, start, stop)`` of monotonic coordinates."""
    runs: list[tuple[int, int, int]] = []
    for i, c in enumerate(coords):
        k = _cell_index(c, size)
        if runs and runs[-1][0] == k:
            runs[-1] = (k, runs[-1][1], i + 1)
        else:
            runs.append((k, i, i + 1))
    return runs


def cell_id(south: int, west: int) -> str:
    ns = "n" if south >= 0 else "s"
    ew = "e" if west >= 0 else "w"
    return f"{ns}{abs(south):02d}{ew}{abs(west):03d}"


def plan_cells(grid: RegularGrid, size: int = CELL_DEG) -> list[Cell]:
    """Split a grid into cells aligned on multiples of ``size`` degrees (cells own their west/south edges)."""
    lat_runs = _runs([grid.lat(j) for j in range(grid.ny)], size)
    lon_runs = _runs([grid.lon(i) for i in range(grid.nx)], size)
    cells = []
    for kj, j0, j1 in lat_runs:
        for ki, i0, i1 in lon_runs:
            south, west = kj * size, ki * size
            bbox = BBox(max(west, -180), max(south, -90), min(west + size, 180), min(south + size, 90))
            cells.append(Cell(cell_id(south, west), bbox, (j0, j1), (i0, i1)))
    return cells


def _level(msg: GribMessage) -> int:
    if msg.level_type == SURFACE:
        return 0
    if msg.level_type == HEIGHT_ABOVE_GROUND:
        return msg.level
    raise InvalidInput(f"{msg.where}: level type {msg.level_type} is neither surface (1) nor height above ground (103)")


def plan_tiles(messages: list[GribMessage]) -> list[TileGroup]:
    """Group messages into tile groups; refuse the whole file if any message cannot be placed."""
    if not messages:
        raise InvalidInput("the file holds no GRIB messages")
    problems: list[str] = []
    groups: dict[tuple, list[GribMessage]] = defaultdict(list)
    for msg in messages:
        try:
            if msg.edition != 2:
                raise InvalidInput(f"{msg.where}: GRIB edition {msg.edition}; CAMS Europe is GRIB2")
            if msg.template != CHEMICAL_TEMPLATE:
                raise InvalidInput(f"{msg.where}: product definition template {msg.template}; CAMS Europe fields "
                                   f"use template {CHEMICAL_TEMPLATE} (instantaneous chemical constituent)")
            species = cams.species_for(msg.where, msg.discipline, msg.category, msg.number, msg.constituent_type)
            model = cams.model_for(msg.where, msg.centre, msg.sub_centre)
            if msg.grid is None:
                raise InvalidInput(f"{msg.where}: grid type {msg.grid_type!r} is not a regular lat/lon grid "
                                   "this transformation can tile")
            groups[(model, species.name, _level(msg), msg.reference_time)].append(msg)
        except InvalidInput as err:
            problems.append(str(err))
    if problems:
        raise InvalidInput(_summary(problems, len(messages)))
    planned = []
    for (model, variable, level, ref), members in sorted(groups.items(), key=lambda kv: kv[0]):
        members.sort(key=lambda m: m.step_hours)
        for a, b in zip(members, members[1:]):
            if a.step_hours == b.step_hours:
                problems.append(f"{a.where} and {b.where} are both {model}/{variable}/{level} m at "
                                f"{ref.isoformat()} step {a.step_hours} h (duplicate field)")
        grids = {m.grid for m in members}
        if len(grids) > 1:
            problems.append(f"{model}/{variable}/{level} m at {ref.isoformat()} mixes grids across "
                            f"{', '.join(m.where for m in members)}")
        planned.append(TileGroup(model, variable, level, ref, members[0].grid,  # type: ignore[arg-type]
                                 tuple(m.step_hours for m in members), tuple(m.index for m in members)))
    if problems:
        raise InvalidInput(_summary(problems, len(messages)))
    return planned


def _summary(problems: list[str], total: int) -> str:
    shown = "; ".join(problems[:5])
    more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
    return f"refusing the file ({len(problems)} problem(s) in {total} messages, nothing converted): {shown}{more}"
