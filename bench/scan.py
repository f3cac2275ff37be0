"""Benchmark: the decoder's header scan (``GribDecoder.scan``), the serial phase before any tile starts.

Scans each file REPEAT times after one warm-up (ecCodes' definitions loaded) and prints the CPU time per scan
(min and median; CPU time, as the wall clock of a shared machine moves with its load). ``--decoder PATH``
loads ``eccodes_decoder.py`` from another checkout, to compare two commits in the same session:

    .venv/bin/python bench/scan.py tests/data/grib/*.grib*
    git show main:jackfruit/adapters/transform/eccodes_decoder.py > /tmp/old_decoder.py
    .venv/bin/python bench/scan.py --decoder /tmp/old_decoder.py tests/data/grib/*.grib*
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--decoder", type=Path, help="an eccodes_decoder.py to load instead of the installed one")
    p.add_argument("--repeat", type=int, default=9)
    args = p.parse_args()
    if args.decoder:
        spec = importlib.util.spec_from_file_location("bench_decoder", args.decoder)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        decoder = module.EccodesGribDecoder()
    else:
        from jackfruit.adapters.transform.eccodes_decoder import EccodesGribDecoder

        decoder = EccodesGribDecoder()
    print(f"{'file':60s} {'messages':>8s} {'min CPU ms':>10s} {'median ms':>10s} {'us/msg':>7s}")
    for path in args.files:
        n = len(decoder.scan(str(path)))
        times = []
        for _ in range(args.repeat):
            t = time.process_time()
            decoder.scan(str(path))
            times.append(time.process_time() - t)
        median = statistics.median(times)
        print(f"{path.name[:60]:60s} {n:8d} {min(times) * 1e3:10.1f} {median * 1e3:10.1f} {median / n * 1e6:7.0f}")


if __name__ == "__main__":
    main()
