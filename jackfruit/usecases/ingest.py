"""Use case: ingest one partition (day) of a dataset into the raw store under a claim, and record the run.

The run model (docs/runs.md): the ingest claims its partition (a fenced lease kept alive by a heartbeat);
an expired claim is taken over with the same run id and raw key, and the recorded upstream job is resumed
instead of submitted again; an object already at the raw key is adopted after its size check. A landed object is
accepted only if its GRIB headers hold exactly what the run's request asked for (``domain/acceptance.py``):
then the run succeeds, else it ends ``quarantined`` with the reason, the object kept as evidence.
"""

from __future__ import annotations

import os
import shutil
from typing import Any, Callable, Mapping

from jackfruit.domain import acceptance, runs
from jackfruit.domain.errors import (BackendUnavailable, Conflict, IntegrityError, InvalidInput, JackfruitError,
                                     UpstreamRefused)
from jackfruit.domain.keys import RawKey
from jackfruit.domain.model import AttemptKind, IngestionRun, RunStatus, check_partition_day
from jackfruit.ports import Catalog, Clock, GribDecoder, IngestJob, ObjectStore, Runner, Upstream
from jackfruit.ports.runner import JobQuery, RunnerEvent, with_upstream_job
from jackfruit.ports.source import SourceProfile

from .context import Claimant, IngestOrder, IngestPorts
from .leases import Heartbeat
from .objects import hash_object
from .transform import raw_file, scratch_dir

EventSink = Callable[[RunnerEvent], None]


def _check_variables(profile: SourceProfile, dataset_variables: tuple[str, ...], request: Mapping[str, Any]) -> None:
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
    profile.check_variables(list(variables))


def ingest_partition(ports: IngestPorts, claimant: Claimant, order: IngestOrder, *,
                     on_event: EventSink | None = None, max_in_flight: int | None = None) -> IngestionRun:
    """Land one day of ``dataset`` unchanged under its run's raw key; the run records the outcome either way.
    ``max_in_flight``: a new run is refused (``BackendUnavailable``, nothing claimed) while that many ingestions
    from the dataset's source hold live claims (the upstream account's queue, ``ADS_MAX_JOBS_IN_FLIGHT``).

    One upstream job per partition (docs/runs.md): the partition's newest run, failed with a job the upstream
    still holds, is re-opened to resume that job; a take-over of a claim that recorded no job first asks the
    upstream for this request's job (its submitter may have died before recording it). ``fresh`` skips both
    and submits a new job in a new run (a claim still open is taken over as always)."""
    catalog, runner, raw_store, decoder = ports.catalog, ports.runner, ports.raw_store, ports.decoder
    clock, ids, upstream = ports.clock, ports.ids, ports.upstream
    owner, lease_ttl, work_dir = claimant.owner, claimant.lease_ttl, claimant.work_dir
    dataset, day, overrides, fresh = order.dataset, order.day, order.overrides, order.fresh
    supersede, orchestrator_run_id = order.supersede, order.orchestrator_run_id
    profile = ports.profiles.get(dataset)
    definition = catalog.get_dataset(dataset)
    # a day the upstream cannot have yet: refused, nothing recorded
    check_partition_day(dataset, day, profile.available_until(clock.now()))
    if overrides is not None:
        overrides = profile.check_request(dict(overrides))
    if not upstream.api_key:
        raise InvalidInput(f"no API key for {upstream.base_url}: set ADS_API_KEY (it is never logged or stored)")
    request = definition.request_for(day, overrides)
    _check_variables(profile, definition.variables, request)
    run_id, attempt_id = ids.new_run_id(), ids.new_run_id()
    key = str(RawKey(definition.source, definition.name, day, run_id, definition.ext))
    candidate = IngestionRun(run_id=run_id, source=definition.source, dataset=definition.name, partition_date=day,
                             request=request, status=RunStatus.PENDING, created_at=clock.now(), raw_key=key,
                             orchestrator_run_id=orchestrator_run_id)
    query = JobQuery(definition.name, request, upstream, upstream_dataset=profile.upstream_dataset)
    resume = None if fresh else _resumable_run(catalog, runner, query, candidate.partition)
    now = clock.now()
    run = catalog.claim_ingest(candidate, attempt_id=attempt_id, owner=owner, now=now, expires_at=now + lease_ttl,
                               supersede=supersede, max_in_flight=max_in_flight, resume=resume)
    epoch = run.lease(AttemptKind.INGEST).epoch
    if not fresh and run.upstream_job_id is None and _may_have_lost_a_job(catalog, run, epoch):
        try:
            run = _adopt_lost_job(catalog, runner, clock, query, run, epoch)
        except BaseException:
            _quietly(lambda: catalog.renew(run.run_id, AttemptKind.INGEST, epoch, now=clock.now(),
                                           expires_at=clock.now()))  # the next ingest takes it over at once
            raise
    with Heartbeat(catalog, clock, run.run_id, AttemptKind.INGEST, epoch, lease_ttl) as beat:
        try:
            manifest = _land(catalog, runner, raw_store, clock, run, epoch, attempt_id, upstream, beat, on_event,
                             profile.upstream_dataset)
        except JackfruitError as err:
            beat.stop()
            if isinstance(err, Conflict) and beat.lost.is_set():
                raise  # someone else holds the claim now: record nothing
            job_id = getattr(err, "upstream_job_id", None)
            _quietly(lambda: catalog.record_upstream_job(run.run_id, epoch, job_id, now=clock.now())
                     if job_id else None)
            named = _naming_the_licence(err, profile)
            reason = f"{named.kind}: {named}"
            _quietly(lambda: catalog.fail(run.run_id, epoch, now=clock.now(), reason=reason))
            if named is not err:
                raise named from err
            raise
        except BaseException:
            # interrupted (SIGINT/SIGTERM) or a bug: release the claim so the next ingest takes it over at
            # once and resumes the recorded upstream job instead of submitting another
            beat.release()
            raise
        if on_event is not None:
            on_event(RunnerEvent("phase", phase="accept"))  # observable like the ingester's phases
        verdict = check_landed(catalog, raw_store, decoder, clock, run, epoch, beat, work_dir, attempt_id,
                               size=manifest["size"], sha256=manifest["sha256"], job_id=manifest["job"],
                               scheme=profile)
        return finish_landed(catalog, clock, run, epoch, beat, verdict, size=manifest["size"],
                             sha256=manifest["sha256"], job_id=manifest["job"], details=manifest["details"])


