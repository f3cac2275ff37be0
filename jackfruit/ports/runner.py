"""Runner: run one ingestion job (the Go ingester, wherever it runs) and return its manifest."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, TypeVar, runtime_checkable


class Secret:
    """A credential that never shows itself in repr, str, logs or errors."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class SinkTarget:
    """Where an ingester commits the raw object: the raw bucket, named once by a URL without secrets --
    ``file:///abs/dir`` or ``s3://BUCKET?endpoint=https://host:port&region=R`` -- and, for S3, a function
    returning the credentials to sign with at the time of the run (``access_key``, ``secret_key``, optional
    ``session_token``: temporary credentials are fetched anew for every job). Credentials travel only on the
    ingester's stdin, never in argv, the environment or a container's configuration."""

    url: str
    credentials: Callable[[], Mapping[str, Secret]] | None = field(default=None, compare=False)

    @classmethod
    def directory(cls, path: str) -> "SinkTarget":
        return cls("file://" + os.path.abspath(path))

    def __repr__(self) -> str:
        return f"SinkTarget({self.url!r})"


@dataclass(frozen=True)
class Upstream:
    """Where a source lives and how to authenticate to it."""

    base_url: str
    api_key: Secret


@dataclass(frozen=True)
class AdsTuning:
    """How patiently the ingester talks to the ADS; the defaults are the binary's own (docs/ingester-protocol.md).

    ``poll_initial_s`` first poll interval (x1.5 per poll; also the retry backoff base), ``poll_max_s`` its cap,
    ``queue_deadline_s`` how long a job may stay queued (``accepted``) before the run gives up with
    ``BackendUnavailable`` (0 = no limit but the run's timeout), ``max_retries`` retries per HTTP call or download
    after the first try, ``retry_after_cap_s`` cap on any retry delay (a server's ``Retry-After`` included)."""

    poll_initial_s: float = 1.0
    poll_max_s: float = 120.0
    queue_deadline_s: float = 0.0
    max_retries: int = 9
    retry_after_cap_s: float = 120.0


@dataclass(frozen=True)
class IngestJob:
    run_id: str
    dataset: str
    request: Mapping[str, Any]
    raw_key: str
    upstream: Upstream
    #: names the attempt's partial files (``.partial/{attempt_id}.*``); "" = none
    attempt_id: str = ""
    #: poll/download this upstream job instead of submitting; adopt an object already at ``raw_key``
    resume_job_id: str | None = None
    #: the upstream's id of the dataset (the ADS process id) when it is not ``dataset`` (jackfruit's name, the raw
    #: key's ``{dataset}``); None = the same
    upstream_dataset: str | None = None

    @property
    def upstream_id(self) -> str:
        """The dataset id every upstream call uses: ``upstream_dataset``, else ``dataset``."""
        return self.dataset if self.upstream_dataset is None else self.upstream_dataset


@dataclass(frozen=True)
class RunnerEvent:
    """Progress of a running job, as it happens."""

    kind: str                            # "submitted" | "phase" | "log"
    upstream_job_id: str | None = None   # for "submitted"
    phase: str | None = None             # for "phase": submit | poll | download | commit | adopt
    message: str | None = None           # for "log": one redacted log line of the ingester
    #: for "submitted": the upstream job this new one replaces (its results expired upstream; same request)
    replaces: str | None = None


@dataclass(frozen=True)
class IngestManifest:
    key: str
    size: int
    sha256: str
    upstream_job_id: str | None
    details: Mapping[str, Any] = field(default_factory=dict)
    #: the object was already at the key (an earlier attempt of the run committed it) and was verified
    adopted: bool = False


#: the states an upstream job can be answered in (docs/ingester-protocol.md §7); the first three are "held"
UPSTREAM_JOB_STATUSES = ("queued", "running", "successful", "failed", "expired", "unknown")


@dataclass(frozen=True)
class UpstreamJob:
    """An upstream job as the upstream answers it now: ``queued``, ``running``, ``successful`` (its results still
    there), ``failed`` (failed or rejected upstream), ``expired`` (successful, but its results were purged) or
    ``unknown`` (the upstream does not know it: never existed, dismissed, deleted, another dataset's)."""

    job_id: str
    status: str   # "queued" | "running" | "successful" | "failed" | "expired" | "unknown"

    def __post_init__(self) -> None:
        if self.status not in UPSTREAM_JOB_STATUSES:
            raise ValueError(f"upstream job status {self.status!r} is not one of {UPSTREAM_JOB_STATUSES}")

    @property
    def held(self) -> bool:
        """The upstream still holds it: resuming it (``IngestJob.resume_job_id``) costs no new job."""
        return self.status in ("queued", "running", "successful")


@dataclass(frozen=True)
class JobQuery:
    """A question about the upstream's jobs for one request: which dataset, which request, which upstream;
    ``upstream_dataset`` is the upstream's id of the dataset when it is not ``dataset`` (None = the same)."""

    dataset: str
    request: Mapping[str, Any]
    upstream: Upstream
    upstream_dataset: str | None = None

    @property
    def upstream_id(self) -> str:
        """The dataset id the upstream is asked about: ``upstream_dataset``, else ``dataset``."""
        return self.dataset if self.upstream_dataset is None else self.upstream_dataset


