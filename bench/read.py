"""Benchmark: the cost of verified reads (docs/adr/0004) against unverified reads of the same tiles, same run.

Transforms one generated day (4 species x STEPS lead times) into tiles on a filesystem curated bucket, then
times, per query: a point time series of one species, and a one-lead-time map of a 10-degree cell, each
read (a) verified, as `read` does it (manifest digest, object hashes, crc32c), and (b) unverified
(the same tile format with verification bypassed, the baseline). Median of REPEAT runs.

    .venv/bin/python bench/read.py              # 97 lead times
    .venv/bin/python bench/read.py --steps 3    # quick (CI smoke)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

DAY = date(2025, 3, 12)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=97)
    p.add_argument("--repeat", type=int, default=15)
    a = p.parse_args()
    import xarray as xr

    from jackfruit.adapters.memory_runner import InMemoryRunner
    from jackfruit.adapters.zarr_store import ObjectStoreZarrStore
    from jackfruit.adapters.zarr_tiles import ZarrTileFormat
    from jackfruit.app import Jackfruit
    from jackfruit.domain.cams import MAIN_SPECIES
    from jackfruit.domain.geo import BBox, TimeRange
    from jackfruit.ports import Secret, Upstream
    from jackfruit.settings import Settings
    from jackfruit.testing.cams_grib import fields, write_cams_grib

    class Unverified(ZarrTileFormat):
        def open(self, store, key, sha256=None):  # the baseline: no manifest, no hashes
            return xr.open_zarr(ObjectStoreZarrStore(store, key), zarr_format=3, consolidated=False, chunks=None,
                                decode_timedelta=False)

    with tempfile.TemporaryDirectory(prefix="bench-read-") as work:
        grib = Path(work) / "day.grib"
        write_cams_grib(grib, fields([DAY], ["ensemble"], list(MAIN_SPECIES), [0], range(a.steps)))
        app = Jackfruit.from_settings(Settings(JACKFRUIT_DATA_DIR=str(Path(work) / "data")))
        app.runner = InMemoryRunner(app.raw_store, lambda d, r: grib.read_bytes())
        run = app.ingest("cams-europe-air-quality-forecasts", DAY, upstream=Upstream("memory://", Secret("bench")))
        app.transform(run.run_id)
        t0 = datetime(2025, 3, 12, tzinfo=timezone.utc)
        queries = {
            "point series, 1 species": (BBox(2.35, 48.85, 2.35, 48.85), TimeRange(t0, t0 + timedelta(hours=a.steps)),
                                        ["ozone"]),
            "1-step map of a cell": (BBox(0.01, 40.01, 9.99, 49.99), TimeRange(t0, t0 + timedelta(hours=1)),
                                     ["ozone"]),
        }
        print(f"tiles of {a.steps} lead times; median of {a.repeat} reads; verified vs unverified, same tiles")
        print(f"{'query':26s} {'verified ms':>12s} {'unverified ms':>14s} {'overhead':>9s}")
        for name, (box, span, variables) in queries.items():
            times = {}
            for label, fmt in (("verified", ZarrTileFormat()), ("unverified", Unverified())):
                tiles = app.find_tiles(box, span, variables)
                fmt.read(app.curated_store, tiles, box, span)  # warm
                samples = []
                for _ in range(a.repeat):
                    s = time.perf_counter()
                    fmt.read(app.curated_store, tiles, box, span)
                    samples.append(time.perf_counter() - s)
                times[label] = statistics.median(samples) * 1000
            print(f"{name:26s} {times['verified']:12.1f} {times['unverified']:14.1f} "
                  f"{times['verified'] / times['unverified'] - 1:+9.0%}")


if __name__ == "__main__":
    main()
