"""Tier 2 (scripts/iac-check): a Dagster run launched through deploy/dagster/dagster-ecs.yaml's EcsRunLauncher
against the emulator's ECS, on the cluster and run task definition the stack created, read back from the
emulator: the RunTask's task definition, container override (the run worker's command), network (the run
subnets and security group), tags, and the secrets of its task definition (ARNs only).

dagster-aws is the pinned one (constraints/dagster.txt); boto3 reaches the emulator through AWS_ENDPOINT_URL.
The emulator's ECS is an API model: no task starts, so what happens inside the run is not exercised here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[3]
OUTPUTS = os.environ.get("JACKFRUIT_IAC_OUTPUTS", "")
EMULATOR = os.environ.get("JACKFRUIT_IAC_EMULATOR", "")
pytestmark = pytest.mark.skipif(not (OUTPUTS and EMULATOR), reason="run by scripts/iac-check after tier 2's apply")
JOB = "cams_europe_air_quality_forecasts_daily"


@pytest.fixture
def dagster_env(tmp_path):
    import psycopg

    outputs = json.loads(Path(OUTPUTS).read_text())
    ecs, stack = outputs["ecs"]["value"], outputs["jackfruit_env"]["value"]
    pg = {k: os.environ[f"JACKFRUIT_TEST_PG_{k}"] for k in ("HOST", "PORT", "USER", "PASSWORD")}
    db = f"dg_iac_{uuid.uuid4().hex[:12]}"
    admin = dict(host=pg["HOST"], port=int(pg["PORT"]), user=pg["USER"], password=pg["PASSWORD"], autocommit=True)
    with psycopg.connect(dbname="postgres", **admin) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    home = tmp_path / "dagster-home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster" / "dagster-ecs.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JACKFRUIT_", "MINIO_", "POSTGRES_", "AWS_",
                                                                     "DAGSTER_"))}
    env.update({k: v for k, v in stack.items() if not k.endswith("_SECRET_ARN")})
    env.update(
        AWS_ENDPOINT_URL=EMULATOR, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1", MINIO_ENDPOINT=EMULATOR, JACKFRUIT_DATA_DIR=str(tmp_path / "data"),
        ADS_API_KEY="not-used-no-task-starts",  # ECS injects it from its secret
        DAGSTER_HOME=str(home), DAGSTER_CURRENT_IMAGE="000000000000.dkr.ecr.us-east-1.amazonaws.com/jackfruit-ci:1",
        DAGSTER_ECS_CLUSTER=ecs["cluster"], DAGSTER_RUN_TASK_FAMILY=ecs["run_task_family"],
        DAGSTER_RUN_SUBNETS=",".join(ecs["subnets"]), DAGSTER_RUN_SECURITY_GRP=ecs["security_group"],
        DAGSTER_COMPUTE_LOGS=ecs["compute_logs"],
        # Dagster's storage and jackfruit's catalog: the local server (the emulator's RDS runs no database)
        POSTGRES_HOST=pg["HOST"], POSTGRES_PORT=pg["PORT"], DAGSTER_POSTGRES_USER=pg["USER"],
        DAGSTER_POSTGRES_PASSWORD=pg["PASSWORD"], DAGSTER_POSTGRES_DB=db, JACKFRUIT_CATALOG="sqlite")
    try:
        yield env, ecs
    finally:
        with psycopg.connect(dbname="postgres", **admin) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def test_a_run_launched_through_the_ecs_instance_is_a_run_task_on_the_stacks_cluster(dagster_env):
    env, ecs_out = dagster_env
    ecs = boto3.client("ecs", endpoint_url=EMULATOR, region_name="us-east-1", aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    before = set(ecs.list_tasks(cluster=ecs_out["cluster"])["taskArns"])
    run_id = str(uuid.uuid4())
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "job", "launch", "-m", "jackfruit.orchestration.definitions",
         "-j", JOB, "--run-id", run_id, "--tags", json.dumps({"dagster/partition": "2025-03-12"})],
        env=env, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    # the run is queued (QueuedRunCoordinator); the daemon dequeues it and launches it through EcsRunLauncher
    daemon = subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run", "-m",
                               "jackfruit.orchestration.definitions"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline, new = time.monotonic() + 120, set()
        while not new and time.monotonic() < deadline and daemon.poll() is None:
            time.sleep(1)
            new = set(ecs.list_tasks(cluster=ecs_out["cluster"])["taskArns"]) - before
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            _, err = daemon.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            _, err = daemon.communicate()
    assert len(new) == 1, f"no RunTask reached the emulator; daemon said: {err[-3000:]}"
    (arn,) = new
    (task,) = ecs.describe_tasks(cluster=ecs_out["cluster"], tasks=[arn], include=["TAGS"])["tasks"]

    # the stack's run task definition, not one registered by the launcher
    assert f":task-definition/{ecs_out['run_task_family']}:" in task["taskDefinitionArn"]
    (override,) = task["overrides"]["containerOverrides"]
    assert override["name"] == "run"
    assert override["command"][:3] == ["dagster", "api", "execute_run"]
    assert run_id in override["command"][3]
    tags = {t["key"]: t["value"] for t in task.get("tags", [])}
    assert tags["dagster/run_id"] == run_id and tags["dagster/job_name"] == JOB
    assert tags["jackfruit/component"] == "run" and tags["dagster/partition"] == "2025-03-12"
    assert tags["dagster/max_runtime"] == "7200"

    # what RunTask was given for the network: read from the request the emulator recorded on the task
    attachment = {d["name"]: d["value"] for a in task.get("attachments", []) for d in a.get("details", [])}
    assert attachment.get("subnetId") in ecs_out["subnets"], task.get("attachments")
    sgs = ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])["taskDefinition"]
    (container,) = sgs["containerDefinitions"]
    assert container["secrets"] and all(s["valueFrom"].startswith("arn:aws:secretsmanager:")
                                        for s in container["secrets"])
    assert not [e for e in container["environment"] if "PASSWORD" in e["name"] or "API_KEY" in e["name"]]
