"""DockerRunner beyond the Runner contract (tests/contracts/test_runner_contract.py binds that): what only a
container shows -- the image pre-flight that never pulls, secrets absent from ``docker inspect``, the deadline
that kills, the parent's death stopping the ingester (stdin is its lifeline through the daemon), the sweep of
leftovers by label (never a live attempt's), files through the bind mount owned by the host user.

Every test uses ``docker_owner``: no container labelled with the test's owner may be left afterwards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from jackfruit.adapters.runner.docker_runner import LABEL_ATTEMPT, LABEL_OWNER, LABEL_RUN, DockerRunner
from jackfruit.adapters.storage.filesystem_store import FilesystemObjectStore
from jackfruit.domain.errors import BackendUnavailable, Conflict
from jackfruit.ports import RunnerEvent, Secret, SinkTarget, Upstream, upstream_job_of
from jackfruit.synthetic.ads_stub import AdsStub

from ..contracts.runner_suite import job

pytestmark = [pytest.mark.service("docker"), pytest.mark.slow]

FAST_POLLS = ("--poll-initial", "50ms", "--poll-max", "200ms")


@pytest.fixture
def slow_stub(stub_binary):
    with AdsStub(api_key="test-key", binary=stub_binary, extra_args=("--job-seconds", "60")) as stub:
        yield stub


@pytest.fixture
def throttled_stub(stub_binary):
    with AdsStub(api_key="test-key", binary=stub_binary, extra_args=("--download-bytes-per-sec", "8000")) as stub:
        yield stub


def containers_of(client, attempt_id: str) -> list:
    return client.containers.list(all=True, filters={"label": f"{LABEL_ATTEMPT}={attempt_id}"})


def wait_for_container(client, attempt_id: str, status: str = "running", timeout_s: float = 20):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for c in containers_of(client, attempt_id):
            if c.status == status:
                return c
        time.sleep(0.05)
    raise AssertionError(f"no {status} container of attempt {attempt_id}: "
                         f"{[(c.name, c.status) for c in containers_of(client, attempt_id)]}")


def events_of(client, since: float, attempt_id: str) -> list[dict]:
    return list(client.events(since=int(since) - 1, until=int(time.time()) + 1, decode=True,
                              filters={"type": "container", "label": f"{LABEL_ATTEMPT}={attempt_id}"}))


def run_in_thread(runner: DockerRunner, j, on_event=None) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["manifest"] = runner.run(j, on_event)
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = err

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, outcome


def _partials(root: Path, attempt: str) -> list[Path]:
    return sorted((root / ".partial").glob(f"{attempt}.*"))


# -- pre-flight -------------------------------------------------------------------------------------------------------
def test_a_missing_image_is_a_clear_error_and_nothing_is_pulled(tmp_path, ads_stub, docker_daemon, docker_owner,
                                                              monkeypatch):
    import docker.api.client

    pulls: list = []
    monkeypatch.setattr(docker.api.client.APIClient, "pull", lambda *a, **k: pulls.append(a) or {})
    missing = f"jackfruit-ingest:missing-{uuid.uuid4().hex[:8]}"
    runner = DockerRunner(tmp_path / "raw", image=missing, timeout_s=30, owner=docker_owner)
    with pytest.raises(BackendUnavailable) as err:
        runner.run(job(Upstream(ads_stub.url, Secret(ads_stub.api_key))))
    assert missing in str(err.value) and "scripts/ingest-image" in str(err.value)
    assert pulls == [] and ads_stub.jobs() == []
    assert docker_daemon.images.list(name=missing) == []
    assert docker_daemon.containers.list(all=True, filters={"label": f"{LABEL_OWNER}={docker_owner}"}) == []


def test_an_unreachable_daemon_is_backend_unavailable(tmp_path, ads_stub):
    runner = DockerRunner(tmp_path / "raw", base_url=f"unix://{tmp_path}/no-docker.sock", timeout_s=30)
    with pytest.raises(BackendUnavailable, match="Docker daemon"):
        runner.run(job(Upstream(ads_stub.url, Secret(ads_stub.api_key))))
    assert ads_stub.jobs() == []


# -- secrets: stdin only ------------------------------------------------------------------------------------------------
def _process_tree(pid: int) -> list[int]:
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()]
        except OSError:
            pass
    return tree


def test_docker_inspect_shows_no_secret_and_the_s3_run_lands(stub_binary, ingest_image, docker_daemon, docker_owner,
                                                              s3_server, s3_buckets):
    from jackfruit.adapters.storage.s3_store import S3ObjectStore

    canary_key = f"canary-ads-key-{uuid.uuid4().hex}"
    bucket = s3_buckets("raw")
    store = S3ObjectStore(s3_server.client(), bucket, write_once=True)
    sink = SinkTarget(f"s3://{bucket}?endpoint={s3_server.endpoint}&region=us-east-1",
                      lambda: {"access_key": Secret(s3_server.access_key), "secret_key": Secret(s3_server.secret_key)})
    secrets = [canary_key, s3_server.secret_key, s3_server.access_key]
    with AdsStub(api_key=canary_key, binary=stub_binary, extra_args=("--download-bytes-per-sec", "8000")) as stub:
        runner = DockerRunner(sink, image=ingest_image, timeout_s=60, extra_args=FAST_POLLS, owner=docker_owner,
                              mem_limit="256m", cpus=0.5)
        j = job(Upstream(stub.url, Secret(canary_key)))
        downloading = threading.Event()
        events: list[RunnerEvent] = []

        def on_event(e: RunnerEvent) -> None:
            events.append(e)
            if e.phase == "download":
                downloading.set()

        t, outcome = run_in_thread(runner, j, on_event)
        assert downloading.wait(30), outcome
        container = wait_for_container(docker_daemon, j.attempt_id)
        inspect = docker_daemon.api.inspect_container(container.id)
        procs = _process_tree(inspect["State"]["Pid"])
        seen_by_host = [Path(f"/proc/{p}/{what}").read_bytes().decode(errors="replace")
                        for p in procs for what in ("cmdline", "environ")
                        if os.access(f"/proc/{p}/{what}", os.R_OK)]
        t.join(60)
    assert not t.is_alive() and "error" not in outcome, outcome
    # nothing of the credentials where docker inspect (or the host's /proc) shows it
    dumped = json.dumps(inspect)
    assert len(procs) >= 2 and any("--base-url" in text for text in seen_by_host)  # docker-init and the ingester
    for value in secrets:
        assert value not in dumped
        assert not any(value in text for text in seen_by_host)
        assert not any(value in (e.message or "") for e in events)
    config, host = inspect["Config"], inspect["HostConfig"]
    assert inspect["Path"] == "/jackfruit-ingest" and inspect["Args"][0] == "--base-url"
    assert inspect["Args"][inspect["Args"].index("--input") + 1] == "-"
    assert config["Labels"] == {LABEL_RUN: j.run_id, LABEL_ATTEMPT: j.attempt_id, LABEL_OWNER: docker_owner}
    assert not [e for e in config["Env"] or [] if not e.startswith("PATH=")]
    assert config["OpenStdin"] and config["StdinOnce"] and not config["Tty"]
    assert config["User"] == "65534:65534"  # S3 sink: nothing mounted, the image's own unprivileged user
    assert host["Init"] is True and host["NetworkMode"] == "host" and host["ReadonlyRootfs"] is True
    assert host["Memory"] == 256 << 20 and host["NanoCpus"] == 500_000_000 and host["CapDrop"] == ["ALL"]
    assert not host["Binds"]
    # and the credentials did reach the ingester (on its stdin): the product is in the bucket
    manifest = outcome["manifest"]
    assert store.get(j.raw_key)[:4] == b"GRIB" and store.head(j.raw_key).size == manifest.size


# -- deadline -----------------------------------------------------------------------------------------------------------
def test_the_deadline_kills_and_removes_the_container(tmp_path, slow_stub, ingest_image, docker_daemon, docker_owner):
    root = tmp_path / "raw"
    store = FilesystemObjectStore(root, write_once=True)
    # an ingester that overstays its own --timeout (a later --timeout wins): only this side's deadline stops it
    runner = DockerRunner(root, image=ingest_image, timeout_s=1, margin_s=2, grace_s=2, owner=docker_owner,
                          extra_args=(*FAST_POLLS, "--timeout", "600s"))
    j = job(Upstream(slow_stub.url, Secret(slow_stub.api_key)))
    started = time.time()
    with pytest.raises(BackendUnavailable, match="did not finish within 3 s") as err:
        runner.run(j)
    elapsed = time.time() - started
    assert elapsed < 3 + 2 + 10, elapsed
    assert upstream_job_of(err.value) == slow_stub.jobs()[0]["jobID"]
    actions = [(e["Action"], e["Actor"]["Attributes"].get("signal")) for e in events_of(docker_daemon, started,
                                                                                       j.attempt_id)]
    assert ("kill", "9") in actions and ("destroy", None) in actions, actions
    assert containers_of(docker_daemon, j.attempt_id) == []
    assert not store.exists(j.raw_key) and _partials(root, j.attempt_id) == []


# -- the parent's death -------------------------------------------------------------------------------------------------
PARENT = """
import json, sys
from jackfruit.adapters.runner.docker_runner import DockerRunner
from jackfruit.ports import IngestJob, Secret, Upstream
cfg = json.loads(sys.argv[1])
runner = DockerRunner(cfg["sink"], image=cfg["image"], timeout_s=120, extra_args=tuple(cfg["extra"]), owner=cfg["owner"])
job = IngestJob(cfg["run_id"], cfg["dataset"], cfg["request"], cfg["key"], Upstream(cfg["url"], Secret(cfg["api_key"])),
                attempt_id=cfg["attempt"])
