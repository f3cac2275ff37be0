"""Per dataset (every registered source profile): asset keys, daily partitions from the profile's first day, the
job's name and run tags. No dataset is named here: the registry lists them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Callable, Iterable, Sequence

import dagster as dg

from jackfruit.domain.errors import InvalidInput, NotFound
from jackfruit.domain.model import Dataset
from jackfruit.registry import default_registry
#: the upstream-bound steps of one source (upstream account) share a Dagster concurrency pool named after the
#: source, sized to the account's queue limit (dagster.yaml): the ADS's is "ads", whatever the dataset
ADS_POOL = "ads"
#: a run longer than this is canceled by the daemon's run monitoring: the ingester's own time-out
#: (JACKFRUIT_INGEST_TIMEOUT_S, 1 h) plus the transformation, with room
MAX_RUNTIME_S = 2 * 3600
#: the Dagster run tag that carries the jackfruit run id (UUIDv7) of the partition's ingestion run
RUN_ID_TAG = "jackfruit/run_id"


@dataclass(frozen=True)
class DatasetPlan:
    """What Dagster needs to know of one dataset."""

    dataset: Dataset
    first_day: date
    #: the profile's availability horizon: the last day the upstream can have at an instant
    available_until: Callable[[datetime], date] = field(default=lambda now: now.astimezone(timezone.utc).date(),
                                                        compare=False)

    def newest_day(self, now: datetime) -> date:
        """The newest partition to ask for at ``now``: today (UTC), or the profile's horizon when it is earlier
        (a dataset published months late asks only for days the upstream has)."""
        return min(now.astimezone(timezone.utc).date(), self.available_until(now))

    @property
    def slug(self) -> str:
        return self.dataset.name.replace("-", "_")

    @property
    def pool(self) -> str:
        """The Dagster concurrency pool of the dataset's upstream account (its source): datasets of one source share
        it."""
        return self.dataset.source

    @property
    def raw_key(self) -> dg.AssetKey:
        return dg.AssetKey([self.dataset.source, self.slug, "raw"])

    @property
    def tiles_key(self) -> dg.AssetKey:
        return dg.AssetKey([self.dataset.source, self.slug, "tiles"])

    @property
    def job_name(self) -> str:
        return f"{self.slug}_daily"

    @property
    def partitions(self) -> dg.DailyPartitionsDefinition:
        # end_offset=1: today's partition exists from 00:00 UTC (the day's forecast is published that day)
        return dg.DailyPartitionsDefinition(start_date=self.first_day.isoformat(), timezone="UTC", end_offset=1)


def plan(dataset: str) -> DatasetPlan:
    """The plan of a registered dataset (its profile's definition and first day); an unknown one is
    ``InvalidInput`` naming the registered ones."""
    try:
        profile = default_registry().get(dataset)
    except NotFound as err:
        raise InvalidInput(str(err)) from None
    return DatasetPlan(profile.definition(), profile.first_day, profile.available_until)


def plans(datasets: Iterable[str] | None = None) -> Sequence[DatasetPlan]:
    """One plan per registered dataset (or per name given)."""
    names = [p.name for p in default_registry().all()] if datasets is None else list(datasets)
    return [plan(d) for d in names]


def day_of(partition_key: str) -> date:
    """A daily partition key (``YYYY-MM-DD``) as a date."""
    try:
        return date.fromisoformat(partition_key)
    except ValueError:
        raise InvalidInput(f"partition key {partition_key!r} is not a day (YYYY-MM-DD)") from None
