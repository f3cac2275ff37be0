"""The ADS stub serving products made by jackfruit's product command (``python -m jackfruit.synthetic.product_command``,
``--product-command``): a partition ingested through the CLI and the Go ingester is the product the Python generator
makes for the request, accepted; a dataset whose upstream id is another name lands under its own key while the
upstream is asked with its id; a request the product refuses fails the upstream job with the product's message."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import date

import pytest

from jackfruit.adapters.runner.subprocess_runner import SubprocessRunner
from jackfruit.adapters.storage.filesystem_store import FilesystemObjectStore
from jackfruit.domain.errors import UpstreamRefused
from jackfruit.domain.keys import RawKey, new_uuid7
from jackfruit.ports import IngestJob, Secret, Upstream, upstream_job_of
from jackfruit.synthetic.ads_stub import CAMS, PRODUCT_COMMAND, AdsStub
from jackfruit.sources.cams_europe.synthetic import grib_for_request

from ..conftest import clean_environ

pytestmark = pytest.mark.slow

KEY = "product-command-key"
DAY = date(2025, 3, 12)
ANALYSIS = "cams-europe-air-quality-forecasts-analysis"
REQUEST = {"variable": ["ozone", "nitrogen_dioxide"], "model": ["ensemble"], "level": ["0"],
           "date": ["2025-03-12/2025-03-12"], "type": ["forecast"], "time": ["00:00"],
           "leadtime_hour": ["0", "1", "2"], "data_format": "grib", "area": [52.05, -2.05, 50.05, 0.05]}
FAST_POLLS = ("--poll-initial", "50ms", "--poll-max", "200ms")


@pytest.fixture
def stub(stub_binary):
    with AdsStub(api_key=KEY, binary=stub_binary, product_command=PRODUCT_COMMAND) as made:
        yield made


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def test_a_partition_ingested_through_the_cli_is_the_product_commands(stub, tmp_path):
    env = clean_environ()
    env.update(JACKFRUIT_DATA_DIR=str(tmp_path / "data"), ADS_BASE_URL=stub.url, ADS_API_KEY=KEY,
               JACKFRUIT_INGEST_POLL_INITIAL_S="0.1")
    request = {"variable": ["ozone", "nitrogen_dioxide"], "leadtime_hour": ["0", "1", "2"],
               "area": REQUEST["area"]}
    done = subprocess.run([sys.executable, "-m", "jackfruit.cli", "ingest", "--date", DAY.isoformat(),
                           "--request", json.dumps(request), "--json"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "succeeded" and run["details"]["acceptance"]["ok"] is True, run
    (job,) = stub.jobs()
    (landed,) = (tmp_path / "data").rglob(run["raw_key"])  # the raw bucket's object
    # what the stub served is what the Python generator makes for the request the ingester sent
    assert job["processID"] == CAMS and job["status"] == "successful"
    assert job["asset"]["sha256"] == sha(grib_for_request(CAMS, job["inputs"]))
    assert run["raw_sha256"] == sha(landed.read_bytes()) == job["asset"]["sha256"]


def test_the_analysis_dataset_lands_through_the_cli_from_its_upstream_id(stub, tmp_path):
    """The use case names the profile's upstream id; the Go ingester asks the stub with it (``--upstream-dataset``), the
    product command's registry answers with the analyses' profile, and the raw key names the analysis dataset."""
    env = clean_environ()
    env.update(JACKFRUIT_DATA_DIR=str(tmp_path / "data"), ADS_BASE_URL=stub.url, ADS_API_KEY=KEY,
               JACKFRUIT_INGEST_POLL_INITIAL_S="0.1")
    request = {"variable": ["ozone"], "time": ["00:00", "01:00"], "area": REQUEST["area"]}
    done = subprocess.run([sys.executable, "-m", "jackfruit.cli", "ingest", "--dataset", ANALYSIS, "--date",
                           DAY.isoformat(), "--request", json.dumps(request), "--json"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "succeeded" and run["raw_key"].startswith(f"ads/{ANALYSIS}/{DAY.isoformat()}/"), run
    assert run["details"]["acceptance"]["ok"] is True, run
    (job,) = stub.jobs()
    assert job["processID"] == CAMS and job["inputs"]["type"] == ["analysis"] and job["status"] == "successful"
    assert run["raw_sha256"] == job["asset"]["sha256"] == sha(grib_for_request(CAMS, job["inputs"]))


def test_a_dataset_with_another_upstream_id_lands_the_product_of_its_upstream_id(stub, ingest_binary, tmp_path):
    store = FilesystemObjectStore(tmp_path / "raw", write_once=True)
    runner = SubprocessRunner(store.root, binary=ingest_binary, timeout_s=120, extra_args=FAST_POLLS)
    run_id = new_uuid7(1741780800000, b"0123456789")
    request = {**REQUEST, "type": ["analysis"], "leadtime_hour": ["0"]}
    job = IngestJob(run_id, ANALYSIS, request, str(RawKey("ads", ANALYSIS, DAY, run_id, "grib")),
                    Upstream(stub.url, Secret(KEY)), upstream_dataset=CAMS)
    manifest = runner.run(job)
    body = store.get(job.raw_key)
    assert manifest.key.startswith(f"ads/{ANALYSIS}/") and manifest.sha256 == sha(body)
    assert [j["processID"] for j in stub.jobs()] == [CAMS]
    assert body == grib_for_request(CAMS, request)


def test_a_request_the_product_refuses_fails_the_upstream_job_with_its_message(stub, ingest_binary, tmp_path):
    store = FilesystemObjectStore(tmp_path / "raw", write_once=True)
    runner = SubprocessRunner(store.root, binary=ingest_binary, timeout_s=120, extra_args=FAST_POLLS)
    run_id = new_uuid7(1741780800000, b"9876543210")
    job = IngestJob(run_id, CAMS, {**REQUEST, "variable": ["unobtainium"]},
                    str(RawKey("ads", CAMS, DAY, run_id, "grib")), Upstream(stub.url, Secret(KEY)))
    with pytest.raises(UpstreamRefused) as err:
        runner.run(job)
    (made,) = stub.jobs()
    assert made["status"] == "failed" and upstream_job_of(err.value) == made["jobID"]
    assert "unobtainium" in str(err.value) and "product command" in str(err.value), str(err.value)
    assert not store.exists(job.raw_key)
