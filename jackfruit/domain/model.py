"""Entities: Dataset, IngestionRun (with its status machine), Tile and LineageEdge."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import Enum
from typing import Any, Mapping

from .errors import Conflict, InvalidInput
from .geo import BBox, TimeRange, utc
from .keys import RawKey, check_name, check_run_id
from .levels import check_level_type

#: Version of the raw -> curated transformation; bump when tile bytes would change.
TRANSFORMATION = "jackfruit.grib-to-zarr-tiles"
TRANSFORMATION_VERSION = "6"  # 2: manifest, crc32c, attempt in the key; 3: whole-grid tiles, grid in attributes; 4: one shard per 16 lead times, LZ4; 5: typed levels (level type in the key and attributes), dataset-specific attributes from the source profile; 6: a tile of analyses holds one UTC day of them (time axis in the attributes)


def version_number(version: str) -> int:
    """A transformation version's order: versions are decimal integers as text ("4"), compared as numbers."""
    if not isinstance(version, str) or not version.isdigit() or version != str(int(version)) or int(version) < 1:
        raise InvalidInput(f"transformation version {version!r} must be a positive integer without leading zeros")
    return int(version)


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
    upstream_dataset: str = ""  # the upstream's id ("" = the same as ``name``)
    version: int = 1  # the version of this definition (``registration``)

    def __post_init__(self) -> None:
        check_name("source", self.source)
        check_name("dataset", self.name)
        object.__setattr__(self, "upstream_dataset", self.upstream_dataset or self.name)
        check_name("upstream dataset", self.upstream_dataset)
        if not isinstance(self.version, int) or isinstance(self.version, bool) or self.version < 1:
            raise InvalidInput(f"dataset {self.name!r}: definition version {self.version!r} must be an integer >= 1")
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


def check_partition_day(dataset: str, day: date, last: date) -> date:
    """``InvalidInput`` for a day after ``last``, the last day the dataset's upstream can have now (its profile's
    ``available_until``): refused before anything is recorded."""
    if day > last:
        raise InvalidInput(f"partition day {day.isoformat()} is after {last.isoformat()}, the last day of {dataset} "
                           "the upstream can have now (UTC); nothing was stored")
    return day


def registration(stored: Dataset | None, new: Dataset) -> str:
    """What registering ``new`` does over the ``stored`` definition of the same name, the one rule of every catalog:
    ``"insert"`` (none stored), ``"same"`` (identical), ``"replace"`` (a newer version), ``"keep"`` (the catalog
    holds a newer version: an older jackfruit leaves it). ``Conflict`` for a different definition under the same
    version."""
    if stored is None:
        return "insert"
    if stored == new:
        return "same"
    if new.version > stored.version:
        return "replace"
    if new.version < stored.version:
        return "keep"
    raise Conflict(f"dataset {new.name!r} is already registered with a different definition under the same version "
                   f"{new.version}; a changed definition needs a new version")


