"""Benchmark: upload and download of one large object through jackfruit's S3 adapters, beside a baseline
measured in the same run on the same server: the same SDK, the same part size and concurrency, but an
unconditional upload and no SHA-256 (what the adapter adds: the write-once condition, the write token, the
streamed SHA-256 both ways, the error mapping).

Needs the loopback S3-compatible server (versitygw): ``scripts/s3-server start`` then
``eval "$(scripts/s3-server env)"`` (JACKFRUIT_TEST_S3_ENDPOINT, _ACCESS_KEY, _SECRET_KEY).

The source is a file of random bytes (``os.urandom``, 64 MiB blocks) written once to a temp directory;
every upload streams from it, never holding it in memory. Each measured variant runs in its own child
process, in its own bucket (created and removed by this script), so the RSS growth printed is the
variant's own: peak RSS during the upload (and during the download) minus RSS just before it, the peak
reset in between (``/proc/self/clear_refs``). Variants, alternated within each round so drift hits both
sides of a pair alike:

  (1) boto3 baseline: ``create_multipart_upload`` / ``upload_part`` from a pool of CONCURRENCY threads,
      parts of PART_SIZE, ``complete_multipart_upload`` without condition; ``get_object`` streamed in
      1 MiB reads, no hash. (Not boto3's TransferManager: the store does not use it.)
      jackfruit ``S3ObjectStore.put`` on a write-once bucket (If-None-Match on complete, SHA-256 while
      streaming) and the library's verified read (``usecases.objects.hash_object``: 1 MiB pieces, the next
      read while this one is hashed; checked);
      then, for information, ``open`` read again without the hash (the adapter's read path alone).
  (2) minio-py baseline: ``put_object(length=-1, part_size=PART_SIZE, num_parallel_uploads=CONCURRENCY)``,
      ``get_object`` streamed; jackfruit ``MinioObjectStore`` (mutable bucket) -- when
      ``jackfruit.adapters.storage.minio_store`` exists and imports.
  (3) the Go ingester's S3 sink is measured by ``go test -bench`` in ingest-go (not from here).

Goal: each adapter >= 85 % of its baseline's throughput; RSS growth <= PART_SIZE x CONCURRENCY + 32 MiB
whatever the object's size.

    .venv/bin/python bench/storage.py                    # 1 GiB object, 3 rounds
    .venv/bin/python bench/storage.py --size-mib 32      # quick (CI smoke)
    .venv/bin/python bench/storage.py --child VARIANT SRC BUCKET KEY   # one variant (e.g. under py-spy)
"""

from __future__ import annotations

from _s3 import drop_bucket  # bench/_s3.py (the benches run as scripts: their folder is on sys.path)

import argparse
import hashlib
import inspect
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

MiB = 1 << 20
BLOCK = 64 * MiB  # source generation block
READ = MiB  # download read size, every variant
PART_SIZE = int(os.environ.get("BENCH_PART_SIZE", 16 * MiB))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", 4))
BOUND_SLACK = 32 * MiB


# -- memory -------------------------------------------------------------------------------------------------
def _status(field: str) -> int:
    """A field of /proc/self/status, in bytes."""
    m = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    return int(m.group(1)) * 1024 if m else 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


class Phase:
    """Times a phase and measures its RSS growth: peak (VmHWM, reset at the start) minus RSS at the start."""

    def __enter__(self) -> "Phase":
        self.reset = _reset_peak()
        self.rss0 = _status("VmRSS")
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0
        self.growth = _status("VmHWM") - self.rss0


def _env() -> tuple[str, str, str]:
    try:
        return (os.environ["JACKFRUIT_TEST_S3_ENDPOINT"], os.environ["JACKFRUIT_TEST_S3_ACCESS_KEY"],
                os.environ["JACKFRUIT_TEST_S3_SECRET_KEY"])
    except KeyError:
        raise SystemExit('no S3 server: scripts/s3-server start; eval "$(scripts/s3-server env)"') from None


