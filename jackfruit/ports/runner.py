"""Runner: run one ingestion job (the Go ingester, wherever it runs) and return its manifest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, runtime_checkable


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
class Upstream:
    """Where a source lives and how to authenticate to it."""

    base_url: str
    api_key: Secret


@dataclass(frozen=True)
class IngestJob:
    run_id: str
    dataset: str
    request: Mapping[str, Any]
    raw_key: str
    upstream: Upstream


@dataclass(frozen=True)
class IngestManifest:
    key: str
    size: int
    sha256: str
    upstream_job_id: str | None
    details: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Runner(Protocol):
    """Runs an ingestion job to completion; the raw object exists under ``job.raw_key`` on success.

    Raises: ``InvalidInput`` (bad key or request refused as malformed), ``UpstreamRefused``
    (auth, licence, job failed upstream), ``Conflict`` (raw key exists; nothing submitted),
    ``IntegrityError`` (download size mismatch; nothing stored), ``BackendUnavailable``
    (upstream or runtime unreachable, time-out). On any error nothing is stored under the key.
    """

    def run(self, job: IngestJob) -> IngestManifest: ...
