"""Credentials never leave their setting (issue 17, finding 4): a canary secret is placed in every setting that can
carry one — ``ADS_BASE_URL``, ``ADS_API_KEY``, ``MINIO_ENDPOINT``, ``MINIO_ACCESS_KEY`` / ``MINIO_SECRET_KEY``,
``DOCKER_HOST``, ``POSTGRES_*``, the ``AWS_*`` variables — both valid (the command works with it) and malformed or
wrong (the command is refused), and searched for everywhere jackfruit writes or shows anything:

- the command's stdout and stderr, with every log record of jackfruit (debug level up) and JACKFRUIT_DEBUG=1
  (tracebacks, psycopg_pool's records), and the ingester's forwarded lines;
- the ingester's argv and environment: the subprocess runner's binary is a wrapper that records both before it
  execs the real one; the Docker runner's container is ``docker inspect``-ed (argv, environment, labels) the
  moment the real daemon reports it created, with its output (``docker logs``) when it dies, and the daemon's log;
- the catalog (every row of every table: SQLite through its files, PostgreSQL through SQL) and every file under the
  data directory (filesystem buckets, scratch).

Two stacks: ``embedded`` (filesystem buckets, SQLite, the subprocess runner) and ``production`` (the S3-compatible
server, PostgreSQL + PostGIS as a role whose password is a canary, the Docker runner). Every case also searches for
the secrets every command carries (the ADS key, the S3 keys, the database password): none may appear in any case.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from jackfruit.synthetic.ads_stub import AdsStub

from ..conftest import clean_environ, jackfruit_db_upgrade

pytestmark = [pytest.mark.slow]

CANARY = f"canary{uuid.uuid4().hex[:20]}"  # the secret placed in the setting under test
ADS_KEY = f"adskey{uuid.uuid4().hex[:20]}"  # the stub's key: a canary in every case
PG_PASSWORD = f"pgpass{uuid.uuid4().hex[:20]}"  # the production stack's database role: a canary in every case
REQUEST = json.dumps({"variable": "ozone", "leadtime_hour": "0", "area": [50, 0, 45, 5]})
DOCKER_LOG = Path("/tmp/jackfruit-docker/dockerd.log")
#: the CLI with every log record of jackfruit (debug level and up) on stderr
CLI_WITH_EVERY_LOG = ("import logging, sys\n"
                      "logging.basicConfig(stream=sys.stderr, format='log %(levelname)s %(name)s: %(message)s')\n"
                      "logging.getLogger('jackfruit').setLevel(logging.DEBUG)\n"
                      "from jackfruit.cli import main\n"
                      "sys.argv[0] = 'jackfruit'\n"
                      "sys.exit(main())\n")

#: exit codes: 0 the command works with the secret; 2 the setting is refused (nothing is opened); 6 a backend
#: refuses it (catalog, bucket, daemon); 7 the upstream refuses it
OK, REFUSED, UNAVAILABLE, UPSTREAM = {0}, {2}, {6}, {7}


def row(name: str, env: dict[str, str], codes: set[int], *, stacks: tuple[str, ...] = ("embedded", "production"),
        drop: tuple[str, ...] = ()) -> list[Any]:
    """One setting's case on each stack; ``env`` values may say ``{canary}`` (the secret under test), ``{stub}``
    (the stub's host:port), ``{s3}`` (the S3 server's host:port); ``drop``: settings of the stack to unset."""
    marks = {"production": [pytest.mark.service("postgres"), pytest.mark.service("s3"), pytest.mark.service("docker")]}
    return [pytest.param(stack, env, codes, drop, id=f"{name}-{stack}", marks=marks.get(stack, []))
            for stack in stacks]


CASES = [
    # -- ADS_BASE_URL: credentials in the URL are refused without echo, valid-looking or malformed
    *row("ads-url-userinfo", {"ADS_BASE_URL": "http://user:{canary}@{stub}/api"}, REFUSED),
    *row("ads-url-userinfo-no-user", {"ADS_BASE_URL": "http://{canary}@{stub}/api"}, REFUSED),
    *row("ads-url-ftp-userinfo", {"ADS_BASE_URL": "ftp://user:{canary}@{stub}/api"}, REFUSED),
    *row("ads-url-bad-port-userinfo", {"ADS_BASE_URL": "http://user:{canary}@{stub}9999/api"}, REFUSED),
    *row("ads-url-no-host-userinfo", {"ADS_BASE_URL": "https://user:{canary}@/api"}, REFUSED),
    *row("ads-url-port-is-canary", {"ADS_BASE_URL": "http://127.0.0.1:{canary}/api"}, REFUSED),
    *row("ads-url-query-token", {"ADS_BASE_URL": "http://{stub}/api?token={canary}"}, REFUSED),
    *row("ads-url-fragment-token", {"ADS_BASE_URL": "http://{stub}/api#{canary}"}, REFUSED),
    # -- ADS_API_KEY: the valid key is every case's stub key; a wrong one is refused upstream, never echoed
    *row("ads-key-valid", {}, OK),
    *row("ads-key-wrong", {"ADS_API_KEY": "{canary}"}, UPSTREAM),
    *row("ads-key-with-newline", {"ADS_API_KEY": "{canary}\nmore"}, UPSTREAM | REFUSED),
    # -- MINIO_ENDPOINT
    *row("minio-endpoint-userinfo", {"MINIO_ENDPOINT": "http://ak:{canary}@{s3}"}, REFUSED),
    *row("minio-endpoint-ftp-userinfo", {"MINIO_ENDPOINT": "ftp://ak:{canary}@{s3}"}, REFUSED),
    *row("minio-endpoint-port-is-canary", {"MINIO_ENDPOINT": "http://127.0.0.1:{canary}"}, REFUSED),
    *row("minio-endpoint-path-canary", {"MINIO_ENDPOINT": "http://{s3}/{canary}"}, REFUSED),
    # -- MINIO_ACCESS_KEY / MINIO_SECRET_KEY (valid: every production case's keys)
    *row("minio-secret-wrong", {"MINIO_SECRET_KEY": "{canary}"}, UNAVAILABLE, stacks=("production",)),
    *row("minio-access-wrong", {"MINIO_ACCESS_KEY": "{canary}"}, UNAVAILABLE, stacks=("production",)),
    *row("minio-access-alone", {"MINIO_ACCESS_KEY": "{canary}"}, REFUSED, stacks=("production",),
         drop=("MINIO_SECRET_KEY",)),
    *row("minio-secret-alone", {"MINIO_SECRET_KEY": "{canary}"}, REFUSED, drop=("MINIO_ACCESS_KEY",)),
    # -- the AWS variables: boto3's chain when the MINIO keys are unset
    *row("aws-keys-valid", {"AWS_ACCESS_KEY_ID": "{s3_access}", "AWS_SECRET_ACCESS_KEY": "{s3_secret}"}, OK,
         stacks=("production",), drop=("MINIO_ACCESS_KEY", "MINIO_SECRET_KEY")),
    *row("aws-secret-wrong", {"AWS_ACCESS_KEY_ID": "{s3_access}", "AWS_SECRET_ACCESS_KEY": "{canary}"},
         UNAVAILABLE, stacks=("production",), drop=("MINIO_ACCESS_KEY", "MINIO_SECRET_KEY")),
    *row("aws-session-token-wrong", {"AWS_ACCESS_KEY_ID": "{s3_access}", "AWS_SECRET_ACCESS_KEY": "{s3_secret}",
                                     "AWS_SESSION_TOKEN": "{canary}"}, UNAVAILABLE | OK,
         stacks=("production",), drop=("MINIO_ACCESS_KEY", "MINIO_SECRET_KEY")),
    *row("aws-variables-unused", {"AWS_ACCESS_KEY_ID": "{canary}", "AWS_SECRET_ACCESS_KEY": "{canary}",
                                  "AWS_SESSION_TOKEN": "{canary}"}, OK),
    # -- DOCKER_HOST
    *row("docker-host-userinfo", {"DOCKER_HOST": "tcp://user:{canary}@127.0.0.1:1"}, REFUSED),
    *row("docker-host-ssh-userinfo", {"DOCKER_HOST": "ssh://user:{canary}@127.0.0.1"}, REFUSED),
    *row("docker-host-port-is-canary", {"DOCKER_HOST": "tcp://127.0.0.1:{canary}"}, REFUSED),
    # -- POSTGRES_* (valid: every production case runs as a role whose password is a canary)
    *row("postgres-password-wrong", {"POSTGRES_PASSWORD": "{canary}"}, UNAVAILABLE, stacks=("production",)),
    *row("postgres-host-uri", {"POSTGRES_HOST": "postgresql://jf:{canary}@127.0.0.1/db"}, REFUSED),
    *row("postgres-host-conninfo", {"POSTGRES_HOST": "127.0.0.1 password={canary}"}, REFUSED),
    *row("postgres-user-uri", {"POSTGRES_USER": "postgresql://jf:{canary}@127.0.0.1/db"}, REFUSED),
    *row("postgres-user-conninfo", {"POSTGRES_USER": "jf password={canary}"}, REFUSED),
    *row("postgres-db-uri", {"POSTGRES_DB": "postgresql://jf:{canary}@127.0.0.1/db"}, REFUSED),
    *row("postgres-port-is-canary", {"POSTGRES_PORT": "{canary}"}, REFUSED),
    *row("postgres-pool-timeout-is-canary", {"POSTGRES_POOL_TIMEOUT_S": "{canary}"}, REFUSED),
    *row("postgres-sslmode-is-canary", {"POSTGRES_SSLMODE": "{canary}"}, REFUSED),
    *row("postgres-sslrootcert-is-canary", {"POSTGRES_SSLROOTCERT": "/nonexistent/{canary}.pem"}, REFUSED),
]


# -- what the ingester got: argv and environment ---------------------------------------------------------------

def recording_binary(folder: Path, real: str) -> str:
    """A wrapper of the real ingester that writes its argv and environment under ``folder``, then execs it."""
    folder.mkdir(parents=True, exist_ok=True)
    wrapper = folder / "jackfruit-ingest"
    wrapper.write_text("#!/bin/sh\n"
                       f"printf '%s\\n' \"$@\" > '{folder}/argv.'$$\n"
                       f"env > '{folder}/env.'$$\n"
                       f"exec '{real}' \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return str(wrapper)


class ContainerWatch:
    """``docker inspect`` of every container the daemon creates while it runs, and the output of each that dies."""

    def __init__(self, client: Any) -> None:
        self.client, self.seen, self.created = client, [], 0
        self._stream = client.api.events(decode=True, filters={"type": "container"})
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        import docker.errors

        for event in self._stream:
            cid = event.get("id") or event.get("Actor", {}).get("ID")
            try:
                if event.get("Action") == "create":
                    self.created += 1
                    self.seen.append(json.dumps(self.client.api.inspect_container(cid)))
                elif event.get("Action") == "die":
                    self.seen.append(self.client.api.logs(cid).decode(errors="replace"))
            except (docker.errors.NotFound, docker.errors.APIError):
                pass

    def close(self) -> str:
        self._stream.close()
        self._thread.join(timeout=10)
        return "\n".join(self.seen)


# -- the stacks --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stub() -> Iterator[AdsStub]:
    with AdsStub(api_key=ADS_KEY, extra_args=("--job-seconds", "1", "--bits", "12")) as running:
        yield running


@pytest.fixture(scope="module")
def production(request, stub) -> Iterator[dict[str, Any]]:
    """The S3 server (two fresh buckets), a PostgreSQL database owned by a role whose password is a canary
    (migrated by `jackfruit db upgrade` as that role: each case gets a fresh copy of it), the Docker runner with the
    ingester image."""
    s3 = request.getfixturevalue("s3_server")
    pg = request.getfixturevalue("postgres_server")
    image = request.getfixturevalue("ingest_image")
    client = s3.client()
    buckets = [f"canary-{kind}-{uuid.uuid4().hex[:12]}" for kind in ("raw", "curated")]
    for bucket in buckets:
        client.create_bucket(Bucket=bucket)
    role = f"jf_canary_{uuid.uuid4().hex[:12]}"
    db = pg.create_database("jf_canary")
    with pg.connect() as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PG_PASSWORD}'")
        admin.execute(f'ALTER DATABASE "{db}" OWNER TO {role}')
    with pg.connect(db) as owner:
        owner.execute(f"ALTER SCHEMA public OWNER TO {role}")
    env = {"JACKFRUIT_CATALOG": "postgres", "POSTGRES_HOST": pg.host, "POSTGRES_PORT": str(pg.port),
           "POSTGRES_USER": role, "POSTGRES_PASSWORD": PG_PASSWORD, "POSTGRES_DB": db,
           "POSTGRES_POOL_TIMEOUT_S": "5", "JACKFRUIT_OBJECT_STORE": "s3", "MINIO_ENDPOINT": s3.endpoint,
           "MINIO_ACCESS_KEY": s3.access_key, "MINIO_SECRET_KEY": s3.secret_key, "MINIO_BUCKET": buckets[0],
           "JACKFRUIT_CURATED_BUCKET": buckets[1], "JACKFRUIT_RUNNER": "docker", "JACKFRUIT_INGEST_IMAGE": image,
           "DOCKER_HOST": os.environ.get("DOCKER_HOST", "")}
    jackfruit_db_upgrade(env)
    try:
        yield {"env": env, "secrets": [s3.secret_key, s3.access_key, PG_PASSWORD], "pg": pg, "template": db,
               "docker": request.getfixturevalue("docker_daemon")}
    finally:
        pg.drop_database(db)
        with pg.connect() as admin:
            admin.execute(f"DROP ROLE IF EXISTS {role}")
        for bucket in buckets:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for item in page.get("Contents", []):
                    client.delete_object(Bucket=bucket, Key=item["Key"])
            client.delete_bucket(Bucket=bucket)


def fill(value: str, stub: AdsStub, s3: Any) -> str:
    endpoint = s3.endpoint.split("://", 1)[-1] if s3 else "127.0.0.1:7070"
    return (value.replace("{canary}", CANARY).replace("{stub}", stub.url.split("://", 1)[1].split("/", 1)[0])
            .replace("{s3}", endpoint).replace("{s3_access}", s3.access_key if s3 else "ak")
            .replace("{s3_secret}", s3.secret_key if s3 else "sk"))


def catalog_text(stack: str, data: Path, world: dict[str, Any] | None) -> str:
    """Every row of every catalog table as text (PostgreSQL); SQLite is searched with the data directory's files."""
    if stack != "production":
        return ""
    with world["pg"].connect(world["db"]) as conn:
        tables = [t for (t,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                             "AND tablename <> 'spatial_ref_sys'")]  # PostGIS's own
        return "\n".join(str(conn.execute(f'SELECT coalesce(string_agg(t::text, E\'\\n\'), \'\') FROM "{t}" t')
                             .fetchone()[0]) for t in tables)