def _boto_client():
    from jackfruit.adapters.storage.s3_store import client_config, make_client

    endpoint, access, secret = _env()
    return make_client(endpoint, access_key=access, secret_key=secret, config=client_config(concurrency=CONCURRENCY))


def _minio_client():
    """The minio-py client: the adapter's own factory (``make_minio_client``: its pool and retries) when the
    adapter exists, so the baseline and the adapter talk through the same client; else a plain ``Minio``."""
    endpoint, access, secret = _env()
    try:
        from jackfruit.adapters.storage.minio_store import make_minio_client
    except ImportError:
        from minio import Minio

        host = endpoint.split("://", 1)[1].rstrip("/")
        return Minio(host, access_key=access, secret_key=secret, secure=endpoint.startswith("https://"),
                     region="us-east-1")
    return make_minio_client(endpoint, access, secret, region="us-east-1")


def _minio_store_class():
    """``(MinioObjectStore, module)`` or ``(None, why)``."""
    import importlib

    name = "jackfruit.adapters.storage.minio_store"
    try:
        minio_store = importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name == name:
            return None, "absent (jackfruit/adapters/storage/minio_store.py does not exist)"
        return None, f"does not import (ModuleNotFoundError: {err})"
    except Exception as err:  # noqa: BLE001 - another engineer's module in progress
        return None, f"does not import ({type(err).__name__}: {err})"
    cls = getattr(minio_store, "MinioObjectStore", None)
    if cls is None:
        return None, "minio_store.py has no MinioObjectStore"
    return (cls, minio_store), ""


def _kwargs_for(fn, **wanted):
    """The keyword arguments of ``wanted`` that ``fn`` accepts."""
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return wanted
    return {k: v for k, v in wanted.items() if k in params}


def _minio_store(bucket: str):
    (cls, _module), _ = _minio_store_class()
    return cls(_minio_client(), bucket, **_kwargs_for(cls, write_once=False, part_size=PART_SIZE,
                                                      concurrency=CONCURRENCY))


# -- children: one variant each -----------------------------------------------------------------------------
def _drain(stream, digest=None) -> int:
    n = 0
    while chunk := stream.read(READ):
        n += len(chunk)
        if digest is not None:
            digest.update(chunk)
    return n


def child_boto3_base(src: Path, bucket: str, key: str) -> dict:
    client = _boto_client()
    with Phase() as up, open(src, "rb") as f:
        upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        etags: dict[int, str] = {}

        def send(number: int, body: bytes) -> None:
            etags[number] = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                               Body=body)["ETag"]

        with ThreadPoolExecutor(CONCURRENCY) as pool:
            pending: set = set()
            number = 1
            while body := f.read(PART_SIZE):
                if len(pending) >= CONCURRENCY:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        fut.result()
                pending.add(pool.submit(send, number, body))
                number += 1
            del body
            for fut in pending:
                fut.result()
        client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]})
    with Phase() as down:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        size = _drain(body)
        body.close()
    return {"up_s": up.seconds, "down_s": down.seconds, "up_rss": up.growth, "down_rss": down.growth,
            "bytes": size, "sha256": None}


def child_jackfruit_s3(src: Path, bucket: str, key: str) -> dict:
    from jackfruit.adapters.storage.s3_store import S3ObjectStore
    from jackfruit.usecases.objects import hash_object

    store = S3ObjectStore(_boto_client(), bucket, write_once=True, part_size=PART_SIZE, concurrency=CONCURRENCY)
    with Phase() as up, open(src, "rb") as f:
        info = store.put(key, f)
    with Phase() as down:  # the library's verified read: jackfruit.usecases.objects.hash_object
        size, sha = hash_object(store, key)
    with Phase() as bare:  # informational: the adapter's read path alone, without the caller's SHA-256
        with store.open(key) as stream:
            _drain(stream)
    return {"up_s": up.seconds, "down_s": down.seconds, "up_rss": up.growth, "down_rss": down.growth,
            "bytes": size, "sha256": sha, "put_sha256": info.sha256, "put_size": info.size,
            "write_once": store.write_once, "bare_down_s": bare.seconds}


