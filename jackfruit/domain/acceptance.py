"""Acceptance of a landed raw file: its GRIB headers hold exactly the fields its request asked for.

Pure rules over the decoder port's headers (``GribMessage``), written once for every dataset:
``check(request, headers, scheme)`` compares the request's fields (dates x times x models x variables x levels x
lead times, once per requested type) with the file's, and its area with the file's grid;
``request_from_headers(headers, scheme)`` is the inverse, the request a file answers (``jackfruit land``). What
is dataset-specific (how a request expands into fields, how a message is named, the dataset's whole area) is the
``scheme``: the dataset's source profile. A message the profile cannot name is a problem of the file, never
skipped. The ADS request readers (``request_items``, ``request_dates``...) are shared by the profiles.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Iterable, Mapping, Protocol, Sequence

from . import levels
from .errors import InvalidInput
from .tiling import GribMessage, MessageField, RegularGrid, summarize

#: How many fields each list of the stored result names (counts are always complete).
LISTED = 100
_EPS = 1e-6
_AXES = (("dates", "date"), ("times", "time"), ("models", "model"), ("variables", "variable"),
         ("levels", "level"), ("lead times", "lead time"))


@dataclass(frozen=True, order=True)
class FieldKey:
    """One field a request asks for and a message holds: (date, hour, model, variable, level, lead time)."""

    day: date
    hour: int
    model: str
    variable: str
    level_m: int  # the level's value in its type's unit (domain/levels.py)
    step: int
    level_type: str = "height"

    def axes(self) -> tuple:
        level = self.level_m if self.level_type == levels.HEIGHT else levels.segment(self.level_type, self.level_m)
        return (self.day, self.hour, self.model, self.variable, level, self.step)

    def label(self, with_time: bool) -> str:
        text = f"{self.variable}/{self.model}/{levels.describe(self.level_type, self.level_m)} at +{self.step} h"
        return text + (f" of {self.day.isoformat()}T{self.hour:02d}Z" if with_time else "")


@dataclass(frozen=True)
class AcceptanceResult:
    """Expected vs received fields of one file and every difference; ``reason`` names what differs."""

    ok: bool
    expected: int  # messages the request asks for
    received: int  # messages in the file
    expected_axes: Mapping[str, Any]
    received_axes: Mapping[str, Any]
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    duplicates: tuple[str, ...] = ()
    mismatches: Mapping[str, str] = field(default_factory=dict)  # axis -> what differs
    problems: tuple[str, ...] = ()  # messages that cannot be named or placed, grid and area problems
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        """The result as JSON for the run's ``details["acceptance"]`` (lists capped at ``LISTED``, counts whole)."""
        out: dict[str, Any] = {"ok": self.ok, "expected": self.expected, "received": self.received,
                               "expected_axes": dict(self.expected_axes), "received_axes": dict(self.received_axes),
                               "mismatches": dict(self.mismatches), "problems": list(self.problems[:LISTED]),
                               "reason": self.reason}
        for name in ("missing", "unexpected", "duplicates"):
            items = getattr(self, name)
            out[name], out[f"{name}_count"] = list(items[:LISTED]), len(items)
        return out


def unreadable(problem: str) -> AcceptanceResult:
    """The result for a file whose headers cannot be read at all (not GRIB, truncated)."""
    return AcceptanceResult(False, 0, 0, {}, {}, problems=(problem,), reason=f"the file cannot be read: {problem}")


class FieldScheme(Protocol):
    """What acceptance needs of a dataset (its ``SourceProfile`` provides it)."""

    #: the ecCodes names (``tiling.GRIB_NAMES``) ``name_message`` reads: what the scan of a file must report
    grib_names: frozenset[str]

    def name_message(self, msg: GribMessage) -> MessageField: ...

    def expected_fields(self, request: Mapping[str, Any]) -> tuple[list["FieldKey"], int]: ...

    def full_area(self) -> tuple[float, float, float, float]: ...

    def request_from_fields(self, fields: Sequence["FieldKey"]) -> dict[str, Any]: ...


# -- the request side --------------------------------------------------------------------------------------------
def show_value(value: Any) -> str:
    """A request value as an error names it (JSON, cut to 80 characters)."""
    return json.dumps(value)[:80]


