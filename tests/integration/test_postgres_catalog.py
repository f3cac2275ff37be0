"""PostgresCatalog beyond the shared contract (tests/contracts): real processes racing for a claim, the database's
own refusal of bad status transitions, schema migrations and the start-up checks, verbatim text, errors that
never show the password, and the pool's lifecycle through the container.

Every test makes its own databases on the server of ``scripts/postgres-server`` and drops them afterwards.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import traceback
from datetime import timedelta

import psycopg
import pytest

from jackfruit.adapters.catalog import _migrations
from jackfruit.adapters.catalog.postgres_catalog import PostgresCatalog, upgrade_schema
from jackfruit.domain.errors import BackendUnavailable
from jackfruit.domain.geo import BBox
from jackfruit.domain.model import NEXT_STATUS, NEXT_TRANSFORM, TRANSFORMATION_VERSION, AttemptKind, RunStatus
from tests.contracts.catalog_suite import (ALL_TIME, T0, WORLD, aid, claim, dataset, edges, landed, run, tile,
                                           transforming)

pytestmark = pytest.mark.service("postgres")
LATEST = max(_migrations.version_of(m) for m in _migrations.migration_ids("postgres"))
MIGRATIONS = ("0001.postgres-catalog", "0002.postgres-tile-series-index", "0003.postgres-tile-versions",
              "0004.postgres-run-states", "0005.postgres-datasets-and-levels")


@pytest.fixture
def fresh(postgres_databases):
    """A new database with the extensions and no jackfruit schema."""
    return postgres_databases()


@pytest.fixture
def migrated(postgres_databases, postgres_template):
    return postgres_databases(template=postgres_template)


@pytest.fixture
def catalog(postgres_server, migrated):
    with PostgresCatalog(**postgres_server.catalog_kwargs(migrated)) as c:
        c.add_dataset(dataset())
        yield c


def sql(postgres_server, dbname: str):
    return postgres_server.connect(dbname)


# -- claims among real processes ---------------------------------------------------------------------------------
def _race(kwargs, barrier, results, i, candidate, kind):
    """One process: its own catalog (own pool), released with the others by the barrier, then one claim."""
    import time

    from jackfruit.adapters.catalog.postgres_catalog import PostgresCatalog as Cat
    from jackfruit.domain.errors import BackendUnavailable as Full, Conflict as Busy

    from tests.contracts.catalog_suite import TTL as ttl, T0 as t0, aid as new_aid

    with Cat(**kwargs) as c:
        c.list_datasets()  # the pool has a connection before the race starts
        barrier.wait()
        started = time.monotonic()
        try:
            if kind == "ingest":
                c.claim_ingest(candidate, attempt_id=new_aid(), owner=f"proc-{i}", now=t0, expires_at=t0 + ttl)
            elif kind == "capped":
                c.claim_ingest(candidate, attempt_id=new_aid(), owner=f"proc-{i}", now=t0, expires_at=t0 + ttl,
                               max_in_flight=2)
            else:
                c.claim_transform(candidate.run_id, attempt_id=new_aid(), owner=f"proc-{i}", now=t0,
                                  expires_at=t0 + ttl)
            outcome = "won"
        except (Busy, Full) as err:
            outcome = f"conflict: {err}"
        results.append((i, started, time.monotonic(), outcome))


@pytest.mark.parametrize("kind", ["ingest", "transform"])
def test_two_processes_racing_for_one_claim(postgres_server, migrated, kind):
    """Two processes claim the same partition (or run) at the same moment, five times over: each time exactly
    one wins and the other gets Conflict naming the winner; the catalog holds one run / one epoch."""
    import multiprocessing as mp

    kwargs = postgres_server.catalog_kwargs(migrated)
    ctx = mp.get_context("spawn")
    with PostgresCatalog(**kwargs) as c:
        c.add_dataset(dataset())
        with ctx.Manager() as manager:
            for round_ in range(5):
                barrier, results = manager.Barrier(2), manager.list()
                base = run(offset_ms=100 * round_, partition=f"contested-{round_}")
                if kind == "transform":
                    landed(c, base)
                candidates = [run(offset_ms=100 * round_ + i + 1, partition=f"contested-{round_}")
                              if kind == "ingest" else base for i in range(2)]
                procs = [ctx.Process(target=_race, args=(kwargs, barrier, results, i, candidates[i], kind))
                         for i in range(2)]
                for p in procs:
                    p.start()
                for p in procs:
                    p.join(60)
                    assert p.exitcode == 0
                outcomes = sorted(list(results), key=lambda r: r[3])
                assert [o[3] == "won" for o in outcomes].count(True) == 1, outcomes
                (winner,) = [o for o in outcomes if o[3] == "won"]
                (loser,) = [o for o in outcomes if o[3] != "won"]
                assert f"proc-{winner[0]}" in loser[3], loser  # the domain's Conflict, naming the holder
                if kind == "ingest":
                    mine = [r for r in c.list_runs(limit=None) if r.partition == base.partition]
                    assert len(mine) == 1 and mine[0].run_id == candidates[winner[0]].run_id
                else:
                    lease = c.get_run(base.run_id).lease(AttemptKind.TRANSFORM)
                    assert (lease.epoch, lease.owner) == (1, f"proc-{winner[0]}")


def test_processes_racing_for_the_last_slots_under_a_cap(postgres_server, migrated):
    """Four processes claim four different partitions of one source at once with max_in_flight=2, three times
    over (claims released between rounds): each time exactly two win, the others are told the cap is reached."""
    import multiprocessing as mp

    kwargs = postgres_server.catalog_kwargs(migrated)
    ctx = mp.get_context("spawn")
    with PostgresCatalog(**kwargs) as c:
        c.add_dataset(dataset())
        with ctx.Manager() as manager:
            for round_ in range(3):
                barrier, results = manager.Barrier(4), manager.list()
                candidates = [run(offset_ms=100 * round_ + i, partition=f"capped-{round_}-{i}") for i in range(4)]
                procs = [ctx.Process(target=_race, args=(kwargs, barrier, results, i, candidates[i], "capped"))
                         for i in range(4)]
                for p in procs:
                    p.start()
                for p in procs:
                    p.join(60)
                    assert p.exitcode == 0
                outcomes = [o[3] for o in results]
                assert outcomes.count("won") == 2, outcomes
                assert all("in flight" in o for o in outcomes if o != "won"), outcomes
                live = [r for r in c.list_runs(limit=None) if r.status is RunStatus.RUNNING]
                assert len(live) == 2
                for r in live:  # release the claims: the next round starts with room for two
                    c.fail(r.run_id, 1, now=T0, reason="released by the test")


def test_take_over_is_fenced_by_the_database_too(catalog, postgres_server, migrated):
    """Behind the row locks, the schema itself refuses a second holder of an epoch and a second open run."""
    r = claim(catalog, run(partition="p"))
    with sql(postgres_server, migrated) as db:
        with pytest.raises(psycopg.errors.UniqueViolation):
            db.execute("INSERT INTO attempts SELECT run_id, seq + 1, %s, kind, epoch, 'intruder', started_at, "
                       "expires_at, NULL, NULL FROM attempts WHERE run_id = %s", (aid(), r.run_id))
        other = run(offset_ms=1, partition="p")
        with pytest.raises(psycopg.errors.UniqueViolation):
            db.execute("INSERT INTO ingestion_runs SELECT %s, source, dataset, partition_date, request, 'running', "
                       "created_at, %s, started_at, NULL, NULL, NULL, NULL, NULL, NULL, details, partition_key, NULL, "
                       "'none', NULL FROM ingestion_runs WHERE run_id = %s", (other.run_id, other.raw_key, r.run_id))


# -- the database's own check of transitions --------------------------------------------------------------------
def test_trigger_refuses_transitions_the_domain_refuses(catalog, postgres_server, migrated):
    """Raw SQL cannot move a run along a transition the domain forbids, nor change a recorded fact; the
    transitions it enforces are exactly the domain's."""
    done = landed(catalog, run(partition="a"))
    open_run = claim(catalog, run(offset_ms=1, partition="b"))
    with sql(postgres_server, migrated) as db:
        for statement, args in (
                ("UPDATE ingestion_runs SET status = 'running' WHERE run_id = %s", (done.run_id,)),
                ("UPDATE ingestion_runs SET status = 'pending' WHERE run_id = %s", (open_run.run_id,)),
                ("UPDATE ingestion_runs SET transform_status = 'published' WHERE run_id = %s", (done.run_id,)),
                ("UPDATE ingestion_runs SET raw_sha256 = %s WHERE run_id = %s", ("cd" * 32, done.run_id)),
                ("UPDATE ingestion_runs SET upstream_job_id = 'other' WHERE run_id = %s", (done.run_id,)),
                ("UPDATE ingestion_runs SET raw_key = raw_key || 'x' WHERE run_id = %s", (open_run.run_id,)),
                ("UPDATE attempts SET outcome = 'rewritten' WHERE run_id = %s AND seq = 0", (done.run_id,)),
                ("UPDATE attempts SET epoch = 7 WHERE run_id = %s", (open_run.run_id,)),
                ("DELETE FROM attempts WHERE run_id = %s", (done.run_id,))):
            with pytest.raises(psycopg.errors.CheckViolation):
                db.execute(statement, args)
        stored = {tuple(r) for r in db.execute("SELECT machine, from_state, to_state FROM run_transitions")}
        # an allowed transition passes the trigger (the domain would also record the attempt's end)
        db.execute("UPDATE ingestion_runs SET status = 'failed' WHERE run_id = %s", (open_run.run_id,))
        # failed -> running is in the table, but only for a run with an upstream job to resume (migration 0004)
        assert open_run.upstream_job_id is None
        with pytest.raises(psycopg.errors.CheckViolation, match="without an upstream job"):
            db.execute("UPDATE ingestion_runs SET status = 'running' WHERE run_id = %s", (open_run.run_id,))
    assert stored == ({("status", a.value, b.value) for a, nxt in NEXT_STATUS.items() for b in nxt}
                      | {("transform", a.value, b.value) for a, nxt in NEXT_TRANSFORM.items() for b in nxt})
    assert catalog.get_run(done.run_id) == done
    assert catalog.get_run(open_run.run_id).status is RunStatus.FAILED


