"""InMemoryRunner: a Runner for unit tests that 'downloads' bytes produced by a function of the request."""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from jackfruit.domain.errors import Conflict, IntegrityError, InvalidInput, UpstreamRefused
from jackfruit.domain.keys import RawKey
from jackfruit.ports.runner import IngestJob, IngestManifest, RunnerEvent, with_upstream_job
from jackfruit.ports.storage import ObjectStore

Source = Callable[[str, Mapping[str, Any]], bytes]

_ATTEMPT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class UpstreamJob:
    """One job of the in-memory 'upstream': what was asked and the product it made."""

    job_id: str
    job: IngestJob
    size: int
    sha256: str
    body: bytes


class InMemoryRunner:
    """Same contract as the real runners: validates the key, never overwrites, stores nothing on error,
    emits the same events, resumes recorded jobs and adopts an object an earlier attempt committed.

    ``source(dataset, request)`` returns the product bytes or raises a domain error (e.g. ``InvalidInput``).
    ``api_key``, when given, must match the job's key (else ``UpstreamRefused``, like a 401).
    ``jobs``: every submitted job, in order; ``upstream_jobs``: upstream job id -> ``UpstreamJob``.
    """

    def __init__(self, raw_store: ObjectStore, source: Source, api_key: str | None = None) -> None:
        self._store = raw_store
        self._source = source
        self._api_key = api_key
        self._lock = threading.Lock()
        self.jobs: list[IngestJob] = []
        self.upstream_jobs: dict[str, UpstreamJob] = {}

    def sweep(self, is_live: Callable[[str, str], bool]) -> list[str]:
        """Nothing to sweep: a job cannot outlive its caller here (the child's stdin is its lifeline)."""
        return []

    def run(self, job: IngestJob, on_event: Callable[[RunnerEvent], None] | None = None) -> IngestManifest:
        emit = on_event or (lambda event: None)
        RawKey.parse(job.raw_key)
        if job.attempt_id and not _ATTEMPT.fullmatch(job.attempt_id):
            raise InvalidInput(f"attempt id {job.attempt_id!r} must be a lowercase canonical UUID")
        resuming = job.resume_job_id is not None
        if self._store.exists(job.raw_key) and not resuming:
            raise Conflict(f"raw key {job.raw_key} already exists; nothing was submitted")
        if self._api_key is not None and job.upstream.api_key.reveal() != self._api_key:
            raise UpstreamRefused("authentication failed (401)")

        if resuming:
            job_id = str(job.resume_job_id)
            emit(RunnerEvent("submitted", upstream_job_id=job_id))
            emit(RunnerEvent("phase", phase="poll"))
            with self._lock:
                upstream = self.upstream_jobs.get(job_id)
            if upstream is None:
                raise with_upstream_job(UpstreamRefused(f"job {job_id} to resume was not found upstream (404)"),
                                        job_id)
            if self._store.exists(job.raw_key):
                return self._adopt(job, upstream, emit, downloaded=False)
        else:
            emit(RunnerEvent("phase", phase="submit"))
            body = self._source(job.dataset, job.request)  # a malformed request is refused before a job exists
            with self._lock:
                self.jobs.append(job)
                job_id = f"memory-{len(self.jobs)}"
                upstream = UpstreamJob(job_id, job, len(body), hashlib.sha256(body).hexdigest(), body)
                self.upstream_jobs[job_id] = upstream
            emit(RunnerEvent("submitted", upstream_job_id=job_id))
            emit(RunnerEvent("phase", phase="poll"))

        emit(RunnerEvent("phase", phase="download"))
        emit(RunnerEvent("phase", phase="commit"))
        try:
            info = self._store.put(job.raw_key, upstream.body)
        except Conflict as err:
            if resuming:  # a concurrent attempt of the same run committed meanwhile
                return self._adopt(job, upstream, emit, downloaded=True)
            raise with_upstream_job(Conflict(f"raw key {job.raw_key} appeared during the download; "
                                             "not overwritten"), job_id) from err
        return IngestManifest(job.raw_key, info.size, info.sha256 or upstream.sha256, job_id,
                              {"runner": "memory", "ads_file_size": upstream.size})

    def _adopt(self, job: IngestJob, upstream: UpstreamJob, emit: Callable[[RunnerEvent], None],
               downloaded: bool) -> IngestManifest:
        emit(RunnerEvent("phase", phase="adopt"))
        info = self._store.head(job.raw_key)
        if info.size != upstream.size:
            raise with_upstream_job(IntegrityError(
                f"object {job.raw_key} already in the raw store holds {info.size} bytes but job "
                f"{upstream.job_id}'s product is {upstream.size}; not adopted, nothing changed"), upstream.job_id)
        sha = hashlib.sha256(self._store.get(job.raw_key)).hexdigest()
        if downloaded and sha != upstream.sha256:
            raise with_upstream_job(IntegrityError(
                f"object {job.raw_key} already in the raw store differs from job {upstream.job_id}'s product; "
                "not adopted, nothing changed"), upstream.job_id)
        return IngestManifest(job.raw_key, info.size, sha, upstream.job_id,
                              {"runner": "memory", "ads_file_size": upstream.size}, adopted=True)
