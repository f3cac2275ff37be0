"""The Dagster definitions load and say what the issue asks: partitions, pool, blocking check, schedule from the
dataset, run tags; the sensor's choice of partitions and its look-back; the resource's settings."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

import dagster as dg

from jackfruit.domain.coverage import DayCoverage
from jackfruit.domain.errors import InvalidInput
from jackfruit.orchestration.defs import JackfruitResource, build_definitions
from jackfruit.orchestration.defs.assets import event_text
from jackfruit.orchestration.defs.partitions import ADS_POOL, MAX_RUNTIME_S, day_of, plan, plans
from jackfruit.registry import default_registry
from jackfruit.orchestration.defs.sensors import look_back, partitions_to_request
from jackfruit.ports.runner import RunnerEvent
from jackfruit.sources.cams_europe import PROFILE as CAMS_PROFILE
CAMS_EUROPE = CAMS_PROFILE.definition()

ROOT = Path(__file__).resolve().parents[2]
PLAN = plan(CAMS_EUROPE.name)


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    from jackfruit.orchestration.definitions import defs

    return defs


def test_the_definitions_load_with_one_group_per_registered_dataset(defs):
    dg.Definitions.validate_loadable(defs)
    registered = default_registry().all()
    assert len(registered) >= 2 and len(plans()) == len(registered)
    assert set(defs.resolve_all_asset_keys()) == {k for p in plans() for k in (p.raw_key, p.tiles_key)}
    for p in plans():
        assert defs.resolve_job_def(p.job_name) is not None
        assert {defs.resolve_assets_def(k).group_names_by_key[k] for k in (p.raw_key, p.tiles_key)} == {p.slug}
        assert defs.resolve_schedule_def(f"{p.slug}_schedule").cron_schedule == p.dataset.schedule


def test_dagster_validates_the_definitions_module_from_the_command_line(tmp_path):
    dagster = Path(sys.executable).parent / "dagster"
    done = subprocess.run([str(dagster), "definitions", "validate", "-m", "jackfruit.orchestration.definitions"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "All code locations passed validation" in done.stdout + done.stderr


def test_raw_and_tiles_are_daily_partitions_from_the_first_day_and_ingestion_uses_the_ads_pool(defs):
    raw, tiles = defs.resolve_assets_def(PLAN.raw_key), defs.resolve_assets_def(PLAN.tiles_key)
    for asset in (raw, tiles):
        partitions = asset.partitions_def
        assert isinstance(partitions, dg.DailyPartitionsDefinition)
        assert partitions.start.date() == CAMS_PROFILE.first_day and partitions.timezone == "UTC"
    assert raw.op.pool == ADS_POOL == PLAN.pool and tiles.op.pool is None
    assert {p.pool for p in plans()} == {ADS_POOL}  # every ADS dataset in the one pool of the account
    assert {d.asset_key for d in tiles.specs_by_key[PLAN.tiles_key].deps} == {PLAN.raw_key}


def test_the_acceptance_check_blocks_the_transformation_and_every_check_is_there(defs):
    checks = {key.name: spec for key, spec in
              ((k, s) for c in defs.asset_checks for k, s in c.check_specs_by_output_name.items()
               for k in [s.key])}
    assert set(checks) == {"raw_checksum_verified", "raw_matches_request", "expected_fields_present",
                           "tiles_registered_and_readable"}
    by_asset = {(k.asset_key, k.name): s for c in defs.asset_checks for s in c.check_specs_by_output_name.values()
                for k in [s.key]}
    for p in plans():
        assert by_asset[(p.raw_key, "raw_matches_request")].blocking
        assert not by_asset[(p.raw_key, "raw_checksum_verified")].blocking
        assert (p.tiles_key, "tiles_registered_and_readable") in by_asset


def test_the_daily_job_carries_a_maximum_runtime(defs):
    job = defs.resolve_job_def(PLAN.job_name)
    assert job.tags["dagster/max_runtime"] == str(MAX_RUNTIME_S)
    assert build_definitions(max_runtime_s=600).resolve_job_def(PLAN.job_name).tags["dagster/max_runtime"] == "600"


def test_the_schedule_is_the_datasets_cron_and_requests_that_days_partition(defs):
    schedule = defs.resolve_schedule_def(f"{PLAN.slug}_schedule")
    assert schedule.cron_schedule == CAMS_EUROPE.schedule and schedule.execution_timezone == "UTC"
    assert schedule.job_name == PLAN.job_name
    tick = datetime(2025, 3, 12, 12, 0, tzinfo=timezone.utc)
    with dg.build_schedule_context(scheduled_execution_time=tick, repository_def=defs.get_repository_def()) as context:
        (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2025-03-12"


def test_a_dataset_published_late_is_asked_only_for_days_its_upstream_has():
    """The schedule asks for the newest day the profile's horizon allows (today for CAMS Europe), and the sensor's
    look-back ends the day before it: a dataset published months late never asks for a day the upstream lacks."""
    from dataclasses import replace

    from jackfruit.orchestration.defs import JackfruitResource
    from jackfruit.orchestration.defs.assets import raw_asset, tiles_asset
    from jackfruit.orchestration.defs.schedules import daily_job, daily_schedule
    from jackfruit.orchestration.defs.sensors import look_back

    late = replace(PLAN, available_until=lambda now: date(now.year, now.month, 1) - timedelta(days=90))
    tick = datetime(2025, 3, 12, 12, 0, tzinfo=timezone.utc)
    assert PLAN.newest_day(tick) == date(2025, 3, 12) and late.newest_day(tick) == date(2024, 12, 1)
    job = daily_job(late)
    schedule = daily_schedule(late, job)
    repository = dg.Definitions(assets=[raw_asset(late), tiles_asset(late)], jobs=[job], schedules=[schedule],
                                resources={"jackfruit": JackfruitResource()}).get_repository_def()
    with dg.build_schedule_context(scheduled_execution_time=tick, repository_def=repository) as context:
        (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2024-12-01"
    assert look_back(late.newest_day(tick), 14, late.first_day) == (date(2024, 11, 17), date(2024, 11, 30))


def test_an_unknown_dataset_is_a_named_error():
    with pytest.raises(InvalidInput, match="no-such-dataset"):
        build_definitions(["no-such-dataset"])
    with pytest.raises(InvalidInput, match="not a day"):
        day_of("2025-02-30")


def cover(day: str, state: str) -> DayCoverage:
    return DayCoverage(date.fromisoformat(day), state)


def test_the_sensor_requests_the_days_a_run_can_fix_and_none_in_flight():
    coverage = [cover("2025-03-05", "complete"), cover("2025-03-01", "missing"), cover("2025-03-02", "failed"),
                cover("2025-03-03", "not transformed"), cover("2025-03-04", "quarantined"),
                cover("2025-03-06", "running"), cover("2025-03-07", "refused"), cover("2025-03-08", "partial"),
                cover("2025-03-09", "missing"), cover("2025-03-10", "transforming")]
    assert partitions_to_request(coverage, in_flight={"2025-03-09"}) == [
        ("2025-03-01", "missing"), ("2025-03-02", "failed"), ("2025-03-03", "not transformed")]


def test_the_look_back_is_bounded_ends_yesterday_and_never_starts_before_the_first_day():
    assert look_back(date(2025, 3, 15), 14, date(2023, 1, 1)) == (date(2025, 3, 1), date(2025, 3, 14))
    assert look_back(date(2023, 1, 3), 14, date(2023, 1, 1)) == (date(2023, 1, 1), date(2023, 1, 2))
    assert look_back(date(2023, 1, 1), 14, date(2023, 1, 1)) is None


def test_the_resource_applies_its_fields_over_the_settings_and_bounds_the_look_back(tmp_path, monkeypatch):
    monkeypatch.delenv("JACKFRUIT_SENSOR_LOOKBACK_DAYS", raising=False)
    resource = JackfruitResource(data_dir=str(tmp_path), ads_base_url="http://127.0.0.1:1/api", ads_api_key="k")
    settings = resource.settings()
    assert settings.data_dir == tmp_path and settings.ads_base_url == "http://127.0.0.1:1/api"
    assert settings.ads_api_key.get_secret_value() == "k"
    assert resource.lookback_days() == 14
    monkeypatch.setenv("JACKFRUIT_SENSOR_LOOKBACK_DAYS", "3")
    assert resource.lookback_days() == 3
    assert JackfruitResource(sensor_lookback_days=7).lookback_days() == 7
    with pytest.raises(InvalidInput, match="1..366"):
        JackfruitResource(sensor_lookback_days=0).lookback_days()
    with pytest.raises(InvalidInput, match="ADS_BASE_URL"):
        JackfruitResource(ads_base_url="ftp://x").settings()


def test_the_resource_opens_the_facade_and_closes_it(tmp_path, monkeypatch):
    for name in ("JACKFRUIT_CATALOG", "JACKFRUIT_OBJECT_STORE", "JACKFRUIT_RUNNER"):
        monkeypatch.delenv(name, raising=False)
    with JackfruitResource(data_dir=str(tmp_path)).open() as app:
        assert app.catalog.get_dataset(CAMS_EUROPE.name) == CAMS_EUROPE
    assert app.closer is None  # closed: the catalog's connections released


def test_ingester_events_read_as_one_line_each():
    assert event_text(RunnerEvent("phase", phase="poll")) == "ingest phase poll"
    assert event_text(RunnerEvent("submitted", upstream_job_id="j2", replaces="j1")) == \
        "ingest submitted upstream job j2 (replaces j1)"
    line = '{"time":"t","level":"INFO","msg":"committed","key":"k","bytes":12}'
    assert event_text(RunnerEvent("log", message=line)) == "ingester: committed bytes=12"
    assert event_text(RunnerEvent("log", message="plain")) == "ingester: plain"


INSTANCE_CONFIGS = r"""
import json, os, yaml
import jackfruit.orchestration  # first: psycopg2's libpq before ecCodes
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.storage.config import pg_config
from dagster._serdes import ConfigurableClassData
from dagster_postgres.utils import pg_url_from_config

