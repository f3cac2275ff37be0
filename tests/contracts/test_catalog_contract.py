"""Binds the Catalog contract to InMemoryCatalog, SqliteCatalog and PostgresCatalog, plus SQLite-only behaviour
(schema migrations included)."""

from __future__ import annotations

import itertools
import sqlite3

import pytest

pytest.register_assert_rewrite("tests.contracts.catalog_suite")  # the suite's asserts must explain failures too

from .catalog_suite import (ALL_TIME, DATASET, T0, WORLD, CatalogContract, dataset, day_range, edges, run,  # noqa: E402
                            tile, transforming)  # noqa: E402

from jackfruit.adapters.catalog.memory_catalog import InMemoryCatalog  # noqa: E402
from jackfruit.adapters.catalog.sqlite_catalog import SCHEMA_VERSION, SqliteCatalog  # noqa: E402
from jackfruit.domain.errors import BackendUnavailable  # noqa: E402
from jackfruit.domain.model import TRANSFORMATION_VERSION, AttemptKind, RunStatus, TransformStatus  # noqa: E402
from datetime import timedelta  # noqa: E402


_V1_SCHEMA = """
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

# The last schema written without the migration tool (PRAGMA user_version 2), as that code created it.
_V2_SCHEMA = """
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


def _barrier_claim(path, barrier, results, i, partition_run, kind):
    """One process: wait for every other, then claim; record (start, end, outcome)."""
    import time

    from jackfruit.adapters.catalog.sqlite_catalog import SqliteCatalog as Cat
    from jackfruit.domain.errors import Conflict as Busy

    from .catalog_suite import TTL, aid

    c = Cat(path, timeout=30)
    barrier.wait()
    t0 = time.monotonic()
    try:
        if kind == "ingest":
            c.claim_ingest(partition_run, attempt_id=aid(), owner=f"proc-{i}", now=T0, expires_at=T0 + TTL)
        else:
            c.claim_transform(partition_run.run_id, attempt_id=aid(), owner=f"proc-{i}", now=T0,
                              expires_at=T0 + TTL)
        outcome = "won"
    except Busy:
        outcome = "conflict"
    results.append((t0, time.monotonic(), outcome))
    c.close()


class TestInMemoryCatalog(CatalogContract):
    @pytest.fixture
    def make_catalog(self):
        return InMemoryCatalog