def request_strings(key: str, value: Any, numeric: bool) -> list[str]:
    """A user's request field that is a string or a non-empty list of strings (integers too for ``numeric``
    fields), as its strings; ``InvalidInput`` naming the field otherwise. The one reader of the profiles'
    request checks."""
    def one(item: Any) -> str:
        if isinstance(item, str):
            return item
        if numeric and isinstance(item, int) and not isinstance(item, bool):
            return str(item)
        kind = "strings or integers" if numeric else "strings"
        raise InvalidInput(f"request field {key!r} must be a string or a non-empty list of {kind}, "
                           f"got {show_value(value)}")
    if isinstance(value, list):
        if not value:
            raise InvalidInput(f"request field {key!r} is an empty list")
        return [one(item) for item in value]
    return [one(value)]


def request_items(request: Mapping[str, Any], key: str, default: list[str]) -> list[str]:
    value = request.get(key, default)
    values = value if isinstance(value, (list, tuple)) else [value]
    if not values or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
        raise InvalidInput(f"request field {key!r} must be a string or a non-empty list, got {value!r}")
    return list(dict.fromkeys(str(v) for v in values))  # de-duplicated as the ADS does, order kept


def request_ints(request: Mapping[str, Any], key: str, default: list[str]) -> list[int]:
    try:
        return [int(v) for v in request_items(request, key, default)]
    except ValueError as err:
        raise InvalidInput(f"request field {key!r}: {err}") from None


def request_dates(request: Mapping[str, Any]) -> list[date]:
    out: list[date] = []
    for item in request_items(request, "date", []):
        first, _, last = item.partition("/")
        try:
            start, end = date.fromisoformat(first), date.fromisoformat(last or first)
        except ValueError:
            raise InvalidInput(f"request field 'date': {item!r} is not YYYY-MM-DD or YYYY-MM-DD/YYYY-MM-DD") from None
        if not 0 <= (end - start).days < 3660:
            raise InvalidInput(f"request field 'date': {item!r} ends before it starts or spans over 10 years")
        out += [start + timedelta(days=n) for n in range((end - start).days + 1)]
    return list(dict.fromkeys(out))


def request_hours(request: Mapping[str, Any]) -> list[int]:
    out = []
    for item in request_items(request, "time", ["00:00"]):
        hh, _, mm = item.partition(":")
        if not (hh.isdigit() and mm in ("", "00") and 0 <= int(hh) <= 23):
            raise InvalidInput(f"request field 'time': {item!r} is not HH:00")
        out.append(int(hh))
    return out


def _area(request: Mapping[str, Any], domain: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    area = request.get("area")
    if area is None:
        return domain
    if not isinstance(area, (list, tuple)) or len(area) != 4 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in area):
        raise InvalidInput(f"request field 'area' must be [north, west, south, east], got {area!r}")
    return tuple(float(v) for v in area)  # type: ignore[return-value]


# -- the file side -----------------------------------------------------------------------------------------------
def field_key(f: MessageField) -> FieldKey:
    """A named message's field as a request names it."""
    ref = f.reference_time
    return FieldKey(ref.date(), ref.hour, f.model, f.variable, f.level_m, f.step_hours, f.level_type)


def _named(headers: Sequence[GribMessage], scheme: FieldScheme) -> tuple[list[tuple[GribMessage, FieldKey]], list[str]]:
    named, problems = [], []
    for msg in headers:
        try:
            named.append((msg, field_key(scheme.name_message(msg))))
        except InvalidInput as err:
            problems.append(str(err))
    return named, problems


def _extent(grid: RegularGrid) -> tuple[float, float, float, float]:
    """(N, W, S, E) of a grid's point centres."""
    lats, lons = (grid.lat(0), grid.lat(grid.ny - 1)), (grid.lon(0), grid.lon(grid.nx - 1))
    return max(lats), min(lons), min(lats), max(lons)


def _describe(grid: RegularGrid) -> str:
    n, w, s, e = _extent(grid)
    return f"{grid.ny}x{grid.nx} points {s:g}..{n:g}N {w:g}..{e:g}E step {abs(grid.dlat):g}x{abs(grid.dlon):g}"


