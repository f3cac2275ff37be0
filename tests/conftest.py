"""Shared fixtures: real-service requirements (skip on a laptop, fail under CI=true) and common builders."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "grib"
REAL_CAMS = DATA / "cams-europe_ensemble_mugwort-pollen_2022-08-13to15_step0.grib"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(what: str, available: bool, how: str) -> None:
    """A missing real service fails the test under CI=true and skips it (visibly) elsewhere."""
    if available:
        return
    message = f"{what} is not available: {how}"
    if IN_CI:
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


def go_binary(name: str) -> str:
    """Found exactly as the library finds it (``find_binary``); missing fails under CI, skips elsewhere."""
    from jackfruit.adapters.runner.subprocess_runner import find_binary
    from jackfruit.domain.errors import BackendUnavailable

    try:
        return find_binary(name)
    except BackendUnavailable as err:
        require(f"the Go binary {name}", False, f"{err}; run scripts/setup (builds ingest-go into .venv/bin)")
        raise


@pytest.fixture
def ingest_binary() -> str:
    return go_binary("jackfruit-ingest")


@pytest.fixture
def stub_binary() -> str:
    return go_binary("ads-stub")


@pytest.fixture
def ads_stub(stub_binary: str):
    from jackfruit.synthetic.ads_stub import AdsStub

    with AdsStub(api_key="test-key", binary=stub_binary) as stub:
        yield stub


DAY = date(2025, 3, 12)


# -- a real S3-compatible server (versitygw started by scripts/s3-server; .ci/run starts it) ------------------
class S3Server:
    def __init__(self, endpoint: str, access_key: str, secret_key: str) -> None:
        self.endpoint, self.access_key, self.secret_key = endpoint, access_key, secret_key

    def client(self, **kwargs):
        from jackfruit.adapters.storage.s3_store import make_client

        return make_client(self.endpoint, access_key=self.access_key, secret_key=self.secret_key, **kwargs)


@pytest.fixture(scope="session")
def s3_server() -> S3Server:
    endpoint = os.environ.get("JACKFRUIT_TEST_S3_ENDPOINT", "")
    require("an S3-compatible server", bool(endpoint),
            "JACKFRUIT_TEST_S3_ENDPOINT is not set; start one with `eval \"$(scripts/s3-server start)\"`")
    server = S3Server(endpoint, os.environ.get("JACKFRUIT_TEST_S3_ACCESS_KEY", ""),
                      os.environ.get("JACKFRUIT_TEST_S3_SECRET_KEY", ""))
    try:
        server.client().list_buckets()
    except Exception as err:  # noqa: BLE001 - any failure means the server is not usable
        require("an S3-compatible server", False, f"{endpoint} does not answer ({type(err).__name__}); "
                "start one with `eval \"$(scripts/s3-server start)\"`")
    return server


@pytest.fixture
def s3_buckets(s3_server: S3Server):
    """``new()`` creates a fresh, uniquely named bucket; every bucket made is emptied and removed afterwards."""
    import uuid

    client = s3_server.client()
    made: list[str] = []

    def new(prefix: str = "t") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:16]}"
        client.create_bucket(Bucket=name)
        made.append(name)
        return name

    yield new
    for name in made:
        drop_bucket(client, name)


def drop_bucket(client, name: str) -> None:
    """A test bucket gone: its unfinished uploads aborted, its objects deleted, then the bucket."""
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=name):
        for u in page.get("Uploads", []):
            client.abort_multipart_upload(Bucket=name, Key=u["Key"], UploadId=u["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
        for o in page.get("Contents", []):
            client.delete_object(Bucket=name, Key=o["Key"])
    client.delete_bucket(Bucket=name)


# -- a real PostgreSQL + PostGIS server (scripts/postgres-server; .ci/run starts it) -------------------------------
class PostgresServer:
    """A server on which tests make (and drop) their own uniquely named databases, never touching others."""

    def __init__(self, host: str, port: int, user: str, password: str) -> None:
        self.host, self.port, self.user, self.password = host, port, user, password

    def connect(self, dbname: str = "postgres"):
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                               dbname=dbname, autocommit=True, connect_timeout=10)

    def catalog_kwargs(self, dbname: str) -> dict:
        """Keyword arguments of ``PostgresCatalog`` / ``upgrade_schema`` for one database."""
        return dict(host=self.host, port=self.port, user=self.user, password=self.password, dbname=dbname)

    def environment(self, dbname: str) -> dict[str, str]:
        """The seed's POSTGRES_* variables (and JACKFRUIT_CATALOG=postgres) for one database."""
        return {"JACKFRUIT_CATALOG": "postgres", "POSTGRES_HOST": self.host, "POSTGRES_PORT": str(self.port),
                "POSTGRES_USER": self.user, "POSTGRES_PASSWORD": self.password, "POSTGRES_DB": dbname}

    def create_database(self, prefix: str = "jf_test", template: str | None = None, extensions: bool = True) -> str:
        import uuid

        name = f"{prefix}_{uuid.uuid4().hex[:16]}"
        with self.connect() as admin:
            admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template
                                                         else ""))
        if extensions and template is None:
            with self.connect(name) as db:
                db.execute("CREATE EXTENSION postgis")
                db.execute("CREATE EXTENSION btree_gist")
        return name

    def drop_database(self, name: str) -> None:
        with self.connect() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    host = os.environ.get("JACKFRUIT_TEST_PG_HOST", "")
    how = "start one with `eval \"$(scripts/postgres-server start)\"`"
    require("a PostgreSQL + PostGIS server", bool(host), f"JACKFRUIT_TEST_PG_HOST is not set; {how}")
    server = PostgresServer(host, int(os.environ.get("JACKFRUIT_TEST_PG_PORT", "5432")),
                            os.environ.get("JACKFRUIT_TEST_PG_USER", ""), os.environ.get("JACKFRUIT_TEST_PG_PASSWORD", ""))
    try:
        with server.connect() as admin:
            found = {n for (n,) in admin.execute(
                "SELECT name FROM pg_available_extensions WHERE name IN ('postgis', 'btree_gist')")}
    except Exception as err:  # noqa: BLE001 - any failure means the server is not usable
        require("a PostgreSQL + PostGIS server", False, f"{host} does not answer ({type(err).__name__}); {how}")
        raise
    require("a PostgreSQL + PostGIS server", found == {"postgis", "btree_gist"},
            f"{host} lacks the extensions {sorted({'postgis', 'btree_gist'} - found)}; {how}")
    return server


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer):
    """A database with the extensions and every migration applied, cloned by ``postgres_databases(template=…)``
    (much faster than migrating each test's database); dropped at the end of the session."""
    from jackfruit.adapters.catalog.postgres_catalog import upgrade_schema

    name = postgres_server.create_database("jf_template")
    try:
        upgrade_schema(**postgres_server.catalog_kwargs(name))
        yield name
    finally:
        postgres_server.drop_database(name)