def test_database_refuses_rewriting_tiles_and_versions(catalog, postgres_server, migrated):
    """Tiles are history (never deleted or rewritten; only a removal time, once) and a run's transformation
    version only grows with a new claim: raw SQL cannot break either."""
    NEXT = str(int(TRANSFORMATION_VERSION) + 1)
    r = run()
    transforming(catalog, r)
    t = tile(r)
    catalog.publish(r.run_id, 1, [t], edges(r, [t]), now=T0)
    with sql(postgres_server, migrated) as db:
        for statement in (
                "DELETE FROM tiles WHERE key = %(k)s",
                "UPDATE tiles SET sha256 = repeat('0', 64) WHERE key = %(k)s",
                "UPDATE tiles SET transformation_version = '9' WHERE key = %(k)s",
                "UPDATE tiles SET published_at = published_at - interval '1 day' WHERE key = %(k)s",
                "UPDATE tiles SET removed_at = published_at - interval '1 day' WHERE key = %(k)s",
                "UPDATE tiles SET removed_at = NULL WHERE key = %(k)s",
                "UPDATE ingestion_runs SET transform_version = '3' WHERE run_id = %(r)s",
                "UPDATE ingestion_runs SET transform_version = NULL WHERE run_id = %(r)s",
                f"UPDATE ingestion_runs SET transform_version = '{NEXT}' WHERE run_id = %(r)s",
                "UPDATE ingestion_runs SET transform_version = '05' WHERE run_id = %(r)s",
                # published again without a newer version
                "UPDATE ingestion_runs SET transform_status = 'transforming' WHERE run_id = %(r)s"):
            with pytest.raises(psycopg.errors.CheckViolation):
                db.execute(statement, {"k": t.key, "r": r.run_id})
        # what is allowed: a removal time, once; a new claim under a newer version
        db.execute("UPDATE tiles SET removed_at = published_at + interval '1 hour' WHERE key = %s", (t.key,))
        with pytest.raises(psycopg.errors.CheckViolation):
            db.execute("UPDATE tiles SET removed_at = removed_at + interval '1 hour' WHERE key = %s", (t.key,))
        db.execute("UPDATE ingestion_runs SET transform_status = 'transforming', transform_version = %s "
                   "WHERE run_id = %s", (NEXT, r.run_id))
        # a second tile for the same slot of the same version cannot be inserted
        with pytest.raises(psycopg.errors.UniqueViolation):
            db.execute("INSERT INTO tiles (key, run_id, dataset, model, variable, level_m, reference_time, valid, "
                       "cell_id, west, south, east, north, steps, ny, nx, size, sha256, transformation_version, "
                       "published_at) SELECT key || 'x', run_id, dataset, model, variable, level_m, reference_time, "
                       "valid, cell_id, west, south, east, north, steps, ny, nx, size, sha256, "
                       "transformation_version, published_at FROM tiles WHERE key = %s", (t.key,))


