"""The PostgreSQL catalog when things break under it, with real processes (CLI, Go ingester, ADS stub) on a fresh
database migrated by `jackfruit db upgrade`:

- a `jackfruit transform` stopped in the middle of its publish transaction (tiles rows being inserted, the run's
  row already updated), by SIGKILL of the process or by the server ending its connection
  (``pg_terminate_backend``): nothing of the publish is visible, before or after, and the next transform publishes;
- the database going away in the middle of an ingest (its sessions terminated, new ones refused): the command
  exits 6 with ``BackendUnavailable`` naming ``host:port/db`` (never the password), the catalog holds nothing
  half-written, and once the database is back the next ingest takes the run over and lands it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from jackfruit.app import Jackfruit
from jackfruit.domain.keys import tile_prefix
from jackfruit.domain.model import AttemptKind, RunStatus, TransformStatus
from jackfruit.settings import load_settings
from jackfruit.synthetic.ads_stub import AdsStub

from ..conftest import catalog_environment, clean_environ

pytestmark = [pytest.mark.slow, pytest.mark.service("postgres")]

KEY = "outage-test-key"
DAY = date(2025, 3, 12)
REQUEST = {"variable": ["ozone", "nitrogen_dioxide"], "leadtime_hour": ["0", "1", "2"]}
TTL_S = 3.0


class World:
    def __init__(self, env: dict[str, str], stub: AdsStub, data: Path, server) -> None:
        self.env, self.stub, self.data, self.server = env, stub, data, server
        self.db = env["POSTGRES_DB"]
        self.where = f"{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}/{self.db}"

    def app(self) -> Jackfruit:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(self.env)
        try:
            return Jackfruit.from_settings(load_settings())
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def cli(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "jackfruit.cli", *argv], env=self.env, capture_output=True,
                              text=True, timeout=300)

    def start(self, *argv: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "jackfruit.cli", *argv], env=self.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def world(request, tmp_path):
    with catalog_environment(request, "postgres", "jf_outage") as catalog_env, \
            AdsStub(api_key=KEY, extra_args=("--job-seconds", "2", "--bits", "12")) as stub:
        env = clean_environ()
        env.update(JACKFRUIT_DATA_DIR=str(tmp_path / "data"), JACKFRUIT_LEASE_TTL_S=str(TTL_S), ADS_BASE_URL=stub.url,
                   ADS_API_KEY=KEY, JACKFRUIT_INGEST_POLL_INITIAL_S="0.1", POSTGRES_POOL_TIMEOUT_S="5",
                   **catalog_env)
        yield World(env, stub, tmp_path / "data", request.getfixturevalue("postgres_server"))


def ingest_argv() -> list[str]:
    return ["ingest", "--date", DAY.isoformat(), "--request", json.dumps(REQUEST)]


def wait_for(proc: subprocess.Popen[str], marker: str, timeout: float = 60) -> None:
    lines, deadline = [], time.monotonic() + timeout
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return
    raise AssertionError(f"{marker!r} never appeared: {lines}")


def until(predicate, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def lease_over(w: World, run_id: str, kind: AttemptKind) -> None:
    with w.app() as app:
        until(lambda: not app.run(run_id).lease(kind).live(datetime.now(timezone.utc)), "the lease to run out")


def busy_sessions(watch, *, besides: tuple[int, ...] = ()) -> list[tuple]:
    """Sessions on the database that are in a transaction or waiting (other than ours)."""
    return watch.execute("SELECT pid, state, wait_event_type, left(query, 60) FROM pg_stat_activity "
                         "WHERE datname = current_database() AND backend_type = 'client backend' "
                         "AND pid <> pg_backend_pid() AND NOT (pid = ANY(%s)) "
                         "AND (state <> 'idle' OR xact_start IS NOT NULL)", (list(besides),)).fetchall()


def nothing_published(w: World, watch, run_id: str, state: TransformStatus = TransformStatus.TRANSFORMING) -> None:
    """The run's first claim is still transforming (or, once its process saw the cut, ``failed`` with the reason);
    no tile row, no lineage row, anywhere."""
    with w.app() as app:
        r = app.run(run_id)
        assert r.transform_status is state and r.lease(AttemptKind.TRANSFORM).epoch == 1
        assert app.catalog.tiles_of_run(run_id) == [] and app.catalog.lineage(raw_key=r.raw_key) == []
    assert watch.execute("SELECT (SELECT count(*) FROM tiles), (SELECT count(*) FROM lineage), "
                         "(SELECT transform_status FROM ingestion_runs WHERE run_id = %s)",
                         (run_id,)).fetchone() == (0, 0, state.value)


@pytest.mark.parametrize("cut", ["sigkill", "terminate"])
def test_a_publish_cut_mid_transaction_leaves_nothing_and_the_next_transform_publishes(world, cut):
    w = world
    done = w.cli(*ingest_argv())
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.split()[1]
    with w.server.connect(w.db) as locker, w.server.connect(w.db) as watch:
        # a lock that lets the publish start its transaction and holds it at its first tile row
        locker.execute("BEGIN")
        locker.execute("LOCK TABLE tiles IN SHARE MODE")
        proc = w.start("transform", run_id)
        pid, xid = until(lambda: proc.poll() is None and watch.execute(
            "SELECT pid, backend_xid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO tiles%'").fetchone(), "the publish to block")
        # the transaction has written already (an xid, the run's and the attempt's rows): half a publish
        assert xid is not None
        held = {r for (r,) in watch.execute("SELECT relation::regclass::text FROM pg_locks WHERE pid = %s "
                                            "AND granted AND mode = 'RowExclusiveLock'", (pid,))}
        assert {"ingestion_runs", "attempts"} <= held, held
        nothing_published(w, watch, run_id)  # others see none of it meanwhile
        if cut == "sigkill":
            proc.kill()
            proc.communicate(timeout=30)
            assert proc.returncode == -signal.SIGKILL
        else:
            assert watch.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
        locker.execute("ROLLBACK")
        if cut == "terminate":
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 6, err
            assert f"jackfruit: unavailable: catalog {w.where} unavailable" in err, err
            assert w.env["POSTGRES_PASSWORD"] not in out + err
        # the server ends the killed process's sessions and rolls their transactions back
        until(lambda: not busy_sessions(watch), "the cut sessions to end", timeout=30)
        # a killed process leaves its claim transforming; one whose connection was cut ends its attempt failed
        nothing_published(w, watch, run_id, TransformStatus.TRANSFORMING if cut == "sigkill" else TransformStatus.FAILED)
        if cut == "sigkill":
            lease_over(w, run_id, AttemptKind.TRANSFORM)  # the killed holder cannot release its claim
        gc = w.cli("gc")
        assert gc.returncode == 0, gc.stderr
        again = w.cli("transform", run_id)
        assert again.returncode == 0, again.stderr
        with w.app() as app:
            r = app.run(run_id)
            assert r.transform_status is TransformStatus.PUBLISHED and r.lease(AttemptKind.TRANSFORM).epoch == 2
            tiles = app.catalog.tiles_of_run(run_id)
            assert tiles and len(app.catalog.lineage(raw_key=r.raw_key)) == len(tiles)
            assert app.verify().problems == []
            published = {t.key for t in tiles}
            # the cut attempt's uploaded tile objects are gone (gc, or the attempt itself when it could clean up)
            assert {tile_prefix(i.key) for i in app.curated_store.list("tiles/")} == published
        assert watch.execute("SELECT count(*) FROM tiles").fetchone() == (len(tiles),)


def test_a_database_gone_mid_ingest_is_unavailable_naming_it_and_nothing_is_half_written(world):
    w = world
    proc = w.start(*ingest_argv())
    wait_for(proc, "phase poll")
    with w.app() as app:  # the ADS job id is recorded as soon as it is known
        before = until(lambda: [r for r in app.runs() if r.upstream_job_id], "the job id to be recorded")[0]
    with w.server.connect() as admin:
        admin.execute(f'ALTER DATABASE "{w.db}" WITH ALLOW_CONNECTIONS false')
        try:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                          "AND pid <> pg_backend_pid()", (w.db,))
            out, err = proc.communicate(timeout=240)
        finally:
            admin.execute(f'ALTER DATABASE "{w.db}" WITH ALLOW_CONNECTIONS true')
    assert proc.returncode == 6, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"jackfruit: unavailable: catalog {w.where}"), err
    assert w.env["POSTGRES_PASSWORD"] not in out + err and "Traceback" not in err
    with w.app() as app:
        (r,) = app.runs()
        # exactly as it was before the database went away: running under its first claim, nothing recorded since
        assert r.run_id == before.run_id and r.status is RunStatus.RUNNING
        assert (r.upstream_job_id, r.raw_size, r.raw_sha256, r.finished_at) == (before.upstream_job_id, None, None,
                                                                                  None)
        assert [(a.attempt_id, a.epoch, a.ended_at) for a in r.attempts] == [(before.attempts[0].attempt_id, 1, None)]
        assert app.catalog.tiles_of_run(r.run_id) == [] and app.catalog.lineage() == []
    # the database is back: once the lease runs out the next ingest takes the run over and lands it, resuming the
    # recorded job (or adopting the object the ingester committed), never submitting a second one
    lease_over(w, r.run_id, AttemptKind.INGEST)
    again = w.cli(*ingest_argv())
    assert again.returncode == 0, again.stderr
    with w.app() as app:
        (done,) = app.runs()
        assert done.run_id == r.run_id and done.status is RunStatus.SUCCEEDED
        assert done.lease(AttemptKind.INGEST).epoch == 2 and done.upstream_job_id == before.upstream_job_id
        assert app.verify().problems == []
    assert len(w.stub.jobs()) == 1
