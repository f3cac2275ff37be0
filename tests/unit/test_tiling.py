"""Tile planning: cells cover the grid exactly, messages map to tiles exactly once, bad files are refused whole."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings, strategies as st

from jackfruit.domain.errors import InvalidInput
from jackfruit.domain.geo import BBox
from jackfruit.domain.tiling import GribMessage, RegularGrid, grid_extent, grid_id, plan_cells, plan_tiles
from jackfruit.sources.cams_europe import PROFILE

CAMS_GRID = RegularGrid(71.95, -24.95, -0.1, 0.1, 420, 700)
REF = datetime(2025, 3, 12, tzinfo=timezone.utc)


def msg(index: int, **kw) -> GribMessage:
    base = dict(index=index, offset=index * 100, length=100, edition=2, centre=85, sub_centre=2, discipline=0,
                category=20, number=0, constituent_type=0, template=40, level_type=1, level=0, reference_time=REF,
                step_hours=index, grid_type="regular_ll", grid=CAMS_GRID)
    base.update(kw)
    return GribMessage(**base)


def test_cams_grid_is_one_tile_whose_extent_is_half_a_step_around_its_points():
    (cell,) = plan_cells(CAMS_GRID)
    assert (cell.rows, cell.cols) == ((0, 420), (0, 700))
    assert cell.bbox.as_tuple() == (-25.0, 30.0, 45.0, 72.0)  # points -24.95..44.95 x 30.05..71.95
    assert cell.cell_id == grid_id(CAMS_GRID) and cell.cell_id.startswith("grid420x700-")


grids = st.builds(
    lambda lat0, lon0, dlat, dlon, ny, nx: RegularGrid(lat0, lon0, -dlat, dlon, ny, nx),
    lat0=st.integers(-600, 900).map(lambda v: v / 10), lon0=st.integers(-1800, 1000).map(lambda v: v / 10),
    dlat=st.sampled_from([0.1, 0.25, 0.5, 1.0, 2.5]), dlon=st.sampled_from([0.1, 0.25, 0.5, 1.0, 2.5]),
    ny=st.integers(1, 60), nx=st.integers(1, 60),
).filter(lambda g: g.lat(g.ny - 1) >= -90 and g.lon(g.nx - 1) <= 180)


@settings(max_examples=200, deadline=None)
@given(grids)
def test_the_extent_holds_every_point_with_half_a_step_to_spare_and_no_more(grid):
    (cell,) = plan_cells(grid)
    assert (cell.rows, cell.cols) == ((0, grid.ny), (0, grid.nx))
    lats = [grid.lat(j) for j in range(grid.ny)]
    lons = [grid.lon(i) for i in range(grid.nx)]
    b = cell.bbox
    assert b.west == max(-180, round(min(lons) - abs(grid.dlon) / 2, 6))
    assert b.east == min(180, round(max(lons) + abs(grid.dlon) / 2, 6))
    assert b.south == max(-90, round(min(lats) - abs(grid.dlat) / 2, 6))
    assert b.north == min(90, round(max(lats) + abs(grid.dlat) / 2, 6))
    assert all(b.contains_point(x, y) for x in lons for y in lats)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["ensemble", "chimere", "emep"]),
                          st.sampled_from([(0, 0), (0, 5), (0, 40009), (59, 62201)]),
                          st.sampled_from([0, 50]), st.integers(0, 96)), min_size=1, max_size=40, unique=True))
def test_each_message_lands_in_exactly_one_group_at_its_step(fields):
    from jackfruit.sources.cams_europe.codes import MODELS

    messages = []
    for n, (model, (number, ctype), level, step) in enumerate(fields):
        centre, sub = MODELS[model]
        messages.append(msg(n, centre=centre, sub_centre=sub, number=number, constituent_type=ctype,
                            level_type=1 if level == 0 else 103, level=level, step_hours=step))
    groups = plan_tiles(messages, PROFILE.name_message)
    placed = sorted(i for g in groups for i in g.message_indices)
    assert placed == list(range(len(messages)))
    for g in groups:
        assert list(g.steps) == sorted(g.steps)
        assert [messages[i].step_hours for i in g.message_indices] == list(g.steps)


def test_duplicate_fields_are_refused_naming_both_messages():
    with pytest.raises(InvalidInput, match=r"message 1 .* and message 2 .*duplicate"):
        plan_tiles([msg(0, step_hours=3), msg(1, step_hours=3)], PROFILE.name_message)


def test_unknown_species_and_model_are_named_never_unknown():
    with pytest.raises(InvalidInput) as err:
        plan_tiles([msg(0), msg(1, constituent_type=99999), msg(2, centre=7, sub_centre=0)], PROFILE.name_message)
    text = str(err.value)
    assert "message 2" in text and "constituentType 99999" in text
    assert "message 3" in text and "centre 7" in text
    assert "nothing converted" in text


def test_other_grids_levels_and_editions_are_refused():
    for bad, words in ((dict(grid=None, grid_type="lambert"), "lambert"), (dict(level_type=105), "level type 105"),
                       (dict(edition=1), "edition 1"), (dict(template=0), "template 0")):
        with pytest.raises(InvalidInput, match=words):
            plan_tiles([msg(0, **bad)], PROFILE.name_message)


def test_mixed_grids_within_one_tile_are_refused():
    other = replace(CAMS_GRID, ny=10)
    with pytest.raises(InvalidInput, match="mixes grids"):
        plan_tiles([msg(0), msg(1, grid=other)], PROFILE.name_message)


@pytest.mark.parametrize("bad", [dict(edition=1), dict(template=0), dict(number=99), dict(centre=7),
                                 dict(level_type=105), dict(reference_time=REF.replace(minute=30))])
def test_planning_and_acceptance_name_messages_by_one_rule(bad):
    """A message acceptance cannot name is refused by planning for the same reason (the profile's name_message)."""
    from jackfruit.domain import acceptance

    m = msg(0, **bad)
    with pytest.raises(InvalidInput) as named:
        PROFILE.name_message(m)
    with pytest.raises(InvalidInput) as accepted:
        acceptance.request_from_headers([m], PROFILE)
    assert str(named.value) in str(accepted.value)
    with pytest.raises(InvalidInput) as planned:
        plan_tiles([m], PROFILE.name_message)
    assert str(named.value) in str(planned.value)


# -- grids in 0..360 and across the antimeridian: the extent is given in -180..180 ------------------------------
@pytest.mark.parametrize("grid, extent", [
    (RegularGrid(90.0, 0.0, -0.4, 0.4, 451, 900), (-180.0, -90.0, 180.0, 90.0)),  # 0.4 deg global, 0..359.6
    (RegularGrid(90.0, 0.0, -0.75, 0.75, 241, 480), (-180.0, -90.0, 180.0, 90.0)),  # EAC4, 0..359.25
    (RegularGrid(90.0, -180.0, -0.4, 0.4, 451, 900), (-180.0, -90.0, 180.0, 90.0)),  # -180..179.6 goes round
    (RegularGrid(10.0, 170.0, -1.0, 1.0, 21, 21), (-180.0, -10.5, 180.0, 10.5)),  # 170..190: crosses, the band
    (RegularGrid(10.0, 100.0, -1.0, 1.0, 21, 21), (99.5, -10.5, 120.5, 10.5)),  # 0..360 file, inside 0..180
])
def test_extent_of_grids_reaching_past_180(grid, extent):
    assert grid_extent(grid).as_tuple() == extent


@st.composite
def any_frame_grids(draw):
    dlon = draw(st.sampled_from([0.1, 0.25, 0.4, 0.75, 1.0, 2.5]))
    nx = draw(st.integers(1, int(round(360 / dlon))))
    return RegularGrid(draw(st.integers(-800, 800)) / 10, draw(st.integers(-1800, 1799)) / 10, -0.5, dlon,
                       draw(st.integers(1, 20)), nx)


@settings(max_examples=300, deadline=None)
@given(any_frame_grids(), st.data())
def test_every_point_of_any_grid_is_inside_its_extent_as_a_180_longitude(grid, data):
    extent = grid_extent(grid)
    assert not extent.crosses_antimeridian  # what a catalog stores
    i = data.draw(st.integers(0, grid.nx - 1))
    j = data.draw(st.integers(0, grid.ny - 1))
    assert extent.contains_point(grid.lon(i), grid.lat(j))
    lon = (grid.lon(i) + 180) % 360 - 180
    assert BBox(lon, grid.lat(j), lon, grid.lat(j)).intersects(extent)  # a point box finds its tile


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["ozone", "dust"]), st.integers(0, 71)), min_size=1, max_size=40,
                unique=True))
