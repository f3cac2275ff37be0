"""Row (de)serialisation of catalog entities, shared so every catalog adapter round-trips identically."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable

from jackfruit.domain.errors import Conflict, InvalidInput
from jackfruit.domain.geo import BBox, utc
from jackfruit.domain.model import Attempt, Dataset, IngestionRun, LineageEdge, RunStatus, Tile, TransformStatus

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)

DATASET_COLUMNS = ("name", "source", "request_template", "variables", "ext", "description", "schedule",
                   "upstream_dataset", "definition_version")
RUN_COLUMNS = ("run_id", "source", "dataset", "partition_date", "request", "status", "created_at", "raw_key",
               "started_at", "finished_at", "failure_reason", "raw_size", "raw_sha256", "upstream_job_id",
               "orchestrator_run_id", "details", "partition_key", "supersedes", "transform_status",
               "transform_reason", "transform_version", "replaced_upstream_jobs", "attempts")
TILE_COLUMNS = ("key", "run_id", "dataset", "model", "variable", "level_m", "reference_time", "valid_start",
                "valid_end", "cell_id", "west", "south", "east", "north", "steps", "ny", "nx", "size", "sha256",
                "transformation_version", "published_at", "removed_at", "level_type")
LINEAGE_COLUMNS = ("raw_key", "raw_sha256", "tile_key", "run_id", "transformation", "transformation_version")
#: Columns of an attempts table (databases that store attempts as rows rather than the ``attempts`` JSON).
ATTEMPT_COLUMNS = ("attempt_id", "kind", "epoch", "owner", "started_at", "expires_at", "ended_at", "outcome")
#: Time columns, integer microseconds in these rows; ``with_datetimes`` turns them into UTC datetimes for a
#: database with a timestamp type, and the readers below accept either.
RUN_TIMES = frozenset({"created_at", "started_at", "finished_at"})
TILE_TIMES = frozenset({"reference_time", "valid_start", "valid_end", "published_at", "removed_at"})


def to_micros(value: datetime) -> int:
    """Integer microseconds since the epoch (UTC): exact for every datetime and sorts numerically."""
    return (utc(value) - _EPOCH) // _US


def from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def _int64(what: str, value: int | None) -> int | None:
    # SQLite integers are 64-bit; refuse bigger ones here so every adapter refuses them alike
    if value is not None and not -(1 << 63) <= int(value) < 1 << 63:
        raise InvalidInput(f"{what} {value} does not fit in 64 bits")
    return None if value is None else int(value)


def _opt_micros(value: datetime | None) -> int | None:
    return None if value is None else to_micros(value)


def _opt_dt(value: int | datetime | None) -> datetime | None:
    return None if value is None else _when(value)


def _when(value: int | datetime) -> datetime:
    """A stored time: integer microseconds (SQLite, memory) or a timestamp a database returned."""
    return utc(value) if isinstance(value, datetime) else from_micros(value)


def with_datetimes(columns: tuple[str, ...], row: tuple, times: frozenset[str]) -> tuple:
    """``row`` (of ``columns``) with its integer-microsecond ``times`` as UTC datetimes."""
    return tuple(from_micros(v) if c in times and v is not None else v for c, v in zip(columns, row))


def check_partition(partition: str) -> str:
    """A partition key as stored: 64 lowercase hex digits (``IngestionRun.partition``)."""
    if not isinstance(partition, str) or len(partition) != 64 or any(c not in "0123456789abcdef" for c in partition):
        raise InvalidInput(f"a partition key is 64 lowercase hex digits (IngestionRun.partition), got {partition!r}")
    return partition


def to_json(what: str, value: Any) -> str:
    # sort_keys makes identical mappings serialise identically; NaN is not JSON, so refuse it
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as err:
        raise InvalidInput(f"{what} is not JSON-serialisable: {err}") from err


def dataset_row(d: Dataset) -> tuple:
    return (d.name, d.source, to_json("request template", d.request_template),
            to_json("variables", list(d.variables)), d.ext, d.description, d.schedule, d.upstream_dataset, d.version)


def dataset_of(row: tuple) -> Dataset:
    name, source, template, variables, ext, description, schedule, upstream, version = row
    return Dataset(source=source, name=name, request_template=json.loads(template),
                   variables=tuple(json.loads(variables)), ext=ext, description=description, schedule=schedule,
                   upstream_dataset=upstream, version=int(version))


def _attempt_json(a: Attempt) -> dict[str, Any]:
    return {"attempt_id": a.attempt_id, "kind": a.kind.value, "epoch": a.epoch, "owner": a.owner,
            "started_at": to_micros(a.started_at), "expires_at": to_micros(a.expires_at),
            "ended_at": _opt_micros(a.ended_at), "outcome": a.outcome}


def _attempt_of(d: dict[str, Any]) -> Attempt:
    return Attempt(attempt_id=d["attempt_id"], kind=d["kind"], epoch=d["epoch"], owner=d["owner"],
                   started_at=from_micros(d["started_at"]), expires_at=from_micros(d["expires_at"]),
                   ended_at=_opt_dt(d["ended_at"]), outcome=d["outcome"])


def attempt_row(a: Attempt) -> tuple:
    """An attempt as a row of ``ATTEMPT_COLUMNS`` (times as UTC datetimes)."""
    return (a.attempt_id, a.kind.value, a.epoch, a.owner, utc(a.started_at), utc(a.expires_at),
            None if a.ended_at is None else utc(a.ended_at), a.outcome)


def attempt_of(row: tuple) -> Attempt:
    attempt_id, kind, epoch, owner, started, expires, ended, outcome = row
    return Attempt(attempt_id=attempt_id, kind=kind, epoch=epoch, owner=owner, started_at=_when(started),
                   expires_at=_when(expires), ended_at=_opt_dt(ended), outcome=outcome)


def run_row(r: IngestionRun) -> tuple:
    if not isinstance(r.partition_date, date) or isinstance(r.partition_date, datetime):
        raise InvalidInput(f"run {r.run_id}: partition date must be a date, got {r.partition_date!r}")
    return (r.run_id, r.source, r.dataset, r.partition_date.isoformat(), to_json("run request", r.request),
            RunStatus(r.status).value, to_micros(r.created_at), r.raw_key, _opt_micros(r.started_at),
            _opt_micros(r.finished_at), r.failure_reason, _int64("raw size", r.raw_size), r.raw_sha256,
            r.upstream_job_id, r.orchestrator_run_id, to_json("run details", r.details), r.partition,
            r.supersedes, TransformStatus(r.transform_status).value, r.transform_reason, r.transform_version,
            to_json("replaced upstream jobs", list(r.replaced_upstream_jobs)),
            to_json("attempts", [_attempt_json(a) for a in r.attempts]))


def run_of(row: tuple) -> IngestionRun:
    """A run from a row of ``RUN_COLUMNS``; ``attempts`` is the JSON text, or the run's ``Attempt``s in order
    (an attempts table); times are microseconds or datetimes, the day ISO text or a date."""
    (run_id, source, dataset, day, request, status, created, raw_key, started, finished, reason, size, sha,
     job, orch, details, _partition, supersedes, transform_status, transform_reason, transform_version,
     replaced, attempts) = row
    if not isinstance(day, date):
        day = date.fromisoformat(day)
    attempts = tuple(_attempt_of(a) for a in json.loads(attempts)) if isinstance(attempts, str) else tuple(attempts)
    return IngestionRun(run_id=run_id, source=source, dataset=dataset, partition_date=day,
                        request=json.loads(request), status=RunStatus(status), created_at=_when(created),
                        raw_key=raw_key, started_at=_opt_dt(started), finished_at=_opt_dt(finished),
                        failure_reason=reason, raw_size=size, raw_sha256=sha, upstream_job_id=job,
                        orchestrator_run_id=orch, details=json.loads(details), supersedes=supersedes,
                        transform_status=TransformStatus(transform_status), transform_reason=transform_reason,
                        transform_version=transform_version,
                        replaced_upstream_jobs=tuple(json.loads(replaced) if isinstance(replaced, str) else replaced),
                        attempts=attempts)


def tile_row(t: Tile, published_at: datetime | None = None) -> tuple:
    """A tile as a row of ``TILE_COLUMNS``; ``published_at`` (the publish's ``now``) overrides the tile's own."""
    steps, ny, nx = (int(v) for v in t.shape)
    b = t.bbox
    return (t.key, t.run_id, t.dataset, t.model, t.variable, _int64("level", t.level_m),
            to_micros(t.reference_time), to_micros(t.valid_start), to_micros(t.valid_end), t.cell_id,
            b.west, b.south, b.east, b.north,
            steps, ny, nx, _int64("tile size", t.size), t.sha256, t.transformation_version,
            _opt_micros(published_at or t.published_at), _opt_micros(t.removed_at), t.level_type)


def tile_of(row: tuple) -> Tile:
    (key, run_id, dataset, model, variable, level, ref, start, end, cell, w, s, e, n, steps, ny, nx, size,
     sha, version, published, removed, level_type) = row
    return Tile(key=key, run_id=run_id, dataset=dataset, model=model, variable=variable, level_m=level,
                reference_time=_when(ref), valid_start=_when(start), valid_end=_when(end),
                cell_id=cell, bbox=BBox(w, s, e, n), shape=(steps, ny, nx), size=size, sha256=sha,
                transformation_version=version, published_at=_opt_dt(published), removed_at=_opt_dt(removed),
                level_type=level_type)


def tile_order(row: tuple) -> tuple:
    """(variable, model, level_m, reference_time, cell_id, key): the documented find_tiles order."""
    return (row[4], row[3], row[5], row[6], row[9], row[0])


def lineage_row(e: LineageEdge) -> tuple:
    return (e.raw_key, e.raw_sha256, e.tile_key, e.run_id, e.transformation, e.transformation_version)


def lineage_of(row: tuple) -> LineageEdge:
    return LineageEdge(*row)


def check_publish(run_id: str, dataset: str, version: str | None, tiles: list[tuple], edges: list[tuple]) -> None:
    """Refuse a publish batch that does not belong to its run and its claimed transformation ``version``,
    before anything is written."""
    keys: set[str] = set()
    slots: dict[tuple, str] = {}
    for t in tiles:
        if t[1] != run_id or t[2] != dataset:
            raise Conflict(f"tile {t[0]} belongs to run {t[1]} of {t[2]}, not run {run_id} of {dataset}")
        if t[19] != version:
            raise Conflict(f"tile {t[0]} is of transformation version {t[19]}, but run {run_id} is being "
                           f"transformed under version {version}")
        if t[0] in keys:
            raise Conflict(f"tile key {t[0]} appears twice in the publish of run {run_id}")
        keys.add(t[0])
        slot = (t[3], t[4], t[5], t[6], t[9])  # model, variable, level, reference time, cell: one tile each
        if slot in slots:
            raise Conflict(f"tiles {slots[slot]} and {t[0]} of run {run_id} fill the same slot (model, variable, "
                           "level, reference time, cell)")
        slots[slot] = t[0]
    seen: set[tuple[str, str]] = set()
    for e in edges:
        if e[3] != run_id:
            raise Conflict(f"lineage edge to {e[2]} names run {e[3]}, not {run_id}")
        if e[2] not in keys:
            raise Conflict(f"lineage edge names tile {e[2]}, which run {run_id} does not publish")
        if e[5] != version:
            raise Conflict(f"lineage edge to {e[2]} names transformation version {e[5]}, not {version}")
        if (e[0], e[2]) in seen:
            raise Conflict(f"lineage edge {e[0]} -> {e[2]} appears twice")
        seen.add((e[0], e[2]))


def currency_sql(known: str, as_int: Callable[[str], str]) -> tuple[str, str]:
    """The domain's currency rule (``jackfruit.domain.currency``) in SQL, for both SQL catalogs:
    ``(outranks, current)``. ``u`` outranks ``t`` once published by ``known`` (the dialect's parameter): the same
    slot from a newer run (index tiles_by_slot), or the same field of the same run under a newer version, whatever
    its reference time (index tiles_by_run_product, its leading columns); ``current`` is those two as ``NOT EXISTS`` probes that each read one index range.
    ``as_int(column)`` is the dialect's cast of a transformation version to an integer."""
    newer_run = ("u.dataset = t.dataset AND u.model = t.model AND u.variable = t.variable AND u.level_m = t.level_m "
                 "AND u.level_type = t.level_type AND u.reference_time = t.reference_time AND u.cell_id = t.cell_id AND u.run_id > t.run_id "
                 f"AND u.published_at <= {known}")
    newer_version = ("u.run_id = t.run_id AND u.model = t.model AND u.variable = t.variable "
                     "AND u.level_m = t.level_m AND u.level_type = t.level_type "
                     f"AND u.published_at <= {known} "
                     f"AND {as_int('u.transformation_version')} > {as_int('t.transformation_version')}")
    return (f"(({newer_run}) OR ({newer_version}))",
            f"NOT EXISTS (SELECT 1 FROM tiles u WHERE {newer_run}) "
            f"AND NOT EXISTS (SELECT 1 FROM tiles u WHERE {newer_version})")
