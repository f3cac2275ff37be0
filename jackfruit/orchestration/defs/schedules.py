"""Per dataset: the daily job (raw + tiles + their checks, a maximum runtime) and its schedule, whose cron is the
dataset's own (``Dataset.schedule``: when the ADS has published the day's forecast); it asks for the newest day the
upstream can have (``DatasetPlan.newest_day``: today, or the profile's horizon when that is earlier)."""

from __future__ import annotations

from datetime import timezone

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from .partitions import MAX_RUNTIME_S, DatasetPlan


def daily_job(plan: DatasetPlan, max_runtime_s: int = MAX_RUNTIME_S) -> UnresolvedAssetJobDefinition:
    """One partition of the dataset end to end; the daemon's run monitoring cancels a run past its maximum runtime."""
    return dg.define_asset_job(plan.job_name, selection=dg.AssetSelection.assets(plan.raw_key, plan.tiles_key),
                               tags={"dagster/max_runtime": str(int(max_runtime_s)),
                                     "jackfruit/dataset": plan.dataset.name},
                               description=f"Land and curate one day of {plan.dataset.name}.")


def daily_schedule(plan: DatasetPlan, job: UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition | None:
    """The day's partition at the dataset's cron (UTC); None when the dataset has no schedule."""
    if not plan.dataset.schedule:
        return None

    @dg.schedule(name=f"{plan.slug}_schedule", cron_schedule=plan.dataset.schedule, job=job,
                 execution_timezone="UTC", description=f"{plan.dataset.name}: today's forecast, once the ADS has it.")
    def schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        day = plan.newest_day(context.scheduled_execution_time.astimezone(timezone.utc)).isoformat()
        return dg.RunRequest(run_key=day, partition_key=day, tags={"jackfruit/requested_by": "schedule"})

    return schedule
