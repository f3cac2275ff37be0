"""Schema migrations of the SQL catalogs: plain SQL files, one folder per database, applied by this module.

``migrations/postgres/NNNN.name.sql`` and ``migrations/sqlite/NNNN.name.sql`` (package data). A migration's
number is the schema version it brings the database to; migration ids differ between the folders.

Applied migrations are recorded in ``jackfruit_schema_migrations`` (one row per migration: the SHA-256 of its
id, the id, when), each run logged in ``jackfruit_schema_log``; ``jackfruit_schema_tool_version`` holds the
layout of these tables (2). The layout is the one yoyo-migrations 9 made, which applied them before, so
catalogs migrated then carry on unchanged (docs/adr/0011-own-migration-runner.md says why yoyo went).
Never ``alembic_version``, which Dagster's storage uses: a database shared with Dagster keeps the two
histories apart.

Each migration is applied **and recorded in one transaction**, and that transaction first takes the
database's migration lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock) and
re-reads what is applied: two processes upgrading at once apply each migration once, and a kill leaves the
database before or after a migration, never half-way or applied-but-unrecorded (a lock dies with its
transaction: nothing to break by hand).
"""

from __future__ import annotations

import getpass
import hashlib
import os
import re
import socket
import sqlite3
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from typing import Any, Callable, Iterator

from jackfruit.domain.errors import BackendUnavailable

VERSION_TABLE = "jackfruit_schema_migrations"
LOG_TABLE = "jackfruit_schema_log"
TOOL_TABLE = "jackfruit_schema_tool_version"  # the layout version of these tables
TOOL_LAYOUT = 2
#: PostgreSQL advisory lock key held by every migration transaction (any constant unique to jackfruit)
PG_LOCK_KEY = 0x6A61636B66727574  # "jackfrut"
_ID = re.compile(r"(\d{4})\.[a-z0-9-]+")


def migration_ids(kind: str) -> tuple[str, ...]:
    """The ids (file names without ``.sql``) of the migrations shipped for ``kind``, oldest first."""
    folder = resources.files(__package__).joinpath("migrations", kind)
    ids = sorted(f.name[:-4] for f in folder.iterdir() if f.name.endswith(".sql"))
    for mid in ids:
        if not _ID.fullmatch(mid):
            raise AssertionError(f"migration {kind}/{mid}.sql is not named NNNN.name.sql")
    return tuple(ids)


def version_of(migration_id: str) -> int | None:
    m = _ID.fullmatch(migration_id)
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class SchemaState:
    """What a database has applied against what this jackfruit ships."""

    where: str
    applied: tuple[str, ...]
    known: tuple[str, ...]

    @property
    def latest(self) -> int:
        return max((version_of(m) or 0 for m in self.known), default=0)

    @property
    def current(self) -> int:
        return max((version_of(m) or 0 for m in self.applied if m in self.known), default=0)

    @property
    def unknown(self) -> tuple[str, ...]:
        return tuple(m for m in self.applied if m not in self.known)

    @property
    def pending(self) -> tuple[str, ...]:
        return tuple(m for m in self.known if m not in self.applied)

    def refuse_newer(self) -> None:
        """A database some newer jackfruit migrated is never opened (nor migrated) by this one."""
        if self.unknown:
            versions = [version_of(m) for m in self.unknown]
            newest = max((v for v in versions if v is not None), default=self.latest + 1)
            raise BackendUnavailable(
                f"catalog {self.where} has schema {newest} (migrations {', '.join(self.unknown)} are unknown "
                f"here); this jackfruit knows schema {self.latest}: use a jackfruit at least as new as the "
                "database")

    def refuse_older(self) -> None:
        """PostgreSQL is never migrated implicitly: an operator runs ``jackfruit db upgrade``."""
        if self.pending:
            raise BackendUnavailable(
                f"catalog {self.where} has schema {self.current}; this jackfruit needs schema {self.latest} "
                f"(pending: {', '.join(self.pending)}): run `jackfruit db upgrade`")


