"""Schema migrations of the SQL catalogs, with yoyo-migrations: plain SQL files, one folder per database.

``migrations/postgres/NNNN.name.sql`` and ``migrations/sqlite/NNNN.name.sql`` (package data). A migration's
number is the schema version it brings the database to; migration ids differ between the folders.

Applied migrations are recorded in ``jackfruit_schema_migrations`` (yoyo's other tables are renamed
``jackfruit_schema_*`` too): never yoyo's default names and never ``alembic_version``, which Dagster's
storage uses, so a database shared with Dagster keeps the two histories apart.

Unlike the yoyo command, each migration is applied **and recorded in one transaction**, and that transaction
first takes the database's migration lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped
advisory lock) and re-reads what is applied: two processes upgrading at once apply each migration once, and a
kill leaves the database before or after a migration, never half-way or applied-but-unrecorded.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from typing import Any, Callable, Iterator

from jackfruit.domain.errors import BackendUnavailable

VERSION_TABLE = "jackfruit_schema_migrations"
LOG_TABLE = "jackfruit_schema_log"
TOOL_TABLE = "jackfruit_schema_tool_version"  # yoyo's own table layout version
LOCK_TABLE = "jackfruit_schema_lock"  # yoyo's lock table name; never created (see _JackfruitBackend.lock)
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


class _QuietCursor:
    """A cursor that shows yoyo no result description: yoyo prints the rows of any migration statement that
    returns some to stdout (SQLite's ALTER TABLE … RENAME does), which would corrupt ``--json`` output."""

    description = None

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def _backend_classes() -> dict[str, type]:
    """yoyo backends bound to a connection jackfruit opened, with jackfruit's table names and atomic applies."""
    from yoyo import internalmigrations
    from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
    from yoyo.backends.core.sqlite3 import SQLiteBackend
    from yoyo.connections import DatabaseURI

    class _JackfruitBackend:
        log_table = LOG_TABLE
        version_table = TOOL_TABLE
        lock_table = LOCK_TABLE

        def __init__(self, connection: Any, where: str) -> None:
            self._given = connection
            # the URI only names the database (yoyo keys a cache with it); it never holds a password
            super().__init__(DatabaseURI("jackfruit", None, None, None, None, where, {}), VERSION_TABLE)

        def connect(self, dburi: Any) -> Any:
            return self._given

        def copy(self) -> Any:  # yoyo applies on a copy; jackfruit applies on this connection
            return self

        def cursor(self) -> Any:
            return _QuietCursor(self.connection.cursor())

        @contextmanager
        def lock(self, timeout: int = 10) -> Iterator[None]:
            # every transaction of this backend takes the migration lock itself (``begin``), and a killed
            # process never leaves a lock row behind to break by hand
            yield

        def ensure_internal_schema_updated(self) -> None:
            if self._internal_schema_updated:
                return
            with self.transaction():
                if internalmigrations.needs_upgrading(self):
                    internalmigrations.upgrade(self)
            self._internal_schema_updated = True

        def after_steps(self, migration: Any) -> None:
            """Checks run in the migration's transaction, before it is recorded."""

        def get_log_data(self, migration: Any = None, operation: str = "apply") -> dict[str, Any]:
            # yoyo's own logs socket.getfqdn(), a DNS look-up that can hang where there is no resolver
            try:
                user = getpass.getuser()
            except Exception:  # noqa: BLE001 - no user name in the environment or the passwd database
                user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
            return {"id": str(uuid.uuid4()), "migration_id": migration.id if migration else None,
                    "migration_hash": migration.hash if migration else None, "username": user,
                    "hostname": socket.gethostname(), "operation": operation,
                    "created_at_utc": datetime.now(timezone.utc).replace(tzinfo=None)}

        def apply_atomically(self, migration: Any) -> bool:
            """Apply and record ``migration`` in one transaction; False when another process already had."""
            self.ensure_internal_schema_updated()
            with self.transaction():
                if migration.hash in self.get_applied_migration_hashes():
                    return False
                migration.process_steps(self, "apply")  # nested: savepoints inside this transaction
                self.after_steps(migration)
                self.log_migration(migration, "apply")
                self.mark_one(migration, log=False)
            return True

    class Sqlite(_JackfruitBackend, SQLiteBackend):
        def begin(self) -> None:
            assert not self._in_transaction
            self._in_transaction = True
            self.execute("BEGIN IMMEDIATE")  # the write lock up front: migrators queue here

        def execute(self, sql: str, params: Any = None) -> Any:
            # timestamps as ISO text: the sqlite3 module's default datetime adapter is deprecated
            if params:
                params = {k: v.isoformat(sep=" ") if isinstance(v, datetime) else v for k, v in params.items()}
            return super().execute(sql, params)

        def after_steps(self, migration: Any) -> None:
            if self.execute("PRAGMA foreign_key_check").fetchone() is not None:
                raise BackendUnavailable(f"catalog {self.uri.database}: migration {migration.id} leaves rows "
                                         "that fail the foreign-key check; nothing was changed")
            # mirrored for jackfruits older than the migration tool, which read only this (and refuse newer)
            self.execute(f"PRAGMA user_version = {int(version_of(migration.id) or 0)}")

    class Postgres(_JackfruitBackend, PostgresqlPsycopgBackend):
        def connect(self, dburi: Any) -> Any:
            self.schema = None
            self._given.autocommit = True  # yoyo issues BEGIN / COMMIT itself
            return self._given

        def begin(self) -> None:
            super().begin()
            self.execute(f"SELECT pg_advisory_xact_lock({PG_LOCK_KEY})")

    return {"sqlite": Sqlite, "postgres": Postgres}


def upgrade(kind: str, connection: Any, where: str, applied: tuple[str, ...],
            adopt: Callable[[Any], tuple[str, ...]] | None = None) -> UpgradeReport:
    """Apply every pending migration of ``kind`` on ``connection``; a migration already applied is skipped.

    ``applied``: what the caller read before (checked for a newer schema first). ``adopt(known_ids)``, when
    given, returns the ids of migrations a catalog made before the migration tool already has: they are
    recorded as applied without running (only when nothing is recorded yet, under the migration lock).
    """
    from yoyo import read_migrations

    known = migration_ids(kind)
    state = SchemaState(where, applied, known)
    state.refuse_newer()
    backend = _backend_classes()[kind](connection, where)
    migrations = read_migrations(f"package:{__package__}:migrations/{kind}")
    by_id = {m.id: m for m in migrations}
    adopted: tuple[str, ...] = ()
    if adopt is not None:
        backend.ensure_internal_schema_updated()
        with backend.transaction():
            if not backend.get_applied_migration_hashes():
                adopted = adopt(known)
                for mid in adopted:
                    backend.mark_one(by_id[mid])
                    backend.after_steps(by_id[mid])
    done = tuple(m.id for m in migrations if m.id not in adopted and backend.apply_atomically(m))
    after = SchemaState(where, tuple(sorted(set(applied) | set(done) | set(adopted))), known)
    return UpgradeReport(where, state.current, after.current, done, adopted)
