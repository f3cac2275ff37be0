"""Binds the Catalog contract to InMemoryCatalog and SqliteCatalog, plus SQLite-only behaviour."""

from __future__ import annotations

import itertools
import sqlite3

import pytest

pytest.register_assert_rewrite("tests.contracts.catalog_suite")  # the suite's asserts must explain failures too

from .catalog_suite import (ALL_TIME, DATASET, T0, WORLD, CatalogContract, dataset, edges, run, tile,  # noqa: E402
                            transforming)  # noqa: E402

from jackfruit.adapters.catalog.memory_catalog import InMemoryCatalog  # noqa: E402
from jackfruit.adapters.catalog.sqlite_catalog import SCHEMA_VERSION, SqliteCatalog  # noqa: E402
from jackfruit.domain.errors import BackendUnavailable  # noqa: E402
from jackfruit.domain.model import AttemptKind, RunStatus, TransformStatus  # noqa: E402
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
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            names = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            assert {"datasets", "ingestion_runs", "tiles", "lineage", "tiles_rtree"} <= names
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
        """A catalog written by schema 1 opens as schema 2 with its runs, tiles and lineage intact."""
        path = str(tmp_path / "catalog.sqlite")
        db = sqlite3.connect(path)
        for statement in _V1_SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("PRAGMA user_version = 1")
        d = dataset()
        from jackfruit.adapters.catalog import _rows
        db.execute("INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?)", _rows.dataset_row(d))
        published, running = run(), run(offset_ms=1)
        for r, status, sha in ((published, "succeeded", "ab" * 32), (running, "running", None)):
            db.execute("INSERT INTO ingestion_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       _rows.run_row(r)[:5] + (status,) + _rows.run_row(r)[6:11] + (1234 if sha else None, sha,
                                                                                    None, None, "{}"))
        t = tile(published)
        cur = db.execute(f"INSERT INTO tiles ({', '.join(_rows.TILE_COLUMNS)}) VALUES "
                         f"({', '.join('?' * len(_rows.TILE_COLUMNS))})", _rows.tile_row(t))
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
            # a schema-1 run left running (no claim recorded) is reaped like any expired claim
            assert [r.run_id for r in c.reap(timedelta(0), now=T0 + timedelta(days=1))] == [running.run_id]
        finally:
            c.close()
        check = sqlite3.connect(path)
        assert check.execute("PRAGMA user_version").fetchone()[0] == 2
        assert check.execute("PRAGMA foreign_key_check").fetchall() == []
        check.close()