def test_a_transition_table_changed_by_hand_is_refused_at_start(postgres_server, migrated):
    with sql(postgres_server, migrated) as db:
        db.execute("INSERT INTO run_transitions VALUES ('status', 'succeeded', 'running')")
    with pytest.raises(BackendUnavailable, match="run_transitions"):
        PostgresCatalog(**postgres_server.catalog_kwargs(migrated))


# -- migrations and the start-up checks ---------------------------------------------------------------------------
def _version_rows(postgres_server, dbname):
    with sql(postgres_server, dbname) as db:
        return db.execute(f"SELECT migration_id FROM {_migrations.VERSION_TABLE} ORDER BY migration_id").fetchall()


def test_migration_twice_is_a_no_op(postgres_server, fresh):
    kwargs = postgres_server.catalog_kwargs(fresh)
    first = upgrade_schema(**kwargs)
    assert (first.from_version, first.to_version, first.applied) == (0, LATEST, MIGRATIONS)
    with sql(postgres_server, fresh) as db:
        shape = db.execute("SELECT table_name, column_name, data_type FROM information_schema.columns "
                           "WHERE table_schema = 'public' ORDER BY 1, 2").fetchall()
    again = upgrade_schema(**kwargs)
    assert (again.from_version, again.to_version, again.applied) == (LATEST, LATEST, ())
    assert again.lines() == [f"catalog {kwargs['host']}:{kwargs['port']}/{fresh}: schema {LATEST}, up to date"]
    with sql(postgres_server, fresh) as db:
        assert db.execute("SELECT table_name, column_name, data_type FROM information_schema.columns "
                          "WHERE table_schema = 'public' ORDER BY 1, 2").fetchall() == shape
        assert db.execute(f"SELECT count(*) FROM {_migrations.LOG_TABLE}").fetchone()[0] == len(MIGRATIONS)
        tables = {t for (t,) in db.execute("SELECT table_name FROM information_schema.tables "
                                           "WHERE table_schema = 'public'")}
    assert _version_rows(postgres_server, fresh) == [(m,) for m in MIGRATIONS]
    # the tool's tables are jackfruit's own: never yoyo's defaults, never alembic's (Dagster's)
    assert {t for t in tables if "yoyo" in t or "alembic" in t} == set()
    assert {_migrations.VERSION_TABLE, _migrations.LOG_TABLE, _migrations.TOOL_TABLE} <= tables


