"""The composition root: one dependency-injector container, one Selector per port, fed from Settings."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

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
from .ports import Catalog, Clock, Secret, SinkTarget, Upstream
from .ports.runner import AdsTuning
from .settings import Settings, bucket_dir
from .usecases.housekeeping import attempt_liveness
from .registry import default_registry


def _bucket_dir(data_dir: str, bucket: str) -> str:
    return str(bucket_dir(data_dir, bucket))


def _sqlite_file(data_dir: str, sqlite_path: str | None) -> str:
    return sqlite_path or str(Path(data_dir) / "catalog.sqlite")


def _sqlite_catalog(path: str):
    """The embedded catalog as a resource: opened (and upgraded) on first use, closed by ``shutdown_resources``."""
    catalog = SqliteCatalog(path)
    try:
        yield catalog
    finally:
        catalog.close()


def _postgres_catalog(host: str, port: int, user: str, password: object, dbname: str, pool_timeout_s: float = 30.0,
                      sslmode: str | None = None, sslrootcert: str | None = None):
    """The PostgreSQL catalog and its connection pool as a resource, closed by ``shutdown_resources``
    (``Jackfruit.close()``). psycopg is imported only when this catalog is chosen."""
    from .adapters.catalog.postgres_catalog import PostgresCatalog

    catalog = PostgresCatalog(host=host, port=port, user=user, password=_reveal(password), dbname=dbname,
                              pool_timeout_s=pool_timeout_s, sslmode=sslmode, sslrootcert=sslrootcert)
    try:
        yield catalog
    finally:
        catalog.close()


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


def _ads_tuning(poll_initial_s: float, poll_max_s: float, queue_deadline_s: float, max_retries: int,
                retry_after_cap_s: float) -> AdsTuning:
    """The ADS_* settings as the ingester's tuning (flags built by ``ingester_protocol.tuning_args``)."""
    return AdsTuning(poll_initial_s=poll_initial_s, poll_max_s=poll_max_s, queue_deadline_s=queue_deadline_s,
                     max_retries=max_retries, retry_after_cap_s=retry_after_cap_s)


def _reveal(value: object) -> str | None:
    if value is None:
        return None
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)


def _s3_session(access_key: object, secret_key: object, profile: str | None) -> object:
    from .adapters.storage.s3_store import make_session

    return make_session(access_key=_reveal(access_key), secret_key=_reveal(secret_key), profile=profile)


def _s3_client(session: object, endpoint: str | None, region: str, ca_bundle: str | None, concurrency: int) -> object:
    from .adapters.storage.s3_store import client_config, make_client

    return make_client(endpoint, session=session, region=region, ca_bundle=str(ca_bundle) if ca_bundle else None,
                       config=client_config(concurrency=concurrency))


def _s3_store(client: object, bucket: str, write_once: bool, part_size_mib: int, concurrency: int) -> object:
    from .adapters.storage.s3_store import S3ObjectStore

    return S3ObjectStore(client, bucket, write_once=write_once, part_size=part_size_mib << 20,
                         concurrency=concurrency)


def _minio_store(endpoint: str, access_key: object, secret_key: object, region: str, ca_bundle: str | None,
                 bucket: str, part_size_mib: int) -> object:
    from .adapters.storage.minio_store import MinioObjectStore, make_minio_client

    client = make_minio_client(endpoint, _reveal(access_key), _reveal(secret_key), region=region,
                               ca_bundle=str(ca_bundle) if ca_bundle else None)
    return MinioObjectStore(client, bucket, part_size=part_size_mib << 20)


def _sink_target(object_store: str, raw_dir: str, bucket: str, endpoint: str | None, region: str,
                 ca_bundle: str | None, session: object) -> SinkTarget:
    """The raw bucket's one target, from which the ingester's sink is made (the raw ObjectStore is built
    from the same settings): ``file://`` its directory, or ``s3://`` the bucket with the credentials of the
    same session the raw store signs with."""
    if object_store in ("s3", "minio"):
        from .adapters.storage.s3_store import sink_credentials, sink_url

        return SinkTarget(sink_url(bucket, endpoint, region, str(ca_bundle) if ca_bundle else None),
                          sink_credentials(session))
    return SinkTarget.directory(raw_dir)


