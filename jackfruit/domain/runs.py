"""The run model: claims with fenced leases, take-over, reap and revoke, as pure functions.

Every catalog adapter applies exactly these functions inside one transaction (load the stored run(s),
call the function, store its result), so the rules are written once and the contract suite holds every
adapter to them. The page that explains them is docs/runs.md; keep the two in step.

Fencing: each write a holder makes names the ``epoch`` of its claim; it is refused (``Conflict``) when
that epoch is no longer the current one of that kind, or the attempt has ended. Take-over, reap and
revoke all end the previous attempt first, so a holder that lost its lease can never write again.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

from .errors import BackendUnavailable, Conflict, InvalidInput
from .geo import utc
from .keys import check_run_id
from .model import (NEXT_STATUS, NEXT_TRANSFORM, TRANSFORMATION_VERSION, Attempt, AttemptKind, IngestionRun, RunStatus,
                    TransformStatus, version_number)

INGEST = AttemptKind.INGEST
TRANSFORM = AttemptKind.TRANSFORM


def _holder(a: Attempt) -> str:
    return f"attempt {a.attempt_id} (owner {a.owner}, epoch {a.epoch}, lease until {a.expires_at.isoformat()})"


def _new_attempt(kind: AttemptKind, attempt_id: str, owner: str, epoch: int, now: datetime,
                 expires_at: datetime) -> Attempt:
    now, expires_at = utc(now), utc(expires_at)
    if expires_at <= now:
        raise InvalidInput(f"a lease must expire after it starts ({expires_at.isoformat()} <= {now.isoformat()})")
    return Attempt(attempt_id=attempt_id, kind=kind, epoch=epoch, owner=owner, started_at=now,
                   expires_at=expires_at)


def _replace_last(run: IngestionRun, kind: AttemptKind, new: Attempt) -> tuple[Attempt, ...]:
    out = list(run.attempts)
    for i in range(len(out) - 1, -1, -1):
        if out[i].kind is kind:
            out[i] = new
            return tuple(out)
    raise AssertionError("no attempt of that kind")  # callers checked


def fence(run: IngestionRun, kind: AttemptKind, epoch: int) -> Attempt:
    """The caller's current attempt of ``kind``, or ``Conflict`` if ``epoch`` no longer holds the claim."""
    current = run.lease(kind)
    if current is None:
        raise Conflict(f"run {run.run_id} has no {kind.value} claim; claim it first")
    if current.epoch != epoch:
        raise Conflict(f"run {run.run_id}: {kind.value} epoch {epoch} is fenced off; {_holder(current)} holds "
                       "the claim now")
    if current.ended_at is not None:
        raise Conflict(f"run {run.run_id}: {kind.value} attempt {current.attempt_id} ended "
                       f"({current.outcome}) and can write no more")
    return current


# -- ingestion ---------------------------------------------------------------------------------------------------
def lease_overdue(run: IngestionRun, now: datetime) -> tuple[AttemptKind, timedelta] | None:
    """How long the lease of an open claim (a running ingest, a transformation in flight) has been expired at
    ``now``: what ``jackfruit runs`` shows, and what reaping waits for. None when no open claim has expired."""
    now = utc(now)
    for kind, open_ in ((INGEST, run.status is RunStatus.RUNNING),
                        (TRANSFORM, run.transform_status is TransformStatus.TRANSFORMING)):
        current = run.lease(kind)
        if open_ and current is not None and current.ended_at is None and current.expires_at <= now:
            return kind, now - current.expires_at
    return None


def live_ingest(run: IngestionRun, now: datetime) -> bool:
    """The run is open and its ingest claim live at ``now`` (an upstream job may be in flight for it)."""
    current = run.lease(INGEST)
    return not run.terminal and current is not None and current.live(now)


