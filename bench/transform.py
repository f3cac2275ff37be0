"""Benchmark: jackfruit's GRIB -> Zarr tiles transformation vs a naive cfgrib ``open_dataset().to_zarr()``.

Generates one full CAMS Europe day (4 species x 97 lead times, 700x420, 16-bit, ~228 MB) once,
then runs each variant in its own child process (wall time and peak RSS of that child), same run.

    .venv/bin/python bench/transform.py            # full day
    .venv/bin/python bench/transform.py --steps 25 # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

DAY = date(2025, 3, 12)


def child_jackfruit(grib: Path, work: Path) -> dict:
    from jackfruit.adapters.memory_runner import InMemoryRunner
    from jackfruit.app import Jackfruit
    from jackfruit.settings import Settings

    app = Jackfruit.from_settings(Settings(JACKFRUIT_DATA_DIR=str(work)))
    from jackfruit.ports import Secret, Upstream

    app.runner = InMemoryRunner(app.raw_store, lambda d, r: grib.read_bytes())
    run = app.ingest("cams-europe-air-quality-forecasts", DAY, upstream=Upstream("memory://", Secret("bench")))
    t0 = time.perf_counter()
    tiles = app.transform(run.run_id)
    elapsed = time.perf_counter() - t0
    return {"seconds": elapsed, "tiles": len(tiles), "bytes_out": sum(t.size for t in tiles),
            "fields_kept": sum(t.shape[0] for t in tiles) // 40}


def child_naive(grib: Path, work: Path) -> dict:
    import xarray as xr

    t0 = time.perf_counter()
    ds = xr.open_dataset(grib, engine="cfgrib", backend_kwargs={"indexpath": ""})
    ds.to_zarr(work / "naive.zarr", mode="w", zarr_format=3, consolidated=False)
    elapsed = time.perf_counter() - t0
    kept = sum(int(v.size // (v.sizes.get("latitude", 1) * v.sizes.get("longitude", 1))) for v in ds.data_vars.values())
    size = sum(f.stat().st_size for f in (work / "naive.zarr").rglob("*") if f.is_file())
    return {"seconds": elapsed, "variables": list(ds.data_vars), "bytes_out": size, "fields_kept": kept}


def run_child(kind: str, grib: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as work:
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--child", kind, str(grib), work], capture_output=True,
                             text=True, check=True)
        wall = time.perf_counter() - t0
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = wall
    return result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=97)
    p.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "jackfruit-bench"))
    p.add_argument("--child", nargs=3, metavar=("KIND", "GRIB", "WORK"))
    a = p.parse_args()
    if a.child:
        kind, grib, work = a.child
        result = (child_jackfruit if kind == "jackfruit" else child_naive)(Path(grib), Path(work))
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    from jackfruit.domain.cams import MAIN_SPECIES
    from jackfruit.testing.cams_grib import fields, write_cams_grib

    cache = Path(a.cache)
    cache.mkdir(parents=True, exist_ok=True)
    grib = cache / f"cams-europe-{DAY}-4x{a.steps}.grib"
    specs = fields([DAY], ["ensemble"], list(MAIN_SPECIES), [0], range(a.steps))
    if not grib.exists():
        write_cams_grib(grib, specs)
    size_mb = grib.stat().st_size / 1e6
    print(f"input: {grib.name}, {len(specs)} messages, {size_mb:.1f} MB; cores: {os.cpu_count()}")
    rows = [("jackfruit tiles", run_child("jackfruit", grib)), ("naive cfgrib to_zarr", run_child("naive", grib))]
    print(f"{'variant':24s} {'transform s':>11s} {'MB/s in':>8s} {'ms/field kept':>13s} {'peak RSS MiB':>12s} "
          f"{'fields kept':>11s} {'MB out':>7s}")
    for name, r in rows:
        print(f"{name:24s} {r['seconds']:11.2f} {size_mb / r['seconds']:8.1f} "
              f"{1000 * r['seconds'] / max(r['fields_kept'], 1):13.1f} {r['peak_rss_mib']:12.0f} "
              f"{r['fields_kept']:>5d}/{len(specs):<5d} {r['bytes_out'] / 1e6:7.1f}")
    naive = rows[1][1]
    if naive["fields_kept"] < len(specs):
        print(f"note: the naive path kept {naive['fields_kept']} of {len(specs)} fields "
              f"(variables {naive['variables']}): cfgrib merged species it cannot name.")


if __name__ == "__main__":
    main()
