"""Use cases on in-memory adapters: run lifecycle, bad input, atomic publish, search and read."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest

from jackfruit.adapters.catalog.memory_catalog import InMemoryCatalog
from jackfruit.adapters.transform.zarr_tiles import ZarrTileFormat
from jackfruit.domain.errors import (BackendUnavailable, Conflict, InvalidInput, NotFound, UpstreamRefused)
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.keys import RawKey
from jackfruit.domain.model import TRANSFORMATION_VERSION, RunStatus
from jackfruit.ports import Secret, Upstream
from jackfruit.sources.cams_europe.synthetic import fields, grib_for_request, write_cams_grib

from ..helpers import file_source, memory_app

CAMS = "cams-europe-air-quality-forecasts"
DAY = date(2025, 3, 12)


@pytest.fixture(scope="module")
def small_grib(tmp_path_factory):
    path = tmp_path_factory.mktemp("grib") / "small.grib"
    write_cams_grib(path, fields([DAY], ["ensemble"], ["ozone", "nitrogen_dioxide"], [0], range(0, 13)),
                    area=(52.05, -2.05, 38.05, 12.05))
    return path


#: the request ``small_grib`` answers (acceptance: a landed file must match its request)
SMALL = {"variable": ["ozone", "nitrogen_dioxide"], "leadtime_hour": [str(h) for h in range(13)],
         "area": [52.05, -2.05, 38.05, 12.05]}


def test_ingest_records_a_succeeded_run_with_the_raw_key_pattern(small_grib):
    app = memory_app(file_source(small_grib))
    run = app.ingest(CAMS, DAY, SMALL, orchestrator_run_id="dagster-123")
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
    with pytest.raises(UpstreamRefused) as err:
        app.ingest(CAMS, DAY, SMALL)
    (run,) = app.runs()
    assert run.status is RunStatus.FAILED and "licence" in (run.failure_reason or "")
    assert list(app.raw_store.list()) == []
    # the dataset's own licence is named, in the error and in the run's reason
    for text in (str(err.value), run.failure_reason or ""):
        assert f"dataset {CAMS} " in text and "Licence to use Copernicus Products" in text


def test_an_existing_raw_key_is_never_overwritten(small_grib):
    class SameId:
        def new_run_id(self):
            return "01890c24-905b-7122-b170-b60814e6ee06"

    app = memory_app(file_source(small_grib), ids=SameId())
    first = app.ingest(CAMS, DAY, SMALL)
    original = app.raw_store.get(first.raw_key)
    app.catalog = InMemoryCatalog()  # a fresh catalog cannot protect the key: the store must
    app.register_builtin_datasets()
    app.runner._source = lambda d, r: b"different bytes"
    with pytest.raises(Conflict):
        app.ingest(CAMS, DAY, SMALL)
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
    app = memory_app(file_source(small_grib), tile_format=FailingTileFormat(fail_at=2))
    run = app.ingest(CAMS, DAY, SMALL)
    with pytest.raises(BackendUnavailable):
        app.transform(run.run_id)
    assert app.catalog.tiles_of_run(run.run_id) == []
    assert app.lineage(raw_key=run.raw_key) == []
    assert list(app.curated_store.list()) == [], "objects of unpublished tiles are cleaned up"
    assert app.find_tiles(BBox(-180, -90, 180, 90), TimeRange(datetime(2000, 1, 1, tzinfo=timezone.utc),
                                                              datetime(2100, 1, 1, tzinfo=timezone.utc))) == []
    app.tile_format = ZarrTileFormat()
    tiles = app.transform(run.run_id)
    assert len(tiles) == 2  # 2 species, one whole-grid tile each
    with pytest.raises(Conflict, match=f"is published under transformation version {TRANSFORMATION_VERSION}"):
        app.transform(run.run_id)


def test_failure_inside_publish_leaves_no_tiles(small_grib):
    class BrokenPublish(InMemoryCatalog):
        def publish(self, run_id, epoch, tiles, lineage, *, now):
            return super().publish(run_id, epoch, list(tiles) + [tiles[0]], lineage, now=now)  # must roll back

    app = memory_app(file_source(small_grib), catalog=BrokenPublish())
    run = app.ingest(CAMS, DAY, SMALL)
    with pytest.raises(Conflict):
        app.transform(run.run_id)
    assert app.catalog.tiles_of_run(run.run_id) == []
    assert app.lineage(raw_key=run.raw_key) == []
    assert list(app.curated_store.list()) == []


def test_only_succeeded_runs_can_be_transformed():
    app = memory_app(lambda d, r: (_ for _ in ()).throw(UpstreamRefused("job failed")))
    with pytest.raises(UpstreamRefused):
        app.ingest(CAMS, DAY, SMALL)
    with pytest.raises(Conflict, match="failed"):
        app.transform(app.runs()[0].run_id)


def test_find_and_read_return_only_matching_cells_times_and_variables(small_grib):
    app = memory_app(file_source(small_grib))
    run = app.ingest(CAMS, DAY, SMALL)
    app.transform(run.run_id)
    t0 = datetime(2025, 3, 12, 3, tzinfo=timezone.utc)
    span = TimeRange(t0, t0 + timedelta(hours=2))
    box = BBox(1.0, 41.0, 3.0, 43.0)
    tiles = app.find_tiles(box, span, ["ozone"])
    assert [t.variable for t in tiles] == ["ozone"] and tiles[0].cell_id.startswith("grid")
    ds = app.read(box, span, ["ozone"])
    assert list(ds.data_vars) == ["ozone", "present"] and bool(ds["present"].all())
    assert ds.sizes["step"] == 2 and list(ds["step"].values) == [3, 4]
    assert ds["latitude"].values.max() <= 43.0 and ds["latitude"].values.min() >= 41.0
    assert ds["longitude"].values.min() >= 1.0 and ds["longitude"].values.max() <= 3.0
    assert ds.sizes["latitude"] == 20 and ds.sizes["longitude"] == 20
    assert np.isfinite(ds["ozone"].values).all()
    # a box spanning four cells is stitched into one grid
    wide = app.read(BBox(-1.0, 38.0, 11.0, 52.0), span, ["ozone", "nitrogen_dioxide"])
    assert wide.sizes["latitude"] == 140 and wide.sizes["longitude"] == 120
    assert set(wide.data_vars) == {"ozone", "nitrogen_dioxide", "present"}
    with pytest.raises(NotFound):
        app.read(box, TimeRange(t0 + timedelta(days=5), t0 + timedelta(days=6)), ["ozone"])
    with pytest.raises(InvalidInput):
        app.find_tiles(box, span, ["unobtainium"])


def test_read_uses_the_latest_run_when_a_day_was_ingested_twice(small_grib, tmp_path):
    second = tmp_path / "second.grib"
    write_cams_grib(second, fields([DAY], ["ensemble"], ["ozone", "nitrogen_dioxide"], [0], range(0, 13)),
                    area=(52.05, -2.05, 38.05, 12.05), bits=12)
    bodies = iter([small_grib.read_bytes(), second.read_bytes()])
    app = memory_app(lambda d, r: next(bodies))
    first_run = app.ingest(CAMS, DAY, SMALL)
    app.transform(first_run.run_id)
    app.clock.advance(timedelta(minutes=5))
    with pytest.raises(Conflict, match=first_run.run_id):
        app.ingest(CAMS, DAY, SMALL)  # the partition already succeeded
    latest = app.ingest(CAMS, DAY, SMALL, supersede=True)
    assert latest.supersedes == first_run.run_id
    app.transform(latest.run_id)
    box, span = BBox(1.0, 41.0, 3.0, 43.0), TimeRange(datetime(2025, 3, 12, tzinfo=timezone.utc),
                                                      datetime(2025, 3, 12, 2, tzinfo=timezone.utc))
    # the newer run's tiles are current; history keeps both; as known before the second publish, the first
    assert {t.run_id for t in app.find_tiles(box, span, ["ozone"])} == {latest.run_id}
    assert {t.run_id for t in app.find_tiles(box, span, ["ozone"], history=True)} == {first_run.run_id,
                                                                                      latest.run_id}
    before = app.clock.now() - timedelta(seconds=1)
    assert {t.run_id for t in app.find_tiles(box, span, ["ozone"], as_of=before)} == {first_run.run_id}
    ds = app.read(box, span, ["ozone"])
    assert [s["run_id"] for s in ds.attrs["jackfruit_sources"]] == [latest.run_id]
    assert ds.sizes["forecast_reference_time"] == 1
    old = app.read(box, span, ["ozone"], as_of=before)
    assert [s["run_id"] for s in old.attrs["jackfruit_sources"]] == [first_run.run_id]


# -- the run model (docs/runs.md) through the use cases -----------------------------------------------------------
class GatedTileFormat(ZarrTileFormat):
    """Blocks in its 2nd tile write until released, so a second transform runs while the first holds the claim."""

    def __init__(self) -> None:
        import threading

        super().__init__()
        self.writes, self.inside, self.release = 0, threading.Event(), threading.Event()

    def write(self, *args, **kwargs):
        self.writes += 1
        if self.writes == 2:
            self.inside.set()
            assert self.release.wait(30)
        return super().write(*args, **kwargs)


def test_concurrent_transform_of_one_run_is_refused_and_destroys_nothing(small_grib):
    """Finding 1: the second transform gets Conflict naming the holder; it deletes nothing."""
    import threading

    gate = GatedTileFormat()
    app = memory_app(file_source(small_grib), tile_format=gate)
    run = app.ingest(CAMS, DAY, SMALL)
    result: dict = {}
    first = threading.Thread(target=lambda: result.setdefault("tiles", app.transform(run.run_id)))
    first.start()
    assert gate.inside.wait(30)
    before = sorted(i.key for i in app.curated_store.list())
    with pytest.raises(Conflict, match="being transformed"):
        app.transform(run.run_id)
    assert sorted(i.key for i in app.curated_store.list()) == before  # the loser cleaned up nothing
    gate.release.set()
    first.join(30)
    tiles = result["tiles"]
    assert app.catalog.tiles_of_run(run.run_id) == sorted(tiles, key=lambda t: (t.variable, t.model, t.level_m,
                                                                                  t.reference_time, t.cell_id))
    assert app.verify().problems == []
    app.read(BBox(1.0, 41.0, 3.0, 43.0), TimeRange(datetime(2025, 3, 12, tzinfo=timezone.utc),
                                                   datetime(2025, 3, 12, 2, tzinfo=timezone.utc)), ["ozone"])


def one(variable):
    return {"variable": [variable], "leadtime_hour": ["0", "1"], "area": [52.05, -2.05, 50.05, 0.05]}


def test_an_expired_ingest_claim_is_taken_over_and_its_job_resumed(small_grib):
    """Finding 2: a dead ingest's run is taken over (same run id, epoch 2), its recorded job resumed, no
    second submit; the object it had already committed is adopted."""
    app = memory_app(grib_for_request)
    first = app.ingest(CAMS, DAY, one("ozone"))
    # simulate a holder killed after the ingester committed: a run claimed, job recorded, object landed
    # (re-create the situation on a fresh partition by hand through the ports)
    from jackfruit.domain.model import AttemptKind, IngestionRun

    request = app.catalog.get_dataset(CAMS).request_for(DAY, one("nitrogen_dioxide"))
    run_id = app.ids.new_run_id()
    key = str(RawKey("ads", CAMS, DAY, run_id, "grib"))
    now = app.clock.now()
    dead = app.catalog.claim_ingest(
        IngestionRun(run_id=run_id, source="ads", dataset=CAMS, partition_date=DAY, request=request,
                     status=RunStatus.PENDING, created_at=now, raw_key=key),
        attempt_id=app.ids.new_run_id(), owner="dead-host:1", now=now, expires_at=now + timedelta(seconds=5))
    jobs_before = len(app.runner.jobs)
    manifest = app.runner.run(__import__("jackfruit.ports", fromlist=["IngestJob"]).IngestJob(
        run_id, CAMS, request, key, app.upstream, attempt_id=dead.attempts[0].attempt_id))
    app.catalog.record_upstream_job(run_id, 1, manifest.upstream_job_id, now=now)
    with pytest.raises(Conflict, match="dead-host:1"):  # still live: refused, nothing written
        app.ingest(CAMS, DAY, one("nitrogen_dioxide"))
    app.clock.advance(timedelta(seconds=6))
    taken = app.ingest(CAMS, DAY, one("nitrogen_dioxide"))
    assert taken.run_id == run_id and taken.raw_key == key and taken.status is RunStatus.SUCCEEDED
    assert taken.lease(AttemptKind.INGEST).epoch == 2 and taken.upstream_job_id == manifest.upstream_job_id
    assert taken.raw_sha256 == manifest.sha256 and taken.details.get("adopted") is True
    assert len(app.runner.jobs) == jobs_before + 1  # the take-over resumed; it did not submit again
    assert {r.run_id for r in app.runs()} == {first.run_id, run_id}


def test_reap_fails_abandoned_runs_and_gc_removes_only_ended_attempts_leftovers(small_grib, tmp_path):
    """Findings 2 and 3: reap closes a run nobody will take over; gc removes scratch and unpublished tile
    objects of ended attempts only, never a live attempt's, a raw object or a published tile."""
    from jackfruit.adapters.storage.filesystem_store import FilesystemObjectStore

    curated = FilesystemObjectStore(tmp_path / "curated")
    app = memory_app(file_source(small_grib), curated_store=curated, work_dir=str(tmp_path / "work"),
                     lease_ttl=timedelta(seconds=30))
    run = app.ingest(CAMS, DAY, SMALL)
    tiles = app.transform(run.run_id)
    published = sorted(i.key for i in curated.list())
    # leftovers of a killed transform attempt of another run: scratch folder and half-written tile objects
    other = app.ingest(CAMS, DAY, SMALL, supersede=True)
    now = app.clock.now()
    claimed = app.catalog.claim_transform(other.run_id, attempt_id=app.ids.new_run_id(), owner="killed:9",
                                          now=now, expires_at=now + timedelta(seconds=30))
    dead_attempt = claimed.attempts[-1].attempt_id
    (tmp_path / "work" / dead_attempt).mkdir(parents=True)
    (tmp_path / "work" / dead_attempt / "raw.grib").write_bytes(b"x" * 1000)
    dead_key = tiles[0].key.replace(run.run_id, other.run_id).rsplit("/", 1)[0] + f"/v2-{dead_attempt}.zarr"
    curated.put(f"{dead_key}/zarr.json", b"{}")
    assert app.gc().tile_objects == 0  # the attempt's lease is still live: nothing of it is touched
    assert curated.exists(f"{dead_key}/zarr.json") and (tmp_path / "work" / dead_attempt).exists()
    app.clock.advance(timedelta(seconds=31))
    report = app.gc()
    assert report.revoked == 1 and report.tile_objects == 1 and report.scratch_dirs == 1
    assert sorted(i.key for i in curated.list()) == published  # published tiles untouched
    assert not (tmp_path / "work" / dead_attempt).exists()
    assert app.raw_store.exists(run.raw_key) and app.raw_store.exists(other.raw_key)
    assert app.verify().problems == []
    # a transform after that takes the run over (epoch 2) and publishes
    assert app.transform(other.run_id)
    # reap: an ingest claim abandoned long ago becomes failed, with the reason; nothing deleted
    from jackfruit.domain.model import IngestionRun

    rid = app.ids.new_run_id()
    request = app.catalog.get_dataset(CAMS).request_for(DAY, {"variable": ["dust"]})
    now = app.clock.now()
    app.catalog.claim_ingest(IngestionRun(run_id=rid, source="ads", dataset=CAMS, partition_date=DAY,
                                          request=request, status=RunStatus.PENDING, created_at=now,
                                          raw_key=str(RawKey("ads", CAMS, DAY, rid, "grib"))),
                             attempt_id=app.ids.new_run_id(), owner="gone:1", now=now,
                             expires_at=now + timedelta(seconds=1))
    assert app.reap(timedelta(hours=1)) == []
    app.clock.advance(timedelta(hours=2))
    (reaped,) = app.reap(timedelta(hours=1))
    assert reaped.run_id == rid and reaped.status is RunStatus.FAILED and "gone:1" in reaped.failure_reason


