"""Test helpers: an app on in-memory adapters, and ecCodes' own decode as the losslessness reference."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

import hashlib
import json

import eccodes
import numpy as np
import zarr
from zarr.codecs import BloscCodec, BloscShuffle, Crc32cCodec
from zarr.storage import MemoryStore

from jackfruit.adapters.clock import FixedClock, Uuid7Generator
from jackfruit.adapters.transform.eccodes_decoder import EccodesGribDecoder
from jackfruit.adapters.catalog.memory_catalog import InMemoryCatalog
from jackfruit.adapters.runner.memory_runner import InMemoryRunner
from jackfruit.adapters.storage.memory_store import InMemoryObjectStore
from jackfruit.adapters.transform.zarr_tiles import EPOCH_UNITS, ZarrTileFormat, manifest_bytes, manifest_digest
from jackfruit.app import Jackfruit
from jackfruit.ports import Secret, Upstream


def memory_app(source: Callable[[str, Mapping[str, Any]], bytes], **overrides: Any) -> Jackfruit:
    clock = FixedClock(datetime(2025, 3, 12, 13, tzinfo=timezone.utc))
    raw = InMemoryObjectStore("jackfruit-raw", write_once=True)
    ports: dict[str, Any] = dict(
        catalog=InMemoryCatalog(), raw_store=raw, curated_store=InMemoryObjectStore("jackfruit-curated"),
        runner=InMemoryRunner(raw, source), decoder=EccodesGribDecoder(), tile_format=ZarrTileFormat(),
        clock=clock, ids=Uuid7Generator(clock), upstream=Upstream("memory://", Secret("k")))
    ports.update(overrides)
    app = Jackfruit(**ports)
    app.register_builtin_datasets()
    return app


def file_source(path: Path) -> Callable[[str, Mapping[str, Any]], bytes]:
    body = path.read_bytes()
    return lambda dataset, request: body


def ecc_reference(path: Path) -> list[dict[str, Any]]:
    """Every message decoded by ecCodes directly: keys that identify it and float32 values (NaN = bitmap 0)."""
    out = []
    with open(path, "rb") as f:
        while (h := eccodes.codes_grib_new_from_file(f)) is not None:
            try:
                values = eccodes.codes_get_values(h)
                if eccodes.codes_get(h, "bitmapPresent"):
                    values = np.where(eccodes.codes_get_array(h, "bitmap") != 0, values, np.nan)
                out.append({
                    "centre": eccodes.codes_get(h, "centre", int), "subCentre": eccodes.codes_get(h, "subCentre"),
                    "constituentType": eccodes.codes_get(h, "constituentType"),
                    "parameterNumber": eccodes.codes_get(h, "parameterNumber"),
                    "level": eccodes.codes_get(h, "level"), "dataDate": eccodes.codes_get(h, "dataDate"),
                    "step": eccodes.codes_get(h, "forecastTime"),
                    "values": values.astype(np.float32).reshape(eccodes.codes_get(h, "Nj"), eccodes.codes_get(h, "Ni")),
                    "lat0": eccodes.codes_get(h, "latitudeOfFirstGridPointInDegrees"),
                    "lon0": eccodes.codes_get(h, "longitudeOfFirstGridPointInDegrees"),
                })
            finally:
                eccodes.codes_release(h)
    return out


def assemble(app: Jackfruit, tiles: list, shape: tuple[int, int], lat0: float, lon0: float) -> dict:
    """Rebuild full fields from tiles: {(model, variable, level, ref, step): float32 (ny, nx)}."""
    fields: dict = {}
    for tile in tiles:
        ds = app.tile_format.open(app.curated_store, tile)  # verified, as read does
        rows = np.rint((lat0 - ds["latitude"].values) / 0.1).astype(int)
        cols = np.rint((ds["longitude"].values - lon0) / 0.1).astype(int)
        data = ds[tile.variable].values[0]  # the tile's one reference time
        for n, step in enumerate(ds["step"].values):
            key = (tile.model, tile.variable, tile.level_m, tile.reference_time, int(step))
            full = fields.setdefault(key, np.full(shape, np.float32(-1234.5), dtype=np.float32))
            full[np.ix_(rows, cols)] = data[n]
    return fields


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


class V2TileFormat(ZarrTileFormat):
    """Writes tiles the way transformation version 2 did (a Zarr group with CF coordinate arrays, one shard of
    one-lead-time chunks, Blosc zstd-3 + crc32c, ``manifest.json``): the code of that version, kept here to
    prove such tiles stay readable and verifiable. Reading is the current code."""

    data_compressors: tuple = (BloscCodec(cname="zstd", clevel=3, shuffle=BloscShuffle.shuffle), Crc32cCodec())

    def write(self, store: Any, key: str, group: Any, cell: Any, values: Any,
              attrs: Mapping[str, Any], scratch: str = "") -> tuple[int, str]:
        (j0, j1), (i0, i1) = cell.rows, cell.cols
        values = values(0, len(group.steps))  # the whole group at once, as version 2 did
        block = np.ascontiguousarray(values[:, j0:j1, i0:i1], dtype=np.float32)
        steps = np.asarray(group.steps, dtype=np.int32)
        ref = int(group.reference_time.timestamp())
        objects: dict[str, Any] = {}
        root = zarr.open_group(MemoryStore(objects), mode="w", zarr_format=3, attributes={
            "Conventions": "CF-1.10",
            "title": f"{attrs.get('long_name', group.variable)} ({group.model}, {group.level_m} m)",
            "institution": "CAMS regional ensemble via the Copernicus Atmosphere Data Store",
            "source": attrs.get("source_raw_key", ""),
            "history": f"{attrs.get('transformation')} v{attrs.get('transformation_version')}",
            "license": "Copernicus licence; " + str(attrs.get("attribution", "")),
            "jackfruit_model": group.model,
            "jackfruit_level_m": group.level_m,
            "jackfruit_cell": cell.cell_id,
            "jackfruit_cell_bbox": list(cell.bbox.as_tuple()),
            **{k: v for k, v in attrs.items() if k.startswith(("source_", "transformation", "attribution"))},
        })
        data = root.create_array(
            group.variable, shape=block.shape, dtype="float32", chunks=(1,) + block.shape[1:],
            shards=block.shape, compressors=list(self.data_compressors), fill_value=np.nan,
            dimension_names=("step", "latitude", "longitude"),
            attributes={k: attrs[k] for k in ("units", "long_name", "standard_name") if k in attrs}
            | {"coordinates": "valid_time forecast_reference_time", "jackfruit_variable": group.variable})
        data[...] = block
        self._coord(root, "step", steps, ("step",), {"units": "hours", "long_name": "lead time",
                                                     "standard_name": "forecast_period"})
        self._coord(root, "latitude", np.array([group.grid.lat(j) for j in range(j0, j1)]), ("latitude",),
                    {"units": "degrees_north", "standard_name": "latitude"})
        self._coord(root, "longitude", np.array([group.grid.lon(i) for i in range(i0, i1)]), ("longitude",),
                    {"units": "degrees_east", "standard_name": "longitude"})
        self._coord(root, "valid_time", ref + steps.astype(np.int64) * 3600, ("step",),
                    {"units": EPOCH_UNITS, "calendar": "proleptic_gregorian", "standard_name": "time"})
        self._coord(root, "forecast_reference_time", np.array(ref, dtype=np.int64), (),
                    {"units": EPOCH_UNITS, "calendar": "proleptic_gregorian",
                     "standard_name": "forecast_reference_time"})
        return self._upload(objects, store, key)

    @staticmethod
    def _coord(root: Any, name: str, values: np.ndarray, dims: tuple[str, ...], attrs: dict[str, Any]) -> None:
        arr = root.create_array(name, shape=values.shape, dtype=values.dtype, chunks=values.shape if values.shape else (),
                                compressors=None, dimension_names=dims, attributes=attrs, fill_value=None)
        arr[...] = values

    @staticmethod
    def _upload(objects: Mapping[str, Any], store: Any, key: str) -> tuple[int, str]:
        entries = []
        for rel, buf in sorted(objects.items()):
            body = buf.to_bytes()
            info = store.put(f"{key}/{rel}", body)
            entries.append((rel, info.size, info.sha256))
        manifest = manifest_bytes(entries)
        info = store.put(f"{key}/manifest.json", manifest)
        return sum(e[1] for e in entries) + info.size, hashlib.sha256(manifest).hexdigest()


class V1TileFormat(V2TileFormat):
    """Writes tiles the way transformation version 1 did: no crc32c inside the shard, no ``manifest.json``;
    the catalog's digest is ``manifest_digest`` over every object. Reading is the current (verified) code."""

    data_compressors = V2TileFormat.data_compressors[:1]  # Blosc only

    @staticmethod
    def _upload(objects: Mapping[str, Any], store: Any, key: str) -> tuple[int, str]:
        entries = []
        for rel, buf in sorted(objects.items()):
            info = store.put(f"{key}/{rel}", buf.to_bytes())
            entries.append((rel, info.size, info.sha256))
        return sum(e[1] for e in entries), manifest_digest(entries)


