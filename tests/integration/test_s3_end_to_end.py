"""The whole path on S3 (versitygw): the Go ingester writing the raw object itself, tiles in the curated
bucket read back by range; and a killed ingester's multipart upload collected by gc, the next ingest unaffected."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime, timedelta, timezone

import pytest

from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.model import RunStatus
from jackfruit.synthetic.ads_stub import AdsStub

from .test_run_recovery import DAY, KEY, app_of, ingest_argv, ingester_of, start, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def s3_world(tmp_path, s3_server, s3_buckets):
    raw, curated = s3_buckets("raw"), s3_buckets("curated")
    with AdsStub(api_key=KEY, extra_args=("--job-seconds", "0.5", "--bits", "12",
                                          "--download-bytes-per-sec", "20000000")) as stub:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JACKFRUIT_", "ADS_", "MINIO_"))}
        env.update(JACKFRUIT_DATA_DIR=str(tmp_path / "data"), JACKFRUIT_LEASE_TTL_S="1.5", ADS_BASE_URL=stub.url,
                   ADS_API_KEY=KEY, JACKFRUIT_INGEST_POLL_INITIAL_S="0.1", JACKFRUIT_OBJECT_STORE="s3",
                   MINIO_ENDPOINT=s3_server.endpoint, MINIO_ACCESS_KEY=s3_server.access_key,
                   MINIO_SECRET_KEY=s3_server.secret_key, MINIO_BUCKET=raw, JACKFRUIT_CURATED_BUCKET=curated)
        yield env, stub


def test_ingest_transform_read_on_s3(s3_world):
    env, _ = s3_world
    proc = start(env, "storage", "init")
    assert proc.wait(60) == 0, proc.stderr.read() if proc.stderr else ""
    proc = start(env, *ingest_argv())
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert env["MINIO_SECRET_KEY"] not in out + err
    app = app_of(env)
    (run,) = app.runs()
    assert run.status is RunStatus.SUCCEEDED and app.raw_store.local_path(run.raw_key) is None  # really S3
    tiles = app.transform(run.run_id)
    assert tiles and all(app.curated_store.exists(f"{t.key}/manifest.json") for t in tiles)
    t0 = datetime(DAY.year, DAY.month, DAY.day, tzinfo=timezone.utc)
    ds = app.read(BBox(2.35, 48.85, 2.35, 48.85), TimeRange(t0, t0 + timedelta(hours=2)), ["ozone"])
    assert ds["ozone"].shape == (1, 2, 1, 1) and bool(ds["present"].all())
    assert app.verify().problems == []


def test_a_killed_s3_upload_is_collected_by_gc_and_the_next_ingest_is_unaffected(s3_world):
    env, _ = s3_world
    assert start(env, "storage", "init").wait(60) == 0
    big = {"variable": ["ozone", "nitrogen_dioxide"], "leadtime_hour": [str(h) for h in range(97)]}
    proc = start(env, *ingest_argv(big))
    wait_for(proc, "phase download", timeout=60)
    app = app_of(env)
    deadline = time.monotonic() + 30
    while not app.raw_store.multipart_uploads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert app.raw_store.multipart_uploads(), "no multipart upload started: the test proves nothing"
    os.kill(ingester_of(proc.pid), signal.SIGKILL)  # mid-upload: parts sent, nothing committed
    proc.kill()
    proc.wait(30)
    (run,) = app.runs()
    assert not app.raw_store.exists(run.raw_key)
    assert [k for k, _ in app.raw_store.multipart_uploads()] == [run.raw_key]  # what the kill left
    time.sleep(1.6)  # the lease runs out
    gc = start(env, "gc")
    out, err = gc.communicate(timeout=60)
    assert gc.returncode == 0, err
    assert app.raw_store.multipart_uploads() == [], out
    again = start(env, *ingest_argv(big))
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    (done,) = app_of(env).runs()
    assert done.run_id == run.run_id and done.status is RunStatus.SUCCEEDED
    assert app_of(env).verify().problems == []
