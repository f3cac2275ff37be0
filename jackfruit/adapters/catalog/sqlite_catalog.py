"""SQLite Catalog: WAL, foreign keys, an R*Tree index over space and time, one transaction per call; migrates itself
when opened (yoyo-migrations, ``_migrations.py``)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import date, datetime
import threading
from contextlib import contextmanager
from typing import Iterator, Sequence

from jackfruit.domain import runs
from jackfruit.domain.errors import BackendUnavailable, Conflict, NotFound
from jackfruit.domain.keys import check_run_id
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.model import registration, Dataset, IngestionRun, LineageEdge, RunStatus, Tile, partition_key

from . import _migrations, _rows
from ._run_model import RunModelOps, check_limit

#: The schema this jackfruit brings an SQLite catalog to: the newest of migrations/sqlite/ (also mirrored in
#: ``PRAGMA user_version``, which is all a jackfruit older than the migration tool reads).
SCHEMA_VERSION = max(_migrations.version_of(m) or 0 for m in _migrations.migration_ids("sqlite"))
# R*Tree keeps float32 boxes; widening the candidate query by far more than a float32 ulp at 180
# degrees (~1.5e-5) guarantees no true match is lost; the exact test then runs on the REAL columns.
RTREE_MARGIN = 1e-3
#: The R*Tree's time dimension counts whole hours since the epoch (migration 0003): a tile's valid span
#: ``[valid_start, valid_end]`` becomes ``[floor, ceil]`` in hours, which float32 holds exactly until the year 3884
#: (beyond, SQLite still rounds the stored box outwards); the exact test runs on the INTEGER microsecond columns.
HOUR_US = 3_600_000_000


def rtree_row(tile_id: int, row: tuple) -> tuple:
    """The ``tiles_rtree`` entry of the tile stored as ``tile_id`` from its row (``_rows.tile_row``): (id, west,
    east, south, north, first hour, last hour), the valid span rounded outwards to whole hours."""
    return (tile_id, row[10], row[12], row[11], row[13], row[7] // HOUR_US, -(-row[8] // HOUR_US))


_DATASET_SQL = ", ".join(_rows.DATASET_COLUMNS)
_RUN_SQL = ", ".join(_rows.RUN_COLUMNS)
_TILE_SQL = ", ".join(_rows.TILE_COLUMNS)
_TILE_T = ", ".join(f"t.{c}" for c in _rows.TILE_COLUMNS)
_LINEAGE_SQL = ", ".join(_rows.LINEAGE_COLUMNS)
_ORDER = "ORDER BY t.variable, t.model, t.level_m, t.reference_time, t.cell_id, t.key"
_MAX_US = (1 << 63) - 1
#: the currency rule's SQL (``_rows.currency_sql``): the parameter ``:known`` bounds publish time
_OUTRANKS, _CURRENT = _rows.currency_sql(":known", lambda column: f"CAST({column} AS INTEGER)")


def _partition_key(dataset: str, day: str, request: str) -> str:
    """``jackfruit_partition_key()`` of migration 0002: the domain's rule, never re-written in SQL."""
    return partition_key(dataset, date.fromisoformat(day), json.loads(request))


def _applied(db: sqlite3.Connection) -> tuple[str, ...]:
    exists = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        (_migrations.VERSION_TABLE,)).fetchone()
    if exists is None:
        return ()
    return tuple(m for (m,) in db.execute(f"SELECT migration_id FROM {_migrations.VERSION_TABLE}"))


def _migrate(db: sqlite3.Connection, where: str) -> _migrations.UpgradeReport:
    """Bring the catalog to SCHEMA_VERSION: the embedded catalog upgrades itself when it opens.

    A catalog made before the migration tool (``PRAGMA user_version`` 1 or 2, no version table) has the
    migrations up to that version recorded without running them, then the rest applied. Foreign keys must be
    off (a table rebuild); each migration checks them before it commits.
    """
    applied = _applied(db)
    legacy = db.execute("PRAGMA user_version").fetchone()[0]
    if not applied and legacy > SCHEMA_VERSION:
        raise BackendUnavailable(f"catalog {where} has schema {legacy}; this jackfruit knows schema {SCHEMA_VERSION}")
    known = _migrations.migration_ids("sqlite")
    state = _migrations.SchemaState(where, applied, known)
    state.refuse_newer()
    if not state.pending:
        return _migrations.UpgradeReport(where, state.current, state.current, ())

    def adopt(known_ids: tuple[str, ...]) -> tuple[str, ...]:
        version = db.execute("PRAGMA user_version").fetchone()[0]  # read again, under the migration lock
        return tuple(m for m in known_ids if (_migrations.version_of(m) or 0) <= version)

    db.create_function("jackfruit_partition_key", 3, _partition_key, deterministic=True)
    return _migrations.upgrade("sqlite", db, where, applied, adopt=adopt)


