"""Runner contract bound to InMemoryRunner and to SubprocessRunner (Go jackfruit-ingest against ads-stub);
then what only a child process can show: it follows its parent, and a killed child leaves only its partial."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from jackfruit.adapters.storage.filesystem_store import FilesystemObjectStore
from jackfruit.adapters.runner.memory_runner import InMemoryRunner
from jackfruit.adapters.storage.memory_store import InMemoryObjectStore
from jackfruit.adapters.runner.subprocess_runner import SubprocessRunner
from jackfruit.domain.errors import BackendUnavailable
from jackfruit.ports import RunnerEvent, Secret, SinkTarget, Upstream, upstream_job_of
from jackfruit.synthetic.ads_stub import AdsStub
from jackfruit.sources.cams_europe.synthetic import grib_for_request

from .runner_suite import RunnerContract, job

FAST_POLLS = ("--poll-initial", "50ms", "--poll-max", "200ms")


class StubJobs:
    """``upstream_jobs`` of the runners that talk to the ADS stub: its test control."""

    def __init__(self, stub: AdsStub) -> None:
        self.stub = stub

    def make(self, request: dict, status: str) -> str:
        return self.stub.make_job(request, "accepted" if status == "queued" else status)

    def expire(self, job_id: str) -> None:
        self.stub.expire(job_id)

    def datasets(self) -> list[str]:
        return [j["processID"] for j in self.stub.jobs()]


class MemoryJobs:
    def __init__(self, runner: InMemoryRunner) -> None:
        self.runner = runner

    def make(self, request: dict, status: str) -> str:
        return self.runner.make_job("cams-europe-air-quality-forecasts", request, status)

    def expire(self, job_id: str) -> None:
        self.runner.set_status(job_id, "expired")

    def datasets(self) -> list[str]:
        return [j.upstream_dataset for j in self.runner.upstream_jobs.values()]


@pytest.fixture
def upstream_jobs(ads_stub):
    return StubJobs(ads_stub)


class TestInMemoryRunner(RunnerContract):
    @pytest.fixture
    def runner(self):
        store = InMemoryObjectStore("jackfruit-raw", write_once=True)
        return InMemoryRunner(store, grib_for_request, api_key="test-key"), store

    @pytest.fixture
    def env(self, runner):
        return *runner, Upstream("memory://", Secret("test-key"))

    @pytest.fixture
    def submits(self, runner):
        return lambda: len(runner[0].jobs)

    @pytest.fixture
    def upstream_jobs(self, runner):
        return MemoryJobs(runner[0])


class TestSubprocessRunner(RunnerContract):
    @pytest.fixture
    def env(self, tmp_path, ads_stub, ingest_binary):
        store = FilesystemObjectStore(tmp_path / "jackfruit-raw", write_once=True)
        runner = SubprocessRunner(store.root, binary=ingest_binary, timeout_s=60, extra_args=FAST_POLLS)
        return runner, store, Upstream(ads_stub.url, Secret(ads_stub.api_key))

    @pytest.fixture
    def submits(self, ads_stub):
        return lambda: len(ads_stub.jobs())


class TestSubprocessRunnerS3Sink(RunnerContract):
    """The Go ingester committing straight to S3 (its minio-go sink) on the real server; credentials on stdin."""

    @pytest.fixture
    def env(self, ads_stub, ingest_binary, s3_server, s3_buckets):
        from jackfruit.adapters.storage.s3_store import S3ObjectStore

        bucket = s3_buckets("raw")
        store = S3ObjectStore(s3_server.client(), bucket, write_once=True)
        sink = SinkTarget(f"s3://{bucket}?endpoint={s3_server.endpoint}&region=us-east-1",
                          lambda: {"access_key": Secret(s3_server.access_key),
                                   "secret_key": Secret(s3_server.secret_key)})
        runner = SubprocessRunner(sink, binary=ingest_binary, timeout_s=60, extra_args=FAST_POLLS)
        return runner, store, Upstream(ads_stub.url, Secret(ads_stub.api_key))

    @pytest.fixture
    def submits(self, ads_stub):
        return lambda: len(ads_stub.jobs())


# -- the child follows its parent ---------------------------------------------------------------------------------
PARENT = """
import json, sys
from jackfruit.adapters.runner.subprocess_runner import SubprocessRunner
from jackfruit.ports import IngestJob, Secret, Upstream
cfg = json.loads(sys.argv[1])
runner = SubprocessRunner(cfg["sink"], binary=cfg["binary"], timeout_s=120, extra_args=tuple(cfg["extra"]))
job = IngestJob(cfg["run_id"], cfg["dataset"], cfg["request"], cfg["key"], Upstream(cfg["url"], Secret(cfg["api_key"])),
                attempt_id=cfg["attempt"])
def on_event(e):
    if e.kind != "log":
        print(json.dumps({"kind": e.kind, "phase": e.phase, "job": e.upstream_job_id}), flush=True)
