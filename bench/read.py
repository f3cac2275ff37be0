"""Benchmark: serving reads through the public API (``Jackfruit.read``, verified) beside the same answer decoded
from the raw GRIB with ecCodes, same run, same data.

Transforms one generated day (4 species x STEPS lead times) into tiles on a filesystem curated bucket, then
times each query (median of REPEAT, after one warm-up; the first read of a fresh app is printed as "cold"):
  (a) a point time series over every lead time, one species and four;
  (b) a whole-domain map at one lead time, one species.
The raw side knows where each message is (an index of message offsets, as a user with a GRIB index has; the
scan that builds it is not counted) and decodes only what it needs: for a point, the one value of each
message (``codes_get_double_element``, which unpacks a single value of simple packing), for a map, the one
message. Objects and bytes fetched from the curated store per query are printed (the S3 cost).

    .venv/bin/python bench/read.py              # 97 lead times
    .venv/bin/python bench/read.py --steps 3    # quick (CI smoke)
    .venv/bin/python bench/read.py --store s3   # tiles in an S3 bucket (the server of scripts/s3-server,
                                                # or MINIO_ENDPOINT / MINIO_ACCESS_KEY / MINIO_SECRET_KEY)
"""

from __future__ import annotations

from _s3 import drop_bucket  # bench/_s3.py (the benches run as scripts: their folder is on sys.path)

import argparse
import mmap
import statistics
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

DAY = date(2025, 3, 12)


class Counting:
    """The curated store, counting requests and bytes fetched."""

    def __init__(self, inner):
        self.inner, self.requests, self.bytes = inner, 0, 0

    def get(self, key):
        body = self.inner.get(key)
        self.requests, self.bytes = self.requests + 1, self.bytes + len(body)
        return body

    def get_range(self, key, start, length=None):
        body = self.inner.get_range(key, start, length)
        self.requests, self.bytes = self.requests + 1, self.bytes + len(body)
        return body

    def head(self, key):
        self.requests += 1
        return self.inner.head(key)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _s3_settings(store: str) -> dict:
    """Settings for tiles in fresh buckets on an S3-compatible server (endpoint and keys from the environment)."""
    import os
    import uuid

    if store != "s3":
        return {}
    env = os.environ
    endpoint = env.get("MINIO_ENDPOINT") or env.get("JACKFRUIT_TEST_S3_ENDPOINT")
    if not endpoint:
        raise SystemExit("--store s3: set MINIO_ENDPOINT (and keys), or eval \"$(scripts/s3-server start)\"")
    tag = uuid.uuid4().hex[:12]
    return {"JACKFRUIT_OBJECT_STORE": "s3", "MINIO_ENDPOINT": endpoint,
            "MINIO_ACCESS_KEY": env.get("MINIO_ACCESS_KEY") or env.get("JACKFRUIT_TEST_S3_ACCESS_KEY"),
            "MINIO_SECRET_KEY": env.get("MINIO_SECRET_KEY") or env.get("JACKFRUIT_TEST_S3_SECRET_KEY"),
            "MINIO_BUCKET": f"bench-raw-{tag}", "JACKFRUIT_CURATED_BUCKET": f"bench-curated-{tag}"}


