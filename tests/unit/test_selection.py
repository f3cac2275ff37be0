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