def files_text(root: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


@pytest.mark.parametrize("stack, env, codes, drop", CASES)
def test_a_canary_secret_never_leaves_its_setting(request, tmp_path, stub, stack, env, codes, drop):
    world = request.getfixturevalue("production") if stack == "production" else None
    s3 = request.getfixturevalue("s3_server") if stack == "production" else None
    data, recorded = tmp_path / "data", tmp_path / "recorded"
    base = {"JACKFRUIT_DATA_DIR": str(data), "ADS_BASE_URL": stub.url, "ADS_API_KEY": ADS_KEY,
            "JACKFRUIT_INGEST_POLL_INITIAL_S": "0.1", "ADS_MAX_RETRIES": "1", "JACKFRUIT_LEASE_TTL_S": "10",
            "JACKFRUIT_INGEST_BINARY": recording_binary(recorded, _real_ingester())}
    if world:  # a fresh catalog for each case: a leak is found in the case that made it
        world["db"] = world["pg"].create_database("jf_canary", template=world["template"])
        request.addfinalizer(lambda: world["pg"].drop_database(world["db"]))
        base.update(world["env"], POSTGRES_DB=world["db"])
    full = {**clean_environ(), **base, **{k: fill(v, stub, s3) for k, v in env.items()}}
    for name in drop:
        full.pop(name, None)
    full = {k: v for k, v in full.items() if not (k.startswith("AWS_") and k not in env)}  # only the row's AWS_*
    full["JACKFRUIT_DEBUG"] = "1"  # tracebacks and psycopg.pool's records on stderr too
    watch = ContainerWatch(world["docker"]) if world else None
    log_start = DOCKER_LOG.stat().st_size if DOCKER_LOG.exists() else 0
    outputs = []
    try:
        for argv in (["ingest", "--supersede", "--date", "2025-03-12", "--request", REQUEST], ["runs", "--json"],
                     ["gc"]):
            done = subprocess.run([sys.executable, "-c", CLI_WITH_EVERY_LOG, *argv], env=full,
                                  capture_output=True, text=True, timeout=300, cwd=tmp_path)
            outputs.append((argv[0], done))
    finally:
        seen = watch.close() if watch else ""
    ingest = outputs[0][1]
    assert ingest.returncode in codes, (ingest.returncode, ingest.stderr[-2000:])
    if ingest.returncode == 0 and world:
        assert watch.created >= 1, "the Docker runner made no container: inspect saw nothing"
    where = {f"{name} stdout": done.stdout for name, done in outputs}
    where |= {f"{name} stderr": done.stderr for name, done in outputs}
    where["ingester argv and environment (subprocess)"] = files_text(recorded).decode(errors="replace")
    where["docker inspect and logs of the ingester containers"] = seen
    if DOCKER_LOG.exists():
        with DOCKER_LOG.open("rb") as log:
            log.seek(log_start)
            where["the Docker daemon's log"] = log.read().decode(errors="replace")
    where["data directory (buckets, SQLite catalog, scratch)"] = (files_text(data).decode(errors="replace")
                                                                   if data.exists() else "")
    where["PostgreSQL catalog"] = catalog_text(stack, data, world)
    secrets = [CANARY, ADS_KEY, *(world["secrets"] if world else [])]
    leaks = [(secret, place) for secret in secrets for place, text in where.items() if secret in text]
    assert not leaks, f"secrets found: {leaks}; stderr: {ingest.stderr[-1500:]}"


def _real_ingester() -> str:
    from jackfruit.adapters.runner.ingester_protocol import find_binary

    return find_binary("jackfruit-ingest")


def test_the_recording_wrapper_and_the_container_watch_see_what_they_must(request, tmp_path, stub):
    """The search is not blind: the ADS URL appears in the recorded argv, the stub's URL in ``docker inspect``."""
    recorded = tmp_path / "recorded"
    env = {**clean_environ(), "JACKFRUIT_DATA_DIR": str(tmp_path / "data"), "ADS_BASE_URL": stub.url,
           "ADS_API_KEY": ADS_KEY, "JACKFRUIT_INGEST_POLL_INITIAL_S": "0.1",
           "JACKFRUIT_INGEST_BINARY": recording_binary(recorded, _real_ingester())}
    done = subprocess.run([sys.executable, "-m", "jackfruit.cli", "ingest", "--date", "2025-03-12", "--request",
                           REQUEST], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = files_text(recorded).decode()
    assert stub.url in text and "PATH=" in text
    world = request.getfixturevalue("production")
    world["db"] = world["pg"].create_database("jf_canary", template=world["template"])
    request.addfinalizer(lambda: world["pg"].drop_database(world["db"]))
    watch = ContainerWatch(world["docker"])
    try:
        env = {**clean_environ(), **world["env"], "POSTGRES_DB": world["db"],
               "JACKFRUIT_DATA_DIR": str(tmp_path / "data2"),
               "ADS_BASE_URL": stub.url, "ADS_API_KEY": ADS_KEY, "JACKFRUIT_INGEST_POLL_INITIAL_S": "0.1"}
        done = subprocess.run([sys.executable, "-m", "jackfruit.cli", "ingest", "--supersede", "--date", "2025-03-12",
                               "--request", REQUEST], env=env, capture_output=True, text=True, timeout=300)
    finally:
        seen = watch.close()
    assert done.returncode == 0, done.stderr
    assert stub.url in seen and '"Args"' in seen
    assert "ozone" in catalog_text("production", tmp_path, world)
