"""Kill-anywhere: real `jackfruit ingest` / `jackfruit transform` processes, some running concurrently for the same
partition or run, some re-deriving a published run under a newer transformation version, are SIGKILLed at random
moments in every phase while `jackfruit gc` runs beside them at random moments (sometimes two at once, sometimes
killed too); then the recovery path (re-run = take-over or resume, reap, gc) runs and the run-model invariants are
checked after each round.

Phases are observed, not assumed: each process reports its phase on stderr (``<cmd>: phase <name>``); a kill
counts for the last phase the process had reported when the signal was sent. The test prints a histogram of
kill points per phase, the seed, and the violations found (the goal, and the assertion: zero).

Two stacks (issue 17): SQLite + filesystem + the ingester as a subprocess, and the production adapters --
PostgreSQL (a fresh database migrated by `jackfruit db upgrade`), the S3 server (buckets made by `jackfruit
storage init`) and the ingester in sibling containers (the Docker runner). Invariants after every round: raw
objects belong to runs and match their checksums; every run is over (nothing open, nothing transforming or failed
in its transformation); every tile the catalog records as current reads back verified, every published tile's
objects are there, and gc left no unpublished tile object, scratch or staged upload; reads equal the ecCodes
decode; per partition the upstream made at most one job, plus one per ``--supersede`` asked (counted at the stub,
where jobs are made: the catalog cannot see a lost one); on PostgreSQL no session is left inside a transaction;
with Docker no ingester container is left.

Environment: ``JACKFRUIT_KILL_ROUNDS_PER_PHASE`` (default 4: kills per phase on each stack), ``JACKFRUIT_KILL_SEED``
replays one schedule. Each CI run draws a new seed, so kill points accumulate across runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from jackfruit.app import Jackfruit
from jackfruit.domain.errors import Conflict
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.keys import tile_prefix
from jackfruit.domain.model import TRANSFORMATION_VERSION, RunStatus, TransformStatus, canonical_request
from jackfruit.synthetic.ads_stub import AdsStub

from ..conftest import app_from, catalog_environment, clean_environ, drop_bucket
from ..helpers import assemble, bits, ecc_reference

pytestmark = pytest.mark.slow

DAY = date(2025, 3, 12)
KEY = "kill-test-key"
TTL_S = 1.0
PHASES = ("submit", "poll", "download", "commit", "decode", "tile write", "publish")
INGEST_PHASES = PHASES[:4]
# how long after a phase is reported a kill may land (uniformly); the phase's typical length here
WINDOW_S = {"submit": 0.06, "poll": 0.6, "download": 0.5, "commit": 0.03, "decode": 0.05, "tile write": 0.8,
            "publish": 0.02}
# the schedule's knobs, read before the fixture swaps the process environment for the CLI's
KNOBS = {k: v for k, v in os.environ.items() if k.startswith("JACKFRUIT_KILL_")}
PARTITIONS = [{"variable": ["ozone"], "leadtime_hour": ["0", "1", "2"]},
              {"variable": ["nitrogen_dioxide"], "leadtime_hour": ["0", "1", "2"]},
              {"variable": ["ozone"], "leadtime_hour": ["3", "4", "5"]}]
#: a newer jackfruit, for re-derivations (`transform --version NEWER_VERSION`): the same code with the version constant raised
#: before anything reads it
CURRENT = TRANSFORMATION_VERSION
NEWER_VERSION = str(int(CURRENT) + 1)
NEWER = (f"import sys, jackfruit.domain.model as m; m.TRANSFORMATION_VERSION = '{NEWER_VERSION}'; "
         "from jackfruit.cli import main; sys.exit(main(sys.argv[1:]))")
EVERYWHERE = BBox(-180, -90, 180, 90)
ALWAYS = TimeRange(datetime(2000, 1, 1, tzinfo=timezone.utc), datetime(2100, 1, 1, tzinfo=timezone.utc))
STACKS = ("sqlite", pytest.param("production", marks=[pytest.mark.service("postgres"), pytest.mark.service("s3"),
                                                      pytest.mark.service("docker")]))


class Proc:
    """One CLI process whose stderr is followed live for phase reports."""

    def __init__(self, argv: list[str], env: dict[str, str], newer: bool = False) -> None:
        boot = ["-c", NEWER] if newer else ["-m", "jackfruit.cli"]
        self.argv = argv
        self.p = subprocess.Popen([sys.executable, *boot, *argv], env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.phase: str | None = None
        self.seen: dict[str, threading.Event] = {p: threading.Event() for p in PHASES}
        self.lines: list[str] = []
        self.killed_in: str | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.p.stderr is not None
        for line in self.p.stderr:
            self.lines.append(line.rstrip("\n"))
            if ": phase " in line:
                name = line.split(": phase ", 1)[1].strip()
                if name in self.seen:
                    self.phase = name
                    self.seen[name].set()

    def kill_in(self, phase: str, rng: random.Random, window: float, timeout: float = 30) -> bool:
        """Wait for ``phase``, then SIGKILL at a random moment of ``window`` seconds; True if the kill landed."""
        deadline = time.monotonic() + timeout
        while not self.seen[phase].wait(0.005):
            if self.p.poll() is not None or time.monotonic() > deadline:
                return False
        time.sleep(rng.uniform(0, window))
        if self.p.poll() is not None:
            return False
        observed = self.phase
        try:
            os.kill(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        self.p.wait()
        if self.p.returncode != -signal.SIGKILL:
            return False
        self.killed_in = observed
        return True

    def wait(self, timeout: float = 120) -> int:
        rc = self.p.wait(timeout)
        self._reader.join(5)
        return rc


@pytest.fixture(scope="module", params=STACKS)
def world(request, tmp_path_factory):
    data = tmp_path_factory.mktemp(f"kill-anywhere-{request.param}")
    production = request.param == "production"
    stack_env: dict[str, str] = {}
    buckets: list[str] = []
    if production:  # PostgreSQL + the S3 server + the ingester in sibling containers
        s3 = request.getfixturevalue("s3_server")
        tag = uuid.uuid4().hex[:12]
        buckets = [f"kill-raw-{tag}", f"kill-curated-{tag}"]
        stack_env = {"JACKFRUIT_RUNNER": "docker", "JACKFRUIT_INGEST_IMAGE": request.getfixturevalue("ingest_image"),
                     "JACKFRUIT_OBJECT_STORE": "s3", "MINIO_ENDPOINT": s3.endpoint, "MINIO_ACCESS_KEY": s3.access_key,
                     "MINIO_SECRET_KEY": s3.secret_key, "MINIO_BUCKET": buckets[0],
                     "JACKFRUIT_CURATED_BUCKET": buckets[1]}
    with catalog_environment(request, "postgres" if production else "sqlite", "jf_kill") as catalog_env, \
            AdsStub(api_key=KEY, extra_args=("--job-seconds", "0.6", "--download-bytes-per-sec", "4000000",
                                             "--submit-delay", "60ms", "--bits", "12")) as stub:
        env = clean_environ()
        env.update(JACKFRUIT_DATA_DIR=str(data), JACKFRUIT_LEASE_TTL_S=str(TTL_S), ADS_BASE_URL=stub.url,
                   ADS_API_KEY=KEY, JACKFRUIT_INGEST_POLL_INITIAL_S="0.1", **catalog_env, **stack_env)
        if production:
            init = subprocess.run([sys.executable, "-m", "jackfruit.cli", "storage", "init"], env=env,
                                  capture_output=True, text=True, timeout=120)
            assert init.returncode == 0, init.stderr
        try:
            with app_from(env) as app:
                yield app, env, stub
        finally:
            if buckets:
                client = request.getfixturevalue("s3_server").client()
                for name in buckets:
                    drop_bucket(client, name)


def open_transactions(env: dict[str, str]) -> list[str]:
    """PostgreSQL only: the sessions on the catalog's database that are inside a transaction (none for SQLite)."""
    if env.get("JACKFRUIT_CATALOG") != "postgres":
        return []
    import psycopg

    with psycopg.connect(host=env["POSTGRES_HOST"], port=int(env["POSTGRES_PORT"]), user=env["POSTGRES_USER"],
                         password=env["POSTGRES_PASSWORD"], dbname=env["POSTGRES_DB"], autocommit=True) as db:
        rows = db.execute("SELECT pid, application_name, state, left(query, 80) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND backend_type = 'client backend' "
                          "AND pid <> pg_backend_pid() AND (state <> 'idle' OR xact_start IS NOT NULL)").fetchall()
    return [f"session {pid} ({name}) is {state}: {query}" for pid, name, state, query in rows]