def test_analyses_make_one_tile_per_field_and_utc_day_each_message_once_at_its_time(fields):
    """The ``analysis_time`` axis: analyses at lead time 0 of three days group per (field, day); each message is in
    exactly one group, at the hour of its analysis time from the day's 00 UTC (``time_entries`` gives it back)."""
    from datetime import timedelta

    from jackfruit.domain.tiling import ANALYSIS_TIME
    from jackfruit.sources.cams_europe.codes import SPECIES_BY_NAME
    from jackfruit.sources.cams_europe_analysis import PROFILE as ANALYSES

    messages = []
    for n, (variable, hour) in enumerate(fields):
        species = SPECIES_BY_NAME[variable]
        number, ctype = species.parameter_number, species.constituent_type
        messages.append(msg(n, number=number, constituent_type=ctype, step_hours=0,
                            reference_time=REF + timedelta(hours=hour)))
    groups = plan_tiles(messages, ANALYSES.name_message, ANALYSES.time_axis)
    assert ANALYSES.time_axis == ANALYSIS_TIME
    assert sorted(i for g in groups for i in g.message_indices) == list(range(len(messages)))
    assert len(groups) == len({(v, h // 24) for v, h in fields})
    for g in groups:
        assert g.reference_time.hour == 0 and g.time_axis == ANALYSIS_TIME and list(g.steps) == sorted(g.steps)
        assert [e for e in g.entries()] == [(messages[i].reference_time, 0) for i in g.message_indices]
        assert g.valid_start == messages[g.message_indices[0]].reference_time


def test_an_analysis_dataset_refuses_a_lead_time_and_a_duplicate_analysis_naming_the_messages():
    from datetime import timedelta

    from jackfruit.sources.cams_europe_analysis import PROFILE as ANALYSES

    with pytest.raises(InvalidInput, match=r"message 1 .*lead time 3 h in a dataset of analyses"):
        plan_tiles([msg(0, step_hours=3)], ANALYSES.name_message, ANALYSES.time_axis)
    later = REF + timedelta(hours=5)
    with pytest.raises(InvalidInput, match=r"message 1 .* and message 2 .*analysis time 2025-03-12T05:00.*duplicate"):
        plan_tiles([msg(0, step_hours=0, reference_time=later), msg(1, step_hours=0, reference_time=later)],
                   ANALYSES.name_message, ANALYSES.time_axis)
    with pytest.raises(InvalidInput, match="time axis 'hourly' is not one of"):
        plan_tiles([msg(0)], PROFILE.name_message, "hourly")


def test_small_tiles_are_written_more_at_once_big_grids_two():
    from jackfruit.domain.tiling import TileGroup
    from jackfruit.usecases.transform import MAX_TILES_AT_ONCE, tiles_at_once

    def group(ny: int, nx: int, steps: int) -> TileGroup:
        return TileGroup("m", "v", 0, REF, RegularGrid(90, 0, -1, 1, ny, nx), tuple(range(steps)), tuple(range(steps)))

    from jackfruit.adapters.transform.zarr_tiles import ZarrTileFormat

    depth = ZarrTileFormat().slab_depth
    assert depth == 16  # the zarr tiles' shard depth
    assert tiles_at_once([group(420, 700, 97)], depth) == 2  # CAMS Europe forecasts
    assert tiles_at_once([group(451, 900, 121)], depth) == 2  # CAMS global, 0.4 degree
    assert tiles_at_once([group(241, 480, 8)] * 76, depth) == MAX_TILES_AT_ONCE  # a day of EAC4 analyses
    assert tiles_at_once([group(241, 480, 8), group(420, 700, 24)], depth) == 2  # the biggest decides
    assert tiles_at_once([group(241, 480, 8)] * 76, 1) == MAX_TILES_AT_ONCE  # thinner slabs: more tiles at once
    assert tiles_at_once([group(420, 700, 97)], 4) == MAX_TILES_AT_ONCE  # 8 by the values, capped
