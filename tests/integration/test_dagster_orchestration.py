"""Dagster as the driving adapter, in process: the ADS stub, the real Go ingester and the embedded defaults (SQLite
catalog, filesystem buckets) in a temp data dir; and once in a subprocess on a PostgreSQL-backed Dagster instance
(deploy/dagster/dagster.yaml, a database of its own) with the PostgreSQL catalog."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest

import dagster as dg
from dagster._core.test_utils import create_run_for_test

from jackfruit.app import Jackfruit
from jackfruit.domain.model import RunStatus, TransformStatus
from jackfruit.orchestration.defs import JackfruitResource, build_definitions
from jackfruit.orchestration.defs.partitions import RUN_ID_TAG, plan
from jackfruit.settings import Settings
from jackfruit.synthetic.ads_stub import AdsStub
from jackfruit.sources.cams_europe import PROFILE as CAMS_PROFILE
CAMS_EUROPE = CAMS_PROFILE.definition()

from ..conftest import ROOT, catalog_environment, clean_environ, go_binary

pytestmark = pytest.mark.slow

KEY = "dagster-test-key"
DAY = date(2025, 3, 12)  # lands and is curated
BAD_DAY = DAY + timedelta(days=1)  # the stub serves bytes that are not GRIB: quarantined
FAILED_DAY = DAY - timedelta(days=30)  # the stub fails the job upstream
PLAN = plan(CAMS_EUROPE.name)
JOB = PLAN.job_name


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A data dir, three ADS stubs (good, not-GRIB, failing jobs), the ingester found, jackfruit's own
    environment variables cleared (the resource names the data dir, the ADS and its key)."""
    stub_binary, _ = go_binary("ads-stub"), go_binary("jackfruit-ingest")
    data = tmp_path_factory.mktemp("dagster") / "data"
    with pytest.MonkeyPatch.context() as mp:
        for name in set(os.environ) - set(clean_environ()):
            if not name.startswith("JACKFRUIT_TEST_"):  # the test services' addresses stay
                mp.delenv(name)
        mp.setenv("JACKFRUIT_INGEST_POLL_INITIAL_S", "0.1")
        with AdsStub(api_key=KEY, binary=stub_binary) as good, \
                AdsStub(api_key=KEY, binary=stub_binary, extra_args=("--synthetic-size", "40000")) as not_grib, \
                AdsStub(api_key=KEY, binary=stub_binary, extra_args=("--fail-jobs",)) as failing:
            resources = {name: JackfruitResource(data_dir=str(data), ads_base_url=stub.url, ads_api_key=KEY)
                         for name, stub in (("good", good), ("not_grib", not_grib), ("failing", failing))}
            yield data, resources


@pytest.fixture(scope="module")
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def run_partition(resource: JackfruitResource, instance: dg.DagsterInstance, day: date) -> dg.ExecuteInProcessResult:
    job = build_definitions(jackfruit=resource).resolve_job_def(JOB)
    return job.execute_in_process(partition_key=day.isoformat(), instance=instance, raise_on_error=False)


@pytest.fixture(scope="module")
def landed(world, instance):
    data, resources = world
    return run_partition(resources["good"], instance, DAY)


@pytest.fixture(scope="module")
def quarantined(world, instance):
    data, resources = world
    return run_partition(resources["not_grib"], instance, BAD_DAY)


def app_of(data: Path) -> Jackfruit:
    return Jackfruit.from_settings(Settings(JACKFRUIT_DATA_DIR=str(data)))