def _naming_the_licence(err: JackfruitError, profile: SourceProfile) -> JackfruitError:
    """An upstream refusal for a licence not accepted, with the dataset's licence named (the upstream's message
    names a page; the user needs to know which licence of which dataset to accept)."""
    if not isinstance(err, UpstreamRefused) or "licen" not in str(err).lower():
        return err
    named = type(err)(f"{err} [dataset {profile.name} (upstream {profile.upstream_dataset}) needs its licence "
                      f"accepted: {profile.licence}]")
    return with_upstream_job(named, getattr(err, "upstream_job_id", None))


def _resumable_run(catalog: Catalog, runner: Runner, query: JobQuery, partition: str) -> str | None:
    """The run to re-open (``claim_ingest(resume=...)``): the partition's newest run if it failed with an upstream
    job that the upstream still holds (queued, running, or successful with its results not expired). Asked of the
    upstream through the runner; a job the upstream no longer holds means a new job (the one resubmission)."""
    run = runs.resumable(catalog.partition_runs(partition))
    if run is None or run.upstream_job_id is None:
        return None
    return run.run_id if runner.job_status(query, run.upstream_job_id).held else None


def _may_have_lost_a_job(catalog: Catalog, run: IngestionRun, epoch: int) -> bool:
    """An earlier attempt may have made an upstream job it never recorded (killed between the upstream's accept and
    the record): this claim took one over, or an earlier run of the partition ended without a job id (reaped, or
    failed before its submit reply). Only then is the upstream asked (a query costs a call, or a container)."""
    if epoch > 1:
        return True
    return any(r.run_id != run.run_id and r.status is RunStatus.FAILED and r.upstream_job_id is None
               for r in catalog.partition_runs(run.partition))


def _adopt_lost_job(catalog: Catalog, runner: Runner, clock: Clock, query: JobQuery, run: IngestionRun,
                    epoch: int) -> IngestionRun:
    """A claim taken over with no upstream job recorded: its submitter may have been killed between the upstream's
    accept and the record. The upstream's job for this request, if it still holds one that no other run of the
    partition records, is recorded now and resumed instead of submitting again."""
    found = runner.find_job(query)
    if found is None or not found.held:
        return run
    known = {job for r in catalog.partition_runs(run.partition) if r.run_id != run.run_id
             for job in (r.upstream_job_id, *r.replaced_upstream_jobs) if job}
    if found.job_id in known:
        return run
    return catalog.record_upstream_job(run.run_id, epoch, found.job_id, now=clock.now())