def child_minio_base(src: Path, bucket: str, key: str) -> dict:
    client = _minio_client()
    with Phase() as up, open(src, "rb") as f:
        client.put_object(bucket, key, f, length=-1, part_size=PART_SIZE, num_parallel_uploads=CONCURRENCY)
    with Phase() as down:
        reply = client.get_object(bucket, key)
        try:
            size = _drain(reply)
        finally:
            reply.close()
            reply.release_conn()
    return {"up_s": up.seconds, "down_s": down.seconds, "up_rss": up.growth, "down_rss": down.growth,
            "bytes": size, "sha256": None}


def child_jackfruit_minio(src: Path, bucket: str, key: str) -> dict:
    from jackfruit.usecases.objects import hash_object

    store = _minio_store(bucket)
    with Phase() as up, open(src, "rb") as f:
        info = store.put(key, f)
    with Phase() as down:
        size, sha = hash_object(store, key)
    with Phase() as bare:
        with store.open(key) as stream:
            _drain(stream)
    return {"up_s": up.seconds, "down_s": down.seconds, "up_rss": up.growth, "down_rss": down.growth,
            "bytes": size, "sha256": sha, "put_sha256": getattr(info, "sha256", None),
            "put_size": getattr(info, "size", None), "bare_down_s": bare.seconds,
            "part_size": getattr(store, "part_size", None), "concurrency": getattr(store, "concurrency", None)}


CHILDREN = {"boto3-base": child_boto3_base, "jackfruit-s3": child_jackfruit_s3,
            "minio-base": child_minio_base, "jackfruit-minio": child_jackfruit_minio}
LABELS = {"boto3-base": "boto3 baseline (raw multipart, no condition, no hash)",
          "jackfruit-s3": "S3ObjectStore (write-once, SHA-256 up+down)",
          "minio-base": "minio-py baseline (put_object/get_object)",
          "jackfruit-minio": "MinioObjectStore (mutable, SHA-256 up+down)"}
BASELINE = {"jackfruit-s3": "boto3-base", "jackfruit-minio": "minio-base"}


