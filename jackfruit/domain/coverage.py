"""Data coverage: per partition day, what of a dataset's expected fields the catalog holds, and why not.

Pure rules over runs and tiles (no I/O). The expected set is what the dataset's profile expands its request
template for the day into (``SourceProfile.expected_fields``: every field with its levels, cycles and lead or
analysis times, the upstream's per-variable constraints applied), grouped as the tiles group them (one tile per
field and reference time, or per field and day of analyses: ``tiling.TileGroup``). A day's answer comes from its
*current* run — the newest succeeded one (a superseding run replaces the one before) — or, when none succeeded,
from its newest run (failed, quarantined, running).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from . import levels
from .model import IngestionRun, RunStatus, Tile, TransformStatus
from .tiling import LEAD_TIME, check_time_axis

if TYPE_CHECKING:
    from .acceptance import FieldKey

#: a day's state, from best to worst
STATES = ("complete", "partial", "transforming", "not transformed", "refused", "running", "failed",
          "quarantined", "missing")


@dataclass(frozen=True)
class Field:
    """What one tile of the day holds: a field at one level, and the tile's reference hour when the day has
    several (forecast cycles; ``None`` otherwise)."""

    variable: str
    model: str
    level_m: int
    level_type: str = levels.HEIGHT
    hour: int | None = None

    def __str__(self) -> str:
        text = f"{self.variable}/{self.model}/{levels.segment(self.level_type, self.level_m)}"
        return text if self.hour is None else f"{text} {self.hour:02d}Z"


@dataclass(frozen=True)
class DayCoverage:
    day: date
    state: str  # one of STATES
    run_id: str | None = None
    expected: int = 0  # fields expected
    present: tuple[str, ...] = ()  # fields with all their lead times
    partial: tuple[str, ...] = ()  # "field: n of N lead times"
    missing: tuple[str, ...] = ()  # fields with no tile
    detail: str = ""  # failure or refusal reason, or the transformation state
    extra: tuple[str, ...] = field(default=())  # fields present that the dataset does not expect


@dataclass(frozen=True)
class Expected:
    """A day's expected tiles: each ``Field`` with the number of times (lead or analysis) its tile holds."""

    times: Mapping[Field, int]
    time_axis: str = LEAD_TIME

    @property
    def unit(self) -> str:
        return "lead times" if self.time_axis == LEAD_TIME else "analysis times"

    @cached_property
    def _hourly(self) -> bool:
        return any(f.hour is not None for f in self.times)

    def field_of(self, tile: Tile) -> Field:
        """The expected field a tile of the day fills (its reference hour kept only when the day has several)."""
        return Field(tile.variable, tile.model, tile.level_m, tile.level_type,
                     tile.reference_time.hour if self._hourly else None)


def expected_fields(keys: Iterable["FieldKey"], time_axis: str = LEAD_TIME) -> Expected:
    """The tiles a day's expected fields (``SourceProfile.expected_fields`` of the template's request for the day)
    make, with the times each holds: per (field, reference hour) its lead times, or per field its analysis times
    (``time_axis``, as ``tiling.plan_tiles`` groups them)."""
    check_time_axis(time_axis)
    times: dict[tuple, set] = {}
    for k in keys:
        if time_axis == LEAD_TIME:
            times.setdefault((k.variable, k.model, k.level_type, k.level_m, k.hour), set()).add(k.step)
        else:
            times.setdefault((k.variable, k.model, k.level_type, k.level_m, 0), set()).add(k.hour)
    hourly = len({key[4] for key in times}) > 1
    return Expected({Field(v, m, lv, lt, h if hourly else None): len(t)
                     for (v, m, lt, lv, h), t in sorted(times.items())}, time_axis)


def current_run(runs: Sequence[IngestionRun]) -> IngestionRun | None:
    """The run that answers for a day: the newest succeeded, else the newest of any status."""
    if not runs:
        return None
    newest_first = sorted(runs, key=lambda r: (r.created_at, r.run_id), reverse=True)
    for run in newest_first:
        if run.status is RunStatus.SUCCEEDED:
            return run
    return newest_first[0]


def day_coverage(expected: Expected, day: date, runs: Sequence[IngestionRun],
                 tiles_of: Mapping[str, Sequence[Tile]]) -> DayCoverage:
    """Coverage of one day from that day's runs and the tiles of (at least) its current run."""
    fields = list(expected.times)
    run = current_run(runs)
    if run is None:
        return DayCoverage(day, "missing", expected=len(fields), missing=tuple(str(f) for f in fields),
                           detail="no run")
    if run.status is not RunStatus.SUCCEEDED:
        state = {RunStatus.FAILED: "failed", RunStatus.QUARANTINED: "quarantined"}.get(run.status, "running")
        return DayCoverage(day, state, run.run_id, len(fields), missing=tuple(str(f) for f in fields),
                           detail=run.failure_reason or run.status.value)
    # a re-derivation in flight or failed leaves the tiles published before current: they are what is covered
    if run.transform_status is not TransformStatus.PUBLISHED and not tiles_of.get(run.run_id):
        state = {TransformStatus.REFUSED: "refused", TransformStatus.TRANSFORMING: "transforming",
                 TransformStatus.FAILED: "transform failed"}.get(run.transform_status, "not transformed")
        return DayCoverage(day, state, run.run_id, len(fields), missing=tuple(str(f) for f in fields),
                           detail=run.transform_reason or run.transform_status.value)
    have: dict[Field, int] = {}
    for tile in tiles_of.get(run.run_id, ()):
        key = expected.field_of(tile)
        have[key] = max(have.get(key, 0), tile.shape[0])
    present, partial, missing = [], [], []
    for f, times in expected.times.items():
        n = have.get(f, 0)
        if n >= times:
            present.append(str(f))
        elif n:
            partial.append(f"{f}: {n} of {times} {expected.unit}")
        else:
            missing.append(str(f))
    extra = tuple(sorted(str(f) for f in have if f not in expected.times))
    state = "complete" if not partial and not missing else "partial"
    return DayCoverage(day, state, run.run_id, len(fields), tuple(present), tuple(partial), tuple(missing),
                       extra=extra)


def days(start: date, end: date) -> Iterable[date]:
    """``start`` to ``end`` inclusive."""
    from datetime import timedelta

    n = (end - start).days
    return (start + timedelta(days=k) for k in range(n + 1))