def on_event(e):
    if e.kind != "log":
        print(json.dumps({"kind": e.kind, "phase": e.phase, "job": e.upstream_job_id}), flush=True)
runner.run(job, on_event)
print(json.dumps({"kind": "done"}), flush=True)
"""


@pytest.mark.parametrize("phase", ["poll", "download"])
def test_a_killed_parent_stops_the_ingester_container_and_a_sweep_removes_it(tmp_path, request, ingest_image,
                                                                            docker_daemon, docker_owner, phase):
    stub = request.getfixturevalue("slow_stub" if phase == "poll" else "throttled_stub")
    root = tmp_path / "jackfruit-raw"
    store = FilesystemObjectStore(root, write_once=True)
    j = job(Upstream(stub.url, Secret(stub.api_key)))
    cfg = {"sink": str(root), "image": ingest_image, "extra": list(FAST_POLLS), "owner": docker_owner,
           "run_id": j.run_id, "dataset": j.dataset, "request": dict(j.request), "key": j.raw_key, "url": stub.url,
           "api_key": stub.api_key, "attempt": j.attempt_id}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, json.dumps(cfg)], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])
    try:
        seen = []
        assert parent.stdout is not None
        for line in parent.stdout:
            seen.append(json.loads(line))
            if seen[-1].get("phase") == phase:
                break
        assert any(e["kind"] == "submitted" and e["job"] == stub.jobs()[0]["jobID"] for e in seen), seen
        if phase == "download":
            deadline = time.monotonic() + 15
            while not [p for p in _partials(root, j.attempt_id) if p.stat().st_size > 0]:
                assert time.monotonic() < deadline, "no partial appeared"
                time.sleep(0.02)
        container = wait_for_container(docker_daemon, j.attempt_id)
        # a sweep while the attempt is live leaves its running container alone
        assert DockerRunner(root, image=ingest_image).sweep(lambda run_id, attempt_id: True) == []
        assert wait_for_container(docker_daemon, j.attempt_id).id == container.id
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        # its attach connection closed with it: the daemon closed the ingester's stdin, the ingester cancelled
        exited = wait_for_container(docker_daemon, j.attempt_id, status="exited", timeout_s=20)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    state = docker_daemon.api.inspect_container(exited.id)["State"]
    logs = exited.logs(stdout=True, stderr=True).decode(errors="replace")
    assert state["ExitCode"] == 143 and "parent went away" in logs, (state, logs[-2000:])
    assert not store.exists(j.raw_key) and _partials(root, j.attempt_id) == []
    assert len(stub.jobs()) == 1
    # the attempt is over (its lease would expire): a later sweep removes the container, and only it
    swept = DockerRunner(root, image=ingest_image).sweep(lambda run_id, attempt_id: attempt_id != j.attempt_id)
    assert swept == [exited.name]
    assert containers_of(docker_daemon, j.attempt_id) == []


def test_run_starts_with_a_sweep_that_keeps_live_attempts(tmp_path, ads_stub, ingest_image, docker_daemon,
                                                          docker_owner):
    """``is_live`` given: every run first removes the containers of attempts that are no longer live."""
    dead, live, broken = (job(Upstream(ads_stub.url, Secret(""))) for _ in range(3))
    for leftover in (dead, live, broken):
        docker_daemon.api.create_container(ingest_image, command=["--help"], labels={
            LABEL_RUN: leftover.run_id, LABEL_ATTEMPT: leftover.attempt_id, LABEL_OWNER: docker_owner},
            host_config=docker_daemon.api.create_host_config(network_mode="none"))
    asked: list[tuple[str, str]] = []

    def is_live(run_id: str, attempt_id: str) -> bool:
        asked.append((run_id, attempt_id))
        if attempt_id == broken.attempt_id:
            raise RuntimeError("catalog unreachable")  # cannot tell: kept
        return attempt_id != dead.attempt_id

    runner = DockerRunner(tmp_path / "raw", image=ingest_image, timeout_s=60, extra_args=FAST_POLLS,
                          owner=docker_owner, is_live=is_live)
    j = job(Upstream(ads_stub.url, Secret(ads_stub.api_key)))
    assert runner.run(j).key == j.raw_key
    assert (dead.run_id, dead.attempt_id) in asked
    assert containers_of(docker_daemon, dead.attempt_id) == []
    assert len(containers_of(docker_daemon, live.attempt_id)) == 1
    assert len(containers_of(docker_daemon, broken.attempt_id)) == 1
    names = sorted(c.name for a in (live, broken) for c in containers_of(docker_daemon, a.attempt_id))
    assert sorted(runner.sweep(lambda run_id, attempt_id: attempt_id not in (live.attempt_id, broken.attempt_id))) \
        == names


# -- the filesystem sink through the bind mount ---------------------------------------------------------------------------
def test_objects_through_the_bind_mount_belong_to_the_host_user_and_stay_write_once(tmp_path, ads_stub, ingest_image,
                                                                                   docker_owner):
    root = tmp_path / "jackfruit-raw"
    store = FilesystemObjectStore(root, write_once=True)
    runner = DockerRunner(root, image=ingest_image, timeout_s=60, extra_args=FAST_POLLS, owner=docker_owner)
    j = job(Upstream(ads_stub.url, Secret(ads_stub.api_key)))
    manifest = runner.run(j)
    st = (root / j.raw_key).stat()
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    assert st.st_mode & 0o777 == 0o444
    assert (root / j.raw_key).parent.stat().st_uid == os.getuid()
    assert os.listdir(root / ".partial") == []
    assert len(store.get(j.raw_key)) == manifest.size
    assert store.local_path(j.raw_key) is not None
    with pytest.raises(Conflict):
        store.put(j.raw_key, b"GRIB again 7777")


def test_an_on_event_that_raises_cancels_the_ingester_through_its_stdin(tmp_path, slow_stub, ingest_image,
                                                                       docker_daemon, docker_owner):
    """The Runner port: if ``on_event`` raises, the job is cancelled, waited for and the exception re-raised --
    here by half-closing the attach connection: the daemon closes the ingester's stdin, it stops (no kill)."""
    root = tmp_path / "raw"
    store = FilesystemObjectStore(root, write_once=True)
    runner = DockerRunner(root, image=ingest_image, timeout_s=60, grace_s=10, extra_args=FAST_POLLS,
                          owner=docker_owner)
    j = job(Upstream(slow_stub.url, Secret(slow_stub.api_key)))

    class LeaseLost(Exception):
        pass

    def on_event(e: RunnerEvent) -> None:
        if e.phase == "poll":
            raise LeaseLost("the claim is gone")

    started = time.time()
    with pytest.raises(LeaseLost) as err:
        runner.run(j, on_event)
    assert time.time() - started < 10
    assert upstream_job_of(err.value) == slow_stub.jobs()[0]["jobID"]
    actions = [(e["Action"], e["Actor"]["Attributes"].get("exitCode"))
               for e in events_of(docker_daemon, started, j.attempt_id)]
    assert ("die", "143") in actions and not [a for a in actions if a[0] == "kill"], actions
    assert containers_of(docker_daemon, j.attempt_id) == [] and not store.exists(j.raw_key)


