"""Losslessness: every GRIB message lands in the tiles bit-exact against ecCodes' own decode; bad files are refused whole."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest

from jackfruit.sources.cams_europe import codes as cams
from jackfruit.domain.errors import IntegrityError, InvalidInput
from jackfruit.sources.cams_europe.synthetic import fields, write_cams_grib

from ..conftest import DATA, REAL_CAMS
from ..helpers import assemble, bits, ecc_reference, file_source, landed_unchecked, memory_app

CAMS = "cams-europe-air-quality-forecasts"


def _check_lossless(path, app, run, tiles):
    ref = ecc_reference(path)
    first = ref[0]
    lon0 = first["lon0"] - 360 if first["lon0"] >= 180 else first["lon0"]
    got = assemble(app, tiles, first["values"].shape, first["lat0"], lon0)
    assert len(got) == len(ref), "every message must become exactly one (tile group, step) field"
    for m in ref:
        model = cams.MODEL_BY_CODE[(m["centre"], m["subCentre"])]
        variable = cams.SPECIES_BY_CODE[(m["parameterNumber"], m["constituentType"])].name
        d = m["dataDate"]
        ref_time = datetime(d // 10000, d // 100 % 100, d % 100, tzinfo=timezone.utc)
        field = got[(model, variable, m["level"], ref_time, m["step"])]
        assert np.array_equal(bits(field), bits(m["values"])), f"{model}/{variable}/{m['level']}/{m['step']} differs"
    return ref


def test_real_cams_europe_file_is_lossless_and_named():
    app = memory_app(file_source(REAL_CAMS))
    # the real file holds three reference times: one run of the transformation, whatever the acceptance says
    run = landed_unchecked(app, REAL_CAMS.read_bytes(), date(2022, 8, 13))
    tiles = app.transform(run.run_id)
    assert len(tiles) == 3  # one whole-grid tile per reference time
    assert {t.variable for t in tiles} == {"mugwort_pollen"}
    assert {t.model for t in tiles} == {"ensemble"}
    _check_lossless(REAL_CAMS, app, run, tiles)
    ds = app.tile_format.open(app.curated_store, tiles[0])
    attrs = ds["mugwort_pollen"].attrs
    assert attrs["units"] == "m-3" and "unknown" not in str(attrs)
    (source,) = ds.attrs["jackfruit_sources"]
    assert (source["raw_sha256"], source["raw_key"], source["run_id"]) == (run.raw_sha256, run.raw_key, run.run_id)
    assert "Copernicus Atmosphere Monitoring Service" in ds.attrs["attribution"]
    lineage = app.lineage(raw_key=run.raw_key)
    assert sorted(e.tile_key for e in lineage) == sorted(t.key for t in tiles)


def test_generated_multi_model_multi_species_levels_with_missing_values_is_lossless(tmp_path):
    path = tmp_path / "multi.grib"
    specs = fields([date(2025, 3, 12)], ["ensemble", "chimere", "emep", "silam"],
                   ["ozone", "nitrogen_dioxide", "particulate_matter_2.5um", "birch_pollen"], [0, 500], range(0, 7, 3))
    write_cams_grib(path, specs, area=(55.05, -5.05, 44.95, 15.05), missing_fraction=0.02)
    app = memory_app(file_source(path))
    run = app.land(path, dataset=CAMS, partition_date=date(2025, 3, 12))  # request read from the file, accepted
    tiles = app.transform(run.run_id)
    groups = {(t.model, t.variable, t.level_m) for t in tiles}
    assert len(groups) == 4 * 4 * 2
    ref = _check_lossless(path, app, run, tiles)
    assert len(ref) == len(specs) == 96
    assert any(np.isnan(m["values"]).any() for m in ref), "the file must exercise the bitmap"
    t = tiles[0]
    assert t.valid_start == t.reference_time and t.valid_end == t.reference_time + timedelta(hours=6)


@pytest.mark.parametrize("name", [
    "cams-chem_mass-mixrat_3-constituents_template4-40.grib",  # species collapse under cfgrib: here refused
    "cams-global-forecast_berlin_pm2p5-pm10-no2_2019-01-01to02_mixed-edition.grib",
    "ncep-nam_awp211-lambert_2018-09-17.grib2",
    "ecmwf_reduced_gg.grib",
    "cams-egg4-monthly_2t-aco2rec.grib",
])
def test_files_the_table_cannot_represent_are_refused_whole(name):
    app = memory_app(file_source(DATA / name))
    quarantined = app.ingest(CAMS, date(2025, 3, 12))  # the acceptance check stops it first, naming message 1
    assert quarantined.status.value == "quarantined" and "message 1" in quarantined.failure_reason
    run = landed_unchecked(app, (DATA / name).read_bytes(), date(2025, 3, 12))  # and the transformation, too
    with pytest.raises(InvalidInput, match=r"message 1 .*nothing converted|nothing converted.*message 1"):
        app.transform(run.run_id)
    assert app.catalog.tiles_of_run(run.run_id) == []
    assert list(app.curated_store.list()) == []
    assert app.raw_store.get(run.raw_key) == (DATA / name).read_bytes()


def test_unknown_constituent_is_named(tmp_path):
    import eccodes

    path = tmp_path / "odd.grib"
    body = bytearray()
    with open(REAL_CAMS, "rb") as f:
        first = eccodes.codes_grib_new_from_file(f)
        for n in range(8):  # message 1 intact, messages 2..9 each with an unknown constituent
            h = eccodes.codes_clone(first)
            if n:
                eccodes.codes_set(h, "constituentType", 65000 + n)
                eccodes.codes_set(h, "forecastTime", n)
            body += eccodes.codes_get_message(h)
            eccodes.codes_release(h)
        eccodes.codes_release(first)
    path.write_bytes(bytes(body))
    app = memory_app(file_source(path))
    run = landed_unchecked(app, path.read_bytes(), date(2025, 3, 12))
    with pytest.raises(InvalidInput, match=r"message 2 \(byte offset \d+, level type 1 level 0, "
                                           r"2022-08-13T00:00Z step 1 h\): \(parameterNumber 59, constituentType 65001\)"):
        app.transform(run.run_id)
    assert list(app.curated_store.list()) == []
    refused = app.run(run.run_id)
    assert refused.transform_status.value == "refused"
    for n in range(1, 8):  # every one named in the recorded reason, none elided
        assert f"step {n} h): (parameterNumber 59, constituentType {65000 + n})" in refused.transform_reason


@pytest.mark.parametrize("mangle, words", [
    (lambda b: b"this is not GRIB at all\n" * 10, "not a GRIB file"),
    (lambda b: b[: len(b) // 2], "truncated|not decodable|holds no GRIB|bytes at offset"),
    (lambda b: b + b"trailing junk", "neither GRIB nor zero padding"),
])
def test_non_grib_and_truncated_raw_files_are_refused(mangle, words):
    body = mangle(REAL_CAMS.read_bytes()[:882181])
    app = memory_app(lambda d, r: body)
    assert app.ingest(CAMS, date(2025, 3, 12)).status.value == "quarantined"
    run = landed_unchecked(app, body, date(2025, 3, 12))
    with pytest.raises(InvalidInput, match=words):
        app.transform(run.run_id)
    assert app.catalog.tiles_of_run(run.run_id) == []


def test_raw_bytes_that_changed_since_ingest_are_an_integrity_error():
    app = memory_app(file_source(REAL_CAMS))
    run = landed_unchecked(app, REAL_CAMS.read_bytes(), date(2025, 3, 12))
    app.raw_store._objects[run.raw_key] = b"tampered" + app.raw_store._objects[run.raw_key][8:]
    with pytest.raises(IntegrityError, match="sha256"):
        app.transform(run.run_id)


def test_sample_generator_is_deterministic_and_encodes_like_the_real_file(tmp_path):
    import eccodes

    specs = fields([date(2025, 3, 12)], ["ensemble", "mocage"], ["ozone", "mugwort_pollen"], [0, 50], [0, 1])
    a, b = tmp_path / "a.grib", tmp_path / "b.grib"
    write_cams_grib(a, specs, area=(50.05, 0.05, 45.05, 5.05))
    write_cams_grib(b, specs, area=(50.05, 0.05, 45.05, 5.05))
    assert a.read_bytes() == b.read_bytes()
    keys = ("edition", "centre", "productDefinitionTemplateNumber", "parameterCategory", "tablesVersion",
            "significanceOfReferenceTime", "typeOfGeneratingProcess", "generatingProcessIdentifier", "scanningMode")
    with open(REAL_CAMS, "rb") as f:
        h = eccodes.codes_grib_new_from_file(f)
        real = {k: eccodes.codes_get(h, k) for k in keys}
        eccodes.codes_release(h)
    with open(a, "rb") as f:
        while (h := eccodes.codes_grib_new_from_file(f)) is not None:
            got = {k: eccodes.codes_get(h, k) for k in keys}
            sub, level_type = eccodes.codes_get(h, "subCentre"), eccodes.codes_get(h, "typeOfFirstFixedSurface", int)
            eccodes.codes_release(h)
            assert got == real
            assert sub in (2, 1) and level_type in (1, 103)


def test_float32_decoding_is_used_only_where_it_equals_float64_rounded():
    """The decoder asks ecCodes for float32 directly for FLOAT32_EXACT_PACKINGS: on every message of every
    fixture file of those packings, bit-identical to decoding float64 and rounding (the reference)."""
    import glob

    import eccodes

    from jackfruit.adapters.transform.eccodes_decoder import FLOAT32_EXACT_PACKINGS

    checked = 0
    for path in sorted(glob.glob(str(REAL_CAMS.parent / "*.grib*"))):
        with open(path, "rb") as f:
            while (h := eccodes.codes_grib_new_from_file(f)) is not None:
                try:
                    if eccodes.codes_get(h, "packingType") in FLOAT32_EXACT_PACKINGS:
                        direct = eccodes.codes_get_values(h, ktype=np.float32)
                        rounded = eccodes.codes_get_values(h).astype(np.float32)
                        assert np.array_equal(direct.view(np.uint32), rounded.view(np.uint32)), path
                        checked += 1
                finally:
                    eccodes.codes_release(h)
    assert checked >= 1000


def test_raw_bytes_changed_on_disk_inside_a_message_fail_the_transform_before_anything_is_published(tmp_path):
    """A raw object kept as a local file is scanned and converted while its SHA-256 is checked: bytes changed on
    disk inside a message's data (the file still scans) are an IntegrityError before the publish; nothing of the
    attempt stays, the run's transformation is failed and claimable again."""
    import os
    import stat

    from jackfruit.adapters.runner.memory_runner import InMemoryRunner
    from jackfruit.app import Jackfruit
    from jackfruit.domain.geo import BBox, TimeRange
    from jackfruit.domain.model import TransformStatus
    from jackfruit.settings import Settings

    day = date(2025, 3, 12)
    path = tmp_path / "day.grib"
    write_cams_grib(path, fields([day], ["ensemble"], ["ozone"], [0], range(3)), area=(50.05, 0.05, 45.05, 5.05))
    app = Jackfruit.from_settings(Settings(JACKFRUIT_DATA_DIR=str(tmp_path / "data")))
    app.runner = InMemoryRunner(app.raw_store, lambda d, r: path.read_bytes())
    run = app.land(path, dataset="cams-europe-air-quality-forecasts", partition_date=day)
    local = app.raw_store.local_path(run.raw_key)
    assert local is not None  # the in-place check this test is about
    body = bytearray(open(local, "rb").read())
    body[len(body) - 10] ^= 0xFF  # inside the last message's data section: ecCodes still scans the file
    os.chmod(local, stat.S_IWUSR | stat.S_IRUSR)
    with open(local, "wb") as f:
        f.write(body)
    with pytest.raises(IntegrityError, match="sha256|SHA-256"):
        app.transform(run.run_id)
    assert app.run(run.run_id).transform_status is TransformStatus.FAILED
    assert list(app.curated_store.list()) == []  # the attempt's tile objects were removed
    everything = TimeRange(datetime(2000, 1, 1, tzinfo=timezone.utc), datetime(2100, 1, 1, tzinfo=timezone.utc))
    assert app.find_tiles(BBox(-180, -90, 180, 90), everything) == []
    app.close()