def test_a_file_the_transformation_cannot_represent_is_refused_with_every_reason():
    bad = (__import__("pathlib").Path(__file__).parents[1] / "data" / "grib")
    candidates = sorted(p for p in bad.glob("*.grib*") if "cams" not in p.name.lower())
    app = memory_app(file_source(candidates[0]))
    quarantined = app.ingest(CAMS, DAY, SMALL)  # the acceptance check already names the messages
    assert quarantined.status is RunStatus.QUARANTINED
    assert "message 1 " in quarantined.failure_reason
    # a run that succeeded without the check (landed before it existed): the transformation refuses it whole
    from jackfruit.domain.model import IngestionRun

    run_id, now = app.ids.new_run_id(), app.clock.now()
    key = str(RawKey("ads", CAMS, DAY, run_id, "grib"))
    app.catalog.claim_ingest(IngestionRun(run_id=run_id, source="ads", dataset=CAMS, partition_date=DAY,
                                          request=app.catalog.get_dataset(CAMS).request_for(DAY), created_at=now,
                                          status=RunStatus.PENDING, raw_key=key),
                             attempt_id=app.ids.new_run_id(), owner="old:1", now=now, expires_at=now + timedelta(seconds=60))
    info = app.raw_store.put(key, candidates[0].read_bytes())
    run = app.catalog.succeed(run_id, 1, now=now, size=info.size, sha256=info.sha256, upstream_job_id=None)
    with pytest.raises(InvalidInput):
        app.transform(run.run_id)
    got = app.run(run.run_id)
    assert got.transform_status.value == "refused" and got.transform_reason
    with pytest.raises(Conflict, match="refused"):
        app.transform(run.run_id)
    assert list(app.curated_store.list()) == []