def leftover_containers(app: Jackfruit, env: dict[str, str]) -> list[str]:
    """Docker runner only: ingester containers of this catalog's runs still there after recovery (gc sweeps the
    containers of attempts that are over; every attempt is over after recovery)."""
    if env.get("JACKFRUIT_RUNNER") != "docker":
        return []
    import docker

    from jackfruit.adapters.runner.docker_runner import LABEL_RUN

    mine = {r.run_id for r in app.runs(limit=None)}
    client = docker.from_env()
    try:
        found = client.api.containers(all=True, filters={"label": LABEL_RUN})
    finally:
        client.close()
    return [f"container {c['Names'][0]} ({c['State']}) of run {c['Labels'][LABEL_RUN]} left after recovery"
            for c in found if c["Labels"].get(LABEL_RUN) in mine]


def ingest_argv(day: date, partition: dict, supersede: bool = False) -> list[str]:
    return ["ingest", "--date", day.isoformat(), "--request", json.dumps(partition),
            *(["--supersede"] if supersede else [])]


class Ledger:
    """The upstream jobs each partition may have cost: one, plus one per ``--supersede`` asked for it."""

    def __init__(self) -> None:
        self.supersedes: Counter[str] = Counter()

    @staticmethod
    def key(day: date, partition: dict) -> str:
        return f"{day.isoformat()} {canonical_request(partition)}"

    def violations(self, app: Jackfruit, stub: AdsStub) -> list[str]:
        found, seen = [], set()
        for run in app.runs(limit=None):
            part = {k: run.request[k] for k in ("variable", "leadtime_hour")}
            key = self.key(run.partition_date, part)
            if key in seen:
                continue
            seen.add(key)
            jobs, allowed = stub.job_count(run.request), 1 + self.supersedes[key]
            if jobs > allowed:
                found.append(f"partition {key}: the upstream made {jobs} jobs, at most {allowed} allowed")
        return found