# -- wired by the container: JACKFRUIT_RUNNER=docker ----------------------------------------------------------------------
def test_the_app_ingests_through_the_docker_runner_and_sweeps_what_the_catalog_says_is_over(
        tmp_path, monkeypatch, ads_stub, ingest_image, docker_daemon, docker_owner):
    from datetime import date

    from jackfruit.app import Jackfruit
    from jackfruit.domain.model import RunStatus
    from jackfruit.settings import Settings

    for name in list(os.environ):
        if name.startswith(("JACKFRUIT_", "ADS_", "MINIO_", "POSTGRES_")):
            monkeypatch.delenv(name)
    settings = Settings(JACKFRUIT_DATA_DIR=str(tmp_path / "data"), JACKFRUIT_RUNNER="docker",
                        JACKFRUIT_INGEST_IMAGE=ingest_image, JACKFRUIT_INGEST_POLL_INITIAL_S=0.05,
                        JACKFRUIT_DOCKER_MEMORY="256m", ADS_BASE_URL=ads_stub.url, ADS_API_KEY=ads_stub.api_key)
    small = {"variable": ["ozone"], "leadtime_hour": ["0", "1"]}
    with Jackfruit.from_settings(settings) as app:
        assert type(app.runner).__name__ == "DockerRunner"
        first = app.ingest("cams-europe-air-quality-forecasts", date(2025, 3, 12), small)
        assert first.status is RunStatus.SUCCEEDED and app.raw_store.get(first.raw_key)[:4] == b"GRIB"
        (attempt,) = first.attempts
        assert attempt.ended_at is not None
        # leftovers: a container of the finished attempt (over: swept) and one of a run this catalog does not know
        unknown = job(Upstream(ads_stub.url, Secret("")))
        for run_id, attempt_id in ((first.run_id, attempt.attempt_id), (unknown.run_id, unknown.attempt_id)):
            docker_daemon.api.create_container(ingest_image, command=["--help"], labels={
                LABEL_RUN: run_id, LABEL_ATTEMPT: attempt_id, LABEL_OWNER: docker_owner},
                host_config=docker_daemon.api.create_host_config(network_mode="none"))
        second = app.ingest("cams-europe-air-quality-forecasts", date(2025, 3, 13), small)
        assert second.status is RunStatus.SUCCEEDED
    assert containers_of(docker_daemon, attempt.attempt_id) == []
    (kept,) = containers_of(docker_daemon, unknown.attempt_id)
    kept.remove(force=True)
    assert containers_of(docker_daemon, second.attempts[0].attempt_id) == []


