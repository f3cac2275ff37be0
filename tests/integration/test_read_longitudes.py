"""Longitudes as each file has them, answered for boxes given in -180..180 (issue 19): a global 0..360 grid and
a global -180..180 grid are landed, tiled and read back for a plain box, a box across 0 and boxes across the
antimeridian. Values are bit-exact against ecCodes' own decode of the same file; longitudes come back in the
box's frame (ascending from its west edge: past 180 for a box across the antimeridian), each one the file's
grid longitude plus whole turns; latitudes north to south."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import eccodes
import numpy as np
import pytest

from jackfruit.domain.errors import NotFound
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.sources.cams_europe.synthetic import fields, write_cams_grib

from ..helpers import bits, ecc_reference, memory_app

CAMS = "cams-europe-air-quality-forecasts"
D360, D180, COARSE = date(2024, 1, 10), date(2024, 1, 11), date(2024, 1, 12)  # one day on each grid
AREAS = {D360: (90.0, 0.0, -90.0, 359.0), D180: (90.0, -180.0, -90.0, 179.0),  # N, W, S, E; 1 degree
         COARSE: (90.0, -180.0, -90.0, 170.0)}  # 10 degrees: 36 columns, fewer than one chunk is wide
STEPS = {D360: 1.0, D180: 1.0, COARSE: 10.0}


def _file_coordinates(path) -> tuple[np.ndarray, np.ndarray]:
    """The file's own latitudes (rows) and longitudes (columns), as ecCodes gives them."""
    with open(path, "rb") as f:
        h = eccodes.codes_grib_new_from_file(f)
    try:
        ni, nj = eccodes.codes_get(h, "Ni"), eccodes.codes_get(h, "Nj")
        lats = eccodes.codes_get_array(h, "latitudes").reshape(nj, ni)[:, 0]
        lons = eccodes.codes_get_array(h, "longitudes").reshape(nj, ni)[0]
    finally:
        eccodes.codes_release(h)
    return lats, lons


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("longitudes")
    paths = {day: root / f"{day}.grib" for day in AREAS}
    for day, path in paths.items():
        write_cams_grib(path, fields([day], ["ensemble"], ["ozone"], [0], [0, 1]), area=AREAS[day], step=STEPS[day])
    bodies = {day: p.read_bytes() for day, p in paths.items()}
    app = memory_app(lambda d, r: bodies[date.fromisoformat(str(r["date"][0] if isinstance(r["date"], list)
                                                                     else r["date"])[:10])])
    for day, path in paths.items():
        run = app.land(path, dataset=CAMS, partition_date=day)
        app.transform(run.run_id)
    ref = {m["dataDate"]: m["values"] for p in paths.values() for m in ecc_reference(p) if m["step"] == 0}
    coords = {day: _file_coordinates(p) for day, p in paths.items()}
    return app, ref, coords


def _read(world, day: date, box: BBox):
    app, ref, coords = world
    t0 = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    ds = app.read(box, TimeRange(t0, t0 + timedelta(hours=1)), ["ozone"])
    lats, lons = coords[day]
    return ds, ref[int(day.strftime("%Y%m%d"))], lats, lons


def _check(ds, values, file_lats, file_lons, box: BBox):
    """Bit-exact values under each coordinate, each coordinate a file's grid point (longitude: plus turns)."""
    got_lons, got_lats = ds.longitude.values, ds.latitude.values
    assert all(np.diff(got_lons) > 0) and all(np.diff(got_lats) < 0)  # ascending east, north to south
    assert got_lons[0] >= box.west and got_lons[-1] <= box.west + box.width  # the box's frame
    cols = [int(np.flatnonzero((file_lons - x) % 360 == 0)[0]) for x in got_lons]  # the file's column
    rows = [int(np.flatnonzero(file_lats == y)[0]) for y in got_lats]
    assert all(((x - file_lons[i]) / 360).is_integer() for x, i in zip(got_lons, cols))
    assert (bits(ds["ozone"].values[0, 0]) == bits(values[np.ix_(rows, cols)])).all()
    return cols


