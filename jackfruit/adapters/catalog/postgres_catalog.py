"""PostgreSQL + PostGIS Catalog (psycopg 3 and a ``psycopg_pool.ConnectionPool``): SqliteCatalog's semantics for
a catalog that many processes and hosts share.

Schema: ``migrations/postgres/`` (applied by ``jackfruit db upgrade``, never implicitly: a database at an older
schema is refused until it is upgraded, one at a newer schema always). The rules are the domain's: every port
operation is one transaction around one of the three primitives of ``_run_model.py``, rows are (de)serialised by
``_rows.py``; the database adds its own line of defence (constraints, and a trigger on status transitions and
recorded facts, see the migration), never a second definition the code relies on.

**Why claims are race-free** — READ COMMITTED transactions with explicit row locks, no SERIALIZABLE retries:

- a claim of a partition first makes sure the partition's row exists (``INSERT … ON CONFLICT DO NOTHING``) and
  locks it (``SELECT … FOR UPDATE``), then locks and reads every run of the partition (``FOR UPDATE``), applies
  ``runs.claim_ingest`` and writes. A second claimant blocks on that row until the first commits; its next
  statement then sees the first's committed run, and the domain refuses it (``Conflict`` naming the holder) —
  exactly the SQLite catalog's behaviour, where ``BEGIN IMMEDIATE`` serialises writers;
- every other write of a run (renew, record the job, succeed, fail, claim its transformation, publish, …)
  locks that run's row first (``SELECT … FOR UPDATE``) and reads its attempts after the lock is granted, so
  it always applies the rule to the newest committed state; revoke and reap lock the open runs in run-id
  order (claims also lock runs in run-id order, so the two never deadlock);
- behind the locks the schema keeps the invariants anyway: one open run per partition (a partial unique
  index), one attempt per (run, kind, epoch), unique run ids, raw keys and tile keys.

SERIALIZABLE would detect the same races but abort one side, to be retried; locks make the loser wait a few
milliseconds and then get the domain's own answer. A deadlock or serialisation failure (none is expected) is
retried twice, then reported as ``BackendUnavailable``.

Reads that take more than one statement run in a ``REPEATABLE READ, READ ONLY`` transaction (one snapshot).

Errors: unique, foreign-key, check and trigger violations are ``Conflict``; a value PostgreSQL cannot hold
(text with NUL characters, an out-of-range number) is ``InvalidInput``; everything else psycopg or the pool
raise (no connection, a lost one, a closed pool) is ``BackendUnavailable`` naming ``host:port/dbname`` — never
the password. No psycopg exception crosses the port.

Prepared statements: psycopg prepares each statement server-side on a connection once it has run
``prepare_threshold`` times there (0: at once; ``None``: never, e.g. behind a transaction-pooling PgBouncer
older than 1.21).

Waiting for the database: a call waits at most ``pool_timeout_s`` for a pooled connection, and that budget is
shared by every call (``_wait_budget.WaitBudget``) from the start of the first one that failed, or still waits,
until a call succeeds again: a command that makes many calls while the database is gone gives up within
``pool_timeout_s`` in total, not per call (once the budget is spent a call still takes a connection the pool has
ready, without waiting).

psycopg_pool logs each failed connection attempt as a warning on the ``psycopg.pool`` logger; this library
leaves logging to its host (the CLI shows those records only with JACKFRUIT_DEBUG=1; README says how another
host quietens them).

Pooled connections: one last used less than ``ALIVE_BYPASS_S`` ago is handed out as it is (as HikariCP's
``aliveBypassWindowMs``); an older one first answers an empty statement, and one that fails is replaced before the
call uses it (a server restart or an idle timeout in between is not an error). Checking every checkout cost two
round trips per call, most of what the API added to a serving query (bench/catalog.py, docs/adr/0008); a
connection that died within the window fails that one call (``BackendUnavailable``) and is discarded.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Sequence, TypeVar

import psycopg
import psycopg_pool
from psycopg.types.string import TextLoader

from jackfruit.domain import runs
from jackfruit.domain.errors import BackendUnavailable, Conflict, InvalidInput, JackfruitError, NotFound
from jackfruit.domain.geo import BBox, TimeRange, utc
from jackfruit.domain.keys import check_run_id
from jackfruit.domain.model import (registration, NEXT_STATUS, NEXT_TRANSFORM, Dataset, IngestionRun, LineageEdge, RunStatus,
                                    Tile)

from . import _migrations, _rows
from ._wait_budget import WaitBudget
from ._run_model import RunModelOps, check_limit

T = TypeVar("T")

#: The GiST index keeps float32 boxes rounded outwards; the candidate box is widened by far more than a float32
#: ulp at 180 degrees anyway, and the exact predicates run on the float64 columns (and again in Python).
INDEX_MARGIN = 1e-3
_RETRIES = 3
#: Pooled connections used this recently skip the liveness check on checkout (see the module docstring).
ALIVE_BYPASS_S = 0.5

_RUN_COLS = _rows.RUN_COLUMNS[:-1]  # attempts live in their own table
_RUN_SQL = ", ".join(_RUN_COLS)
_DATASET_SQL = ", ".join(_rows.DATASET_COLUMNS)
_ATTEMPT_SQL = ", ".join(_rows.ATTEMPT_COLUMNS)
_LINEAGE_SQL = ", ".join(_rows.LINEAGE_COLUMNS)
_TILE_T = ("t.key, t.run_id, t.dataset, t.model, t.variable, t.level_m, t.reference_time, lower(t.valid), "
           "upper(t.valid), t.cell_id, t.west, t.south, t.east, t.north, t.steps, t.ny, t.nx, t.size, t.sha256, "
           "t.transformation_version, t.published_at, t.removed_at, t.level_type")
_ORDER = "ORDER BY t.variable, t.model, t.level_m, t.reference_time, t.cell_id, t.key"
#: the currency rule's SQL (``_rows.currency_sql``): the parameter ``%(known)s`` bounds publish time
_OUTRANKS, _CURRENT = _rows.currency_sql("%(known)s", lambda column: f"{column}::bigint")
_FOREVER = datetime(9999, 12, 31, tzinfo=timezone.utc)


def _marks(n: int) -> str:
    return ", ".join(["%s"] * n)


_RUN_INSERT = f"INSERT INTO ingestion_runs ({_RUN_SQL}) VALUES ({_marks(len(_RUN_COLS))})"
_RUN_UPDATE = (f"UPDATE ingestion_runs SET {', '.join(f'{c} = %s' for c in _RUN_COLS[1:])} WHERE run_id = %s")
_ATTEMPT_INSERT = (f"INSERT INTO attempts (run_id, seq, {_ATTEMPT_SQL}) "
                   f"VALUES ({_marks(2 + len(_rows.ATTEMPT_COLUMNS))})")
_ATTEMPT_UPDATE = "UPDATE attempts SET expires_at = %s, ended_at = %s, outcome = %s WHERE run_id = %s AND seq = %s"
_TILE_INSERT = ("INSERT INTO tiles (key, run_id, dataset, model, variable, level_m, reference_time, valid, cell_id, "
                "west, south, east, north, steps, ny, nx, size, sha256, transformation_version, published_at, "
                "removed_at, level_type) VALUES (%s, %s, %s, %s, %s, %s, %s, tstzrange(%s, %s, '[]'), %s, %s, %s, %s, "
                "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
_OPEN = "status IN ('pending', 'running') OR transform_status = 'transforming'"


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


class _Database:
    """Connection settings of one database, and the translation of its errors into the port's."""

    def __init__(self, host: str, port: int, user: str, password: str | None, dbname: str,
                 connect_timeout_s: float, application_name: str, sslmode: str | None = None,
                 sslrootcert: str | None = None) -> None:
        self.where = f"{host}:{port}/{dbname}"
        self.user = user
        self._password = password or None
        self.kwargs: dict[str, Any] = {
            "host": host, "port": int(port), "user": user, "dbname": dbname,
            "connect_timeout": max(2, int(round(connect_timeout_s))), "application_name": application_name,
            # times come back in UTC; they are converted to UTC datetimes either way
            "options": "-c TimeZone=UTC",
        }
        if password:
            self.kwargs["password"] = password
        # TLS (libpq's sslmode / sslrootcert); unset: libpq's defaults
        self.kwargs.update({k: v for k, v in (("sslmode", sslmode), ("sslrootcert", sslrootcert)) if v})

    def scrub(self, text: str) -> str:
        """Defence in depth: libpq never echoes a password, and neither does any message of ours."""
        return text.replace(self._password, "***") if self._password else text

    def error(self, err: BaseException) -> JackfruitError:
        text = self.scrub(_one_line(err))
        if isinstance(err, psycopg_pool.PoolClosed):
            return BackendUnavailable(f"catalog {self.where} is closed")
        if isinstance(err, psycopg_pool.PoolTimeout):
            return BackendUnavailable(f"catalog {self.where}: no database connection became available: {text}")
        if isinstance(err, psycopg.IntegrityError):
            return Conflict(f"catalog constraint violated: {text}")
        if isinstance(err, psycopg.DataError):
            return InvalidInput(f"the catalog database cannot store a value: {text}")
        if isinstance(err, (psycopg.OperationalError, psycopg.InterfaceError)):
            return BackendUnavailable(f"catalog {self.where} unavailable: {text}")
        return BackendUnavailable(f"catalog {self.where} failed: {text}")

    def connect(self) -> psycopg.Connection:
        """One direct connection (autocommit, nothing prepared): start-up checks and migrations."""
        try:
            return psycopg.connect(autocommit=True, prepare_threshold=None, **self.kwargs)
        except psycopg.Error as err:
            raise BackendUnavailable(f"cannot connect to the catalog database {self.where} as {self.user}: "
                                     f"{self.scrub(_one_line(err))}") from err


