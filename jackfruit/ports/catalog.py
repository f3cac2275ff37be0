"""Catalog: datasets, ingestion runs with their claims, tiles (space/time index) and lineage."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Protocol, Sequence, runtime_checkable

from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.model import (TRANSFORMATION_VERSION, AttemptKind, Dataset, IngestionRun, LineageEdge, RunStatus,
                                    Tile)


@runtime_checkable
class Catalog(Protocol):
    """The metadata database.

    Every method is atomic. Run changes follow the run model of ``jackfruit.domain.runs`` (docs/runs.md):
    each write of a claim holder names its ``epoch`` and is refused when that epoch no longer holds the
    claim. ``now`` is the caller's clock (lease expiry is judged against it).

    Raises: ``InvalidInput`` (malformed id or value), ``NotFound`` (unknown dataset/run), ``Conflict``
    (a dataset registered differently; a partition already succeeded or claimed; a fenced-off epoch; a
    transition the state machine does not allow; a recorded checksum, size, raw key or job id changed; a
    tile key reused), ``BackendUnavailable`` (database unreachable).
    """

    # -- datasets
    def add_dataset(self, dataset: Dataset) -> None:
        """Register; registering the identical definition again is a no-op."""
        ...

    def get_dataset(self, name: str) -> Dataset: ...

    def list_datasets(self) -> list[Dataset]: ...

    # -- ingestion claims
    def claim_ingest(self, candidate: IngestionRun, *, attempt_id: str, owner: str, now: datetime,
                     expires_at: datetime, supersede: bool = False,
                     max_in_flight: int | None = None, resume: str | None = None) -> IngestionRun:
        """Claim the candidate's partition (``runs.claim_ingest``): stores and returns the new running run,
        or the run taken over (same run id and raw key, epoch + 1), or with ``resume`` the partition's newest
        failed run re-opened to resume its upstream job (``Conflict`` if it is no longer that run). With
        ``max_in_flight``, a new run is refused (``BackendUnavailable``) while that many runs of its source hold
        live ingest claims, counted atomically with the claim (the cap on an upstream account's queue, across
        every process)."""
        ...

    def renew(self, run_id: str, kind: AttemptKind, epoch: int, *, now: datetime,
              expires_at: datetime) -> IngestionRun:
        """Heartbeat of a claim; ``expires_at == now`` releases it."""
        ...

    def record_upstream_job(self, run_id: str, epoch: int, job_id: str, *, now: datetime,
                            replaces: str | None = None) -> IngestionRun:
        """Record the run's upstream job as soon as it is known; a different id only with ``replaces`` naming
        the recorded one (a resubmission: the old id is kept in ``replaced_upstream_jobs``)."""
        ...

    def succeed(self, run_id: str, epoch: int, *, now: datetime, size: int, sha256: str,
                upstream_job_id: str | None, details: Mapping[str, Any] | None = None) -> IngestionRun: ...

    def fail(self, run_id: str, epoch: int, *, now: datetime, reason: str) -> IngestionRun: ...

    def quarantine(self, run_id: str, epoch: int, *, now: datetime, reason: str, size: int | None = None,
                   sha256: str | None = None, details: Mapping[str, Any] | None = None) -> IngestionRun:
        """End the ingestion ``quarantined``: the landed object stays as evidence and is never transformed;
        ``details`` (JSON) are merged into the run's details."""
        ...

    # -- transformation claims
    def claim_transform(self, run_id: str, *, attempt_id: str, owner: str, now: datetime,
                        expires_at: datetime, version: str = TRANSFORMATION_VERSION) -> IngestionRun:
        """Claim (or take over) the transformation of a succeeded run under ``version``; a published or refused
        run only under a newer version than its ``transform_version`` (``runs.claim_transform``)."""
        ...

    def publish(self, run_id: str, epoch: int, tiles: Sequence[Tile], lineage: Iterable[LineageEdge], *,
                now: datetime) -> IngestionRun:
        """Make a run's tiles and lineage visible together with ``transform_status = published``, or nothing."""
        ...

    def refuse_transform(self, run_id: str, epoch: int, *, now: datetime, reason: str) -> IngestionRun: ...

    def fail_transform(self, run_id: str, epoch: int, *, now: datetime, reason: str) -> IngestionRun:
        """End the transform attempt on an error (``runs.fail_transform``): ``failed`` with the reason, claimable
        again at once; tiles published before stay current."""
        ...

    # -- housekeeping
    def revoke_expired(self, *, now: datetime) -> list[IngestionRun]:
        """End every attempt whose lease expired (``runs.revoke_expired``); returns the runs changed."""
        ...

    def reap(self, older_than: timedelta, *, now: datetime) -> list[IngestionRun]:
        """Fail open runs whose ingest claim expired more than ``older_than`` ago; returns them."""
        ...

    # -- queries
    def get_run(self, run_id: str) -> IngestionRun: ...

    def partition_runs(self, partition: str) -> list[IngestionRun]:
        """Every run of one partition (``IngestionRun.partition``, a SHA-256 hex digest), oldest first."""
        ...

    def list_runs(self, dataset: str | None = None, status: RunStatus | None = None,
                  limit: int | None = 100) -> list[IngestionRun]:
        """Newest first; ``limit=None`` returns all."""
        ...

    def tiles_of_run(self, run_id: str) -> list[Tile]: ...

    def find_tiles(self, bbox: BBox, time_range: TimeRange, variables: Sequence[str] | None = None,
                   dataset: str | None = None, model: str | None = None,
                   level_m: int | None = None, *, as_of: datetime | None = None,
                   history: bool = False, level_type: str | None = None) -> list[Tile]:
        """Tiles whose extent (``Tile.bbox``: its points plus half a grid step) meets ``bbox``
        (``BBox.intersects``; a box across the antimeridian is searched as ``BBox.search_parts``, each tile
        listed once) and whose valid times overlap ``time_range`` (``TimeRange.overlaps``), ordered by
        (variable, model, level, reference time, cell, key); ``level_m`` and ``level_type`` (domain/levels.py) filter
        by level. Only the tiles current at ``as_of`` (default: now)
        by the rule of ``jackfruit.domain.currency``; with ``history``, every tile published by ``as_of``,
        current or not (removed ones included: ``Tile.removed_at`` says so)."""
        ...

    def superseded_tiles(self, *, before: datetime, limit: int | None = 1000) -> list[tuple[Tile, datetime]]:
        """Tiles not removed yet that stopped being current (``currency.superseded_at``) at or before
        ``before``, with that instant; oldest first."""
        ...

    def mark_removed(self, tile_keys: Sequence[str], *, now: datetime) -> list[Tile]:
        """Record that these tiles' objects are gone (``gc --superseded``); the records stay. A tile that is
        current is refused (``Conflict``), an unknown key is ``NotFound``, one already removed keeps its first
        removal time. Returns the tiles as stored."""
        ...

    def lineage(self, *, raw_key: str | None = None, tile_key: str | None = None) -> list[LineageEdge]: ...
