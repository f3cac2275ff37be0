"""The PostgreSQL catalog when things break under it, with real processes (CLI, Go ingester, ADS stub) on a fresh
database migrated by `jackfruit db upgrade`:

- a `jackfruit transform` stopped in the middle of its publish transaction (tiles rows being inserted, the run's
  row already updated), by SIGKILL of the process or by the server ending its connection
  (``pg_terminate_backend``): nothing of the publish is visible, before or after, and the next transform publishes;
- the database going away in the middle of an ingest (its sessions terminated, new ones refused): the command
  exits 6 with ``BackendUnavailable`` naming ``host:port/db`` (never the password) in one line — no connection
  warning of psycopg_pool before it (the CLI keeps the pool's log records at debug level) — within
  ``POSTGRES_POOL_TIMEOUT_S`` in total however many catalog calls it still makes; the catalog holds nothing
  half-written, and once the database is back the next ingest takes the run over and lands it;
- the database down before a command that makes many catalog calls (``runs`` then ``gc``, and the library's
  calls one after another): each gives up within ``POSTGRES_POOL_TIMEOUT_S`` in total, not per call.
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
from .test_run_recovery import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.service("postgres")]

KEY = "outage-test-key"
DAY = date(2025, 3, 12)
REQUEST = {"variable": ["ozone", "nitrogen_dioxide"], "leadtime_hour": ["0", "1", "2"]}
TTL_S = 3.0
POOL_TIMEOUT_S = 5.0
#: what a command may take beyond POSTGRES_POOL_TIMEOUT_S once the database is gone: stopping the ingester,
#: the interpreter's start and exit
SLACK_S = 4.0


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
            AdsStub(api_key=KEY, extra_args=("--job-seconds", "5", "--bits", "12")) as stub:
        env = clean_environ()
        env.update(JACKFRUIT_DATA_DIR=str(tmp_path / "data"), JACKFRUIT_LEASE_TTL_S=str(TTL_S), ADS_BASE_URL=stub.url,
                   ADS_API_KEY=KEY, JACKFRUIT_INGEST_POLL_INITIAL_S="0.1", POSTGRES_POOL_TIMEOUT_S=f"{POOL_TIMEOUT_S:g}",
                   **catalog_env)
        yield World(env, stub, tmp_path / "data", request.getfixturevalue("postgres_server"))


def ingest_argv() -> list[str]:
    return ["ingest", "--date", DAY.isoformat(), "--request", json.dumps(REQUEST)]


def timed_lines(proc: subprocess.Popen[str], timeout: float = 240) -> list[tuple[float, str]]:
    """Every line the process still writes on stderr, with the monotonic time it was read, until it closes."""
    lines: list[tuple[float, str]] = []
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            return lines
        lines.append((time.monotonic(), line))
    raise AssertionError(f"stderr still open after {timeout} s: {lines}")


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


def nothing_published(w: World, watch, run_id: str,
                      status: TransformStatus = TransformStatus.TRANSFORMING) -> None:
    """The run is under its first transform claim (still transforming, or that attempt ``failed`` with its reason
    when its process lived to record it); no tile row, no lineage row, anywhere."""
    with w.app() as app:
        r = app.run(run_id)
        assert r.transform_status is status and r.lease(AttemptKind.TRANSFORM).epoch == 1, r
        assert app.catalog.tiles_of_run(run_id) == [] and app.catalog.lineage(raw_key=r.raw_key) == []
        if status is TransformStatus.FAILED:
            assert r.transform_reason and f"catalog {w.where}" in r.transform_reason, r.transform_reason
    assert watch.execute("SELECT (SELECT count(*) FROM tiles), (SELECT count(*) FROM lineage), "
                         "(SELECT transform_status FROM ingestion_runs WHERE run_id = %s)",
                         (run_id,)).fetchone() == (0, 0, status.value)


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
        # the server ends the killed process's sessions and rolls their transactions back; a transform that lived
        # through the cut ended its attempt as failed, with the reason (docs/runs.md)
        until(lambda: not busy_sessions(watch), "the cut sessions to end", timeout=30)
        nothing_published(w, watch, run_id,
                          TransformStatus.FAILED if cut == "terminate" else TransformStatus.TRANSFORMING)
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
    wait_for(proc, "phase poll", timeout=60)
    with w.app() as app:  # the ADS job id is recorded as soon as it is known
        before = until(lambda: [r for r in app.runs() if r.upstream_job_id], "the job id to be recorded")[0]
    with w.server.connect() as admin:
        admin.execute(f'ALTER DATABASE "{w.db}" WITH ALLOW_CONNECTIONS false')
        try:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                          "AND pid <> pg_backend_pid()", (w.db,))
            assert proc.poll() is None, "the ingest ended before the database went away (the stub's job is 5 s)"
            lines = timed_lines(proc)  # the ingester finishes its job (the database is not its business), then ...
            proc.wait(timeout=60)
            ended = time.monotonic()
            out, err = proc.stdout.read(), "".join(line for _, line in lines)
        finally:
            admin.execute(f'ALTER DATABASE "{w.db}" WITH ALLOW_CONNECTIONS true')
    assert proc.returncode == 6, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"jackfruit: unavailable: catalog {w.where}"), err
    assert w.env["POSTGRES_PASSWORD"] not in out + err and "Traceback" not in err
    # one line about the outage: the ingest's own progress lines, then the error; no pool warnings
    assert [line for line in err.splitlines() if not line.startswith("ingest: ")] == [last], err
    # ... the acceptance check, and the catalog calls that record the outcome: within the pool timeout in total
    accept = next(t for t, line in lines if line.startswith("ingest: phase accept"))
    assert ended - accept < POOL_TIMEOUT_S, f"the ingest gave up {ended - accept:.1f} s after its last phase"
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


def test_a_command_gives_up_within_the_pool_timeout_in_total_however_many_calls_it_makes(world):
    """The database refuses connections from the start: `runs` (one call) and `gc` (several), and a library
    caller making call after call, each give up within POSTGRES_POOL_TIMEOUT_S in total, with one line naming it."""
    w = world
    with w.app() as app:  # opened while the database answers (the start-up check connects at once)
        with w.server.connect() as admin:
            admin.execute(f'ALTER DATABASE "{w.db}" WITH ALLOW_CONNECTIONS false')
            try:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                              "AND pid <> pg_backend_pid()", (w.db,))
                start = time.monotonic()
                failures = []
                for _ in range(4):
                    try:
                        app.runs()
                    except Exception as err:  # noqa: BLE001 - the kind is checked below
                        failures.append(err)
                took = time.monotonic() - start
                outputs = []
                for argv in (("runs",), ("gc",)):
                    t0 = time.monotonic()
                    done = w.cli(*argv)
                    outputs.append((argv, done, time.monotonic() - t0))
            finally:
                admin.execute(f'ALTER DATABASE "{w.db}" WITH ALLOW_CONNECTIONS true')
    assert [type(e).__name__ for e in failures] == ["BackendUnavailable"] * 4
    assert took < POOL_TIMEOUT_S + 1.0, f"4 library calls took {took:.1f} s"
    for argv, done, seconds in outputs:
        assert done.returncode == 6, (argv, done.stderr)
        assert done.stderr.splitlines() == [done.stderr.strip()], (argv, done.stderr)  # one line, no pool warnings
        assert done.stderr.startswith("jackfruit: unavailable: ") and w.where in done.stderr, done.stderr
        assert seconds < POOL_TIMEOUT_S + SLACK_S, f"{argv} took {seconds:.1f} s"
    with w.app() as app:  # the database is back: the same settings work again
        assert app.runs() == []
