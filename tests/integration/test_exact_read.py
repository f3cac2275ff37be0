"""Reads answer exactly what was asked, or refuse naming the problem (issue 6): boxes between grid nodes or
outside the data, points, windows between lead times, missing variables, several reference times (no invented
values: `present`), provenance and licence over two runs and two years. Values are checked against ecCodes'
own decode of the same window."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest

from jackfruit.domain.errors import NotFound
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.sources.cams_europe.synthetic import fields, write_cams_grib

from ..helpers import bits, ecc_reference, memory_app

CAMS = "cams-europe-air-quality-forecasts"
D1, D2 = date(2021, 12, 31), date(2022, 1, 1)
AREA = (49.95, 0.05, 40.05, 9.95)  # N, W, S, E: points 0.05..9.95 x 40.05..49.95
T1 = datetime(2021, 12, 31, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("exact")
    first, second = root / "d1.grib", root / "d2.grib"
    write_cams_grib(first, fields([D1], ["ensemble"], ["ozone"], [0], [0, 3, 24, 27]), area=AREA)
    write_cams_grib(second, fields([D2], ["ensemble"], ["ozone"], [0], [0, 1]), area=AREA)
    bodies = {D1: first.read_bytes(), D2: second.read_bytes()}
    app = memory_app(lambda d, r: bodies[date.fromisoformat(r["date"][0][:10]) if isinstance(r["date"], list)
                                         else date.fromisoformat(str(r["date"])[:10])])
    runs = []
    for day, path in ((D1, first), (D2, second)):
        run = app.land(path, dataset=CAMS, partition_date=day)  # the request read from the file: accepted
        app.transform(run.run_id)
        runs.append(run)
    ref = {(m["dataDate"], m["step"]): m["values"] for p in (first, second) for m in ecc_reference(p)}
    return app, runs, ref


def span(h0, h1):
    return TimeRange(T1 + timedelta(hours=h0), T1 + timedelta(hours=h1))


def test_a_point_selects_the_nearest_grid_point_and_says_which(world):
    app, _, ref = world
    ds = app.read(BBox(2.33, 48.87, 2.33, 48.87), span(0, 1), ["ozone"])
    assert (float(ds.longitude[0]), float(ds.latitude[0])) == (2.35, 48.85)
    j, i = round((49.95 - 48.85) / 0.1), round((2.35 - 0.05) / 0.1)
    assert bits(ds["ozone"].values[0, 0, 0, 0]) == bits(ref[(20211231, 0)][j, i])


def test_a_box_selects_the_points_inside_edges_included_bit_exact(world):
    app, _, ref = world
    ds = app.read(BBox(1.05, 41.05, 1.35, 41.25), span(3, 4), ["ozone"])
    assert list(ds.longitude.values) == [1.05, 1.15, 1.25, 1.35] and list(ds.latitude.values) == [41.25, 41.15, 41.05]
    rows = [round((49.95 - y) / 0.1) for y in ds.latitude.values]
    cols = [round((x - 0.05) / 0.1) for x in ds.longitude.values]
    assert (bits(ds["ozone"].values[0, 0]) == bits(ref[(20211231, 3)][np.ix_(rows, cols)])).all()


def test_a_box_between_grid_nodes_is_not_found_naming_the_nearest_point(world):
    app, _, _ = world
    with pytest.raises(NotFound, match=r"nearest grid point is lon=2\.35, lat=48\.85"):
        app.read(BBox(2.31, 48.81, 2.34, 48.84), span(0, 1), ["ozone"])


def test_outside_the_data_but_inside_its_old_10_degree_cell_finds_nothing(world):
    app, _, _ = world
    box = BBox(0.0, 40.0, 0.04, 49.0)  # west of the westernmost points (0.05), less than half a step away
    assert app.find_tiles(BBox(-5, 40, -0.06, 49), span(0, 1)) == []
    with pytest.raises(NotFound):
        app.read(BBox(-5, 40, -0.06, 49), span(0, 1), ["ozone"])
    assert len(app.find_tiles(box, span(0, 1))) == 1  # inside the extent (half a step around the points) ...
    with pytest.raises(NotFound, match=r"nearest grid point is lon=0\.05"):  # ... but no point inside the box
        app.read(box, span(0, 1), ["ozone"])


def test_a_window_between_lead_times_is_not_found_naming_the_nearest_valid_times(world):
    app, _, _ = world
    with pytest.raises(NotFound, match=r"latest before is 2021-12-31T00:00:00\+00:00; the earliest after is "
                                       r"2021-12-31T03:00:00\+00:00"):
        app.read(BBox(2, 45, 3, 46), span(1, 3), ["ozone"])


def test_a_missing_variable_is_named(world):
    app, _, _ = world
    with pytest.raises(NotFound, match=r"\['nitrogen_dioxide'\]"):
        app.read(BBox(2, 45, 3, 46), span(0, 1), ["ozone", "nitrogen_dioxide"])


def test_two_reference_times_forecast_layout_invents_nothing(world):
    app, runs, ref = world
    ds = app.read(BBox(2.35, 48.85, 2.35, 48.85), span(0, 48), ["ozone"])
    assert list(ds.step.values) == [0, 1, 3, 24, 27]
    present = ds["present"].sel(variable="ozone").values
    assert present.tolist() == [[True, False, True, True, True], [True, True, False, False, False]]
    values = ds["ozone"].values[:, :, 0, 0]
    assert np.isnan(values[~present]).all() and np.isfinite(values[present]).all()
    # valid times are frt + step everywhere, never NaT
    assert not np.isnat(ds["valid_time"].values).any()
    # provenance and licence of both runs and both years survive
    assert [s["run_id"] for s in ds.attrs["jackfruit_sources"]] == sorted(r.run_id for r in runs)
    assert {s["raw_sha256"] for s in ds.attrs["jackfruit_sources"]} == {r.raw_sha256 for r in runs}
    assert "information 2021" in ds.attrs["attribution"] and "information 2022" in ds.attrs["attribution"]
    assert "Copernicus" in ds.attrs["license"]


def test_valid_time_layout_takes_the_newest_forecast_for_each_valid_time(world):
    app, _, ref = world
    ds = app.read(BBox(2.35, 48.85, 2.35, 48.85), span(0, 48), ["ozone"], layout="valid_time")
    hours = [(t - np.datetime64("2021-12-31T00:00")) // np.timedelta64(1, "h") for t in ds.valid_time.values]
    assert hours == [0, 3, 24, 25, 27]
    newest = [(t - np.datetime64("2021-12-31T00:00")) // np.timedelta64(1, "h")
              for t in ds.forecast_reference_time.values]
    assert newest == [0, 0, 24, 24, 0]  # 24 h: the 2022-01-01 run's step 0 replaces the 2021 run's step 24
    assert ds["present"].sel(variable="ozone").values.all()
    j, i = round((49.95 - 48.85) / 0.1), round((2.35 - 0.05) / 0.1)
    assert bits(ds["ozone"].values[2, 0, 0]) == bits(ref[(20220101, 0)][j, i])