def materializations(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    return {e.asset_key.path[-1]: {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events()}


def test_a_partition_materializes_raw_and_tiles_with_the_runs_metadata_and_checks(world, instance, landed):
    data, _ = world
    assert landed.success
    meta = materializations(landed)
    raw, tiles = meta["raw"], meta["tiles"]
    run_id = raw["jackfruit_run_id"]
    assert uuid.UUID(run_id).version == 7 and tiles["jackfruit_run_id"] == run_id
    with app_of(data) as app:
        run = app.run(run_id)
        stored = app.catalog.tiles_of_run(run_id)
    assert run.status is RunStatus.SUCCEEDED and run.transform_status is TransformStatus.PUBLISHED
    assert run.orchestrator_run_id == landed.run_id  # Dagster's run id, stored on jackfruit's run
    raw_file = data / "buckets" / "jackfruit-raw" / run.raw_key
    assert raw["raw_key"] == run.raw_key and raw["raw_size"] == run.raw_size == raw_file.stat().st_size
    assert raw["raw_sha256"] == run.raw_sha256 == hashlib.sha256(raw_file.read_bytes()).hexdigest()
    assert raw["accepted"] is True and raw["reused"] is False and raw["status"] == "succeeded"
    assert tiles["tile_count"] == len(stored) == 4  # one whole-grid tile per species of the template
    assert tiles["bbox"] == {"west": -25.0, "south": 30.0, "east": 45.0, "north": 72.0}
    assert tiles["valid_time"] == {"start": "2025-03-12T00:00:00+00:00", "end": "2025-03-16T00:00:00+00:00"}
    checks = {c.check_name: c.passed for c in landed.get_asset_check_evaluations()}
    assert checks == {"raw_checksum_verified": True, "raw_matches_request": True, "expected_fields_present": True,
                      "tiles_registered_and_readable": True}
    tags = instance.get_run_by_id(landed.run_id).tags
    assert tags[RUN_ID_TAG] == run_id and tags["dagster/max_runtime"] == "7200"
    assert tags["dagster/partition"] == DAY.isoformat()
    messages = [e.user_message for e in instance.all_logs(landed.run_id)]
    assert "ingest phase download" in messages and "ingest phase accept" in messages
    assert any(m.startswith("ingester: committed") and f"bytes={run.raw_size}" in m for m in messages)
    assert not any(KEY in m for m in messages)


def test_a_file_that_does_not_match_its_request_fails_the_blocking_check_and_is_never_transformed(
        world, instance, quarantined):
    data, _ = world
    assert not quarantined.success
    meta = materializations(quarantined)
    assert set(meta) == {"raw"}  # the raw evidence is recorded; the tiles asset never ran
    run_id = meta["raw"]["jackfruit_run_id"]
    assert meta["raw"]["status"] == "quarantined" and meta["raw"]["accepted"] is False
    checks = {c.check_name: c for c in quarantined.get_asset_check_evaluations()}
    assert set(checks) == {"raw_checksum_verified", "raw_matches_request"}
    assert checks["raw_checksum_verified"].passed and not checks["raw_matches_request"].passed
    assert "not a GRIB file" in checks["raw_matches_request"].description
    failed = [e.step_key for e in quarantined.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failed == ["ads__cams_europe_air_quality_forecasts__raw_raw_matches_request"]
    with app_of(data) as app:
        run = app.run(run_id)
    assert run.status is RunStatus.QUARANTINED and run.transform_status is TransformStatus.NONE
    assert run.details["acceptance"]["ok"] is False and run.orchestrator_run_id == quarantined.run_id


def test_a_failed_ingestion_fails_the_asset_with_the_runs_reason(world, instance):
    data, resources = world
    result = run_partition(resources["failing"], instance, FAILED_DAY)
    assert not result.success and not materializations(result)
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failure.step_failure_data.user_failure_data
    assert error.description.startswith("upstream_refused: ")
    run_id = error.metadata["jackfruit_run_id"].value
    with app_of(data) as app:
        run = app.run(run_id)
    assert run.status is RunStatus.FAILED and run.failure_reason in error.description
    assert run.orchestrator_run_id == result.run_id
    assert instance.get_run_by_id(result.run_id).tags[RUN_ID_TAG] == run_id


def test_running_a_landed_partition_again_reuses_its_run_and_tiles(world, instance, landed):
    _, resources = world
    again = run_partition(resources["good"], instance, DAY)
    assert again.success
    first, second = materializations(landed), materializations(again)
    assert second["raw"]["jackfruit_run_id"] == first["raw"]["jackfruit_run_id"]
    assert second["raw"]["reused"] is True and second["tiles"]["reused"] is True
    assert second["tiles"]["tile_count"] == first["tiles"]["tile_count"]


def test_the_sensor_requests_exactly_the_missing_partitions_of_its_look_back(world, instance, landed, quarantined):
    _, resources = world
    # look-back of 5 days before DAY+4: DAY-1 missing, DAY complete, DAY+1 quarantined (waits for a person),
    # DAY+2 missing, DAY+3 missing but a run of it is in flight
    good = resources["good"]
    resource = JackfruitResource(data_dir=good.data_dir, ads_base_url=good.ads_base_url, ads_api_key=KEY,
                                 sensor_lookback_days=5)
    defs = build_definitions(jackfruit=resource, today=lambda: DAY + timedelta(days=4))
    create_run_for_test(instance, job_name=JOB, status=dg.DagsterRunStatus.STARTED,
                        tags={"dagster/partition": (DAY + timedelta(days=3)).isoformat()})
    sensor = defs.resolve_sensor_def(f"{PLAN.slug}_coverage_sensor")
    with dg.build_sensor_context(instance=instance, resources={"jackfruit": resource}, definitions=defs) as context:
        result = sensor(context)
    requested = sorted(r.partition_key for r in result.run_requests)
    assert requested == [(DAY - timedelta(days=1)).isoformat(), (DAY + timedelta(days=2)).isoformat()]
    assert {r.tags["jackfruit/coverage_state"] for r in result.run_requests} == {"missing"}


DAGSTER_ON_POSTGRES = r"""
import json, os, sys
import jackfruit.orchestration  # first, as `dagster` loads it: psycopg2's libpq before ecCodes
import dagster as dg
from jackfruit.orchestration.defs import JackfruitResource, build_definitions

day, job_name = sys.argv[1], sys.argv[2]
resource = JackfruitResource(ads_api_key=dg.EnvVar("ADS_API_KEY"))
with dg.DagsterInstance.get() as instance:  # DAGSTER_HOME/dagster.yaml
    job = build_definitions(jackfruit=resource).resolve_job_def(job_name)
    result = job.execute_in_process(partition_key=day, instance=instance, raise_on_error=False)
    print(json.dumps({
        "success": result.success, "run_id": result.run_id,
        "storage": type(instance.run_storage).__name__, "event_log": type(instance.event_log_storage).__name__,
        "schedule": type(instance.schedule_storage).__name__, "telemetry": instance.telemetry_enabled,
        "tags": dict(instance.get_run_by_id(result.run_id).tags),
        "checks": {c.check_name: c.passed for c in result.get_asset_check_evaluations()},
        "raw": {k: v.value for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == "raw"
                for k, v in e.materialization.metadata.items()},
    }))
"""


@pytest.mark.service("postgres")
def test_a_partition_materializes_on_a_postgres_backed_dagster_instance(request, tmp_path, postgres_server):
    """deploy/dagster/dagster.yaml as written, Dagster's storage in a database of its own, the catalog in another."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster" / "dagster.yaml", home / "dagster.yaml")
    dagster_db = postgres_server.create_database("jf_dagster", extensions=False)
    try:
        with catalog_environment(request, "postgres") as catalog_env, \
                AdsStub(api_key=KEY, binary=go_binary("ads-stub")) as stub:
            env = {**clean_environ(), **catalog_env, "DAGSTER_HOME": str(home), "DAGSTER_POSTGRES_DB": dagster_db,
                   "JACKFRUIT_DATA_DIR": str(tmp_path / "data"), "ADS_BASE_URL": stub.url, "ADS_API_KEY": KEY,
                   "JACKFRUIT_INGEST_POLL_INITIAL_S": "0.1"}
            done = subprocess.run([sys.executable, "-c", DAGSTER_ON_POSTGRES, DAY.isoformat(), JOB], env=env,
                                  capture_output=True, text=True, timeout=600, cwd=tmp_path)
            assert done.returncode == 0, done.stderr[-3000:]  # a crash at exit would be the libpq load order
            out = json.loads(done.stdout.strip().splitlines()[-1])
            assert out["success"], done.stderr[-3000:]
            assert (out["storage"], out["event_log"], out["schedule"]) == (
                "PostgresRunStorage", "PostgresEventLogStorage", "PostgresScheduleStorage")
            assert out["telemetry"] is False
            assert set(out["checks"].values()) == {True} and len(out["checks"]) == 4
            run_id = out["raw"]["jackfruit_run_id"]
            assert out["tags"][RUN_ID_TAG] == run_id
            with postgres_server.connect(catalog_env["POSTGRES_DB"]) as db:
                (orchestrator_run_id,) = db.execute("SELECT orchestrator_run_id FROM ingestion_runs WHERE run_id = %s",
                                                    (run_id,)).fetchone()
            assert str(orchestrator_run_id) == out["run_id"]
            with postgres_server.connect(dagster_db) as db:  # Dagster's own database holds the run
                assert db.execute("SELECT count(*) FROM runs WHERE run_id = %s", (out["run_id"],)).fetchone()[0] == 1
            with postgres_server.connect(catalog_env["POSTGRES_DB"]) as db:  # and the catalog's has no Dagster table
                assert db.execute("SELECT to_regclass('runs')").fetchone()[0] is None
    finally:
        postgres_server.drop_database(dagster_db)


def test_a_partition_of_every_registered_dataset_materializes_through_its_own_group(tmp_path, instance, monkeypatch):
    """One asset group per registered dataset, no per-dataset code in orchestration: each dataset's daily job lands
    and curates one partition from a stub that serves that dataset's synthetic product (its profile's, through the
    product command), the blocking acceptance check passing."""
    from jackfruit.orchestration.defs.partitions import plans
    from jackfruit.synthetic.ads_stub import PRODUCT_COMMAND

    for name in set(os.environ) - set(clean_environ()):
        if not name.startswith("JACKFRUIT_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("JACKFRUIT_INGEST_POLL_INITIAL_S", "0.1")
    go_binary("jackfruit-ingest")
    every = plans()
    assert len(every) >= 2
    upstreams = tuple(sorted({p.dataset.upstream_dataset for p in every}))
    with AdsStub(api_key=KEY, binary=go_binary("ads-stub"), datasets=upstreams,
                 product_command=PRODUCT_COMMAND) as stub:
        resource = JackfruitResource(data_dir=str(tmp_path / "data"), ads_base_url=stub.url, ads_api_key=KEY)
        defs = build_definitions(jackfruit=resource)
        for p in every:
            result = defs.resolve_job_def(p.job_name).execute_in_process(
                partition_key=DAY.isoformat(), instance=instance, raise_on_error=False)
            assert result.success, (p.dataset.name, [e.message for e in result.all_events if e.is_failure])
            meta = materializations(result)
            with app_of(tmp_path / "data") as app:
                run = app.run(meta["raw"]["jackfruit_run_id"])
            assert run.dataset == p.dataset.name and run.raw_key.startswith(f"ads/{p.dataset.name}/")
            assert run.transform_status is TransformStatus.PUBLISHED and meta["tiles"]["tile_count"] > 0
            checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
            assert checks["raw_matches_request"] and checks["tiles_registered_and_readable"], checks
            assert checks["expected_fields_present"], checks  # the day is complete by its profile's expansion
        assert {c["dataset"] for c in stub.job_counts()} == set(upstreams)  # each asked for by its upstream id