def _applied(conn: psycopg.Connection) -> tuple[str, ...]:
    if conn.execute("SELECT to_regclass(%s::text)", (_migrations.VERSION_TABLE,)).fetchone()[0] is None:
        return ()
    return tuple(m for (m,) in conn.execute(f"SELECT migration_id FROM {_migrations.VERSION_TABLE}"))


def _domain_transitions() -> set[tuple[str, str, str]]:
    return ({("status", a.value, b.value) for a, nexts in NEXT_STATUS.items() for b in nexts}
            | {("transform", a.value, b.value) for a, nexts in NEXT_TRANSFORM.items() for b in nexts})


def _check_schema(conn: psycopg.Connection, where: str) -> None:
    state = _migrations.SchemaState(where, _applied(conn), _migrations.migration_ids("postgres"))
    state.refuse_newer()
    state.refuse_older()
    stored = {tuple(r) for r in conn.execute("SELECT machine, from_state, to_state FROM run_transitions")}
    if stored != _domain_transitions():
        raise BackendUnavailable(f"catalog {where}: the status transitions the database enforces (run_transitions) "
                                 "differ from this jackfruit's run model; the schema was changed outside the "
                                 "migrations")


def upgrade_schema(*, host: str, port: int = 5432, user: str, password: str | None, dbname: str,
                   connect_timeout_s: float = 10.0, sslmode: str | None = None,
                   sslrootcert: str | None = None) -> _migrations.UpgradeReport:
    """``jackfruit db upgrade``: apply the pending migrations (none: a no-op); a newer database is refused."""
    db = _Database(host, port, user, password, dbname, connect_timeout_s, "jackfruit db upgrade", sslmode, sslrootcert)
    with db.connect() as conn:
        try:
            return _migrations.upgrade("postgres", conn, db.where, _applied(conn))
        except psycopg.Error as err:
            raise db.error(err) from err