def test_verify_reports_a_changed_raw_object(small_grib, tmp_path):
    from jackfruit.adapters.storage.filesystem_store import FilesystemObjectStore

    raw = FilesystemObjectStore(tmp_path / "raw", write_once=True)
    app = memory_app(file_source(small_grib), raw_store=raw)
    app.runner._store = raw
    run = app.ingest(CAMS, DAY, SMALL)
    assert app.verify().problems == []
    path = tmp_path / "raw" / run.raw_key
    path.chmod(0o644)
    body = bytearray(path.read_bytes())
    body[100] ^= 1
    path.write_bytes(bytes(body))
    (problem,) = app.verify().problems
    assert run.raw_key in problem and "sha256" in problem


# -- re-transformation under a newer version, and gc --superseded ------------------------------------------------
def test_retransform_under_a_newer_version_then_gc_superseded(small_grib, monkeypatch):
    """A run published under the current version is re-derived under the next one (this test's stand-in for a newer
    jackfruit): new keys next to the old, the new tiles current, the old ones still there "as known" before and
    readable until gc --superseded removes their objects after the grace period; records and lineage stay."""
    from jackfruit.usecases import transform as transform_module

    CUR = transform_module.TRANSFORMATION_VERSION
    NEW = str(int(CUR) + 1)

    app = memory_app(file_source(small_grib))
    run = app.ingest(CAMS, DAY, SMALL)
    old = app.transform(run.run_id)
    box, span = BBox(1.0, 41.0, 3.0, 43.0), TimeRange(datetime(2025, 3, 12, tzinfo=timezone.utc),
                                                      datetime(2025, 3, 12, 2, tzinfo=timezone.utc))
    before = app.read(box, span, ["ozone"])
    with pytest.raises(Conflict, match=f"--version {CUR}"):
        app.transform(run.run_id)  # already transformed: re-deriving is asked for by naming the version
    with pytest.raises(InvalidInput, match=f"writes transformation version {CUR}, not {NEW}"):
        app.transform(run.run_id, version=NEW)
    app.clock.advance(timedelta(hours=1))
    monkeypatch.setattr(transform_module, "TRANSFORMATION_VERSION", NEW)
    new = app.transform(run.run_id, version=NEW)
    assert {t.transformation_version for t in new} == {NEW} and not {t.key for t in new} & {t.key for t in old}
    assert app.catalog.get_run(run.run_id).transform_version == NEW
    assert {t.key for t in app.find_tiles(box, span)} == {t.key for t in new}
    assert {t.key for t in app.find_tiles(box, span, as_of=app.clock.now() - timedelta(minutes=1))} == {
        t.key for t in old}
    assert {e.transformation_version for e in app.lineage(raw_key=run.raw_key)} == {CUR, NEW}
    after = app.read(box, span, ["ozone"])
    np.testing.assert_array_equal(after["ozone"].values, before["ozone"].values)  # same bytes in, same values out
    # within the grace period nothing goes; after it, the old tiles' objects do, and only those
    assert app.gc_superseded(timedelta(hours=2)).tiles == 0
    app.clock.advance(timedelta(hours=3))
    dry = app.gc_superseded(timedelta(hours=2), dry_run=True)
    assert dry.tiles == len(old) and dry.objects == 0
    assert all(list(app.curated_store.list(t.key + "/")) for t in old)
    report = app.gc_superseded(timedelta(hours=2))
    assert report.tiles == len(old) and sorted(report.removed) == sorted(t.key for t in old) and report.objects > 0
    assert all(not list(app.curated_store.list(t.key + "/")) for t in old)
    assert all(list(app.curated_store.list(t.key + "/")) for t in new)
    np.testing.assert_array_equal(app.read(box, span, ["ozone"])["ozone"].values, before["ozone"].values)
    assert app.verify().problems == []  # removed tiles are not reported missing
    assert app.gc_superseded(timedelta(0)).tiles == 0  # done once
    # what an earlier consumer saw is still named, and reading it says why it cannot be read
    earlier = app.clock.now() - timedelta(hours=3, minutes=30)
    assert {t.removed_at is not None for t in app.find_tiles(box, span, as_of=earlier)} == {True}
    with pytest.raises(NotFound, match="removed since as superseded"):
        app.read(box, span, ["ozone"], as_of=earlier)
    assert len(app.find_tiles(box, span, history=True)) == len(old) + len(new)


