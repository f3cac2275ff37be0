"""Coverage per day: complete, partial (fields or lead times missing), and why not — on in-memory adapters
with real runs (the synthetic CAMS generator as upstream), through the use case and the CLI's JSON."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Mapping

import pytest

from jackfruit.domain.coverage import expected_fields
from jackfruit.domain.errors import InvalidInput, NotFound, UpstreamRefused
from jackfruit.sources.cams_europe.synthetic import fields, write_cams_grib
from jackfruit.sources.cams_europe import PROFILE as CAMS_PROFILE
CAMS_EUROPE = CAMS_PROFILE.definition()

from ..helpers import memory_app

CAMS = CAMS_EUROPE.name
D1 = date(2025, 3, 8)  # days D1..D1+3: before the memory clock's 2025-03-12 (later days cannot exist yet)
AREA = (52.05, -2.05, 50.05, 0.05)  # a small grid: fast


def source(tmp_path, steps_of: Mapping[str, int], fail_on: set[date] = frozenset()):
    """The product of a request: the requested species with ``steps_of[species]`` lead times (fewer than
    asked when lower); raises for days in ``fail_on``."""
    def make(dataset: str, request: Mapping[str, Any]) -> bytes:
        day = date.fromisoformat(request["date"][0].split("/")[0])
        if day in fail_on:
            raise UpstreamRefused("upstream exploded")
        path = tmp_path / f"{day}.grib"
        specs = [f for v in request["variable"]
                 for f in fields([day], ["ensemble"], [v], [0], range(steps_of.get(v, 3)))]
        write_cams_grib(path, specs, area=AREA)
        return path.read_bytes()
    return make


LEADS = {"leadtime_hour": ["0", "1", "2"], "area": [52.05, -2.05, 50.05, 0.05]}  # what ``source`` serves


def test_expected_fields_come_from_the_profile_expanding_the_template():
    keys, _ = CAMS_PROFILE.expected_fields(CAMS_EUROPE.request_for(D1))
    expected = expected_fields(keys)
    assert len(expected.times) == 4 and set(expected.times.values()) == {97}
    assert str(next(iter(expected.times))) == "nitrogen_dioxide/ensemble/0m"


def test_expected_fields_of_the_global_datasets_have_their_cycles_levels_and_times():
    from jackfruit.sources.cams_eac4 import PROFILE as EAC4
    from jackfruit.sources.cams_global import PROFILE as GLOBAL

    keys, _ = GLOBAL.expected_fields(GLOBAL.definition().request_for(D1))
    expected = {str(f): n for f, n in expected_fields(keys, GLOBAL.time_axis).times.items()}
    # two cycles a day: a tile per cycle, each with the variable's own lead times (hourly at the surface,
    # 3-hourly on levels: the upstream's constraint the profile knows)
    assert expected["particulate_matter_2.5um/ifs/surface 00Z"] == expected[
        "particulate_matter_2.5um/ifs/surface 12Z"] == 121
    assert {n for f, n in expected.items() if "/ml" in f or "hPa" in f} == {41}
    keys, _ = EAC4.expected_fields(EAC4.definition().request_for(D1))
    eac4 = expected_fields(keys, EAC4.time_axis)
    assert eac4.unit == "analysis times" and set(eac4.times.values()) == {8}
    assert "ozone/ifs/1000hPa" in {str(f) for f in eac4.times}  # one tile per field and day: no hour


def test_each_day_says_what_it_has_and_why_not(tmp_path):
    app = memory_app(source(tmp_path, {}))
    # day 1: all four species, all three lead times asked -> compared to the dataset's 97: partial
    run = app.ingest(CAMS, D1, LEADS)
    app.transform(run.run_id)
    # day 2: ingested, not transformed; day 3: nothing; day 4: ingest failed
    app.ingest(CAMS, D1 + timedelta(days=1), LEADS)
    failing = memory_app(source(tmp_path, {}, fail_on={D1 + timedelta(days=3)}), catalog=app.catalog,
                         raw_store=app.raw_store, curated_store=app.curated_store)
    with pytest.raises(UpstreamRefused):
        failing.ingest(CAMS, D1 + timedelta(days=3), LEADS)
    days = app.coverage(CAMS, D1, D1 + timedelta(days=3))
    assert [d.state for d in days] == ["partial", "not transformed", "missing", "failed"]
    first = days[0]
    assert first.run_id == run.run_id and first.expected == 4 and not first.present
    assert "ozone/ensemble/0m: 3 of 97 lead times" in first.partial
    assert "upstream exploded" in days[3].detail and days[2].detail == "no run"


def test_a_superseding_run_answers_for_its_day(tmp_path):
    app = memory_app(source(tmp_path, {}))
    first = app.ingest(CAMS, D1, {"variable": ["ozone"], **LEADS})
    app.transform(first.run_id)
    second = app.ingest(CAMS, D1, LEADS, supersede=True)
    (day,) = app.coverage(CAMS, D1, D1)
    assert day.run_id == second.run_id and day.state == "not transformed"
    app.transform(second.run_id)
    (day,) = app.coverage(CAMS, D1, D1)
    assert day.state == "partial" and len(day.partial) == 4 and not day.missing


def test_bad_ranges_and_unknown_datasets_are_refused(tmp_path):
    app = memory_app(source(tmp_path, {}))
    with pytest.raises(InvalidInput, match="before"):
        app.coverage(CAMS, D1, D1 - timedelta(days=1))
    with pytest.raises(InvalidInput, match="at most"):
        app.coverage(CAMS, D1, D1 + timedelta(days=4000))
    with pytest.raises(NotFound):
        app.coverage("no-such-dataset", D1, D1)


def test_a_day_of_analyses_is_complete_with_its_one_tile_per_field_and_partial_names_analysis_times(tmp_path):
    from jackfruit.sources.cams_eac4 import PROFILE as EAC4
    from jackfruit.registry import default_registry
    from jackfruit.sources.cams_europe_analysis import PROFILE as ANALYSES

    app = memory_app(default_registry().synthetic_product)  # each dataset's synthetic product
    run = app.ingest(ANALYSES.name, D1, {"area": list(AREA)})  # the template's 4 species x 24 hourly analyses
    app.transform(run.run_id)
    (day,) = app.coverage(ANALYSES.name, D1, D1)
    assert day.state == "complete" and day.expected == 4 and len(day.present) == 4, day
    eac4_day = date(2003, 1, 1)
    run = app.ingest(EAC4.name, eac4_day, {"variable": ["ozone"], "pressure_level": ["1000", "500"],
                                           "time": ["00:00", "03:00"], "area": [52, -2, 50, 0]})
    app.transform(run.run_id)
    (day,) = app.coverage(EAC4.name, eac4_day, eac4_day)
    assert day.state == "partial" and "ozone/ifs/1000hPa: 2 of 8 analysis times" in day.partial
    assert "nitrogen_dioxide/ifs/1000hPa" in day.missing and not day.present
