"""Assembling a read from pieces: analyses keep their own reference times, and a field two current tiles hold at
the same time and point (runs whose time axes differ) is given once, the newest run's."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from jackfruit.adapters.transform.tile_assemble import Piece, assemble
from jackfruit.domain.geo import BBox
from jackfruit.domain.model import Tile
from jackfruit.domain.tiling import ANALYSIS_TIME, LEAD_TIME, time_entries

DAY = datetime(2025, 3, 12, tzinfo=timezone.utc)
LATS, LONS = np.array([45.0, 44.9]), np.array([1.0, 1.1, 1.2])


def piece(run: str, version: str, ref: datetime, steps: tuple[int, ...], axis: str, fill: float) -> Piece:
    entries = time_entries(axis, ref, steps)
    tile = Tile(key=f"tiles/{run}/{version}/{ref:%H}", run_id=run, dataset="d", model="m", variable="ozone",
                level_m=0, reference_time=ref, valid_start=ref + timedelta(hours=steps[0]),
                valid_end=ref + timedelta(hours=steps[-1]), cell_id="c", bbox=BBox(0, 40, 2, 46),
                shape=(len(steps), 2, 3), size=1, sha256="0" * 64, transformation_version=version)
    values = np.stack([np.full((2, 3), fill + n, dtype=np.float32) for n in range(len(steps))])
    return Piece(tile, entries, LATS, LONS, values, {"source_raw_key": f"raw/{run}"}, {})


@pytest.mark.parametrize("layout", ["forecast", "valid_time"])
def test_a_day_of_analyses_reads_as_analyses_at_lead_time_zero(layout):
    ds = assemble([piece("r1", "6", DAY, (0, 3, 6), ANALYSIS_TIME, 10.0)], layout)
    if layout == "forecast":
        assert list(ds["step"].values) == [0]
        assert [str(t)[:13] for t in ds["forecast_reference_time"].values] == [
            "2025-03-12T00", "2025-03-12T03", "2025-03-12T06"]
        np.testing.assert_array_equal(ds["ozone"].values[:, 0, 0, 0], [10, 11, 12])
    else:
        assert [str(t)[:13] for t in ds["valid_time"].values] == ["2025-03-12T00", "2025-03-12T03",
                                                                  "2025-03-12T06"]
        np.testing.assert_array_equal(ds["ozone"].values[:, 0, 0], [10, 11, 12])
    assert ds["present"].values.all()


@pytest.mark.parametrize("order", [1, -1])
def test_the_same_analysis_in_two_current_tiles_is_the_newest_runs_whatever_the_order(order):
    # an older run's version-5 tile of the 03 UTC analysis (lead-time axis) beside a newer run's day tile
    old = piece("r1", "5", DAY + timedelta(hours=3), (0,), LEAD_TIME, 100.0)
    new = piece("r2", "6", DAY, (0, 3), ANALYSIS_TIME, 10.0)
    ds = assemble([old, new][::order], "forecast")
    assert [str(t)[:13] for t in ds["forecast_reference_time"].values] == ["2025-03-12T00", "2025-03-12T03"]
    np.testing.assert_array_equal(ds["ozone"].values[:, 0], np.full((2, 2, 3), [[[10.0]], [[11.0]]]))
