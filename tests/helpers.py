"""Test helpers: an app on in-memory adapters, and ecCodes' own decode as the losslessness reference."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

import eccodes
import numpy as np

from jackfruit.adapters.clock import FixedClock, Uuid7Generator
from jackfruit.adapters.eccodes_decoder import EccodesGribDecoder
from jackfruit.adapters.memory_catalog import InMemoryCatalog
from jackfruit.adapters.memory_runner import InMemoryRunner
from jackfruit.adapters.memory_store import InMemoryObjectStore
from jackfruit.adapters.zarr_tiles import ZarrTileFormat, manifest_digest
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
        ds = app.tile_format.open(app.curated_store, tile.key, tile.sha256)  # verified, as read does
        rows = np.rint((lat0 - ds["latitude"].values) / 0.1).astype(int)
        cols = np.rint((ds["longitude"].values - lon0) / 0.1).astype(int)
        data = ds[tile.variable].values
        for n, step in enumerate(ds["step"].values):
            key = (tile.model, tile.variable, tile.level_m, tile.reference_time, int(step))
            full = fields.setdefault(key, np.full(shape, np.float32(-1234.5), dtype=np.float32))
            full[np.ix_(rows, cols)] = data[n]
    return fields


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


class V1TileFormat(ZarrTileFormat):
    """Writes tiles the way transformation version 1 did: no crc32c inside the shard, no ``manifest.json``;
    the catalog's digest is ``manifest_digest`` over every object. Reading is the current (verified) code."""

    data_compressors = ZarrTileFormat.data_compressors[:1]  # Blosc only

    @staticmethod
    def _upload(objects: Mapping[str, Any], store: Any, key: str) -> tuple[int, str]:
        entries = []
        for rel, buf in sorted(objects.items()):
            info = store.put(f"{key}/{rel}", buf.to_bytes())
            entries.append((rel, info.size, info.sha256))
        return sum(e[1] for e in entries), manifest_digest(entries)


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


def shard_index(shard: bytes, chunks: int) -> list[tuple[int, int]]:
    """(offset, length) of each chunk of a sharded array's shard (index at the end: uint64 pairs + crc32c)."""
    index = np.frombuffer(shard[-(16 * chunks + 4):-4], dtype="<u8").reshape(chunks, 2)
    return [(int(o), int(n)) for o, n in index]