def test_concurrent_upgrades_apply_each_migration_once(postgres_server, fresh):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(lambda _: upgrade_schema(**postgres_server.catalog_kwargs(fresh)), range(4)))
    # each migration applied by exactly one of them (the lock is per migration transaction: the work may be
    # shared between upgraders, never done twice)
    assert sorted(m for r in reports for m in r.applied) == list(MIGRATIONS)
    assert _version_rows(postgres_server, fresh) == [(m,) for m in MIGRATIONS]


def test_old_schema_is_refused_until_upgraded(postgres_server, fresh):
    kwargs = postgres_server.catalog_kwargs(fresh)
    with pytest.raises(BackendUnavailable, match=rf"has schema 0; this jackfruit needs schema {LATEST} .*"
                                                 r"run `jackfruit db upgrade`"):
        PostgresCatalog(**kwargs)
    with sql(postgres_server, fresh) as db:  # the refusal changed nothing
        assert db.execute("SELECT to_regclass('ingestion_runs')").fetchone()[0] is None
    upgrade_schema(**kwargs)
    with PostgresCatalog(**kwargs) as c:
        c.add_dataset(dataset())
        assert c.list_datasets() == [dataset()]


def test_newer_schema_is_refused(postgres_server, migrated):
    kwargs = postgres_server.catalog_kwargs(migrated)
    with sql(postgres_server, migrated) as db:
        db.execute(f"INSERT INTO {_migrations.VERSION_TABLE} VALUES (md5('x') || md5('y'), "
                   "'0099.postgres-from-the-future', now())")
    message = rf"has schema 99 \(migrations 0099.postgres-from-the-future are unknown here\); this jackfruit " \
              rf"knows schema {LATEST}"
    with pytest.raises(BackendUnavailable, match=message):
        PostgresCatalog(**kwargs)
    with pytest.raises(BackendUnavailable, match=message):
        upgrade_schema(**kwargs)  # nor migrated
    assert len(_version_rows(postgres_server, migrated)) == len(MIGRATIONS) + 1


