"""Findings 1-3 and 5 of the run model, with real processes on the embedded defaults (Go ingester, ADS stub), on
each catalog backend: the embedded SQLite catalog and PostgreSQL (a fresh database per test, migrated by
`jackfruit db upgrade` through the CLI first)."""

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

from jackfruit.adapters.storage.filesystem_store import FilesystemObjectStore
from jackfruit.app import Jackfruit
from jackfruit.domain.errors import Conflict, InvalidInput
from jackfruit.domain.model import AttemptKind, RunStatus, TransformStatus
from jackfruit.synthetic.ads_stub import AdsStub

from ..conftest import build_app, clean_environ

pytestmark = pytest.mark.slow

KEY = "recovery-test-key"
DAY = date(2025, 3, 12)
REQUEST = {"variable": ["ozone"], "leadtime_hour": ["0", "1"]}
# big enough that writing its tiles outlasts a second process's start-up
BIG = {"variable": ["ozone", "nitrogen_dioxide", "particulate_matter_2.5um", "particulate_matter_10um"],
       "leadtime_hour": [str(h) for h in range(97)]}


_APPS: list[Jackfruit] = []  # made by app_of during one test; closed (a PostgreSQL pool each) at its end


@pytest.fixture
def world(tmp_path, catalog_env):
    """``catalog_env``: parametrized over the SQLite and PostgreSQL catalogs (tests/conftest.py)."""
    with AdsStub(api_key=KEY, extra_args=("--job-seconds", "2", "--bits", "12")) as stub:
        env = clean_environ()
        env.update(JACKFRUIT_DATA_DIR=str(tmp_path / "data"), JACKFRUIT_LEASE_TTL_S="1.5", ADS_BASE_URL=stub.url,
                   ADS_API_KEY=KEY, JACKFRUIT_INGEST_POLL_INITIAL_S="0.1", **catalog_env)
        try:
            yield env, stub, tmp_path / "data"
        finally:
            while _APPS:
                _APPS.pop().close()


def app_of(env: dict[str, str]) -> Jackfruit:
    app = build_app(env)  # exactly the test's settings, as the CLI processes get them
    _APPS.append(app)
    return app


def stop_outside_transactions(proc: subprocess.Popen[str], env: dict[str, str], timeout: float = 30) -> None:
    """SIGSTOP ``proc`` at a moment when none of its catalog connections is inside a transaction: on PostgreSQL a
    process stopped mid-transaction (a heartbeat's renewal, say) would hold its row locks, and a rival would wait
    for them instead of getting the claim's answer. The SQLite catalog holds no lock between calls."""
    if env.get("JACKFRUIT_CATALOG") != "postgres":
        proc.send_signal(signal.SIGSTOP)
        return
    import psycopg

    with psycopg.connect(host=env["POSTGRES_HOST"], port=int(env["POSTGRES_PORT"]), user=env["POSTGRES_USER"],
                         password=env["POSTGRES_PASSWORD"], dbname=env["POSTGRES_DB"], autocommit=True) as db:
        deadline = time.monotonic() + timeout
        while True:
            proc.send_signal(signal.SIGSTOP)
            busy = db.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                              "AND backend_type = 'client backend' AND pid <> pg_backend_pid() "
                              "AND state <> 'idle'").fetchone()[0]
            if not busy:
                return
            assert time.monotonic() < deadline, "the process never left its catalog transactions"
            proc.send_signal(signal.SIGCONT)
            time.sleep(0.01)


def start(env, *argv) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "jackfruit.cli", *argv], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(proc: subprocess.Popen[str], marker: str, timeout: float = 30) -> list[str]:
    lines, deadline = [], time.monotonic() + timeout
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} never appeared: {lines}")


def ingester_of(pid: int) -> int:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for child in children:
        if "jackfruit-ingest" in Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace"):
            return int(child)
    raise AssertionError(f"no jackfruit-ingest child of {pid}")


def ingest_argv(request: dict = REQUEST) -> list[str]:
    return ["ingest", "--date", DAY.isoformat(), "--request", json.dumps(request)]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_ingest_is_taken_over_and_its_job_resumed_not_resubmitted(world, sig):
    """Finding 2: the run does not stay running forever, the child stops with its parent, the job id is
    recorded at submit time, and the next ingest of the partition takes the run over and resumes the job."""
    env, stub, data = world
    proc = start(env, *ingest_argv())
    wait_for(proc, "phase poll")
    child = ingester_of(proc.pid)
    proc.send_signal(sig)
    proc.wait(30)
    assert proc.returncode == (-9 if sig == signal.SIGKILL else 143)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # the ingester follows its parent (stdin EOF) and exits
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]
    app = app_of(env)
    (run,) = app.runs()
    assert run.status is RunStatus.RUNNING and run.upstream_job_id  # recorded as soon as the ADS answered
    assert not app.raw_store.exists(run.raw_key)  # the stopped child committed nothing
    if sig == signal.SIGKILL:  # its lease runs out; SIGTERM released it at once
        time.sleep(1.6)
    else:
        assert not run.lease(AttemptKind.INGEST).live(datetime.now(timezone.utc))
    again = start(env, *ingest_argv())
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    app = app_of(env)
    (done,) = app.runs()
    assert done.run_id == run.run_id and done.status is RunStatus.SUCCEEDED
    assert done.upstream_job_id == run.upstream_job_id and done.lease(AttemptKind.INGEST).epoch == 2
    assert len(stub.jobs()) == 1, "the take-over resumed the job instead of submitting another"
    assert app.verify().problems == []
    assert list((data / "buckets" / "jackfruit-raw" / ".partial").iterdir()) == []


