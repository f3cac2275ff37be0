"""InMemoryRunner: a Runner for unit tests that 'downloads' bytes produced by a function of the request."""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Mapping

from jackfruit.domain.errors import Conflict, UpstreamRefused
from jackfruit.domain.keys import RawKey
from jackfruit.ports.runner import IngestJob, IngestManifest
from jackfruit.ports.storage import ObjectStore

Source = Callable[[str, Mapping[str, Any]], bytes]


class InMemoryRunner:
    """Same contract as the real runners: validates the key, never overwrites, stores nothing on error.

    ``source(dataset, request)`` returns the product bytes or raises a domain error (e.g. ``InvalidInput``).
    ``api_key``, when given, must match the job's key (else ``UpstreamRefused``, like a 401).
    """

    def __init__(self, raw_store: ObjectStore, source: Source, api_key: str | None = None) -> None:
        self._store = raw_store
        self._source = source
        self._api_key = api_key
        self.jobs: list[IngestJob] = []

    def run(self, job: IngestJob) -> IngestManifest:
        RawKey.parse(job.raw_key)
        if self._store.exists(job.raw_key):
            raise Conflict(f"raw key {job.raw_key} already exists; nothing was submitted")
        if self._api_key is not None and job.upstream.api_key.reveal() != self._api_key:
            raise UpstreamRefused("authentication failed (401)")
        self.jobs.append(job)
        body = self._source(job.dataset, job.request)
        info = self._store.put(job.raw_key, body)
        return IngestManifest(job.raw_key, info.size, info.sha256 or hashlib.sha256(body).hexdigest(),
                              f"memory-{len(self.jobs)}", {"runner": "memory"})
