"""Lineage both ways: raw object -> tiles (catalog), tile -> raw object and the exact bytes of each source
message (recorded in the tile): decoding those bytes gives the tile's values, bit for bit."""

from __future__ import annotations

from datetime import date

import eccodes
import numpy as np
import pytest

from jackfruit.domain.errors import NotFound
from jackfruit.sources.cams_europe.synthetic import fields, write_cams_grib

from ..helpers import file_source, memory_app

CAMS = "cams-europe-air-quality-forecasts"
DAY = date(2025, 3, 12)


def test_a_tile_names_the_bytes_of_every_source_message(tmp_path):
    grib = tmp_path / "day.grib"
    write_cams_grib(grib, fields([DAY], ["ensemble"], ["ozone", "nitrogen_dioxide"], [0], range(4)),
                    area=(52.05, -2.05, 48.05, 3.05))
    app = memory_app(file_source(grib))
    run = app.ingest(CAMS, DAY, {"variable": ["ozone", "nitrogen_dioxide"], "leadtime_hour": ["0", "1", "2", "3"],
                                 "area": [52.05, -2.05, 48.05, 3.05]})
    tiles = app.transform(run.run_id)
    assert {e.tile_key for e in app.lineage(raw_key=run.raw_key)} == {t.key for t in tiles}
    for tile in tiles:
        sources = app.tile_sources(tile.key)
        assert (sources["raw_key"], sources["raw_sha256"], sources["run_id"]) == (run.raw_key, run.raw_sha256,
                                                                                  run.run_id)
        assert [m["step"] for m in sources["messages"]] == [0, 1, 2, 3]
        values = app.tile_format.open(app.curated_store, tile)[tile.variable].values[0]
        for k, m in enumerate(sources["messages"]):
            body = app.raw_store.get_range(run.raw_key, m["offset"], m["length"])
            h = eccodes.codes_new_from_message(body)
            try:
                assert eccodes.codes_get(h, "forecastTime") == m["step"]
                decoded = eccodes.codes_get_values(h).astype(np.float32).reshape(values.shape[1:])
            finally:
                eccodes.codes_release(h)
            assert np.array_equal(decoded.view(np.uint32), values[k].view(np.uint32))


def test_an_unknown_tile_is_not_found(tmp_path):
    app = memory_app(lambda d, r: b"")
    with pytest.raises(NotFound, match="no tile"):
        app.tile_sources("tiles/x/y.zarr")