def recover(app: Jackfruit, env: dict[str, str], rng: random.Random) -> list[str]:
    """The recovery path after kills: wait out the leases, then take over (re-run) or reap, resume what failed with a
    job the upstream still holds, finish or re-run transformations (a re-derivation under its newer version), and
    collect. Returns what went wrong on the way (a recovery step must not fail)."""
    problems: list[str] = []
    time.sleep(TTL_S + 0.2)
    for run in app.runs(limit=None):
        part = {k: run.request[k] for k in ("variable", "leadtime_hour")}
        if run.status is RunStatus.RUNNING:
            if rng.random() < 0.25:
                app.reap(timedelta(0))  # keeps the run's upstream job: the next ingest resumes it
            else:
                app.ingest(run.dataset, run.partition_date, part)  # takes the run over
    # a failed run (reaped, or failed on the lost S3 server...): the next ingest resumes its job if the upstream
    # still holds it, or finds the job a killed attempt never recorded; never a second job
    for run in app.runs(limit=None):
        if run.status is RunStatus.FAILED and rng.random() < 0.5:
            part = {k: run.request[k] for k in ("variable", "leadtime_hour")}
            try:
                app.ingest(run.dataset, run.partition_date, part)
            except Conflict:
                pass  # the partition succeeded since, or is not this run's any more
    for run in app.runs(limit=None):
        if run.transform_status in (TransformStatus.TRANSFORMING, TransformStatus.FAILED):
            if run.transform_version == NEWER_VERSION:  # a re-derivation: finished by the newer jackfruit
                proc = Proc(["transform", "--version", NEWER_VERSION, run.run_id], env, newer=True)
                if proc.wait() != 0:
                    problems.append(f"re-running the re-derivation of {run.run_id} exited {proc.p.returncode}: "
                                    f"{proc.lines[-3:]}")
            else:
                app.transform(run.run_id)  # claims it again (a failed attempt) or takes it over
    app.gc()
    return problems


