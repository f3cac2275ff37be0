"""In-memory Catalog: the same semantics and errors as SqliteCatalog, for unit tests and local runs."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Sequence

from jackfruit.domain import currency, runs
from jackfruit.domain.errors import Conflict, NotFound
from jackfruit.domain.keys import check_run_id
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.model import registration, Dataset, IngestionRun, LineageEdge, RunStatus, Tile, TransformStatus

from . import _rows
from ._run_model import RunModelOps, check_limit

_MAX_US = (1 << 63) - 1


def _field(row: tuple) -> tuple:
    return (row[2], row[3], row[4], row[22], row[5])  # dataset, model, variable, level type, level

class InMemoryCatalog(RunModelOps):
    """Stores immutable rows (the SQLite encoding), so callers never share state with the catalog."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._datasets: dict[str, tuple] = {}
        self._runs: dict[str, tuple] = {}
        self._raw_keys: dict[str, str] = {}
        self._tiles: dict[str, tuple] = {}
        self._run_tiles: dict[str, list[str]] = {}
        self._lineage: list[tuple] = []

    def close(self) -> None:
        """Nothing to release; present so tests can treat both adapters alike."""

    def add_dataset(self, dataset: Dataset) -> None:
        row = _rows.dataset_row(dataset)
        with self._lock:
            old = self._datasets.get(dataset.name)
            if registration(None if old is None else _rows.dataset_of(old), dataset) in ("insert", "replace"):
                self._datasets[dataset.name] = row

    def get_dataset(self, name: str) -> Dataset:
        with self._lock:
            row = self._datasets.get(name)
        if row is None:
            raise NotFound(f"dataset {name!r} is not registered")
        return _rows.dataset_of(row)

    def list_datasets(self) -> list[Dataset]:
        with self._lock:
            rows = sorted(self._datasets.values())
        return [_rows.dataset_of(r) for r in rows]

    # -- run-model primitives (see _run_model.py)
    def _store(self, old: IngestionRun | None, new: IngestionRun) -> tuple:
        row = _rows.run_row(new)
        if old is not None:
            runs.check_change(old, new)
        elif new.run_id in self._runs:
            raise Conflict(f"run id {new.run_id} is already used")
        elif new.raw_key in self._raw_keys:
            raise Conflict(f"raw key {new.raw_key} is already used by run {self._raw_keys[new.raw_key]}")
        return row

    def _mutate(self, run_id: str, change, publish_rows=None) -> IngestionRun:
        check_run_id(run_id)
        with self._lock:
            old_row = self._runs.get(run_id)
            if old_row is None:
                raise NotFound(f"run {run_id} does not exist")
            old = _rows.run_of(old_row)
            new = change(old)
            row = self._store(old, new)
            if publish_rows is not None:
                tile_rows, edge_rows = publish_rows
                if any(self._tiles[k][19] == new.transform_version for k in self._run_tiles.get(run_id, ())):
                    raise Conflict(f"run {run_id} is already published under transformation version "
                                   f"{new.transform_version}; tiles are immutable")
                for t in tile_rows:
                    if t[0] in self._tiles:
                        raise Conflict(f"tile key {t[0]} is already published")
            # every check passed: only now write, so a refused change leaves nothing behind
            self._runs[run_id] = row
            if publish_rows is not None:
                for t in tile_rows:
                    self._tiles[t[0]] = t
                self._run_tiles.setdefault(run_id, []).extend(t[0] for t in tile_rows)
                self._lineage.extend(edge_rows)
        return _rows.run_of(row)

    def _claim_partition(self, candidate: IngestionRun, choose, count_in_flight: bool) -> IngestionRun:
        with self._lock:
            if candidate.dataset not in self._datasets:
                raise NotFound(f"dataset {candidate.dataset!r} is not registered")
            key = candidate.partition
            existing = [_rows.run_of(r) for r in self._runs.values() if r[16] == key]
            open_of_source = [_rows.run_of(r) for r in self._runs.values() if count_in_flight
                              and r[1] == candidate.source and r[5] in ("pending", "running")]
            new = choose(existing, open_of_source)
            old = next((r for r in existing if r.run_id == new.run_id), None)
            row = self._store(old, new)
            self._runs[new.run_id] = row
            self._raw_keys[new.raw_key] = new.run_id
        return _rows.run_of(row)

    def _mutate_open(self, change) -> list[IngestionRun]:
        changed = []
        with self._lock:
            for run_id, row in list(self._runs.items()):
                old = _rows.run_of(row)
                if old.terminal and old.transform_status is not TransformStatus.TRANSFORMING:
                    continue
                new = change(old)
                if new != old:
                    self._runs[run_id] = self._store(old, new)
                    changed.append(new)
        return changed

    def get_run(self, run_id: str) -> IngestionRun:
        check_run_id(run_id)
        with self._lock:
            row = self._runs.get(run_id)
        if row is None:
            raise NotFound(f"run {run_id} does not exist")
        return _rows.run_of(row)

    def partition_runs(self, partition: str) -> list[IngestionRun]:
        _rows.check_partition(partition)
        with self._lock:
            rows = [r for r in self._runs.values() if r[16] == partition]
        return [_rows.run_of(r) for r in sorted(rows, key=lambda r: r[0])]

    def list_runs(self, dataset: str | None = None, status: RunStatus | None = None,
                  limit: int | None = 100) -> list[IngestionRun]:
        limit = check_limit(limit)
        wanted = None if status is None else RunStatus(status).value
        with self._lock:
            rows = [r for r in self._runs.values()
                    if (dataset is None or r[2] == dataset) and (wanted is None or r[5] == wanted)]
        rows.sort(key=lambda r: (r[6], r[0]), reverse=True)  # created_at desc, then run_id desc
        return [_rows.run_of(r) for r in (rows if limit is None else rows[:limit])]

    def tiles_of_run(self, run_id: str) -> list[Tile]:
        with self._lock:
            rows = [self._tiles[k] for k in self._run_tiles.get(run_id, ())]
        return [_rows.tile_of(r) for r in sorted(rows, key=_rows.tile_order)]

    def find_tiles(self, bbox: BBox, time_range: TimeRange, variables: Sequence[str] | None = None,
                   dataset: str | None = None, model: str | None = None,
                   level_m: int | None = None, *, as_of: datetime | None = None,
                   history: bool = False, level_type: str | None = None) -> list[Tile]:
        known = _MAX_US if as_of is None else _rows.to_micros(as_of)
        names = None if variables is None else set(variables)
        with self._lock:
            rows = [t for t in self._tiles.values()
                    if t[20] <= known and (names is None or t[4] in names) and (dataset is None or t[2] == dataset)
                    and (model is None or t[3] == model) and (level_m is None or t[5] == level_m)
                    and (level_type is None or t[22] == level_type)
                    and _rows.tile_of(t).selected_by(bbox, time_range)]  # the domain's rule, as every catalog
            if not history:
                rows = self._current(rows, as_of)
        return [_rows.tile_of(r) for r in sorted(rows, key=_rows.tile_order)]

    def _current(self, rows: list[tuple], as_of: datetime | None) -> list[tuple]:
        """The rows current at ``as_of``: the domain's rule over every tile of their fields (lock held)."""
        fields = {_field(r) for r in rows}
        pool = [_rows.tile_of(r) for r in self._tiles.values() if _field(r) in fields]
        keep = {t.key for t in currency.current_tiles(pool, as_of)}
        return [r for r in rows if r[0] in keep]

    def superseded_tiles(self, *, before: datetime, limit: int | None = 1000) -> list[tuple[Tile, datetime]]:
        limit = check_limit(limit)
        with self._lock:
            tiles = [_rows.tile_of(r) for r in self._tiles.values()]
        by_field: dict[tuple, list[Tile]] = {}
        for t in tiles:
            by_field.setdefault(currency.field_of(t), []).append(t)
        found = []
        for t in tiles:
            when = currency.superseded_at(t, by_field[currency.field_of(t)])
            if t.removed_at is None and when is not None and when <= before:
                found.append((t, when))
        found.sort(key=lambda tw: (tw[1], tw[0].key))
        return found if limit is None else found[:limit]

    def _mark_tiles(self, keys, removal) -> list[Tile]:
        with self._lock:
            rows = []
            for key in keys:
                if key not in self._tiles:
                    raise NotFound(f"tile {key} does not exist")
                rows.append(self._tiles[key])
            current = {r[0] for r in self._current(rows, None)}
            stamps = [removal(_rows.tile_of(r), r[0] in current) for r in rows]  # every check before any change
            for r, when in zip(rows, stamps):
                if when is not None:
                    self._tiles[r[0]] = r[:21] + (_rows.to_micros(when),) + r[22:]
            return [_rows.tile_of(self._tiles[k]) for k in keys]

    def lineage(self, *, raw_key: str | None = None, tile_key: str | None = None) -> list[LineageEdge]:
        with self._lock:
            rows = [e for e in self._lineage
                    if (raw_key is None or e[0] == raw_key) and (tile_key is None or e[2] == tile_key)]
        return [_rows.lineage_of(r) for r in sorted(rows, key=lambda e: (e[0], e[2]))]
