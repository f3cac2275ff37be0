"""Benchmark: serving reads through the public API (``Jackfruit.read``, verified) beside the same answer decoded
from the raw GRIB with ecCodes, same run, same data.

Transforms one generated day (4 species x STEPS lead times) into tiles on a filesystem curated bucket, then
times each query (median of REPEAT, after one warm-up; the first read of a fresh app is printed as "cold"):
  (a) a point time series over every lead time, one species and four;
  (b) a whole-domain map at one lead time, one species;
  (c) a 20x20 degree box across the antimeridian beside one that does not cross, every lead time of one
      species, on a global 0.4 degree grid in 0..360 and in -180..180 (ratio goal: at most 2);
  (d) a point time series over every lead time (121) of one forecast of the CAMS global forecasts (one day of
      that dataset's synthetic product, 0.4 degree global grid, landed and transformed through the public API),
      beside the same series decoded from the raw GRIB with an index of message offsets (goal: raw/jf >= 20).
The raw side knows where each message is (an index of message offsets, as a user with a GRIB index has; the
scan that builds it is not counted) and decodes only what it needs: for a point, the one value of each
message (``codes_get_double_element``, which unpacks a single value of simple packing), for a map, the one
message. Objects and bytes fetched from the curated store per query are printed (the S3 cost).

    .venv/bin/python bench/read.py              # 97 lead times (CAMS Europe), 121 (CAMS global, (d))
    .venv/bin/python bench/read.py --steps 3    # quick (CI smoke): 3 lead times everywhere
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
    p.add_argument("--steps", type=int, default=None,
                   help="lead times of every day (default: a full day, 97 for CAMS Europe and 121 for CAMS global)")
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--store", choices=["filesystem", "s3"], default="filesystem",
                   help="where the buckets are: local directories, or an S3-compatible server")
    a = p.parse_args()
    a.global_steps = GLOBAL_STEPS if a.steps is None else min(a.steps, GLOBAL_STEPS)
    a.steps = 97 if a.steps is None else a.steps
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
        antimeridian(app, Path(work), a)
        global_point(app, Path(work), a)
        if a.store == "s3":
            for bucket in (settings.raw_bucket, settings.curated_bucket):
                drop_bucket(app.raw_store.client, bucket)


#: (d): the global forecasts' day (lead times 0..120 of its 00 UTC forecast) and its point (Paris: the grid point
#: 48.8 N 2.4 E, the nearest; no tie)
GLOBAL_FORECASTS, GLOBAL_DAY, GLOBAL_STEPS = "cams-global-atmospheric-composition-forecasts", date(2025, 3, 13), 121
GLOBAL_SPECIES = "particulate_matter_2.5um"


def global_point(app, work: Path, a) -> None:
    """(d) One species' point series over every lead time of a CAMS global forecast, through ``Jackfruit.read``
    (tiles made by ``land`` + ``transform`` of the dataset's synthetic product), beside ecCodes on the raw file
    with an index of message offsets (``codes_get_double_element`` per message, as (a)); checked equal bit for
    bit first, then median of ``repeat`` reads each."""
    import eccodes
    import numpy as np

    from jackfruit.adapters.transform.zarr_tiles import ZarrTileFormat
    from jackfruit.app import Jackfruit
    from jackfruit.domain.geo import BBox, TimeRange
    from jackfruit.registry import default_registry

    profile = default_registry().get(GLOBAL_FORECASTS)
    request = profile.definition().request_for(GLOBAL_DAY)
    request.update(variable=[GLOBAL_SPECIES], time=["00:00"],
                   leadtime_hour=[str(h) for h in range(a.global_steps)])
    grib = work / "global-forecast.grib"
    grib.write_bytes(profile.synthetic_product(request))
    run = app.land(grib, dataset=GLOBAL_FORECASTS, partition_date=GLOBAL_DAY)
    app.transform(run.run_id)

    from jackfruit.adapters.transform.eccodes_decoder import EccodesGribDecoder

    messages = EccodesGribDecoder().scan(str(grib))  # the raw side's index (not timed): lead time -> message
    index = {m.step_hours: m for m in messages}
    grid = messages[0].grid
    lon, lat = 2.35, 48.85
    j, i = round((lat - grid.lat0) / grid.dlat), round((lon - grid.lon0) / grid.dlon)
    f = open(grib, "rb")
    mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)

    def raw_point():
        out = []
        for s in range(a.global_steps):
            m = index[s]
            h = eccodes.codes_new_from_message(mm[m.offset:m.offset + m.length])
            out.append(eccodes.codes_get_double_element(h, "values", j * grid.nx + i))
            eccodes.codes_release(h)
        return out

    t0 = datetime(GLOBAL_DAY.year, GLOBAL_DAY.month, GLOBAL_DAY.day, tzinfo=timezone.utc)
    box, span = BBox(lon, lat, lon, lat), TimeRange(t0, t0 + timedelta(hours=a.global_steps))

    def read():
        return app.read(box, span, [GLOBAL_SPECIES], dataset=GLOBAL_FORECASTS)

    ds = read()
    got = ds[GLOBAL_SPECIES].values.ravel()
    want = np.asarray(raw_point(), dtype=np.float32)
    if got.size != a.global_steps or not np.array_equal(got.view(np.uint32), want.view(np.uint32)):
        raise SystemExit("(d) global point series: jackfruit and ecCodes disagree")
    fresh = Jackfruit(**{**app.__dict__, "tile_format": ZarrTileFormat()})  # empty tile cache
    t = time.perf_counter()
    fresh.read(box, span, [GLOBAL_SPECIES], dataset=GLOBAL_FORECASTS)
    cold = (time.perf_counter() - t) * 1000
    counting = app.curated_store
    counting.requests = counting.bytes = 0
    read()
    requests, kib = counting.requests, counting.bytes / 1024
    jf = median_ms(read, a.repeat)
    rw = median_ms(raw_point, max(3, a.repeat // 3))
    mm.close()
    f.close()
    print(f"(d) CAMS global forecasts, {len(messages)} messages of {grid.ny}x{grid.nx}, {grib.stat().st_size / 1e6:.1f} "
          f"MB; point {ds.latitude.values[0]:g} N {ds.longitude.values[0]:g} E")
    print(f"{'query':36s} {'jackfruit ms':>12s} {'cold ms':>8s} {'raw ms':>8s} {'raw/jf':>7s} "
          f"{'requests':>8s} {'KiB read':>8s}  goal")
    print(f"{'(d) point series, ' + str(a.global_steps) + ' lead times':36s} {jf:12.2f} {cold:8.1f} {rw:8.2f} "
          f"{rw / jf:7.1f} {requests:8d} {kib:8.0f}  raw/jf >= 20")


#: (c): a global 0.4 degree grid in each longitude frame a file may have, one day each
#: (days a week apart: no forecast's lead times reach into another's day)
GLOBAL_AREAS = {"0..360": (date(2025, 3, 20), (90.0, 0.0, -90.0, 359.6)),
                "-180..180": (date(2025, 3, 27), (90.0, -180.0, -90.0, 179.6))}
CROSSING, PLAIN = (170.0, 30.0, -170.0, 50.0), (60.0, 30.0, 80.0, 50.0)  # both 20 x 20 degrees


def antimeridian(app, work: Path, a) -> None:
    """(c) A box across the antimeridian beside the same-size box that does not cross, every lead time of one
    species, on a global grid in 0..360 and in -180..180 (across the antimeridian, the latter's columns are two
    runs: its last ones, then its first). Values checked against ecCodes' decode; median of ``repeat`` reads
    of each, alternated, after the checked one; goal: crossing/plain <= 2."""
    import eccodes
    import numpy as np

    from jackfruit.domain.geo import BBox, TimeRange
    from jackfruit.sources.cams_europe.synthetic import fields, write_cams_grib

    print(f"{'(c) box, 20x20 deg, all lead times':36s} {'crossing ms':>12s} {'plain ms':>8s} {'ratio':>7s}  "
          f"{'req/KiB x':>10s} {'req/KiB p':>10s}  goal")
    for frame, (day, area) in GLOBAL_AREAS.items():
        grib = work / f"global-{day}.grib"
        write_cams_grib(grib, fields([day], ["ensemble"], ["ozone"], [0], range(a.steps)), area=area, step=0.4)
        run = app.land(grib, dataset="cams-europe-air-quality-forecasts", partition_date=day)
        app.transform(run.run_id)
        with open(grib, "rb") as f:  # ecCodes' own decode: (step, lat, lon) and the file's longitudes
            decoded, lons = [], None
            while (h := eccodes.codes_grib_new_from_file(f)) is not None:
                ni, nj = eccodes.codes_get(h, "Ni"), eccodes.codes_get(h, "Nj")
                decoded.append(eccodes.codes_get_values(h).astype(np.float32).reshape(nj, ni))
                lons = eccodes.codes_get_array(h, "longitudes")[:ni]
                eccodes.codes_release(h)
        t0 = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        span = TimeRange(t0, t0 + timedelta(hours=a.steps))
        boxes = {"crossing": BBox(*CROSSING), "plain": BBox(*PLAIN)}
        for name, box in boxes.items():
            ds = app.read(box, span, ["ozone"])
            if ds.sizes["forecast_reference_time"] != 1:
                raise SystemExit(f"(c) {frame} {name}: read {ds.sizes['forecast_reference_time']} forecasts, not 1")
            cols = [int(np.flatnonzero(np.isclose((lons - x) % 360, 0) | np.isclose((lons - x) % 360, 360))[0])
                    for x in ds.longitude.values]
            rows = [round((90.0 - y) / 0.4) for y in ds.latitude.values]
            want = np.stack([d[np.ix_(rows, cols)] for d in decoded])
            if not np.array_equal(ds["ozone"].values[0].view(np.uint32), want.view(np.uint32)):
                raise SystemExit(f"(c) {frame} {name}: jackfruit and ecCodes disagree")
        samples: dict[str, list[float]] = {name: [] for name in boxes}
        for _ in range(a.repeat):  # alternated, so both see the same machine
            for name, box in boxes.items():
                t = time.perf_counter()
                app.read(box, span, ["ozone"])
                samples[name].append(time.perf_counter() - t)
        ms = {name: statistics.median(v) * 1000 for name, v in samples.items()}
        fetched = {}
        for name, box in boxes.items():  # requests and KiB fetched per read (the tile cache warm)
            app.curated_store.requests = app.curated_store.bytes = 0
            app.read(box, span, ["ozone"])
            fetched[name] = f"{app.curated_store.requests}/{app.curated_store.bytes // 1024}"
        print(f"{'    grid ' + frame:36s} {ms['crossing']:12.2f} {ms['plain']:8.2f} "
              f"{ms['crossing'] / ms['plain']:7.2f}  {fetched['crossing']:>10s} {fetched['plain']:>10s}  "
              "crossing/plain <= 2")


if __name__ == "__main__":
    main()
