"""The composition root: one dependency-injector container, one Selector per port, fed from Settings."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from dependency_injector import containers, providers

from .adapters.clock import SystemClock, Uuid7Generator
from .adapters.transform.eccodes_decoder import EccodesGribDecoder
from .adapters.storage.filesystem_store import FilesystemObjectStore
from .adapters.catalog.memory_catalog import InMemoryCatalog
from .adapters.runner.memory_runner import InMemoryRunner
from .adapters.storage.memory_store import InMemoryObjectStore
from .adapters.catalog.sqlite_catalog import SqliteCatalog
from .adapters.runner.subprocess_runner import SubprocessRunner
from .adapters.transform.zarr_tiles import ZarrTileFormat
from .ports import Secret, Upstream
from .settings import Settings, bucket_dir
from .synthetic.cams_grib import grib_for_request


def _bucket_dir(data_dir: str, bucket: str) -> str:
    return str(bucket_dir(data_dir, bucket))


def _sqlite_file(data_dir: str, sqlite_path: str | None) -> str:
    return sqlite_path or str(Path(data_dir) / "catalog.sqlite")


def _work_dir(data_dir: str, work_dir: str | None, object_store: str) -> str:
    """Scratch space of attempts: the setting, else DATA_DIR/work (the system temp dir for in-memory stores,
    which keep nothing under the data dir)."""
    if work_dir:
        return work_dir
    if object_store == "memory":
        return str(Path(tempfile.gettempdir()) / "jackfruit-work")
    return str(Path(data_dir) / "work")


def _lease_ttl(seconds: float | None) -> timedelta:
    return timedelta(seconds=seconds or 60.0)


def _ingest_args(poll_initial_s: float) -> tuple[str, ...]:
    return (f"--poll-initial={int(poll_initial_s * 1000)}ms",)


def _upstream(base_url: str, api_key: object) -> Upstream:
    value = api_key.get_secret_value() if hasattr(api_key, "get_secret_value") else str(api_key or "")
    return Upstream(base_url=base_url, api_key=Secret(value))


class Container(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)

    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(Uuid7Generator, clock)
    decoder = providers.Singleton(EccodesGribDecoder)
    tile_format = providers.Singleton(ZarrTileFormat)
    upstream = providers.Singleton(_upstream, config.ads_base_url, config.ads_api_key)

    work_dir = providers.Callable(_work_dir, config.data_dir, config.work_dir, config.object_store)
    lease_ttl = providers.Callable(_lease_ttl, config.lease_ttl_s)
    raw_dir = providers.Callable(_bucket_dir, config.data_dir, config.raw_bucket)
    curated_dir = providers.Callable(_bucket_dir, config.data_dir, config.curated_bucket)

    raw_store = providers.Selector(
        config.object_store,
        filesystem=providers.Singleton(FilesystemObjectStore, raw_dir, bucket=config.raw_bucket, write_once=True),
        memory=providers.Singleton(InMemoryObjectStore, config.raw_bucket, write_once=True),
    )
    curated_store = providers.Selector(
        config.object_store,
        filesystem=providers.Singleton(FilesystemObjectStore, curated_dir, bucket=config.curated_bucket),
        memory=providers.Singleton(InMemoryObjectStore, config.curated_bucket),
    )
    catalog = providers.Selector(
        config.catalog,
        sqlite=providers.Singleton(SqliteCatalog, providers.Callable(_sqlite_file, config.data_dir, config.sqlite_path)),
        memory=providers.Singleton(InMemoryCatalog),
    )
    runner = providers.Selector(
        config.runner,
        subprocess=providers.Singleton(SubprocessRunner, raw_dir, binary=config.ingest_binary,
                                       timeout_s=config.ingest_timeout_s,
                                       extra_args=providers.Callable(_ingest_args, config.ingest_poll_initial_s)),
        # generates the product a CAMS request would return, in process: for tests and offline trials
        memory=providers.Singleton(InMemoryRunner, raw_store, grib_for_request),
    )


def build_container(settings: Settings | None = None) -> Container:
    settings = settings or Settings()
    container = Container()
    container.config.from_dict(settings.model_dump(mode="python", by_alias=False) | {
        "data_dir": str(settings.data_dir),
        "sqlite_path": str(settings.sqlite_path) if settings.sqlite_path else None,
        "work_dir": str(settings.work_dir) if settings.work_dir else None,
        "lease_ttl_s": settings.lease_ttl_s,
        "ads_api_key": settings.ads_api_key,
    })
    return container
