"""What a read selects, decided once for every tile format: grid points in a box, lead times in a window,
and how pieces from several forecasts are laid out (docs/adr/0005-whole-grid-tiles.md, README "Reading").

Pure: works on ``RegularGrid`` numbers and datetimes, never on arrays.

* A box selects the grid points inside it, edges included, whatever the grid's longitude frame (-180..180 or
  0..360) and also when the box crosses the antimeridian (west > east). Longitudes come back in the box's
  frame (``frame``): ascending from its west edge, so -180..180 for a box that does not cross, and
  west..east + 360 for one that does; each value is the file's grid longitude plus a whole number of turns.
  A box with zero width (or height) selects the nearest column (row) instead, so a point selects the
  nearest grid point. A box with no grid point is ``NotFound`` naming the nearest grid point.
* A time window ``[start, end)`` selects the lead times whose valid time is inside it; none is ``NotFound``
  naming the nearest valid times.
* Nothing is invented: where no source message exists, the result says so (``present`` is false).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterable, Mapping, Sequence

from .errors import NotFound
from .geo import BBox, TimeRange
from .tiling import RegularGrid, grid_extent  # noqa: F401 (grid_extent: part of this API)

#: Slack for comparing decimal degrees (grid coordinates are rounded to 1e-6).
EPS = 1e-9


def _axis(first: float, step: float, n: int, lo: float, hi: float) -> tuple[int, int] | None:
    """Index range ``[i0, i1)`` of the points ``first + i*step`` (rounded as the grid rounds them) inside
    ``[lo, hi]``; for ``lo == hi`` the nearest point within half a step. ``None`` when there is none.
    The points are monotonic in ``i``, so both are binary searches (a read's fixed cost, not O(n))."""
    sign = 1.0 if step >= 0 else -1.0

    def key(i: int) -> float:  # increasing in i
        return sign * round(first + i * step, 6)

    points = range(n)
    if lo == hi:
        at = bisect.bisect_left(points, sign * lo, key=key)
        near = [i for i in (at - 1, at) if 0 <= i < n]
        if not near:
            return None
        best = min(near, key=lambda i: (abs(sign * key(i) - lo), i))
        return (best, best + 1) if abs(sign * key(best) - lo) <= abs(step) / 2 + EPS else None
    low, high = (lo - EPS, hi + EPS) if sign > 0 else (-(hi + EPS), -(lo - EPS))
    i0 = bisect.bisect_left(points, low, key=key)
    i1 = bisect.bisect_right(points, high, key=key)
    return (i0, i1) if i0 < i1 else None


@dataclass(frozen=True)
class ColumnRun:
    """Columns ``[i0, i1)`` of a grid, at longitudes ``grid.lon(i) + 360 * turns`` in the box's frame."""

    i0: int
    i1: int
    turns: int = 0


@dataclass(frozen=True)
class Window:
    rows: tuple[int, int]  # [j0, j1)
    runs: tuple[ColumnRun, ...]  # one or two, in ascending longitude of the box's frame

    @property
    def cols(self) -> tuple[int, int]:
        """``[i0, i1)`` of a window of one run of columns."""
        if len(self.runs) != 1:
            raise ValueError(f"the window has {len(self.runs)} runs of columns")
        return (self.runs[0].i0, self.runs[0].i1)

    def lons(self, grid: RegularGrid) -> list[float]:
        """The selected columns' longitudes in the box's frame, ascending."""
        return [round(grid.lon(i) + 360 * r.turns, 6) for r in self.runs for i in range(r.i0, r.i1)]


def frame(bbox: BBox) -> tuple[float, float]:
    """The longitudes a read answers ``bbox`` in: ``[west, west + width]``, ascending. -180..180 for a box
    that does not cross the antimeridian, ``west..east + 360`` for one that does (170..190 for 170,-170)."""
    return bbox.west, bbox.west + bbox.width


def _circle(a: float, b: float) -> float:
    """Degrees between two longitudes, the short way round."""
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)


def nearest_point(grid: RegularGrid, lon: float, lat: float) -> tuple[float, float]:
    """(lon, lat) of the grid point nearest to (lon, lat), each axis clamped to the grid (longitude measured
    round the globe; the grid's own longitude is given)."""
    j = min(range(grid.ny), key=lambda k: abs(grid.lat(k) - lat))
    i = min(range(grid.nx), key=lambda k: _circle(grid.lon(k), lon))
    return grid.lon(i), grid.lat(j)


def _column_runs(grid: RegularGrid, bbox: BBox) -> tuple[ColumnRun, ...]:
    """The columns inside the box's frame: a grid point at longitude L is selected at ``L + 360 * turns``
    when that is in ``frame(bbox)``, each meridian once (the frame is ``[west, west + 360)`` at most). The
    grid's longitudes span less than 360 degrees from -180, so ``turns`` is -1, 0 or 1 and the selection is at
    most two runs (a box across 0 on a 0..360 grid, or across 180 on a -180..180 grid)."""
    lo, hi = frame(bbox)
    hi = min(hi, lo + 360.0 - 1e-6)  # coordinates are rounded to 1e-6: this keeps the frame half-open
    if lo == hi:  # a line: the nearest column within half a step, in whichever turn it is nearest
        found = [(ColumnRun(*cols, t), t) for t in (-1, 0, 1)
                 if (cols := _axis(grid.lon0, grid.dlon, grid.nx, lo - 360 * t, lo - 360 * t)) is not None]
        if not found:
            return ()
        best = min(found, key=lambda rt: (abs(grid.lon(rt[0].i0) + 360 * rt[1] - lo), rt[0].i0))
        return (best[0],)
    runs = [ColumnRun(*cols, t) for t in (-1, 0, 1)
            if (cols := _axis(grid.lon0, grid.dlon, grid.nx, lo - 360 * t, hi - 360 * t)) is not None]
    runs.sort(key=lambda r: grid.lon(r.i0) + 360 * r.turns)
    kept: list[ColumnRun] = []
    for r in runs:  # a grid listing one meridian twice (-180 and 180) gives it once
        i0 = r.i0
        while kept and i0 < r.i1 and (grid.lon(i0) + 360 * r.turns
                                      <= grid.lon(kept[-1].i1 - 1) + 360 * kept[-1].turns + EPS):
            i0 += 1
        if i0 < r.i1:
            kept.append(ColumnRun(i0, r.i1, r.turns))
    return tuple(kept)


