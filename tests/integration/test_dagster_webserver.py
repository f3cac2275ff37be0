"""Dagster as a deployment runs it: ``dagster-webserver`` and ``dagster-daemon`` as processes on 127.0.0.1, the
instance of deploy/dagster/dagster.yaml as written (storage in a PostgreSQL database of its own, telemetry off) in
a temporary DAGSTER_HOME, the code location ``-m jackfruit.orchestration.definitions`` configured by jackfruit's
settings in its environment (the ADS stub, the embedded catalog in a temp data dir). GraphQL lists every asset and a
launched run of one CAMS Europe partition succeeds (queued, then started by the daemon); the UI, opened in
Debian's headless chromium through playwright, shows every asset key in the asset graph, and a screenshot is kept
as a test artifact (test-artifacts/dagster-asset-graph.png, or under JACKFRUIT_TEST_ARTIFACTS)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from jackfruit.app import Jackfruit
from jackfruit.domain.model import RunStatus
from jackfruit.orchestration.defs.partitions import RUN_ID_TAG, plan
from jackfruit.settings import Settings
from jackfruit.synthetic.ads_stub import AdsStub
from jackfruit.sources.cams_europe import PROFILE as CAMS_PROFILE
CAMS_EUROPE = CAMS_PROFILE.definition()

from ..conftest import ROOT, clean_environ, go_binary

pytestmark = [pytest.mark.slow, pytest.mark.service("postgres")]

KEY = "dagster-webserver-test-key"
DAY = date(2025, 3, 12)
PLAN = plan(CAMS_EUROPE.name)
JOB = PLAN.job_name
CODE_LOCATION = "jackfruit.orchestration.definitions"
BIN = Path(sys.executable).parent
START_TIMEOUT_S = 120  # the webserver answers 3-6 s after start on an idle machine; CI shares two cores
RUN_TIMEOUT_S = 300
UI_TIMEOUT_S = 45


def expected_keys() -> list[tuple[str, ...]]:
    """Every asset key of the Definitions the code location loads, as path tuples."""
    from jackfruit.orchestration.definitions import defs

    return sorted(tuple(k.path) for k in defs.resolve_all_asset_keys())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@dataclass
class Stack:
    url: str
    data_dir: Path
    logs: dict[str, Path]

    def log_tails(self) -> str:
        return "\n".join(f"--- {name} ({path}):\n{tail(path)}" for name, path in self.logs.items())

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.url}/graphql", headers={"Content-Type": "application/json"},
                                         data=json.dumps({"query": query, "variables": variables or {}}).encode())
        with urllib.request.urlopen(request, timeout=60) as resp:
            body = json.load(resp)
        assert not body.get("errors"), f"GraphQL errors: {json.dumps(body['errors'])[:2000]}"
        return body["data"]


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the process's whole group (the webserver's or daemon's code servers and run workers too), up to
    20 s for it to exit (≈ 3 s), then SIGKILL to whatever of the group is left, exited leader or not."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory, postgres_server):
    """The ADS stub, then the webserver and the daemon, each a process group of its own (subprocess.Popen gives
    them the default signal handling, which Dagster started with `&` from a non-interactive shell would lack: it
    would ignore SIGTERM), stopped group by group at the end whatever happens; Dagster's database dropped."""
    stub_binary, _ = go_binary("ads-stub"), go_binary("jackfruit-ingest")
    tmp = tmp_path_factory.mktemp("dagster_webserver")
    home, data = tmp / "dagster_home", tmp / "data"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster" / "dagster.yaml", home / "dagster.yaml")
    dagster_db = postgres_server.create_database("jf_dagster", extensions=False)
    request.addfinalizer(lambda: postgres_server.drop_database(dagster_db))
    stub = AdsStub(api_key=KEY, binary=stub_binary).__enter__()
    request.addfinalizer(lambda: stub.__exit__(None, None, None))

    env = {k: v for k, v in clean_environ().items() if not k.startswith("DAGSTER_")}
    env.update({
        # the instance (deploy/dagster/dagster.yaml): Dagster's own database on the test server
        "DAGSTER_HOME": str(home), "DAGSTER_POSTGRES_DB": dagster_db,
        "POSTGRES_HOST": postgres_server.host, "POSTGRES_PORT": str(postgres_server.port),
        "POSTGRES_USER": postgres_server.user, "POSTGRES_PASSWORD": postgres_server.password,
        # the code location: jackfruit's settings (embedded SQLite catalog, filesystem buckets in the data dir)
        "JACKFRUIT_DATA_DIR": str(data), "ADS_BASE_URL": stub.url, "ADS_API_KEY": KEY,
        "JACKFRUIT_INGEST_POLL_INITIAL_S": "0.1",
    })
    port = free_port()
    commands = {
        "webserver": [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-m", CODE_LOCATION],
        "daemon": [str(BIN / "dagster-daemon"), "run", "-m", CODE_LOCATION],
    }
    logs = {name: tmp / f"{name}.log" for name in commands}
    stack = Stack(f"http://127.0.0.1:{port}", data, logs)
    procs: dict[str, subprocess.Popen] = {}
    for name, argv in commands.items():
        with open(logs[name], "wb") as log:  # the child keeps its own descriptor
            procs[name] = subprocess.Popen(argv, cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True)
        request.addfinalizer(lambda proc=procs[name]: stop_group(proc))

    t0, deadline = time.monotonic(), time.monotonic() + START_TIMEOUT_S
    while True:
        for name, proc in procs.items():
            if proc.poll() is not None:
                pytest.fail(f"dagster {name} exited {proc.returncode} at start\n{stack.log_tails()}")
        try:
            with urllib.request.urlopen(f"{stack.url}/server_info", timeout=5) as resp:
                info = json.load(resp)
            break
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                pytest.fail(f"the webserver did not answer on {stack.url} within {START_TIMEOUT_S} s\n"
                            f"{stack.log_tails()}")
            time.sleep(0.5)
    print(f"\ndagster-webserver {info.get('dagster_webserver_version')} up at {stack.url} "
          f"in {time.monotonic() - t0:.1f} s")
    yield stack


def launch_partition(stack: Stack, day: date) -> tuple[str, str]:
    """launchRun of the job for one day: the run id and the status the launch reported."""
    repos = stack.graphql("""{ repositoriesOrError { __typename
      ... on RepositoryConnection { nodes { name location { name } jobs { name } } }
      ... on PythonError { message } } }""")["repositoriesOrError"]
    assert repos["__typename"] == "RepositoryConnection", f"the code location did not load: {repos}"
    found = [(r["location"]["name"], r["name"]) for r in repos["nodes"] if JOB in {j["name"] for j in r["jobs"]}]
    assert len(found) == 1, f"the job {JOB} is not in exactly one repository: {repos}"
    (location, repository), = found
    assert location == CODE_LOCATION
    launched = stack.graphql("""mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
      ... on LaunchRunSuccess { run { runId status } }
      ... on PythonError { message stack }
      ... on RunConfigValidationInvalid { errors { message } }
      ... on InvalidSubsetError { message }
      ... on PipelineNotFoundError { message } } }""",
        {"p": {"selector": {"repositoryLocationName": location, "repositoryName": repository, "jobName": JOB},
               "runConfigData": {},
               "executionMetadata": {"tags": [{"key": "dagster/partition", "value": day.isoformat()}]}}})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", f"launchRun refused: {json.dumps(launched)[:2000]}"
    return launched["run"]["runId"], launched["run"]["status"]


def wait_for_run(stack: Stack, run_id: str) -> tuple[str, dict[str, str], list[str]]:
    """Polls ``runOrError`` until the run ends: its status, its tags and the statuses it went through (each with
    the seconds since the first poll when it was seen)."""
    t0 = time.monotonic()
    deadline, seen = t0 + RUN_TIMEOUT_S, []
    while True:
        run = stack.graphql("""query($id: ID!) { runOrError(runId: $id) { __typename
          ... on Run { status tags { key value } } ... on PythonError { message } } }""",
                            {"id": run_id})["runOrError"]
        assert run["__typename"] == "Run", f"runOrError: {run}"
        if not seen or not seen[-1].startswith(run["status"] + " "):
            seen.append(f"{run['status']} {time.monotonic() - t0:.0f}s")
        if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return run["status"], {t["key"]: t["value"] for t in run["tags"]}, seen
        if time.monotonic() > deadline:
            pytest.fail(f"run {run_id} still {seen} after {RUN_TIMEOUT_S} s\n{stack.log_tails()}")
        time.sleep(1)


def run_events(stack: Stack, run_id: str) -> list[dict[str, Any]]:
    logs = stack.graphql("""query($id: ID!) { logsForRun(runId: $id, limit: 5000) { __typename
      ... on EventConnection { events { __typename
        ... on MessageEvent { message level stepKey }
        ... on ErrorEvent { error { message } }
        ... on MaterializationEvent { assetKey { path } partition metadataEntries { label
          ... on TextMetadataEntry { text } } } } }
      ... on PythonError { message } } }""", {"id": run_id})["logsForRun"]
    assert logs["__typename"] == "EventConnection", f"logsForRun: {logs}"
    return logs["events"]


def error_messages(events: list[dict[str, Any]]) -> str:
    lines = []
    for e in events:
        error = e.get("error") or {}
        if error or e.get("level") in ("ERROR", "CRITICAL") or e["__typename"].endswith("FailureEvent"):
            lines.append(f"{e['__typename']} {e.get('stepKey') or ''}: {(e.get('message') or '')[:1500]}")
            if error.get("message"):
                lines.append(f"    {error['message'][:1500].rstrip()}")
    return "\n".join(lines) or "(no error events)"


def test_graphql_lists_every_asset_and_a_launched_partition_run_succeeds(stack):
    instance = stack.graphql("{ instance { info runLauncher { name } runQueuingSupported } }")["instance"]
    assert instance["runLauncher"]["name"] == "DefaultRunLauncher" and instance["runQueuingSupported"]
    assert "PostgresRunStorage" in instance["info"] and "PostgresEventLogStorage" in instance["info"]
    nodes = stack.graphql("{ assetNodes { assetKey { path } } }")["assetNodes"]
    assert sorted(tuple(n["assetKey"]["path"]) for n in nodes) == expected_keys()

    run_id, launched = launch_partition(stack, DAY)
    print(f"launched Dagster run {run_id} for {DAY}")
    assert launched == "QUEUED"  # the queued run coordinator: the daemon dequeues and starts it
    status, tags, seen = wait_for_run(stack, run_id)
    events = run_events(stack, run_id)
    print(f"run {run_id}: {' -> '.join(seen)}")
    if status != "SUCCESS":
        pytest.fail(f"run {run_id} of {DAY} ended {status} (went through {seen}); its errors:\n"
                    f"{error_messages(events)}\n{stack.log_tails()}", pytrace=False)
    assert tags["dagster/partition"] == DAY.isoformat() and tags["dagster/max_runtime"] == "7200"
    materialized = {tuple(e["assetKey"]["path"]): {m["label"]: m.get("text") for m in e["metadataEntries"]}
                    for e in events if e["__typename"] == "MaterializationEvent"}
    assert sorted(materialized) == sorted(tuple(k.path) for k in (PLAN.raw_key, PLAN.tiles_key))  # its job's two
    assert {e["partition"] for e in events if e["__typename"] == "MaterializationEvent"} == {DAY.isoformat()}
    (jackfruit_run_id,) = {meta["jackfruit_run_id"] for meta in materialized.values()}
    assert tags[RUN_ID_TAG] == jackfruit_run_id
    # the code location's run landed in the catalog its environment named, with Dagster's run id on it
    with Jackfruit.from_settings(Settings(JACKFRUIT_DATA_DIR=str(stack.data_dir))) as app:
        run = app.run(jackfruit_run_id)
    assert run.status is RunStatus.SUCCEEDED and run.orchestrator_run_id == run_id

    # the daemon heartbeats: every daemon this instance requires is healthy
    deadline = time.monotonic() + 30
    while True:
        statuses = stack.graphql("{ instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } } }"
                                 )["instance"]["daemonHealth"]["allDaemonStatuses"]
        unhealthy = [s["daemonType"] for s in statuses if s["required"] and not s["healthy"]]
        if not unhealthy:
            break
        assert time.monotonic() < deadline, f"daemons not healthy: {unhealthy}\n{stack.log_tails()}"
        time.sleep(1)
    assert "QUEUED_RUN_COORDINATOR" in {s["daemonType"] for s in statuses if s["required"]}


def artifact_path(name: str) -> Path:
    base = Path(os.environ.get("JACKFRUIT_TEST_ARTIFACTS") or ROOT / "test-artifacts")
    base.mkdir(parents=True, exist_ok=True)
    return base / name


@pytest.mark.service("browser")
def test_the_asset_graph_in_a_real_browser_shows_every_asset_key(browser, stack, capsys):
    """One asset group per dataset: each group's graph page shows its assets (the global graph collapses groups)."""
    from playwright.sync_api import Error as PlaywrightError, expect

    keys = expected_keys()
    groups = sorted({key[1] for key in keys})
    assert len(groups) >= 2  # one per registered dataset
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda err: page_errors.append(str(err)))
    screenshot = artifact_path("dagster-asset-graph.png")
    missing: list[str] = []
    url = ""
    try:
      for group in groups:
        url = f"{stack.url}/locations/__repository__@{CODE_LOCATION}/asset-groups/{group}"
        page.goto(url, timeout=UI_TIMEOUT_S * 1000)
        deadline = time.monotonic() + UI_TIMEOUT_S
        for key in (k for k in keys if k[1] == group):
            path = "/".join(key)
            # the graph's node of this key: its name (the key's last part) shown, and its links to the asset's
            # page carrying the whole key
            node = page.locator("foreignObject").filter(
                has=page.locator(f'a[href^="/assets/{path}?"], a[href="/assets/{path}"]'))
            try:
                expect(node).to_have_count(1, timeout=max(1000, (deadline - time.monotonic()) * 1000))
                expect(node.get_by_text(key[-1], exact=True)).to_be_visible(timeout=5000)
            except (AssertionError, PlaywrightError):
                missing.append(path)
    finally:
        try:  # the nodes' details (latest event, checks) load after the nodes: a moment for them, at most 5 s
            page.wait_for_load_state("networkidle", timeout=5000)
        except PlaywrightError:
            pass
        page.screenshot(path=str(screenshot), full_page=True)
        context.close()
        with capsys.disabled():
            print(f"\nscreenshot of the asset graph: {screenshot} ({screenshot.stat().st_size} bytes)")
    assert not missing, (f"the asset graph at {url} never showed {missing} within {UI_TIMEOUT_S} s (screenshot: "
                         f"{screenshot}); page errors: {page_errors}")