def test_a_plain_box_on_a_0_360_grid(world):
    ds, values, lats, lons = _read(world, D360, BBox(10, 40, 20, 50))
    cols = _check(ds, values, lats, lons, BBox(10, 40, 20, 50))
    assert list(ds.longitude.values) == list(range(10, 21)) and cols == list(range(10, 21))
    assert list(ds.latitude.values) == list(range(50, 39, -1))


def test_a_box_across_0_on_a_0_360_grid(world):
    box = BBox(-5, -3, 5, 3)
    ds, values, lats, lons = _read(world, D360, box)
    cols = _check(ds, values, lats, lons, box)
    assert list(ds.longitude.values) == list(range(-5, 6))
    assert cols == [355, 356, 357, 358, 359, 0, 1, 2, 3, 4, 5]  # the file's last columns, then its first


@pytest.mark.parametrize("day", [D360, D180])
def test_a_box_across_the_antimeridian(world, day):
    box = BBox(175, -3, -175, 3)
    ds, values, lats, lons = _read(world, day, box)
    cols = _check(ds, values, lats, lons, box)
    assert list(ds.longitude.values) == list(range(175, 186))  # west..east + 360
    assert cols == (list(range(175, 186)) if day == D360 else list(range(355, 360)) + list(range(0, 6)))


@pytest.mark.parametrize("day", [D360, D180])
def test_the_whole_band_gives_each_meridian_once_in_minus_180_180(world, day):
    box = BBox(-180, -1, 180, 1)
    ds, values, lats, lons = _read(world, day, box)
    _check(ds, values, lats, lons, box)
    assert list(ds.longitude.values) == list(range(-180, 180))


@pytest.mark.parametrize("day", [D360, D180])
def test_a_point_on_the_antimeridian(world, day):
    box = BBox(180, 0, 180, 0)
    ds, values, lats, lons = _read(world, day, box)
    _check(ds, values, lats, lons, box)
    assert list(ds.longitude.values) == [180.0] and list(ds.latitude.values) == [0.0]


def test_both_runs_of_columns_in_one_chunk(world):
    box = BBox(165, -5, -165, 5)  # columns 35, then 0 and 1: one stored chunk holds all three
    ds, values, lats, lons = _read(world, COARSE, box)
    assert _check(ds, values, lats, lons, box) == [35, 0, 1]
    assert list(ds.longitude.values) == [170.0, 180.0, 190.0] and list(ds.latitude.values) == [0.0]


def test_the_catalog_finds_a_global_tile_for_any_box(world):
    app, _, _ = world
    t0 = datetime(2024, 1, 10, tzinfo=timezone.utc)
    span = TimeRange(t0, t0 + timedelta(days=2))  # the two 1 degree grids
    for box in (BBox(175, -3, -175, 3), BBox(-179, 89, -178, 90), BBox(100, -90, 100, -90)):
        assert {t.bbox.as_tuple() for t in app.find_tiles(box, span)} == {(-180.0, -90.0, 180.0, 90.0)}
    with pytest.raises(NotFound):  # a box on no grid point of either grid
        app.read(BBox(175.2, -3, 175.8, 3), TimeRange(t0, t0 + timedelta(hours=1)), ["ozone"])


@pytest.mark.parametrize("area, step, grid", [
    ((90.0, 0.0, -90.0, 359.6), 0.4, (0.0, 0.4, 900)),  # 0..360 as the file has it
    ((10.0, 170.0, -10.0, 190.0), 1.0, (170.0, 1.0, 21)),  # across the antimeridian: 170..190
    ((50.0, 335.0, 40.0, 345.0), 1.0, (-25.0, 1.0, 11)),  # within -180..180: brought there, as before
    ((90.0, 0.0, -90.0, 360.0), 1.0, None),  # 361 columns: the meridian 0 twice, refused
])
def test_the_decoder_keeps_the_file_s_longitudes(tmp_path, area, step, grid):
    from jackfruit.adapters.transform.eccodes_decoder import EccodesGribDecoder

    path = tmp_path / "grid.grib"
    write_cams_grib(path, fields([D360], ["ensemble"], ["ozone"], [0], [0]), area=area, step=step)
    (msg,) = EccodesGribDecoder().scan(str(path))
    if grid is None:
        assert msg.grid is None and "repeating a meridian" in msg.grid_type
    else:
        assert (msg.grid.lon0, msg.grid.dlon, msg.grid.nx) == grid
