"""Binds the Catalog contract to InMemoryCatalog and SqliteCatalog, plus SQLite-only behaviour."""

from __future__ import annotations

import itertools
import sqlite3

import pytest

pytest.register_assert_rewrite("tests.contracts.catalog_suite")  # the suite's asserts must explain failures too

from .catalog_suite import ALL_TIME, DATASET, WORLD, CatalogContract, dataset, edges, run, tile  # noqa: E402

from jackfruit.adapters.memory_catalog import InMemoryCatalog  # noqa: E402
from jackfruit.adapters.sqlite_catalog import SCHEMA_VERSION, SqliteCatalog  # noqa: E402
from jackfruit.domain.errors import BackendUnavailable  # noqa: E402


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
        c.add_run(r)
        r = r.start(r.created_at)
        c.update_run(r)
        tiles = [tile(r, west=0), tile(r, west=10)]
        c.publish(r.run_id, tiles, edges(r, tiles))
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
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 1
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
        with pytest.raises(BackendUnavailable, match="schema 2"):
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