runner.run(job, on_event)
print(json.dumps({"kind": "done"}), flush=True)
"""


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state) of a process, or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), fields[0]


def _children(pid: int, name: str) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) and st[0] == pid and st[1] != "Z":
            try:
                if name in Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace"):
                    out.append(int(entry))
            except OSError:
                pass
    return out


def _wait_gone(pid: int, timeout_s: float = 15) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        st = _stat(pid)
        if st is None or st[1] == "Z":  # an orphan may linger as a zombie under a non-reaping init
            return True
        time.sleep(0.05)
    return False


def _partials(root: Path, attempt: str) -> list[Path]:
    return sorted((root / ".partial").glob(f"{attempt}.*"))


def _wait_partial(root: Path, attempt: str, timeout_s: float = 15) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [p for p in _partials(root, attempt) if p.exists() and p.stat().st_size > 0]
        if found:
            return found[0]
        time.sleep(0.02)
    raise AssertionError(f"no partial .partial/{attempt}.* appeared")


@pytest.fixture
def slow_stub(stub_binary):
    with AdsStub(api_key="test-key", binary=stub_binary, extra_args=("--job-seconds", "60")) as stub:
        yield stub


@pytest.fixture
def throttled_stub(stub_binary):
    with AdsStub(api_key="test-key", binary=stub_binary, extra_args=("--download-bytes-per-sec", "8000")) as stub:
        yield stub


@pytest.mark.parametrize("phase", ["poll", "download"])
def test_a_killed_parent_takes_its_child_down_without_a_commit(tmp_path, ingest_binary, request, phase):
    stub = request.getfixturevalue("slow_stub" if phase == "poll" else "throttled_stub")
    root = tmp_path / "jackfruit-raw"
    store = FilesystemObjectStore(root, write_once=True)
    j = job(Upstream(stub.url, Secret(stub.api_key)))
    cfg = {"sink": str(root), "binary": ingest_binary, "extra": list(FAST_POLLS), "run_id": j.run_id,
           "dataset": j.dataset, "request": dict(j.request), "key": j.raw_key, "url": stub.url,
           "api_key": stub.api_key, "attempt": j.attempt_id}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, json.dumps(cfg)], stdout=subprocess.PIPE, text=True)
    try:
        seen = []
        assert parent.stdout is not None
        for line in parent.stdout:
            seen.append(json.loads(line))
            if seen[-1].get("phase") == phase:
                break
        assert any(e["kind"] == "submitted" and e["job"] == stub.jobs()[0]["jobID"] for e in seen), seen
        if phase == "download":
            _wait_partial(root, j.attempt_id)
        (child,) = _children(parent.pid, "jackfruit-ingest")
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert _wait_gone(child), "the ingester outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    assert not store.exists(j.raw_key)
    assert _partials(root, j.attempt_id) == []
    assert stub.jobs()[0]["status"] in ("accepted", "running", "successful")
    assert len(stub.jobs()) == 1


def test_a_killed_child_leaves_only_its_partial_named_by_the_attempt(tmp_path, ingest_binary, throttled_stub):
    root = tmp_path / "jackfruit-raw"
    store = FilesystemObjectStore(root, write_once=True)
    runner = SubprocessRunner(root, binary=ingest_binary, timeout_s=60, extra_args=FAST_POLLS)
    j = job(Upstream(throttled_stub.url, Secret(throttled_stub.api_key)))
    downloading = threading.Event()
    outcome: dict[str, BaseException] = {}

    def on_event(e: RunnerEvent) -> None:
        if e.phase == "download":
            downloading.set()

    def run() -> None:
        try:
            runner.run(j, on_event)
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = err

    t = threading.Thread(target=run)
    t.start()
    assert downloading.wait(20)
    partial = _wait_partial(root, j.attempt_id)
    (child,) = _children(os.getpid(), "jackfruit-ingest")
    os.kill(child, signal.SIGKILL)
    t.join(30)
    assert not t.is_alive()
    err = outcome.get("error")
    assert isinstance(err, BackendUnavailable), err
    assert upstream_job_of(err) == throttled_stub.jobs()[0]["jobID"]
    assert partial.exists() and partial.name.startswith(f"{j.attempt_id}.upload-")
    assert not store.exists(j.raw_key)


# -- the same contract on the ingester image in a sibling container (DockerRunner) ----------------------------------
@pytest.mark.service("docker")
class TestDockerRunner(RunnerContract):
    """Filesystem sink: the bucket directory bind-mounted at the same path."""

    @pytest.fixture
    def env(self, tmp_path, ads_stub, ingest_image, docker_owner):
        from jackfruit.adapters.runner.docker_runner import DockerRunner

        store = FilesystemObjectStore(tmp_path / "jackfruit-raw", write_once=True)
        runner = DockerRunner(store.root, image=ingest_image, timeout_s=60, extra_args=FAST_POLLS, owner=docker_owner)
        return runner, store, Upstream(ads_stub.url, Secret(ads_stub.api_key))

    @pytest.fixture
    def submits(self, ads_stub):
        return lambda: len(ads_stub.jobs())


@pytest.mark.service("docker")
class TestDockerRunnerS3Sink(RunnerContract):
    """S3 sink: nothing mounted; the raw bucket's one target, credentials on the container's stdin."""

    @pytest.fixture
    def env(self, ads_stub, ingest_image, docker_owner, s3_server, s3_buckets):
        from jackfruit.adapters.runner.docker_runner import DockerRunner
        from jackfruit.adapters.storage.s3_store import S3ObjectStore

        bucket = s3_buckets("raw")
        store = S3ObjectStore(s3_server.client(), bucket, write_once=True)
        sink = SinkTarget(f"s3://{bucket}?endpoint={s3_server.endpoint}&region=us-east-1",
                          lambda: {"access_key": Secret(s3_server.access_key),
                                   "secret_key": Secret(s3_server.secret_key)})
        runner = DockerRunner(sink, image=ingest_image, timeout_s=60, extra_args=FAST_POLLS, owner=docker_owner)
        return runner, store, Upstream(ads_stub.url, Secret(ads_stub.api_key))

    @pytest.fixture
    def submits(self, ads_stub):
        return lambda: len(ads_stub.jobs())
