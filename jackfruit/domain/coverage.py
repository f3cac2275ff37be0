"""Data coverage: per partition day, what of a dataset's expected fields the catalog holds, and why not.

Pure rules over runs and tiles (no I/O). The expected set comes from the dataset's request template:
variables x models x levels, each with the template's lead times. A day's answer comes from its *current*
run — the newest succeeded one (a superseding run replaces the one before) — or, when none succeeded, from
its newest run (failed, quarantined, running).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Iterable, Mapping, Sequence

from .model import Dataset, IngestionRun, RunStatus, Tile, TransformStatus

#: a day's state, from best to worst
STATES = ("complete", "partial", "transforming", "not transformed", "refused", "running", "failed",
          "quarantined", "missing")


@dataclass(frozen=True)
class Field:
    variable: str
    model: str
    level_m: int

    def __str__(self) -> str:
        return f"{self.variable}/{self.model}/{self.level_m}m"


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


def expected_fields(dataset: Dataset) -> tuple[list[Field], int]:
    """The dataset's expected fields (variables x models x levels of its request template) and lead times per
    field (the template's ``leadtime_hour``; 1 when it has none)."""
    t = dataset.request_template
    variables = [str(v) for v in t.get("variable", dataset.variables)]
    models = [str(m) for m in t.get("model", ["ensemble"])]
    levels = [int(float(lv)) for lv in t.get("level", ["0"])]
    steps = len(t.get("leadtime_hour", [])) or 1
    return [Field(v, m, lv) for v in variables for m in models for lv in levels], steps


def current_run(runs: Sequence[IngestionRun]) -> IngestionRun | None:
    """The run that answers for a day: the newest succeeded, else the newest of any status."""
    if not runs:
        return None
    newest_first = sorted(runs, key=lambda r: (r.created_at, r.run_id), reverse=True)
    for run in newest_first:
        if run.status is RunStatus.SUCCEEDED:
            return run
    return newest_first[0]


def day_coverage(dataset: Dataset, day: date, runs: Sequence[IngestionRun],
                 tiles_of: Mapping[str, Sequence[Tile]]) -> DayCoverage:
    """Coverage of one day from that day's runs and the tiles of (at least) its current run."""
    fields, steps = expected_fields(dataset)
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
        key = Field(tile.variable, tile.model, tile.level_m)
        have[key] = max(have.get(key, 0), tile.shape[0])
    present, partial, missing = [], [], []
    for f in fields:
        n = have.get(f, 0)
        if n >= steps:
            present.append(str(f))
        elif n:
            partial.append(f"{f}: {n} of {steps} lead times")
        else:
            missing.append(str(f))
    extra = tuple(sorted(str(f) for f in have if f not in set(fields)))
    state = "complete" if not partial and not missing else "partial"
    return DayCoverage(day, state, run.run_id, len(fields), tuple(present), tuple(partial), tuple(missing),
                       extra=extra)


def days(start: date, end: date) -> Iterable[date]:
    """``start`` to ``end`` inclusive."""
    from datetime import timedelta

    n = (end - start).days
    return (start + timedelta(days=k) for k in range(n + 1))