out = {}
for name in ("dagster.yaml", "dagster-docker-launcher.yaml"):
    config, _ = dagster_instance_config(os.environ["DEPLOY"], name)
    storage = process_config(pg_config(), config["storage"]["postgres"])
    launcher = config.get("run_launcher")
    if launcher:
        launcher = ConfigurableClassData(launcher["module"], launcher["class"],
                                         yaml.safe_dump(launcher["config"])).rehydrate(as_type=object)
    out[name] = {"url": pg_url_from_config(storage.value), "telemetry": config["telemetry"]["enabled"],
                 "pools": config["concurrency"]["pools"], "monitoring": config["run_monitoring"]["enabled"],
                 "launcher": launcher and [type(launcher).__name__, launcher.image, launcher.networks]}
print(json.dumps(out))
"""


def test_the_instance_configs_keep_dagster_in_postgres_of_its_own_and_one_uses_the_docker_run_launcher():
    env = {"PATH": "/usr/bin:/bin", "DEPLOY": str(ROOT / "deploy" / "dagster"), "POSTGRES_HOST": "db",
           "POSTGRES_PORT": "5432", "POSTGRES_USER": "u", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "jackfruit",
           "DAGSTER_POSTGRES_DB": "dagster", "JACKFRUIT_DAGSTER_IMAGE": "jackfruit-dagster:dev",
           "JACKFRUIT_DOCKER_NETWORK": "jackfruit"}  # the run's container joins the ingester's network
    done = subprocess.run([sys.executable, "-c", INSTANCE_CONFIGS], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    for config in out.values():
        assert config["url"] == "postgresql+psycopg2://u:pw@db:5432/dagster"  # its own database, psycopg2 driver
        assert config["telemetry"] is False and config["monitoring"] is True
        assert config["pools"]["default_limit"] >= 1
    assert out["dagster.yaml"]["launcher"] is None  # the default run launcher: runs in the code location
    assert out["dagster-docker-launcher.yaml"]["launcher"] == ["DockerRunLauncher", "jackfruit-dagster:dev", ["jackfruit"]]


def test_housekeeping_reaps_after_the_setting_keeps_the_job_and_runs_gc(tmp_path, monkeypatch):
    """Issue 17 finding 3: abandoned claims are reaped without a person, after JACKFRUIT_REAP_AFTER_S past the
    lease's expiry (default 1 h); the reaped run keeps its upstream job; gc ends expired attempts."""
    from datetime import timedelta

    from jackfruit.domain.keys import RawKey
    from jackfruit.domain.model import IngestionRun, RunStatus
    from jackfruit.orchestration.defs.housekeeping import JOB_NAME, housekeeping_job

    for name in ("JACKFRUIT_CATALOG", "JACKFRUIT_OBJECT_STORE", "JACKFRUIT_RUNNER", "JACKFRUIT_REAP_AFTER_S"):
        monkeypatch.delenv(name, raising=False)
    defs = build_definitions(jackfruit=JackfruitResource(data_dir=str(tmp_path)))
    assert defs.resolve_job_def(JOB_NAME) is not None
    assert any(s.job_name == JOB_NAME for s in defs.schedules)
    resource = JackfruitResource(data_dir=str(tmp_path))
    assert resource.settings().reap_after_s == 3600
    with resource.open() as app:
        now = datetime.now(timezone.utc)
        runs = []
        for minutes in (90, 30):  # lease expired 90 and 30 minutes ago
            rid = app.ids.new_run_id()
            request = app.catalog.get_dataset(CAMS_EUROPE.name).request_for(date(2025, 3, 12),
                                                                           {"variable": ["ozone"], "leadtime_hour": [str(minutes)]})
            start = now - timedelta(minutes=minutes, seconds=60)
            app.catalog.claim_ingest(IngestionRun(run_id=rid, source="ads", dataset=CAMS_EUROPE.name,
                                                  partition_date=date(2025, 3, 12), request=request,
                                                  status=RunStatus.PENDING, created_at=start,
                                                  raw_key=str(RawKey("ads", CAMS_EUROPE.name, date(2025, 3, 12), rid,
                                                                     "grib"))),
                                     attempt_id=app.ids.new_run_id(), owner="gone:1", now=start,
                                     expires_at=start + timedelta(seconds=60))
            app.catalog.record_upstream_job(rid, 1, f"job-{minutes}", now=start)
            runs.append(rid)
    result = housekeeping_job.execute_in_process(resources={"jackfruit": resource})
    assert result.success
    summary = result.output_for_node("reap_and_collect")
    assert summary["reaped"] == [runs[0]] and summary["attempts_ended"] == 1
    with resource.open() as app:
        reaped, young = app.run(runs[0]), app.run(runs[1])
        assert reaped.status is RunStatus.FAILED and reaped.upstream_job_id == "job-90"
        assert young.status is RunStatus.RUNNING and young.lease(young.attempts[0].kind).ended_at is not None