E = TypeVar("E", bound=BaseException)


def with_upstream_job(err: E, upstream_job_id: str | None) -> E:
    """Attach the upstream job id to an error a runner raises (kept if already set); returns ``err``."""
    if upstream_job_id and not getattr(err, "upstream_job_id", None):
        try:
            err.upstream_job_id = upstream_job_id  # type: ignore[attr-defined]
        except AttributeError:  # pragma: no cover - exceptions with __slots__
            pass
    return err


def upstream_job_of(err: BaseException) -> str | None:
    """The upstream job id a runner attached to ``err``, if any."""
    value = getattr(err, "upstream_job_id", None)
    return value if isinstance(value, str) and value else None


@runtime_checkable
class Runner(Protocol):
    """Runs an ingestion job to completion; the raw object exists under ``job.raw_key`` on success.

    Semantics:

    * Every upstream call (submit, follow, the questions) names the upstream's dataset id ``job.upstream_id``
      (``query.upstream_id``); the raw key names jackfruit's ``job.dataset``.
    * Without ``job.resume_job_id`` the runner submits a new upstream job; an object already at
      ``job.raw_key`` is a ``Conflict`` raised before anything is submitted.
    * With ``job.resume_job_id`` it submits nothing: it follows that upstream job (poll, download,
      commit). If an object is already at ``job.raw_key`` (an earlier attempt committed it and died),
      it is *adopted*: its size must equal the job's product size (else ``IntegrityError``, nothing
      changed) and the manifest says ``adopted=True``.
    * ``job.attempt_id`` names the attempt's staged files (``.partial/{attempt_id}.*``); a runner killed
      outright may leave them for garbage collection, never a committed object.
    * ``on_event`` (optional) is called from the runner's threads, one call at a time, in order:
      ``"submitted"`` (with ``upstream_job_id``, as soon as the upstream accepted the job, or first
      thing when resuming) comes before any later phase; a second ``"submitted"`` with ``replaces`` set
      announces a new job for the same request after the first one's results expired upstream;
      ``"phase"`` events name submit, poll, download, commit, adopt; ``"log"`` events carry one redacted
      log line. If ``on_event`` raises, the runner cancels the job, waits for it to stop and re-raises
      that exception (an object committed before the cancellation reached the ingester stays; resuming
      the job adopts it).

    Raises: ``InvalidInput`` (bad key, attempt or request; request refused as malformed),
    ``UpstreamRefused`` (auth, licence, job failed upstream, resumed job unknown upstream; its subclass
    ``UpstreamExpired`` when the results expired upstream, also those of the one resubmission), ``NotFound``
    (upstream answered 404 for the dataset or results), ``Conflict`` (raw key exists; nothing submitted),
    ``IntegrityError`` (download or adopted object size mismatch; nothing stored), ``BackendUnavailable``
    (upstream, raw store or runtime unreachable, time-out, cancelled). On any error nothing new is
    stored under the key. Errors raised once an upstream job exists carry its id as the attribute
    ``upstream_job_id`` (see ``upstream_job_of``).
    """

    def run(self, job: IngestJob, on_event: Callable[[RunnerEvent], None] | None = None) -> IngestManifest: ...

    def find_job(self, query: JobQuery) -> UpstreamJob | None:
        """The upstream's job for ``query.request`` of ``query.upstream_id`` (the upstream's dataset id) -- the same request as canonical JSON
        (object keys sorted, numbers and spacing normalised), among the account's 100 newest jobs, as the ingester's
        lost-submit search matches them -- the newest *held* one, else the newest one (``failed`` or ``expired``: never
        ``unknown``, jobs the upstream dropped are no candidates); None when the upstream has none. Submits nothing and stores nothing. Raises ``UpstreamRefused`` (auth, licence),
        ``BackendUnavailable`` (the upstream or the runtime unreachable, time-out), ``InvalidInput`` (a malformed
        query)."""
        ...

    def job_status(self, query: JobQuery, job_id: str) -> UpstreamJob:
        """Job ``job_id`` as the upstream answers it now; status ``unknown`` when the upstream does not know it (or
        it is another dataset's than ``query.upstream_id``). Submits nothing and stores nothing. Raises
        ``UpstreamRefused`` (auth, licence), ``BackendUnavailable`` (the upstream or the runtime unreachable,
        time-out), ``InvalidInput`` (a malformed job id or query)."""
        ...

    def sweep(self, is_live: Callable[[str, str], bool]) -> list[str]:
        """Stop and remove what attempts that are over left running in this runner (e.g. containers of a caller
        that crashed), judged by ``is_live(run_id, attempt_id)``; never what a live attempt runs. Returns what was
        removed (empty for runners whose jobs cannot outlive their caller). Raises ``BackendUnavailable``."""
        ...
