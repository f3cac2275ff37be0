"""Real failures of the built ``jackfruit-ingest`` against the ADS stub: the process's exit code and its ``error.kind``
line are those of the one table in docs/ingester-protocol.md, and the runner raises the class the table names."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from jackfruit.adapters.runner.subprocess_runner import SubprocessRunner
from jackfruit.domain import errors
from jackfruit.ports import IngestJob, Secret, SinkTarget, Upstream
from jackfruit.synthetic.ads_stub import AdsStub
from tests.unit.test_ingester_protocol_table import doc_table

DATASET = "cams-europe-air-quality-forecasts"
REQUEST = {"variable": ["ozone"], "model": ["ensemble"], "level": ["0"], "date": ["2025-03-12"],
           "type": ["forecast"], "time": ["00:00"], "leadtime_hour": ["0"], "data_format": "grib",
           "area": [45.2, 5.0, 45.0, 5.2]}
FAST = ("--poll-initial", "20ms", "--poll-max", "50ms")


def _key(dataset: str = DATASET) -> str:
    run_id = str(uuid.UUID(int=(uuid.uuid4().int & ~(0xF << 76) & ~(0x3 << 62)) | (0x7 << 76) | (0x2 << 62)))
    return f"ads/{dataset}/2025-03-12/{run_id}.grib"


def _run(binary: str, base_url: str, sink: Path, api_key: str, *, request: dict | None = None,
         dataset: str = DATASET, key: str | None = None, extra: tuple[str, ...] = ()) -> tuple[int, dict, list[dict]]:
    """Runs the binary as the runners do (--input -, stdin kept open until it exits); returns its exit code, its
    result line and its events."""
    args = [binary, "--base-url", base_url, "--dataset", dataset, "--input", "-", "--key", key or _key(dataset),
            "--sink-dir", str(sink), "--timeout", "60s", *FAST, *extra]
    line = json.dumps({"request": request or REQUEST, "api_key": api_key}) + "\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADS_", "AWS_"))}
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(line.encode())
    proc.stdin.flush()
    out = [json.loads(x) for x in proc.stdout.read().decode().splitlines() if x.strip()]
    code = proc.wait(timeout=60)
    proc.stdin.close()
    assert out, f"no output (exit {code})"
    return code, out[-1], [x for x in out[:-1] if "event" in x]


def _assert_documented(code: int, result: dict, kind: str) -> None:
    error = result.get("error") or {}
    assert error.get("kind") == kind, result
    exits, _cls = doc_table()[kind]
    assert code in exits, f"{kind}: exit {code}, the doc says {exits}"
    assert "test-key" not in error.get("message", "")


@pytest.fixture
def stub_with(stub_binary):
    started: list[AdsStub] = []

    def start(*flags: str) -> AdsStub:
        stub = AdsStub(api_key="test-key", binary=stub_binary, extra_args=flags).__enter__()
        started.append(stub)
        return stub

    yield start
    for stub in started:
        stub.__exit__(None, None, None)


def test_refusals_and_local_failures_exit_as_documented(tmp_path, ads_stub, ingest_binary):
    sink = tmp_path / "raw"
    cases = [
        ("auth", dict(api_key="wrong-key")),
        ("usage", dict(key="not/a/valid/key")),
        ("invalid_request", dict(request={**REQUEST, "level": ["42"]})),
        ("not_found", dict(dataset="no-such-dataset")),
        ("unavailable", dict(base_url="http://127.0.0.1:9/api", extra=("--max-retries", "0"))),
    ]
    seen = set()
    for kind, how in cases:
        base = how.pop("base_url", ads_stub.url)
        code, result, _ = _run(ingest_binary, base, sink, how.pop("api_key", "test-key"), **how)
        _assert_documented(code, result, kind)
        seen.add(code)
    assert seen == {7, 2, 3, 6}
    # conflict: the key is taken before anything is submitted
    key = _key()
    target = sink / key
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"already here")
    code, result, _ = _run(ingest_binary, ads_stub.url, sink, "test-key", key=key)
    _assert_documented(code, result, "conflict")
    assert code == errors.Conflict.exit_code == 4 and ads_stub.jobs() == []


def test_upstream_failures_exit_as_documented(tmp_path, stub_with, ingest_binary):
    code, result, _ = _run(ingest_binary, stub_with("--fail-jobs").url, tmp_path / "a", "test-key")
    _assert_documented(code, result, "job_failed")
    code, result, _ = _run(ingest_binary, stub_with("--misreport-size", "7").url, tmp_path / "b", "test-key")
    _assert_documented(code, result, "integrity")

    stub = stub_with("--expire-results", "2")
    code, result, events = _run(ingest_binary, stub.url, tmp_path / "c", "test-key")
    _assert_documented(code, result, "expired")
    jobs = [j["jobID"] for j in stub.jobs()]
    submitted = [e for e in events if e["event"] == "submitted"]
    assert code == 8 and len(jobs) == 2 and result["error"]["ads_job_id"] == jobs[1]
    assert [e["ads_job_id"] for e in submitted] == jobs and submitted[1]["replaces"] == jobs[0]

    # an expired download link: the results fetched again once (a fresh link); failing again, expired too
    once = stub_with("--expire-downloads", "1")
    code, result, _ = _run(ingest_binary, once.url, tmp_path / "d", "test-key")
    assert code == 0 and len(once.jobs()) == 1, result
    twice = stub_with("--expire-downloads", "2")
    code, result, _ = _run(ingest_binary, twice.url, tmp_path / "e", "test-key")
    _assert_documented(code, result, "expired")
    assert code == 8 and "download link" in result["error"]["message"] and len(twice.jobs()) == 1


def _job(stub: AdsStub, tmp_path: Path, resume: str | None = None) -> IngestJob:
    run_id = _key().rsplit("/", 1)[1].split(".")[0]
    return IngestJob(run_id, DATASET, REQUEST, _key().rsplit("/", 1)[0] + f"/{run_id}.grib",
                     Upstream(stub.url, Secret(stub.api_key)), attempt_id=str(uuid.uuid4()), resume_job_id=resume)


def test_the_runner_raises_the_documented_class_and_reports_the_replacement(tmp_path, stub_with, ingest_binary):
    runner = SubprocessRunner(SinkTarget.directory(str(tmp_path / "raw")), binary=ingest_binary, timeout_s=60,
                              extra_args=FAST)
    once = stub_with("--expire-results", "1")
    events = []
    manifest = runner.run(_job(once, tmp_path), events.append)
    jobs = [j["jobID"] for j in once.jobs()]
    replaced = [(e.upstream_job_id, e.replaces) for e in events if e.kind == "submitted"]
    assert replaced == [(jobs[0], None), (jobs[1], jobs[0])] and manifest.upstream_job_id == jobs[1]

    twice = stub_with("--expire-results", "2")
    with pytest.raises(errors.UpstreamExpired) as caught:
        runner.run(_job(twice, tmp_path))
    assert type(caught.value).__name__ == doc_table()["expired"][1]
    assert caught.value.upstream_job_id == twice.jobs()[1]["jobID"]


def test_a_lost_submit_reply_creates_no_second_job(tmp_path, stub_with, ingest_binary):
    stub = stub_with("--drop-submit-replies", "1")
    runner = SubprocessRunner(SinkTarget.directory(str(tmp_path / "raw")), binary=ingest_binary, timeout_s=60,
                              extra_args=FAST)
    events = []
    manifest = runner.run(_job(stub, tmp_path), events.append)
    jobs = [j["jobID"] for j in stub.jobs()]
    assert len(jobs) == 1 and manifest.upstream_job_id == jobs[0]
    assert [e.upstream_job_id for e in events if e.kind == "submitted"] == jobs


def test_the_run_records_the_replaced_job_and_an_expired_run_fails_with_both(tmp_path, stub_with, ingest_binary,
                                                                             monkeypatch):
    """Through the app: a run whose results expired once is succeeded with the new job as its upstream job and
    the old one in ``replaced_upstream_jobs``; expired twice, it fails as ``upstream_expired`` (exit 8 family)."""
    from datetime import date

    from jackfruit.app import Jackfruit
    from jackfruit.domain.model import RunStatus
    from jackfruit.settings import Settings

    for name in [k for k in os.environ if k.startswith(("JACKFRUIT_", "ADS_", "MINIO_", "POSTGRES_"))]:
        monkeypatch.delenv(name)
    for expire, day in ((1, date(2025, 3, 12)), (2, date(2025, 3, 13))):
        stub = stub_with("--expire-results", str(expire))
        settings = Settings(JACKFRUIT_DATA_DIR=str(tmp_path / f"data{expire}"), JACKFRUIT_INGEST_BINARY=ingest_binary,
                            ADS_POLL_INITIAL_S=0.05, ADS_BASE_URL=stub.url, ADS_API_KEY=stub.api_key)
        with Jackfruit.from_settings(settings) as app:
            small = {"variable": ["ozone"], "leadtime_hour": ["0"]}
            if expire == 1:
                run = app.ingest("cams-europe-air-quality-forecasts", day, small)
                jobs = [j["jobID"] for j in stub.jobs()]
                assert run.status is RunStatus.SUCCEEDED
                assert (run.upstream_job_id, run.replaced_upstream_jobs) == (jobs[1], (jobs[0],))
            else:
                with pytest.raises(errors.UpstreamExpired):
                    app.ingest("cams-europe-air-quality-forecasts", day, small)
                (run,) = app.runs(limit=None)
                jobs = [j["jobID"] for j in stub.jobs()]
                assert run.status is RunStatus.FAILED and "expired" in run.failure_reason
                assert (run.upstream_job_id, run.replaced_upstream_jobs) == (jobs[1], (jobs[0],))


# -- the query modes: --find-job, --job-status ID (docs/ingester-protocol.md §7) ---------------------------------------
def _query(binary: str, base_url: str, api_key: str, *mode: str, request: dict | None = None,
           extra: tuple[str, ...] = ()) -> tuple[int, dict, list[dict]]:
    """Runs a query as the runners do (--input -, stdin open until it exits); returns exit code, result, other lines."""
    args = [binary, "--base-url", base_url, "--dataset", DATASET, "--input", "-", *mode, "--timeout", "30s", *FAST,
            *extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADS_", "AWS_"))}
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write((json.dumps({"request": request or REQUEST, "api_key": api_key}) + "\n").encode())
    proc.stdin.flush()
    out = [json.loads(x) for x in proc.stdout.read().decode().splitlines() if x.strip()]
    code = proc.wait(timeout=60)
    proc.stdin.close()
    assert out, f"no output (exit {code})"
    return code, out[-1], out[:-1]


def test_the_query_modes_answer_one_line_and_exit_as_documented(ads_stub, ingest_binary):
    code, result, others = _query(ingest_binary, ads_stub.url, "test-key", "--find-job")
    assert (code, result, others) == (0, {"job": None}, [])
    made = ads_stub.make_job(REQUEST, "running")
    code, result, others = _query(ingest_binary, ads_stub.url, "test-key", "--find-job")
    assert code == 0 and others == [] and result["job"]["ads_job_id"] == made
    assert (result["job"]["status"], result["job"]["held"], result["job"]["ads_status"]) == ("running", True, "running")
    code, result, _ = _query(ingest_binary, ads_stub.url, "test-key", "--job-status", made)
    assert code == 0 and (result["job"]["ads_job_id"], result["job"]["status"]) == (made, "running")
    code, result, _ = _query(ingest_binary, ads_stub.url, "test-key", "--job-status", "no-such-job")
    assert code == 0 and result == {"job": {"ads_job_id": "no-such-job", "status": "unknown", "held": False}}
    assert ads_stub.job_count(REQUEST) == 1  # the one made above: the queries submitted nothing

    code, result, _ = _query(ingest_binary, ads_stub.url, "wrong-key", "--find-job")
    _assert_documented(code, result, "auth")
    code, result, _ = _query(ingest_binary, ads_stub.url, "wrong-key", "--job-status", made)
    _assert_documented(code, result, "auth")
    assert result["error"]["ads_job_id"] == made and "wrong-key" not in result["error"]["message"]
    code, result, _ = _query(ingest_binary, "http://127.0.0.1:9/api", "test-key", "--find-job",
                             extra=("--max-retries", "0"))
    _assert_documented(code, result, "unavailable")
    code, result, _ = _query(ingest_binary, ads_stub.url, "test-key", "--find-job", "--key", _key())
    _assert_documented(code, result, "usage")
    code, result, _ = _query(ingest_binary, ads_stub.url, "test-key", "--job-status", "../x")
    _assert_documented(code, result, "usage")
