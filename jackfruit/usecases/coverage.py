"""Data coverage of a dataset over a range of partition days (``jackfruit coverage``)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from jackfruit.domain.coverage import DayCoverage, current_run, day_coverage, days, expected_fields
from jackfruit.domain.errors import InvalidInput
from jackfruit.domain.model import RunStatus, TransformStatus
from jackfruit.ports import Catalog
from jackfruit.ports.source import Profiles

MAX_DAYS = 3660


def coverage(catalog: Catalog, profiles: Profiles, dataset: str, start: date, end: date) -> list[DayCoverage]:
    """Per day from ``start`` to ``end`` (inclusive): complete, partial (which fields or lead or analysis times
    are missing), or why not (no run, failed, quarantined, running, refused, not transformed yet). What a day
    should hold is what the dataset's profile expands its template for the day into."""
    if end < start:
        raise InvalidInput(f"coverage: --to {end} is before --from {start}")
    if (end - start).days >= MAX_DAYS:
        raise InvalidInput(f"coverage: at most {MAX_DAYS} days at once, not {(end - start).days + 1}")
    profile = profiles.get(dataset)  # NotFound names an unknown dataset and the known ones
    definition = profile.definition()
    by_day: dict[date, list] = defaultdict(list)
    for run in catalog.list_runs(dataset=dataset, limit=None):
        if start <= run.partition_date <= end:
            by_day[run.partition_date].append(run)
    out = []
    for day in days(start, end):
        runs = by_day.get(day, [])
        tiles_of = {}
        run = current_run(runs)
        if run is not None and run.status is RunStatus.SUCCEEDED and run.transform_status is not TransformStatus.NONE:
            tiles_of[run.run_id] = catalog.tiles_of_run(run.run_id)
        keys, _ = profile.expected_fields(definition.request_for(day))
        out.append(day_coverage(expected_fields(keys, profile.time_axis), day, runs, tiles_of))
    return out