def violations(app: Jackfruit, checked_reads: set[str]) -> list[str]:
    found: list[str] = []
    runs = app.runs(limit=None)
    by_key = {r.raw_key: r for r in runs}
    # every raw object belongs to exactly one run and matches its checksum
    for info in app.raw_store.list():
        run = by_key.get(info.key)
        if run is None:
            found.append(f"raw object {info.key} belongs to no run")
            continue
        if run.status is RunStatus.SUCCEEDED or (run.status is RunStatus.QUARANTINED and run.raw_sha256):
            body = app.raw_store.get(info.key)
            if (len(body), hashlib.sha256(body).hexdigest()) != (run.raw_size, run.raw_sha256):
                found.append(f"raw object {info.key} does not match run {run.run_id}'s checksum")
        elif run.status not in (RunStatus.FAILED, RunStatus.QUARANTINED):
            found.append(f"raw object {info.key} belongs to run {run.run_id}, which is {run.status.value}")
    for run in runs:
        if run.status is RunStatus.SUCCEEDED and not app.raw_store.exists(run.raw_key):
            found.append(f"succeeded run {run.run_id} has no raw object")
    # at most one succeeded run per partition unless superseded
    per_partition = Counter(r.partition for r in runs if r.status is RunStatus.SUCCEEDED and r.supersedes is None)
    found += [f"partition {p} has {n} succeeded runs that supersede nothing" for p, n in per_partition.items()
              if n > 1]
    # every run is over (nothing is alive after recovery): nothing open, no transformation in flight or failed
    for run in runs:
        if not run.terminal or run.transform_status in (TransformStatus.TRANSFORMING, TransformStatus.FAILED):
            found.append(f"run {run.run_id} is {run.status.value}/{run.transform_status.value} after recovery")
    # every tile the catalog records as current reads back verified (gc beside a re-derivation must not touch them)
    for t in app.find_tiles(EVERYWHERE, ALWAYS):
        found += [f"current tile {t.key}: {p}" for p in app.tile_format.verify(app.curated_store, t)]
    # no published tile misses an object; after gc no unpublished tile object of an ended attempt remains
    published = {t.key: t for r in runs for t in app.catalog.tiles_of_run(r.run_id)}
    for t in published.values():
        found += app.tile_format.verify(app.curated_store, t)
    for info in app.curated_store.list("tiles/"):
        prefix = tile_prefix(info.key)
        if prefix not in published:
            found.append(f"curated object {info.key} belongs to no published tile after gc")
    leftovers = list((Path(app.work_dir)).glob("*")) if Path(app.work_dir).exists() else []
    found += [f"scratch {p} left after gc" for p in leftovers]
    for bucket in (app.raw_store, app.curated_store):
        if hasattr(bucket, "multipart_uploads"):  # S3: an unfinished multipart upload is the staged file
            found += [f"multipart upload of {k} left after gc" for k, _ in bucket.multipart_uploads()]
        else:
            partial = Path(bucket.root) / ".partial"
            found += [f"staged file {p} left after gc" for p in partial.glob("*")]
    # reads equal the ecCodes decode (each published run once)
    for run in runs:
        if run.transform_status is TransformStatus.PUBLISHED and (run.run_id, run.transform_version) not in checked_reads:
            checked_reads.add((run.run_id, run.transform_version))
            path = Path(app.work_dir).parent / f"check-{run.run_id}.grib"
            path.write_bytes(app.raw_store.get(run.raw_key))
            try:
                ref = ecc_reference(path)
                lon0 = ref[0]["lon0"] - 360 if ref[0]["lon0"] > 180 else ref[0]["lon0"]
                tiles = [t for t in app.catalog.tiles_of_run(run.run_id)
                         if t.transformation_version == run.transform_version]
                fields = assemble(app, tiles, ref[0]["values"].shape, ref[0]["lat0"], lon0)
                for msg in ref:
                    got = [v for (m, var, lvl, rt, step), v in fields.items() if step == msg["step"]]
                    if not got or not any(np.array_equal(bits(g), bits(msg["values"])) for g in got):
                        found.append(f"run {run.run_id}: step {msg['step']} read back differs from ecCodes")
            finally:
                path.unlink()
    return found


class GcActor:
    """`jackfruit gc` at a random moment of a round, beside the other processes: sometimes two at once, sometimes
    killed itself. A gc must never fail (exit 0 or killed by us)."""

    def __init__(self, env: dict[str, str], rng: random.Random) -> None:
        self.env, self.rng = env, rng
        self.procs: list[Proc] = []
        self.killed = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        time.sleep(self.rng.uniform(0, 1.5))
        self.procs = [Proc(["gc"], self.env) for _ in range(2 if self.rng.random() < 0.3 else 1)]
        if self.rng.random() < 0.3:
            time.sleep(self.rng.uniform(0, 0.5))
            for proc in self.procs:
                if proc.p.poll() is None:
                    proc.p.kill()
                    self.killed += 1

    def finish(self) -> list[str]:
        self._thread.join(30)
        bad = []
        for proc in self.procs:
            rc = proc.wait()
            if rc not in (0, -signal.SIGKILL):
                bad.append(f"a concurrent gc exited {rc}: {proc.lines[-3:]}")
        return bad


