"""The read's selection rules and layouts (jackfruit.domain.selection), against brute force."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st

from jackfruit.domain.errors import NotFound
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.selection import (forecast_layout, select_steps, select_window, valid_time_layout)
from jackfruit.domain.tiling import RegularGrid

GRID = RegularGrid(49.95, 0.05, -0.1, 0.1, 100, 100)  # points 0.05..9.95 x 40.05..49.95
T0 = datetime(2025, 3, 12, tzinfo=timezone.utc)
coord = st.integers(-20, 1020).map(lambda v: v / 100)  # lon 0..10 area, hundredths of a degree


@settings(max_examples=300, deadline=None)
@given(coord, coord, coord, coord)
def test_a_box_with_area_selects_exactly_the_points_inside_edges_included(a, b, c, d):
    w, e = sorted((a, b))
    s, n = sorted((c + 40, d + 40))
    if w == e or s == n:
        return
    box = BBox(w, s, e, n)
    inside_rows = [j for j in range(GRID.ny) if s <= GRID.lat(j) <= n]
    inside_cols = [i for i in range(GRID.nx) if w <= GRID.lon(i) <= e]
    if not inside_rows or not inside_cols:
        with pytest.raises(NotFound, match="nearest grid point is lon="):
            select_window(GRID, box)
        return
    win = select_window(GRID, box)
    assert list(range(*win.rows)) == inside_rows and list(range(*win.cols)) == inside_cols


@settings(max_examples=300, deadline=None)
@given(coord, coord)
def test_a_point_selects_the_nearest_grid_point_or_none_beyond_half_a_step(x, y):
    y += 40
    win = None
    try:
        win = select_window(GRID, BBox(x, y, x, y))
    except NotFound:
        pass
    best_i = min(range(GRID.nx), key=lambda i: abs(GRID.lon(i) - x))
    best_j = min(range(GRID.ny), key=lambda j: abs(GRID.lat(j) - y))
    near = abs(GRID.lon(best_i) - x) <= 0.05 + 1e-9 and abs(GRID.lat(best_j) - y) <= 0.05 + 1e-9
    assert (win is not None) == near
    if win:
        assert abs(GRID.lon(win.cols[0]) - x) == abs(GRID.lon(best_i) - x)
        assert abs(GRID.lat(win.rows[0]) - y) == abs(GRID.lat(best_j) - y)
        assert win.cols[1] - win.cols[0] == win.rows[1] - win.rows[0] == 1


def test_between_grid_nodes_is_not_found_naming_the_nearest_point():
    with pytest.raises(NotFound, match=r"nearest grid point is lon=2\.35, lat=48\.85"):
        select_window(GRID, BBox(2.31, 48.81, 2.34, 48.84))


@given(st.lists(st.integers(0, 96), min_size=1, unique=True).map(sorted), st.integers(-5, 100), st.integers(1, 12))
def test_lead_times_in_a_window_are_those_whose_valid_time_is_inside(steps, start, length):
    span = TimeRange(T0 + timedelta(hours=start), T0 + timedelta(hours=start + length))
    want = [k for k, s in enumerate(steps) if start <= s < start + length]
    got = select_steps(T0, steps, span)
    assert (list(range(*got)) if got else []) == want


def _available(items) -> dict:
    out: dict = {}
    for v, r, s in items:
        out.setdefault(v, set()).add((T0 + timedelta(hours=24 * r), s))
    return out


pairs = st.lists(st.tuples(st.sampled_from(["ozone", "dust"]), st.integers(0, 3), st.integers(0, 30)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(pairs)
def test_forecast_layout_marks_present_exactly_where_a_message_exists(items):
    available = _available(items)
    fl = forecast_layout(available)
    for v in available:
        for ref in fl.reference_times:
            for s in fl.steps:
                assert fl.is_present(v, ref, s) == ((ref, s) in available[v])
    assert set(fl.steps) == {s for ps in available.values() for _, s in ps}


@settings(max_examples=200, deadline=None)
@given(pairs)
def test_valid_time_layout_takes_the_newest_forecast_covering_each_valid_time(items):
    available = _available(items)
    vl = valid_time_layout(available)
    covering: dict = {}
    for ps in available.values():
        for ref, s in ps:
            covering.setdefault(ref + timedelta(hours=s), set()).add(ref)
    assert list(vl.valid_times) == sorted(covering)
    for vt, ref in zip(vl.valid_times, vl.source):
        assert ref == max(covering[vt])
        for v, ps in available.items():
            assert (vt in vl.present[v]) == ((ref, int((vt - ref).total_seconds() // 3600)) in ps)


# -- longitudes round the globe: 0..360 grids, boxes across the antimeridian -------------------------------------
@st.composite
def any_frame_grids(draw):
    """Grids as the decoder gives them: ``lon0`` in -180..180, eastwards, less than a turn (0..360 grids,
    grids across the antimeridian, global ones)."""
    dlon = draw(st.sampled_from([0.1, 0.25, 0.4, 0.5, 0.75, 1.0, 2.5, 10.0]))
    nx = draw(st.integers(1, min(400, int(round(360 / dlon)))))
    lon0 = draw(st.integers(-1800, 1799)).__truediv__(10)
    return RegularGrid(10.0, lon0, -1.0, dlon, 5, nx)


box_lon = st.integers(-720, 720).map(lambda q: q / 4)


@settings(max_examples=500, deadline=None)
@given(any_frame_grids(), box_lon, box_lon)
def test_a_box_selects_each_meridian_inside_it_once_ascending_in_its_frame(grid, west, east):
    box = BBox(west, 6.0, east, 8.0)  # west > east: across the antimeridian
    expected = {i for i in range(grid.nx) if box.contains_point(grid.lon(i), 7.0)}
    if box.width == 0:  # a line: the nearest column (tested with points below)
        return
    if not expected:
        with pytest.raises(NotFound, match="nearest grid point is lon="):
            select_window(grid, box)
        return
    win = select_window(grid, box)
    chosen = [i for r in win.runs for i in range(r.i0, r.i1)]
    lons = win.lons(grid)
    assert sorted(chosen) == sorted(expected) and len(chosen) == len(set(chosen))
    assert lons == sorted(lons) and len(set(lons)) == len(lons)
    assert all(west - 1e-9 <= x <= west + box.width + 1e-9 for x in lons)  # the box's frame
    assert all(abs((x - grid.lon(i)) / 360 - round((x - grid.lon(i)) / 360)) < 1e-9 for x, i in zip(lons, chosen))
    assert len(win.runs) <= 2


GLOBAL_0_360 = RegularGrid(90.0, 0.0, -0.4, 0.4, 451, 900)  # 0..359.6


@pytest.mark.parametrize("grid, box, first, last, n", [
    (GLOBAL_0_360, (170, -10, -170, 10), 170.0, 190.0, 51),  # across the antimeridian: one run on 0..360
    (GLOBAL_0_360, (-10, -10, 10, 10), -10.0, 10.0, 51),  # across 0: two runs (350..359.6, 0..10)
    (GLOBAL_0_360, (-180, -10, 180, 10), -180.0, 179.6, 900),  # the whole band: each meridian once
    (GLOBAL_0_360, (179.6, -10, 179.6, 10), 179.6, 179.6, 1),
    (RegularGrid(90.0, -180.0, -0.4, 0.4, 451, 900), (170, -10, -170, 10), 170.0, 190.0, 51),  # two runs
    (RegularGrid(90.0, -180.0, -0.4, 0.4, 451, 900), (179.9, -10, 179.9, 10), 180.0, 180.0, 1),  # -180 is 180
])
def test_global_grids_answer_boxes_in_their_frame(grid, box, first, last, n):
    lons = select_window(grid, BBox(*box)).lons(grid)
    assert (lons[0], lons[-1], len(lons)) == (first, last, n)
    assert all(b > a for a, b in zip(lons, lons[1:]))


def test_a_crossing_box_between_grid_nodes_names_the_nearest_point_across_the_meridian():
    grid = RegularGrid(90.0, 5.0, -10.0, 10.0, 19, 36)  # 5..355: 175 and 185 either side of the meridian
    with pytest.raises(NotFound, match=r"nearest grid point is lon=185\.0, lat=0\.0"):  # the box is 176.5..184.5
        select_window(grid, BBox(176.5, -1, -175.5, 1))