def _child(kind: str, src: Path, bucket: str, key: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(src), bucket, key], capture_output=True,
                         text=True)
    if out.returncode:
        raise SystemExit(f"bench child {kind} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- parent -------------------------------------------------------------------------------------------------
def _make_source(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(BLOCK, left))
            digest.update(block)
            f.write(block)
            left -= len(block)
    return digest.hexdigest()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mib", type=int, default=1024, help="object size (default 1024; CI quick mode: 32)")
    p.add_argument("--rounds", type=int, default=None, help="rounds of every variant (default 3; 1 if < 256 MiB)")
    p.add_argument("--child", nargs=4, metavar=("VARIANT", "SRC", "BUCKET", "KEY"))
    a = p.parse_args()
    if a.child:
        kind, src, bucket, key = a.child
        print(json.dumps(CHILDREN[kind](Path(src), bucket, key)))
        return

    size = a.size_mib * MiB
    rounds = a.rounds or (3 if a.size_mib >= 256 else 1)
    bound = PART_SIZE * CONCURRENCY + BOUND_SLACK
    minio_cls, minio_why = _minio_store_class()
    variants = ["boto3-base", "jackfruit-s3"] + (["minio-base", "jackfruit-minio"] if minio_cls else [])
    client = _boto_client()
    tag = uuid.uuid4().hex[:8]
    buckets = {v: f"jf-bench-{tag}-{v}" for v in variants}
    started = time.perf_counter()
    results: dict[str, list[dict]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as work:
        src = Path(work) / "source.bin"
        want = _make_source(src, size)
        print(f"object {a.size_mib} MiB (random bytes, temp file); part size {PART_SIZE // MiB} MiB, concurrency "
              f"{CONCURRENCY}; {rounds} round(s), variants alternated; server {_env()[0]}; cores {os.cpu_count()}; "
              f"load average {os.getloadavg()[0]:.2f} at start")
        try:
            for b in buckets.values():
                client.create_bucket(Bucket=b)
            for r in range(rounds):
                for v in variants:
                    key = f"bench/{v}/round-{r}.bin"
                    res = _child(v, src, buckets[v], key)
                    client.delete_object(Bucket=buckets[v], Key=key)  # disk: one object at a time
                    if res["bytes"] != size:
                        raise SystemExit(f"{v}: downloaded {res['bytes']} bytes of {size}")
                    for field in ("sha256", "put_sha256"):
                        if res.get(field) is not None and res[field] != want:
                            raise SystemExit(f"{v}: {field} {res[field]} is not the source's {want}")
                    if v == "jackfruit-s3" and not res["write_once"]:
                        raise SystemExit("jackfruit-s3: the bucket was not opened write-once")
                    results[v].append(res)
        finally:
            for b in buckets.values():
                try:
                    drop_bucket(client, b)
                except Exception as err:  # noqa: BLE001 - report, keep cleaning
                    print(f"warning: could not remove bucket {b}: {type(err).__name__}: {err}", file=sys.stderr)

    mib = size / MiB
    print(f"{'variant':52s} {'MiB/s up':>9s} {'MiB/s down':>10s} {'up/base':>8s} {'down/base':>9s} "
          f"{'RSS+ up':>8s} {'RSS+ down':>9s} {'bound':>6s}  goal")
    ok = True
    for v in variants:
        rs = results[v]
        up = statistics.median(mib / x["up_s"] for x in rs)
        down = statistics.median(mib / x["down_s"] for x in rs)
        rss_up = max(x["up_rss"] for x in rs) / MiB
        rss_down = max(x["down_rss"] for x in rs) / MiB
        line = f"{LABELS[v]:52s} {up:9.0f} {down:10.0f} "
        base = BASELINE.get(v)
        if base:
            # the median of the round-by-round ratios (each pair ran back to back)
            r_up = statistics.median(b["up_s"] / x["up_s"] for x, b in zip(rs, results[base]))
            r_down = statistics.median(b["down_s"] / x["down_s"] for x, b in zip(rs, results[base]))
            met = r_up >= 0.85 and r_down >= 0.85 and max(rss_up, rss_down) <= bound / MiB
            ok &= met
            goal = f"{'met' if met else 'NOT met'} (>= 0.85, <= {bound // MiB} MiB)"
            line += f"{r_up:8.2f} {r_down:9.2f} "
        else:
            goal = "(baseline)"
            line += f"{'':8s} {'':9s} "
        line += f"{rss_up:8.0f} {rss_down:9.0f} {bound // MiB:6d}  {goal}"
        print(line)
        if rounds > 1:
            print(f"{'':52s} rounds up MiB/s: " + ", ".join(f"{mib / x['up_s']:.0f}" for x in rs)
                  + "; down: " + ", ".join(f"{mib / x['down_s']:.0f}" for x in rs))
        if base:
            bare = statistics.median(mib / x["bare_down_s"] for x in rs)
            r_bare = statistics.median(b["down_s"] / x["bare_down_s"] for x, b in zip(rs, results[base]))
            print(f"{'':52s} download without the SHA-256 (info): {bare:.0f} MiB/s, {r_bare:.2f} of the baseline")
    if not minio_cls:
        print(f"MinioObjectStore: {minio_why}; not measured")
    print("Go sink: measured by `go test -bench` (not yet written)")
    print(f"all variants verified (size, SHA-256 of the download = the source's); {time.perf_counter() - started:.1f} s; "
          f"load average {os.getloadavg()[0]:.2f} at end; goals {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