def select_window(grid: RegularGrid, bbox: BBox, what: str = "the grid") -> Window:
    """The grid points ``bbox`` selects, with their longitudes in the box's frame (``frame``, ``Window.lons``);
    ``NotFound`` naming the nearest grid point when it selects none."""
    rows = _axis(grid.lat0, grid.dlat, grid.ny, bbox.south, bbox.north)
    runs = _column_runs(grid, bbox)
    if rows is None or not runs:
        centre = bbox.west + bbox.width / 2
        lon, lat = nearest_point(grid, centre - 360 if centre > 180 else centre, (bbox.south + bbox.north) / 2)
        raise NotFound(f"no grid point of {what} is inside bbox {bbox.as_tuple()}; the nearest grid point is "
                       f"lon={lon}, lat={lat} (grid step {abs(grid.dlon)} x {abs(grid.dlat)} degrees)")
    return Window(rows, runs)


def select_steps(reference_time: datetime, steps: Sequence[int], span: TimeRange) -> tuple[int, int] | None:
    """Index range ``[k0, k1)`` of the (sorted) lead times in hours whose valid time is in ``span``."""
    # valid times grow with the lead time and ``span.contains`` is an interval: the lead times inside are one
    # run, found by bisection (a point series over 97 lead times asked this 97 times per tile)
    def valid(k: int) -> datetime:
        return reference_time + timedelta(hours=steps[k])

    k0 = _first(len(steps), lambda k: valid(k) >= span.start)
    k1 = _first(len(steps), lambda k: valid(k) >= span.end)
    return (k0, k1) if k0 < k1 else None


def _first(n: int, after: Callable[[int], bool]) -> int:
    """The smallest ``k`` in ``[0, n)`` with ``after(k)`` (``after`` false, then true), or ``n``."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if after(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def nearest_valid_times(valid_times: Iterable[datetime], span: TimeRange) -> str:
    """The valid times just before and just after ``span``, for a NotFound message."""
    times = sorted(set(valid_times))
    before = [t for t in times if t < span.start]
    after = [t for t in times if t >= span.end]
    parts = []
    if before:
        parts.append(f"the latest before is {before[-1].isoformat()}")
    if after:
        parts.append(f"the earliest after is {after[0].isoformat()}")
    return "; ".join(parts) or "there are no valid times at all"


# -- layouts -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForecastLayout:
    """(forecast_reference_time, step) axes: every reference time and every lead time found; ``present`` says,
    per variable, which (reference time, step) pairs have a source message."""

    reference_times: tuple[datetime, ...]
    steps: tuple[int, ...]
    present: Mapping[str, frozenset[tuple[datetime, int]]]

    def is_present(self, variable: str, reference_time: datetime, step: int) -> bool:
        return (reference_time, step) in self.present.get(variable, frozenset())


@dataclass(frozen=True)
class ValidTimeLayout:
    """One axis of valid times; for each, the newest reference time with a message at that valid time for any
    requested variable (``source``); ``present`` says per variable whether that forecast has the message."""

    valid_times: tuple[datetime, ...]
    source: tuple[datetime, ...]  # reference time chosen for each valid time
    present: Mapping[str, frozenset[datetime]]  # variable -> valid times whose chosen forecast has it


def forecast_layout(available: Mapping[str, Iterable[tuple[datetime, int]]]) -> ForecastLayout:
    """``available``: variable -> (reference time, step) pairs with a source message (inside the query)."""
    present = {v: frozenset(pairs) for v, pairs in available.items()}
    refs = sorted({r for pairs in present.values() for r, _ in pairs})
    steps = sorted({s for pairs in present.values() for _, s in pairs})
    return ForecastLayout(tuple(refs), tuple(steps), present)


def valid_time_layout(available: Mapping[str, Iterable[tuple[datetime, int]]]) -> ValidTimeLayout:
    """For each valid time, the newest reference time covering it for any variable."""
    pairs = {v: {(r, r + timedelta(hours=s)) for r, s in ps} for v, ps in available.items()}
    newest: dict[datetime, datetime] = {}
    for ps in pairs.values():
        for ref, valid in ps:
            if valid not in newest or ref > newest[valid]:
                newest[valid] = ref
    valid_times = tuple(sorted(newest))
    present = {v: frozenset(vt for vt in valid_times if (newest[vt], vt) in ps) for v, ps in pairs.items()}
    return ValidTimeLayout(valid_times, tuple(newest[vt] for vt in valid_times), present)


LAYOUTS = ("forecast", "valid_time")
