"""Benchmark: the wall time of the runners' questions about the upstream's jobs (``find_job``, ``job_status``) against
the Go ADS stub on loopback: the subprocess runner (one ``jackfruit-ingest --find-job`` / ``--job-status`` process a
call) and, when a Docker daemon is reachable (``eval "$(scripts/docker-daemon env)"``) and the image is built
(``scripts/ingest-image``), the Docker runner (one short-lived sibling container a call). Median and max of N calls.

    .venv/bin/python bench/job_queries.py [--calls 10] [--image jackfruit-ingest:dev]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from jackfruit.adapters.runner.subprocess_runner import SubprocessRunner
from jackfruit.ports import JobQuery, Secret, Upstream
from jackfruit.synthetic.ads_stub import CAMS, AdsStub

REQUEST = {"variable": ["ozone"], "model": ["ensemble"], "level": ["0"], "date": ["2025-03-12/2025-03-12"],
           "type": ["forecast"], "time": ["00:00"], "leadtime_hour": ["0"], "data_format": "grib",
           "area": [50, 0, 45, 5]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--image", default=os.environ.get("JACKFRUIT_INGEST_IMAGE", "jackfruit-ingest:dev"))
    opts = ap.parse_args()
    with AdsStub(api_key="k") as stub, tempfile.TemporaryDirectory() as raw:
        job_id = stub.make_job(REQUEST, "successful")
        query = JobQuery(CAMS, REQUEST, Upstream(stub.url, Secret("k")))
        runners = [("subprocess", SubprocessRunner(raw))]
        if os.environ.get("DOCKER_HOST"):
            from jackfruit.adapters.runner.docker_runner import DockerRunner

            runners.append(("docker", DockerRunner(raw, image=opts.image)))
        else:
            print("docker: skipped (DOCKER_HOST is not set)")
        for name, runner in runners:
            for what, call in (("find_job", lambda: runner.find_job(query)),
                               ("job_status", lambda: runner.job_status(query, job_id))):
                times = []
                for _ in range(opts.calls):
                    start = time.perf_counter()
                    answer = call()
                    times.append(time.perf_counter() - start)
                assert answer is not None and answer.job_id == job_id and answer.held, answer
                print(f"{name:10} {what:10} median {statistics.median(times) * 1000:7.1f} ms   "
                      f"max {max(times) * 1000:7.1f} ms   ({opts.calls} calls; {stub.job_count(REQUEST)} job upstream)")


if __name__ == "__main__":
    main()
