"""The CAMS global forecast and EAC4 profiles' own rules: request fields, the expected set (the request
intersected with what each variable has), the EAC4 horizon, the synthetic products' shape."""

from __future__ import annotations

import tempfile
from datetime import date, datetime, timezone

import pytest

from jackfruit.adapters.transform.eccodes_decoder import EccodesGribDecoder
from jackfruit.domain import acceptance
from jackfruit.domain.errors import InvalidInput
from jackfruit.registry import default_registry
from jackfruit.sources.cams_eac4 import PROFILE as EAC4, available_until as eac4_until
from jackfruit.sources.cams_global import PROFILE as GLOBAL

BERLIN = [52.8, 13.0, 52.0, 14.2]  # N, W, S, E


def scan(product: bytes) -> list:
    with tempfile.NamedTemporaryFile(suffix=".grib") as f:
        f.write(product)
        f.flush()
        return EccodesGribDecoder().scan(f.name)


def test_both_are_registered_by_name_with_the_cycles_of_their_partition():
    registry = default_registry()
    assert registry.get("cams-global-atmospheric-composition-forecasts") is GLOBAL and GLOBAL.cycles == (0, 12)
    assert registry.get("cams-global-reanalysis-eac4") is EAC4 and EAC4.cycles == (0, 3, 6, 9, 12, 15, 18, 21)
    assert "nitrogen_dioxide" in GLOBAL.definition().variables and GLOBAL.fixed_fields == {"type": ["forecast"]}


@pytest.mark.parametrize("now, last", [
    (datetime(2024, 8, 7, tzinfo=timezone.utc), date(2023, 12, 31)),  # the catalogue record's own date and end
    (datetime(2026, 1, 15, tzinfo=timezone.utc), date(2025, 6, 30)),
    (datetime(2025, 12, 31, 23, tzinfo=timezone.utc), date(2025, 6, 30)),
    (datetime(2026, 7, 2, tzinfo=timezone.utc), date(2025, 12, 31)),
    (datetime(2026, 7, 1, 23, 59, tzinfo=timezone.utc), date(2025, 6, 30)),
])
def test_the_eac4_horizon_is_a_half_year_end_at_least_six_months_back(now, last):
    assert eac4_until(now) == EAC4.available_until(now) == last
    assert (now.date() - last).days >= 183


def test_the_forecast_horizon_is_today_utc():
    assert GLOBAL.available_until(datetime(2026, 1, 15, 23, 30, tzinfo=timezone.utc)) == date(2026, 1, 15)


@pytest.mark.parametrize("profile, overrides, named", [
    (GLOBAL, {"time": ["06:00"]}, "time"),
    (GLOBAL, {"leadtime_hour": ["121"]}, "leadtime_hour"),
    (GLOBAL, {"model_level": ["138"]}, "model_level"),
    (GLOBAL, {"pressure_level": ["999"]}, "pressure_level"),
    (GLOBAL, {"type": ["analysis"]}, "type"),
    (GLOBAL, {"area": [10, 20, 30, 40]}, "area"),
    (GLOBAL, {"data_format": "netcdf"}, "data_format"),
    (EAC4, {"model_level": ["61"]}, "model_level"),
    (EAC4, {"time": ["01:00"]}, "time"),
    (EAC4, {"leadtime_hour": ["0"]}, "leadtime_hour"),
    (EAC4, {"type": ["analysis"]}, "type"),
])
def test_a_field_the_upstream_refuses_is_refused_naming_it(profile, overrides, named):
    with pytest.raises(InvalidInput, match=named):
        profile.check_request(overrides)


def test_numbers_come_back_as_the_strings_the_upstream_expects():
    assert GLOBAL.check_request({"pressure_level": [1000, 850], "model_level": 137, "leadtime_hour": [0, 120]}) == \
        {"pressure_level": ["1000", "850"], "model_level": "137", "leadtime_hour": ["0", "120"]}


