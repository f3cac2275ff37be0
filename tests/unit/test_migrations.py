"""The catalogs' migration runner (adapters/catalog/_migrations.py): statement splitting, atomic apply and
record, the version table's layout kept from yoyo-migrations. Concurrent upgrades: the SQLite contract suite
(test_first_opens_racing_migrate_once) and tests/integration/test_postgres_catalog.py."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from jackfruit.adapters.catalog import _migrations
from jackfruit.adapters.catalog.sqlite_catalog import SqliteCatalog


def test_statements_split_where_sqlite_says_they_end():
    script = """-- a leading comment; with a semicolon
CREATE TABLE a (x TEXT DEFAULT 'semi;colon');  -- trailing; comment
CREATE TRIGGER t AFTER INSERT ON a BEGIN
  INSERT INTO a VALUES ('in; trigger');
  SELECT 1;
END;
/* block; comment */ INSERT INTO a VALUES ('x'); INSERT INTO a VALUES ('y');
-- the end
"""
    parts = _migrations.sqlite_statements(script)
    assert len(parts) == 4
    assert "END;" in parts[1] and "semi;colon" in parts[0]
    db = sqlite3.connect(":memory:", isolation_level=None)
    for p in parts:
        db.execute(p)
    assert db.execute("SELECT count(*) FROM a").fetchone()[0] == 4  # two rows, each firing the trigger once
    with pytest.raises(ValueError, match="unfinished"):
        _migrations.sqlite_statements("CREATE TABLE b (x);\nINSERT INTO b VALUES (1)")


def test_the_version_table_keeps_the_layout_catalogs_were_migrated_with(tmp_path):
    SqliteCatalog(str(tmp_path / "c.sqlite")).close()
    db = sqlite3.connect(tmp_path / "c.sqlite")
    rows = db.execute(f"SELECT migration_hash, migration_id FROM {_migrations.VERSION_TABLE}").fetchall()
    assert sorted(m for _, m in rows) == list(_migrations.migration_ids("sqlite"))
    assert all(h == hashlib.sha256(m.encode()).hexdigest() == _migrations.migration_hash(m) for h, m in rows)
    columns = [r[1] for r in db.execute(f"PRAGMA table_info({_migrations.LOG_TABLE})")]
    assert columns == ["id", "migration_hash", "migration_id", "operation", "username", "hostname", "comment",
                       "created_at_utc"]
    assert db.execute(f"SELECT version FROM {_migrations.TOOL_TABLE}").fetchall() == [(2,)]


def test_a_failing_migration_leaves_the_database_before_it(tmp_path, monkeypatch):
    path = str(tmp_path / "c.sqlite")
    SqliteCatalog(path).close()
    known = _migrations.migration_ids("sqlite")
    later = "9998.sqlite-half-way"
    monkeypatch.setattr(_migrations, "migration_ids", lambda kind: known + (later,))
    real = _migrations.migration_sql
    monkeypatch.setattr(_migrations, "migration_sql", lambda kind, mid: (
        "CREATE TABLE half (x);\nINSERT INTO half VALUES (1);\nINSERT INTO no_such_table VALUES (1);"
        if mid == later else real(kind, mid)))
    db = sqlite3.connect(path, isolation_level=None)
    applied = tuple(m for (m,) in db.execute(f"SELECT migration_id FROM {_migrations.VERSION_TABLE}"))
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        _migrations.upgrade("sqlite", db, path, applied)
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchone() is None
    assert db.execute(f"SELECT count(*) FROM {_migrations.VERSION_TABLE} WHERE migration_id = ?",
                      (later,)).fetchone()[0] == 0
    assert not db.in_transaction


_CHILD = r'''
import sqlite3, sys, time
from jackfruit.adapters.catalog import _migrations

path, later = sys.argv[1], "9998.sqlite-slow"
known = _migrations.migration_ids("sqlite")
_migrations.migration_ids = lambda kind: known + (later,)
real = _migrations.migration_sql
_migrations.migration_sql = lambda kind, mid: (
    "CREATE TABLE half (x);\n"
    "INSERT INTO half WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 100000) "
    "SELECT slow(i) FROM c;" if mid == later else real(kind, mid))


def slow(i):
    if i == 1:
        print("inside", flush=True)
    time.sleep(0.01)
    return i


db = sqlite3.connect(path, isolation_level=None)
db.create_function("slow", 1, slow)
applied = tuple(m for (m,) in db.execute(f"SELECT migration_id FROM {_migrations.VERSION_TABLE}"))
_migrations.upgrade("sqlite", db, path, applied)
'''


def test_a_kill_inside_a_migration_leaves_the_database_before_it(tmp_path):
    """SIGKILL while a migration's statements run: the database is as before it (no table, not recorded,
    user_version unchanged, no lock left), and the next upgrade applies what is pending."""
    import signal
    import subprocess
    import sys

    path = str(tmp_path / "c.sqlite")
    SqliteCatalog(path).close()
    before = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0]
    child = subprocess.Popen([sys.executable, "-c", _CHILD, path], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "inside"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    db = sqlite3.connect(path, isolation_level=None, timeout=5)
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchone() is None
    assert db.execute(f"SELECT count(*) FROM {_migrations.VERSION_TABLE} WHERE migration_id LIKE '9998%'"
                      ).fetchone()[0] == 0
    assert db.execute("PRAGMA user_version").fetchone()[0] == before
    db.execute("BEGIN IMMEDIATE")  # the write lock died with the process
    db.execute("ROLLBACK")
    SqliteCatalog(path).close()  # and opening (upgrading) again works
