"""Entities: Dataset, IngestionRun (with its status machine), Tile and LineageEdge."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import Enum
from typing import Any, Mapping

from .errors import Conflict, InvalidInput
from .geo import BBox, utc
from .keys import RawKey, check_name, check_run_id

#: Version of the raw -> curated transformation; bump when tile bytes would change.
TRANSFORMATION = "jackfruit.grib-to-zarr-tiles"
TRANSFORMATION_VERSION = "1"


@dataclass(frozen=True)
class Dataset:
    """A source product: where it comes from, how to ask for it, what it yields."""

    source: str
    name: str
    request_template: Mapping[str, Any]
    variables: tuple[str, ...]
    ext: str = "grib"
    description: str = ""
    schedule: str | None = None  # cron expression of the refresh, if any

    def __post_init__(self) -> None:
        check_name("source", self.source)
        check_name("dataset", self.name)
        if not self.variables:
            raise InvalidInput(f"dataset {self.name!r} declares no variables")
        object.__setattr__(self, "variables", tuple(self.variables))
        object.__setattr__(self, "request_template", copy.deepcopy(dict(self.request_template)))

    def request_for(self, day: date, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The upstream request for one partition day: the template, the day, then overrides."""
        request = copy.deepcopy(dict(self.request_template))
        request["date"] = [f"{day.isoformat()}/{day.isoformat()}"]
        for key, value in (overrides or {}).items():
            if key == "date":
                raise InvalidInput("the request date comes from the partition day; do not override it")
            request[key] = copy.deepcopy(value)
        return request


class RunStatus(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


_NEXT = {
    RunStatus.PENDING: {RunStatus.RUNNING, RunStatus.FAILED},
    RunStatus.RUNNING: {RunStatus.SUCCEEDED, RunStatus.FAILED},
    RunStatus.SUCCEEDED: set(),
    RunStatus.FAILED: set(),
}


@dataclass(frozen=True)
class IngestionRun:
    """One attempt to land one partition of a dataset in the raw store."""

    run_id: str
    source: str
    dataset: str
    partition_date: date
    request: Mapping[str, Any]
    status: RunStatus
    created_at: datetime
    raw_key: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    failure_reason: str | None = None
    raw_size: int | None = None
    raw_sha256: str | None = None
    upstream_job_id: str | None = None
    orchestrator_run_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)  # ingester timings etc.

    def __post_init__(self) -> None:
        check_run_id(self.run_id)
        object.__setattr__(self, "status", RunStatus(self.status))
        for name in ("created_at", "started_at", "finished_at"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, utc(getattr(self, name)))
        object.__setattr__(self, "request", copy.deepcopy(dict(self.request)))
        object.__setattr__(self, "details", copy.deepcopy(dict(self.details)))
        key = RawKey.parse(self.raw_key)
        if (key.source, key.dataset, key.day, key.run_id) != (self.source, self.dataset, self.partition_date,
                                                               self.run_id):
            raise InvalidInput(f"raw key {self.raw_key} does not belong to run {self.run_id} of "
                               f"{self.source}/{self.dataset} on {self.partition_date}")

    def _move(self, to: RunStatus, **changes: Any) -> "IngestionRun":
        if to not in _NEXT[self.status]:
            raise Conflict(f"run {self.run_id} is {self.status.value}; it cannot become {to.value}")
        return replace(self, status=to, **changes)

    def start(self, now: datetime) -> "IngestionRun":
        return self._move(RunStatus.RUNNING, started_at=utc(now))

    def succeed(self, now: datetime, size: int, sha256: str, upstream_job_id: str | None,
                details: Mapping[str, Any] | None = None) -> "IngestionRun":
        return self._move(RunStatus.SUCCEEDED, finished_at=utc(now), raw_size=size, raw_sha256=sha256,
                          upstream_job_id=upstream_job_id, details=dict(details or {}))

    def fail(self, now: datetime, reason: str) -> "IngestionRun":
        return self._move(RunStatus.FAILED, finished_at=utc(now), failure_reason=reason)


@dataclass(frozen=True)
class Tile:
    """One immutable Zarr group: all lead times of one (dataset, model, variable, level, reference time) in one cell."""

    key: str
    run_id: str
    dataset: str
    model: str
    variable: str
    level_m: int
    reference_time: datetime
    valid_start: datetime  # first valid time (inclusive)
    valid_end: datetime  # last valid time (inclusive)
    cell_id: str
    bbox: BBox  # the cell's edges
    shape: tuple[int, int, int]  # (steps, latitude, longitude)
    size: int  # bytes of all objects of the group
    sha256: str  # over the group's manifest, see adapters/zarr_tiles.py

    def __post_init__(self) -> None:
        for name in ("reference_time", "valid_start", "valid_end"):
            object.__setattr__(self, name, utc(getattr(self, name)))
        object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))
        if self.valid_start > self.valid_end:
            raise InvalidInput(f"tile {self.key}: valid_start {self.valid_start} is after valid_end {self.valid_end}")


@dataclass(frozen=True)
class LineageEdge:
    """Raw object -> curated tile, with the transformation that made it."""

    raw_key: str
    raw_sha256: str
    tile_key: str
    run_id: str
    transformation: str = TRANSFORMATION
    transformation_version: str = TRANSFORMATION_VERSION


def latest_tiles(tiles: "list[Tile] | tuple[Tile, ...]") -> list[Tile]:
    """One tile per (dataset, model, variable, level, reference time, cell): the newest run's.

    Re-ingesting a partition adds a new version instead of replacing tiles (they are immutable);
    run ids are UUIDv7, so the greatest id is the latest run. Order of the input is kept.
    """
    best: dict[tuple, Tile] = {}
    for t in tiles:
        slot = (t.dataset, t.model, t.variable, t.level_m, t.reference_time, t.cell_id)
        if slot not in best or t.run_id > best[slot].run_id:
            best[slot] = t
    keep = {id(t) for t in best.values()}
    return [t for t in tiles if id(t) in keep]
