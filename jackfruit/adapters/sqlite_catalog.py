"""SQLite Catalog (standard library only): WAL, foreign keys, an R*Tree spatial index, one transaction per call."""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from typing import Iterable, Iterator, Sequence

from jackfruit.domain.errors import BackendUnavailable, Conflict, InvalidInput, NotFound
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.model import Dataset, IngestionRun, LineageEdge, RunStatus, Tile

from . import _rows

SCHEMA_VERSION = 1
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
  status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
  created_at INTEGER NOT NULL, raw_key TEXT NOT NULL UNIQUE, started_at INTEGER, finished_at INTEGER,
  failure_reason TEXT, raw_size INTEGER, raw_sha256 TEXT, upstream_job_id TEXT, orchestrator_run_id TEXT,
  details TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_newest ON ingestion_runs (created_at DESC, run_id DESC);
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
_IDENTITY = ("source", "dataset", "partition_date", "created_at", "raw_key")


def _marks(n: int) -> str:
    return ", ".join("?" * n)


class SqliteCatalog:
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
            self._db.execute("PRAGMA foreign_keys = ON")
            with self._tx(write=True) as db:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise BackendUnavailable(f"catalog {path} has schema {version}; "
                                             f"this jackfruit knows {SCHEMA_VERSION}")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
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

    def add_run(self, run: IngestionRun) -> None:
        row = _rows.run_row(run)
        with self._tx(write=True) as db:
            if db.execute("SELECT 1 FROM datasets WHERE name = ?", (run.dataset,)).fetchone() is None:
                raise NotFound(f"dataset {run.dataset!r} is not registered")
            # run_id and raw_key are UNIQUE: a reuse is an IntegrityError, translated to Conflict
            db.execute(f"INSERT INTO ingestion_runs ({_RUN_SQL}) VALUES ({_marks(len(row))})", row)

    def update_run(self, run: IngestionRun) -> None:
        row = dict(zip(_rows.RUN_COLUMNS, _rows.run_row(run)))
        with self._tx(write=True) as db:
            old = db.execute(f"SELECT {', '.join(_IDENTITY)} FROM ingestion_runs WHERE run_id = ?",
                             (run.run_id,)).fetchone()
            if old is None:
                raise NotFound(f"run {run.run_id} does not exist")
            if tuple(old) != tuple(row[c] for c in _IDENTITY):
                raise Conflict(f"run {run.run_id}: source, dataset, partition, creation time and raw key are fixed")
            changed = [c for c in _rows.RUN_COLUMNS if c not in _IDENTITY and c != "run_id"]
            db.execute(f"UPDATE ingestion_runs SET {', '.join(f'{c} = ?' for c in changed)} WHERE run_id = ?",
                       [row[c] for c in changed] + [run.run_id])

    def get_run(self, run_id: str) -> IngestionRun:
        with self._tx() as db:
            row = db.execute(f"SELECT {_RUN_SQL} FROM ingestion_runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFound(f"run {run_id} does not exist")
        return _rows.run_of(row)

    def list_runs(self, dataset: str | None = None, status: RunStatus | None = None,
                  limit: int = 100) -> list[IngestionRun]:
        if limit < 0:  # SQLite reads LIMIT -1 as "no limit"; refuse rather than surprise
            raise InvalidInput(f"limit must not be negative, got {limit}")
        wanted = None if status is None else RunStatus(status).value
        with self._tx() as db:
            rows = db.execute(
                f"SELECT {_RUN_SQL} FROM ingestion_runs WHERE (?1 IS NULL OR dataset = ?1) "
                "AND (?2 IS NULL OR status = ?2) ORDER BY created_at DESC, run_id DESC LIMIT ?3",
                (dataset, wanted, int(limit))).fetchall()
        return [_rows.run_of(r) for r in rows]

    def publish(self, run_id: str, tiles: Sequence[Tile], lineage: Iterable[LineageEdge]) -> None:
        tile_rows = [_rows.tile_row(t) for t in tiles]
        edge_rows = [_rows.lineage_row(e) for e in lineage]
        with self._tx(write=True) as db:
            run = db.execute("SELECT dataset FROM ingestion_runs WHERE run_id = ?", (run_id,)).fetchone()
            if run is None:
                raise NotFound(f"run {run_id} does not exist")
            if db.execute("SELECT 1 FROM tiles WHERE run_id = ? LIMIT 1", (run_id,)).fetchone():
                raise Conflict(f"run {run_id} is already published; tiles are immutable")
            _rows.check_publish(run_id, run[0], tile_rows, edge_rows)
            for t in tile_rows:
                cur = db.execute(f"INSERT INTO tiles ({_TILE_SQL}) VALUES ({_marks(len(t))})", t)
                db.execute("INSERT INTO tiles_rtree (id, west, east, south, north) VALUES (?, ?, ?, ?, ?)",
                           (cur.lastrowid, t[10], t[12], t[11], t[13]))
            db.executemany(f"INSERT INTO lineage ({_LINEAGE_SQL}) VALUES ({_marks(6)})", edge_rows)

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
               # the exact BBox.meets_cell / TimeRange.overlaps predicates, on the float64 and integer columns
               "AND ? < t.east AND ? >= t.west AND ? < t.north AND ? >= t.south",
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