def _wal(db: sqlite3.Connection, timeout: float) -> None:
    """Switch to WAL, waiting up to ``timeout`` for processes opening the same new file at the same moment
    (SQLite answers this pragma "database is locked" at once, without its busy handler)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def upgrade_schema(path: str) -> _migrations.UpgradeReport:
    """``jackfruit db upgrade`` for the SQLite catalog (opening it does the same)."""
    catalog = SqliteCatalog(path)
    try:
        return catalog.upgrade_report
    finally:
        catalog.close()


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
            _wal(self._db, timeout)
            self._db.execute("PRAGMA foreign_keys = OFF")  # for a migration's table rebuild; on below
            with self._lock:
                self.upgrade_report = _migrate(self._db, path)
            self._db.execute("PRAGMA foreign_keys = ON")
        except (sqlite3.Error, BackendUnavailable) as err:
            if hasattr(self, "_db"):
                self._db.close()
            if isinstance(err, BackendUnavailable):
                raise
            raise BackendUnavailable(f"cannot open the catalog {path}: {err}") from err

    def __enter__(self) -> "SqliteCatalog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
            change = registration(None if old is None else _rows.dataset_of(tuple(old)), dataset)
            if change == "insert":
                db.execute(f"INSERT INTO datasets ({_DATASET_SQL}) VALUES ({_marks(len(row))})", row)
            elif change == "replace":
                db.execute(f"UPDATE datasets SET ({_DATASET_SQL}) = ({_marks(len(row))}) WHERE name = ?",
                           (*row, dataset.name))

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
                if db.execute("SELECT 1 FROM tiles WHERE run_id = ? AND transformation_version = ? LIMIT 1",
                              (run_id, new.transform_version)).fetchone():
                    raise Conflict(f"run {run_id} is already published under transformation version "
                                   f"{new.transform_version}; tiles are immutable")
                for t in tile_rows:
                    cur = db.execute(f"INSERT INTO tiles ({_TILE_SQL}) VALUES ({_marks(len(t))})", t)
                    db.execute("INSERT INTO tiles_rtree (id, west, east, south, north, first_hour, last_hour) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?)", rtree_row(cur.lastrowid, t))
                db.executemany(f"INSERT INTO lineage ({_LINEAGE_SQL}) VALUES ({_marks(6)})", edge_rows)
        return new

    def _claim_partition(self, candidate: IngestionRun, choose, count_in_flight: bool) -> IngestionRun:
        with self._tx(write=True) as db:  # a write transaction: claims are serialised
            if db.execute("SELECT 1 FROM datasets WHERE name = ?", (candidate.dataset,)).fetchone() is None:
                raise NotFound(f"dataset {candidate.dataset!r} is not registered")
            rows = db.execute(f"SELECT {_RUN_SQL} FROM ingestion_runs WHERE partition_key = ?",
                              (candidate.partition,)).fetchall()
            existing = [_rows.run_of(tuple(r)) for r in rows]
            open_rows = db.execute(f"SELECT {_RUN_SQL} FROM ingestion_runs WHERE source = ? AND status IN "
                                   "('pending', 'running')", (candidate.source,)).fetchall() if count_in_flight else []
            new = choose(existing, [_rows.run_of(tuple(r)) for r in open_rows])
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

    def partition_runs(self, partition: str) -> list[IngestionRun]:
        _rows.check_partition(partition)
        with self._tx() as db:
            rows = db.execute(f"SELECT {_RUN_SQL} FROM ingestion_runs WHERE partition_key = ? ORDER BY run_id",
                              (partition,)).fetchall()
        return [_rows.run_of(tuple(r)) for r in rows]

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
                   level_m: int | None = None, *, as_of: datetime | None = None,
                   history: bool = False, level_type: str | None = None) -> list[Tile]:
        m = RTREE_MARGIN
        start, end = _rows.to_micros(time_range.start), _rows.to_micros(time_range.end)
        # candidates from the R*Tree (space widened by the margin, time in whole hours: a tile starting before
        # ``end`` starts at or before the hour holding end - 1 us, and one ending at or after ``start`` ends at
        # or after the hour holding start), then the exact predicates
        # a box across the antimeridian is searched as its parts (BBox.search_parts): one R*Tree search each,
        # their ids united (a tile meeting two parts comes once)
        parts = bbox.search_parts()
        hours = [(end - 1) // HOUR_US, start // HOUR_US]
        search = " UNION ".join(["SELECT id FROM tiles_rtree WHERE west <= ? AND east >= ? AND south <= ? "
                                 "AND north >= ? AND first_hour <= ? AND last_hour >= ?"] * len(parts))
        sql = [f"SELECT {_TILE_T} FROM ({search}) r JOIN tiles t ON t.id = r.id",
               # the exact BBox.intersects / TimeRange.overlaps predicates, on the float64 and integer columns
               "WHERE (" + " OR ".join(["(? <= t.east AND ? >= t.west)"] * len(parts)) + ")",
               "AND ? <= t.north AND ? >= t.south",
               "AND t.valid_start < ? AND t.valid_end >= ?"]
        args: list = [v for p in parts for v in (p.east + m, p.west - m, p.north + m, p.south - m, *hours)]
        args += [v for p in parts for v in (p.west, p.east)] + [bbox.south, bbox.north, end, start]
        if variables is not None:
            names = list(variables)
            if not names:
                return []
            sql.append(f"AND t.variable IN ({_marks(len(names))})")
            args += names
        for column, value in (("dataset", dataset), ("model", model), ("level_m", level_m), ("level_type", level_type)):
            if value is not None:
                sql.append(f"AND t.{column} = ?")
                args.append(value)
        known = _MAX_US if as_of is None else _rows.to_micros(as_of)
        sql.append("AND t.published_at <= ?")
        args.append(known)
        if not history:  # the domain's currency rule (jackfruit.domain.currency), as a NOT EXISTS
            sql.append("AND " + _CURRENT.replace(":known", "?"))
            args += [known, known]
        with self._tx() as db:
            rows = db.execute(" ".join(sql + [_ORDER]), args).fetchall()
        # the domain's rule decides: SQL's predicates agree on these columns, and this keeps them agreeing
        return [t for t in map(_rows.tile_of, rows) if t.selected_by(bbox, time_range)]

    def superseded_tiles(self, *, before: datetime, limit: int | None = 1000) -> list[tuple[Tile, datetime]]:
        limit = check_limit(limit)
        sql = (f"SELECT * FROM (SELECT {_TILE_T}, (SELECT min(max(u.published_at, t.published_at)) FROM tiles u "
               f"WHERE {_OUTRANKS}) AS gone FROM tiles t WHERE t.removed_at IS NULL) "
               "WHERE gone IS NOT NULL AND gone <= :before ORDER BY gone, key LIMIT :limit")
        with self._tx() as db:
            rows = db.execute(sql, {"known": _MAX_US, "before": _rows.to_micros(before),
                                    "limit": -1 if limit is None else limit}).fetchall()
        return [(_rows.tile_of(tuple(r)[:-1]), _rows.from_micros(r[-1])) for r in rows]

    def _mark_tiles(self, keys, removal) -> list[Tile]:
        with self._tx(write=True) as db:
            for key in keys:
                row = db.execute(f"SELECT {_TILE_T} FROM tiles t WHERE t.key = ?", (key,)).fetchone()
                if row is None:
                    raise NotFound(f"tile {key} does not exist")
                current = db.execute(f"SELECT 1 FROM tiles t WHERE t.key = :key AND {_CURRENT}",
                                     {"key": key, "known": _MAX_US}).fetchone() is not None
                when = removal(_rows.tile_of(tuple(row)), current)
                if when is not None:
                    db.execute("UPDATE tiles SET removed_at = ? WHERE key = ?", (_rows.to_micros(when), key))
            rows = [db.execute(f"SELECT {_TILE_T} FROM tiles t WHERE t.key = ?", (k,)).fetchone() for k in keys]
        return [_rows.tile_of(tuple(r)) for r in rows]

    def lineage(self, *, raw_key: str | None = None, tile_key: str | None = None) -> list[LineageEdge]:
        with self._tx() as db:
            rows = db.execute(f"SELECT {_LINEAGE_SQL} FROM lineage WHERE (?1 IS NULL OR raw_key = ?1) "
                              "AND (?2 IS NULL OR tile_key = ?2) ORDER BY raw_key, tile_key",
                              (raw_key, tile_key)).fetchall()
        return [_rows.lineage_of(r) for r in rows]
