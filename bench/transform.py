"""Benchmark: jackfruit's GRIB -> Zarr tiles transformation beside its floor and a naive path, same run, same file.

Generates one day of a dataset (``--dataset``, default CAMS Europe forecasts: 4 species x STEPS lead times,
700x420, 16-bit) once, from the dataset's profile (its synthetic product of the template's request, lead times
or analysis times cut to STEPS), then measures, each in its own child process:
  (a) ecCodes decode of every message to float32, both cores (threads; ecCodes releases the GIL);
  (b) encoding every decoded array with the tiles' codec (Blosc zstd-1 + shuffle, the zarrs pipeline, both
      cores) into a scratch folder;
  (c) jackfruit's ``transform`` call alone (ingest done before, imports excluded), with peak RSS of the
      whole process tree (the child and anything it starts);
  (d) the naive ``xr.open_dataset(engine="cfgrib").to_zarr()``, with the fields it kept.
It prints (c) / ((a)+(b)), and checks that the tiles hold every field bit for bit (ecCodes as reference).

    .venv/bin/python bench/transform.py            # full day (97 lead times)
    .venv/bin/python bench/transform.py --steps 3  # quick (CI smoke)
    .venv/bin/python bench/transform.py --dataset cams-europe-air-quality-forecasts-analysis   # 24 analyses
    .venv/bin/python bench/transform.py --dataset cams-global-atmospheric-composition-forecasts --steps 121
        # issue 19's full-size global day (SPEC_DAYS); --day template: the profile's template request instead

Peak RSS is each child's own high-water mark (``VmHWM``: the child's memory from its exec on, not the parent's
that ``ru_maxrss`` carries across fork and exec) plus that of any process it waited for.
"""

from __future__ import annotations

import argparse
import hashlib
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


def _cpu(t0: float) -> dict:
    """CPU seconds (user + system) this process used since ``t0``'s baseline was taken by ``_cpu_mark``."""
    now = os.times()
    return {"cpu_seconds": now.user + now.system - _CPU_MARK[0]}


_CPU_MARK = [0.0]


def _cpu_mark() -> None:
    now = os.times()
    _CPU_MARK[0] = now.user + now.system


