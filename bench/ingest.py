"""Benchmark: download-and-land throughput of the Go ingester (``jackfruit-ingest``) for one large ADS asset, into
(a) the filesystem bucket and (b) the S3 server, beside the plain copy ``curl -s URL | sha256sum`` of the same
bytes from the same stub on loopback, measured in the same run.

The asset comes from the Go ADS stub started with ``--synthetic-size BYTES``: deterministic pseudo-random bytes
generated while served (nothing on disk, nothing held in memory), so the stub costs the same for curl and for the
ingester. Each measurement is one process: the ingester as jackfruit runs it (``--input -``, the request and the
credentials on stdin, stdin kept open); its throughput is the size over its own ``timings_ms.download`` (results
GET, download, SHA-256, sink write, commit with fsync / S3 complete), the baseline's over curl's wall time. Peak RSS
is the child's ``ru_maxrss`` (``os.wait4``). Two sizes are run, so that RSS can be compared: flat means the large
size's peak RSS is within 16 MiB of the small one's.

Goal: the ingester >= 90 % of the plain copy's throughput; peak RSS flat whatever the size.

    .venv/bin/python bench/ingest.py                          # 1 GiB (and 128 MiB for the RSS comparison)
    .venv/bin/python bench/ingest.py --size-mib 64            # quick
    .venv/bin/python bench/ingest.py --no-s3 --repeat 3       # filesystem only, median of 3

S3 needs the loopback server: ``scripts/s3-server start`` then ``eval "$(scripts/s3-server env)"``
(JACKFRUIT_TEST_S3_ENDPOINT, _ACCESS_KEY, _SECRET_KEY); without them the S3 rows are skipped (named).
"""

from __future__ import annotations

from _s3 import drop_bucket  # bench/_s3.py (the benches run as scripts: their folder is on sys.path)

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jackfruit.adapters.runner.ingester_protocol import find_binary  # noqa: E402
from jackfruit.synthetic.ads_stub import AdsStub  # noqa: E402

MiB = 1 << 20
KEY = "bench-key"
DATASET = "cams-europe-air-quality-forecasts"
REQUEST = {"variable": ["ozone"], "model": ["ensemble"], "level": ["0"], "date": ["2025-03-12"],
           "type": ["forecast"], "time": ["00:00"], "leadtime_hour": ["0"], "data_format": "grib",
           "area": [45.2, 5.0, 45.0, 5.2]}
RSS_SLACK_MIB = 16