def _attempt_liveness(catalog: Callable[[], Catalog], clock: Callable[[], Clock]) -> Callable[[str, str], bool]:
    """``usecases.attempt_liveness`` with the catalog and clock resolved at each sweep, not when the runner is
    built."""
    return lambda run_id, attempt_id: attempt_liveness(catalog(), clock())(run_id, attempt_id)


def _docker_runner(sink: SinkTarget, image: str, network_mode: str, mem_limit: str | None, cpus: float | None,
                   timeout_s: float, tuning: AdsTuning, is_live: Callable[[str, str], bool]) -> object:
    """The Docker runner (the docker SDK is imported only when it is chosen); its daemon from DOCKER_HOST."""
    from .adapters.runner.docker_runner import DockerRunner

    return DockerRunner(sink, image=image, network_mode=network_mode, mem_limit=mem_limit, cpus=cpus,
                        timeout_s=timeout_s, tuning=tuning, is_live=is_live)


def _upstream(base_url: str, api_key: object) -> Upstream:
    value = api_key.get_secret_value() if hasattr(api_key, "get_secret_value") else str(api_key or "")
    return Upstream(base_url=base_url, api_key=Secret(value))


def _synthetic_products() -> Any:
    """The in-memory runner's product source: the synthetic product of the request's dataset profile."""
    return default_registry().synthetic_product


class Container(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)

    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(Uuid7Generator, clock)
    decoder = providers.Singleton(EccodesGribDecoder)
    tile_format = providers.Singleton(ZarrTileFormat)
    upstream = providers.Singleton(_upstream, config.ads_base_url, config.ads_api_key)

    work_dir = providers.Callable(_work_dir, config.data_dir, config.work_dir, config.object_store)
    lease_ttl = providers.Callable(_lease_ttl, config.lease_ttl_s)
    # ADS_MAX_JOBS_IN_FLIGHT: the cap on ingestions in flight per source (None: no cap)
    max_ingest_in_flight = providers.Callable(lambda n: n, config.ads_max_jobs_in_flight)
    raw_dir = providers.Callable(_bucket_dir, config.data_dir, config.raw_bucket)
    curated_dir = providers.Callable(_bucket_dir, config.data_dir, config.curated_bucket)

    s3_session = providers.Singleton(_s3_session, config.minio_access_key, config.minio_secret_key, config.s3_profile)
    s3_client = providers.Singleton(_s3_client, s3_session, config.minio_endpoint, config.s3_region,
                                    config.s3_ca_bundle, config.s3_concurrency)
    # raw is write-once at the server: always the boto3 adapter on S3 (minio-py cannot send If-None-Match;
    # docs/adr/0007-s3-object-storage.md), also when the curated bucket goes through the minio SDK
    _raw_s3 = providers.Singleton(_s3_store, s3_client, config.raw_bucket, True, config.s3_part_size_mib,
                                  config.s3_concurrency)
    raw_store = providers.Selector(
        config.object_store,
        filesystem=providers.Singleton(FilesystemObjectStore, raw_dir, bucket=config.raw_bucket, write_once=True),
        memory=providers.Singleton(InMemoryObjectStore, config.raw_bucket, write_once=True),
        s3=_raw_s3,
        minio=_raw_s3,
    )
    curated_store = providers.Selector(
        config.object_store,
        filesystem=providers.Singleton(FilesystemObjectStore, curated_dir, bucket=config.curated_bucket),
        memory=providers.Singleton(InMemoryObjectStore, config.curated_bucket),
        s3=providers.Singleton(_s3_store, s3_client, config.curated_bucket, False, config.s3_part_size_mib,
                               config.s3_concurrency),
        minio=providers.Singleton(_minio_store, config.minio_endpoint, config.minio_access_key,
                                  config.minio_secret_key, config.s3_region, config.s3_ca_bundle,
                                  config.curated_bucket, config.s3_part_size_mib),
    )
    raw_target = providers.Singleton(_sink_target, config.object_store, raw_dir, config.raw_bucket,
                                     config.minio_endpoint, config.s3_region, config.s3_ca_bundle, s3_session)
    # the SQL catalogs hold connections: Resources, closed by container.shutdown_resources() (Jackfruit.close())
    catalog = providers.Selector(
        config.catalog,
        sqlite=providers.Resource(_sqlite_catalog, providers.Callable(_sqlite_file, config.data_dir, config.sqlite_path)),
        memory=providers.Singleton(InMemoryCatalog),
        postgres=providers.Resource(_postgres_catalog, config.postgres_host, config.postgres_port,
                                    config.postgres_user, config.postgres_password, config.postgres_db,
                                    config.postgres_pool_timeout_s, config.postgres_sslmode,
                                    config.postgres_sslrootcert),
    )
    # poll, queue and retry settings of every runner that starts the Go ingester (ADS_* settings)
    ads_tuning = providers.Singleton(_ads_tuning, config.ads_poll_initial_s, config.ads_poll_max_s,
                                     config.ads_queue_deadline_s, config.ads_max_retries, config.ads_retry_after_cap_s)
    runner = providers.Selector(
        config.runner,
        subprocess=providers.Singleton(SubprocessRunner, raw_target, binary=config.ingest_binary,
                                       timeout_s=config.ingest_timeout_s, tuning=ads_tuning),
        # the ingester image in a sibling container, committing to the same raw target; every run first sweeps
        # the containers of attempts the catalog says are over (a crashed caller's leftovers)
        docker=providers.Singleton(_docker_runner, raw_target, config.ingest_image, config.docker_network,
                                   config.docker_memory, config.docker_cpus, config.ingest_timeout_s, ads_tuning,
                                   providers.Callable(_attempt_liveness, catalog.provider, clock.provider)),
        # generates the product a request would return (its dataset's profile), in process: tests, offline trials
        memory=providers.Singleton(InMemoryRunner, raw_store, providers.Callable(_synthetic_products)),
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
        "minio_access_key": settings.minio_access_key,
        "minio_secret_key": settings.minio_secret_key,
        "postgres_password": settings.postgres_password,
        "s3_ca_bundle": str(settings.s3_ca_bundle) if settings.s3_ca_bundle else None,
    })
    return container


