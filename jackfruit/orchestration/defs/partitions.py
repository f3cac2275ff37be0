"""Per dataset: asset keys, daily partitions from the dataset's first day, the job's name and run tags."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable, Sequence

import dagster as dg

from jackfruit.domain.errors import InvalidInput
from jackfruit.domain.model import Dataset
from jackfruit.usecases import BUILTIN_DATASETS, CAMS_EUROPE

#: The first partition day of a dataset that does not name its own (``Dataset.first_day``, when it has one).
#: The ADS keeps CAMS Europe forecasts in a rolling archive of about three years: older days cannot be asked for.
FIRST_DAYS = {CAMS_EUROPE.name: date(2023, 1, 1)}
#: the ADS-bound steps share this Dagster concurrency pool, sized to the account's queue limit (dagster.yaml)
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

    @property
    def slug(self) -> str:
        return self.dataset.name.replace("-", "_")

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


def plan(dataset: Dataset | str) -> DatasetPlan:
    """The plan of a built-in dataset (by name or definition); an unknown one is ``InvalidInput`` naming it."""
    known = {d.name: d for d in BUILTIN_DATASETS}
    name = dataset if isinstance(dataset, str) else dataset.name
    definition = dataset if isinstance(dataset, Dataset) else known.get(name)
    if definition is None:
        raise InvalidInput(f"unknown dataset {name!r}: jackfruit's datasets are {sorted(known)}")
    first_day = getattr(definition, "first_day", None) or FIRST_DAYS.get(name)
    if first_day is None:
        raise InvalidInput(f"dataset {name!r} names no first day: its daily partitions cannot start")
    return DatasetPlan(definition, first_day)


def plans(datasets: Iterable[Dataset | str] | None = None) -> Sequence[DatasetPlan]:
    return [plan(d) for d in (BUILTIN_DATASETS if datasets is None else datasets)]


def day_of(partition_key: str) -> date:
    """A daily partition key (``YYYY-MM-DD``) as a date."""
    try:
        return date.fromisoformat(partition_key)
    except ValueError:
        raise InvalidInput(f"partition key {partition_key!r} is not a day (YYYY-MM-DD)") from None