def _cli(argv, env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("JACKFRUIT_", "ADS_", "MINIO_", "POSTGRES_"))}
    return subprocess.run([sys.executable, "-m", "jackfruit.cli", *argv], capture_output=True, text=True,
                          timeout=120, env={**clean, **env})


def test_db_upgrade_command(postgres_server, fresh, tmp_path):
    """`jackfruit db upgrade` migrates, then is a no-op; other commands refuse the old schema naming it (exit 6);
    a newer schema is refused by both (exit 6) naming the two versions. The password never shows."""
    env = {**postgres_server.environment(fresh), "JACKFRUIT_DATA_DIR": str(tmp_path / "data"),
           "JACKFRUIT_OBJECT_STORE": "memory", "JACKFRUIT_RUNNER": "memory"}
    refused = _cli(["runs"], env)
    assert refused.returncode == 6 and "jackfruit db upgrade" in refused.stderr, refused
    done = _cli(["db", "upgrade"], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"applied {m}" for m in MIGRATIONS] + [
        f"catalog {postgres_server.host}:{postgres_server.port}/{fresh}: schema 0 -> {LATEST}"]
    again = _cli(["db", "upgrade", "--json"], env)
    assert again.returncode == 0 and json.loads(again.stdout)["applied"] == []
    assert _cli(["datasets"], env).returncode == 0
    with sql(postgres_server, fresh) as db:
        db.execute(f"INSERT INTO {_migrations.VERSION_TABLE} VALUES (md5('x') || md5('y'), '0009.postgres-later', now())")
    for argv in (["db", "upgrade"], ["datasets"]):
        newer = _cli(argv, env)
        assert newer.returncode == 6 and "has schema 9" in newer.stderr and f"knows schema {LATEST}" in newer.stderr
    for result in (refused, done, again):
        assert postgres_server.password not in result.stdout + result.stderr


