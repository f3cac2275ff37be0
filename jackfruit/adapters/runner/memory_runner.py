"""InMemoryRunner: a Runner for unit tests that 'downloads' bytes produced by a function of the upstream dataset id and
the request, from a synthetic upstream that remembers its jobs (so ``find_job`` and ``job_status`` answer truthfully)."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from jackfruit.domain.errors import Conflict, IntegrityError, InvalidInput, UpstreamRefused
from jackfruit.domain.keys import RawKey
from jackfruit.ports.runner import (UPSTREAM_JOB_STATUSES, IngestJob, IngestManifest, JobQuery, RunnerEvent,
                                    UpstreamJob, with_upstream_job)
from jackfruit.ports.storage import ObjectStore

#: ``source(upstream_dataset, request)``: the product the upstream makes for a request of its dataset id
Source = Callable[[str, Mapping[str, Any]], bytes]

_ATTEMPT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def canonical(request: Mapping[str, Any]) -> str:
    """A request as canonical JSON (sorted keys, no spacing): two encodings of one request compare equal."""
    return json.dumps(request, sort_keys=True, separators=(",", ":"))


@dataclass
class MemoryJob:
    """One job of the in-memory upstream: what was asked (of which upstream dataset id), the product it made, and its
    state now (one of ``UPSTREAM_JOB_STATUSES``; ``set_status`` changes it, as the upstream would)."""

    job_id: str
    upstream_dataset: str
    request_key: str
    body: bytes
    status: str = "successful"
    job: IngestJob | None = None

    @property
    def size(self) -> int:
        return len(self.body)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


class InMemoryRunner:
    """Same contract as the real runners: validates the key, never overwrites, stores nothing on error,
    emits the same events, resumes recorded jobs and adopts an object an earlier attempt committed.

    ``source(upstream_dataset, request)`` returns the product bytes or raises a domain error (e.g. ``InvalidInput``):
    it is asked with the upstream's dataset id (``job.upstream_id``), as the real upstream is, and the upstream's jobs
    are matched by that id and the request; the raw key names jackfruit's ``job.dataset``.
    ``api_key``, when given, must match the job's key (else ``UpstreamRefused``, like a 401).
    ``jobs``: every ingest job that submitted upstream, in order; ``upstream_jobs``: job id -> ``MemoryJob``, newest
    last (``make_job`` adds one, as another process would; ``set_status`` moves one).
    """

    def __init__(self, raw_store: ObjectStore, source: Source, api_key: str | None = None) -> None:
        self._store = raw_store
        self._source = source
        self._api_key = api_key
        self._lock = threading.Lock()
        self.jobs: list[IngestJob] = []
        self.upstream_jobs: dict[str, MemoryJob] = {}

    def sweep(self, is_live: Callable[[str, str], bool]) -> list[str]:
        """Nothing to sweep: a job cannot outlive its caller here (the child's stdin is its lifeline)."""
        return []

    # -- the synthetic upstream ------------------------------------------------------------------------------------
    def make_job(self, upstream_dataset: str, request: Mapping[str, Any], status: str = "successful") -> str:
        """Adds a job of ``request`` of the upstream's dataset id ``upstream_dataset`` in ``status`` (not counted in
        ``jobs``: no ingest submitted it)."""
        body = self._source(upstream_dataset, request)
        with self._lock:
            return self._add(upstream_dataset, request, body, status).job_id

    def set_status(self, job_id: str, status: str) -> None:
        if status not in UPSTREAM_JOB_STATUSES:
            raise InvalidInput(f"status {status!r} is not one of {UPSTREAM_JOB_STATUSES}")
        with self._lock:
            self.upstream_jobs[job_id].status = status

    def _add(self, upstream_dataset: str, request: Mapping[str, Any], body: bytes, status: str,
             job: IngestJob | None = None) -> MemoryJob:
        made = MemoryJob(f"memory-{len(self.upstream_jobs) + 1}", upstream_dataset, canonical(request), body, status,
                         job)
        self.upstream_jobs[made.job_id] = made
        return made

    def _authenticate(self, key: str) -> None:
        if self._api_key is not None and key != self._api_key:
            raise UpstreamRefused("authentication failed (401)")

    def find_job(self, query: JobQuery) -> UpstreamJob | None:
        self._authenticate(query.upstream.api_key.reveal())
        want = canonical(query.request)
        with self._lock:
            found = [UpstreamJob(j.job_id, j.status) for j in reversed(self.upstream_jobs.values())
                     if j.upstream_dataset == query.upstream_id and j.request_key == want and j.status != "unknown"]
        return next((j for j in found if j.held), found[0] if found else None)

    def job_status(self, query: JobQuery, job_id: str) -> UpstreamJob:
        self._authenticate(query.upstream.api_key.reveal())
        with self._lock:
            made = self.upstream_jobs.get(job_id)
        if made is None or made.upstream_dataset != query.upstream_id:
            return UpstreamJob(job_id, "unknown")
        return UpstreamJob(job_id, made.status)

    # -- an ingest ---------------------------------------------------------------------------------------------------
    def run(self, job: IngestJob, on_event: Callable[[RunnerEvent], None] | None = None) -> IngestManifest:
        emit = on_event or (lambda event: None)
        if (named := RawKey.parse(job.raw_key).dataset) != job.dataset:
            raise InvalidInput(f"raw key {job.raw_key} names dataset {named!r}, not the job's {job.dataset!r}")
        if job.attempt_id and not _ATTEMPT.fullmatch(job.attempt_id):
            raise InvalidInput(f"attempt id {job.attempt_id!r} must be a lowercase canonical UUID")
        resuming = job.resume_job_id is not None
        if self._store.exists(job.raw_key) and not resuming:
            raise Conflict(f"raw key {job.raw_key} already exists; nothing was submitted")
        self._authenticate(job.upstream.api_key.reveal())

        if resuming:
            job_id = str(job.resume_job_id)
            emit(RunnerEvent("submitted", upstream_job_id=job_id))
            emit(RunnerEvent("phase", phase="poll"))
            upstream = self._resumable(job_id)
            if upstream.status == "expired":  # the ingester submits the same request again, once
                upstream = self._submit(job, emit, replaces=job_id)
            elif self._store.exists(job.raw_key):
                return self._adopt(job, upstream, emit, downloaded=False)
        else:
            upstream = self._submit(job, emit)
        job_id = upstream.job_id

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

    def _resumable(self, job_id: str) -> MemoryJob:
        with self._lock:
            upstream = self.upstream_jobs.get(job_id)
        if upstream is None or upstream.status == "unknown":
            raise with_upstream_job(UpstreamRefused(f"job {job_id} to resume was not found upstream (404)"), job_id)
        if upstream.status == "failed":
            raise with_upstream_job(UpstreamRefused(f"job {job_id} failed upstream"), job_id)
        return upstream

    def _submit(self, job: IngestJob, emit: Callable[[RunnerEvent], None], replaces: str | None = None) -> MemoryJob:
        emit(RunnerEvent("phase", phase="submit"))
        body = self._source(job.upstream_id, job.request)  # a malformed request is refused before a job exists
        with self._lock:
            self.jobs.append(job)
            made = self._add(job.upstream_id, job.request, body, "successful", job)
        emit(RunnerEvent("submitted", upstream_job_id=made.job_id, replaces=replaces))
        emit(RunnerEvent("phase", phase="poll"))
        return made

    def _adopt(self, job: IngestJob, upstream: MemoryJob, emit: Callable[[RunnerEvent], None],
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