def init_storage(settings: Settings | None = None) -> list[str]:
    """``jackfruit storage init``: make the configured buckets ready (idempotent); one line per action."""
    settings = settings or Settings()
    container = build_container(settings)
    if settings.object_store in ("s3", "minio"):
        from .adapters.storage.s3_admin import init_buckets

        retention = (settings.raw_retention_mode, settings.raw_retention_days) if settings.raw_retention_days else None
        return init_buckets(container.s3_client(), [(settings.raw_bucket, True), (settings.curated_bucket, False)],
                            region=settings.s3_region, retention=retention)
    if settings.object_store == "filesystem":
        raw, curated = container.raw_store(), container.curated_store()
        return [f"{raw.bucket}: directory {raw.root} (write-once: marked)",
                f"{curated.bucket}: directory {curated.root}"]
    return ["in-memory buckets: nothing to create"]


def upgrade_catalog(settings: Settings | None = None) -> object | None:
    """``jackfruit db upgrade``: apply the configured catalog's pending schema migrations (a no-op when there are
    none); returns the adapter's report (``.lines()``), or None for the in-memory catalog."""
    settings = settings or Settings()
    if settings.catalog == "postgres":
        from .adapters.catalog.postgres_catalog import upgrade_schema

        return upgrade_schema(host=settings.postgres_host, port=settings.postgres_port, user=settings.postgres_user,
                              password=_reveal(settings.postgres_password), dbname=settings.postgres_db,
                              sslmode=settings.postgres_sslmode, sslrootcert=settings.postgres_sslrootcert)
    if settings.catalog == "sqlite":
        from .adapters.catalog.sqlite_catalog import upgrade_schema as upgrade_sqlite

        return upgrade_sqlite(str(settings.sqlite_file))
    return None
