"""Use cases on in-memory adapters: run lifecycle, bad input, atomic publish, search and read."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest

from jackfruit.adapters.memory_catalog import InMemoryCatalog
from jackfruit.adapters.zarr_tiles import ZarrTileFormat
from jackfruit.domain.errors import (BackendUnavailable, Conflict, InvalidInput, NotFound, UpstreamRefused)
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.keys import RawKey
from jackfruit.domain.model import RunStatus
from jackfruit.ports import Secret, Upstream
from jackfruit.testing.cams_grib import fields, write_cams_grib

from ..helpers import file_source, memory_app

CAMS = "cams-europe-air-quality-forecasts"
DAY = date(2025, 3, 12)


@pytest.fixture(scope="module")
def small_grib(tmp_path_factory):
    path = tmp_path_factory.mktemp("grib") / "small.grib"
    write_cams_grib(path, fields([DAY], ["ensemble"], ["ozone", "nitrogen_dioxide"], [0], range(0, 13)),
                    area=(52.05, -2.05, 38.05, 12.05))
    return path


def test_ingest_records_a_succeeded_run_with_the_raw_key_pattern(small_grib):
    app = memory_app(file_source(small_grib))
    run = app.ingest(CAMS, DAY, orchestrator_run_id="dagster-123")
    key = RawKey.parse(run.raw_key)
    assert (key.source, key.dataset, key.day, key.run_id, key.ext) == ("ads", CAMS, DAY, run.run_id, "grib")
    assert run.status is RunStatus.SUCCEEDED and run.raw_size == small_grib.stat().st_size
    assert run.request["date"] == ["2025-03-12/2025-03-12"]
    assert app.run(run.run_id) == run
    assert app.raw_store.get(run.raw_key) == small_grib.read_bytes()
    assert run.orchestrator_run_id == "dagster-123"
    assert run.started_at is not None and run.finished_at is not None


def test_unknown_dataset_and_unknown_variable_are_refused_before_any_run(small_grib):
    app = memory_app(file_source(small_grib))
    with pytest.raises(NotFound, match="no-such"):
        app.ingest("no-such-dataset", DAY)
    with pytest.raises(InvalidInput, match="plutonium"):
        app.ingest(CAMS, DAY, {"variable": ["plutonium"]})
    with pytest.raises(InvalidInput, match="date"):
        app.ingest(CAMS, DAY, {"date": ["2020-01-01"]})
    with pytest.raises(InvalidInput, match="ADS_API_KEY"):
        app.ingest(CAMS, DAY, upstream=Upstream("https://ads.example/api", Secret("")))
    assert app.runs() == []


def test_upstream_failure_marks_the_run_failed_and_stores_nothing():
    def refuse(dataset, request):
        raise UpstreamRefused("licence not accepted (403)")

    app = memory_app(refuse)
    with pytest.raises(UpstreamRefused):
        app.ingest(CAMS, DAY)
    (run,) = app.runs()
    assert run.status is RunStatus.FAILED and "licence" in (run.failure_reason or "")
    assert list(app.raw_store.list()) == []


def test_an_existing_raw_key_is_never_overwritten(small_grib):
    class SameId:
        def new_run_id(self):
            return "01890c24-905b-7122-b170-b60814e6ee06"

    app = memory_app(file_source(small_grib), ids=SameId())
    first = app.ingest(CAMS, DAY)
    original = app.raw_store.get(first.raw_key)
    app.catalog = InMemoryCatalog()  # a fresh catalog cannot protect the key: the store must
    app.register_builtin_datasets()
    app.runner._source = lambda d, r: b"different bytes"
    with pytest.raises(Conflict):
        app.ingest(CAMS, DAY)
    assert app.raw_store.get(first.raw_key) == original
    assert app.runs()[0].status is RunStatus.FAILED


class FailingTileFormat(ZarrTileFormat):
    def __init__(self, fail_at: int) -> None:
        self.writes, self.fail_at = 0, fail_at

    def write(self, *args, **kwargs):
        self.writes += 1
        if self.writes == self.fail_at:
            raise BackendUnavailable("injected failure while writing tiles")
        return super().write(*args, **kwargs)


def test_failure_between_tile_writes_and_publish_leaves_no_tiles_and_retry_works(small_grib):
    app = memory_app(file_source(small_grib), tile_format=FailingTileFormat(fail_at=5))
    run = app.ingest(CAMS, DAY)
    with pytest.raises(BackendUnavailable):
        app.transform(run.run_id)
    assert app.catalog.tiles_of_run(run.run_id) == []
    assert app.lineage(raw_key=run.raw_key) == []
    assert list(app.curated_store.list()) == [], "objects of unpublished tiles are cleaned up"
    assert app.find_tiles(BBox(-180, -90, 180, 90), TimeRange(datetime(2000, 1, 1, tzinfo=timezone.utc),
                                                              datetime(2100, 1, 1, tzinfo=timezone.utc))) == []
    app.tile_format = ZarrTileFormat()
    tiles = app.transform(run.run_id)
    assert len(tiles) == 2 * 3 * 3  # 2 species x (3 lat cells x 3 lon cells)
    with pytest.raises(Conflict, match="already transformed"):
        app.transform(run.run_id)


def test_failure_inside_publish_leaves_no_tiles(small_grib):
    class BrokenPublish(InMemoryCatalog):
        def publish(self, run_id, tiles, lineage):
            super().publish(run_id, list(tiles) + [tiles[0]], lineage)  # duplicate key: must roll back

    app = memory_app(file_source(small_grib), catalog=BrokenPublish())
    run = app.ingest(CAMS, DAY)
    with pytest.raises(Conflict):
        app.transform(run.run_id)
    assert app.catalog.tiles_of_run(run.run_id) == []
    assert app.lineage(raw_key=run.raw_key) == []
    assert list(app.curated_store.list()) == []


def test_only_succeeded_runs_can_be_transformed():
    app = memory_app(lambda d, r: (_ for _ in ()).throw(UpstreamRefused("job failed")))
    with pytest.raises(UpstreamRefused):
        app.ingest(CAMS, DAY)
    with pytest.raises(Conflict, match="failed"):
        app.transform(app.runs()[0].run_id)


def test_find_and_read_return_only_matching_cells_times_and_variables(small_grib):
    app = memory_app(file_source(small_grib))
    run = app.ingest(CAMS, DAY)
    app.transform(run.run_id)
    t0 = datetime(2025, 3, 12, 3, tzinfo=timezone.utc)
    span = TimeRange(t0, t0 + timedelta(hours=2))
    box = BBox(1.0, 41.0, 3.0, 43.0)  # inside cell n40e000 only
    tiles = app.find_tiles(box, span, ["ozone"])
    assert [(t.variable, t.cell_id) for t in tiles] == [("ozone", "n40e000")]
    ds = app.read(box, span, ["ozone"])
    assert list(ds.data_vars) == ["ozone"]
    assert ds.sizes["step"] == 2 and list(ds["step"].values) == [3, 4]
    assert ds["latitude"].values.max() <= 43.0 and ds["latitude"].values.min() >= 41.0
    assert ds["longitude"].values.min() >= 1.0 and ds["longitude"].values.max() <= 3.0
    assert ds.sizes["latitude"] == 20 and ds.sizes["longitude"] == 20
    assert np.isfinite(ds["ozone"].values).all()
    # a box spanning four cells is stitched into one grid
    wide = app.read(BBox(-1.0, 38.0, 11.0, 52.0), span, ["ozone", "nitrogen_dioxide"])
    assert wide.sizes["latitude"] == 140 and wide.sizes["longitude"] == 120
    assert set(wide.data_vars) == {"ozone", "nitrogen_dioxide"}
    with pytest.raises(NotFound):
        app.read(box, TimeRange(t0 + timedelta(days=5), t0 + timedelta(days=6)), ["ozone"])
    with pytest.raises(InvalidInput):
        app.find_tiles(box, span, ["unobtainium"])


def test_read_uses_the_latest_run_when_a_day_was_ingested_twice(small_grib, tmp_path):
    second = tmp_path / "second.grib"
    write_cams_grib(second, fields([DAY], ["ensemble"], ["ozone"], [0], range(0, 13)),
                    area=(52.05, -2.05, 38.05, 12.05), bits=12)
    bodies = iter([small_grib.read_bytes(), second.read_bytes()])
    app = memory_app(lambda d, r: next(bodies))
    first_run = app.ingest(CAMS, DAY)
    app.transform(first_run.run_id)
    app.clock.advance(timedelta(minutes=5))
    latest = app.ingest(CAMS, DAY)
    app.transform(latest.run_id)
    box, span = BBox(1.0, 41.0, 3.0, 43.0), TimeRange(datetime(2025, 3, 12, tzinfo=timezone.utc),
                                                      datetime(2025, 3, 12, 2, tzinfo=timezone.utc))
    assert {t.run_id for t in app.find_tiles(box, span, ["ozone"])} == {first_run.run_id, latest.run_id}
    ds = app.read(box, span, ["ozone"])
    assert ds.attrs["source_run_id"] == latest.run_id
    assert ds.sizes["forecast_reference_time"] == 1