def test_ads_max_jobs_in_flight_caps_new_ingestions(small_grib, monkeypatch, tmp_path):
    """ADS_MAX_JOBS_IN_FLIGHT reaches the claim: with one ingestion holding a live claim and a cap of 1, a second
    is refused (nothing claimed); once the first ends, it goes through."""
    from jackfruit.app import Jackfruit
    from jackfruit.settings import Settings

    for name in [k for k in __import__("os").environ if k.startswith(("JACKFRUIT_", "ADS_", "MINIO_", "POSTGRES_"))]:
        monkeypatch.delenv(name)
    settings = Settings(JACKFRUIT_OBJECT_STORE="memory", JACKFRUIT_CATALOG="memory", JACKFRUIT_RUNNER="memory",
                        JACKFRUIT_DATA_DIR=str(tmp_path), ADS_API_KEY="k", ADS_MAX_JOBS_IN_FLIGHT=1)
    with Jackfruit.from_settings(settings) as app:
        assert app.max_ingest_in_flight == 1
        from tests.contracts.catalog_suite import run as new_run

        now = app.clock.now()
        holder = app.catalog.claim_ingest(new_run(), attempt_id=app.ids.new_run_id(), owner="elsewhere", now=now,
                                          expires_at=now + timedelta(hours=1))
        with pytest.raises(BackendUnavailable, match=r"\(1\)"):
            app.ingest(CAMS, DAY, {"variable": ["ozone"], "leadtime_hour": ["0"]})
        assert [r.run_id for r in app.runs(limit=None)] == [holder.run_id]
        app.catalog.fail(holder.run_id, 1, now=app.clock.now(), reason="done elsewhere")
        assert app.ingest(CAMS, DAY, {"variable": ["ozone"], "leadtime_hour": ["0"]}).status is RunStatus.SUCCEEDED