def test_the_expected_set_is_the_request_intersected_with_what_each_variable_has():
    request = {"variable": ["particulate_matter_2.5um", "ozone"], "pressure_level": ["500", "1000"],
               "model_level": ["137"], "time": ["00:00", "12:00"], "leadtime_hour": [str(h) for h in range(7)],
               "type": ["forecast"], "date": ["2025-03-12/2025-03-12"]}
    keys, per_key = GLOBAL.expected_fields(request)
    pm = {(k.hour, k.level_type, k.level_m, k.step) for k in keys if k.variable == "particulate_matter_2.5um"}
    ozone = {(k.hour, k.level_type, k.level_m, k.step) for k in keys if k.variable == "ozone"}
    assert per_key == 1 and pm == {(h, "surface", 0, s) for h in (0, 12) for s in range(7)}
    assert ozone == {(h, t, lv, s) for h in (0, 12) for t, lv in (("pressure", 500), ("pressure", 1000),
                                                                  ("model", 137)) for s in (0, 3, 6)}
    eac4 = EAC4.expected_fields({"variable": ["ozone"], "pressure_level": ["1000"], "time": ["00:00", "21:00"],
                                 "date": ["2025-03-12/2025-03-12"]})[0]
    assert {(k.hour, k.step) for k in eac4} == {(0, 0), (21, 0)}


def test_the_synthetic_forecast_mixes_editions_as_the_upstream_does_and_is_deterministic():
    request = {"variable": ["particulate_matter_10um", "nitrogen_dioxide"], "pressure_level": ["1000"],
               "model_level": ["137"], "time": ["00:00", "12:00"], "leadtime_hour": ["0", "1", "2", "3"],
               "type": ["forecast"], "data_format": "grib", "date": ["2025-03-12/2025-03-12"], "area": BERLIN}
    product = GLOBAL.synthetic_product(request)
    assert product == GLOBAL.synthetic_product(request)
    headers = scan(product)
    assert {(m.edition, m.type_of_level) for m in headers} == {(1, "surface"), (1, "isobaricInhPa"), (2, "hybrid")}
    assert acceptance.check(request, headers, GLOBAL).ok
    grid = headers[0].grid
    assert (grid.lat0, grid.lon0, grid.ny, grid.nx) == (52.8, 13.0, 3, 4)
    assert acceptance.request_from_headers(headers, GLOBAL)["area"] == [52.8, 13.0, 52.0, 14.2]


def test_the_synthetic_eac4_is_grib1_analyses():
    request = {"variable": ["ozone"], "pressure_level": ["1000", "500"], "model_level": ["60"],
               "time": ["00:00", "03:00"], "data_format": "grib", "date": ["2003-01-01/2003-01-01"],
               "area": [60, -10, 50, 5]}
    headers = scan(EAC4.synthetic_product(request))
    assert {m.edition for m in headers} == {1} and {m.data_type for m in headers} == {"an"} and len(headers) == 6
    assert (headers[0].grid.dlat, headers[0].grid.nx) == (-0.75, 21)
    assert acceptance.check(request, headers, EAC4).ok


def test_an_unknown_variable_in_a_request_is_refused_not_ignored():
    with pytest.raises(InvalidInput, match="'no2_typo'"):
        GLOBAL.expected_fields({"variable": ["ozone", "no2_typo"], "pressure_level": ["1000"],
                                "date": ["2025-03-12/2025-03-12"]})


def test_a_synthetic_request_for_nothing_is_refused():
    with pytest.raises(InvalidInput, match="no field"):
        GLOBAL.synthetic_product({"variable": ["ozone"], "time": ["00:00"], "leadtime_hour": ["0"],
                                  "date": ["2025-03-12/2025-03-12"], "area": BERLIN})  # ozone without a level