def _eastwards(west: float, east: float) -> tuple[float, float]:
    """A west..east span of longitudes with ``east >= west``: an ``east`` below ``west`` crosses the antimeridian
    (170..-170 is 170..190); 360 degrees or more is the whole circle."""
    return (west, east + 360.0 * -((east - west) // 360.0)) if east < west else (west, east)


def _in_grid_frame(span: tuple[float, float], grid: tuple[float, float], half_step: float) -> tuple[float, float]:
    """A requested west..east span compared with a grid's modulo 360: shifted by whole turns to the grid's frame (an
    area asked as -10..5 and a grid of 350..365, or the other way round, are the same meridians); a span of the
    whole circle covers any grid (it is widened to hold the grid's own span)."""
    (west, east), (gw, ge) = _eastwards(*span), grid
    turns = 360.0 * round(((gw + ge) - (west + east)) / 720.0)
    if east - west >= 360.0 - 2 * half_step - _EPS:
        turns = 360.0 * round((gw - west) / 360.0)
        return min(gw, west + turns), max(ge, east + turns)
    return west + turns, east + turns


def _grid_problems(headers: Sequence[GribMessage], area: tuple[float, float, float, float],
                   domain: tuple[float, float, float, float]) -> list[str]:
    """Every message on a regular grid, one grid for the file, its points within ``area`` (half a grid step of
    tolerance) and reaching each edge of it within one grid step (the ADS snaps an area inward to points)."""
    problems = [f"{m.where}: grid {m.grid_type!r} is not a regular lat/lon grid" for m in headers if m.grid is None]
    grids = list(dict.fromkeys(m.grid for m in headers if m.grid is not None))
    if len(grids) > 1:
        problems.append(f"the file mixes {len(grids)} grids: " + "; ".join(_describe(g) for g in grids))
    north, west, south, east = area
    asked = f"[N {north:g}, W {west:g}, S {south:g}, E {east:g}]"
    for grid in grids:
        n, w, s, e = _extent(grid)
        hy, hx = abs(grid.dlat) / 2, abs(grid.dlon) / 2
        aw, ae = _in_grid_frame((west, east), (w, e), hx)
        dw, de = _in_grid_frame((domain[1], domain[3]), (w, e), hx)
        if n > north + hy + _EPS or s < south - hy - _EPS or w < aw - hx - _EPS or e > ae + hx + _EPS:
            problems.append(f"grid {_describe(grid)} is not within the requested area {asked} "
                            f"(tolerance half a grid step)")
        elif (n < min(north, domain[0]) - 2 * hy - _EPS or s > max(south, domain[2]) + 2 * hy + _EPS
              or w > max(aw, dw) + 2 * hx + _EPS or e < min(ae, de) - 2 * hx - _EPS):
            problems.append(f"grid {_describe(grid)} does not cover the requested area {asked} "
                            f"(it stops more than a grid step inside)")
    return problems


def _ranges(values: Iterable[int]) -> str:
    """``0..3, 6, 9..12``."""
    items, out = sorted(set(values)), []
    for v in items:
        if out and v == out[-1][1] + 1:
            out[-1][1] = v
        else:
            out.append([v, v])
    return ", ".join(f"{a}..{b}" if b > a + 1 else (f"{a}, {b}" if b > a else f"{a}") for a, b in out)


def _numeric(index: int, values: set) -> bool:
    """Hours, lead times, and levels when all are heights (ints) are shown as ranges."""
    return index in (1, 4, 5) and all(isinstance(v, int) for v in values)


def _show_axis(index: int, values: set) -> str:
    if _numeric(index, values):
        return _ranges(values) or "none"
    return ", ".join(str(v) for v in sorted(values, key=str)) or "none"


def _axes_json(keys: Iterable[FieldKey]) -> dict[str, Any]:
    sets: list[set] = [set() for _ in _AXES]
    for k in keys:
        for i, v in enumerate(k.axes()):
            sets[i].add(v)
    return {name.replace(" ", "_"): (_ranges(s) if _numeric(i, s) else sorted(str(v) for v in s))
            for i, ((name, _), s) in enumerate(zip(_AXES, sets))}


def _listing(what: str, items: list[str]) -> str:
    shown = ", ".join(items[:8]) + (f" (and {len(items) - 8} more)" if len(items) > 8 else "")
    return f"{what} {len(items)}: {shown}"


def check(request: Mapping[str, Any], headers: Sequence[GribMessage], scheme: FieldScheme) -> AcceptanceResult:
    """Do ``headers`` (every message of a landed file, as the decoder port reads them) hold exactly the fields
    ``request`` asks for: each once per requested type, nothing else, on one regular grid within the requested
    area? ``InvalidInput`` only for a malformed request; every difference of the file is in the result."""
    keys, per_key = scheme.expected_fields(request)
    domain = scheme.full_area()
    area = _area(request, domain)
    named, problems = _named(headers, scheme)
    problems += _grid_problems(headers, area, domain)
    want = Counter({k: per_key for k in keys})
    got = Counter(k for _, k in named)
    with_time = len({(k.day, k.hour) for k in (*want, *got)}) > 1
    missing = sorted(k for k in want if got[k] < want[k])
    unexpected = sorted(k for k in got if k not in want)
    duplicates = sorted(k for k in got if k in want and got[k] > want[k])
    mismatches: dict[str, str] = {}
    for i, (plural, singular) in enumerate(_AXES):
        asked, held = {k.axes()[i] for k in want}, {k.axes()[i] for k in got}
        if asked != held:
            mismatches[plural.replace(" ", "_")] = (f"asked for {len(asked)} {plural if len(asked) != 1 else singular}"
                                                    f" {_show_axis(i, asked)}, file holds {_show_axis(i, held)}")
    expected, received = sum(want.values()), len(headers)
    ok = not (missing or unexpected or duplicates or problems) and expected == received
    parts = list(mismatches.values())
    parts += [_listing("missing", [k.label(with_time) for k in missing])] if missing else []
    parts += [_listing("unexpected", [k.label(with_time) for k in unexpected])] if unexpected else []
    parts += [_listing("duplicated", [f"{k.label(with_time)} x{got[k]}" for k in duplicates])] if duplicates else []
    parts += [_listing("problems", problems)] if problems else []
    reason = (f"accepted: the file holds exactly the {expected} requested messages" if ok else
              f"the file does not match its request (expected {expected} messages, file holds {received}): "
              + "; ".join(parts))
    return AcceptanceResult(
        ok, expected, received, _axes_json(want), _axes_json(got),
        tuple(k.label(with_time) for k in missing), tuple(k.label(with_time) for k in unexpected),
        tuple(f"{k.label(with_time)} x{got[k]}" for k in duplicates), mismatches, tuple(problems), reason)


def request_from_headers(headers: Sequence[GribMessage], scheme: FieldScheme) -> dict[str, Any]:
    """The request a file answers, read from its headers (the inverse of ``check``): the profile's request for
    its fields (``request_from_fields``), its date, and its area when not the dataset's whole one (``jackfruit
    land``).

    ``InvalidInput`` naming every message the profile cannot name, and naming the dates of a file that spans
    several (one file holds one partition). A ragged file (not every combination present) still gets the
    request of all its values: ``check`` then names what is missing."""
    if not headers:
        raise InvalidInput("the file holds no GRIB messages")
    named, problems = _named(headers, scheme)
    if problems:
        raise InvalidInput(summarize(f"{len(problems)} of {len(headers)} messages cannot be named by the dataset's "
                                     "profile: ", problems), problems=problems)
    keys = [k for _, k in named]
    days = sorted({k.day for k in keys})
    if len(days) > 1:
        raise InvalidInput(f"the file spans {len(days)} dates ({', '.join(d.isoformat() for d in days)}); one file "
                           "lands one partition (one date): split it by date first")
    request = scheme.request_from_fields(keys)
    request["date"] = [f"{days[0].isoformat()}/{days[0].isoformat()}"]
    grids = [m.grid for m in headers if m.grid is not None]
    if grids:
        extents = [_extent(g) for g in grids]
        n, w = max(e[0] for e in extents), min(e[1] for e in extents)
        s, e = min(x[2] for x in extents), max(x[3] for x in extents)
        hy, hx = abs(grids[0].dlat) / 2, abs(grids[0].dlon) / 2
        edges = (n + hy, w - hx, s - hy, e + hx)
        if any(abs(a - b) > _EPS for a, b in zip(edges, scheme.full_area())):
            request["area"] = [round(v, 6) for v in (n, w, s, e)]
    return request
