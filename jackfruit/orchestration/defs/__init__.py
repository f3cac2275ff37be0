"""Dagster definitions of jackfruit, one concern per module; ``build_definitions`` puts them together."""

from __future__ import annotations

from datetime import date
from typing import Callable, Iterable

import dagster as dg

from jackfruit.domain.model import Dataset

from .assets import raw_asset, tiles_asset
from .checks import checks
from .housekeeping import HOUSEKEEPING_CRON, housekeeping_job, housekeeping_schedule
from .partitions import MAX_RUNTIME_S, plans
from .resources import JackfruitResource
from .schedules import daily_job, daily_schedule
from .sensors import coverage_sensor, utc_today

__all__ = ["JackfruitResource", "build_definitions"]


def build_definitions(datasets: Iterable[Dataset | str] | None = None, *,
                      jackfruit: JackfruitResource | None = None, max_runtime_s: int = MAX_RUNTIME_S,
                      today: Callable[[], date] = utc_today,
                      housekeeping_cron: str = HOUSEKEEPING_CRON) -> dg.Definitions:
    """Per dataset (default: every built-in one): raw + tiles assets, their checks, the daily job, its
    schedule and the coverage sensor; the housekeeping job and its schedule (reap + gc); one ``jackfruit`` resource. An unknown dataset is ``InvalidInput``."""
    assets, asset_checks, jobs, schedules, sensors = [], [], [], [], []
    for plan in plans(datasets):
        assets += [raw_asset(plan), tiles_asset(plan)]
        asset_checks += checks(plan)
        job = daily_job(plan, max_runtime_s)
        jobs.append(job)
        schedule = daily_schedule(plan, job)
        schedules += [schedule] if schedule is not None else []
        sensors.append(coverage_sensor(plan, job, today=today))
    resource = jackfruit if jackfruit is not None else JackfruitResource()
    jobs.append(housekeeping_job)
    schedules.append(housekeeping_schedule(housekeeping_cron))
    return dg.Definitions(assets=assets, asset_checks=asset_checks, jobs=jobs, schedules=schedules, sensors=sensors,
                          resources={"jackfruit": resource})