class TestSqliteCatalog(CatalogContract):
    @pytest.fixture
    def make_catalog(self, tmp_path):
        counter = itertools.count()  # hypothesis calls the factory once per example: fresh file each time
        return lambda: SqliteCatalog(str(tmp_path / f"catalog-{next(counter)}.sqlite"))

    def test_persists_across_reopen(self, tmp_path):
        path = str(tmp_path / "catalog.sqlite")
        c = SqliteCatalog(path)
        c.add_dataset(dataset())
        r = run()
        transforming(c, r)
        tiles = [tile(r, west=0), tile(r, west=10)]
        r = c.publish(r.run_id, 1, tiles, edges(r, tiles), now=T0)
        c.close()
        again = SqliteCatalog(path)
        try:
            assert again.get_dataset(DATASET) == dataset()
            assert again.get_run(r.run_id) == r
            assert again.find_tiles(WORLD, ALL_TIME) == tiles
            assert again.lineage(raw_key=r.raw_key) == sorted(edges(r, tiles), key=lambda e: e.tile_key)
        finally:
            again.close()

    def test_schema_and_pragmas(self, tmp_path):
        path = str(tmp_path / "catalog.sqlite")
        SqliteCatalog(path).close()
        db = sqlite3.connect(path)
        try:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            names = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            assert {"datasets", "ingestion_runs", "tiles", "lineage", "tiles_rtree"} <= names
            # the R*Tree indexes valid time (whole hours) beside longitude and latitude (migration 0003)
            assert [c[1] for c in db.execute("PRAGMA table_info(tiles_rtree)")] == [
                "id", "west", "east", "south", "north", "first_hour", "last_hour"]
        finally:
            db.close()

    def test_unopenable_path_is_unavailable(self, tmp_path):
        with pytest.raises(BackendUnavailable) as info:
            SqliteCatalog(str(tmp_path))  # a directory is not a database file
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)

    def test_missing_parent_directory_is_created(self, tmp_path):
        path = tmp_path / "new" / "dir" / "catalog.sqlite"
        SqliteCatalog(str(path)).close()
        assert path.is_file()

    def test_newer_schema_is_refused(self, tmp_path):
        path = str(tmp_path / "catalog.sqlite")
        db = sqlite3.connect(path)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        db.close()
        with pytest.raises(BackendUnavailable, match=f"schema {SCHEMA_VERSION + 1}"):
            SqliteCatalog(path)

    def test_locked_database_is_unavailable(self, tmp_path):
        path = str(tmp_path / "catalog.sqlite")
        c = SqliteCatalog(path, timeout=0.05)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(BackendUnavailable) as info:
                c.add_dataset(dataset())
            assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        finally:
            other.execute("ROLLBACK")
            other.close()
        c.add_dataset(dataset())  # usable again once the lock is gone
        assert c.list_datasets() == [dataset()]
        c.close()

    def test_closed_catalog_is_unavailable(self, tmp_path):
        c = SqliteCatalog(str(tmp_path / "catalog.sqlite"))
        c.close()
        with pytest.raises(BackendUnavailable):
            c.list_datasets()


    @pytest.mark.parametrize("kind", ["ingest", "transform"])
    def test_claims_among_real_processes(self, tmp_path, kind):
        """Eight processes released by one barrier claim the same partition (or run): exactly one wins."""
        import multiprocessing as mp

        from .catalog_suite import landed

        path = str(tmp_path / "catalog.sqlite")
        c = SqliteCatalog(path)
        c.add_dataset(dataset())
        base = run(partition="contested")
        if kind == "transform":
            landed(c, base)
        c.close()
        ctx = mp.get_context("spawn")
        with ctx.Manager() as manager:
            barrier, results = manager.Barrier(8), manager.list()
            procs = []
            for i in range(8):
                candidate = run(offset_ms=i + 1, partition="contested") if kind == "ingest" else base
                procs.append(ctx.Process(target=_barrier_claim, args=(path, barrier, results, i, candidate, kind)))
            for p in procs:
                p.start()
            for p in procs:
                p.join(60)
                assert p.exitcode == 0
            results = list(results)
        assert sorted(o for _, _, o in results) == ["conflict"] * 7 + ["won"]
        # the claims really overlapped: some loser was already claiming while the winner's claim ran
        (ws, we, _), = [r for r in results if r[2] == "won"]
        assert any(s < we and e > ws for s, e, o in results if o == "conflict")
        again = SqliteCatalog(path)
        try:
            if kind == "ingest":
                assert len(again.list_runs()) == 1
            else:
                assert again.get_run(base.run_id).lease(AttemptKind.TRANSFORM).epoch == 1
        finally:
            again.close()

    def test_schema_1_catalog_is_migrated(self, tmp_path):
        """A catalog written by schema 1 opens as schema 3 with its runs, tiles and lineage intact."""
        path = str(tmp_path / "catalog.sqlite")
        db = sqlite3.connect(path)
        for statement in _V1_SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("PRAGMA user_version = 1")
        d = dataset()
        from jackfruit.adapters.catalog import _rows
        db.execute("INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?)", _rows.dataset_row(d)[:7])
        published, running = run(), run(offset_ms=1)
        for r, status, sha in ((published, "succeeded", "ab" * 32), (running, "running", None)):
            db.execute("INSERT INTO ingestion_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       _rows.run_row(r)[:5] + (status,) + _rows.run_row(r)[6:11] + (1234 if sha else None, sha,
                                                                                    None, None, "{}"))
        t = tile(published)
        cur = db.execute(f"INSERT INTO tiles ({', '.join(_rows.TILE_COLUMNS[:19])}) VALUES "
                         f"({', '.join('?' * 19)})", _rows.tile_row(t)[:19])
        db.execute("INSERT INTO tiles_rtree VALUES (?, ?, ?, ?, ?)", (cur.lastrowid, 0, 10, 40, 50))
        db.execute("INSERT INTO lineage VALUES (?, ?, ?, ?, ?, ?)", _rows.lineage_row(edges(published, [t])[0]))
        db.commit()
        db.close()
        c = SqliteCatalog(path)
        try:
            got = c.get_run(published.run_id)
            assert got.status is RunStatus.SUCCEEDED and got.raw_sha256 == "ab" * 32
            assert got.transform_status is TransformStatus.PUBLISHED and got.attempts == ()
            assert c.get_run(running.run_id).transform_status is TransformStatus.NONE
            assert c.find_tiles(WORLD, ALL_TIME) == [t] and len(c.lineage(raw_key=published.raw_key)) == 1
            # the R*Tree was rebuilt with the tile's valid hours: the window ending at its start misses it
            assert c.find_tiles(WORLD, day_range(-1, 0)) == [] and c.find_tiles(WORLD, day_range(24, 25)) == [t]
            # a schema-1 run left running (no claim recorded) is reaped like any expired claim
            assert [r.run_id for r in c.reap(timedelta(0), now=T0 + timedelta(days=1))] == [running.run_id]
        finally:
            c.close()
        check = sqlite3.connect(path)
        assert check.execute("PRAGMA user_version").fetchone()[0] == 6
        assert check.execute("PRAGMA foreign_key_check").fetchall() == []
        # schema 1 was recorded as there (adopted), the later migrations were applied, in the tool's table
        assert check.execute("SELECT migration_id FROM jackfruit_schema_migrations ORDER BY migration_id").fetchall() \
            == [("0001.sqlite-schema-1",), ("0002.sqlite-run-model",), ("0003.sqlite-time-index",),
                ("0004.sqlite-tile-versions",), ("0005.sqlite-run-states",), ("0006.sqlite-datasets-and-levels",)]
        assert check.execute("SELECT migration_id, operation FROM jackfruit_schema_log ORDER BY migration_id") \
            .fetchall() == [("0001.sqlite-schema-1", "mark"), ("0002.sqlite-run-model", "apply"),
                            ("0003.sqlite-time-index", "apply"), ("0004.sqlite-tile-versions", "apply"),
                            ("0005.sqlite-run-states", "apply"), ("0006.sqlite-datasets-and-levels", "apply")]
        check.close()
        assert _shape(path) == _shape(_fresh(tmp_path))

    def test_schema_2_catalog_is_adopted_as_it_is(self, tmp_path):
        """A catalog of the last schema before the migration tool (user_version 2) has both its migrations recorded,
        none run, then the time index applied: its rows, tables and indexes are exactly those of a new catalog."""
        from jackfruit.adapters.catalog import _rows

        path = str(tmp_path / "catalog.sqlite")
        db = sqlite3.connect(path)
        for statement in _V2_SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("PRAGMA user_version = 2")
        db.commit()
        db.close()
        # schema 2 as that code made it differs from a new catalog in the R*Tree's time dimension (0003) and in the
        # versions and times of runs and tiles (0004)
        old, new = _shape(path), _shape(_fresh(tmp_path))
        assert {n for n in old if old[n] != new[n]} == {"tiles_rtree", "tiles", "ingestion_runs", "datasets"}
        assert old.keys() == new.keys()
        # rows written by the schema-2 code (the same rows the catalog writes today)
        with sqlite3.connect(path) as db:
            db.execute("INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?)", _rows.dataset_row(dataset())[:7])
        memory = InMemoryCatalog()
        memory.add_dataset(dataset())
        r = run()
        transforming(memory, r)
        tiles = [tile(r, west=0), tile(r, west=10)]
        done = memory.publish(r.run_id, 1, tiles, edges(r, tiles), now=T0)
        with sqlite3.connect(path) as db:
            # schema 2's columns: a run without transform_version, tiles without version and times
            run_cols = [c for c in _rows.RUN_COLUMNS if c not in ("transform_version", "replaced_upstream_jobs")]
            row = dict(zip(_rows.RUN_COLUMNS, _rows.run_row(done)))
            db.execute(f"INSERT INTO ingestion_runs ({', '.join(run_cols)}) VALUES ({', '.join('?' * len(run_cols))})",
                       [row[c] for c in run_cols])
            for t in tiles:
                cur = db.execute(f"INSERT INTO tiles ({', '.join(_rows.TILE_COLUMNS[:19])}) VALUES "
                                 f"({', '.join('?' * 19)})", _rows.tile_row(t)[:19])
                db.execute("INSERT INTO tiles_rtree VALUES (?, ?, ?, ?, ?)",
                           (cur.lastrowid, t.bbox.west, t.bbox.east, t.bbox.south, t.bbox.north))
            db.executemany("INSERT INTO lineage VALUES (?, ?, ?, ?, ?, ?)", [_rows.lineage_row(e) for e in edges(r, tiles)])
        c = SqliteCatalog(path)
        try:
            assert c.upgrade_report.applied == ("0003.sqlite-time-index", "0004.sqlite-tile-versions",
                                                "0005.sqlite-run-states", "0006.sqlite-datasets-and-levels")
            assert c.upgrade_report.adopted == ("0001.sqlite-schema-1", "0002.sqlite-run-model")
            assert c.get_run(r.run_id) == done and c.find_tiles(WORLD, ALL_TIME) == tiles
            # version and publish time were filled from the lineage and the run's publishing attempt
            assert {(t.transformation_version, t.published_at) for t in c.find_tiles(WORLD, ALL_TIME)} == {(TRANSFORMATION_VERSION, T0)}
            # the time dimension was filled from the tiles: valid [T0, T0 + 24 h], both ends closed
            assert c.find_tiles(WORLD, day_range(24, 25)) == tiles
            assert c.find_tiles(WORLD, day_range(24 + 1 / 3.6e9, 25)) == [] == c.find_tiles(WORLD, day_range(-1, 0))
            assert c.lineage(raw_key=r.raw_key) == edges(r, tiles)
        finally:
            c.close()
        assert _shape(path) == _shape(_fresh(tmp_path))

    def test_migrating_again_is_a_no_op(self, tmp_path):
        path = str(tmp_path / "catalog.sqlite")
        first = SqliteCatalog(path)
        first.add_dataset(dataset())
        first.close()
        assert first.upgrade_report.applied == ("0001.sqlite-schema-1", "0002.sqlite-run-model",
                                                "0003.sqlite-time-index", "0004.sqlite-tile-versions",
                                                "0005.sqlite-run-states", "0006.sqlite-datasets-and-levels")
        from jackfruit.adapters.catalog.sqlite_catalog import upgrade_schema

        for _ in range(2):
            report = upgrade_schema(path)
            assert (report.applied, report.adopted, report.from_version, report.to_version) == ((), (), 6, 6)
            assert report.lines() == [f"catalog {path}: schema {SCHEMA_VERSION}, up to date"]
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT count(*) FROM jackfruit_schema_log").fetchone()[0] == SCHEMA_VERSION
        with SqliteCatalog(path) as again:
            assert again.list_datasets() == [dataset()]

    def test_newer_recorded_schema_is_refused(self, tmp_path):
        """A catalog a newer jackfruit migrated (an unknown migration recorded) is never opened, nor changed."""
        path = str(tmp_path / "catalog.sqlite")
        SqliteCatalog(path).close()
        with sqlite3.connect(path) as db:
            db.execute("INSERT INTO jackfruit_schema_migrations VALUES ('f' || hex(randomblob(31)), "
                       "'0099.sqlite-from-the-future', '2030-01-01 00:00:00')")
        before = (tmp_path / "catalog.sqlite").read_bytes()
        with pytest.raises(BackendUnavailable, match=rf"has schema 99 .*0099.sqlite-from-the-future.*knows schema {SCHEMA_VERSION}"):
            SqliteCatalog(path)
        assert (tmp_path / "catalog.sqlite").read_bytes() == before

    def test_first_opens_racing_migrate_once(self, tmp_path):
        """Processes opening one new catalog at once: every one opens it, each migration is applied once."""
        import multiprocessing as mp

        path = str(tmp_path / "catalog.sqlite")
        ctx = mp.get_context("spawn")
        with ctx.Manager() as manager:
            barrier, results = manager.Barrier(4), manager.list()
            procs = [ctx.Process(target=_barrier_open, args=(path, barrier, results)) for _ in range(4)]
            for p in procs:
                p.start()
            for p in procs:
                p.join(60)
                assert p.exitcode == 0
            results = list(results)
        # each migration applied by exactly one of them (each migration is its own transaction: the work may be
        # shared between the openers, never done twice)
        applied = sorted(m for r in results for m in r)
        assert len(applied) == SCHEMA_VERSION and len(set(applied)) == SCHEMA_VERSION, results
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT count(*) FROM jackfruit_schema_migrations").fetchone()[0] == SCHEMA_VERSION
            assert db.execute("SELECT count(*) FROM jackfruit_schema_log").fetchone()[0] == SCHEMA_VERSION


    def test_db_upgrade_command(self, tmp_path, monkeypatch, capsys):
        """`jackfruit db upgrade` on the embedded catalog: makes and migrates it, then is a no-op."""
        import json
        import os

        from jackfruit import cli

        for name in [k for k in os.environ if k.startswith(("JACKFRUIT_", "POSTGRES_"))]:
            monkeypatch.delenv(name)
        monkeypatch.chdir(tmp_path)
        data = str(tmp_path / "data")
        assert cli.main(["db", "upgrade", "--data-dir", data]) == 0
        assert capsys.readouterr().out.splitlines() == [
            "applied 0001.sqlite-schema-1", "applied 0002.sqlite-run-model", "applied 0003.sqlite-time-index",
            "applied 0004.sqlite-tile-versions", "applied 0005.sqlite-run-states",
            "applied 0006.sqlite-datasets-and-levels",
            f"catalog {tmp_path / 'data' / 'catalog.sqlite'}: schema 0 -> 6"]
        assert cli.main(["db", "upgrade", "--data-dir", data, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert (report["applied"], report["from_version"], report["to_version"]) == ([], 6, 6)
        monkeypatch.setenv("JACKFRUIT_CATALOG", "memory")
        assert cli.main(["db", "upgrade", "--data-dir", data]) == 0
        assert capsys.readouterr().out == "in-memory catalog: no schema to upgrade\n"

def _barrier_open(path, barrier, results):
    from jackfruit.adapters.catalog.sqlite_catalog import SqliteCatalog as Cat

    barrier.wait()
    c = Cat(path, timeout=30)
    results.append(list(c.upgrade_report.applied))
    c.close()


def _fresh(tmp_path) -> str:
    path = str(tmp_path / "fresh.sqlite")
    SqliteCatalog(path).close()
    return path


def _shape(path: str) -> dict:
    """Tables with their columns, indexes and foreign keys (the migration tool's own tables left out)."""
    db = sqlite3.connect(path)
    try:
        names = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                                          "'jackfruit_schema_%' ORDER BY name")]
        return {n: (db.execute(f"PRAGMA table_xinfo('{n}')").fetchall(),
                    sorted((i[1], i[2], i[4], db.execute(f"PRAGMA index_xinfo('{i[1]}')").fetchall())
                           for i in db.execute(f"PRAGMA index_list('{n}')")),
                    db.execute(f"PRAGMA foreign_key_list('{n}')").fetchall()) for n in names}
    finally:
        db.close()


@pytest.mark.service("postgres")
class TestPostgresCatalog(CatalogContract):
    """The same contract on PostgreSQL + PostGIS: each catalog on a fresh database cloned from a migrated template
    (Postgres-only behaviour: tests/integration/test_postgres_catalog.py)."""

    @pytest.fixture
    def make_catalog(self, postgres_server, postgres_template, postgres_databases):
        from jackfruit.adapters.catalog.postgres_catalog import PostgresCatalog

        return lambda: PostgresCatalog(**postgres_server.catalog_kwargs(postgres_databases(template=postgres_template)))
