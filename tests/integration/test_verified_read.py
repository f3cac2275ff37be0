"""Every byte served is verified (issue 5, docs/adr/0004). Real tiles, on a filesystem bucket and in memory,
are tampered with in each way; `read` refuses each with an IntegrityError naming tile and object (never a
raw zarr or numpy error), `verify` lists the problem; intact tiles read back bit-exact and verify clean;
tiles written the version-1 way (no manifest, no crc32c) still read and verify."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest

from jackfruit.adapters.storage.filesystem_store import FilesystemObjectStore
from jackfruit.adapters.storage.memory_store import InMemoryObjectStore
from jackfruit.adapters.transform.zarr_tiles import ZarrTileFormat
from jackfruit.domain.errors import BackendUnavailable, IntegrityError, NotFound
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.sources.cams_europe.synthetic import fields, write_cams_grib

from ..helpers import TileObjects, V1TileFormat, V2TileFormat, V3TileFormat, bits, ecc_reference, file_source, memory_app, shard_index

CAMS = "cams-europe-air-quality-forecasts"
DAY = date(2025, 3, 12)
T0 = datetime(2025, 3, 12, tzinfo=timezone.utc)
SPAN = TimeRange(T0, T0 + timedelta(days=1))
STEPS = 4
MANIFEST = "manifest.json"  # the format's name for it (docs/adr/0004), spelled out so the test runs on any code


@pytest.fixture(scope="module")
def grib(tmp_path_factory):
    path = tmp_path_factory.mktemp("grib") / "small.grib"
    write_cams_grib(path, fields([DAY], ["ensemble"], ["ozone"], [0], range(STEPS)), area=(49.95, 0.05, 40.05, 9.95))
    return path


def _world(grib, tmp_path, kind, tile_format):
    if kind == "filesystem":
        curated, root = FilesystemObjectStore(tmp_path / "curated"), tmp_path / "curated"
    else:
        curated, root = InMemoryObjectStore("jackfruit-curated"), None
    app = memory_app(file_source(grib), curated_store=curated, tile_format=tile_format,
                     work_dir=str(tmp_path / "work"))
    run = app.land(grib, dataset=CAMS, partition_date=DAY)  # the request read from the file: accepted
    (tile,) = app.transform(run.run_id)  # one 10-degree cell, one species
    app.tile_format = ZarrTileFormat()  # reading is always the current code
    return app, tile, TileObjects(curated, tile.key, root)


@pytest.fixture(params=["filesystem", "memory"])
def world(grib, tmp_path, request):
    return _world(grib, tmp_path, request.param, ZarrTileFormat())


@pytest.fixture(params=["filesystem", "memory"])
def v1_world(grib, tmp_path, request):
    return _world(grib, tmp_path, request.param, V1TileFormat())


def read(app, tile, span=SPAN, box=None):
    return app.tile_format.read(app.curated_store, [tile], box or tile.bbox, span)


def lead(hour):
    return TimeRange(T0 + timedelta(hours=hour), T0 + timedelta(hours=hour + 1))


def refused(app, tile, obj, span=SPAN, box=None, what=""):
    """read raises IntegrityError whose message names the tile and the object."""
    with pytest.raises(IntegrityError) as info:
        read(app, tile, span, box)
    message = str(info.value)
    assert f"tile {tile.key}: object {obj}" in message and what in message, message
    return message


def verify_names(app, tile, obj):
    problems = app.tile_format.verify(app.curated_store, tile)
    assert len(problems) == 1 and tile.key in problems[0] and f"object {obj}" in problems[0], problems
    return problems[0]


def assert_bit_exact(ds, grib):
    got = ds["ozone"].values[0]  # (step, lat, lon) after the reference-time dimension
    ref = ecc_reference(grib)
    assert got.shape[0] == len(ref) == STEPS
    for n, msg in enumerate(ref):
        assert np.array_equal(bits(got[n]), bits(msg["values"]))


# -- the intact tile -------------------------------------------------------------------------------------------

def test_an_intact_tile_has_a_canonical_manifest_reads_back_bit_exact_and_verifies(world, grib):
    app, tile, objs = world
    body = objs.get(MANIFEST)
    assert hashlib.sha256(body).hexdigest() == tile.sha256  # the catalog anchors the manifest object
    doc = json.loads(body)
    assert body == json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    assert doc["format"] == "jackfruit-tile-manifest/1"
    listed = [o["key"] for o in doc["objects"]]
    assert listed == sorted(listed) == sorted(set(objs.keys()) - {MANIFEST})
    for o in doc["objects"]:
        assert (o["size"], o["sha256"]) == (len(objs.get(o["key"])), hashlib.sha256(objs.get(o["key"])).hexdigest())
    assert tile.size == sum(len(objs.get(k)) for k in objs.keys())  # every object, the manifest included
    codecs = json.loads(objs.get("ozone/zarr.json"))["codecs"]
    (sharding,) = codecs
    assert [c["name"] for c in sharding["configuration"]["codecs"]] == ["bytes", "blosc", "crc32c"]
    assert [c["name"] for c in sharding["configuration"]["index_codecs"]] == ["bytes", "crc32c"]
    assert app.tile_format.verify(app.curated_store, tile) == []
    assert_bit_exact(read(app, tile), grib)
    point = read(app, tile, box=BBox(2.35, 48.85, 2.35, 48.85))
    assert point["ozone"].shape == (1, STEPS, 1, 1)


# -- tampering -------------------------------------------------------------------------------------------------

def test_latitudes_shifted_by_5_degrees_and_validly_re_encoded_are_refused(world):
    """The reported case: only the checksum can tell the shifted coordinates from the real ones (since
    version 3 the grid is in the group's attributes)."""
    app, tile, objs = world
    rel = "zarr.json"
    doc = json.loads(objs.get(rel))
    doc["attributes"]["jackfruit_grid"]["lat0"] += 5.0
    objs.put(rel, json.dumps(doc, indent=2).encode())
    refused(app, tile, rel, what="sha256")
    refused(app, tile, rel, box=BBox(2.35, 48.85, 2.35, 48.85))  # a point query too
    verify_names(app, tile, rel)


# the fixture's 100 x 100 grid (4 lead times) is one shard of 3 x 2 chunks of 35 rows x 70 columns (ADR 0006):
# the first chunk holds rows 49.95..46.55 and columns 0.05..6.95; the south box lies in the last row of chunks
NORTH_CHUNK, SOUTH_CHUNK = BBox(0, 47, 6, 50), BBox(0, 40, 10, 43)


def test_a_flipped_byte_in_a_chunk_inside_the_shard_is_caught_by_crc32c_on_a_range_read(world):
    """A read fetches the shard index and the chunks it needs by range: crc32c inside the shard checks exactly
    those bytes, for a part of the tile and for all of it; ``verify`` re-hashes the whole shard (SHA-256)."""
    app, tile, objs = world
    rel = objs.chunk_of("ozone")
    shard = bytearray(objs.get(rel))
    offset, length = shard_index(bytes(shard), objs.chunks_per_shard("ozone"))[0]  # the north-west chunk
    shard[offset + length // 2] ^= 0x01
    objs.put(rel, bytes(shard))
    refused(app, tile, rel, span=lead(0), box=NORTH_CHUNK, what="crc32c")
    assert read(app, tile, span=lead(2), box=SOUTH_CHUNK)["ozone"].size  # the other chunk is still served
    refused(app, tile, rel, what="crc32c")
    verify_names(app, tile, rel)


def test_a_flipped_byte_in_the_shard_index_is_caught_by_its_crc32c(world):
    app, tile, objs = world
    rel = objs.chunk_of("ozone")
    shard = bytearray(objs.get(rel))
    shard[-10] ^= 0x80  # inside the index (uint64 offset/length pairs), before its crc32c
    objs.put(rel, bytes(shard))
    refused(app, tile, rel, span=lead(1), box=NORTH_CHUNK, what="crc32c")
    verify_names(app, tile, rel)


@pytest.mark.parametrize("span", [lead(1), SPAN], ids=["one lead time", "whole tile"])
def test_a_truncated_shard_is_refused(world, span):
    app, tile, objs = world
    rel = objs.chunk_of("ozone")
    body = objs.get(rel)
    objs.put(rel, body[:-100])
    refused(app, tile, rel, span=span, what=f"is {len(body) - 100} bytes")
    verify_names(app, tile, rel)


def test_an_edited_manifest_is_refused(world):
    """A manifest edited consistently (the shard's entry made to match a tampered shard) is still caught:
    the catalog's digest anchors the manifest object."""
    app, tile, objs = world
    rel = objs.chunk_of("ozone")
    shard = objs.get(rel)[:-100]
    objs.put(rel, shard)
    doc = json.loads(objs.get(MANIFEST))
    for o in doc["objects"]:
        if o["key"] == rel:
            o["size"], o["sha256"] = len(shard), hashlib.sha256(shard).hexdigest()
    objs.put(MANIFEST, json.dumps(doc, sort_keys=True, separators=(",", ":")).encode())
    refused(app, tile, MANIFEST, what=tile.sha256)
    verify_names(app, tile, MANIFEST)


def test_a_manifest_that_is_not_json_is_refused(world):
    app, tile, objs = world
    objs.put(MANIFEST, b"\x00" + objs.get(MANIFEST)[1:])
    refused(app, tile, MANIFEST)
    verify_names(app, tile, MANIFEST)


@pytest.mark.parametrize("victim", ["zarr.json", "ozone/zarr.json"])
def test_an_edited_metadata_or_coordinate_object_is_refused(world, victim):
    app, tile, objs = world
    rel = victim if victim.endswith("zarr.json") else objs.chunk_of(victim)
    body = objs.get(rel)
    if rel.endswith("zarr.json"):  # still valid metadata: only the checksum can tell
        doc = json.loads(body)
        doc["attributes"]["units" if "units" in doc["attributes"] else "title"] = "tampered"
        changed = json.dumps(doc, indent=2).encode()
    else:
        changed = bytes([body[0] ^ 1]) + body[1:]
    objs.put(rel, changed)
    refused(app, tile, rel, what="sha256")
    verify_names(app, tile, rel)


@pytest.mark.parametrize("victim", ["zarr.json", "ozone/zarr.json", "ozone"])
def test_a_deleted_object_is_refused(world, victim):
    """A deleted shard must not read as fill values (NaN): the manifest lists it."""
    app, tile, objs = world
    rel = victim if victim.endswith("zarr.json") else objs.chunk_of(victim)
    objs.delete(rel)
    for span in (SPAN, lead(1)):
        refused(app, tile, rel, span=span, what="is missing")
    assert verify_names(app, tile, rel).endswith("is missing")


def test_a_deleted_manifest_is_refused(world):
    app, tile, objs = world
    objs.delete(MANIFEST)
    refused(app, tile, MANIFEST, what="missing")
    verify_names(app, tile, MANIFEST)


def test_an_extra_object_is_ignored_by_read_and_reported_by_verify(world, grib):
    app, tile, objs = world
    objs.put("ozone/c/9/9/9", b"stray")
    objs.put("extra.json", b"{}")
    assert_bit_exact(read(app, tile), grib)
    assert app.tile_format.verify(app.curated_store, tile) == [
        f"tile {tile.key}: object extra.json is not in the tile's manifest",
        f"tile {tile.key}: object ozone/c/9/9/9 is not in the tile's manifest"]


def test_the_catalog_digest_is_what_anchors_the_manifest(world):
    app, tile, objs = world
    other = replace(tile, sha256="0" * 64)
    refused(app, other, MANIFEST, what="0" * 64)
    verify_names(app, other, MANIFEST)


def test_several_problems_are_all_listed_by_verify(world):
    app, tile, objs = world
    lat, shard = "zarr.json", objs.chunk_of("ozone")
    objs.put(lat, objs.get(lat)[::-1])
    objs.delete(shard)
    objs.put("stray", b"x")
    problems = app.tile_format.verify(app.curated_store, tile)
    assert [re.search(r"object (\S+)", p).group(1) for p in problems] == sorted([lat, shard]) + ["stray"]


class Failing:
    """The curated store, except that one method fails with ``error``."""

    def __init__(self, inner, method, error):
        self.inner, self.method, self.error = inner, method, error

    def __getattr__(self, name):
        if name == self.method:
            def fail(key, *args):
                raise self.error(f"{key}: injected")
            return fail
        return getattr(self.inner, name)


def test_a_shard_vanishing_between_size_check_and_range_read_is_refused_not_filled_with_nan(world):
    app, tile, objs = world
    store = Failing(app.curated_store, "get_range", NotFound)
    with pytest.raises(IntegrityError, match=f"object {re.escape(objs.chunk_of('ozone'))} is missing"):
        app.tile_format.read(store, [tile], NORTH_CHUNK, lead(1))


@pytest.mark.parametrize("method", ["get", "list"])
def test_a_failing_store_is_backend_unavailable_for_read_and_verify(world, method):
    app, tile, objs = world
    store = Failing(app.curated_store, method, BackendUnavailable)
    with pytest.raises(BackendUnavailable):
        app.tile_format.verify(store, tile)
    if method == "get":
        with pytest.raises(BackendUnavailable):
            app.tile_format.read(store, [tile], tile.bbox, SPAN)


def test_verify_use_case_reports_tampering(world):
    app, tile, objs = world
    assert app.verify().problems == []
    doc = json.loads(objs.get("zarr.json"))
    doc["attributes"]["title"] = "tampered"
    objs.put("zarr.json", json.dumps(doc).encode())
    report = app.verify()
    assert report.tiles == 1 and len(report.problems) == 1 and "object zarr.json" in report.problems[0]


# -- tiles of earlier versions -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["filesystem", "memory"])
@pytest.mark.parametrize("old", [V2TileFormat, V3TileFormat], ids=["version 2", "version 3"])
def test_tiles_of_versions_2_and_3_read_back_bit_exact_and_verify(grib, tmp_path, kind, old):
    app, tile, objs = _world(grib, tmp_path, kind, old())
    assert MANIFEST in objs.keys()
    assert app.tile_format.verify(app.curated_store, tile) == []
    assert_bit_exact(read(app, tile), grib)
    point = read(app, tile, span=lead(2), box=BBox(2.35, 48.85, 2.35, 48.85))["ozone"]
    assert point.shape == (1, 1, 1, 1)
    assert np.array_equal(bits(point.values[0, 0]), bits(ecc_reference(grib)[2]["values"][11:12, 23:24]))


# -- version-1 tiles ------------------------------------------------------------------------------------------

def test_a_version_1_tile_reads_back_bit_exact_and_verifies(v1_world, grib):
    """Written the old way (no manifest object, no crc32c inside the shard; the catalog digest covers every
    object): still served, after every object is hashed against that digest."""
    app, tile, objs = v1_world
    assert MANIFEST not in objs.keys()
    (sharding,) = json.loads(objs.get("ozone/zarr.json"))["codecs"]
    assert "crc32c" not in [c["name"] for c in sharding["configuration"]["codecs"]]
    assert app.tile_format.verify(app.curated_store, tile) == []
    assert_bit_exact(read(app, tile), grib)
    assert read(app, tile, span=lead(3))["ozone"].shape == (1, 1, 100, 100)


@pytest.mark.parametrize("tamper", ["latitude shifted", "shard byte flipped", "object deleted", "object added"])
def test_a_tampered_version_1_tile_is_refused(v1_world, tamper):
    app, tile, objs = v1_world
    lat, shard = objs.chunk_of("latitude"), objs.chunk_of("ozone")
    if tamper == "latitude shifted":
        objs.put(lat, (np.frombuffer(objs.get(lat), dtype="<f8") + 5.0).astype("<f8").tobytes())
    elif tamper == "shard byte flipped":
        body = bytearray(objs.get(shard))
        offset, length = shard_index(bytes(body), STEPS)[0]
        body[offset + length // 2] ^= 1
        objs.put(shard, bytes(body))
    elif tamper == "object deleted":
        objs.delete("longitude/zarr.json")
    else:
        objs.put("ozone/c/9/9/9", b"stray")
    for span in (SPAN, lead(0)):
        refused(app, tile, MANIFEST, span=span, what="version-1")
    assert "version-1" in verify_names(app, tile, MANIFEST)
