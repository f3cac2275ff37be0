"""The Go ingester's process protocol, in one place (used by every runner that starts ``jackfruit-ingest``).

The contract, written once: docs/ingester-protocol.md (flags, stdin line, events, manifest, error kinds and the one
exit-code table, which tests/unit/test_ingester_protocol_table.py checks ``KINDS`` against). In short: the runner
passes ``--input -`` and writes one line ``{"request": ..., "api_key": ...}`` on the child's stdin, then keeps
stdin open as the child's lifeline (EOF = the parent died → the child cancels itself, commits nothing). stdout
carries JSON event lines (``{"event": "phase"|"submitted", ...}``) as things happen and, last, exactly one result
line: the manifest or ``{"error": {"kind", "message", "http_status"?, "ads_job_id"?}}``. stderr carries JSON log
lines. The two query modes (``--find-job``, ``--job-status ID``: ``query_args``) take the same stdin line, print no
event and answer ``{"job": {"ads_job_id", "status", "held", ...} | null}`` (``job_from_result``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

from jackfruit.domain.errors import (BackendUnavailable, Conflict, IntegrityError, InvalidInput, JackfruitError,
                                     NotFound, UpstreamExpired, UpstreamRefused)
from jackfruit.ports.runner import (UPSTREAM_JOB_STATUSES, AdsTuning, IngestJob, IngestManifest, JobQuery, RunnerEvent,
                                    Secret, SinkTarget, UpstreamJob, with_upstream_job)

INGEST_BINARY = "jackfruit-ingest"

#: the deadline of a query (``--find-job``, ``--job-status``), at most: a few HTTP calls with their retries
QUERY_TIMEOUT_S = 300.0

#: error kind printed by the binary -> domain error; the binary's exit code for a kind is that class's
#: ``exit_code`` (``cancelled``: 130/143, the signal convention). The table: docs/ingester-protocol.md §5.
KINDS: dict[str, type[JackfruitError]] = {
    "usage": InvalidInput, "invalid_request": InvalidInput, "not_found": NotFound, "conflict": Conflict,
    "integrity": IntegrityError, "unavailable": BackendUnavailable, "internal": BackendUnavailable,
    "auth": UpstreamRefused, "job_failed": UpstreamRefused, "expired": UpstreamExpired,
    "cancelled": BackendUnavailable,
}

#: environment variables a child never inherits (credentials of other backends; the ADS key goes on stdin)
SCRUBBED_ENV_PREFIXES = ("ADS_", "AWS_", "MINIO_", "POSTGRES_")

#: manifest fields kept in ``IngestManifest.details``
DETAIL_FIELDS = ("timings_ms", "polls", "retries", "resumes", "submitted_at", "finished_at", "content_type",
                 "ads_file_size")


def find_binary(name: str, configured: str | None = None) -> str:
    """Configured path, else next to the running Python (``.venv/bin``), else ``PATH``."""
    if configured:
        if not os.access(configured, os.X_OK):
            raise BackendUnavailable(f"{name} binary {configured!r} is not an executable file")
        return configured
    beside = Path(sys.executable).parent / name
    if os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise BackendUnavailable(f"cannot find the {name} binary: build it (scripts/setup) or set its path "
                                 "in the settings (JACKFRUIT_INGEST_BINARY)")
    return found


def redact(text: str, secret: str | Iterable[str]) -> str:
    for value in ([secret] if isinstance(secret, str) else secret):
        if value:
            text = text.replace(value, "***")
    return text


def child_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The child's environment: the parent's, minus every credential-bearing variable."""
    source = os.environ if base is None else base
    return {k: v for k, v in source.items() if not k.startswith(SCRUBBED_ENV_PREFIXES)}


def _duration(seconds: float) -> str:
    """A Go duration flag value, to the millisecond."""
    return f"{max(0, round(seconds * 1000))}ms"


def tuning_args(tuning: AdsTuning) -> list[str]:
    """``AdsTuning`` as the binary's flags (docs/ingester-protocol.md §1)."""
    return ["--poll-initial", _duration(tuning.poll_initial_s), "--poll-max", _duration(tuning.poll_max_s),
            "--queue-deadline", _duration(tuning.queue_deadline_s), "--max-retries", str(int(tuning.max_retries)),
            "--retry-after", _duration(tuning.retry_after_cap_s)]


