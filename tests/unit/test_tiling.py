"""Tile planning: cells cover the grid exactly, messages map to tiles exactly once, bad files are refused whole."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from jackfruit.domain.errors import InvalidInput
from jackfruit.domain.tiling import CELL_DEG, GribMessage, RegularGrid, plan_cells, plan_tiles

CAMS_GRID = RegularGrid(71.95, -24.95, -0.1, 0.1, 420, 700)
REF = datetime(2025, 3, 12, tzinfo=timezone.utc)


def msg(index: int, **kw) -> GribMessage:
    base = dict(index=index, offset=index * 100, length=100, edition=2, centre=85, sub_centre=2, discipline=0,
                category=20, number=0, constituent_type=0, template=40, level_type=1, level=0, reference_time=REF,
                step_hours=index, grid_type="regular_ll", grid=CAMS_GRID)
    base.update(kw)
    return GribMessage(**base)


def test_cams_grid_splits_into_40_cells_of_at_most_100x100():
    cells = plan_cells(CAMS_GRID)
    assert len(cells) == 5 * 8
    assert sum((c.rows[1] - c.rows[0]) * (c.cols[1] - c.cols[0]) for c in cells) == 420 * 700
    first = cells[0]
    assert (first.cell_id, first.bbox.as_tuple(), first.rows, first.cols) == ("n70w030", (-30, 70, -20, 80), (0, 20), (0, 50))
    assert max(c.rows[1] - c.rows[0] for c in cells) == 100
    assert max(c.cols[1] - c.cols[0] for c in cells) == 100


grids = st.builds(
    lambda lat0, lon0, dlat, dlon, ny, nx: RegularGrid(lat0, lon0, -dlat, dlon, ny, nx),
    lat0=st.integers(-600, 900).map(lambda v: v / 10), lon0=st.integers(-1800, 1000).map(lambda v: v / 10),
    dlat=st.sampled_from([0.1, 0.25, 0.5, 1.0, 2.5]), dlon=st.sampled_from([0.1, 0.25, 0.5, 1.0, 2.5]),
    ny=st.integers(1, 60), nx=st.integers(1, 60),
).filter(lambda g: g.lat(g.ny - 1) >= -90 and g.lon(g.nx - 1) <= 180)


@settings(max_examples=200, deadline=None)
@given(grids)
def test_every_grid_point_lies_in_exactly_one_cell_and_inside_its_half_open_bbox(grid):
    cells = plan_cells(grid)
    owner = {}
    for c in cells:
        assert Decimal(repr(c.bbox.west)) % CELL_DEG == 0 or c.bbox.west == -180
        for j in range(*c.rows):
            for i in range(*c.cols):
                assert (j, i) not in owner
                owner[(j, i)] = c.cell_id
                lat, lon = grid.lat(j), grid.lon(i)
                assert c.bbox.west <= lon < c.bbox.east or lon == c.bbox.east == 180
                assert c.bbox.south <= lat < c.bbox.north or lat == c.bbox.north == 90
    assert len(owner) == grid.ny * grid.nx


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["ensemble", "chimere", "emep"]),
                          st.sampled_from([(0, 0), (0, 5), (0, 40009), (59, 62201)]),
                          st.sampled_from([0, 50]), st.integers(0, 96)), min_size=1, max_size=40, unique=True))
def test_each_message_lands_in_exactly_one_group_at_its_step(fields):
    from jackfruit.domain.cams import MODELS

    messages = []
    for n, (model, (number, ctype), level, step) in enumerate(fields):
        centre, sub = MODELS[model]
        messages.append(msg(n, centre=centre, sub_centre=sub, number=number, constituent_type=ctype,
                            level_type=1 if level == 0 else 103, level=level, step_hours=step))
    groups = plan_tiles(messages)
    placed = sorted(i for g in groups for i in g.message_indices)
    assert placed == list(range(len(messages)))
    for g in groups:
        assert list(g.steps) == sorted(g.steps)
        assert [messages[i].step_hours for i in g.message_indices] == list(g.steps)


def test_duplicate_fields_are_refused_naming_both_messages():
    with pytest.raises(InvalidInput, match=r"message 1 .* and message 2 .*duplicate"):
        plan_tiles([msg(0, step_hours=3), msg(1, step_hours=3)])


def test_unknown_species_and_model_are_named_never_unknown():
    with pytest.raises(InvalidInput) as err:
        plan_tiles([msg(0), msg(1, constituent_type=99999), msg(2, centre=7, sub_centre=0)])
    text = str(err.value)
    assert "message 2" in text and "constituentType 99999" in text
    assert "message 3" in text and "centre 7" in text
    assert "nothing converted" in text


def test_other_grids_levels_and_editions_are_refused():
    for bad, words in ((dict(grid=None, grid_type="lambert"), "lambert"), (dict(level_type=105), "level type 105"),
                       (dict(edition=1), "edition 1"), (dict(template=0), "template 0")):
        with pytest.raises(InvalidInput, match=words):
            plan_tiles([msg(0, **bad)])


def test_mixed_grids_within_one_tile_are_refused():
    other = replace(CAMS_GRID, ny=10)
    with pytest.raises(InvalidInput, match="mixes grids"):
        plan_tiles([msg(0), msg(1, grid=other)])