def test_gc_sweeps_containers_of_attempts_that_are_over(tmp_path, monkeypatch, ads_stub, ingest_image, docker_daemon,
                                                        docker_owner):
    """`jackfruit gc` (the use case) stops and removes ingester containers whose attempt is over, keeps a live
    attempt's and those of runs the catalog does not know, and reports how many it removed."""
    from datetime import date, timedelta

    from jackfruit.app import Jackfruit
    from jackfruit.settings import Settings

    for name in list(os.environ):
        if name.startswith(("JACKFRUIT_", "ADS_", "MINIO_", "POSTGRES_")):
            monkeypatch.delenv(name)
    settings = Settings(JACKFRUIT_DATA_DIR=str(tmp_path / "data"), JACKFRUIT_RUNNER="docker",
                        JACKFRUIT_INGEST_IMAGE=ingest_image, JACKFRUIT_INGEST_POLL_INITIAL_S=0.05,
                        ADS_BASE_URL=ads_stub.url, ADS_API_KEY=ads_stub.api_key)
    with Jackfruit.from_settings(settings) as app:
        done = app.ingest("cams-europe-air-quality-forecasts", date(2025, 3, 12),
                          {"variable": ["ozone"], "leadtime_hour": ["0"]})
        from tests.contracts.catalog_suite import run as new_run

        live = app.catalog.claim_ingest(new_run(), attempt_id=app.ids.new_run_id(), owner="elsewhere",
                                        now=app.clock.now(), expires_at=app.clock.now() + timedelta(hours=1))
        unknown = job(Upstream(ads_stub.url, Secret("")))
        made = {}
        for name, run_id, attempt_id in (("over", done.run_id, done.attempts[0].attempt_id),
                                         ("live", live.run_id, live.attempts[0].attempt_id),
                                         ("unknown", unknown.run_id, unknown.attempt_id)):
            made[name] = docker_daemon.api.create_container(ingest_image, command=["--help"], labels={
                LABEL_RUN: run_id, LABEL_ATTEMPT: attempt_id, LABEL_OWNER: docker_owner},
                host_config=docker_daemon.api.create_host_config(network_mode="none"))
        report = app.gc()
        assert report.containers == 1
        assert containers_of(docker_daemon, done.attempts[0].attempt_id) == []
        for name, attempt_id in (("live", live.attempts[0].attempt_id), ("unknown", unknown.attempt_id)):
            (kept,) = containers_of(docker_daemon, attempt_id)
            kept.remove(force=True)