class V3TileFormat(ZarrTileFormat):
    """Writes tiles the way transformation version 3 did (one shard for all lead times, inner chunks
    (8, 60, 100), Blosc zstd-1 + shuffle + crc32c, the whole group decoded at once): the code of that version,
    kept here to prove such tiles stay readable and verifiable. Reading is the current code."""

    v3_chunk = (8, 60, 100)
    v3_compressors = (BloscCodec(cname="zstd", clevel=1, shuffle=BloscShuffle.shuffle), Crc32cCodec())

    def write(self, store: Any, key: str, group: Any, cell: Any, values: Any,
              attrs: Mapping[str, Any], scratch: str = "") -> tuple[int, str]:
        import os
        import shutil
        import tempfile

        from jackfruit.adapters.transform.tile_manifest import MANIFEST, manifest_bytes
        from jackfruit.adapters.transform.tile_write import files as _files

        (j0, j1), (i0, i1) = cell.rows, cell.cols
        block = np.ascontiguousarray(values(0, len(group.steps))[:, j0:j1, i0:i1], dtype=np.float32)
        folder = tempfile.mkdtemp(prefix="tile-v3-", dir=scratch or None)
        try:
            chunks = tuple(min(c, n) for c, n in zip(self.v3_chunk, block.shape))
            shards = tuple(-(-n // c) * c for n, c in zip(block.shape, chunks))
            root = zarr.open_group(zarr.storage.LocalStore(folder), mode="w", zarr_format=3,
                                   attributes=self._root_attrs(group, cell, attrs))
            data = root.create_array(
                group.variable, shape=block.shape, dtype="float32", chunks=chunks, shards=shards,
                compressors=list(self.v3_compressors), fill_value=np.nan,
                dimension_names=("step", "latitude", "longitude"),
                attributes={k: attrs[k] for k in ("units", "long_name", "standard_name") if k in attrs}
                | {"jackfruit_variable": group.variable})
            data[...] = block
            entries = []
            for rel in sorted(_files(folder)):
                with open(os.path.join(folder, rel), "rb") as body:
                    info = store.put(f"{key}/{rel}", body)
                entries.append((rel, info.size, info.sha256))
            manifest = manifest_bytes(entries)
            info = store.put(f"{key}/{MANIFEST}", manifest)
            return sum(e[1] for e in entries) + info.size, hashlib.sha256(manifest).hexdigest()
        finally:
            shutil.rmtree(folder, ignore_errors=True)


class TileObjects:
    """The objects of one stored tile by relative key, to inspect and tamper with: on disk when the store is
    a ``FilesystemObjectStore`` (``root`` = the bucket directory), else through the ``ObjectStore`` port."""

    def __init__(self, store: Any, key: str, root: Path | None = None) -> None:
        self.store, self.key, self.root = store, key, root

    def keys(self) -> list[str]:
        return [info.key[len(self.key) + 1:] for info in self.store.list(self.key + "/")]

    def get(self, rel: str) -> bytes:
        return self.store.get(f"{self.key}/{rel}")

    def put(self, rel: str, body: bytes) -> None:
        if self.root is None:
            self.store.put(f"{self.key}/{rel}", body)
            return
        path = self.root / self.key / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.chmod(0o644)
        path.write_bytes(body)

    def delete(self, rel: str) -> None:
        if self.root is None:
            self.store.delete(f"{self.key}/{rel}")
        else:
            (self.root / self.key / rel).unlink()

    def chunk_of(self, array: str) -> str:
        """The one chunk (coordinates) or shard (data) object of ``array``; its key depends on zarr's layout."""
        (rel,) = [k for k in self.keys() if k.startswith(f"{array}/") and k != f"{array}/zarr.json"]
        return rel

    def chunks_per_shard(self, array: str) -> int:
        """How many inner chunks one shard of ``array`` indexes (from its metadata)."""
        (codec,) = json.loads(self.get(f"{array}/zarr.json"))["codecs"]
        outer = json.loads(self.get(f"{array}/zarr.json"))["chunk_grid"]["configuration"]["chunk_shape"]
        inner = codec["configuration"]["chunk_shape"]
        return int(np.prod([o // i for o, i in zip(outer, inner)]))


def shard_index(shard: bytes, chunks: int) -> list[tuple[int, int]]:
    """(offset, length) of each chunk of a sharded array's shard (index at the end: uint64 pairs + crc32c)."""
    index = np.frombuffer(shard[-(16 * chunks + 4):-4], dtype="<u8").reshape(chunks, 2)
    return [(int(o), int(n)) for o, n in index]


def landed_unchecked(app: Jackfruit, body: bytes, day: "date", request: Mapping[str, Any] | None = None):
    """A succeeded run whose raw object is ``body``, written through the ports without the acceptance check: a run
    landed before the check existed, for tests of what the transformation does with whatever it is given."""
    from datetime import timedelta

    from jackfruit.domain.keys import RawKey
    from jackfruit.domain.model import IngestionRun, RunStatus

    dataset = app.catalog.get_dataset("cams-europe-air-quality-forecasts")
    run_id, now = app.ids.new_run_id(), app.clock.now()
    key = str(RawKey(dataset.source, dataset.name, day, run_id, dataset.ext))
    app.catalog.claim_ingest(
        IngestionRun(run_id=run_id, source=dataset.source, dataset=dataset.name, partition_date=day,
                     request=dict(request) if request is not None else dataset.request_for(day), created_at=now,
                     status=RunStatus.PENDING, raw_key=key),
        attempt_id=app.ids.new_run_id(), owner="before-acceptance:1", now=now, expires_at=now + timedelta(seconds=60),
        supersede=True)
    info = app.raw_store.put(key, body)
    return app.catalog.succeed(run_id, 1, now=now, size=info.size, sha256=info.sha256, upstream_job_id=None)