@dataclass(frozen=True)
class UpgradeReport:
    catalog: str
    from_version: int
    to_version: int
    applied: tuple[str, ...]
    adopted: tuple[str, ...] = ()  # recorded, not run: a catalog made before the migration tool

    def lines(self) -> list[str]:
        out = [f"adopted {m} (made before the migration tool)" for m in self.adopted]
        out += [f"applied {m}" for m in self.applied]
        if self.applied or self.adopted:
            out.append(f"catalog {self.catalog}: schema {self.from_version} -> {self.to_version}")
        else:
            out.append(f"catalog {self.catalog}: schema {self.to_version}, up to date")
        return out


def migration_hash(migration_id: str) -> str:
    """The version table's key of a migration: the SHA-256 of its id (as yoyo-migrations recorded it)."""
    return hashlib.sha256(migration_id.encode("utf-8")).hexdigest()


def migration_sql(kind: str, migration_id: str) -> str:
    return resources.files(__package__).joinpath("migrations", kind, f"{migration_id}.sql").read_text("utf-8")


def sqlite_statements(sql: str) -> list[str]:
    """The statements of a script, split where SQLite's own parser says a statement is complete
    (``sqlite3.complete_statement``: semicolons in strings, comments and trigger bodies do not end one).
    Comment-only text between statements is dropped; an unfinished statement at the end is an error."""
    out, start = [], 0
    for end in (i + 1 for i, c in enumerate(sql) if c == ";"):
        if sqlite3.complete_statement(sql[start:end]):
            out.append(sql[start:end])
            start = end
    rest = "\n".join(line for line in sql[start:].splitlines() if not line.strip().startswith("--")).strip()
    if rest:
        raise ValueError(f"unfinished SQL statement at the end of the migration: {rest[:80]!r}")
    return out