def claim_ingest(partition_runs: Sequence[IngestionRun], candidate: IngestionRun, *, attempt_id: str, owner: str,
                 now: datetime, expires_at: datetime, supersede: bool = False, in_flight: int = 0,
                 max_in_flight: int | None = None, resume: str | None = None) -> IngestionRun:
    """Claim ``candidate``'s partition: the run to store (the new candidate, or a run taken over).

    ``partition_runs``: every stored run of the same partition. Refuses with ``Conflict`` naming the run
    when the partition already has a succeeded run (unless ``supersede``) or a live claim. ``in_flight``: the
    runs of the candidate's source with a live ingest claim (counted by the catalog in the same transaction);
    a new run is refused with ``BackendUnavailable`` while it has reached ``max_in_flight`` (the upstream
    account's queue, e.g. ``ADS_MAX_JOBS_IN_FLIGHT``); a take-over resumes a job already counted upstream.

    ``resume``: the id of the partition's newest run, ``failed`` with an upstream job that the upstream still holds
    (the caller asked the upstream): that run is re-opened (same run id and raw key, next epoch) so the ingest
    resumes its job instead of paying for a second one. Refused with ``Conflict`` when it is not that run any more.
    """
    if candidate.status is not RunStatus.PENDING or candidate.attempts:
        raise InvalidInput(f"run {candidate.run_id} must be a new pending run to be claimed")
    check_run_id(attempt_id)
    now = utc(now)
    for r in partition_runs:
        if r.partition != candidate.partition or r.dataset != candidate.dataset:
            raise InvalidInput(f"run {r.run_id} is not of the partition of run {candidate.run_id}")
    open_runs = sorted((r for r in partition_runs if not r.terminal), key=lambda r: r.run_id)
    for r in open_runs:
        current = r.lease(INGEST)
        if current is not None and current.live(now):
            raise Conflict(f"partition {candidate.dataset} {candidate.partition_date} is being ingested by run "
                           f"{r.run_id}: {_holder(current)}")
    succeeded = sorted((r for r in partition_runs if r.status is RunStatus.SUCCEEDED), key=lambda r: r.run_id)
    if open_runs:
        # take over the newest expired claim: same run id and raw key, next epoch; older ones are left to reap
        r = open_runs[-1]
        previous = r.lease(INGEST)
        attempts = list(r.attempts)
        if previous is not None:
            attempts = list(_replace_last(r, INGEST, previous.end(now, f"taken over by {attempt_id}")))
        epoch = (previous.epoch + 1) if previous is not None else 1
        attempts.append(_new_attempt(INGEST, attempt_id, owner, epoch, now, expires_at))
        status = RunStatus.RUNNING
        return replace(r, status=status, started_at=r.started_at or now, attempts=tuple(attempts))
    if resume is not None:
        return _reopen(partition_runs, resume, attempt_id, owner, now, expires_at)
    if succeeded and not supersede:
        newest = succeeded[-1]
        raise Conflict(f"partition {candidate.dataset} {candidate.partition_date} already has succeeded run "
                       f"{newest.run_id} ({newest.raw_key}); ingest with supersede to land a new version")
    if max_in_flight is not None and in_flight >= max_in_flight:
        raise BackendUnavailable(f"{in_flight} ingestion(s) from {candidate.source} are in flight, the most "
                                 f"allowed at once ({max_in_flight}); {candidate.dataset} {candidate.partition_date} "
                                 f"was not claimed: try again when one ends")
    return replace(candidate, status=RunStatus.RUNNING, started_at=now,
                   supersedes=succeeded[-1].run_id if succeeded else None,
                   attempts=(_new_attempt(INGEST, attempt_id, owner, 1, now, expires_at),))


def resumable(partition_runs: Sequence[IngestionRun]) -> IngestionRun | None:
    """The run an ingest of this partition would re-open to resume its upstream job, if the upstream still holds
    it: the partition's newest run, when it failed with a recorded job (nothing open, nothing succeeded after it)."""
    newest = max(partition_runs, key=lambda r: r.run_id, default=None)
    if newest is None or newest.status is not RunStatus.FAILED or not newest.upstream_job_id:
        return None
    return newest


def _reopen(partition_runs: Sequence[IngestionRun], run_id: str, attempt_id: str, owner: str, now: datetime,
            expires_at: datetime) -> IngestionRun:
    run = resumable(partition_runs)
    if run is None or run.run_id != run_id:
        raise Conflict(f"run {run_id} can no longer be resumed: it is not the newest failed run of its partition "
                       "with an upstream job (another ingest came first)")
    previous = run.lease(INGEST)
    epoch = previous.epoch + 1 if previous is not None else 1
    return replace(run, status=RunStatus.RUNNING, finished_at=None, failure_reason=None,
                   attempts=run.attempts + (_new_attempt(INGEST, attempt_id, owner, epoch, now, expires_at),))


def renew(run: IngestionRun, kind: AttemptKind, epoch: int, *, now: datetime, expires_at: datetime) -> IngestionRun:
    """Heartbeat: move the lease's expiry (earlier too: ``expires_at == now`` releases the claim at once)."""
    current = fence(run, AttemptKind(kind), epoch)
    if kind is INGEST and run.terminal:
        raise Conflict(f"run {run.run_id} is {run.status.value}; its ingest claim is over")
    if kind is TRANSFORM and run.transform_status is not TransformStatus.TRANSFORMING:
        raise Conflict(f"run {run.run_id} is {run.transform_status.value}; its transform claim is over")
    return replace(run, attempts=_replace_last(run, AttemptKind(kind), replace(current, expires_at=utc(expires_at))))