def upstream_dataset_args(upstream_dataset: str | None) -> list[str]:
    """``--upstream-dataset ID`` when the upstream's id of the dataset is given (else the binary uses ``--dataset``)."""
    if upstream_dataset is None:
        return []
    if not isinstance(upstream_dataset, str) or not upstream_dataset:
        raise InvalidInput(f"an upstream dataset id must be a non-empty string, not {upstream_dataset!r}")
    return ["--upstream-dataset", upstream_dataset]


def build_args(binary: str, job: IngestJob, sink: SinkTarget, timeout_s: float,
               extra: Iterable[str] = (), tuning: AdsTuning | None = None) -> list[str]:
    """The child's command line (no secret ever appears on it: the sink URL carries none). ``tuning`` None leaves
    the binary's defaults; ``extra`` comes last, so its flags win over the tuning's (the last value counts)."""
    args = [binary, "--base-url", job.upstream.base_url, "--dataset", job.dataset,
            *upstream_dataset_args(job.upstream_dataset), "--input", "-",
            "--key", job.raw_key, "--sink", sink.url, "--timeout", f"{max(1, int(timeout_s))}s"]
    if job.attempt_id:
        args += ["--attempt", job.attempt_id]
    if job.resume_job_id:
        args += ["--resume-job", job.resume_job_id]
    if tuning is not None:
        args += tuning_args(tuning)
    return [*args, *extra]


def sink_credentials(sink: SinkTarget) -> dict[str, Secret]:
    """The sink's credentials for this job (fetched now: temporary ones rotate); empty for a directory."""
    return dict(sink.credentials()) if sink.credentials is not None else {}


def input_line(job: IngestJob, sink_secrets: Mapping[str, Secret] | None = None) -> bytes:
    """The one stdin line: request, API key and the sink's credentials (never in argv or the environment)."""
    payload: dict[str, Any] = {"request": dict(job.request)}
    key = job.upstream.api_key.reveal()
    if key:
        payload["api_key"] = key
    if sink_secrets:
        payload["s3"] = {name: value.reveal() for name, value in sink_secrets.items() if value.reveal()}
    return (json.dumps(payload, separators=(",", ":")) + "\n").encode()


def secrets_of(job: IngestJob, sink_secrets: Mapping[str, Secret] | None = None) -> list[str]:
    """Every credential of a job, for redaction of whatever the child prints."""
    values = [job.upstream.api_key.reveal(), *(v.reveal() for v in (sink_secrets or {}).values())]
    return [v for v in values if v]


def parse_event(obj: dict[str, Any]) -> RunnerEvent | None:
    """A stdout event object as a ``RunnerEvent`` (``None`` for event types this version does not know)."""
    kind = obj.get("event")
    if kind == "submitted":
        job_id, replaces = obj.get("ads_job_id"), obj.get("replaces")
        return RunnerEvent("submitted", upstream_job_id=str(job_id) if job_id else None,
                           replaces=str(replaces) if replaces else None)
    if kind == "phase":
        return RunnerEvent("phase", phase=str(obj.get("phase") or ""))
    return None