_TABLES = (
    f"CREATE TABLE IF NOT EXISTS {TOOL_TABLE} (version INT NOT NULL PRIMARY KEY, installed_at_utc TIMESTAMP)",
    f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (migration_hash VARCHAR(64), migration_id VARCHAR(255), "
    "applied_at_utc TIMESTAMP, PRIMARY KEY (migration_hash))",
    f"CREATE TABLE IF NOT EXISTS {LOG_TABLE} (id VARCHAR(36), migration_hash VARCHAR(64), "
    "migration_id VARCHAR(255), operation VARCHAR(10), username VARCHAR(255), hostname VARCHAR(255), "
    "comment VARCHAR(255), created_at_utc TIMESTAMP, PRIMARY KEY (id))",
)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in the environment or the passwd database
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


class _Runner:
    """One database's side of the runner: its transaction with the migration lock, its placeholders, how
    it runs a migration's script, and its checks before a migration is recorded."""

    mark = "?"

    def __init__(self, kind: str, connection: Any, where: str) -> None:
        self.kind, self.conn, self.where = kind, connection, where

    def now(self) -> Any:
        return datetime.now(timezone.utc).replace(tzinfo=None)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """A transaction holding the migration lock, the runner's tables present."""
        raise NotImplementedError

    def run_script(self, sql: str) -> None:
        raise NotImplementedError

    def after_steps(self, migration_id: str) -> None:
        """Checks run in the migration's transaction, before it is recorded."""

    def execute(self, sql: str, params: tuple = ()) -> Any:
        return self.conn.execute(sql.replace("?", self.mark) if params else sql, params)

    def ensure_tables(self) -> None:
        for ddl in _TABLES:
            self.execute(ddl)
        if self.execute(f"SELECT count(*) FROM {TOOL_TABLE}").fetchone()[0] == 0:
            self.execute(f"INSERT INTO {TOOL_TABLE} (version, installed_at_utc) VALUES (?, ?)",
                         (TOOL_LAYOUT, self.now()))

    def applied_hashes(self) -> set[str]:
        return {h for (h,) in self.execute(f"SELECT migration_hash FROM {VERSION_TABLE}").fetchall()}

    def record(self, migration_id: str, operation: str) -> None:
        """Recorded as applied, and logged: ``apply`` (run here) or ``mark`` (adopted, not run)."""
        h, now = migration_hash(migration_id), self.now()
        self.execute(f"INSERT INTO {VERSION_TABLE} (migration_hash, migration_id, applied_at_utc) VALUES (?, ?, ?)",
                     (h, migration_id, now))
        self.execute(f"INSERT INTO {LOG_TABLE} (id, migration_hash, migration_id, operation, username, "
                     "hostname, comment, created_at_utc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (str(uuid.uuid4()), h, migration_id, operation, _user(), socket.gethostname(), None, now))

    def apply(self, migration_id: str) -> bool:
        """Apply and record one migration in one transaction; False when another process already had."""
        with self.locked():
            if migration_hash(migration_id) in self.applied_hashes():
                return False
            self.run_script(migration_sql(self.kind, migration_id))
            self.after_steps(migration_id)
            self.record(migration_id, "apply")
        return True


class _Sqlite(_Runner):
    def now(self) -> Any:
        return super().now().isoformat(sep=" ")  # as text: the sqlite3 module's datetime adapter is deprecated

    @contextmanager
    def locked(self) -> Iterator[None]:
        # the connection is in autocommit mode (isolation_level None): transactions are this runner's own
        self.conn.execute("BEGIN IMMEDIATE")  # the write lock up front: migrators queue here
        try:
            self.ensure_tables()
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def run_script(self, sql: str) -> None:
        # executescript would COMMIT first: statement by statement, inside this transaction
        for statement in sqlite_statements(sql):
            self.conn.execute(statement)

    def after_steps(self, migration_id: str) -> None:
        if self.conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
            raise BackendUnavailable(f"catalog {self.where}: migration {migration_id} leaves rows "
                                     "that fail the foreign-key check; nothing was changed")
        # mirrored for jackfruits older than the migration tool, which read only this (and refuse newer)
        self.conn.execute(f"PRAGMA user_version = {int(version_of(migration_id) or 0)}")


class _Postgres(_Runner):
    mark = "%s"

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.conn.autocommit = True  # the transaction below is explicit
        with self.conn.transaction():
            self.conn.execute(f"SELECT pg_advisory_xact_lock({PG_LOCK_KEY})")
            self.ensure_tables()
            yield

    def run_script(self, sql: str) -> None:
        self.conn.execute(sql)  # no parameters: the whole script in one simple-protocol query


def upgrade(kind: str, connection: Any, where: str, applied: tuple[str, ...],
            adopt: Callable[[tuple[str, ...]], tuple[str, ...]] | None = None) -> UpgradeReport:
    """Apply every pending migration of ``kind`` on ``connection``, in file order; one already applied (by
    this or another process) is skipped.

    ``applied``: what the caller read before (checked for a newer schema first). ``adopt(known_ids)``, when
    given, returns the ids of migrations a catalog made before the migration tool already has: they are
    recorded as applied without running (only when nothing is recorded yet, under the migration lock).
    """
    known = migration_ids(kind)
    state = SchemaState(where, applied, known)
    state.refuse_newer()
    runner = {"sqlite": _Sqlite, "postgres": _Postgres}[kind](kind, connection, where)
    adopted: tuple[str, ...] = ()
    if adopt is not None:
        with runner.locked():
            if not runner.applied_hashes():
                adopted = adopt(known)
                for mid in adopted:
                    runner.record(mid, "mark")
                    runner.after_steps(mid)
    done = tuple(m for m in known if m not in adopted and runner.apply(m))
    after = SchemaState(where, tuple(sorted(set(applied) | set(done) | set(adopted))), known)
    return UpgradeReport(where, state.current, after.current, done, adopted)
