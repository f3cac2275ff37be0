"""Datasets as a seam: profiles found through the registry, the analysis dataset end to end on the in-memory stack,
fixed fields, names shared by datasets, a team's own profile used without touching the core."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest

from jackfruit.domain.errors import InvalidInput, NotFound
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.registry import Registry, default_registry
from jackfruit.sources.cams_europe import PROFILE as FORECASTS
from jackfruit.sources.cams_europe_analysis import PROFILE as ANALYSES
from tests.helpers import memory_app

DAY = date(2025, 3, 12)
BOX = BBox(2.0, 48.0, 3.0, 49.0)
SMALL = {"variable": ["ozone"], "area": [49.5, 1.5, 47.5, 3.5]}


def products():
    return default_registry().synthetic_product


def test_the_built_in_datasets_are_registered_through_the_entry_point_group_and_listed_before_any_ingest():
    names = [p.name for p in default_registry().all()]
    assert {FORECASTS.name, ANALYSES.name} <= set(names)
    app = memory_app(products())
    listed = {d.name: d for d in app.datasets()}
    assert set(names) == set(listed)
    assert listed[ANALYSES.name].upstream_dataset == listed[FORECASTS.name].upstream_dataset == \
        "cams-europe-air-quality-forecasts"
    assert listed[ANALYSES.name].version == ANALYSES.definition_version


def test_the_analysis_dataset_lands_under_its_own_name_asks_the_upstream_for_analyses_and_reads_hourly():
    app = memory_app(products())
    run = app.ingest(ANALYSES.name, DAY, {**SMALL, "time": ["00:00", "01:00", "02:00"]})
    assert run.status.value == "succeeded", run.failure_reason
    assert run.raw_key.startswith(f"ads/{ANALYSES.name}/2025-03-12/")
    assert run.request["type"] == ["analysis"] and run.request["leadtime_hour"] == ["0"]
    assert [j.upstream_id for j in app.runner.jobs] == ["cams-europe-air-quality-forecasts"]  # the upstream's id
    tiles = app.transform(run.run_id)
    # one tile per field and day (transformation version 6): its three analysis times along the time axis
    assert [(t.reference_time.hour, t.shape[0]) for t in tiles] == [(0, 3)] * len(tiles)
    assert {(t.valid_start.hour, t.valid_end.hour) for t in tiles} == {(0, 2)}
    span = TimeRange(datetime(2025, 3, 12, tzinfo=timezone.utc), datetime(2025, 3, 12, 3, tzinfo=timezone.utc))
    ds = app.read(BOX, span, ["ozone"], dataset=ANALYSES.name, layout="valid_time")
    assert [str(t)[:13] for t in ds["valid_time"].values] == ["2025-03-12T00", "2025-03-12T01", "2025-03-12T02"]
    assert np.isfinite(ds["ozone"].values).all()
    # the forecast layout names each analysis as what it is: its own reference time, lead time 0
    fc = app.read(BOX, span, ["ozone"], dataset=ANALYSES.name)
    assert [str(t)[:13] for t in fc["forecast_reference_time"].values] == [
        "2025-03-12T00", "2025-03-12T01", "2025-03-12T02"]
    assert list(fc["step"].values) == [0] and fc["present"].values.all()
    np.testing.assert_array_equal(fc["ozone"].values[:, 0], ds["ozone"].values)
    # a window inside the day reads only its analyses
    one = app.read(BOX, TimeRange(datetime(2025, 3, 12, 1, tzinfo=timezone.utc),
                                  datetime(2025, 3, 12, 2, tzinfo=timezone.utc)), ["ozone"], dataset=ANALYSES.name)
    assert [str(t)[:13] for t in one["forecast_reference_time"].values] == ["2025-03-12T01"]
    np.testing.assert_array_equal(one["ozone"].values[0, 0], ds["ozone"].values[1])


def test_a_fixed_field_of_a_dataset_is_refused_and_the_error_names_the_dataset_that_has_it():
    app = memory_app(products())
    with pytest.raises(InvalidInput, match=f"fixed to \\['forecast'\\].*{ANALYSES.name}"):
        app.ingest(FORECASTS.name, DAY, {**SMALL, "type": "analysis"})
    with pytest.raises(InvalidInput, match="leadtime_hour"):
        app.ingest(ANALYSES.name, DAY, {**SMALL, "leadtime_hour": ["3"]})
    assert app.runs() == []  # refused before anything was recorded


def test_a_variable_two_datasets_hold_needs_the_dataset_and_the_error_names_both():
    app = memory_app(products())
    for profile, extra in ((FORECASTS, {"leadtime_hour": ["0", "1"]}), (ANALYSES, {"time": ["00:00", "01:00"]})):
        run = app.ingest(profile.name, DAY, {**SMALL, **extra})
        app.transform(run.run_id)
    span = TimeRange(datetime(2025, 3, 12, tzinfo=timezone.utc), datetime(2025, 3, 12, 2, tzinfo=timezone.utc))
    with pytest.raises(InvalidInput) as err:
        app.read(BOX, span, ["ozone"])
    assert FORECASTS.name in str(err.value) and ANALYSES.name in str(err.value) and "ozone" in str(err.value)
    forecast = app.read(BOX, span, ["ozone"], dataset=FORECASTS.name, layout="valid_time")
    analysis = app.read(BOX, span, ["ozone"], dataset=ANALYSES.name, layout="valid_time")
    assert forecast.sizes["valid_time"] == analysis.sizes["valid_time"] == 2
    # the two synthetic products differ (analyses are seeded apart): each read comes from its own dataset's tiles
    assert not np.array_equal(forecast["ozone"].values, analysis["ozone"].values)
    # so does a search that names the variable; without a variable it lists every dataset's tiles, each named
    with pytest.raises(InvalidInput, match=f"datasets \\['{FORECASTS.name}', '{ANALYSES.name}'\\]"):
        app.find_tiles(BOX, span, ["ozone"])
    assert {t.dataset for t in app.find_tiles(BOX, span)} == {FORECASTS.name, ANALYSES.name}
    assert {t.dataset for t in app.find_tiles(BOX, span, ["ozone"], dataset=ANALYSES.name)} == {ANALYSES.name}
    # analyses read in the forecast layout too: one reference time per analysis, lead time 0
    fc = app.read(BOX, span, ["ozone"], dataset=ANALYSES.name)
    assert fc.sizes["forecast_reference_time"] == 2 and [int(s) for s in fc["step"].values] == [0]


def test_a_teams_own_profile_is_used_without_any_change_to_the_core():
    """A profile in a team's package (here: built in the test) is registered and used end to end: the core only asks
    the registry."""
    mine = replace(ANALYSES, name="team-europe-analyses", definition_version=3, schedule=None)
    registry = Registry([FORECASTS, mine])

    def product(upstream: str, request):
        return registry.synthetic_product(upstream, request)

    app = memory_app(product, profiles=registry)
    assert [d.name for d in app.datasets()] == [FORECASTS.name, "team-europe-analyses"]
    run = app.ingest("team-europe-analyses", DAY, {**SMALL, "time": ["06:00"]})
    assert run.raw_key.startswith("ads/team-europe-analyses/") and run.status.value == "succeeded"
    assert [t.dataset for t in app.transform(run.run_id)] == ["team-europe-analyses"]
    with pytest.raises(NotFound, match="registered"):
        app.ingest(ANALYSES.name, DAY, SMALL)  # not registered in this registry


def test_the_registry_refuses_two_profiles_of_one_name_and_finds_a_profile_by_its_upstream_answer():
    with pytest.raises(InvalidInput, match="two source profiles"):
        Registry([FORECASTS, FORECASTS])
    with pytest.raises(InvalidInput, match="not a source profile"):
        Registry([object()])  # type: ignore[list-item]
    registry = Registry([FORECASTS, ANALYSES])
    upstream = FORECASTS.upstream_dataset
    assert registry.for_upstream(upstream, {"type": ["analysis"], "leadtime_hour": ["0"]}) is ANALYSES
    assert registry.for_upstream(upstream, {"type": ["forecast"]}) is FORECASTS
    with pytest.raises(NotFound):
        registry.for_upstream("cams-global-reanalysis-eac4-unknown", {})


def test_a_day_after_the_profiles_horizon_is_refused_naming_the_dataset():
    app = memory_app(products())
    late = app.clock.now().date() + timedelta(days=2)
    with pytest.raises(InvalidInput, match=f"after .* the last day of {ANALYSES.name}"):
        app.ingest(ANALYSES.name, late, SMALL)


def test_a_refusal_of_hundreds_of_messages_is_one_line_per_reason_with_every_message_in_the_error():
    """The global forecast sample (512 messages, GRIB1 and GRIB2) is not CAMS Europe: every message is refused with
    its reason, summarised on one line (count per reason, first messages named); the error keeps the whole list."""
    from pathlib import Path

    from jackfruit.adapters.transform.eccodes_decoder import EccodesGribDecoder
    from jackfruit.domain import acceptance
    from jackfruit.domain.tiling import plan_tiles

    sample = Path(__file__).resolve().parents[1] / "data" / "grib" / \
        "cams-global-forecast_berlin_pm2p5-pm10-no2_2019-01-01to02_mixed-edition.grib"
    headers = EccodesGribDecoder().scan(str(sample))
    assert len(headers) == 512
    for refuse in (lambda: plan_tiles(headers, FORECASTS.name_message),
                   lambda: acceptance.request_from_headers(headers, FORECASTS)):
        with pytest.raises(InvalidInput) as err:
            refuse()
        text = str(err.value)
        assert len(err.value.problems) == 512 and len(text) < 1200 and "\n" not in text
        assert "448 x GRIB edition 1; CAMS Europe is GRIB2 (message 1, message 2, message 4 and 445 more)" in text
        assert "64 x product definition template" in text and "--json" in text
        assert all(p.startswith(f"message {i + 1} ") for i, p in enumerate(err.value.problems))


def test_jackfruit_datasets_lists_every_profile_with_its_upstream_and_version_before_any_ingest(tmp_path, capsys,
                                                                                             monkeypatch):
    import json

    from jackfruit import cli

    for name in [k for k in __import__("os").environ if k.startswith(("JACKFRUIT_", "POSTGRES_", "MINIO_"))]:
        monkeypatch.delenv(name)
    data = str(tmp_path / "data")
    assert cli.main(["db", "upgrade", "--data-dir", data]) == 0
    capsys.readouterr()
    assert cli.main(["datasets", "--data-dir", data, "--json"]) == 0
    listed = {d["name"]: d for d in json.loads(capsys.readouterr().out)}
    assert set(listed) == {p.name for p in default_registry().all()}
    assert listed[ANALYSES.name]["upstream_dataset"] == ANALYSES.upstream_dataset
    assert listed[ANALYSES.name]["version"] == ANALYSES.definition_version
    assert cli.main(["datasets", "--data-dir", data]) == 0
    text = capsys.readouterr().out
    assert f"{ANALYSES.name} v{ANALYSES.definition_version} (upstream ads/{ANALYSES.upstream_dataset}" in text
