"""Housekeeping without a person (docs/runs.md): on a schedule, reap ingest claims abandoned longer than
``JACKFRUIT_REAP_AFTER_S`` (default 1 h past lease expiry; the run fails and keeps its upstream job, so the next ingest
resumes that job) and run gc (ends every expired attempt -- an abandoned transform becomes ``failed``, claimable again
-- and removes what ended attempts left). Never a raw object, never a published tile."""


from datetime import timedelta

import dagster as dg

from .resources import JackfruitResource

JOB_NAME = "jackfruit_housekeeping"
HOUSEKEEPING_CRON = "*/15 * * * *"  # every 15 minutes (UTC); build_definitions(housekeeping_cron=...) changes it


@dg.op(description="Reap abandoned ingest claims (past JACKFRUIT_REAP_AFTER_S), then gc.")
def reap_and_collect(context: dg.OpExecutionContext, jackfruit: JackfruitResource) -> dg.Output[dict]:
    after = timedelta(seconds=jackfruit.settings().reap_after_s)
    with jackfruit.open() as app:
        reaped = app.reap(after)
        report = app.gc()
    for run in reaped:
        context.log.warning(f"reaped run {run.run_id} ({run.dataset} {run.partition_date}); upstream job "
                            f"{run.upstream_job_id or 'none'} kept for the next ingest to resume")
    summary = {"reaped": [r.run_id for r in reaped], "attempts_ended": report.revoked,
               "scratch_dirs": report.scratch_dirs, "staged_files": report.partial_files,
               "tile_objects": report.tile_objects, "containers": report.containers}
    return dg.Output(summary, metadata={k: (len(v) if isinstance(v, list) else v) for k, v in summary.items()})


@dg.job(name=JOB_NAME, description="Reap abandoned claims and collect what ended attempts left.",
        tags={"dagster/max_runtime": "1800"})
def housekeeping_job() -> None:
    reap_and_collect()


def housekeeping_schedule(cron: str) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(name=f"{JOB_NAME}_schedule", cron_schedule=cron, job=housekeeping_job,
                                 execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.RUNNING,
                                 description="Reap abandoned claims and run gc, without a person.")