# -- the query containers (find_job, job_status) ------------------------------------------------------------------------
QUERY_PARENT = """
import json, sys
from jackfruit.adapters.runner.docker_runner import DockerRunner
from jackfruit.ports import JobQuery, Secret, Upstream
cfg = json.loads(sys.argv[1])
runner = DockerRunner(cfg["sink"], image=cfg["image"], timeout_s=120, owner=cfg["owner"])
print(json.dumps({"kind": "asking"}), flush=True)
runner.find_job(JobQuery(cfg["dataset"], cfg["request"], Upstream(cfg["url"], Secret("k"))))
"""


def test_a_killed_parent_stops_its_query_container_and_a_sweep_removes_the_leftover(tmp_path, ingest_image,
                                                                                  docker_daemon, docker_owner,
                                                                                  monkeypatch):
    import socket

    from jackfruit.adapters.runner import docker_runner

    silent = socket.socket()  # accepts connections (the backlog) and never answers: the query waits
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    j = job(Upstream("http://x", Secret("k")))
    cfg = {"sink": str(tmp_path / "raw"), "image": ingest_image, "owner": docker_owner, "dataset": j.dataset,
           "request": dict(j.request), "url": f"http://127.0.0.1:{silent.getsockname()[1]}/api"}
    parent = subprocess.Popen([sys.executable, "-c", QUERY_PARENT, json.dumps(cfg)], stdout=subprocess.PIPE,
                              text=True, cwd=Path(__file__).resolve().parents[2])
    owned = {"label": [f"{LABEL_OWNER}={docker_owner}", docker_runner.LABEL_QUERY]}
    waiting = None
    try:
        deadline = time.monotonic() + 20
        while not [c for c in docker_daemon.containers.list(all=True, filters=owned) if c.status == "running"]:
            assert time.monotonic() < deadline and parent.poll() is None, "no running query container"
            time.sleep(0.05)
        # kill the parent only once the query is waiting on the upstream (it has read its stdin line and connected):
        # killed earlier, the ingester sees a closed stdin before its request line, a usage error (exit 2) -- a race
        # that a loaded machine lost
        silent.settimeout(20)
        waiting, _ = silent.accept()
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 20
        while not [c for c in docker_daemon.containers.list(all=True, filters=owned) if c.status == "exited"]:
            assert time.monotonic() < deadline, "the query container outlived its parent"
            time.sleep(0.05)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if waiting is not None:
            waiting.close()
        silent.close()
    (left,) = docker_daemon.containers.list(all=True, filters=owned)
    state = docker_daemon.api.inspect_container(left.id)["State"]
    assert state["ExitCode"] == 143 and left.labels[docker_runner.LABEL_QUERY] == "find-job"
    runner = DockerRunner(tmp_path / "raw", image=ingest_image)
    # (leftover query containers of earlier tests on this daemon, e.g. kill-anywhere's killed ingests, may be swept
    # too: the sweep judges query containers by age, whoever made them)
    assert left.name not in runner.sweep(lambda run_id, attempt_id: True)  # younger than any query can last: kept
    assert docker_daemon.containers.list(all=True, filters=owned) != []
    monkeypatch.setattr(docker_runner, "QUERY_LEFTOVER_S", 0)
    assert left.name in runner.sweep(lambda run_id, attempt_id: True)
    assert docker_daemon.containers.list(all=True, filters=owned) == []
