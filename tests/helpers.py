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
from jackfruit.adapters.zarr_tiles import ZarrTileFormat
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