def test_a_killed_ingester_fails_the_run_with_its_job_id(world):
    """Finding 2: the ingester itself killed -> the run is failed and keeps its ADS job id."""
    env, stub, data = world
    proc = start(env, *ingest_argv())
    wait_for(proc, "phase poll")
    os.kill(ingester_of(proc.pid), signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == 6
    (run,) = app_of(env).runs()
    assert run.status is RunStatus.FAILED and run.upstream_job_id == stub.jobs()[0]["jobID"]


def test_two_transforms_of_one_run_at_once_one_wins_and_tiles_stay_whole(world):
    """Finding 1: the loser gets exit 4 naming the holder, deletes nothing, and the tiles read back."""
    env, stub, data = world
    env = {**env, "JACKFRUIT_LEASE_TTL_S": "60"}  # the first holder is paused below; its lease must outlive that
    done = subprocess.run([sys.executable, "-m", "jackfruit.cli", *ingest_argv(BIG)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.split()[1]
    first = start(env, "transform", run_id)
    wait_for(first, "phase tile write")
    stop_outside_transactions(first, env)  # mid-write, for as long as the second process needs: no timing luck
    try:
        second = subprocess.run([sys.executable, "-m", "jackfruit.cli", "transform", run_id], env=env,
                                capture_output=True, text=True, timeout=60)
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 4 and "being transformed" in second.stderr, second.stderr
    first.communicate(timeout=60)
    assert first.returncode == 0
    app = app_of(env)
    assert app.run(run_id).transform_status is TransformStatus.PUBLISHED
    assert app.verify().problems == []
    read = subprocess.run([sys.executable, "-m", "jackfruit.cli", "read", "--bbox", "-10,40,20,60", "--start",
                           "2025-03-12T00:00Z", "--end", "2025-03-12T02:00Z", "--variable", "ozone"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert read.returncode == 0, read.stderr


def test_a_killed_transform_leaves_nothing_after_gc_and_is_taken_over(world):
    """Finding 3: a SIGKILLed transform's scratch copy and half-written tiles are gone after gc; the next
    transform takes the run over and publishes."""
    env, stub, data = world
    done = subprocess.run([sys.executable, "-m", "jackfruit.cli", *ingest_argv(BIG)], env=env, capture_output=True,
                          text=True, timeout=60)
    run_id = done.stdout.split()[1]
    proc = start(env, "transform", run_id)
    wait_for(proc, "phase tile write")
    curated = data / "buckets" / "jackfruit-curated"
    deadline = time.monotonic() + 30
    while not any(p.is_file() for p in curated.rglob("*") if ".partial" not in p.parts and "tiles" in p.parts):
        assert time.monotonic() < deadline and proc.poll() is None, "no tile object appeared before the end"
        time.sleep(0.01)
    proc.kill()  # some tile objects are uploaded, the run is not published
    proc.wait()
    work = data / "work"
    assert any(work.iterdir()), "the killed attempt left its scratch copy"
    time.sleep(1.6)  # the killed attempt's lease runs out
    gc = subprocess.run([sys.executable, "-m", "jackfruit.cli", "gc"], env=env, capture_output=True, text=True,
                        timeout=60)
    assert gc.returncode == 0, gc.stderr
    assert list(work.iterdir()) == []
    assert [p for p in curated.rglob("*") if p.is_file() and ".partial" not in p.parts
            and p.name != ".jackfruit-bucket.json"] == []
    again = subprocess.run([sys.executable, "-m", "jackfruit.cli", "transform", run_id], env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    app = app_of(env)
    assert app.run(run_id).lease(AttemptKind.TRANSFORM).epoch == 2
    assert app.verify().problems == []


def test_raw_bucket_cannot_be_rewritten_through_the_library(world):
    """Finding 5: the raw bucket opened directly is write-once; raw files are read-only."""
    env, stub, data = world
    done = subprocess.run([sys.executable, "-m", "jackfruit.cli", *ingest_argv()], env=env, capture_output=True,
                          text=True, timeout=60)
    run_key = json.loads(subprocess.run([sys.executable, "-m", "jackfruit.cli", "runs", "--json"], env=env,
                                        capture_output=True, text=True).stdout)[0]["raw_key"]
    assert done.returncode == 0
    raw = data / "buckets" / "jackfruit-raw"
    store = FilesystemObjectStore(raw)
    assert store.write_once
    with pytest.raises(Conflict):
        store.put(run_key, b"rewritten")
    with pytest.raises(Conflict):
        store.delete(run_key)
    with pytest.raises(InvalidInput):
        FilesystemObjectStore(raw, write_once=False)
    assert (raw / run_key).stat().st_mode & 0o222 == 0
