"""The Catalog port's run-model operations, once for every catalog adapter.

An adapter provides three transactional primitives; this mixin turns each port operation into one of
them around the pure rule in ``jackfruit.domain.runs``, and every stored change passes
``runs.check_change``. So the rules live in the domain and the adapters only store rows.

- ``_mutate(run_id, change, publish_rows=None)``: load the run (``NotFound``), ``new = change(old)``,
  ``check_change(old, new)``, store it (and the publish rows) in the same transaction.
- ``_claim_partition(candidate, choose, count_in_flight)``: load every run of the candidate's partition (and,
  when ``count_in_flight``, every open run of its source, serialised against other such claims),
  ``new = choose(runs, open_of_source)``,
  insert it (a new run) or store it after ``check_change`` (a run taken over), in one transaction.
- ``_mutate_open(change)``: apply ``change`` to every run that is not terminal or is transforming; store
  those that changed (after ``check_change``); return them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Mapping, Sequence

from jackfruit.domain import currency, runs
from jackfruit.domain.errors import InvalidInput
from jackfruit.domain.keys import check_run_id
from jackfruit.domain.model import TRANSFORMATION_VERSION, AttemptKind, IngestionRun, LineageEdge, Tile

from . import _rows

Change = Callable[[IngestionRun], IngestionRun]


class RunModelOps:
    def _mutate(self, run_id: str, change: Change,
                publish_rows: tuple[list[tuple], list[tuple]] | None = None) -> IngestionRun:
        raise NotImplementedError

    def _claim_partition(self, candidate: IngestionRun,
                         choose: Callable[[list[IngestionRun], list[IngestionRun]], IngestionRun],
                         count_in_flight: bool) -> IngestionRun:
        raise NotImplementedError

    def _mutate_open(self, change: Change) -> list[IngestionRun]:
        raise NotImplementedError

    def _mark_tiles(self, keys: list[str],
                    removal: Callable[[Tile, bool], datetime | None]) -> list[Tile]:
        """In one transaction, per key: load the tile (``NotFound``) and whether it is current now, ``when =
        removal(tile, current)``, record ``removed_at = when`` unless None; return the tiles as stored."""
        raise NotImplementedError

    def mark_removed(self, tile_keys: Sequence[str], *, now: datetime) -> list[Tile]:
        return self._mark_tiles(list(tile_keys), lambda tile, current: currency.removal_time(tile, current, now))

    @staticmethod
    def _epoch(epoch: int) -> int:
        if not isinstance(epoch, int) or isinstance(epoch, bool) or not 1 <= epoch < 1 << 62:
            raise InvalidInput(f"epoch must be a positive integer, got {epoch!r}")
        return epoch

    def claim_ingest(self, candidate: IngestionRun, *, attempt_id: str, owner: str, now: datetime,
                     expires_at: datetime, supersede: bool = False,
                     max_in_flight: int | None = None, resume: str | None = None) -> IngestionRun:
        _rows.run_row(candidate)  # refuse what cannot be stored before the transaction
        if resume is not None:
            check_run_id(resume)
        if max_in_flight is not None and (isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int)
                                          or max_in_flight < 1):
            raise InvalidInput(f"max_in_flight must be a positive integer, got {max_in_flight!r}")
        return self._claim_partition(candidate, lambda existing, open_of_source: runs.claim_ingest(
            existing, candidate, attempt_id=attempt_id, owner=owner, now=now, expires_at=expires_at,
            supersede=supersede, max_in_flight=max_in_flight, resume=resume,
            in_flight=sum(1 for r in open_of_source if runs.live_ingest(r, now))),
            count_in_flight=max_in_flight is not None)

    def renew(self, run_id: str, kind: AttemptKind, epoch: int, *, now: datetime,
              expires_at: datetime) -> IngestionRun:
        kind, epoch = AttemptKind(kind), self._epoch(epoch)
        return self._mutate(run_id, lambda r: runs.renew(r, kind, epoch, now=now, expires_at=expires_at))

    def record_upstream_job(self, run_id: str, epoch: int, job_id: str, *, now: datetime,
                            replaces: str | None = None) -> IngestionRun:
        epoch = self._epoch(epoch)
        return self._mutate(run_id, lambda r: runs.record_upstream_job(r, epoch, job_id, now=now,
                                                                       replaces=replaces))

    def succeed(self, run_id: str, epoch: int, *, now: datetime, size: int, sha256: str,
                upstream_job_id: str | None, details: Mapping[str, Any] | None = None) -> IngestionRun:
        epoch = self._epoch(epoch)
        _rows.to_json("run details", dict(details or {}))
        return self._mutate(run_id, lambda r: runs.succeed(r, epoch, now=now, size=size, sha256=sha256,
                                                           upstream_job_id=upstream_job_id, details=details))

    def fail(self, run_id: str, epoch: int, *, now: datetime, reason: str) -> IngestionRun:
        epoch = self._epoch(epoch)
        return self._mutate(run_id, lambda r: runs.fail(r, epoch, now=now, reason=reason))

    def quarantine(self, run_id: str, epoch: int, *, now: datetime, reason: str, size: int | None = None,
                   sha256: str | None = None, details: Mapping[str, Any] | None = None) -> IngestionRun:
        epoch = self._epoch(epoch)
        _rows.to_json("run details", dict(details or {}))
        return self._mutate(run_id, lambda r: runs.quarantine(r, epoch, now=now, reason=reason, size=size,
                                                              sha256=sha256, details=details))

    def claim_transform(self, run_id: str, *, attempt_id: str, owner: str, now: datetime,
                        expires_at: datetime, version: str = TRANSFORMATION_VERSION) -> IngestionRun:
        return self._mutate(run_id, lambda r: runs.claim_transform(r, attempt_id=attempt_id, owner=owner,
                                                                   now=now, expires_at=expires_at,
                                                                   version=version))

    def publish(self, run_id: str, epoch: int, tiles: Sequence[Tile], lineage: Iterable[LineageEdge], *,
                now: datetime) -> IngestionRun:
        epoch = self._epoch(epoch)
        check_run_id(run_id)
        tile_rows = [_rows.tile_row(t, published_at=now) for t in tiles]
        edge_rows = [_rows.lineage_row(e) for e in lineage]

        def change(r: IngestionRun) -> IngestionRun:
            _rows.check_publish(run_id, r.dataset, r.transform_version, tile_rows, edge_rows)
            return runs.publish(r, epoch, now=now)

        return self._mutate(run_id, change, publish_rows=(tile_rows, edge_rows))

    def refuse_transform(self, run_id: str, epoch: int, *, now: datetime, reason: str) -> IngestionRun:
        epoch = self._epoch(epoch)
        return self._mutate(run_id, lambda r: runs.refuse(r, epoch, now=now, reason=reason))

    def fail_transform(self, run_id: str, epoch: int, *, now: datetime, reason: str) -> IngestionRun:
        epoch = self._epoch(epoch)
        return self._mutate(run_id, lambda r: runs.fail_transform(r, epoch, now=now, reason=reason))

    def revoke_expired(self, *, now: datetime) -> list[IngestionRun]:
        return self._mutate_open(lambda r: runs.revoke_expired(r, now=now))

    def reap(self, older_than: timedelta, *, now: datetime) -> list[IngestionRun]:
        if not isinstance(older_than, timedelta) or older_than < timedelta(0):
            raise InvalidInput(f"older_than must be a non-negative duration, got {older_than!r}")
        return self._mutate_open(lambda r: runs.reap(r, now=now, older_than=older_than))


def check_limit(limit: int | None) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit < 1 << 62:
        raise InvalidInput(f"limit must be a non-negative integer below 2**62, got {limit!r}")
    return limit