# -- text is data ---------------------------------------------------------------------------------------------------
EVIL = "x'); DROP TABLE tiles; -- ../../etc/passwd \\ %s %(p)s ?1 :p $1 \" ` % _ * Ω 🌍\t\n"


def test_metacharacters_are_stored_verbatim(catalog, postgres_server, migrated):
    """What the contract reads back through the port is also what the database holds, byte for byte."""
    r = run()
    claim(catalog, r, owner=EVIL)
    catalog.record_upstream_job(r.run_id, 1, EVIL, now=T0)
    catalog.fail(r.run_id, 1, now=T0, reason=EVIL)
    t_run = run(offset_ms=1)
    transforming(catalog, t_run)
    t = tile(t_run, variable=EVIL, model=EVIL, key=f"tiles/{EVIL}/../k.zarr")
    catalog.publish(t_run.run_id, 1, [t], edges(t_run, [t]), now=T0)
    with sql(postgres_server, migrated) as db:
        assert db.execute("SELECT upstream_job_id, failure_reason FROM ingestion_runs WHERE run_id = %s",
                          (r.run_id,)).fetchone() == (EVIL, EVIL)
        assert db.execute("SELECT owner FROM attempts WHERE run_id = %s", (r.run_id,)).fetchone() == (EVIL,)
        assert db.execute("SELECT key, variable, model FROM tiles").fetchone() == (t.key, EVIL, EVIL)
        assert db.execute("SELECT tile_key FROM lineage").fetchone() == (t.key,)
        assert db.execute("SELECT count(*) FROM tiles").fetchone() == (1,)  # and the table is still there
    assert catalog.find_tiles(WORLD, ALL_TIME, [EVIL]) == [t]


# -- errors never show the password --------------------------------------------------------------------------------
CANARY = "canary-pg-s3cret-7f3a"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _everything_said(err: BaseException) -> str:
    return "".join(traceback.format_exception(err)) + repr(err) + repr(err.__cause__)


def test_connection_refused_is_unavailable_without_the_password(postgres_server):
    port = _free_port()  # nothing listens there
    with pytest.raises(BackendUnavailable) as info:
        PostgresCatalog(host="127.0.0.1", port=port, user="jackfruit", password=CANARY, dbname="jackfruit",
                        connect_timeout_s=3)
    assert f"127.0.0.1:{port}/jackfruit" in str(info.value)
    assert CANARY not in _everything_said(info.value)
    with pytest.raises(BackendUnavailable) as info:
        upgrade_schema(host="127.0.0.1", port=port, user="jackfruit", password=CANARY, dbname="jackfruit")
    assert CANARY not in _everything_said(info.value)


def test_wrong_password_is_unavailable_without_the_password(postgres_server, migrated):
    kwargs = {**postgres_server.catalog_kwargs(migrated), "password": CANARY}
    with pytest.raises(BackendUnavailable, match="password authentication failed") as info:
        PostgresCatalog(**kwargs)
    assert f"{postgres_server.host}:{postgres_server.port}/{migrated}" in str(info.value)
    assert CANARY not in _everything_said(info.value)


def test_server_gone_mid_life_is_unavailable(postgres_server, migrated):
    """Connections killed under the pool: the next call is BackendUnavailable or succeeds on a new connection,
    never a psycopg error; the catalog works again afterwards."""
    with PostgresCatalog(**postgres_server.catalog_kwargs(migrated)) as c:
        c.add_dataset(dataset())
        with sql(postgres_server, "postgres") as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                          "AND pid <> pg_backend_pid()", (migrated,))
        try:
            assert c.list_datasets() == [dataset()]
        except BackendUnavailable as err:
            assert migrated in str(err)
        assert c.list_datasets() == [dataset()]