def check_landed(catalog: Catalog, raw_store: ObjectStore, decoder: GribDecoder, clock: Clock, run: IngestionRun,
                 epoch: int, beat: Heartbeat, work_dir: str, attempt_id: str, *, size: int, sha256: str,
                 job_id: str | None, scheme: acceptance.FieldScheme) -> acceptance.AcceptanceResult:
    """The acceptance check of the object landed at the run's raw key: its headers read through the decoder port
    (the transformation's scan), compared with the run's request. A file that is not GRIB or is truncated is a
    mismatch naming the problem. The claim is held throughout: an I/O failure (``BackendUnavailable``, an OS
    error) releases it and raises, so the run stays open for the next attempt to take over, re-adopt the
    object and check it again; bytes that are not the ones landed (``IntegrityError``) fail the run."""
    scratch = scratch_dir(work_dir, attempt_id)
    try:
        try:
            os.makedirs(scratch, exist_ok=True)
            path, hashing = raw_file(raw_store, run.raw_key, sha256, size, scratch)
            try:
                verdict = acceptance.check(run.request, decoder.scan(path, scheme.grib_names), scheme)
            except InvalidInput as err:
                verdict = acceptance.unreadable(str(err))
            if hashing is not None:
                hashing.result()  # the bytes scanned are the bytes landed
        except (BackendUnavailable, OSError) as err:
            beat.release()
            raise BackendUnavailable(f"run {run.run_id}: the landed object {run.raw_key} could not be read for its "
                                     f"acceptance check ({err}); the run stays open: run the same command again "
                                     "to take it over and check the object") from err
        except JackfruitError as err:
            beat.stop()
            if not (isinstance(err, Conflict) and beat.lost.is_set()):
                if job_id:
                    _quietly(lambda: catalog.record_upstream_job(run.run_id, epoch, job_id, now=clock.now()))
                _quietly(lambda: catalog.fail(run.run_id, epoch, now=clock.now(), reason=f"{err.kind}: {err}"))
            raise
        except BaseException:
            beat.release()
            raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return verdict


def finish_landed(catalog: Catalog, clock: Clock, run: IngestionRun, epoch: int, beat: Heartbeat,
                  verdict: acceptance.AcceptanceResult, *, size: int, sha256: str, job_id: str | None,
                  details: Mapping[str, Any]) -> IngestionRun:
    """Record the outcome, fenced by the claim's epoch: ``succeeded`` with ``details["acceptance"]`` (the
    completeness ledger), or ``quarantined`` with the reason (the object stays at its key as evidence)."""
    beat.stop()
    beat.check()
    details = {**details, "acceptance": verdict.to_json()}
    if verdict.ok:
        return catalog.succeed(run.run_id, epoch, now=clock.now(), size=size, sha256=sha256,
                               upstream_job_id=job_id, details=details)
    if job_id:
        catalog.record_upstream_job(run.run_id, epoch, job_id, now=clock.now())
    return catalog.quarantine(run.run_id, epoch, now=clock.now(), reason=verdict.reason, size=size, sha256=sha256,
                              details=details)


def _land(catalog: Catalog, runner: Runner, raw_store: ObjectStore, clock: Clock, run: IngestionRun, epoch: int,
          attempt_id: str, upstream: Upstream, beat: Heartbeat, on_event: EventSink | None,
          upstream_dataset: str) -> dict[str, Any]:
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
                # a job that replaces another (its results expired upstream, the request was resubmitted)
                # moves the old id into the run's history: take-over resumes the newest
                catalog.record_upstream_job(run.run_id, epoch, event.upstream_job_id, now=clock.now(),
                                            replaces=event.replaces)
            except BackendUnavailable:
                pass  # recorded again on success or failure
        if on_event is not None:
            on_event(event)

    job = IngestJob(run.run_id, run.dataset, run.request, key, upstream, attempt_id=attempt_id,
                    resume_job_id=run.upstream_job_id, upstream_dataset=upstream_dataset)
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