def record_upstream_job(run: IngestionRun, epoch: int, job_id: str, *, now: datetime,
                        replaces: str | None = None) -> IngestionRun:
    """Record the upstream job id as soon as it is known. A recorded id changes only when the claim holder
    says which one its new job ``replaces`` (the request resubmitted, e.g. after its results expired): the old
    id moves to ``replaced_upstream_jobs`` and take-over resumes the new one."""
    fence(run, INGEST, epoch)
    for what, value in (("upstream job id", job_id), ("replaced upstream job id", replaces)):
        if value is not None and (not isinstance(value, str) or not value or len(value) > 200):
            raise InvalidInput(f"{what} must be a non-empty string of at most 200 chars, got {value!r}")
    if job_id is None:
        raise InvalidInput("upstream job id must be a non-empty string of at most 200 chars, got None")
    if run.upstream_job_id in (None, job_id):
        return replace(run, upstream_job_id=job_id)
    if replaces != run.upstream_job_id:
        raise Conflict(f"run {run.run_id} already records upstream job {run.upstream_job_id}; not {job_id}"
                       + (f" (it replaces {replaces}, not the recorded job)" if replaces else ""))
    if job_id in run.replaced_upstream_jobs:
        raise Conflict(f"run {run.run_id}: upstream job {job_id} was replaced already and cannot come back")
    return replace(run, upstream_job_id=job_id,
                   replaced_upstream_jobs=run.replaced_upstream_jobs + (run.upstream_job_id,))


def _finish(run: IngestionRun, epoch: int, to: RunStatus, now: datetime, outcome: str,
            **changes: Any) -> IngestionRun:
    current = fence(run, INGEST, epoch)
    if to not in NEXT_STATUS[run.status]:
        raise Conflict(f"run {run.run_id} is {run.status.value}; it cannot become {to.value}")
    return replace(run, status=to, finished_at=utc(now),
                   attempts=_replace_last(run, INGEST, current.end(now, outcome)), **changes)


def succeed(run: IngestionRun, epoch: int, *, now: datetime, size: int, sha256: str, upstream_job_id: str | None,
            details: Mapping[str, Any] | None = None) -> IngestionRun:
    if not isinstance(size, int) or size < 0:
        raise InvalidInput(f"raw size must be a non-negative integer, got {size!r}")
    if not isinstance(sha256, str) or len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise InvalidInput(f"raw sha256 must be 64 lowercase hex digits, got {sha256!r}")
    if run.upstream_job_id and upstream_job_id and upstream_job_id != run.upstream_job_id:
        raise Conflict(f"run {run.run_id} records upstream job {run.upstream_job_id}, not {upstream_job_id}")
    return _finish(run, epoch, RunStatus.SUCCEEDED, now, "succeeded", raw_size=size, raw_sha256=sha256,
                   upstream_job_id=run.upstream_job_id or upstream_job_id, details=dict(details or {}))


def fail(run: IngestionRun, epoch: int, *, now: datetime, reason: str) -> IngestionRun:
    """The attempt failed: the run is ``failed`` with the reason (also kept in the attempt's outcome, so a run
    re-opened to resume its upstream job keeps the history of why each attempt ended)."""
    reason = _reason(reason)
    return _finish(run, epoch, RunStatus.FAILED, now, _outcome("failed", reason), failure_reason=reason)


def _outcome(state: str, reason: str) -> str:
    return f"{state}: {reason}"[:500]


def quarantine(run: IngestionRun, epoch: int, *, now: datetime, reason: str, size: int | None = None,
               sha256: str | None = None, details: Mapping[str, Any] | None = None) -> IngestionRun:
    """The landed file does not match its request: keep it as evidence, never transform it. ``details`` are
    kept as with ``succeed`` (e.g. the acceptance check's expected vs received fields)."""
    return _finish(run, epoch, RunStatus.QUARANTINED, now, "quarantined", failure_reason=_reason(reason),
                   raw_size=size, raw_sha256=sha256, details={**run.details, **dict(details or {})})


def _reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("a failure needs a reason")
    return reason[:4000]