def test_idle_pooled_connections_are_checked_before_use(postgres_server, migrated, monkeypatch):
    """A pooled connection not used within ALIVE_BYPASS_S answers a check first: one the server dropped is replaced
    and the call succeeds."""
    from jackfruit.adapters.catalog import postgres_catalog

    with PostgresCatalog(**postgres_server.catalog_kwargs(migrated), min_size=1, max_size=1) as c:
        c.add_dataset(dataset())
        monkeypatch.setattr(postgres_catalog, "ALIVE_BYPASS_S", 0.0)  # as if the connection had sat idle
        with sql(postgres_server, "postgres") as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                          "AND pid <> pg_backend_pid()", (migrated,))
        assert c.list_datasets() == [dataset()]


def test_closed_catalog_is_unavailable(postgres_server, migrated):
    c = PostgresCatalog(**postgres_server.catalog_kwargs(migrated))
    c.close()
    c.close()  # idempotent
    with pytest.raises(BackendUnavailable, match="closed"):
        c.list_datasets()


# -- the serving index ----------------------------------------------------------------------------------------------
def test_find_tiles_uses_the_gist_index(catalog, postgres_server, migrated):
    r = run()
    transforming(catalog, r)
    tiles = [tile(r, west=w, south=s, variable=v) for w in range(-30, 30, 10) for s in range(-30, 30, 10)
             for v in ("ozone", "dust")]
    catalog.publish(r.run_id, 1, tiles, edges(r, tiles), now=T0)
    box = BBox(5, 5, 15, 15)
    assert [t.cell_id for t in catalog.find_tiles(box, ALL_TIME, ["ozone"])] == \
        sorted(t.cell_id for t in tiles if t.variable == "ozone" and box.intersects(t.bbox))
    with sql(postgres_server, migrated) as db:
        db.execute("ANALYZE tiles")
        db.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in db.execute(
            "EXPLAIN SELECT key FROM tiles t WHERE t.dataset = %s AND t.variable = %s "
            "AND t.extent && ST_MakeEnvelope(5, 5, 15, 15, 4326) AND t.valid && tstzrange(%s, %s, '[)')",
            (r.dataset, "ozone", T0, T0 + timedelta(days=1))))
        assert "tiles_search" in plan, plan
        # one series (variable, model, level) is searched in the index itself (migration 0002), as find_tiles asks
        plan = "\n".join(r[0] for r in db.execute(
            "EXPLAIN SELECT key FROM tiles t WHERE t.variable = %s AND t.model = %s AND t.level_m = %s::bigint "
            "AND t.extent && ST_MakeEnvelope(5, 5, 15, 15, 4326) AND t.valid && tstzrange(%s, %s, '[)')",
            ("ozone", "ensemble", 0, T0, T0 + timedelta(days=1))))
    index_cond = next(line for line in plan.splitlines() if "Index Cond" in line)
    assert "tiles_search" in plan and "model" in index_cond and "level_m" in index_cond, plan


def test_statements_are_prepared_on_the_server(postgres_server, migrated):
    """psycopg prepares the catalog's statements server-side (prepare_threshold=0: on first use)."""
    with PostgresCatalog(**postgres_server.catalog_kwargs(migrated), min_size=1, max_size=1) as c:
        c.add_dataset(dataset())
        r = claim(c, run())
        c.get_run(r.run_id)
        c.find_tiles(WORLD, ALL_TIME, ["ozone"])
        with c._pool.connection() as conn:  # the pool's only connection
            prepared = "\n".join(s for (s,) in conn.execute("SELECT statement FROM pg_prepared_statements",
                                                              prepare=False))
    for fragment in ("FROM ingestion_runs WHERE run_id = $1", "FROM tiles t WHERE t.extent &&",
                     "FROM partitions WHERE partition_key = $1 FOR UPDATE", "INSERT INTO attempts"):
        assert fragment in prepared, prepared