def classify_line(line: str) -> tuple[str, Any]:
    """One stdout line: ``("event", RunnerEvent | None)``, ``("result", dict)`` or ``("other", str)``."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return "other", line
    if isinstance(obj, dict) and "event" in obj and "error" not in obj and "key" not in obj:
        return "event", parse_event(obj)
    if isinstance(obj, dict):
        return "result", obj
    return "other", line


def parse_result(stdout: str | list[str], returncode: int, secret: str | Iterable[str],
                 upstream_job_id: str | None = None) -> dict[str, Any]:
    """The last JSON line of stdout: the manifest, or an ``error`` object mapped to a domain error.

    Event lines are skipped. Raised errors carry ``upstream_job_id`` (from the error object, else the
    one given, i.e. the job the child announced in a ``submitted`` event).
    """
    lines = stdout.splitlines() if isinstance(stdout, str) else list(stdout)
    result: dict[str, Any] | None = None
    for line in reversed([x for x in lines if x.strip()]):
        what, value = classify_line(line)
        if what == "event":
            continue
        result = value if what == "result" else None
        break
    if result is None:
        raise with_upstream_job(BackendUnavailable(f"the ingester exited {returncode} without a JSON result"),
                                upstream_job_id)
    if "error" in result or returncode != 0:
        error = result.get("error") if isinstance(result.get("error"), dict) else {}
        kind = str(error.get("kind", "internal"))
        message = redact(str(error.get("message", f"exit code {returncode}")), secret)
        err = KINDS.get(kind, BackendUnavailable)(f"ingester: {message}")
        raise with_upstream_job(err, str(error.get("ads_job_id") or "") or upstream_job_id)
    return result


def manifest_from_result(result: dict[str, Any]) -> IngestManifest:
    try:
        return IngestManifest(key=str(result["key"]), size=int(result["size"]), sha256=str(result["sha256"]),
                              upstream_job_id=result.get("ads_job_id") or None,
                              details={k: result[k] for k in DETAIL_FIELDS if k in result},
                              adopted=bool(result.get("adopted", False)))
    except (KeyError, TypeError, ValueError) as err:
        raise with_upstream_job(BackendUnavailable(f"the ingester printed a malformed manifest ({err})"),
                                result.get("ads_job_id") or None) from err


# -- the query modes ---------------------------------------------------------------------------------------------
def find_job_args() -> list[str]:
    return ["--find-job"]


def job_status_args(job_id: str) -> list[str]:
    if not isinstance(job_id, str) or not job_id:
        raise InvalidInput(f"an upstream job id must be a non-empty string, not {job_id!r}")
    return ["--job-status", job_id]


def query_args(binary: str, query: JobQuery, mode: list[str], timeout_s: float, extra: Iterable[str] = (),
               tuning: AdsTuning | None = None) -> list[str]:
    """The command line of a query (``mode``: ``find_job_args()`` or ``job_status_args(id)``): no key, no sink, no
    secret; the tuning's retry settings apply (its poll settings are unused), ``extra`` comes last."""
    args = [binary, "--base-url", query.upstream.base_url, "--dataset", query.dataset,
            *upstream_dataset_args(query.upstream_dataset), "--input", "-", *mode,
            "--timeout", f"{max(1, int(min(timeout_s, QUERY_TIMEOUT_S)))}s"]
    if tuning is not None:
        args += tuning_args(tuning)
    return [*args, *extra]


def query_line(query: JobQuery) -> bytes:
    """The one stdin line of a query: the request and the API key (never in argv or the environment)."""
    payload: dict[str, Any] = {"request": dict(query.request)}
    if key := query.upstream.api_key.reveal():
        payload["api_key"] = key
    return (json.dumps(payload, separators=(",", ":")) + "\n").encode()


def query_secrets(query: JobQuery) -> list[str]:
    return [v for v in (query.upstream.api_key.reveal(),) if v]


def job_from_result(result: dict[str, Any]) -> UpstreamJob | None:
    """A query's result line ``{"job": {...} | null}`` as an ``UpstreamJob`` (None for null)."""
    if "job" not in result:
        raise BackendUnavailable("the ingester printed no \"job\" answer to a query")
    answer = result["job"]
    if answer is None:
        return None
    if (not isinstance(answer, dict) or not isinstance(answer.get("ads_job_id"), str) or not answer["ads_job_id"]
            or answer.get("status") not in UPSTREAM_JOB_STATUSES):
        raise BackendUnavailable(f"the ingester printed a malformed job answer: {str(answer)[:200]}")
    return UpstreamJob(answer["ads_job_id"], answer["status"])


class IngesterQueries:
    """``find_job`` and ``job_status`` of a runner that starts the ingester, written once: the runner gives
    ``_query(query, mode)``, which runs the ingester in that query mode and returns its result line."""

    def find_job(self, query: JobQuery) -> UpstreamJob | None:
        return job_from_result(self._query(query, find_job_args()))

    def job_status(self, query: JobQuery, job_id: str) -> UpstreamJob:
        answer = job_from_result(self._query(query, job_status_args(job_id)))
        if answer is None:
            raise BackendUnavailable(f"the ingester answered no job to the status of {job_id}")
        return answer

    def _query(self, query: JobQuery, mode: list[str]) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError
