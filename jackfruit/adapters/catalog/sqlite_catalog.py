"""SQLite Catalog (standard library only): WAL, foreign keys, an R*Tree spatial index, one transaction per call."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import date
import threading
from contextlib import contextmanager
from typing import Iterator, Sequence

from jackfruit.domain import runs
from jackfruit.domain.errors import BackendUnavailable, Conflict, NotFound
from jackfruit.domain.keys import check_run_id
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.model import Dataset, IngestionRun, LineageEdge, RunStatus, Tile, partition_key

from . import _rows
from ._run_model import RunModelOps, check_limit

SCHEMA_VERSION = 2
# R*Tree keeps float32 boxes; widening the candidate query by far more than a float32 ulp at 180
# degrees (~1.5e-5) guarantees no true match is lost; the exact test then runs on the REAL columns.
RTREE_MARGIN = 1e-3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
  name TEXT PRIMARY KEY, source TEXT NOT NULL, request_template TEXT NOT NULL, variables TEXT NOT NULL,
  ext TEXT NOT NULL, description TEXT NOT NULL, schedule TEXT);
CREATE TABLE IF NOT EXISTS ingestion_runs (
  run_id TEXT PRIMARY KEY, source TEXT NOT NULL, dataset TEXT NOT NULL REFERENCES datasets(name),
  partition_date TEXT NOT NULL, request TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'quarantined')),
  created_at INTEGER NOT NULL, raw_key TEXT NOT NULL UNIQUE, started_at INTEGER, finished_at INTEGER,
  failure_reason TEXT, raw_size INTEGER, raw_sha256 TEXT, upstream_job_id TEXT, orchestrator_run_id TEXT,
  details TEXT NOT NULL, partition_key TEXT NOT NULL, supersedes TEXT REFERENCES ingestion_runs(run_id),
  transform_status TEXT NOT NULL
    CHECK (transform_status IN ('none', 'transforming', 'published', 'refused')),
  transform_reason TEXT, attempts TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_newest ON ingestion_runs (created_at DESC, run_id DESC);
CREATE INDEX IF NOT EXISTS runs_by_partition ON ingestion_runs (partition_key);
CREATE INDEX IF NOT EXISTS runs_open ON ingestion_runs (status, transform_status);
CREATE TABLE IF NOT EXISTS tiles (
  id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, run_id TEXT NOT NULL REFERENCES ingestion_runs(run_id),
  dataset TEXT NOT NULL REFERENCES datasets(name), model TEXT NOT NULL, variable TEXT NOT NULL,
  level_m INTEGER NOT NULL, reference_time INTEGER NOT NULL, valid_start INTEGER NOT NULL,
  valid_end INTEGER NOT NULL, cell_id TEXT NOT NULL, west REAL NOT NULL, south REAL NOT NULL,
  east REAL NOT NULL, north REAL NOT NULL, steps INTEGER NOT NULL, ny INTEGER NOT NULL, nx INTEGER NOT NULL,
  size INTEGER NOT NULL, sha256 TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tiles_by_run ON tiles (run_id);
CREATE VIRTUAL TABLE IF NOT EXISTS tiles_rtree USING rtree(id, west, east, south, north);
CREATE TABLE IF NOT EXISTS lineage (
  raw_key TEXT NOT NULL, raw_sha256 TEXT NOT NULL, tile_key TEXT NOT NULL REFERENCES tiles(key),
  run_id TEXT NOT NULL REFERENCES ingestion_runs(run_id), transformation TEXT NOT NULL,
  transformation_version TEXT NOT NULL, PRIMARY KEY (raw_key, tile_key));
CREATE INDEX IF NOT EXISTS lineage_by_tile ON lineage (tile_key);
"""

_DATASET_SQL = ", ".join(_rows.DATASET_COLUMNS)
_RUN_SQL = ", ".join(_rows.RUN_COLUMNS)
_TILE_SQL = ", ".join(_rows.TILE_COLUMNS)
_TILE_T = ", ".join(f"t.{c}" for c in _rows.TILE_COLUMNS)
_LINEAGE_SQL = ", ".join(_rows.LINEAGE_COLUMNS)
_ORDER = "ORDER BY t.variable, t.model, t.level_m, t.reference_time, t.cell_id, t.key"


def _migrate_1_to_2(db: sqlite3.Connection) -> None:
    """Schema 1 -> 2 (the run model): rebuild ingestion_runs with partition, transform state and attempts.

    Runs inside the opening transaction: a kill leaves schema 1 or schema 2, never a mix. Old runs get
    their partition key computed, ``transform_status`` published when they have tiles, no attempts.
    """
    old_cols = ("run_id", "source", "dataset", "partition_date", "request", "status", "created_at", "raw_key",
                "started_at", "finished_at", "failure_reason", "raw_size", "raw_sha256", "upstream_job_id",
                "orchestrator_run_id", "details")
    rows = db.execute(f"SELECT {', '.join(old_cols)} FROM ingestion_runs").fetchall()
    published = {r for (r,) in db.execute("SELECT DISTINCT run_id FROM tiles")}
    create = next(st for st in _SCHEMA.split(";") if "CREATE TABLE IF NOT EXISTS ingestion_runs" in st)
    db.execute(create.replace("IF NOT EXISTS ingestion_runs (", "ingestion_runs_v2 ("))
    for row in rows:
        values = dict(zip(old_cols, row))
        partition = partition_key(values["dataset"], date.fromisoformat(values["partition_date"]),
                                  json.loads(values["request"]))
        full = tuple(row) + (partition, None, "published" if values["run_id"] in published else "none", None, "[]")
        db.execute(f"INSERT INTO ingestion_runs_v2 ({_RUN_SQL}) VALUES ({_marks(len(full))})", full)
    # foreign keys are off while the catalog opens (they cannot change inside a transaction); the
    # references of tiles and lineage name ingestion_runs and resolve to the new table after the rename
    db.execute("DROP TABLE ingestion_runs")
    db.execute("ALTER TABLE ingestion_runs_v2 RENAME TO ingestion_runs")


def _marks(n: int) -> str:
    return ", ".join("?" * n)