def median_ms(fn, repeat: int) -> float:
    fn()
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=97)
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--store", choices=["filesystem", "s3"], default="filesystem",
                   help="where the buckets are: local directories, or an S3-compatible server")
    a = p.parse_args()
    import jackfruit.adapters._load_order  # noqa: F401 - libpq before ecCodes (README: known limitation)
    import eccodes
    import numpy as np

    from jackfruit.adapters.transform.eccodes_decoder import EccodesGribDecoder
    from jackfruit.adapters.transform.zarr_tiles import ZarrTileFormat
    from jackfruit.app import Jackfruit
    from jackfruit.sources.cams_europe.codes import MAIN_SPECIES, SPECIES_BY_CODE
    from jackfruit.domain.geo import BBox, TimeRange
    from jackfruit.settings import Settings
    from jackfruit.sources.cams_europe.synthetic import fields, write_cams_grib

    with tempfile.TemporaryDirectory(prefix="bench-read-") as work:
        grib = Path(work) / "day.grib"
        write_cams_grib(grib, fields([DAY], ["ensemble"], list(MAIN_SPECIES), [0], range(a.steps)))
        settings = Settings(JACKFRUIT_DATA_DIR=str(Path(work) / "data"), **_s3_settings(a.store))
        from jackfruit.container import init_storage

        init_storage(settings)
        app = Jackfruit.from_settings(settings)
        # the file's own request, read from its headers and checked (the same write-once path as an ingest)
        run = app.land(grib, dataset="cams-europe-air-quality-forecasts", partition_date=DAY)
        app.transform(run.run_id)
        counting = Counting(app.curated_store)
        app.curated_store = counting

        # the raw side's index: (variable, step) -> message, from one scan (not timed)
        messages = EccodesGribDecoder().scan(str(grib))
        index = {(SPECIES_BY_CODE[(m.number, m.constituent_type)].name, m.step_hours): m for m in messages}
        grid = messages[0].grid
        f = open(grib, "rb")
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        lon, lat = 2.35, 48.85
        j, i = round((lat - grid.lat0) / grid.dlat), round((lon - grid.lon0) / grid.dlon)

        def raw_point(variables):
            out = []
            for v in variables:
                for s in range(a.steps):
                    m = index[(v, s)]
                    h = eccodes.codes_new_from_message(mm[m.offset:m.offset + m.length])
                    out.append(eccodes.codes_get_double_element(h, "values", j * grid.nx + i))
                    eccodes.codes_release(h)
            return out

        def raw_map(v, s):
            m = index[(v, s)]
            h = eccodes.codes_new_from_message(mm[m.offset:m.offset + m.length])
            values = eccodes.codes_get_values(h, ktype=np.float32)
            eccodes.codes_release(h)
            return values

        t0 = datetime(2025, 3, 12, tzinfo=timezone.utc)
        lead = min(5, a.steps - 1)
        everything = TimeRange(t0, t0 + timedelta(hours=a.steps))
        queries = [
            ("(a) point series, 1 species", BBox(lon, lat, lon, lat), everything, ["ozone"],
             lambda: raw_point(["ozone"]), 20.0, 10.0),
            ("(a) point series, 4 species", BBox(lon, lat, lon, lat), everything, list(MAIN_SPECIES),
             lambda: raw_point(MAIN_SPECIES), 20.0, None),
            ("(b) whole-domain map, 1 lead time", BBox(-180, -90, 180, 90),
             TimeRange(t0 + timedelta(hours=lead), t0 + timedelta(hours=lead + 1)), ["ozone"],
             lambda: raw_map("ozone", lead), None, 30.0),
        ]
        print(f"{a.steps} lead times; median of {a.repeat} reads after a warm-up; verified reads through "
              f"Jackfruit.read from {a.store} buckets; raw = ecCodes on an indexed local GRIB")
        print(f"{'query':36s} {'jackfruit ms':>12s} {'cold ms':>8s} {'raw ms':>8s} {'raw/jf':>7s} "
              f"{'requests':>8s} {'KiB read':>8s}  goal")
        for name, box, span, variables, raw, speedup_goal, ms_goal in queries:
            ds = app.read(box, span, variables)
            # the same answer: jackfruit's values equal ecCodes' (bit for bit, as float32)
            want = np.asarray(raw(), dtype=np.float32)
            got = np.concatenate([ds[v].values.ravel() for v in variables])
            if not np.array_equal(got.view(np.uint32), want.ravel().view(np.uint32)):
                raise SystemExit(f"{name}: jackfruit and ecCodes disagree")
            fresh = Jackfruit(**{**app.__dict__, "tile_format": ZarrTileFormat()})  # empty tile cache
            t = time.perf_counter()
            fresh.read(box, span, variables)
            cold = (time.perf_counter() - t) * 1000
            counting.requests = counting.bytes = 0
            app.read(box, span, variables)
            requests, kib = counting.requests, counting.bytes / 1024
            jf = median_ms(lambda: app.read(box, span, variables), a.repeat)
            rw = median_ms(raw, max(3, a.repeat // 3))
            goal = []
            if speedup_goal:
                goal.append(f"raw/jf >= {speedup_goal:.0f}")
            if ms_goal:
                goal.append(f"<= {ms_goal:.0f} ms")
            print(f"{name:36s} {jf:12.2f} {cold:8.1f} {rw:8.2f} {rw / jf:7.1f} {requests:8d} {kib:8.0f}  "
                  + ", ".join(goal))
        mm.close()
        f.close()
        if a.store == "s3":
            for bucket in (settings.raw_bucket, settings.curated_bucket):
                drop_bucket(app.raw_store.client, bucket)


if __name__ == "__main__":
    main()