class RunStatus(str, Enum):
    """Ingestion state: ``pending -> running -> succeeded | failed | quarantined``. Only ``running`` moves on, and a
    ``failed`` run whose upstream job the upstream still holds, which an ingest re-opens to resume that job
    (``runs.claim_ingest(resume=...)``: one upstream job per partition)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    QUARANTINED = "quarantined"  # a landed file that does not match its request


class TransformStatus(str, Enum):
    """Transformation state of a run: ``none -> transforming -> published | refused | failed``; ``failed`` (an
    attempt that ended on an error, or whose lease expired) may be claimed again under the same version."""

    NONE = "none"
    TRANSFORMING = "transforming"
    PUBLISHED = "published"
    REFUSED = "refused"  # the file holds messages the transformation cannot represent
    FAILED = "failed"  # the attempt failed (reason recorded) or its holder vanished; claim it again


NEXT_STATUS = {
    RunStatus.PENDING: frozenset({RunStatus.RUNNING, RunStatus.FAILED}),
    RunStatus.RUNNING: frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.QUARANTINED}),
    RunStatus.SUCCEEDED: frozenset(),
    RunStatus.FAILED: frozenset({RunStatus.RUNNING}),  # re-opened only to resume its held upstream job
    RunStatus.QUARANTINED: frozenset(),
}
#: A published or refused run is transformed again only under a newer transformation version (``transform_version``
#: grows; ``runs.claim_transform``): tiles are published once per version.
NEXT_TRANSFORM = {
    TransformStatus.NONE: frozenset({TransformStatus.TRANSFORMING}),
    TransformStatus.TRANSFORMING: frozenset({TransformStatus.PUBLISHED, TransformStatus.REFUSED,
                                             TransformStatus.FAILED}),
    TransformStatus.PUBLISHED: frozenset({TransformStatus.TRANSFORMING}),
    TransformStatus.REFUSED: frozenset({TransformStatus.TRANSFORMING}),
    TransformStatus.FAILED: frozenset({TransformStatus.TRANSFORMING}),
}
#: ingestion states that end a run: no claim is taken over from them (a failed run is re-opened only explicitly)
TERMINAL_STATUS = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.QUARANTINED})


class AttemptKind(str, Enum):
    INGEST = "ingest"
    TRANSFORM = "transform"


@dataclass(frozen=True)
class Attempt:
    """One try at a claim (ingest of a run, or transform of it): who, which epoch, until when, how it ended.

    ``expires_at`` is the lease: renewed by the holder's heartbeat; once it has passed, the next claimant
    takes over with ``epoch + 1``. ``ended_at``/``outcome`` are set when the attempt can write no more
    (finished, failed, taken over, revoked, reaped); an ended attempt never comes back.
    """

    attempt_id: str
    kind: AttemptKind
    epoch: int
    owner: str
    started_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None
    outcome: str | None = None

    def __post_init__(self) -> None:
        check_run_id(self.attempt_id)
        object.__setattr__(self, "kind", AttemptKind(self.kind))
        if not isinstance(self.epoch, int) or self.epoch < 1:
            raise InvalidInput(f"attempt {self.attempt_id}: epoch must be a positive integer, got {self.epoch!r}")
        if not isinstance(self.owner, str) or not self.owner or len(self.owner) > 200:
            raise InvalidInput(f"attempt {self.attempt_id}: owner must be a non-empty string of at most 200 chars")
        for name in ("started_at", "expires_at", "ended_at"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, utc(getattr(self, name)))

    def live(self, now: datetime) -> bool:
        """Still holds its claim at ``now``: not ended and the lease not expired."""
        return self.ended_at is None and utc(now) < self.expires_at

    def end(self, now: datetime, outcome: str) -> "Attempt":
        return self if self.ended_at is not None else replace(self, ended_at=utc(now), outcome=outcome)


@dataclass(frozen=True)
class IngestionRun:
    """One partition of a dataset landed (or being landed) in the raw store, with its transformation state.

    The run model (claims, fencing, take-over, reap) is in ``jackfruit.domain.runs`` and docs/runs.md.
    """

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
    upstream_job_id: str | None = None  # the newest upstream (ADS) job of the run: the one a take-over resumes
    orchestrator_run_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)  # ingester timings etc.
    supersedes: str | None = None  # the succeeded run of the same partition this one replaces
    transform_status: TransformStatus = TransformStatus.NONE
    transform_reason: str | None = None
    #: the transformation version of the newest transform claim (``None`` before the first, or for runs
    #: published before versions were recorded on runs)
    transform_version: str | None = None
    #: upstream jobs this run submitted before ``upstream_job_id`` and gave up (e.g. their results expired and
    #: the request was resubmitted), oldest first
    replaced_upstream_jobs: tuple[str, ...] = ()
    attempts: tuple[Attempt, ...] = ()  # every ingest and transform attempt, oldest first

    def __post_init__(self) -> None:
        check_run_id(self.run_id)
        object.__setattr__(self, "status", RunStatus(self.status))
        object.__setattr__(self, "transform_status", TransformStatus(self.transform_status))
        if self.transform_version is not None:
            version_number(self.transform_version)
        for name in ("created_at", "started_at", "finished_at"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, utc(getattr(self, name)))
        object.__setattr__(self, "request", copy.deepcopy(dict(self.request)))
        object.__setattr__(self, "details", copy.deepcopy(dict(self.details)))
        object.__setattr__(self, "attempts", tuple(self.attempts))
        object.__setattr__(self, "replaced_upstream_jobs", tuple(self.replaced_upstream_jobs))
        if self.supersedes is not None:
            check_run_id(self.supersedes)
        key = RawKey.parse(self.raw_key)
        if (key.source, key.dataset, key.day, key.run_id) != (self.source, self.dataset, self.partition_date,
                                                               self.run_id):
            raise InvalidInput(f"raw key {self.raw_key} does not belong to run {self.run_id} of "
                               f"{self.source}/{self.dataset} on {self.partition_date}")

    @property
    def partition(self) -> str:
        """The partition this run lands: (dataset, day, canonical request), as a digest."""
        return partition_key(self.dataset, self.partition_date, self.request)

    def lease(self, kind: AttemptKind) -> Attempt | None:
        """The newest attempt of ``kind`` (the current claim, live or not)."""
        for a in reversed(self.attempts):
            if a.kind is AttemptKind(kind):
                return a
        return None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUS


def canonical_request(request: Mapping[str, Any]) -> str:
    """The request as canonical JSON: keys sorted, every list sorted (order of values never matters upstream)."""

    def canon(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): canon(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            items = [canon(v) for v in value]
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
        return value

    try:
        return json.dumps(canon(request), sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise InvalidInput(f"the request is not plain JSON: {err}") from err


def partition_key(dataset: str, day: date, request: Mapping[str, Any]) -> str:
    """SHA-256 naming a partition: ingesting the same (dataset, day, canonical request) twice is one partition."""
    text = f"{dataset}\n{day.isoformat()}\n{canonical_request(request)}"
    return hashlib.sha256(text.encode()).hexdigest()


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
    cell_id: str  # the tile's spatial cell: since version 3 the whole grid, named by tiling.grid_id
    bbox: BBox  # extent of the tile's grid points, half a grid step around the outermost (version 1-2: the cell)
    shape: tuple[int, int, int]  # (steps, latitude, longitude)
    size: int  # bytes of all objects of the group
    sha256: str  # over the group's manifest, see adapters/zarr_tiles.py
    transformation_version: str = TRANSFORMATION_VERSION
    #: set by the catalog: when the tile became visible (its run's publish), and when ``gc --superseded``
    #: removed its objects (the record stays: history and lineage); not part of the tile's identity
    published_at: datetime | None = field(default=None, compare=False)
    removed_at: datetime | None = field(default=None, compare=False)
    #: the kind of ``level_m`` (domain/levels.py: height in m, surface, pressure in hPa, model level)
    level_type: str = "height"

    def __post_init__(self) -> None:
        version_number(self.transformation_version)
        check_level_type(self.level_type)
        for name in ("published_at", "removed_at"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, utc(getattr(self, name)))
        for name in ("reference_time", "valid_start", "valid_end"):
            object.__setattr__(self, name, utc(getattr(self, name)))
        object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))
        if self.valid_start > self.valid_end:
            raise InvalidInput(f"tile {self.key}: valid_start {self.valid_start} is after valid_end {self.valid_end}")
        if self.bbox.crosses_antimeridian:  # tiling.grid_extent never makes one; a catalog stores a plain box
            raise InvalidInput(f"tile {self.key}: extent {self.bbox.as_tuple()} crosses the antimeridian")

    def selected_by(self, bbox: BBox, time_range: TimeRange) -> bool:
        """The catalog's one selection rule: the closed extent meets ``bbox`` (``BBox.intersects``) and the
        closed span of valid times meets ``time_range`` (``TimeRange.overlaps``). SQL adapters search an
        index with their own predicates, then apply this as the exact filter."""
        return bbox.intersects(self.bbox) and time_range.overlaps(self.valid_start, self.valid_end)


@dataclass(frozen=True)
class LineageEdge:
    """Raw object -> curated tile, with the transformation that made it."""

    raw_key: str
    raw_sha256: str
    tile_key: str
    run_id: str
    transformation: str = TRANSFORMATION
    transformation_version: str = TRANSFORMATION_VERSION

    def __post_init__(self) -> None:
        version_number(self.transformation_version)