# -- transformation ----------------------------------------------------------------------------------------------
def claim_transform(run: IngestionRun, *, attempt_id: str, owner: str, now: datetime,
                    expires_at: datetime, version: str = TRANSFORMATION_VERSION) -> IngestionRun:
    """Claim the transformation of a succeeded run under transformation ``version``, or take over an expired
    claim (epoch + 1). A run published (or refused) under an older version may be transformed again under a
    newer one: tiles are published once per version, next to the older version's."""
    check_run_id(attempt_id)
    wanted = version_number(version)
    now = utc(now)
    if run.status is not RunStatus.SUCCEEDED or run.raw_sha256 is None or run.raw_size is None:
        raise Conflict(f"run {run.run_id} is {run.status.value}; only a succeeded ingestion can be transformed")
    done = run.transform_version
    if run.transform_status in (TransformStatus.PUBLISHED, TransformStatus.REFUSED) and done is not None \
            and version_number(done) >= wanted:
        if run.transform_status is TransformStatus.REFUSED:
            raise Conflict(f"run {run.run_id} was refused by transformation version {done}: "
                           f"{run.transform_reason}")
        raise Conflict(f"run {run.run_id} is already transformed under version {done}; tiles are immutable "
                       f"(re-transform under a newer version only, not {version})")
    if run.transform_status is TransformStatus.FAILED and done is not None and version_number(done) > wanted:
        raise Conflict(f"run {run.run_id}: its failed transformation was under version {done}; claim it again under "
                       f"that version or a newer one, not {version}")
    previous = run.lease(TRANSFORM)
    attempts = run.attempts
    if run.transform_status is TransformStatus.TRANSFORMING and previous is not None:
        if previous.live(now):
            raise Conflict(f"run {run.run_id} is being transformed by {_holder(previous)}")
        attempts = _replace_last(run, TRANSFORM, previous.end(now, f"taken over by {attempt_id}"))
    epoch = previous.epoch + 1 if previous is not None else 1
    return replace(run, transform_status=TransformStatus.TRANSFORMING, transform_reason=None,
                   transform_version=version,
                   attempts=attempts + (_new_attempt(TRANSFORM, attempt_id, owner, epoch, now, expires_at),))


def _finish_transform(run: IngestionRun, epoch: int, to: TransformStatus, now: datetime,
                      reason: str | None) -> IngestionRun:
    current = fence(run, TRANSFORM, epoch)
    if to not in NEXT_TRANSFORM[run.transform_status]:
        raise Conflict(f"run {run.run_id} transformation is {run.transform_status.value}; it cannot become "
                       f"{to.value}")
    outcome = to.value if to is not TransformStatus.FAILED else _outcome(to.value, reason or "")
    return replace(run, transform_status=to, transform_reason=reason,
                   attempts=_replace_last(run, TRANSFORM, current.end(now, outcome)))


def publish(run: IngestionRun, epoch: int, *, now: datetime) -> IngestionRun:
    """The run's tiles become visible (the catalog stores them in the same transaction)."""
    return _finish_transform(run, epoch, TransformStatus.PUBLISHED, now, None)


def refuse(run: IngestionRun, epoch: int, *, now: datetime, reason: str) -> IngestionRun:
    """The raw file holds messages the transformation cannot represent; ``reason`` lists every one."""
    return _finish_transform(run, epoch, TransformStatus.REFUSED, now, _reason(reason))


def fail_transform(run: IngestionRun, epoch: int, *, now: datetime, reason: str) -> IngestionRun:
    """The transform attempt failed (I/O, integrity, interrupted...): it ends with ``reason`` and the run's
    transformation is ``failed``, claimable again at once by the next transform (the same version or newer).
    Tiles published earlier (an older version's) stay current: a failed re-derivation changes no tile."""
    return _finish_transform(run, epoch, TransformStatus.FAILED, now, _reason(reason))


# -- housekeeping ------------------------------------------------------------------------------------------------
def revoke_expired(run: IngestionRun, *, now: datetime) -> IngestionRun:
    """End every attempt whose lease has expired (so its files may be collected); the claim stays open
    for take-over. Unchanged when nothing expired."""
    now = utc(now)
    changed = tuple(a.end(now, "expired") if a.ended_at is None and not a.live(now) else a for a in run.attempts)
    if changed == run.attempts:
        return run
    current = run.lease(TRANSFORM)
    if run.transform_status is TransformStatus.TRANSFORMING and current is not None and current.ended_at is None \
            and not current.live(now):
        # the transform's holder vanished: its attempt ends and the transformation is failed, claimable at once
        return replace(run, attempts=changed, transform_status=TransformStatus.FAILED,
                       transform_reason=f"expired: {_holder(current)} stopped renewing its lease; "
                                        "transform the run again")
    return replace(run, attempts=changed)