def _peak_rss_mib() -> float:
    """This process's peak RSS since its exec (``VmHWM``; ``ru_maxrss`` where there is no /proc) plus the peak
    of any child it waited for. ``ru_maxrss`` alone is not this process's: Linux keeps the high-water mark
    across fork and exec, so a child of a parent that had generated a large product reported the parent's."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    try:
        with open("/proc/self/status") as f:
            own = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (own + children) / 1024


def _profile():
    from jackfruit.registry import default_registry

    return default_registry().get(os.environ["BENCH_DATASET"])


#: the full-size day of issue 19's performance section, where the profile's template request is not it (the
#: template stays what ingestion asks for). CAMS global forecasts: "0.4 degree global, 2 cycles x 121 lead times
#: for a few single-level species and one species on 25 pressure levels" (single-level fields hourly, pressure
#: levels every 3 h as the upstream answers: 3 x 121 x 2 + 25 x 41 x 2 = 2,776 messages)
SPEC_DAYS = {
    "cams-global-atmospheric-composition-forecasts": {
        "variable": ["particulate_matter_2.5um", "particulate_matter_10um", "total_aerosol_optical_depth_550nm",
                     "ozone"],
        "pressure_level": ["1", "2", "3", "5", "7", "10", "20", "30", "50", "70", "100", "150", "200", "250", "300",
                           "400", "500", "600", "700", "800", "850", "900", "925", "950", "1000"],
    },
}


def bench_request(profile, steps: int, day: str = "spec") -> dict:
    """The dataset's request for the bench day (``day="spec"``: the issue's full-size day where ``SPEC_DAYS`` has
    one, over the template; else the template), its lead times (or, with one lead time, its analysis times) cut
    to the first ``steps``."""
    request = profile.definition().request_for(DAY)
    if day == "spec":
        request.update(SPEC_DAYS.get(profile.definition().name, {}))
    for axis in ("leadtime_hour", "time"):
        values = request.get(axis)
        if isinstance(values, list) and len(values) > 1:
            request[axis] = values[:steps]
            break
    return request


def _decode_all(grib: Path):
    from jackfruit.adapters.transform.eccodes_decoder import EccodesGribDecoder
    from jackfruit.domain.tiling import plan_tiles

    decoder = EccodesGribDecoder()
    messages = decoder.scan(str(grib))
    groups = plan_tiles(messages, _profile().name_message, _profile().time_axis)
    return decoder, messages, groups


def child_decode(grib: Path, work: Path) -> dict:
    decoder, messages, groups = _decode_all(grib)
    _cpu_mark()
    t0 = time.perf_counter()
    for g in groups:
        decoder.read(str(grib), [messages[i] for i in g.message_indices])
    return {"seconds": time.perf_counter() - t0, "messages": len(messages), **_cpu(t0)}


def child_encode(grib: Path, work: Path) -> dict:
    import numpy as np
    import zarr
    from zarr.storage import LocalStore

    from jackfruit.adapters.transform import tile_write, zarr_tiles

    decoder, messages, groups = _decode_all(grib)
    blocks = [decoder.read(str(grib), [messages[i] for i in g.message_indices]) for g in groups]
    fmt = zarr_tiles.ZarrTileFormat()
    _cpu_mark()
    t0 = time.perf_counter()
    with zarr.config.set(tile_write.ZARRS):
        for n, block in enumerate(blocks):
            # the tiles' layout: inner chunks of the format, one shard per chunk of lead times x the whole grid
            chunks = tuple(min(c, s) for c, s in zip(fmt.chunk, block.shape))
            shards = (chunks[0],) + tuple(-(-s // c) * c for s, c in zip(block.shape[1:], chunks[1:]))
            arr = zarr.create_array(LocalStore(str(work / f"a{n}")), shape=block.shape, dtype="float32",
                                    chunks=chunks, shards=shards, compressors=list(fmt.compressors),
                                    fill_value=np.nan, zarr_format=3)
            arr[...] = block
    elapsed = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in work.rglob("*") if f.is_file())
    return {"seconds": elapsed, "bytes_out": size, "bytes_in": sum(b.nbytes for b in blocks), **_cpu(t0)}


def _app(work: Path, grib: Path):
    from jackfruit.adapters.runner.memory_runner import InMemoryRunner
    from jackfruit.app import Jackfruit
    from jackfruit.settings import Settings

    app = Jackfruit.from_settings(Settings(JACKFRUIT_DATA_DIR=str(work)))
    app.runner = InMemoryRunner(app.raw_store, lambda d, r: grib.read_bytes())
    return app


def child_ingest(grib: Path, work: Path) -> dict:
    """Lands the file in the raw bucket of ``work`` (its own process: its memory is not the transform's)."""
    # the file's own request, read from its headers and checked (the same write-once path as an ingest)
    run = _app(work, grib).land(grib, dataset=os.environ["BENCH_DATASET"], partition_date=DAY)
    return {"run_id": run.run_id}


def child_jackfruit(grib: Path, work: Path) -> dict:
    app = _app(work, grib)
    run_id = os.environ["BENCH_RUN_ID"]
    phases: dict[str, float] = {}
    _cpu_mark()
    t0 = time.perf_counter()
    tiles = app.transform(run_id, on_phase=lambda p: phases.setdefault(p, time.perf_counter() - t0))
    elapsed = time.perf_counter() - t0
    cpu = _cpu(t0)
    peak = _peak_rss_mib()
    # bit-exactness: every message of the file, decoded by ecCodes itself, equals its place in a tile
    import eccodes
    import numpy as np

    from jackfruit.adapters.transform.eccodes_decoder import EccodesGribDecoder

    profile = _profile()
    # each tile's entries: (reference time, lead time) -> its dataset (a tile of analyses holds a day of them)
    by_field: dict = {}
    for t in tiles:
        ds = app.tile_format.open(app.curated_store, t)
        refs = [np.datetime64(v, "ns") for v in ds["forecast_reference_time"].values]
        for r in refs:
            by_field[(t.model, t.variable, t.level_type, t.level_m, r)] = ds
    body = grib.read_bytes()
    exact = 0
    for m in EccodesGribDecoder().scan(str(grib)):  # each message named by the dataset's profile
        f = profile.name_message(m)
        h = eccodes.codes_new_from_message(body[m.offset:m.offset + m.length])
        try:
            values = eccodes.codes_get_values(h).astype(np.float32)
            if eccodes.codes_get(h, "bitmapPresent"):
                values[eccodes.codes_get_array(h, "bitmap") == 0] = np.nan
            ny, nx = eccodes.codes_get(h, "Nj"), eccodes.codes_get(h, "Ni")
        finally:
            eccodes.codes_release(h)
        ref = np.datetime64(f.reference_time.replace(tzinfo=None), "ns")
        ds = by_field[(f.model, f.variable, f.level_type, f.level_m, ref)]
        got = ds[f.variable].sel(forecast_reference_time=ref, step=f.step_hours).values
        exact += bool(np.array_equal(got.view(np.uint32), values.reshape(ny, nx).view(np.uint32)))
    return {"seconds": elapsed, "tiles": len(tiles), "bytes_out": sum(t.size for t in tiles),
            "fields_kept": exact, "phases": phases, "transform_peak_rss_mib": peak, **cpu}


def child_naive(grib: Path, work: Path) -> dict:
    import xarray as xr

    _cpu_mark()
    t0 = time.perf_counter()
    ds = xr.open_dataset(grib, engine="cfgrib", backend_kwargs={"indexpath": ""})
    ds.to_zarr(work / "naive.zarr", mode="w", zarr_format=3, consolidated=False)
    elapsed = time.perf_counter() - t0
    cpu = _cpu(t0)
    kept = sum(int(v.size // (v.sizes.get("latitude", 1) * v.sizes.get("longitude", 1))) for v in ds.data_vars.values())
    size = sum(f.stat().st_size for f in (work / "naive.zarr").rglob("*") if f.is_file())
    return {"seconds": elapsed, "variables": list(ds.data_vars), "bytes_out": size, "fields_kept": kept, **cpu}


CHILDREN = {"decode": child_decode, "encode": child_encode, "ingest": child_ingest, "jackfruit": child_jackfruit,
            "naive": child_naive}


def _child(kind: str, grib: Path, work: str, env: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(grib), work], capture_output=True,
                         text=True, env={**os.environ, **(env or {})})
    if out.returncode:
        raise SystemExit(f"bench child {kind} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_child(kind: str, grib: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as work:
        if kind != "jackfruit":
            return _child(kind, grib, work)
        run_id = _child("ingest", grib, work)["run_id"]
        return _child(kind, grib, work, {"BENCH_RUN_ID": run_id})


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=97)
    p.add_argument("--dataset", default="cams-europe-air-quality-forecasts", help="a registered dataset")
    p.add_argument("--day", choices=("spec", "template"), default="spec",
                   help="spec: issue 19's full-size day where the bench defines one (SPEC_DAYS), else the template; "
                        "template: the profile's template request")
    p.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "jackfruit-bench"))
    p.add_argument("--child", nargs=3, metavar=("KIND", "GRIB", "WORK"))
    a = p.parse_args()
    if a.child:
        kind, grib, work = a.child
        result = CHILDREN[kind](Path(grib), Path(work))
        # peak RSS of this process and of any children it waited for (the whole tree)
        result["peak_rss_mib"] = _peak_rss_mib()
        print(json.dumps(result))
        return
    os.environ["BENCH_DATASET"] = a.dataset  # the children's dataset
    profile = _profile()
    request = bench_request(profile, a.steps, a.day)
    cache = Path(a.cache)
    cache.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:8]  # one file per request
    grib = cache / f"{a.dataset}-{DAY}-{a.steps}-{digest}.grib"
    if not grib.exists():
        partial = grib.with_suffix(".partial")
        partial.write_bytes(profile.synthetic_product(request))
        partial.rename(grib)
    from jackfruit.adapters.transform.eccodes_decoder import EccodesGribDecoder

    specs = EccodesGribDecoder().scan(str(grib))  # one per message
    size_mb = grib.stat().st_size / 1e6
    print(f"input: {grib.name} ({a.dataset}), {len(specs)} messages, {size_mb:.1f} MB; cores: {os.cpu_count()}")
    r = {k: run_child(k, grib) for k in ("decode", "encode", "jackfruit", "naive")}
    floor = r["decode"]["seconds"] + r["encode"]["seconds"]
    print(f"{'step':44s} {'seconds':>8s} {'CPU s':>6s} {'peak RSS MiB':>12s} {'fields kept':>11s} {'MB out':>7s}")
    print(f"{'(a) ecCodes decode, float32, 2 threads':44s} {r['decode']['seconds']:8.3f} "
          f"{r['decode']['cpu_seconds']:6.2f} {r['decode']['peak_rss_mib']:12.0f}")
    print(f"{'(b) encode lz4+shuffle, zarrs, all cores':44s} {r['encode']['seconds']:8.3f} "
          f"{r['encode']['cpu_seconds']:6.2f} {r['encode']['peak_rss_mib']:12.0f} {'':11s} "
          f"{r['encode']['bytes_out'] / 1e6:7.1f}")
    j, n = r["jackfruit"], r["naive"]
    print(f"{'(c) jackfruit transform (verified, durable)':44s} {j['seconds']:8.3f} {j['cpu_seconds']:6.2f} "
          f"{j['transform_peak_rss_mib']:12.0f} {j['fields_kept']:>5d}/{len(specs):<5d} {j['bytes_out'] / 1e6:7.1f}")
    print(f"{'(d) naive cfgrib open_dataset().to_zarr()':44s} {n['seconds']:8.3f} {n['cpu_seconds']:6.2f} "
          f"{n['peak_rss_mib']:12.0f} {n['fields_kept']:>5d}/{len(specs):<5d} {n['bytes_out'] / 1e6:7.1f}")
    print(f"(c) / ((a)+(b)) = {j['seconds'] / floor:.2f}   (goal <= 1.25; (c) goal <= 1.0 s, peak RSS <= 400 MiB)")
    marks = sorted(j["phases"].items(), key=lambda kv: kv[1])
    print("(c) phases (s from start): " + ", ".join(f"{k} {v:.3f}" for k, v in marks))
    if n["fields_kept"] < len(specs):
        print(f"note: the naive path kept {n['fields_kept']} of {len(specs)} fields "
              f"(variables {n['variables']}): cfgrib merged species it cannot name.")
    if j["fields_kept"] != len(specs):
        raise SystemExit(f"jackfruit kept {j['fields_kept']} of {len(specs)} fields bit-exact")


if __name__ == "__main__":
    main()
