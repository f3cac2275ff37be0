"""Use case: ingest one partition (day) of a dataset into the raw store under a claim, and record the run.

The run model (docs/runs.md): the ingest claims its partition (a fenced lease kept alive by a heartbeat);
an expired claim is taken over with the same run id and raw key, and the recorded upstream job is resumed
instead of submitted again; an object already at the raw key is adopted after its size check.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Callable, Mapping

from jackfruit.domain import cams
from jackfruit.domain.cams_request import check_request
from jackfruit.domain.errors import BackendUnavailable, Conflict, IntegrityError, InvalidInput, JackfruitError
from jackfruit.domain.keys import RawKey
from jackfruit.domain.model import AttemptKind, IngestionRun, RunStatus
from jackfruit.ports import Catalog, Clock, IdGenerator, IngestJob, ObjectStore, Runner, Upstream
from jackfruit.ports.runner import RunnerEvent

from .datasets import CAMS_EUROPE
from .leases import Heartbeat
from .objects import hash_object

EventSink = Callable[[RunnerEvent], None]


def _check_variables(dataset_variables: tuple[str, ...], request: Mapping[str, Any]) -> None:
    variables = request.get("variable")
    if isinstance(variables, str):
        variables = [variables]
    if not variables:
        raise InvalidInput("the request names no variable")
    if not isinstance(variables, list) or not all(isinstance(v, str) for v in variables):
        raise InvalidInput(f"request field 'variable' must be a string or a list of strings, got {variables!r}")
    unknown = [v for v in variables if v not in dataset_variables]
    if unknown:
        raise InvalidInput(f"variable(s) {unknown} are not produced by this dataset")
    cams.check_variables(list(variables))


def ingest_partition(
    *,
    catalog: Catalog,
    runner: Runner,
    raw_store: ObjectStore,
    clock: Clock,
    ids: IdGenerator,
    upstream: Upstream,
    dataset: str,
    day: date,
    owner: str,
    lease_ttl: timedelta,
    overrides: Mapping[str, Any] | None = None,
    orchestrator_run_id: str | None = None,
    supersede: bool = False,
    on_event: EventSink | None = None,
) -> IngestionRun:
    """Land one day of ``dataset`` unchanged under its run's raw key; the run records the outcome either way."""
    definition = catalog.get_dataset(dataset)
    if overrides is not None and definition.name == CAMS_EUROPE.name:
        overrides = check_request(dict(overrides))
    if not upstream.api_key:
        raise InvalidInput(f"no API key for {upstream.base_url}: set ADS_API_KEY (it is never logged or stored)")
    request = definition.request_for(day, overrides)
    _check_variables(definition.variables, request)
    run_id, attempt_id = ids.new_run_id(), ids.new_run_id()
    key = str(RawKey(definition.source, definition.name, day, run_id, definition.ext))
    candidate = IngestionRun(run_id=run_id, source=definition.source, dataset=definition.name, partition_date=day,
                             request=request, status=RunStatus.PENDING, created_at=clock.now(), raw_key=key,
                             orchestrator_run_id=orchestrator_run_id)
    now = clock.now()
    run = catalog.claim_ingest(candidate, attempt_id=attempt_id, owner=owner, now=now, expires_at=now + lease_ttl,
                               supersede=supersede)
    epoch = run.lease(AttemptKind.INGEST).epoch
    with Heartbeat(catalog, clock, run.run_id, AttemptKind.INGEST, epoch, lease_ttl) as beat:
        try:
            manifest = _land(catalog, runner, raw_store, clock, run, epoch, attempt_id, upstream, beat, on_event)
        except JackfruitError as err:
            beat.stop()
            if isinstance(err, Conflict) and beat.lost.is_set():
                raise  # someone else holds the claim now: record nothing
            job_id = getattr(err, "upstream_job_id", None)
            _quietly(lambda: catalog.record_upstream_job(run.run_id, epoch, job_id, now=clock.now())
                     if job_id else None)
            reason = f"{err.kind}: {err}"
            _quietly(lambda: catalog.fail(run.run_id, epoch, now=clock.now(), reason=reason))
            raise
        except BaseException:
            # interrupted (SIGINT/SIGTERM) or a bug: release the claim so the next ingest takes it over at
            # once and resumes the recorded upstream job instead of submitting another
            beat.release()
            raise
        beat.stop()
        beat.check()
        return catalog.succeed(run.run_id, epoch, now=clock.now(), size=manifest["size"],
                               sha256=manifest["sha256"], upstream_job_id=manifest["job"],
                               details=manifest["details"])


def _land(catalog: Catalog, runner: Runner, raw_store: ObjectStore, clock: Clock, run: IngestionRun, epoch: int,
          attempt_id: str, upstream: Upstream, beat: Heartbeat, on_event: EventSink | None) -> dict[str, Any]:
    key = run.raw_key
    if run.upstream_job_id is None and epoch > 1 and raw_store.exists(key):
        # taken over after the object was committed but before any job id was recorded: adopt it by hash
        size, sha = hash_object(raw_store, key)
        return {"size": size, "sha256": sha, "job": None,
                "details": {"adopted": True, "size_check": "none: no upstream job was recorded"}}

    def handle(event: RunnerEvent) -> None:
        if event.kind == "submitted" and event.upstream_job_id:
            # recorded at once, so a take-over resumes this job; a holder fenced off meanwhile gets
            # Conflict here, which makes the runner stop the ingester
            try:
                catalog.record_upstream_job(run.run_id, epoch, event.upstream_job_id, now=clock.now())
            except BackendUnavailable:
                pass  # recorded again on success or failure
        if on_event is not None:
            on_event(event)

    job = IngestJob(run.run_id, run.dataset, run.request, key, upstream, attempt_id=attempt_id,
                    resume_job_id=run.upstream_job_id)
    manifest = runner.run(job, handle)
    beat.check()
    if manifest.key != key:
        raise IntegrityError(f"the ingester stored {manifest.key!r}, not the requested {key!r}")
    stored = raw_store.head(key)
    if stored.size != manifest.size:
        raise IntegrityError(f"raw object {key} holds {stored.size} bytes; the ingester reported {manifest.size}")
    details = dict(manifest.details)
    if manifest.adopted:
        details["adopted"] = True
    return {"size": manifest.size, "sha256": manifest.sha256, "job": manifest.upstream_job_id, "details": details}


def _quietly(write: Callable[[], Any]) -> None:
    """A bookkeeping write on an error path: it must not hide the error being reported."""
    try:
        write()
    except (Conflict, BackendUnavailable, InvalidInput):
        pass
