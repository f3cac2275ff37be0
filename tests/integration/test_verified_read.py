"""Finding 4: every byte served is verified. Tiles tampered on disk in each way are refused with an
IntegrityError naming tile and object; `verify` lists every problem; intact tiles read back bit-exact."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import date, datetime, timezone

import numpy as np
import pytest

from jackfruit.adapters.filesystem_store import FilesystemObjectStore
from jackfruit.adapters.zarr_tiles import MANIFEST, manifest_digest
from jackfruit.domain.errors import IntegrityError
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.testing.cams_grib import fields, write_cams_grib

from ..helpers import bits, ecc_reference, file_source, memory_app

CAMS = "cams-europe-air-quality-forecasts"
DAY = date(2025, 3, 12)
SPAN = TimeRange(datetime(2025, 3, 12, tzinfo=timezone.utc), datetime(2025, 3, 13, tzinfo=timezone.utc))


@pytest.fixture(scope="module")
def grib(tmp_path_factory):
    path = tmp_path_factory.mktemp("grib") / "small.grib"
    write_cams_grib(path, fields([DAY], ["ensemble"], ["ozone"], [0], range(0, 4)), area=(49.95, 0.05, 40.05, 9.95))
    return path


@pytest.fixture
def world(grib, tmp_path):
    curated = FilesystemObjectStore(tmp_path / "curated")
    app = memory_app(file_source(grib), curated_store=curated, work_dir=str(tmp_path / "work"))
    run = app.ingest(CAMS, DAY)
    (tile,) = app.transform(run.run_id)  # one 10-degree cell, one species
    return app, tile, tmp_path / "curated" / tile.key


def read(app, tile):
    return app.tile_format.read(app.curated_store, [tile], tile.bbox, SPAN)


def coord_chunk(root, name):
    return next(p for p in sorted((root / name).rglob("*")) if p.is_file() and p.name != "zarr.json")


def writable(path):
    path.chmod(0o644)
    return path


def test_an_intact_tile_reads_back_bit_exact_and_verifies(world, grib):
    app, tile, root = world
    assert (root / MANIFEST).is_file()
    assert hashlib.sha256((root / MANIFEST).read_bytes()).hexdigest() == tile.sha256
    assert app.tile_format.verify(app.curated_store, tile) == []
    ds = read(app, tile)
    ref = ecc_reference(grib)
    got = ds["ozone"].values[0]  # (step, lat, lon) after the reference-time dimension
    for n, msg in enumerate(ref):
        assert np.array_equal(bits(got[n]), bits(msg["values"]))


def test_shifted_latitudes_are_refused(world):
    """The reported case: coordinates shifted by 5 degrees, re-encoded validly; only the checksum catches it."""
    app, tile, root = world
    obj = coord_chunk(root, "latitude")
    lat = np.frombuffer(obj.read_bytes(), dtype="<f8") + 5.0
    writable(obj).write_bytes(lat.astype("<f8").tobytes())
    with pytest.raises(IntegrityError, match=f"tile {tile.key}: object latitude/c"):
        read(app, tile)
    (problem,) = app.tile_format.verify(app.curated_store, tile)
    assert "latitude/c" in problem and tile.key in problem


def test_a_flipped_byte_in_a_chunk_inside_the_shard_is_refused(world):
    """A read of one lead time fetches that chunk by range: crc32c inside the shard catches the flip; a
    whole-shard read is checked against the manifest's SHA-256."""
    app, tile, root = world
    shard = next(p for p in root.glob("ozone/c/**/*") if p.is_file())
    body = bytearray(shard.read_bytes())
    body[len(body) // 8] ^= 0x01  # inside the first lead time's chunk
    writable(shard).write_bytes(bytes(body))
    one_step = TimeRange(datetime(2025, 3, 12, 0, tzinfo=timezone.utc), datetime(2025, 3, 12, 1, tzinfo=timezone.utc))
    with pytest.raises(IntegrityError, match="crc32c") as info:
        app.tile_format.read(app.curated_store, [tile], tile.bbox, one_step)
    assert tile.key in str(info.value) and "ozone/c" in str(info.value)
    later = TimeRange(datetime(2025, 3, 12, 2, tzinfo=timezone.utc), datetime(2025, 3, 12, 3, tzinfo=timezone.utc))
    assert app.tile_format.read(app.curated_store, [tile], tile.bbox, later)["ozone"].size  # other chunks are fine
    with pytest.raises(IntegrityError, match="object ozone/c/0/0/0"):
        read(app, tile)
    (problem,) = app.tile_format.verify(app.curated_store, tile)
    assert "ozone/c" in problem


def test_a_truncated_shard_is_refused(world):
    app, tile, root = world
    shard = next(p for p in root.glob("ozone/c/**/*") if p.is_file())
    body = shard.read_bytes()
    writable(shard).write_bytes(body[: len(body) - 100])
    rel = str(shard.relative_to(root))
    with pytest.raises(IntegrityError, match=f"object {rel} is {len(body) - 100} bytes"):
        read(app, tile)
    assert len(app.tile_format.verify(app.curated_store, tile)) == 1


@pytest.mark.parametrize("victim", [MANIFEST, "zarr.json", "ozone/zarr.json", "step/c/0"])
def test_an_edited_manifest_or_metadata_object_is_refused(world, victim):
    app, tile, root = world
    obj = root / victim
    if not obj.exists():  # 0-d / 1-d chunk keys depend on the zarr version
        obj = coord_chunk(root, victim.split("/")[0])
    body = obj.read_bytes()
    changed = body.replace(b"ozone", b"ozonf") if b"ozone" in body else bytes([body[0] ^ 1]) + body[1:]
    writable(obj).write_bytes(changed)
    name = str(obj.relative_to(root))
    with pytest.raises(IntegrityError, match=f"tile {tile.key}: object {name}"):
        read(app, tile)
    problems = app.tile_format.verify(app.curated_store, tile)
    assert problems and name in problems[0]


def test_a_deleted_object_is_refused(world):
    app, tile, root = world
    (root / "longitude" / "zarr.json").unlink()
    with pytest.raises(IntegrityError, match="object longitude/zarr.json is missing"):
        read(app, tile)
    assert app.tile_format.verify(app.curated_store, tile) == [f"tile {tile.key}: object longitude/zarr.json is missing"]


def test_an_extra_object_is_ignored_by_read_and_reported_by_verify(world):
    app, tile, root = world
    app.curated_store.put(f"{tile.key}/ozone/c/9/9/9", b"stray")
    read(app, tile)
    assert app.tile_format.verify(app.curated_store, tile) == [
        f"tile {tile.key}: object ozone/c/9/9/9 is not in the tile's manifest"]


def test_the_catalog_digest_is_what_anchors_the_manifest(world):
    app, tile, root = world
    other = replace(tile, sha256="0" * 64)
    with pytest.raises(IntegrityError, match=f"object {MANIFEST} has sha256"):
        read(app, other)


def test_a_version_1_tile_without_manifest_is_read_and_verified(world):
    """Tiles of transformation version 1 have no manifest object; their digest covers every object."""
    app, tile, root = world
    (root / MANIFEST).unlink()
    entries = [(str(p.relative_to(root)), p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
               for p in root.rglob("*") if p.is_file()]
    v1 = replace(tile, sha256=manifest_digest(entries))
    assert app.tile_format.verify(app.curated_store, v1) == []
    assert read(app, v1)["ozone"].size
    lat = coord_chunk(root, "latitude")
    writable(lat).write_bytes(bytes([lat.read_bytes()[0] ^ 1]) + lat.read_bytes()[1:])
    with pytest.raises(IntegrityError, match="version 1"):
        read(app, v1)
    assert "version 1" in app.tile_format.verify(app.curated_store, v1)[0]


def test_verify_command_reports_tampering_with_exit_5(world):
    app, tile, root = world
    assert app.verify().problems == []
    obj = root / "zarr.json"
    doc = json.loads(obj.read_bytes())
    doc["attributes"]["title"] = "tampered"
    writable(obj).write_text(json.dumps(doc))
    report = app.verify()
    assert report.tiles == 1 and len(report.problems) == 1 and "zarr.json" in report.problems[0]
