#!/usr/bin/env python3
"""Reproduce the six findings of issue 5 against a checkout; prints what each does there.

    git worktree add /tmp/old 386c54d && (cd /tmp/old/ingest-go && go build -o /tmp/oldbin/ ./cmd/...)
    .venv/bin/python scripts/repro-issue5-findings.py /tmp/oldbin /tmp/old     # the walking skeleton
    .venv/bin/python scripts/repro-issue5-findings.py .venv/bin "$PWD"         # this checkout

The ADS stub is always this checkout's (.venv/bin/ads-stub); the ingester and the library are the checkout's.
"""
import json, os, signal, subprocess, sys, time, shutil, tempfile
from pathlib import Path

BIN = sys.argv[1]          # directory holding jackfruit-ingest and ads-stub
ROOT = sys.argv[2]         # checkout
py = sys.executable
env0 = dict(os.environ, PYTHONPATH=ROOT, JACKFRUIT_INGEST_BINARY=f"{BIN}/jackfruit-ingest", JACKFRUIT_LEASE_TTL_S="1",
            JACKFRUIT_INGEST_POLL_INITIAL_S="0.1")
sys.path.insert(0, ROOT)
from jackfruit.synthetic.ads_stub import AdsStub  # noqa

def cli(env, *a, **kw):
    return subprocess.run([py, "-m", "jackfruit.cli", *a], env=env, capture_output=True, text=True, timeout=120, **kw)

def start(env, *a):
    return subprocess.Popen([py, "-m", "jackfruit.cli", *a], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

BIG = json.dumps({"variable": ["ozone", "nitrogen_dioxide", "particulate_matter_2.5um", "particulate_matter_10um"],
                  "leadtime_hour": [str(h) for h in range(13)]})
results = {}
with AdsStub(api_key="repro-key", binary=str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "ads-stub"), extra_args=("--bits", "12", "--job-seconds", "3")) as stub:
    d = tempfile.mkdtemp()
    env = dict(env0, JACKFRUIT_DATA_DIR=d + "/data", ADS_BASE_URL=stub.url, ADS_API_KEY="repro-key",
               TMPDIR=d + "/tmp")
    os.makedirs(d + "/tmp")
    r = cli(env, "ingest", "--date", "2025-03-12", "--request", BIG)
    run_id = r.stdout.split()[1]
    # 1: two transforms at once
    a = start(env, "transform", run_id); time.sleep(1.0)
    b = cli(env, "transform", run_id); a.communicate()
    rd = cli(env, "read", "--bbox", "2,48,3,49.5", "--start", "2025-03-12T00:00Z", "--end", "2025-03-12T02:00Z", "--variable", "ozone")
    results["1 concurrent transforms"] = f"second exit {b.returncode}; read exit {rd.returncode} {'Traceback' in rd.stderr and 'with a traceback' or ''}"
    # 3: killed transform leaks
    r2 = cli(env, "ingest", "--date", "2025-03-13", "--request", BIG)
    rid2 = r2.stdout.split()[1]
    t = start(env, "transform", rid2); time.sleep(2.5); t.kill(); t.wait(); time.sleep(1.2)
    cli(env, "gc")
    leaked = [p for p in Path(d + "/tmp").rglob("*") if p.is_file()] + [p for p in Path(d + "/data/work").rglob("*") if p.is_file()] if Path(d + "/data/work").exists() else [p for p in Path(d + "/tmp").rglob("*") if p.is_file()]
    results["3 killed transform (after gc when it exists)"] = f"{len(leaked)} scratch file(s) left, {sum(p.stat().st_size for p in leaked)} bytes"
    # 2: killed ingest
    i = start(env, "ingest", "--date", "2025-03-14", "--request", '{"variable": ["ozone"]}'); time.sleep(3.5)
    i.send_signal(signal.SIGKILL); i.wait(); time.sleep(3)
    runs = json.loads(cli(env, "runs", "--json").stdout)
    state = [x["status"] for x in runs if x["partition_date"] == "2025-03-14"]
    again = cli(env, "ingest", "--date", "2025-03-14", "--request", '{"variable": ["ozone"]}')
    runs = json.loads(cli(env, "runs", "--json").stdout)
    n = len([x for x in runs if x["partition_date"] == "2025-03-14"])
    results["2 killed ingest"] = f"run left {state}; re-ingest exit {again.returncode}; {n} run(s) for the day; ADS jobs submitted for it: {len([j for j in stub.jobs() if '2025-03-14' in json.dumps(j)])}"
    # 4: tampered tile read
    r4 = cli(env, "ingest", "--date", "2025-03-15", "--request", '{"variable": ["ozone"], "leadtime_hour": ["0", "1"]}')
    cli(env, "transform", r4.stdout.split()[1])
    lat = [p for p in Path(d + "/data/buckets/jackfruit-curated").rglob("*") if p.is_file() and "/latitude/c/" in str(p) and "20250315" in str(p)]; print("tampering", len(lat), "latitude objects")
    if lat:
        p = lat[0]; p.chmod(0o644); import numpy as np; p.write_bytes((np.frombuffer(p.read_bytes(), dtype="<f8") + 5.0).astype("<f8").tobytes())
    rd2 = cli(env, "read", "--bbox=-25,30,45,72", "--start", "2025-03-15T00:00Z", "--end", "2025-03-15T02:00Z", "--variable", "ozone")
    results["4 tampered tile read"] = f"read exit {rd2.returncode} ({rd2.stderr.strip().splitlines()[-1][:120] if rd2.stderr.strip() else ''})"
    # 5: raw bucket opened directly
    from jackfruit.adapters.storage.filesystem_store import FilesystemObjectStore
    try:
        s = FilesystemObjectStore(d + "/data/buckets/jackfruit-raw")
        s.put("probe/x.bin", b"overwrite me"); s.delete("probe/x.bin")
        results["5 raw bucket opened directly"] = "put and delete accepted"
    except Exception as e:
        results["5 raw bucket opened directly"] = f"refused: {type(e).__name__}: {str(e)[:90]}"
    # 6: a few bad inputs
    codes = {}
    for name, args in {"variable 5": ["ingest", "--date", "2025-03-12", "--request", '{"variable": 5}'],
                       "limit huge": ["runs", "--limit", "100000000000000000000"],
                       "negative bbox": ["tiles", "--bbox", "-10,40,20,60", "--start", "2025-03-12T00:00Z", "--end", "2025-03-12T01:00Z"],
                       "malformed run id": ["transform", "not-a-uuid"]}.items():
        c = cli(env, *args)
        codes[name] = f"{c.returncode}{' traceback' if 'Traceback' in c.stderr else ''}"
    results["6 bad inputs (exit codes)"] = codes
    shutil.rmtree(d, ignore_errors=True)
for k, v in results.items():
    print(f"{k:45s} {v}")