class SqliteCatalog(RunModelOps):
    """One connection shared under a lock: SQLite serialises writers anyway, and this keeps calls atomic."""

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        self._lock = threading.RLock()
        if path != ":memory:" and not path.startswith("file:"):
            try:
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            except OSError as err:
                raise BackendUnavailable(f"cannot create the catalog directory for {path}: {err.strerror}") from err
        try:
            self._db = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
            self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA foreign_keys = OFF")  # for a migration's table rebuild; on below
            with self._tx(write=True) as db:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise BackendUnavailable(f"catalog {path} has schema {version}; "
                                             f"this jackfruit knows {SCHEMA_VERSION}")
                if version == 1:
                    _migrate_1_to_2(db)
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                if db.execute("PRAGMA foreign_key_check").fetchone() is not None:
                    raise BackendUnavailable(f"catalog {path} fails its foreign-key check; not opened")
            self._db.execute("PRAGMA foreign_keys = ON")
        except (sqlite3.Error, BackendUnavailable) as err:
            if hasattr(self, "_db"):
                self._db.close()
            if isinstance(err, BackendUnavailable):
                raise
            raise BackendUnavailable(f"cannot open the catalog {path}: {err}") from err

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """One call, one transaction; sqlite3 errors never cross the port."""
        with self._lock:
            try:
                # writers take the lock up front (IMMEDIATE) so two writers never deadlock upgrading
                self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    # a failed COMMIT (busy) leaves the transaction open; some errors already ended it
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.IntegrityError as err:
                raise Conflict(f"catalog constraint violated: {err}") from err
            except sqlite3.ProgrammingError as err:  # e.g. used after close()
                raise BackendUnavailable(f"catalog connection unusable: {err}") from err
            except sqlite3.Error as err:
                raise BackendUnavailable(f"catalog unavailable: {err}") from err

    def add_dataset(self, dataset: Dataset) -> None:
        row = _rows.dataset_row(dataset)
        with self._tx(write=True) as db:
            old = db.execute(f"SELECT {_DATASET_SQL} FROM datasets WHERE name = ?", (dataset.name,)).fetchone()
            if old is None:
                db.execute(f"INSERT INTO datasets ({_DATASET_SQL}) VALUES ({_marks(len(row))})", row)
            elif tuple(old) != row:
                raise Conflict(f"dataset {dataset.name!r} is already registered with a different definition")

    def get_dataset(self, name: str) -> Dataset:
        with self._tx() as db:
            row = db.execute(f"SELECT {_DATASET_SQL} FROM datasets WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"dataset {name!r} is not registered")
        return _rows.dataset_of(row)

    def list_datasets(self) -> list[Dataset]:
        with self._tx() as db:
            rows = db.execute(f"SELECT {_DATASET_SQL} FROM datasets ORDER BY name").fetchall()
        return [_rows.dataset_of(r) for r in rows]

    # -- run-model primitives (see _run_model.py)
    def _load(self, db: sqlite3.Connection, run_id: str) -> IngestionRun | None:
        row = db.execute(f"SELECT {_RUN_SQL} FROM ingestion_runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else _rows.run_of(tuple(row))

    def _write(self, db: sqlite3.Connection, old: IngestionRun | None, new: IngestionRun) -> None:
        row = _rows.run_row(new)
        if old is None:
            # run_id and raw_key are UNIQUE: a reuse is an IntegrityError, translated to Conflict
            db.execute(f"INSERT INTO ingestion_runs ({_RUN_SQL}) VALUES ({_marks(len(row))})", row)
            return
        runs.check_change(old, new)
        cols = [c for c in _rows.RUN_COLUMNS if c != "run_id"]
        values = dict(zip(_rows.RUN_COLUMNS, row))
        db.execute(f"UPDATE ingestion_runs SET {', '.join(f'{c} = ?' for c in cols)} WHERE run_id = ?",
                   [values[c] for c in cols] + [new.run_id])

    def _mutate(self, run_id: str, change, publish_rows=None) -> IngestionRun:
        check_run_id(run_id)
        with self._tx(write=True) as db:
            old = self._load(db, run_id)
            if old is None:
                raise NotFound(f"run {run_id} does not exist")
            new = change(old)
            self._write(db, old, new)
            if publish_rows is not None:
                tile_rows, edge_rows = publish_rows
                if db.execute("SELECT 1 FROM tiles WHERE run_id = ? LIMIT 1", (run_id,)).fetchone():
                    raise Conflict(f"run {run_id} is already published; tiles are immutable")
                for t in tile_rows:
                    cur = db.execute(f"INSERT INTO tiles ({_TILE_SQL}) VALUES ({_marks(len(t))})", t)
                    db.execute("INSERT INTO tiles_rtree (id, west, east, south, north) VALUES (?, ?, ?, ?, ?)",
                               (cur.lastrowid, t[10], t[12], t[11], t[13]))
                db.executemany(f"INSERT INTO lineage ({_LINEAGE_SQL}) VALUES ({_marks(6)})", edge_rows)
        return new

    def _claim_partition(self, candidate: IngestionRun, choose) -> IngestionRun:
        with self._tx(write=True) as db:
            if db.execute("SELECT 1 FROM datasets WHERE name = ?", (candidate.dataset,)).fetchone() is None:
                raise NotFound(f"dataset {candidate.dataset!r} is not registered")
            rows = db.execute(f"SELECT {_RUN_SQL} FROM ingestion_runs WHERE partition_key = ?",
                              (candidate.partition,)).fetchall()
            existing = [_rows.run_of(tuple(r)) for r in rows]
            new = choose(existing)
            self._write(db, next((r for r in existing if r.run_id == new.run_id), None), new)
        return new

    def _mutate_open(self, change) -> list[IngestionRun]:
        changed = []
        with self._tx(write=True) as db:
            rows = db.execute(f"SELECT {_RUN_SQL} FROM ingestion_runs WHERE status IN ('pending', 'running') "
                              "OR transform_status = 'transforming' ORDER BY run_id").fetchall()
            for row in rows:
                old = _rows.run_of(tuple(row))
                new = change(old)
                if new != old:
                    self._write(db, old, new)
                    changed.append(new)
        return changed

    def get_run(self, run_id: str) -> IngestionRun:
        check_run_id(run_id)
        with self._tx() as db:
            run = self._load(db, run_id)
        if run is None:
            raise NotFound(f"run {run_id} does not exist")
        return run

    def list_runs(self, dataset: str | None = None, status: RunStatus | None = None,
                  limit: int | None = 100) -> list[IngestionRun]:
        limit = check_limit(limit)
        wanted = None if status is None else RunStatus(status).value
        with self._tx() as db:
            rows = db.execute(
                f"SELECT {_RUN_SQL} FROM ingestion_runs WHERE (?1 IS NULL OR dataset = ?1) "
                "AND (?2 IS NULL OR status = ?2) ORDER BY created_at DESC, run_id DESC LIMIT ?3",
                (dataset, wanted, -1 if limit is None else limit)).fetchall()
        return [_rows.run_of(tuple(r)) for r in rows]

    def tiles_of_run(self, run_id: str) -> list[Tile]:
        with self._tx() as db:
            rows = db.execute(f"SELECT {_TILE_T} FROM tiles t WHERE t.run_id = ? {_ORDER}", (run_id,)).fetchall()
        return [_rows.tile_of(r) for r in rows]

    def find_tiles(self, bbox: BBox, time_range: TimeRange, variables: Sequence[str] | None = None,
                   dataset: str | None = None, model: str | None = None,
                   level_m: int | None = None) -> list[Tile]:
        m = RTREE_MARGIN
        sql = [f"SELECT {_TILE_T} FROM tiles_rtree r JOIN tiles t ON t.id = r.id",
               "WHERE r.west <= ? AND r.east >= ? AND r.south <= ? AND r.north >= ?",
               # the exact BBox.intersects / TimeRange.overlaps predicates, on the float64 and integer columns
               "AND ? <= t.east AND ? >= t.west AND ? <= t.north AND ? >= t.south",
               "AND t.valid_start < ? AND t.valid_end >= ?"]
        args: list = [bbox.east + m, bbox.west - m, bbox.north + m, bbox.south - m,
                      bbox.west, bbox.east, bbox.south, bbox.north,
                      _rows.to_micros(time_range.end), _rows.to_micros(time_range.start)]
        if variables is not None:
            names = list(variables)
            if not names:
                return []
            sql.append(f"AND t.variable IN ({_marks(len(names))})")
            args += names
        for column, value in (("dataset", dataset), ("model", model), ("level_m", level_m)):
            if value is not None:
                sql.append(f"AND t.{column} = ?")
                args.append(value)
        with self._tx() as db:
            rows = db.execute(" ".join(sql + [_ORDER]), args).fetchall()
        return [_rows.tile_of(r) for r in rows]

    def lineage(self, *, raw_key: str | None = None, tile_key: str | None = None) -> list[LineageEdge]:
        with self._tx() as db:
            rows = db.execute(f"SELECT {_LINEAGE_SQL} FROM lineage WHERE (?1 IS NULL OR raw_key = ?1) "
                              "AND (?2 IS NULL OR tile_key = ?2) ORDER BY raw_key, tile_key",
                              (raw_key, tile_key)).fetchall()
        return [_rows.lineage_of(r) for r in rows]
