"""Swapping adapters by configuration alone: the container picks one adapter per port from Settings."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from pydantic import ValidationError

from jackfruit.adapters.storage.filesystem_store import FilesystemObjectStore
from jackfruit.adapters.catalog.memory_catalog import InMemoryCatalog
from jackfruit.adapters.runner.memory_runner import InMemoryRunner
from jackfruit.adapters.storage.memory_store import InMemoryObjectStore
from jackfruit.adapters.catalog.sqlite_catalog import SqliteCatalog
from jackfruit.adapters.runner.subprocess_runner import SubprocessRunner
from jackfruit.app import Jackfruit
from jackfruit.domain.errors import InvalidInput
from jackfruit.container import build_container
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.settings import Settings

CAMS = "cams-europe-air-quality-forecasts"


def test_embedded_defaults_are_filesystem_sqlite_subprocess(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = Jackfruit.from_settings(Settings())
    assert isinstance(app.raw_store, FilesystemObjectStore) and app.raw_store.write_once
    assert isinstance(app.curated_store, FilesystemObjectStore) and not app.curated_store.write_once
    assert app.raw_store.root == tmp_path / ".jackfruit" / "buckets" / "jackfruit-raw"
    assert isinstance(app.catalog, SqliteCatalog)
    assert (tmp_path / ".jackfruit" / "catalog.sqlite").is_file()
    assert isinstance(app.runner, SubprocessRunner)
    assert [d.name for d in app.catalog.list_datasets()] == [p.name for p in app.profiles.all()] and CAMS in [
        d.name for d in app.catalog.list_datasets()]


def test_environment_selects_in_memory_adapters_and_the_whole_path_runs(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name, value in {"JACKFRUIT_OBJECT_STORE": "memory", "JACKFRUIT_CATALOG": "memory",
                        "JACKFRUIT_RUNNER": "memory", "ADS_API_KEY": "k", "MINIO_BUCKET": "my-raw"}.items():
        monkeypatch.setenv(name, value)
    app = Jackfruit.from_settings()
    assert isinstance(app.raw_store, InMemoryObjectStore) and app.raw_store.bucket == "my-raw"
    assert isinstance(app.catalog, InMemoryCatalog) and isinstance(app.runner, InMemoryRunner)
    run = app.ingest(CAMS, date(2025, 3, 12), {"variable": ["ozone"], "leadtime_hour": ["0", "1"],
                                                "area": [50, 0, 45, 5]})
    tiles = app.transform(run.run_id)
    assert len(tiles) == 1 and tiles[0].shape == (2, 50, 50)
    ds = app.read(BBox(1, 46, 2, 47), TimeRange(datetime(2025, 3, 12, tzinfo=timezone.utc),
                                                 datetime(2025, 3, 13, tzinfo=timezone.utc)), ["ozone"])
    assert ds["ozone"].shape == (1, 2, 10, 10)  # centres 46.05..46.95 x 1.05..1.95
    assert list(tmp_path.iterdir()) == [], "nothing written to disk"
    with pytest.raises(InvalidInput, match="unobtainium"):
        app.ingest(CAMS, date(2025, 3, 12), {"variable": ["unobtainium"]})


def test_inconsistent_settings_are_refused_with_a_reason():
    with pytest.raises(ValidationError, match="must differ"):
        Settings(MINIO_BUCKET="same", JACKFRUIT_CURATED_BUCKET="same")
    with pytest.raises(ValidationError, match="in-memory bucket"):
        Settings(JACKFRUIT_OBJECT_STORE="memory", JACKFRUIT_RUNNER="subprocess")
    with pytest.raises(ValidationError, match="needs MINIO_ENDPOINT"):
        Settings(JACKFRUIT_OBJECT_STORE="minio")
    with pytest.raises(ValidationError, match="both MINIO_ACCESS_KEY and MINIO_SECRET_KEY"):
        Settings(MINIO_SECRET_KEY="only-half")
    with pytest.raises(ValidationError):
        Settings(JACKFRUIT_CATALOG="oracle")


def test_secrets_do_not_show_in_settings_repr():
    s = Settings(ADS_API_KEY="hunter2", MINIO_ACCESS_KEY="minio-access", MINIO_SECRET_KEY="minio-s3cret",
                 POSTGRES_PASSWORD="pg-s3cret")
    text = repr(s) + str(s) + str(s.model_dump())
    assert "hunter2" not in text and "minio-s3cret" not in text and "pg-s3cret" not in text


@pytest.mark.parametrize("endpoint", ["minio:9000", "ftp://minio:9000", "http://user:pw@minio:9000",
                                      "http://minio:9000/bucket", "http://minio:99999"])
def test_an_unusable_s3_endpoint_is_refused_naming_the_variable(endpoint, monkeypatch):
    from jackfruit.settings import load_settings

    monkeypatch.setenv("MINIO_ENDPOINT", endpoint)
    with pytest.raises(InvalidInput, match="MINIO_ENDPOINT") as err:
        load_settings()
    assert "pw@" not in str(err.value)  # an endpoint with a credential is never echoed


def test_the_raw_bucket_has_one_target_for_store_and_ingester(tmp_path):
    c = build_container(Settings(JACKFRUIT_DATA_DIR=str(tmp_path)))
    assert c.raw_target().url == "file://" + str(tmp_path / "buckets" / "jackfruit-raw")
    assert c.raw_store().root == tmp_path / "buckets" / "jackfruit-raw"
    c = build_container(Settings(JACKFRUIT_DATA_DIR=str(tmp_path), JACKFRUIT_OBJECT_STORE="s3",
                                 MINIO_ENDPOINT="https://s3.example:9443", MINIO_BUCKET="evidence",
                                 MINIO_ACCESS_KEY="AKIA-x", MINIO_SECRET_KEY="canary-secret"))
    target = c.raw_target()
    assert target.url == "s3://evidence?endpoint=https%3A%2F%2Fs3.example%3A9443&region=us-east-1"
    assert "canary" not in repr(target) and target.credentials()["secret_key"].reveal() == "canary-secret"


@pytest.mark.parametrize("url", ["ftp://ads.example/api", "ads.example/api", "https:///api", "http://ads.example:0",
                                 "http://ads.example:70000", "http://ads.example:port", "file:///tmp/x", ""])
def test_an_unusable_ads_base_url_is_refused_at_once_naming_the_variable(url, monkeypatch):
    from jackfruit.settings import load_settings

    with pytest.raises(ValidationError, match="ADS_BASE_URL"):
        Settings(ADS_BASE_URL=url)
    monkeypatch.setenv("ADS_BASE_URL", url)
    with pytest.raises(InvalidInput, match="ADS_BASE_URL"):
        load_settings()


@pytest.mark.parametrize("url", ["https://ads.atmosphere.copernicus.eu/api", "http://127.0.0.1:8080",
                                 "http://localhost:65535/api/", "https://[::1]:443/x"])
def test_http_ads_base_urls_are_accepted(url):
    assert Settings(ADS_BASE_URL=url).ads_base_url == url


def test_lease_ttl_and_work_dir_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert s.lease_ttl_s == 60.0 and s.work_dir is None
    s = Settings(JACKFRUIT_LEASE_TTL_S="2.5", JACKFRUIT_WORK_DIR="scratch")
    assert s.lease_ttl_s == 2.5
    assert s.work_dir == tmp_path / "scratch" and s.work_dir.is_absolute()  # resolved once, like the data dir
    for bad in ("0", "-1", "soon"):
        with pytest.raises(ValidationError, match="JACKFRUIT_LEASE_TTL_S"):
            Settings(JACKFRUIT_LEASE_TTL_S=bad)


def test_the_catalog_file_is_in_the_data_dir_unless_sqlite_path_is_set(tmp_path):
    assert Settings(JACKFRUIT_DATA_DIR=str(tmp_path)).sqlite_file == tmp_path / "catalog.sqlite"
    other = tmp_path / "elsewhere.sqlite"
    assert Settings(JACKFRUIT_DATA_DIR=str(tmp_path), JACKFRUIT_SQLITE_PATH=str(other)).sqlite_file == other


def test_jackfruit_debug_is_read_from_the_environment(monkeypatch):
    from jackfruit.settings import debug_enabled

    monkeypatch.delenv("JACKFRUIT_DEBUG", raising=False)
    assert not debug_enabled()
    monkeypatch.setenv("JACKFRUIT_DEBUG", "1")
    assert debug_enabled()
    monkeypatch.setenv("JACKFRUIT_DEBUG", "0")
    assert not debug_enabled()