@pytest.fixture
def postgres_databases(postgres_server: PostgresServer):
    """``new(template=None, extensions=True)`` makes a fresh, uniquely named database (a clone of ``template``, or
    empty with the PostGIS and btree_gist extensions); every database made is dropped afterwards."""
    made: list[str] = []

    def new(template: str | None = None, extensions: bool = True) -> str:
        name = postgres_server.create_database(template=template, extensions=extensions)
        made.append(name)
        return name

    yield new
    for name in made:
        postgres_server.drop_database(name)


# libpq before ecCodes in this process too (tests import eccodes directly): see jackfruit/adapters/_load_order.py
import jackfruit.adapters._load_order  # noqa: E402,F401


# -- integration tests on each catalog backend: the embedded SQLite default, and PostgreSQL (a fresh database) -----
from contextlib import contextmanager  # noqa: E402
from typing import Iterator  # noqa: E402

#: parametrize an environment fixture over these (ids ``sqlite`` / ``postgres``)
CATALOG_BACKENDS = ("sqlite", pytest.param("postgres", marks=pytest.mark.service("postgres")))


def build_app(env: dict[str, str]):
    """A ``Jackfruit`` built from exactly ``env``, as the CLI processes get it (os.environ is swapped only while it is
    built); the caller closes it."""
    from jackfruit.app import Jackfruit
    from jackfruit.settings import load_settings

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        return Jackfruit.from_settings(load_settings())
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def app_from(env: dict[str, str]):
    """``build_app(env)``, closed at the end."""
    app = build_app(env)
    try:
        yield app
    finally:
        app.close()


def clean_environ() -> dict[str, str]:
    """``os.environ`` without jackfruit's own settings (JACKFRUIT_*, ADS_*, MINIO_*, POSTGRES_*)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("JACKFRUIT_", "ADS_", "MINIO_", "POSTGRES_"))}


def jackfruit_db_upgrade(env: dict[str, str]) -> str:
    """``jackfruit db upgrade`` through the CLI, as a user runs it (the test fails unless it exits 0); its stdout."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "jackfruit.cli", "db", "upgrade"], env={**clean_environ(), **env},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"jackfruit db upgrade exited {done.returncode}: {done.stderr}"
    return done.stdout