# -- the pool's lifecycle -------------------------------------------------------------------------------------------
def test_container_closes_the_pool(postgres_server, migrated, tmp_path, monkeypatch):
    from jackfruit.app import Jackfruit
    from jackfruit.settings import load_settings

    for name, value in {**postgres_server.environment(migrated), "JACKFRUIT_OBJECT_STORE": "memory",
                        "JACKFRUIT_RUNNER": "memory", "JACKFRUIT_DATA_DIR": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert CANARY not in repr(settings)
    app = Jackfruit.from_settings(settings)
    catalog = app.catalog
    assert isinstance(catalog, PostgresCatalog) and not catalog.closed
    assert postgres_server.password not in repr(catalog) + repr(app)
    assert [d.name for d in catalog.list_datasets()] == [p.name for p in app.profiles.all()]

    def sessions() -> int:
        with sql(postgres_server, "postgres") as admin:
            return admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                                 "AND application_name = 'jackfruit'", (migrated,)).fetchone()[0]

    assert sessions() >= 1
    app.close()
    app.close()  # idempotent
    assert catalog.closed
    deadline = time.monotonic() + 10  # the server notices the closed connections at once, or nearly
    while sessions() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sessions() == 0
    with pytest.raises(BackendUnavailable):
        catalog.list_datasets()
    with Jackfruit.from_settings(settings) as again:  # the context manager closes too
        inner = again.catalog
    assert inner.closed


def test_libpq_and_eccodes_in_one_process_exit_cleanly(postgres_server, migrated):
    """ecCodes' wheels load an OpenLDAP globally that crashes libpq's at exit unless libpq was loaded first
    (jackfruit/adapters/_load_order.py): a process that decodes GRIB and uses the catalog exits with 0."""
    code = ("import json, sys; import jackfruit.adapters.transform.eccodes_decoder, eccodes;"
            "from jackfruit.adapters.catalog.postgres_catalog import PostgresCatalog;"
            "c = PostgresCatalog(**json.loads(sys.argv[1])); print(len(c.list_datasets())); c.close()")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(postgres_server.catalog_kwargs(migrated))],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "0\n"), done.stderr


def test_database_lets_a_job_id_change_only_by_recording_the_replaced_one(catalog, postgres_server, migrated):
    r = claim(catalog, run())
    catalog.record_upstream_job(r.run_id, 1, "job-1", now=T0)
    with sql(postgres_server, migrated) as db:
        for statement in (
                "UPDATE ingestion_runs SET upstream_job_id = 'job-2' WHERE run_id = %(r)s",
                "UPDATE ingestion_runs SET replaced_upstream_jobs = '[\"job-0\"]' WHERE run_id = %(r)s",
                "UPDATE ingestion_runs SET upstream_job_id = 'job-2', replaced_upstream_jobs = '[\"job-0\"]' "
                "WHERE run_id = %(r)s",
                "UPDATE ingestion_runs SET upstream_job_id = NULL, replaced_upstream_jobs = '[\"job-1\"]' "
                "WHERE run_id = %(r)s"):
            with pytest.raises(psycopg.errors.CheckViolation):
                db.execute(statement, {"r": r.run_id})
        db.execute("UPDATE ingestion_runs SET upstream_job_id = 'job-2', replaced_upstream_jobs = '[\"job-1\"]' "
                   "WHERE run_id = %s", (r.run_id,))
        with pytest.raises(psycopg.errors.CheckViolation):  # history only grows
            db.execute("UPDATE ingestion_runs SET upstream_job_id = 'job-3', replaced_upstream_jobs = '[\"job-2\"]' "
                       "WHERE run_id = %s", (r.run_id,))
    got = catalog.get_run(r.run_id)
    assert (got.upstream_job_id, got.replaced_upstream_jobs) == ("job-2", ("job-1",))