def _api(stub: AdsStub, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(stub.url + "/retrieve/v1" + path, method="POST" if body else "GET",
                                 data=json.dumps(body).encode() if body else None,
                                 headers={"PRIVATE-TOKEN": KEY, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def asset_href(stub: AdsStub) -> str:
    """A finished job's download URL (a job of its own: the baseline downloads what the ingester would)."""
    job = _api(stub, f"/processes/{DATASET}/execution", {"inputs": REQUEST})["jobID"]
    for _ in range(100):
        if _api(stub, f"/jobs/{job}")["status"] == "successful":
            return _api(stub, f"/jobs/{job}/results")["asset"]["value"]["href"]
        time.sleep(0.02)
    raise RuntimeError(f"stub job {job} did not finish")


def curl_copy(href: str) -> tuple[float, str]:
    """Seconds and SHA-256 of ``curl -s URL | sha256sum``."""
    t0 = time.perf_counter()
    out = subprocess.run(["bash", "-c", f"set -o pipefail; curl -s '{href}' | sha256sum"], check=True,
                         capture_output=True, text=True).stdout
    return time.perf_counter() - t0, out.split()[0]


def run_key() -> str:
    u = uuid.uuid4().int & ~(0xF << 76) & ~(0x3 << 62) | (0x7 << 76) | (0x2 << 62)
    return f"ads/{DATASET}/2025-03-12/{uuid.UUID(int=u)}.grib"


def ingest(binary: str, stub: AdsStub, sink_args: list[str], s3: dict | None) -> tuple[dict, float, int]:
    """One ingester run: its manifest, its wall seconds and its peak RSS in bytes."""
    args = [binary, "--base-url", stub.url, "--dataset", DATASET, "--input", "-", "--key", run_key(), *sink_args,
            "--poll-initial", "20ms", "--poll-max", "50ms", "--timeout", "30m"]
    line = {"request": REQUEST, "api_key": KEY} | ({"s3": s3} if s3 else {})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADS_", "AWS_", "MINIO_"))}
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write((json.dumps(line) + "\n").encode())
    proc.stdin.flush()  # stdin stays open (the lifeline) until the ingester exits
    lines = proc.stdout.read().decode().splitlines()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdin.close()
    result = json.loads(lines[-1]) if lines else {}
    if proc.returncode != 0 or "sha256" not in result:
        raise RuntimeError(f"the ingester exited {proc.returncode}: {lines[-1:] or 'no output'}")
    return result, wall, usage.ru_maxrss * 1024


def s3_target() -> tuple[object, str, dict] | None:
    endpoint = os.environ.get("JACKFRUIT_TEST_S3_ENDPOINT")
    if not endpoint:
        return None
    from jackfruit.adapters.storage.s3_store import make_client

    access, secret = os.environ["JACKFRUIT_TEST_S3_ACCESS_KEY"], os.environ["JACKFRUIT_TEST_S3_SECRET_KEY"]
    client = make_client(endpoint, access_key=access, secret_key=secret)
    bucket = f"bench-ingest-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return client, bucket, {"endpoint": endpoint, "access_key": access, "secret_key": secret}


def measure(size: int, repeat: int, binary: str, stub_binary: str, s3, fs_root: Path) -> list[dict]:
    rows: list[dict] = []
    with AdsStub(api_key=KEY, binary=stub_binary, extra_args=("--synthetic-size", str(size))) as stub:
        samples: dict[str, list[tuple[float, int, str]]] = {"curl → sha256sum (baseline)": [],
                                                            "ingest → filesystem": []}
        if s3:
            samples["ingest → S3"] = []
        for _ in range(repeat):  # alternated, so drift hits every variant alike
            seconds, sha = curl_copy(asset_href(stub))
            samples["curl → sha256sum (baseline)"].append((seconds, 0, sha))
            sink = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=fs_root))
            try:
                m, _, rss = ingest(binary, stub, ["--sink-dir", str(sink)], None)
                samples["ingest → filesystem"].append((m["timings_ms"]["download"] / 1000, rss, m["sha256"]))
            finally:
                shutil.rmtree(sink, ignore_errors=True)
            if s3:
                client, bucket, creds = s3
                endpoint = creds["endpoint"]
                m, _, rss = ingest(binary, stub, ["--sink", f"s3://{bucket}?endpoint={endpoint}"],
                                   {"access_key": creds["access_key"], "secret_key": creds["secret_key"]})
                client.delete_object(Bucket=bucket, Key=m["key"])
                samples["ingest → S3"].append((m["timings_ms"]["download"] / 1000, rss, m["sha256"]))
        base = statistics.median(s for s, _, _ in samples["curl → sha256sum (baseline)"])
        want_sha = samples["curl → sha256sum (baseline)"][0][2]
        for variant, got in samples.items():
            if any(sha != want_sha for _, _, sha in got):
                raise RuntimeError(f"{variant}: SHA-256 differs from curl's ({want_sha})")
            secs = statistics.median(s for s, _, _ in got)
            rows.append({"variant": variant, "size_mib": size // MiB, "mb_s": size / 1e6 / secs,
                         "ratio": base / secs, "rss_mib": max(r for _, r, _ in got) / MiB if got[0][1] else None})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mib", type=int, default=1024, help="the large asset (default 1024)")
    ap.add_argument("--small-mib", type=int, default=None,
                    help="the small asset for the RSS comparison "
                    "(default size/8, at least 16)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds; medians are printed (default 1)")
    ap.add_argument("--no-s3", action="store_true", help="filesystem only")
    ap.add_argument("--fs-dir", default=None, help="where the filesystem bucket lives (default: the temp dir)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when the goal is not met (default: report it; "
                    "CI's quick mode checks that the benchmark runs, not the noisy figures)")
    a = ap.parse_args()
    binary, stub_binary = find_binary("jackfruit-ingest"), find_binary("ads-stub")
    small = a.small_mib or max(16, a.size_mib // 8)
    fs_root = Path(a.fs_dir or tempfile.gettempdir())
    s3 = None if a.no_s3 else s3_target()
    if not a.no_s3 and s3 is None:
        print("S3 skipped: JACKFRUIT_TEST_S3_ENDPOINT is not set (scripts/s3-server start; "
              "eval \"$(scripts/s3-server env)\")", file=sys.stderr)
    try:
        rows = []
        for size in (small * MiB, a.size_mib * MiB):
            rows += measure(size, a.repeat, binary, stub_binary, s3, fs_root)
    finally:
        if s3:
            drop_bucket(s3[0], s3[1])
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.1f}, "
          f"{os.cpu_count()} CPUs, repeat {a.repeat}, filesystem bucket under {fs_root}\n")
    print("| variant | size MiB | MB/s | ratio to curl | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        rss = f"{r['rss_mib']:.1f}" if r["rss_mib"] is not None else "—"
        print(f"| {r['variant']} | {r['size_mib']} | {r['mb_s']:.0f} | {r['ratio']:.2f} | {rss} |")
    ok = True
    print()
    for variant in [v for v in dict.fromkeys(r["variant"] for r in rows) if v.startswith("ingest")]:
        small_row, large_row = [r for r in rows if r["variant"] == variant]
        fast = large_row["ratio"] >= 0.90
        flat = large_row["rss_mib"] <= small_row["rss_mib"] + RSS_SLACK_MIB
        ok &= fast and flat
        print(f"- {variant}: {large_row['ratio']:.0%} of the plain copy at {large_row['size_mib']} MiB "
              f"({'✓' if fast else '✗'} ≥ 90 %); "
              f"peak RSS {small_row['rss_mib']:.1f} → {large_row['rss_mib']:.1f} MiB "
              f"from {small_row['size_mib']} to {large_row['size_mib']} MiB ({'✓ flat' if flat else '✗ grows'})")
    print(f"\ngoal {'met' if ok else 'NOT met'}")
    return 0 if ok or not a.strict else 1


if __name__ == "__main__":
    sys.exit(main())
