"""The stop between "the upstream accepted the job" and "its id reached Python", made deterministic by the stub's
``stall_submit_replies`` and its job count: the ingester killed there leaves a job upstream that ``find_job`` finds
and a resumed run follows, so the request costs the upstream one job."""

from __future__ import annotations

import json
import subprocess
import time
import uuid

from jackfruit.adapters.runner.subprocess_runner import SubprocessRunner
from jackfruit.adapters.storage.filesystem_store import FilesystemObjectStore
from jackfruit.ports import IngestJob, JobQuery, Secret, Upstream, UpstreamJob
from jackfruit.synthetic.ads_stub import AdsStub
from tests.integration.test_ingester_exit_codes import DATASET, FAST, REQUEST, _key


def test_an_ingester_killed_after_the_upstream_accepted_leaves_a_job_that_is_found_and_resumed(
        tmp_path, stub_binary, ingest_binary):
    root = tmp_path / "raw"
    store = FilesystemObjectStore(root, write_once=True)
    runner = SubprocessRunner(root, binary=ingest_binary, timeout_s=60, extra_args=FAST)
    with AdsStub(api_key="test-key", binary=stub_binary, stall_submit_replies=1) as stub:
        upstream = Upstream(stub.url, Secret(stub.api_key))
        key = _key()
        proc = subprocess.Popen(
            [ingest_binary, "--base-url", stub.url, "--dataset", DATASET, "--input", "-", "--key", key,
             "--sink-dir", str(root), "--timeout", "60s", *FAST],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write((json.dumps({"request": REQUEST, "api_key": stub.api_key}) + "\n").encode())
            proc.stdin.flush()
            deadline = time.monotonic() + 20
            while stub.job_count(REQUEST) == 0:
                assert time.monotonic() < deadline, "the upstream made no job"
                time.sleep(0.01)
            proc.kill()  # the job exists upstream; its id never reached us
            lines = [json.loads(x) for x in proc.stdout.read().decode().splitlines() if x.strip()]
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        assert not any(line.get("event") == "submitted" for line in lines), lines
        (made,) = stub.jobs()

        found = runner.find_job(JobQuery(DATASET, REQUEST, upstream))
        assert found == UpstreamJob(made["jobID"], "queued") and found.held
        run_id = key.rsplit("/", 1)[1].split(".")[0]
        manifest = runner.run(IngestJob(run_id, DATASET, REQUEST, key, upstream, attempt_id=str(uuid.uuid4()),
                                        resume_job_id=found.job_id))
        assert manifest.upstream_job_id == made["jobID"] and store.exists(key)
        assert stub.job_count(REQUEST) == 1 and runner.job_status(JobQuery(DATASET, REQUEST, upstream),
                                                                  found.job_id).status == "successful"
