"""Per dataset: a sensor that finds missing or late partitions from the catalog's coverage over a bounded
look-back and requests each once (never while a run of that partition is in flight)."""

# no `from __future__ import annotations`: Dagster reads the parameters' types (config, resources)
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import dagster as dg

from jackfruit.domain.coverage import DayCoverage

from .partitions import DatasetPlan
from .resources import JackfruitResource

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

#: coverage states a run can fix: nothing landed, the landing failed, landed but never transformed. Quarantined
#: and refused days wait for a person (the evidence is kept); running, transforming and partial days are left be.
REQUESTED_STATES = ("missing", "failed", "not transformed")
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def utc_today() -> date:
    return datetime.now(timezone.utc).date()


def look_back(today: date, days: int, first_day: date) -> tuple[date, date] | None:
    """The window of past days the sensor looks at: the ``days`` before today (today is the schedule's),
    never before the dataset's first day; None when empty."""
    start, end = max(today - timedelta(days=days), first_day), today - timedelta(days=1)
    return (start, end) if start <= end else None


def partitions_to_request(coverage: Sequence[DayCoverage], in_flight: Iterable[str]) -> list[tuple[str, str]]:
    """(partition key, coverage state) of every day a run can fix and none is running for, oldest first."""
    busy = set(in_flight)
    return [(c.day.isoformat(), c.state) for c in sorted(coverage, key=lambda c: c.day)
            if c.state in REQUESTED_STATES and c.day.isoformat() not in busy]


def in_flight_partitions(instance: dg.DagsterInstance, plan: DatasetPlan) -> set[str]:
    """Partitions of this dataset that a queued or running Dagster run is materializing."""
    busy = set()
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=IN_FLIGHT)):
        partition = run.tags.get("dagster/partition")
        mine = run.job_name == plan.job_name or bool(
            run.asset_selection and {plan.raw_key, plan.tiles_key} & set(run.asset_selection))
        if partition and mine:
            busy.add(partition)
    return busy


def coverage_sensor(plan: DatasetPlan, job: "UnresolvedAssetJobDefinition", *,
                    today: Callable[[], date] = utc_today, interval_s: int = 3600) -> dg.SensorDefinition:
    @dg.sensor(name=f"{plan.slug}_coverage_sensor", job=job, minimum_interval_seconds=interval_s,
               description=f"{plan.dataset.name}: request the missing or late days of the look-back "
               "(JACKFRUIT_SENSOR_LOOKBACK_DAYS, default 14) from the catalog's coverage.")
    def sensor(context: dg.SensorEvaluationContext, jackfruit: JackfruitResource) -> dg.SensorResult | dg.SkipReason:
        day = today()
        newest = plan.newest_day(datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc))
        window = look_back(newest, jackfruit.lookback_days(), plan.first_day)  # days before the newest one
        if window is None:
            return dg.SkipReason(f"no day of {plan.dataset.name} in the look-back yet")
        with jackfruit.open() as app:
            coverage = app.coverage(plan.dataset.name, *window)
        wanted = partitions_to_request(coverage, in_flight_partitions(context.instance, plan))
        if not wanted:
            return dg.SkipReason(f"{plan.dataset.name} {window[0]}..{window[1]}: nothing missing or late "
                                 "(or already in flight)")
        for key, state in wanted:
            context.log.info(f"{plan.dataset.name} {key} is {state}: requesting it")
        return dg.SensorResult(run_requests=[
            dg.RunRequest(partition_key=key, tags={"jackfruit/requested_by": "coverage-sensor",
                                                   "jackfruit/coverage_state": state}) for key, state in wanted])

    return sensor