def _configure(conn: psycopg.Connection) -> None:
    conn.autocommit = True  # transactions are explicit (conn.transaction())
    # json columns come back as the exact text stored (what _rows reads), not parsed
    conn.adapters.register_loader("json", TextLoader)


def _check(conn: psycopg.Connection) -> None:
    """The pool's ``check`` on checkout: a connection last used (``_run``) within ``ALIVE_BYPASS_S`` is taken as
    alive; another must answer an empty statement, sent unprepared (with ``prepare_threshold=0`` psycopg would
    prepare the empty statement on every check and never keep it: two round trips). Not the pool's ``reset``
    callback to note the time: with one, the pool hands every returned connection to a worker thread."""
    if time.monotonic() - getattr(conn, "_jackfruit_used", float("-inf")) < ALIVE_BYPASS_S:
        return
    if conn.autocommit:
        conn.execute("", prepare=False)
    else:
        psycopg_pool.ConnectionPool.check_connection(conn)


def _any(conditions: list[str]) -> str:
    """One condition as is; several OR-ed (a box across the antimeridian: one per part of it)."""
    return conditions[0] if len(conditions) == 1 else "(" + " OR ".join(f"({c})" for c in conditions) + ")"


class PostgresCatalog(RunModelOps):
    """The catalog on a PostgreSQL + PostGIS server; see the module docstring for transactions and errors.

    A resource: ``close()`` (or ``with``) closes the pool; the container closes it with the app.
    """

    def __init__(self, *, host: str, port: int = 5432, user: str, password: str | None, dbname: str,
                 min_size: int = 1, max_size: int = 8, connect_timeout_s: float = 10.0,
                 pool_timeout_s: float = 30.0, prepare_threshold: int | None = 0,
                 application_name: str = "jackfruit", sslmode: str | None = None,
                 sslrootcert: str | None = None) -> None:
        self._db = _Database(host, port, user, password, dbname, connect_timeout_s, application_name, sslmode,
                             sslrootcert)
        self._closed = threading.Event()
        self._budget = WaitBudget(pool_timeout_s)
        # one direct connection first: an unreachable server or a wrong schema fails here, at once
        with self._db.connect() as conn:
            try:
                _check_schema(conn, self._db.where)
            except psycopg.Error as err:
                raise self._db.error(err) from err
        self._pool = psycopg_pool.ConnectionPool(
            "", kwargs={**self._db.kwargs, "prepare_threshold": prepare_threshold}, min_size=min_size,
            max_size=max_size, open=False, configure=_configure, check=_check,
            timeout=pool_timeout_s, name=f"jackfruit-catalog-{self._db.where}")
        self._pool.open(wait=False)

    @property
    def where(self) -> str:
        """``host:port/dbname``."""
        return self._db.where

    def __repr__(self) -> str:
        return f"PostgresCatalog({self._db.where})"

    def close(self) -> None:
        """Close the pool and its connections (idempotent); later calls are ``BackendUnavailable``."""
        self._closed.set()
        self._pool.close()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def __enter__(self) -> "PostgresCatalog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions
    def _run(self, body: Callable[[psycopg.Connection], T], *, tx: str = "write") -> T:
        """``body`` on a pooled connection: ``write`` in one READ COMMITTED transaction, ``snapshot`` in a
        REPEATABLE READ READ ONLY one, ``single`` (one statement) as it is. psycopg errors never escape."""
        for attempt in range(_RETRIES):
            token, started, wait_s = self._budget.begin()
            try:
                with self._pool.connection(timeout=wait_s) as conn:
                    self._budget.connected(token)
                    try:
                        if tx == "single":
                            result = body(conn)
                        else:
                            with conn.transaction():
                                if tx == "snapshot":
                                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                                                 prepare=False)
                                result = body(conn)
                    finally:
                        conn._jackfruit_used = time.monotonic()  # type: ignore[attr-defined]  # see _check
                self._budget.succeeded()
                return result
            except JackfruitError:  # the database answered; the rule refused
                self._budget.succeeded()
                raise
            except psycopg.errors.TransactionRollback as err:  # deadlock or serialisation failure: redo it all
                if attempt == _RETRIES - 1:
                    raise self._db.error(err) from err
            except (psycopg_pool.PoolTimeout, psycopg.OperationalError, psycopg.InterfaceError) as err:
                self._budget.failed(started)  # the database is gone (or every connection busy)
                raise self._db.error(err) from err
            except psycopg.Error as err:
                raise self._db.error(err) from err
            finally:
                self._budget.connected(token)
        raise AssertionError("unreachable")

    # -- datasets
    def add_dataset(self, dataset: Dataset) -> None:
        row = _rows.dataset_row(dataset)

        def body(conn: psycopg.Connection) -> None:
            # insert-or-nothing first: two processes registering the same dataset at once both succeed
            conn.execute(f"INSERT INTO datasets ({_DATASET_SQL}) VALUES ({_marks(len(row))}) "
                         "ON CONFLICT (name) DO NOTHING", row)
            old = conn.execute(f"SELECT {_DATASET_SQL} FROM datasets WHERE name = %s FOR UPDATE",
                               (dataset.name,)).fetchone()
            if registration(_rows.dataset_of(tuple(old)), dataset) == "replace":
                conn.execute(f"UPDATE datasets SET ({_DATASET_SQL}) = ({_marks(len(row))}) WHERE name = %s",
                             (*row, dataset.name))

        self._run(body)

    def get_dataset(self, name: str) -> Dataset:
        row = self._run(lambda conn: conn.execute(f"SELECT {_DATASET_SQL} FROM datasets WHERE name = %s",
                                                  (name,)).fetchone(), tx="single")
        if row is None:
            raise NotFound(f"dataset {name!r} is not registered")
        return _rows.dataset_of(tuple(row))

    def list_datasets(self) -> list[Dataset]:
        rows = self._run(lambda conn: conn.execute(f"SELECT {_DATASET_SQL} FROM datasets ORDER BY name").fetchall(),
                         tx="single")
        return [_rows.dataset_of(tuple(r)) for r in rows]

    # -- runs as rows
    @staticmethod
    def _runs(conn: psycopg.Connection, tail: str, args: Sequence[Any] = ()) -> list[IngestionRun]:
        """Runs selected by ``tail`` (WHERE … ORDER BY … [LIMIT] [FOR UPDATE]) with their attempts, read after
        the run rows (and so after their locks)."""
        rows = conn.execute(f"SELECT {_RUN_SQL} FROM ingestion_runs {tail}", args).fetchall()
        if not rows:
            return []
        attempts: dict[str, list] = {r[0]: [] for r in rows}
        for run_id, *a in conn.execute(f"SELECT run_id, {_ATTEMPT_SQL} FROM attempts WHERE run_id = ANY(%s) "
                                       "ORDER BY run_id, seq", ([r[0] for r in rows],)):
            attempts[run_id].append(_rows.attempt_of(tuple(a)))
        return [_rows.run_of(tuple(r) + (attempts[r[0]],)) for r in rows]

    @staticmethod
    def _values(run: IngestionRun) -> tuple:
        """The run's row (``run_row``'s checks and encoding), times as datetimes, without the attempts JSON."""
        return _rows.with_datetimes(_rows.RUN_COLUMNS, _rows.run_row(run), _rows.RUN_TIMES)[:-1]

    def _write(self, conn: psycopg.Connection, old: IngestionRun | None, new: IngestionRun) -> None:
        row = self._values(new)
        if old is None:
            # run_id and raw_key are unique: a reuse is a UniqueViolation, reported as Conflict
            conn.execute(_RUN_INSERT, row)
        else:
            runs.check_change(old, new)
            if row != self._values(old):
                conn.execute(_RUN_UPDATE, row[1:] + (new.run_id,))
        before = old.attempts if old is not None else ()
        for seq, a in enumerate(new.attempts):
            if seq >= len(before):
                conn.execute(_ATTEMPT_INSERT, (new.run_id, seq) + _rows.attempt_row(a))
            elif a != before[seq]:
                r = _rows.attempt_row(a)
                conn.execute(_ATTEMPT_UPDATE, (r[5], r[6], r[7], new.run_id, seq))

    # -- run-model primitives (see _run_model.py)
    def _mutate(self, run_id: str, change, publish_rows=None) -> IngestionRun:
        check_run_id(run_id)

        def body(conn: psycopg.Connection) -> IngestionRun:
            found = self._runs(conn, "WHERE run_id = %s FOR UPDATE", (run_id,))
            if not found:
                raise NotFound(f"run {run_id} does not exist")
            old = found[0]
            new = change(old)
            self._write(conn, old, new)
            if publish_rows is not None:
                self._insert_published(conn, new, *publish_rows)
            return new

        return self._run(body)

    @staticmethod
    def _insert_published(conn: psycopg.Connection, run: IngestionRun, tile_rows: list[tuple],
                          edge_rows: list[tuple]) -> None:
        if conn.execute("SELECT 1 FROM tiles WHERE run_id = %s AND transformation_version = %s LIMIT 1",
                        (run.run_id, run.transform_version)).fetchone():
            raise Conflict(f"run {run.run_id} is already published under transformation version "
                           f"{run.transform_version}; tiles are immutable")
        values = [_rows.with_datetimes(_rows.TILE_COLUMNS, t, _rows.TILE_TIMES) for t in tile_rows]
        with conn.cursor() as cur:
            if values:
                cur.executemany(_TILE_INSERT, values)
            if edge_rows:
                cur.executemany(f"INSERT INTO lineage ({_LINEAGE_SQL}) VALUES ({_marks(6)})", edge_rows)

    def _claim_partition(self, candidate: IngestionRun, choose, count_in_flight: bool) -> IngestionRun:
        key = candidate.partition

        def body(conn: psycopg.Connection) -> IngestionRun:
            if conn.execute("SELECT 1 FROM datasets WHERE name = %s", (candidate.dataset,)).fetchone() is None:
                raise NotFound(f"dataset {candidate.dataset!r} is not registered")
            open_of_source: list[IngestionRun] = []
            if count_in_flight:
                # claims of one source under a cap take turns (a transaction-scoped advisory lock), so two
                # claimants of different partitions cannot both see room for one more
                conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('jackfruit-in-flight:' || %s, 0))",
                             (candidate.source,))
                open_of_source = self._runs(conn, "WHERE source = %s AND status IN ('pending', 'running')",
                                            (candidate.source,))
            # the partition's row is the claim's lock, also while the partition has no run yet
            conn.execute("INSERT INTO partitions (partition_key, dataset, partition_date) VALUES (%s, %s, %s) "
                         "ON CONFLICT (partition_key) DO NOTHING",
                         (key, candidate.dataset, candidate.partition_date))
            conn.execute("SELECT 1 FROM partitions WHERE partition_key = %s FOR UPDATE", (key,))
            existing = self._runs(conn, "WHERE partition_key = %s ORDER BY run_id FOR UPDATE", (key,))
            new = choose(existing, open_of_source)
            self._write(conn, next((r for r in existing if r.run_id == new.run_id), None), new)
            return new

        return self._run(body)

    def _mutate_open(self, change) -> list[IngestionRun]:
        def body(conn: psycopg.Connection) -> list[IngestionRun]:
            changed = []
            for old in self._runs(conn, f"WHERE {_OPEN} ORDER BY run_id FOR UPDATE"):
                new = change(old)
                if new != old:
                    self._write(conn, old, new)
                    changed.append(new)
            return changed

        return self._run(body)

    # -- queries
    def get_run(self, run_id: str) -> IngestionRun:
        check_run_id(run_id)
        found = self._run(lambda conn: self._runs(conn, "WHERE run_id = %s", (run_id,)), tx="snapshot")
        if not found:
            raise NotFound(f"run {run_id} does not exist")
        return found[0]

    def partition_runs(self, partition: str) -> list[IngestionRun]:
        _rows.check_partition(partition)
        return self._run(lambda conn: self._runs(conn, "WHERE partition_key = %s ORDER BY run_id", (partition,)),
                         tx="snapshot")

    def list_runs(self, dataset: str | None = None, status: RunStatus | None = None,
                  limit: int | None = 100) -> list[IngestionRun]:
        limit = check_limit(limit)
        where, args = [], []
        if dataset is not None:
            where.append("dataset = %s")
            args.append(dataset)
        if status is not None:
            where.append("status = %s")
            args.append(RunStatus(status).value)
        tail = (f"WHERE {' AND '.join(where)} " if where else "") + "ORDER BY created_at DESC, run_id DESC"
        if limit is not None:
            tail += " LIMIT %s"
            args.append(limit)
        return self._run(lambda conn: self._runs(conn, tail, args), tx="snapshot")

    def tiles_of_run(self, run_id: str) -> list[Tile]:
        rows = self._run(lambda conn: conn.execute(f"SELECT {_TILE_T} FROM tiles t WHERE t.run_id = %s {_ORDER}",
                                                   (run_id,)).fetchall(), tx="single")
        return [_rows.tile_of(tuple(r)) for r in rows]

    def find_tiles(self, bbox: BBox, time_range: TimeRange, variables: Sequence[str] | None = None,
                   dataset: str | None = None, model: str | None = None,
                   level_m: int | None = None, *, as_of: datetime | None = None,
                   history: bool = False, level_type: str | None = None) -> list[Tile]:
        m = INDEX_MARGIN
        # candidates from the GiST index (extent && box, valid && window), then the exact predicates on the
        # float64 columns; BBox.intersects / TimeRange.overlaps in Python are the last word (see below)
        # a box across the antimeridian is searched as its parts (BBox.search_parts), OR-ed: one scan of the
        # index per part (a bitmap OR), each tile once
        parts = bbox.search_parts()
        sql = [f"SELECT {_TILE_T} FROM tiles t",
               "WHERE " + _any(["t.extent && ST_MakeEnvelope(%s, %s, %s, %s, 4326)"] * len(parts)),
               "AND t.valid && tstzrange(%s, %s, '[)')",
               "AND " + _any(["%s <= t.east AND %s >= t.west"] * len(parts)),
               "AND %s <= t.north AND %s >= t.south"]
        args: list[Any] = [v for p in parts for v in (p.west - m, p.south - m, p.east + m, p.north + m)]
        args += [time_range.start, time_range.end] + [v for p in parts for v in (p.west, p.east)]
        args += [bbox.south, bbox.north]
        if variables is not None:
            names = list(variables)
            if not names:
                return []
            if len(names) == 1:
                sql.append("AND t.variable = %s")
                args.append(names[0])
            else:
                sql.append("AND t.variable = ANY(%s)")
                args.append(names)
        # level as bigint, the column's type: psycopg sends a small int as smallint, and btree_gist has no
        # bigint = smallint operator, so the index could not search by level
        for column, value, cast in (("dataset", dataset, ""), ("model", model, ""), ("level_m", level_m, "::bigint"),
                                    ("level_type", level_type, "")):
            if value is not None:
                sql.append(f"AND t.{column} = %s{cast}")
                args.append(value)
        known = _FOREVER if as_of is None else utc(as_of)
        if as_of is not None:
            sql.append("AND t.published_at <= %s")
            args.append(known)
        if not history:  # the domain's currency rule (jackfruit.domain.currency), as a NOT EXISTS
            sql.append("AND " + _CURRENT.replace("%(known)s", "%s"))
            args += [known, known]
        rows = self._run(lambda conn: conn.execute(" ".join(sql + [_ORDER]), args).fetchall(), tx="single")
        tiles = [_rows.tile_of(tuple(r)) for r in rows]
        # the domain's rule decides: SQL's predicates agree on these columns, and this keeps them agreeing
        return [t for t in tiles if t.selected_by(bbox, time_range)]

    def superseded_tiles(self, *, before: datetime, limit: int | None = 1000) -> list[tuple[Tile, datetime]]:
        limit = check_limit(limit)
        sql = (f"SELECT * FROM (SELECT {_TILE_T}, (SELECT min(greatest(u.published_at, t.published_at)) "
               f"FROM tiles u WHERE {_OUTRANKS}) AS gone FROM tiles t WHERE t.removed_at IS NULL) AS s "
               "WHERE gone <= %(before)s ORDER BY gone, key" + ("" if limit is None else " LIMIT %(limit)s"))
        rows = self._run(lambda conn: conn.execute(sql, {"known": _FOREVER, "before": utc(before),
                                                         "limit": limit}).fetchall(), tx="single")
        return [(_rows.tile_of(tuple(r)[:-1]), utc(r[-1])) for r in rows]

    def _mark_tiles(self, keys, removal) -> list[Tile]:
        def body(conn: psycopg.Connection) -> list[Tile]:
            out = []
            for key in keys:
                row = conn.execute(f"SELECT {_TILE_T} FROM tiles t WHERE t.key = %s FOR UPDATE", (key,)).fetchone()
                if row is None:
                    raise NotFound(f"tile {key} does not exist")
                current = conn.execute(f"SELECT 1 FROM tiles t WHERE t.key = %(key)s AND {_CURRENT}",
                                       {"key": key, "known": _FOREVER}).fetchone() is not None
                when = removal(_rows.tile_of(tuple(row)), current)
                if when is not None:
                    conn.execute("UPDATE tiles SET removed_at = %s WHERE key = %s", (when, key))
                    row = conn.execute(f"SELECT {_TILE_T} FROM tiles t WHERE t.key = %s", (key,)).fetchone()
                out.append(_rows.tile_of(tuple(row)))
            return out

        return self._run(body)

    def lineage(self, *, raw_key: str | None = None, tile_key: str | None = None) -> list[LineageEdge]:
        where, args = [], []
        for column, value in (("raw_key", raw_key), ("tile_key", tile_key)):
            if value is not None:
                where.append(f"{column} = %s")
                args.append(value)
        sql = (f"SELECT {_LINEAGE_SQL} FROM lineage " + (f"WHERE {' AND '.join(where)} " if where else "")
               + "ORDER BY raw_key, tile_key")
        rows = self._run(lambda conn: conn.execute(sql, args).fetchall(), tx="single")
        return [_rows.lineage_of(tuple(r)) for r in rows]
