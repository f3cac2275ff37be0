"""Tier 2 (scripts/iac-check): jackfruit on what the stack created in the AWS emulator, configured from
``tofu output`` only.

The buckets are the stack's; jackfruit's configuration is the stack's ``jackfruit_env`` output, plus the
emulator's endpoint (on AWS there is none: the region's S3) and the emulator's throwaway keys through boto3's
chain (on AWS: the task role). The catalog is the local PostgreSQL: the emulator's RDS is an API model that
runs no database. Not collected by scripts/test (it needs the applied stack): scripts/iac-check runs it with
JACKFRUIT_IAC_OUTPUTS (the outputs' JSON) and JACKFRUIT_IAC_EMULATOR (the endpoint).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[3]
OUTPUTS = os.environ.get("JACKFRUIT_IAC_OUTPUTS", "")
EMULATOR = os.environ.get("JACKFRUIT_IAC_EMULATOR", "")
pytestmark = pytest.mark.skipif(not (OUTPUTS and EMULATOR), reason="run by scripts/iac-check after tier 2's apply")
EMULATOR_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture(scope="module")
def stack_env(tmp_path_factory) -> dict[str, str]:
    """jackfruit's environment: the stack's outputs, the emulator's endpoint and keys, a local catalog database."""
    import psycopg

    outputs = json.loads(Path(OUTPUTS).read_text())
    stack = outputs["jackfruit_env"]["value"]
    pg = {k: os.environ[f"JACKFRUIT_TEST_PG_{k}"] for k in ("HOST", "PORT", "USER", "PASSWORD")}
    db = f"jf_iac_{uuid.uuid4().hex[:12]}"
    admin = dict(host=pg["HOST"], port=int(pg["PORT"]), user=pg["USER"], password=pg["PASSWORD"], autocommit=True)
    with psycopg.connect(dbname="postgres", **admin) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    with psycopg.connect(dbname=db, **admin) as conn:  # what the stack's bootstrap task does on RDS
        conn.execute("CREATE EXTENSION postgis")
        conn.execute("CREATE EXTENSION btree_gist")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JACKFRUIT_", "MINIO_", "POSTGRES_", "AWS_"))}
    env.update({k: v for k, v in stack.items() if not k.endswith("_SECRET_ARN")})
    env.update(EMULATOR_KEYS, MINIO_ENDPOINT=EMULATOR,
               JACKFRUIT_DATA_DIR=str(tmp_path_factory.mktemp("iac") / "data"),
               # the catalog: local, since the emulator's RDS runs no database (the stack's host is not reachable)
               POSTGRES_HOST=pg["HOST"], POSTGRES_PORT=pg["PORT"], POSTGRES_USER=pg["USER"],
               POSTGRES_PASSWORD=pg["PASSWORD"], POSTGRES_DB=db, POSTGRES_SSLMODE="prefer")
    try:
        yield env
    finally:
        with psycopg.connect(dbname="postgres", **admin) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def _jackfruit(env: dict[str, str], *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "jackfruit.cli", *argv], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
    assert done.returncode == 0, f"jackfruit {' '.join(argv)}: {done.stdout}{done.stderr}"
    return done


def _s3():
    return boto3.client("s3", endpoint_url=EMULATOR, region_name="us-east-1", config=Config(s3={"addressing_style": "path"}),
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_the_outputs_are_jackfruits_own_variable_names(stack_env):
    stack = json.loads(Path(OUTPUTS).read_text())["jackfruit_env"]["value"]
    assert {"MINIO_BUCKET", "JACKFRUIT_CURATED_BUCKET", "JACKFRUIT_S3_REGION", "POSTGRES_HOST", "POSTGRES_PORT",
            "POSTGRES_DB", "POSTGRES_USER"} <= set(stack)
    assert all(v.startswith("arn:aws:secretsmanager:") for k, v in stack.items() if k.endswith("_SECRET_ARN"))
    assert "MINIO_ACCESS_KEY" not in stack_env and "MINIO_SECRET_KEY" not in stack_env


def test_demo_then_the_raw_object_is_locked_write_once_and_verify_is_clean(stack_env):
    _jackfruit(stack_env, "db", "upgrade")
    demo = _jackfruit(stack_env, "demo", "--lead-hours", "2")
    assert "jackfruit demo: OK" in demo.stdout, demo.stdout
    # storage init found the stack's buckets, marker and retention: nothing created, nothing set
    init = [line for line in (demo.stdout + demo.stderr).splitlines() if "storage: " in line]
    assert init and not [line for line in init if "created" in line or "(set)" in line], init
    assert any("Object Lock default retention COMPLIANCE 10 year(s)" in line for line in init), init

    s3, raw = _s3(), stack_env["MINIO_BUCKET"]
    (key,) = re.findall(r"^\s*raw key\s+(\S+)", demo.stdout + demo.stderr, re.M)
    (version,) = s3.list_object_versions(Bucket=raw, Prefix=key)["Versions"]

    # the bucket's default retention reached the object: COMPLIANCE, about the stack's 10 years (read by HeadObject:
    # the emulator's GetObjectRetention fails with a 500 on a retention that came from the bucket's default)
    head = s3.head_object(Bucket=raw, Key=key, VersionId=version["VersionId"])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > datetime.now(timezone.utc) + timedelta(days=365 * 9)

    # deleting the locked version is refused
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=raw, Key=key, VersionId=version["VersionId"])
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403, refused.value.response

    # a second write to the key, conditional as jackfruit's are, is refused by the server
    with pytest.raises(ClientError) as precondition:
        s3.put_object(Bucket=raw, Key=key, Body=b"second", IfNoneMatch="*")
    assert precondition.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    # An unconditional write would be denied on AWS by the bucket policy's s3:if-none-match statement, which
    # tier 2 switches off (the emulator refuses every PUT under that condition key); tier 1 asserts it is on.
    # Either way the lock keeps the first version: it is still there, unchanged.
    assert s3.get_object(Bucket=raw, Key=key, VersionId=version["VersionId"])["Body"].read()[:4] == b"GRIB"

    verify = _jackfruit(stack_env, "verify", "--json")
    report = json.loads(verify.stdout)
    assert report["problems"] == [] and report["raw_objects"] >= 1 and report["tiles"] > 0
