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


def test_expected_fields_come_from_the_template():
    fields_, steps = expected_fields(CAMS_EUROPE)
    assert len(fields_) == 4 and steps == 97 and str(fields_[0]) == "nitrogen_dioxide/ensemble/0m"


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
