"""Issue 17 finding 2 with real processes: per partition one upstream job, however the ingest is interrupted --
(a) `jackfruit ingest` killed between the upstream's accept and the job id being recorded (made deterministic by the
stub holding the submit reply open), (b) the Go child killed under a live `jackfruit ingest`, (c) a failed run reaped
with its job. Jobs are counted where they are made: at the stub, per request."""

from __future__ import annotations

import signal
import time
from datetime import timedelta

import pytest

from jackfruit.domain.model import AttemptKind, RunStatus
from jackfruit.synthetic.ads_stub import AdsStub

from ..conftest import clean_environ
from .test_run_recovery import DAY, KEY, REQUEST, app_of, ingest_argv, ingester_of, start, wait_for

pytestmark = pytest.mark.slow


def _env(tmp_path, stub, catalog_env):
    env = clean_environ()
    env.update(JACKFRUIT_DATA_DIR=str(tmp_path / "data"), JACKFRUIT_LEASE_TTL_S="1.5", ADS_BASE_URL=stub.url,
               ADS_API_KEY=KEY, JACKFRUIT_INGEST_POLL_INITIAL_S="0.1", **catalog_env)
    return env


def _request(app):
    return app.catalog.get_dataset("cams-europe-air-quality-forecasts").request_for(DAY, REQUEST)


def test_ingest_killed_between_the_upstreams_accept_and_the_record_costs_one_job(tmp_path, catalog_env):
    with AdsStub(api_key=KEY, stall_submit_replies=1, extra_args=("--job-seconds", "0.5", "--bits", "12")) as stub:
        env = _env(tmp_path, stub, catalog_env)
        proc = start(env, *ingest_argv())
        app = app_of(env)
        request = _request(app)
        deadline = time.monotonic() + 30
        while stub.job_count(request) < 1:  # the upstream made the job; its id has not reached Python
            assert time.monotonic() < deadline and proc.poll() is None, "the submit never reached the stub"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        (run,) = app.runs()
        assert run.status is RunStatus.RUNNING and run.upstream_job_id is None  # the kill came before the record
        time.sleep(1.7)  # the lease runs out
        again = start(env, *ingest_argv())
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0, err
        (done,) = app.runs()
        assert done.run_id == run.run_id and done.status is RunStatus.SUCCEEDED
        assert done.upstream_job_id == stub.jobs()[0]["jobID"]
        assert stub.job_count(request) == 1, "the take-over submitted a second upstream job"


def test_go_child_killed_under_a_live_ingest_then_reaped_the_next_ingest_resumes_the_job(tmp_path, catalog_env):
    with AdsStub(api_key=KEY, extra_args=("--job-seconds", "2", "--bits", "12")) as stub:
        env = _env(tmp_path, stub, catalog_env)
        proc = start(env, *ingest_argv())
        wait_for(proc, "phase poll")
        child = ingester_of(proc.pid)
        import os

        os.kill(child, signal.SIGKILL)  # the Go child dies; its parent records the failure, job id kept
        proc.communicate(timeout=60)
        assert proc.returncode != 0
        app = app_of(env)
        request = _request(app)
        (failed,) = app.runs()
        assert failed.status is RunStatus.FAILED and failed.upstream_job_id and stub.job_count(request) == 1
        again = start(env, *ingest_argv())
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0, err
        (done,) = app.runs()  # the same run, re-opened: no second run, no second job
        assert done.run_id == failed.run_id and done.status is RunStatus.SUCCEEDED
        assert done.upstream_job_id == failed.upstream_job_id and done.lease(AttemptKind.INGEST).epoch == 2
        assert stub.job_count(request) == 1, "a second upstream job was made"
        # a reaped run keeps its job too: reaping never costs a second job
        other = {"variable": ["nitrogen_dioxide"], "leadtime_hour": ["0", "1"]}
        proc = start(env, *ingest_argv(other))
        wait_for(proc, "phase poll")
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        time.sleep(1.7)
        (reaped,) = app.reap(timedelta(0))
        assert reaped.status is RunStatus.FAILED and reaped.upstream_job_id
        again = start(env, *ingest_argv(other))
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0, err
        assert app.run(reaped.run_id).status is RunStatus.SUCCEEDED
        assert stub.job_count(app.catalog.get_dataset("cams-europe-air-quality-forecasts")
                              .request_for(DAY, other)) == 1