def test_kill_anywhere(world, capsys):
    app, env, stub = world
    backend = ("PostgreSQL + S3 + Docker runner" if env.get("JACKFRUIT_RUNNER") == "docker"
               else "SQLite + filesystem + subprocess runner")
    per_phase = int(KNOBS.get("JACKFRUIT_KILL_ROUNDS_PER_PHASE", "4"))
    seed = int(KNOBS.get("JACKFRUIT_KILL_SEED", str(random.SystemRandom().randrange(1 << 30))))
    rng = random.Random(seed)
    print(f"\nkill-anywhere: seed {seed} (JACKFRUIT_KILL_SEED={seed} reproduces the schedule)")
    kills: Counter[str] = Counter()
    bad: list[str] = []
    checked_reads: set = set()
    ledger = Ledger()
    rounds = conflicts = rederivations = gcs = gc_kills = 0
    windows = dict(WINDOW_S)
    max_rounds = per_phase * len(PHASES) * 6
    day = DAY
    while min(kills[p] for p in PHASES) < per_phase and rounds < max_rounds:
        rounds += 1
        target = min(PHASES, key=lambda p: (kills[p], rng.random()))
        concurrent = rng.random() < 0.3
        newer = False
        if target in INGEST_PHASES:
            done = [r for r in app.runs(limit=None) if r.status is RunStatus.SUCCEEDED]
            if done and rng.random() < 0.15:  # a new version of a landed partition, asked for
                r = rng.choice(done)
                run_day, part, supersede = r.partition_date, {k: r.request[k] for k in ("variable", "leadtime_hour")}, True
            else:  # a new partition: one upstream job, whatever is killed
                day += timedelta(days=1)
                run_day, part, supersede = day, rng.choice(PARTITIONS), False
            if supersede:
                ledger.supersedes[Ledger.key(run_day, part)] += 2 if concurrent else 1
            argv = ingest_argv(run_day, part, supersede)
        else:
            runs = app.runs(limit=None)
            ready = [r for r in runs if r.status is RunStatus.SUCCEEDED and r.transform_status is TransformStatus.NONE]
            again = [r for r in runs if r.transform_status is TransformStatus.PUBLISHED and r.transform_version == CURRENT]
            if again and (not ready or rng.random() < 0.35):  # re-derive a published run under a newer version
                newer, rederivations = True, rederivations + 1
                argv = ["transform", "--version", NEWER_VERSION, rng.choice(again).run_id]
            elif ready:
                argv = ["transform", rng.choice(ready).run_id]
            else:
                day += timedelta(days=1)
                app.ingest("cams-europe-air-quality-forecasts", day, rng.choice(PARTITIONS))
                continue
        collector = GcActor(env, rng) if rng.random() < 0.5 else None
        victim = Proc(argv, env, newer)
        rival = Proc(argv, env, newer) if concurrent else None
        if victim.kill_in(target, rng, windows[target]):
            kills[victim.killed_in or "start-up"] += 1
            if victim.killed_in in PHASES[PHASES.index(target) + 1:]:
                windows[target] /= 2  # the phase is shorter here than WINDOW_S says: aim earlier within it
        elif victim.seen[target].is_set():
            windows[target] /= 2  # the process finished before the kill: the same
        victim.wait()
        if rival is not None:
            rc = rival.wait()
            conflicts += rc == 4
            if rc not in (0, 4):
                bad.append(f"round {rounds}: the concurrent {' '.join(argv[:3])} exited {rc}: {rival.lines[-3:]}")
        if collector is not None:
            bad += [f"round {rounds}: {v}" for v in collector.finish()]
            gcs += len(collector.procs)
            gc_kills += collector.killed
        bad += [f"round {rounds}: recovery: {v}" for v in recover(app, env, rng)]
        found = (violations(app, checked_reads) + ledger.violations(app, stub) + open_transactions(env)
                 + leftover_containers(app, env))
        bad += [f"round {rounds} ({target}): {v}" for v in found]
    with capsys.disabled():  # the histogram belongs in the CI log, pass or fail
        print(f"\nkill-anywhere ({backend}): seed {seed}; {rounds} rounds, {sum(kills.values())} kills, "
              f"{rederivations} re-derivations, {gcs} concurrent gc ({gc_kills} killed), {conflicts} concurrent "
              f"claims refused, {len(app.runs(limit=None))} runs, {sum(c['jobs'] for c in stub.job_counts())} "
              f"upstream jobs, violations: {len(bad)}")
        for phase in (*PHASES, "start-up"):
            aim = f"  (aimed within {windows[phase] * 1000:.0f} ms)" if windows.get(phase, 0) != WINDOW_S.get(phase, 0) else ""
            print(f"  {phase:10s} {kills[phase]:4d} {'#' * kills[phase]}{aim}")
        for v in bad[:20]:
            print("  VIOLATION", v)
    assert not bad, f"{len(bad)} invariant violations (seed {seed})"
    assert all(kills[p] >= per_phase for p in PHASES), f"kills per phase {dict(kills)} (seed {seed})"
