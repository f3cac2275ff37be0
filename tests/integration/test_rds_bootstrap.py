"""The stack's bootstrap task (deploy/aws/bootstrap/bootstrap_db.py) on a real PostgreSQL: roles, separate
databases for the catalog and Dagster, extensions; idempotent; then `jackfruit db upgrade` as jackfruit's role."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "aws" / "bootstrap" / "bootstrap_db.py"


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)


def test_bootstrap_is_idempotent_and_keeps_dagster_apart(postgres_server):
    tag = uuid.uuid4().hex[:10]
    names = {"POSTGRES_DB": f"jf_boot_{tag}", "POSTGRES_USER": f"jf_boot_{tag}",
             "DAGSTER_POSTGRES_DB": f"dg_boot_{tag}", "DAGSTER_POSTGRES_USER": f"dg_boot_{tag}"}
    secrets = {"POSTGRES_PASSWORD": f"jf-{uuid.uuid4().hex}", "DAGSTER_POSTGRES_PASSWORD": f"dg-{uuid.uuid4().hex}"}
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "DAGSTER_"))}, **names, **secrets,
           "POSTGRES_HOST": postgres_server.host, "POSTGRES_PORT": str(postgres_server.port),
           "PGADMIN_USER": postgres_server.user, "PGADMIN_PASSWORD": postgres_server.password}
    try:
        first = _run(env)
        assert first.returncode == 0, first.stderr
        assert "created" in first.stdout
        second = _run(env)  # idempotent: nothing made twice
        assert second.returncode == 0, second.stderr
        assert "created" not in second.stdout
        for secret in (*secrets.values(), postgres_server.password):
            assert secret not in first.stdout + first.stderr + second.stdout + second.stderr

        def connect(user: str, password: str, db: str):
            return psycopg.connect(host=postgres_server.host, port=postgres_server.port, user=user, password=password,
                                   dbname=db, connect_timeout=10)

        with connect(names["POSTGRES_USER"], secrets["POSTGRES_PASSWORD"], names["POSTGRES_DB"]) as conn:
            found = {n for (n,) in conn.execute("SELECT extname FROM pg_extension")}
            assert {"postgis", "btree_gist"} <= found
        with connect(names["DAGSTER_POSTGRES_USER"], secrets["DAGSTER_POSTGRES_PASSWORD"], names["DAGSTER_POSTGRES_DB"]):
            pass
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            connect(names["DAGSTER_POSTGRES_USER"], secrets["DAGSTER_POSTGRES_PASSWORD"], names["POSTGRES_DB"])

        # the catalog's schema, migrated as jackfruit's own role (not the master)
        from jackfruit.adapters.catalog.postgres_catalog import upgrade_schema

        report = upgrade_schema(host=postgres_server.host, port=postgres_server.port, user=names["POSTGRES_USER"],
                                password=secrets["POSTGRES_PASSWORD"], dbname=names["POSTGRES_DB"])
        assert report.lines()
    finally:
        with postgres_server.connect() as admin:
            for db in (names["POSTGRES_DB"], names["DAGSTER_POSTGRES_DB"]):
                admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            for role in (names["POSTGRES_USER"], names["DAGSTER_POSTGRES_USER"]):
                admin.execute(f'DROP ROLE IF EXISTS "{role}"')
