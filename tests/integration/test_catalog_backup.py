"""Catalog backup and restore (docs/catalog-backup.md), with the commands of that page run verbatim.

A catalog is populated through the adapter's public API (thousands of published tiles with their lineage, runs in
every state: succeeded, superseded, failed, quarantined, running with a live or an expired lease, taken over,
transforming, refused, published; two datasets), backed up while it stays open (PostgreSQL: ``pg_dump -Fc``;
SQLite: the online backup API), restored into a fresh database, and every query answers the same before and after
(``list_runs``, ``get_run``, ``find_tiles`` over several boxes and windows, ``lineage``, ``tiles_of_run``). The
restored catalog then keeps working: live leases still refuse a claim, expired ones are taken over, new tiles are
published.

PostgreSQL runs as a real deployment does: the catalog's role is not a superuser (a role made here and dropped
afterwards); a superuser only creates the databases and the extensions.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import uuid
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from jackfruit.adapters.catalog.sqlite_catalog import SqliteCatalog
from jackfruit.domain.errors import Conflict
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.model import AttemptKind, RunStatus, TransformStatus
from tests.contracts.catalog_suite import (ALL_TIME, DATASET, T0, WORLD, aid, claim, dataset, edges, landed, run,
                                           tile, transforming)

from ..conftest import ROOT, clean_environ, jackfruit_db_upgrade, require

pytestmark = pytest.mark.slow

DOC = ROOT / "docs" / "catalog-backup.md"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
OTHER = "other-dataset"
LIVE = timedelta(days=3650)  # a lease that is still live whenever the test runs
SHORT = timedelta(seconds=1)  # one that expired long ago (times are T0-based)
DAY0 = date(2025, 3, 1)
PUBLISHED_RUNS, CELLS = 20, [(w, s) for w in range(-30, 40, 10) for s in range(20, 70, 10)]
TILES = PUBLISHED_RUNS * 2 * 2 * len(CELLS)  # runs x variables x reference times x cells
QUERIES: list[tuple[BBox, TimeRange, list[str] | None, dict[str, Any]]] = [
    (WORLD, ALL_TIME, None, {}),
    (BBox(2, 48, 3, 49.5), TimeRange(T0, T0 + timedelta(days=3)), ["ozone"], {}),
    (BBox(-10, 35, 5, 45), TimeRange(T0 + timedelta(days=5), T0 + timedelta(days=6)), None, {"model": "chimere"}),
    (BBox(0, 40, 10, 50), ALL_TIME, ["nitrogen_dioxide", "ozone"], {"level_m": 50}),  # edges touching cells
    (BBox(-25.02, 24.98, 44.97, 75), TimeRange(T0 + timedelta(hours=250), T0 + timedelta(hours=251)), None,
     {"dataset": DATASET}),
    (BBox(-30, 20, -19.96, 30.04), ALL_TIME, ["nitrogen_dioxide"], {}),  # the shifted tiles' edges
    (BBox(100, -60, 120, -50), ALL_TIME, None, {}),  # nothing there
]


# -- the catalog ------------------------------------------------------------------------------------------------
def populate(c) -> dict[str, Any]:
    """Runs in every state, through the port only; returns what ``still_works`` needs."""
    c.add_dataset(dataset())
    c.add_dataset(dataset(OTHER, ("ozone",)))
    order = itertools.count(1)

    def new(day: int = 0, tag: str | None = None, name: str = DATASET):
        return run(offset_ms=10 * next(order), day=DAY0 + timedelta(days=day), name=name,
                   partition=tag or f"p-{uuid.uuid4().hex}")

    for i in range(PUBLISHED_RUNS):  # published: 2800 tiles with their lineage
        r = new(i, f"published-{i}")
        transforming(c, r)
        model, level, shift = ("ensemble", "chimere")[i % 2], 50 if i % 3 == 0 else 0, 0.04 if i % 4 == 1 else 0
        tiles = []
        for variable in ("nitrogen_dioxide", "ozone"):
            for ref_h in (24 * i, 24 * i + 12):
                for w, s in CELLS:
                    t = tile(r, west=w, south=s, variable=variable, model=model, level_m=level, ref_h=ref_h,
                             last_h=48)
                    if shift:
                        t = replace(t, bbox=BBox(w + shift, s + shift, w + 10 + shift, s + 10 + shift))
                    tiles.append(t)
        c.publish(r.run_id, 1, tiles, edges(r, tiles), now=T0)
    superseding = new(0, "published-0")  # a newer run of a partition that has a succeeded one
    claim(c, superseding, supersede=True)
    c.succeed(superseding.run_id, 1, now=T0, size=99, sha256="ef" * 32, upstream_job_id="job-superseding")
    for i in range(3):  # succeeded, not transformed
        landed(c, new(30 + i))
    for i in range(3):  # failed, one after recording its upstream job
        r = new(40 + i)
        claim(c, r)
        if i == 0:
            c.record_upstream_job(r.run_id, 1, "job-failed-0", now=T0)
        c.fail(r.run_id, 1, now=T0 + timedelta(seconds=3), reason=f"upstream: job failed ({i})")
    for i in range(2):  # quarantined
        r = new(50 + i)
        claim(c, r)
        c.quarantine(r.run_id, 1, now=T0, reason="the file does not match its request", size=1234,
                     sha256="cd" * 32)
    live = new(60, "live")  # running, live lease, upstream job recorded
    claim(c, live, ttl=LIVE)
    c.record_upstream_job(live.run_id, 1, "job-live", now=T0)
    expired = new(61, "expired")  # running, its holder gone (lease expired long ago)
    claim(c, expired, ttl=SHORT)
    taken = new(62, "taken-over")  # taken over once (epoch 2), then succeeded
    claim(c, taken, ttl=SHORT)
    claim(c, new(62, "taken-over"), now=T0 + timedelta(hours=1), owner="second-holder")
    c.succeed(taken.run_id, 2, now=T0 + timedelta(hours=1), size=5, sha256="01" * 32, upstream_job_id=None)
    for i in range(2):  # refused by the transformation
        r = new(70 + i)
        transforming(c, r)
        c.refuse_transform(r.run_id, 1, now=T0, reason=f"GRIB edition 1 message {i}; packing type 'grid_complex'")
    r = new(80)  # transforming, live
    landed(c, r)
    c.claim_transform(r.run_id, attempt_id=aid(), owner="live-transformer", now=T0, expires_at=T0 + LIVE)
    transforming(c, new(81))  # transforming, expired
    r = new(82)  # the transformation failed (its attempt ended with the reason), claimable again
    transforming(c, r)
    c.fail_transform(r.run_id, 1, now=T0, reason="integrity: raw sha256 differs from the catalog's")
    landed(c, new(90, name=OTHER))  # the other dataset
    other_failed = new(91, name=OTHER)
    claim(c, other_failed)
    c.fail(other_failed.run_id, 1, now=T0, reason="other")
    return {"live": live, "expired": expired}


def answers(c) -> dict[str, Any]:
    """Every query the port answers, over the whole catalog."""
    runs = c.list_runs(limit=None)
    out: dict[str, Any] = {"datasets": c.list_datasets(), "runs": runs, "newest 7": c.list_runs(limit=7),
                           "get_run": [c.get_run(r.run_id) for r in runs],
                           "tiles_of_run": {r.run_id: c.tiles_of_run(r.run_id) for r in runs},
                           "lineage": c.lineage()}
    for name in (DATASET, OTHER):
        for status in (None, *RunStatus):
            out[f"runs of {name} {status}"] = c.list_runs(dataset=name, status=status, limit=None)
    for i, (box, window, variables, filters) in enumerate(QUERIES):
        out[f"find_tiles {i}"] = c.find_tiles(box, window, variables, **filters)
    sample = out["lineage"][::97]
    out["lineage by raw key"] = {e.raw_key: c.lineage(raw_key=e.raw_key) for e in sample}
    out["lineage by tile key"] = {e.tile_key: c.lineage(tile_key=e.tile_key) for e in sample}
    return out


def check_populated(a: dict[str, Any]) -> None:
    """The catalog is what ``populate`` made (so the comparison compares something)."""
    runs = a["runs"]
    assert sum(len(t) for t in a["tiles_of_run"].values()) == len(a["lineage"]) == TILES >= 2000
    assert len(a["find_tiles 0"]) == TILES
    assert all(a[f"find_tiles {i}"] for i in range(len(QUERIES) - 1)) and a[f"find_tiles {len(QUERIES) - 1}"] == []
    assert {r.status for r in runs} == {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.QUARANTINED,
                                        RunStatus.RUNNING}
    assert {r.transform_status for r in runs} == set(TransformStatus)
    assert any(r.supersedes for r in runs) and max(len(r.attempts) for r in runs) == 2


def assert_same(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert after.keys() == before.keys()
    for key in before:
        assert after[key] == before[key], f"{key} differs after the restore"


def still_works(c, handles: dict[str, Any]) -> None:
    """The restored catalog keeps the leases it had and accepts new work."""
    later = T0 + timedelta(days=1)
    live, expired = handles["live"], handles["expired"]
    with pytest.raises(Conflict, match=live.run_id):
        claim(c, run(offset_ms=999_001, day=live.partition_date, partition="live"), now=later)
    again = claim(c, run(offset_ms=999_002, day=expired.partition_date, partition="expired"), now=later)
    assert again.run_id == expired.run_id and again.lease(AttemptKind.INGEST).epoch == 2
    r = run(offset_ms=999_003, day=DAY0 + timedelta(days=100))
    transforming(c, r, now=later)
    tiles = [tile(r, west=w, south=50, variable="ozone", ref_h=48) for w in (0, 10, 20)]
    c.publish(r.run_id, 1, tiles, edges(r, tiles), now=later)  # new rows after the restored ones (ids, keys)
    assert c.tiles_of_run(r.run_id) == sorted(tiles, key=lambda t: t.cell_id)
    assert len(c.find_tiles(WORLD, ALL_TIME, history=True)) == TILES + 3
    # the newer run's tiles replace the restored ones of the same slots as current (jackfruit.domain.currency)
    current = c.find_tiles(WORLD, ALL_TIME, ["ozone"], model="ensemble")
    assert {t.key for t in tiles} <= {t.key for t in current}


# -- the page's commands ----------------------------------------------------------------------------------------
def doc_block(name: str) -> str:
    """The ```bash block marked ``<!-- test: name -->`` in docs/catalog-backup.md."""
    found = re.findall(rf"<!-- test: {re.escape(name)} -->\n```bash\n(.*?)```", DOC.read_text(), re.S)
    assert len(found) == 1, f"docs/catalog-backup.md has {len(found)} blocks marked {name!r}"
    return found[0]


def run_blocks(names: list[str], cwd: Path, env: dict[str, str], then: str = "") -> str:
    """The blocks in one bash session (as a user pastes them), then ``then``; stdout, failing on any error."""
    script = "set -euo pipefail\n" + "\n".join(doc_block(n) for n in names) + then
    done = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{names} exited {done.returncode}:\n{done.stderr}"
    return done.stdout


def shell_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in clean_environ().items() if not k.startswith("PG")}
    env["PATH"] = os.pathsep.join([str(PG_BIN), str(ROOT / ".venv" / "bin"), env.get("PATH", "/usr/bin:/bin")])
    env.update(extra)
    return env


# -- PostgreSQL -------------------------------------------------------------------------------------------------
def _pgpass(*entries: tuple[str, int, str, str]) -> str:
    def esc(v: object) -> str:
        return str(v).replace("\\", "\\\\").replace(":", "\\:")

    return "".join(":".join(esc(v) for v in (host, port, "*", user, password)) + "\n"
                   for host, port, user, password in entries)


@pytest.mark.service("postgres")
def test_postgres_catalog_round_trips_through_pg_dump_and_pg_restore(postgres_server, tmp_path):
    import psycopg
    from psycopg import sql

    from jackfruit.adapters.catalog.postgres_catalog import PostgresCatalog

    require("PostgreSQL 15 client tools", (PG_BIN / "pg_restore").exists(),
            f"{PG_BIN} has no pg_dump/pg_restore; `scripts/postgres-server start` installs them")
    server = postgres_server
    role, password = f"jf_test_owner_{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    source, restored = f"jf_test_{uuid.uuid4().hex[:16]}", f"jf_test_{uuid.uuid4().hex[:16]}"
    with server.connect() as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(password)))
    try:
        # the live catalog: owned by its role, extensions by the superuser, schema by `jackfruit db upgrade`
        with server.connect() as admin:
            admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(source), sql.Identifier(role)))
        with server.connect(source) as db:
            db.execute("CREATE EXTENSION postgis")
            db.execute("CREATE EXTENSION btree_gist")
        as_role = {**server.environment(source), "POSTGRES_USER": role, "POSTGRES_PASSWORD": password}
        jackfruit_db_upgrade(as_role)
        kwargs = {**server.catalog_kwargs(source), "user": role, "password": password}
        passfile = tmp_path / "pgpass"
        passfile.write_text(_pgpass((server.host, server.port, role, password),
                                    (server.host, server.port, server.user, server.password)))
        passfile.chmod(0o600)
        env = shell_env(PGPASSFILE=str(passfile), POSTGRES_HOST=server.host, POSTGRES_PORT=str(server.port),
                        POSTGRES_USER=role, POSTGRES_DB=source, PG_ADMIN=server.user, NEW_DB=restored)
        with PostgresCatalog(**kwargs) as live:
            handles = populate(live)
            before = answers(live)
            check_populated(before)
            run_blocks(["pg-backup"], tmp_path, env)  # while the catalog is open and in use
            landed(live, run(offset_ms=999_000))  # after the snapshot: not in the backup
        assert (tmp_path / "catalog.dump").stat().st_size > 0
        out = run_blocks(["pg-restore"], tmp_path, env)
        assert "up to date" in out, out
        with PostgresCatalog(**{**kwargs, "dbname": restored}) as back:
            assert_same(before, answers(back))
            still_works(back, handles)
        with server.connect(restored) as db:
            # --no-owner: the catalog's role owns everything; the database's own guards and index came back
            assert {o for (o,) in db.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'public' "
                                             "AND tablename <> 'spatial_ref_sys'")} == {role}
            assert db.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'tiles_search'").fetchone() == (1,)
            assert db.execute("SELECT reltuples FROM pg_class WHERE relname = 'tiles'").fetchone()[0] >= TILES
            done = next(r for r in before["runs"] if r.status is RunStatus.SUCCEEDED)
            with pytest.raises(psycopg.errors.CheckViolation):
                db.execute("UPDATE ingestion_runs SET status = 'running' WHERE run_id = %s", (done.run_id,))
    finally:
        for name in (source, restored):
            server.drop_database(name)
        with server.connect() as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


# -- SQLite -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tool", ["python", "sqlite3-shell"])
def test_sqlite_catalog_round_trips_through_the_online_backup(tmp_path, tool):
    if tool == "sqlite3-shell" and shutil.which("sqlite3") is None:
        pytest.skip("the sqlite3 command-line shell is not installed (the page's other way needs only Python)")
    backup, restore = (["sqlite-copy", "sqlite-backup"], ["sqlite-copy", "sqlite-restore"]) if tool == "python" \
        else (["sqlite-cli-backup"], ["sqlite-cli-restore"])
    path = tmp_path / "data" / "catalog.sqlite"
    env = shell_env(JACKFRUIT_SQLITE_PATH=str(path))
    with SqliteCatalog(str(path)) as live:
        handles = populate(live)
        before = answers(live)
        check_populated(before)
        # committed pages still sit in the WAL: a copy of the file alone would miss them, the backup API does not
        assert Path(f"{path}-wal").stat().st_size > 0
        run_blocks(backup, tmp_path, env)  # while the catalog is open and in use
        landed(live, run(offset_ms=999_000))  # after the snapshot: not in the backup
    where = run_blocks(restore, tmp_path, env, then='\nprintf %s "$JACKFRUIT_SQLITE_PATH"')
    assert Path(where) == tmp_path / "catalog-restored.sqlite"
    with SqliteCatalog(where) as back:
        assert_same(before, answers(back))
        still_works(back, handles)