@contextmanager
def catalog_environment(request: pytest.FixtureRequest, backend: str,
                        prefix: str = "jf_run") -> Iterator[dict[str, str]]:
    """The variables that select a fresh catalog of ``backend`` (merge them into a test's environment):
    ``sqlite``: none (the embedded default under JACKFRUIT_DATA_DIR); ``postgres``: JACKFRUIT_CATALOG and
    POSTGRES_* of a new database with the extensions, migrated by ``jackfruit db upgrade`` through the CLI,
    dropped (with any session left on it) afterwards. Usable from fixtures of any scope."""
    if backend == "sqlite":
        yield {}
        return
    assert backend == "postgres", backend
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database(prefix)
    try:
        env = server.environment(name)
        jackfruit_db_upgrade(env)
        yield env
    finally:
        server.drop_database(name)


@pytest.fixture(params=CATALOG_BACKENDS)
def catalog_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """``catalog_environment`` of each backend in turn, one fresh catalog per test."""
    with catalog_environment(request, request.param) as env:
        yield env


# -- a Docker daemon (scripts/docker-daemon) and the ingester image (scripts/ingest-image) -------------------------
import uuid as _uuid  # noqa: E402

DOCKER_HOW = "start one with `eval \"$(scripts/docker-daemon start)\"` (DOCKER_HOST)"


@pytest.fixture(scope="session")
def docker_daemon():
    """A ``docker.DockerClient`` for the daemon at DOCKER_HOST; a missing daemon fails under CI, skips elsewhere."""
    try:
        import docker
    except ImportError as err:
        require("the docker SDK", False, f"{err}; install the project's dependencies")
        raise
    try:
        client = docker.from_env()
        client.ping()
    except Exception as err:  # noqa: BLE001 - any failure means the daemon is not usable
        require("a Docker daemon", False, f"{os.environ.get('DOCKER_HOST') or 'the default socket'} does not "
                f"answer ({type(err).__name__}); {DOCKER_HOW}")
        raise
    yield client
    client.close()


@pytest.fixture(scope="session")
def ingest_image(docker_daemon) -> str:
    """The ingester image's tag (JACKFRUIT_INGEST_IMAGE, default jackfruit-ingest:dev), (re)built once per session
    by scripts/ingest-image from ingest-go/ when Go is available (so the image runs the code under test), else the
    image already in the daemon; a failed build or no image fails under CI, skips elsewhere."""
    import shutil
    import subprocess

    import docker.errors

    tag = os.environ.get("JACKFRUIT_INGEST_IMAGE", "jackfruit-ingest:dev")
    if shutil.which("go") or os.path.exists("/usr/local/go/bin/go"):
        env = {**os.environ, "JACKFRUIT_INGEST_IMAGE": tag}
        env["PATH"] = env.get("PATH", "") + os.pathsep + "/usr/local/go/bin"
        done = subprocess.run([str(ROOT / "scripts" / "ingest-image")], env=env, capture_output=True, text=True,
                              timeout=600)
        # an image older than ingest-go/ would test other code: a failed build is a missing image
        require(f"the ingester image {tag}", done.returncode == 0,
                f"scripts/ingest-image failed: {done.stderr.strip()[-800:]}")
    try:
        docker_daemon.images.get(tag)
    except docker.errors.ImageNotFound:
        require(f"the ingester image {tag}", False, "build it with scripts/ingest-image")
    return tag


@pytest.fixture
def docker_owner(docker_daemon):
    """A unique ``owner`` for the DockerRunners of one test; afterwards no container labelled with it may be left
    (any found is removed, and the test fails)."""
    owner = f"pytest-{_uuid.uuid4().hex[:12]}"
    yield owner
    left = docker_daemon.containers.list(all=True, filters={"label": f"org.jackfruit.owner={owner}"})
    for container in left:
        container.remove(force=True)
    assert not left, f"containers left behind: {[(c.name, c.status) for c in left]}"


# -- a browser: Debian's chromium (scripts/browser; apt), driven headless by the playwright client --------------
CHROMIUM = "/usr/bin/chromium"
BROWSER_HOW = "install it with `scripts/browser install` (root: apt-get install chromium) and the test extras " \
              "(scripts/setup); never `playwright install`"


@pytest.fixture(scope="session")
def browser():
    """A headless chromium (playwright ``Browser``) of Debian's package at /usr/bin/chromium, never a downloaded
    one; a missing package or browser that does not start fails under CI, skips elsewhere."""
    try:
        from playwright.sync_api import Error as PlaywrightError, sync_playwright
    except ImportError as err:
        require("the playwright package", False, f"{err}; {BROWSER_HOW}")
        raise
    require("Debian's chromium", os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing; {BROWSER_HOW}")
    with sync_playwright() as playwright:
        try:
            # --no-sandbox: chromium's sandbox refuses to run as root (CI machines run the tests as root)
            launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                  args=["--no-sandbox", "--disable-dev-shm-usage"])
        except PlaywrightError as err:
            require("a headless chromium", False, f"{CHROMIUM} did not start ({str(err)[:500]}); {BROWSER_HOW}")
            raise
        yield launched
        launched.close()