@pytest.mark.parametrize("change, problem", [
    ({"centre": 85}, "centre 85"),
    ({"table2_version": 128, "indicator_of_parameter": 167}, "paramId 167) is not in the CAMS global variable table"),
    ({"level_type": 100, "type_of_level": "isobaricInhPa", "level": 1000}, "single-level variable"),
    ({"level_type": 100, "type_of_level": "isobaricInPa", "level": 50}, "level type 100 (isobaricInPa)"),
    ({"level_type": 103, "type_of_level": "heightAboveGround", "level": 2}, "level type 103"),
    ({"step_type": "accum"}, "step type 'accum'"),
    ({"reference_time": datetime(2025, 3, 12, 0, 30, tzinfo=timezone.utc)}, "not on the hour"),
])
def test_a_message_the_table_does_not_name_is_refused_naming_it_and_why(change, problem):
    from dataclasses import replace
    request = {"variable": ["particulate_matter_2.5um"], "time": ["00:00"], "leadtime_hour": ["0"],
               "type": ["forecast"], "date": ["2025-03-12/2025-03-12"], "area": BERLIN}
    message = scan(GLOBAL.synthetic_product(request))[0]
    assert GLOBAL.name_message(message).variable == "particulate_matter_2.5um"
    with pytest.raises(InvalidInput, match=r"message 1 \(") as err:
        GLOBAL.name_message(replace(message, **change))
    assert problem in str(err.value)


def test_licence_attribution_and_cf_attributes_name_the_cams_products_licence():
    for profile in (GLOBAL, EAC4):
        assert profile.licence.startswith("Licence to use Copernicus Products")
        assert profile.attribution(2003) == "Contains modified Copernicus Atmosphere Monitoring Service information 2003"
    assert GLOBAL.data_attributes("nitrogen_dioxide") == {
        "units": "kg kg-1", "long_name": "Nitrogen dioxide mass mixing ratio",
        "standard_name": "mass_fraction_of_nitrogen_dioxide_in_air"}
    assert "standard_name" not in EAC4.data_attributes("total_aerosol_optical_depth_550nm")


@pytest.mark.parametrize("asked", [[60, 350, 50, 365], [60, -370, 50, -355]])
def test_an_area_is_compared_modulo_360_an_area_asked_in_another_frame_is_the_same_area(asked):
    request = {"variable": ["ozone"], "pressure_level": ["1000"], "time": ["00:00"], "data_format": "grib",
               "date": ["2003-01-01/2003-01-01"], "area": [60, -10, 50, 5]}
    headers = scan(EAC4.synthetic_product(request))
    assert (headers[0].grid.lon0, headers[0].grid.nx) == (-10.0, 21)
    assert acceptance.check({**request, "area": asked}, headers, EAC4).ok
    # still refused when the meridians differ, in any frame
    shifted = acceptance.check({**request, "area": [asked[0], asked[1] + 30, asked[2], asked[3] + 30]}, headers, EAC4)
    assert not shifted.ok and "is not within the requested area" in shifted.reason


def test_an_area_across_the_antimeridian_is_accepted_for_the_grid_that_crosses_it():
    request = {"variable": ["ozone"], "pressure_level": ["1000"], "time": ["00:00"], "data_format": "grib",
               "date": ["2003-01-01/2003-01-01"], "area": [60, 169.5, 50, 190.5]}  # points of the 0.75 grid
    headers = scan(EAC4.synthetic_product(request))
    g = headers[0].grid
    assert (g.lon0, g.lon(g.nx - 1)) == (169.5, 190.5)
    for area in ([60, 169.5, 50, -169.5], [60, -190.5, 50, -169.5], [60, 169.5, 50, 190.5]):
        assert acceptance.check({**request, "area": area}, headers, EAC4).ok, area
    short = acceptance.check({**request, "area": [60, 169.5, 50, -160]}, headers, EAC4)
    assert not short.ok and "does not cover the requested area" in short.reason
    whole = acceptance.check({**request, "area": [60, 0, 50, 360]}, headers, EAC4)
    assert not whole.ok and "does not cover the requested area" in whole.reason