def test_big_slabs_decoded_ahead_within_their_budget_are_lossless(tmp_path, monkeypatch):
    """The tile writer's path for big slabs (a 0.4 degree global grid's), forced here on a small grid with
    two-lead-time shards: at most ``BIG_SLABS`` slabs held in the process, a tile holding two decodes its next
    slab while this one encodes, and every message still lands bit-exact."""
    import threading

    from jackfruit.adapters.transform import tile_write
    from jackfruit.adapters.transform.zarr_tiles import ZarrTileFormat

    class Counting:
        def __init__(self, n):
            self.sem, self.lock, self.held, self.most = threading.BoundedSemaphore(n), threading.Lock(), 0, 0

        def acquire(self, blocking=True):
            got = self.sem.acquire(blocking)
            if got:
                with self.lock:
                    self.held += 1
                    self.most = max(self.most, self.held)
            return got

        def release(self):
            with self.lock:
                self.held -= 1
            self.sem.release()

    class TwoStepShards(ZarrTileFormat):
        chunk = (2, 35, 70)

    budget = Counting(tile_write.BIG_SLABS)
    monkeypatch.setattr(tile_write, "DECODE_AHEAD_FROM_BYTES", 1)
    monkeypatch.setattr(tile_write, "_big_slabs", budget)
    path = tmp_path / "ahead.grib"
    specs = fields([date(2025, 3, 12)], ["ensemble", "chimere"], ["ozone", "nitrogen_dioxide"], [0],
                   range(0, 7))
    write_cams_grib(path, specs, area=(55.05, -5.05, 44.95, 15.05), missing_fraction=0.02)
    app = memory_app(file_source(path), tile_format=TwoStepShards())
    run = app.land(path, dataset=CAMS, partition_date=date(2025, 3, 12))
    tiles = app.transform(run.run_id)
    assert len(tiles) == 4 and len(_check_lossless(path, app, run, tiles)) == len(specs) == 28
    assert budget.most == tile_write.BIG_SLABS and budget.held == 0  # the budget was used whole, and given back
