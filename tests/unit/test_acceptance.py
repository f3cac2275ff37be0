"""The acceptance rule (domain/acceptance.py): a file's GRIB headers against its request, and the inverse (the request
a file answers). Pure: headers are built here as the decoder port reports them."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import date, datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jackfruit.domain import acceptance
from jackfruit.sources.cams_europe import PROFILE
from jackfruit.sources.cams_europe import codes as cams


def check(request, headers):
    return acceptance.check(request, headers, PROFILE)


def request_from_headers(headers):
    return acceptance.request_from_headers(headers, PROFILE)


def name_message(msg):
    return acceptance.field_key(PROFILE.name_message(msg))
from jackfruit.domain.errors import InvalidInput
from jackfruit.domain.model import canonical_request
from jackfruit.domain.tiling import GribMessage, RegularGrid

DAY = date(2025, 3, 12)
FULL = RegularGrid(71.95, -24.95, -0.1, 0.1, 420, 700)
SMALL = RegularGrid(52.05, -2.05, -0.1, 0.1, 21, 22)  # 52.05..50.05 N, -2.05..0.05 E


def message(variable="nitrogen_dioxide", model="ensemble", level=0, step=0, day=DAY, hour=0, grid=FULL,
            index=0) -> GribMessage:
    sp = cams.SPECIES_BY_NAME[variable]
    centre, sub = cams.MODELS[model]
    return GribMessage(index=index, offset=index * 100, length=100, edition=2, centre=centre, sub_centre=sub,
                       discipline=0, category=20, number=sp.parameter_number, constituent_type=sp.constituent_type,
                       template=40, level_type=1 if level == 0 else 103, level=level,
                       reference_time=datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc),
                       step_hours=step, grid_type="regular_ll" if grid else "lambert", grid=grid)


def request(variables=("nitrogen_dioxide",), models=("ensemble",), levels=(0,), steps=(0, 1, 2, 3), day=DAY,
            area=None) -> dict:
    out = {"variable": list(variables), "model": list(models), "level": [str(v) for v in levels],
           "type": ["forecast"], "time": ["00:00"], "leadtime_hour": [str(s) for s in steps], "data_format": "grib",
           "date": [f"{day}/{day}"]}
    if area is not None:
        out["area"] = list(area)
    return out


def product(req: dict, grid=FULL) -> list[GribMessage]:
    """What the ADS serves for ``req`` (ADS order), as headers."""
    day = date.fromisoformat(req["date"][0][:10])
    out = []
    for m in req["model"]:
        for v in req["variable"]:
            for lv in req["level"]:
                for s in req["leadtime_hour"]:
                    out.append(message(v, m, int(lv), int(s), day, grid=grid, index=len(out)))
    return out


def test_the_requested_product_is_accepted_with_counts():
    req = request(("ozone", "nitrogen_dioxide"), steps=range(4))
    result = check(req, product(req))
    assert result.ok and result.expected == result.received == 8
    assert not (result.missing or result.unexpected or result.duplicates or result.mismatches or result.problems)
    stored = result.to_json()
    assert json.loads(json.dumps(stored)) == stored
    assert stored["expected_axes"] == stored["received_axes"] == {
        "dates": ["2025-03-12"], "times": "0", "models": ["ensemble"], "variables": ["nitrogen_dioxide", "ozone"],
        "levels": "0", "lead_times": "0..3"}


def test_a_missing_lead_time_is_named_precisely():
    req = request(steps=range(4))
    result = check(req, product(request(steps=range(3))))
    assert not result.ok and result.missing == ("nitrogen_dioxide/ensemble/0 m at +3 h",)
    assert result.mismatches == {"lead_times": "asked for 4 lead times 0..3, file holds 0..2"}
    assert "asked for 4 lead times 0..3, file holds 0..2" in result.reason
    assert "missing 1: nitrogen_dioxide/ensemble/0 m at +3 h" in result.reason
    assert "expected 4 messages, file holds 3" in result.reason


def test_an_extra_field_a_duplicate_and_a_wrong_date_are_each_named():
    req = request(steps=(0, 1))
    extra = product(req) + [message("ozone", step=1, index=2)]
    result = check(req, extra)
    assert result.unexpected == ("ozone/ensemble/0 m at +1 h",) and "unexpected 1: ozone" in result.reason
    assert result.mismatches["variables"] == "asked for 1 variable nitrogen_dioxide, file holds nitrogen_dioxide, ozone"
    twice = check(req, product(req) + [message(step=1, index=2)])
    assert twice.duplicates == ("nitrogen_dioxide/ensemble/0 m at +1 h x2",) and not twice.missing
    assert "duplicated 1" in twice.reason and "expected 2 messages, file holds 3" in twice.reason
    wrong = check(req, product(request(steps=(0, 1), day=date(2025, 3, 13))))
    assert wrong.mismatches["dates"] == "asked for 1 date 2025-03-12, file holds 2025-03-13"
    assert "missing 2: nitrogen_dioxide/ensemble/0 m at +0 h of 2025-03-12T00Z" in wrong.reason
    assert "of 2025-03-13T00Z" in wrong.reason  # the unexpected ones, with their date


def test_area_within_half_a_step_is_accepted_outside_or_short_of_it_is_not():
    req = request(steps=(0,), area=[52.1, -2.1, 50.0, 0.1])  # the ADS snaps inward to 52.05..50.05, -2.05..0.05
    assert check(req, product(req, grid=SMALL)).ok
    assert check(request(steps=(0,), area=[52.0, -2.0, 50.1, 0.0]), product(req, grid=SMALL)).ok  # half a step
    outside = check(request(steps=(0,), area=[51.9, -2.0, 50.1, 0.0]), product(req, grid=SMALL))
    assert not outside.ok and "is not within the requested area [N 51.9" in outside.reason
    whole = check(request(steps=(0,)), product(req, grid=SMALL))  # no area asked: the whole domain
    assert not whole.ok and "does not cover the requested area [N 72" in whole.reason
    assert check(request(steps=(0,)), product(request(steps=(0,)))).ok


def test_files_that_cannot_be_named_or_mix_grids_are_problems_not_skipped():
    req = request(steps=(0, 1))
    odd = product(req)
    odd[1] = replace(odd[1], constituent_type=65001)
    result = check(req, odd)
    assert not result.ok and "constituentType 65001" in result.problems[0]
    assert result.missing == ("nitrogen_dioxide/ensemble/0 m at +1 h",)
    mixed = product(req)
    mixed[1] = replace(mixed[1], grid=SMALL)
    assert "mixes 2 grids" in check(req, mixed).reason
    lambert = product(req)
    lambert[0] = replace(lambert[0], grid=None, grid_type="lambert")
    assert "'lambert' is not a regular lat/lon grid" in check(req, lambert).reason
    assert not acceptance.unreadable("x.grib is not a GRIB file").ok


def test_a_malformed_request_is_invalid_input():
    with pytest.raises(InvalidInput, match="variable"):
        check({"date": ["2025-03-12"]}, [])
    with pytest.raises(InvalidInput, match="date"):
        check({"variable": ["ozone"], "date": ["12/03/2025"]}, [])


def test_the_derived_request_of_a_full_template_file_is_the_ingest_partition():
    from jackfruit.sources.cams_europe import PROFILE as CAMS_PROFILE
    CAMS_EUROPE = CAMS_PROFILE.definition()

    ingest = CAMS_EUROPE.request_for(DAY)
    derived = request_from_headers(product(ingest))
    assert canonical_request(derived) == canonical_request(ingest)
    assert "area" not in derived  # the whole domain, as an ingest without area asks for it


def test_several_dates_and_unnamed_messages_are_refused_naming_them():
    two = product(request(steps=(0,))) + product(request(steps=(0,), day=date(2025, 3, 13)))
    with pytest.raises(InvalidInput, match="spans 2 dates \\(2025-03-12, 2025-03-13\\)"):
        request_from_headers(two)
    odd = [replace(message(), centre=7)]
    with pytest.raises(InvalidInput, match="centre 7, subCentre 2"):
        request_from_headers(odd)
    with pytest.raises(InvalidInput, match="no GRIB messages"):
        request_from_headers([])


# -- properties --------------------------------------------------------------------------------------------------
requests = st.builds(
    lambda variables, models, levels, steps, area: request(variables, models, levels, steps, area=area),
    st.lists(st.sampled_from(sorted(cams.SPECIES_BY_NAME)), min_size=1, max_size=3, unique=True),
    st.lists(st.sampled_from(sorted(cams.MODELS)), min_size=1, max_size=2, unique=True),
    st.lists(st.sampled_from(cams.LEVELS_M), min_size=1, max_size=2, unique=True),
    st.lists(st.integers(0, 96), min_size=1, max_size=5, unique=True),
    st.none())
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(requests, st.randoms(use_true_random=False))
def test_property_the_product_in_any_order_is_accepted_and_derives_its_request(req, rnd):
    headers = product(req)
    rnd.shuffle(headers)
    result = check(req, headers)
    assert result.ok, result.reason
    assert result.expected == result.received == len(headers)
    derived = request_from_headers(headers)
    assert canonical_request(derived) == canonical_request(req)
    assert check(derived, headers).ok


@PROPS
@given(requests, st.data())
def test_property_dropping_or_doubling_any_message_is_named(req, data):
    headers = product(req)
    k = data.draw(st.integers(0, len(headers) - 1))
    gone = name_message(headers[k]).label(False)
    dropped = check(req, headers[:k] + headers[k + 1:])
    assert not dropped.ok and dropped.missing == (gone,) and gone in dropped.reason
    doubled = check(req, headers + [headers[k]])
    assert not doubled.ok and doubled.duplicates == (f"{gone} x2",) and not doubled.missing


@PROPS
@given(requests, st.integers(0, 96), st.sampled_from(sorted(cams.SPECIES_BY_NAME)))
def test_property_a_field_outside_the_request_is_unexpected(req, step, variable):
    extra = message(variable, req["model"][0], int(req["level"][0]), step)
    key = name_message(extra)
    headers = product(req) + [extra]
    result = check(req, headers)
    if key in set(PROFILE.expected_fields(req)[0]):
        assert result.duplicates and not result.ok
    else:
        assert result.unexpected == (key.label(False),) and not result.ok


@PROPS
@given(requests, st.integers(1, 5))
def test_property_a_ragged_file_derives_a_request_whose_check_names_every_hole(req, seed):
    headers = product(req)
    if len(headers) < 2:
        return
    rnd = random.Random(seed)
    holes = set(rnd.sample(range(len(headers)), rnd.randint(1, len(headers) - 1)))
    kept = [h for i, h in enumerate(headers) if i not in holes]
    derived = request_from_headers(kept)
    result = check(derived, kept)
    want = {name_message(h) for h in headers}
    have = {name_message(h) for h in kept}
    expected = set(PROFILE.expected_fields(derived)[0])
    assert have <= expected <= want
    assert set(result.missing) == {k.label(False) for k in expected - have}
    assert result.ok == (expected == have)