def reap(run: IngestionRun, *, now: datetime, older_than: timedelta) -> IngestionRun:
    """Mark an open run whose ingest lease expired more than ``older_than`` ago as failed (it deletes nothing).

    Unchanged when the run is terminal or its lease is younger than that."""
    now = utc(now)
    if older_than < timedelta(0):
        raise InvalidInput(f"older_than must not be negative, got {older_than}")
    if run.terminal:
        return run
    current = run.lease(INGEST)
    if current is not None and current.live(now):
        return run
    expired_at = current.expires_at if current is not None else run.created_at
    if expired_at > now - older_than:
        return run
    holder = _holder(current) if current is not None else "no attempt"
    attempts = run.attempts if current is None else _replace_last(run, INGEST, current.end(now, "reaped"))
    return replace(run, status=RunStatus.FAILED, finished_at=now, attempts=attempts,
                   failure_reason=f"reaped: the ingest claim expired more than {older_than} before "
                                  f"{now.isoformat()} ({holder})")


# -- the one check every stored change passes ------------------------------------------------------------------
_FIXED = ("run_id", "source", "dataset", "partition_date", "request", "created_at", "raw_key", "supersedes",
          "orchestrator_run_id")
_ONCE = ("raw_size", "raw_sha256", "upstream_job_id")


def check_change(old: IngestionRun, new: IngestionRun) -> None:
    """Refuse a stored run's change the model does not allow: fixed fields, write-once fields, transitions,
    rewritten attempt history. Adapters call it on every run update, whatever produced ``new``."""
    for name in _FIXED:
        if getattr(old, name) != getattr(new, name):
            raise Conflict(f"run {old.run_id}: {name} is fixed for the life of the run")
    for name in _ONCE:
        if getattr(old, name) is not None and getattr(old, name) != getattr(new, name):
            if name == "upstream_job_id" and new.upstream_job_id is not None and \
                    new.replaced_upstream_jobs == old.replaced_upstream_jobs + (old.upstream_job_id,):
                continue  # replaced by a resubmitted job (record_upstream_job with replaces)
            raise Conflict(f"run {old.run_id}: {name} is recorded ({getattr(old, name)!r}) and cannot change")
    if new.replaced_upstream_jobs[:len(old.replaced_upstream_jobs)] != old.replaced_upstream_jobs or (
            new.replaced_upstream_jobs != old.replaced_upstream_jobs and new.upstream_job_id == old.upstream_job_id):
        raise Conflict(f"run {old.run_id}: replaced upstream jobs are history and only grow by a replacement")
    if new.status is not old.status and new.status not in NEXT_STATUS[old.status]:
        raise Conflict(f"run {old.run_id} is {old.status.value}; it cannot become {new.status.value}")
    if old.status is RunStatus.FAILED and new.status is RunStatus.RUNNING and (
            not old.upstream_job_id or len(new.attempts) != len(old.attempts) + 1
            or new.attempts[-1].kind is not INGEST or new.attempts[-1].ended_at is not None):
        raise Conflict(f"run {old.run_id}: a failed run is re-opened only by a new ingest attempt resuming its "
                       "recorded upstream job")
    if new.transform_status is not old.transform_status and new.transform_status not in \
            NEXT_TRANSFORM[old.transform_status]:
        raise Conflict(f"run {old.run_id} transformation is {old.transform_status.value}; it cannot become "
                       f"{new.transform_status.value}")
    if old.transform_version is not None and (
            new.transform_version is None
            or version_number(new.transform_version) < version_number(old.transform_version)
            or (new.transform_version != old.transform_version
                and new.transform_status is not TransformStatus.TRANSFORMING)):
        raise Conflict(f"run {old.run_id}: transformation version {old.transform_version} can only grow, "
                       f"by a new transform claim (not {new.transform_version})")
    if len(new.attempts) < len(old.attempts):
        raise Conflict(f"run {old.run_id}: attempts are history and cannot be removed")
    for a, b in zip(old.attempts, new.attempts):
        same = (a.attempt_id, a.kind, a.epoch, a.owner, a.started_at) == (b.attempt_id, b.kind, b.epoch, b.owner,
                                                                           b.started_at)
        if not same or (a.ended_at is not None and (b.ended_at, b.outcome) != (a.ended_at, a.outcome)):
            raise Conflict(f"run {old.run_id}: attempt {a.attempt_id} is history and cannot be rewritten")
