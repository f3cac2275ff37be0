"""Kill-anywhere: real `jackfruit ingest` / `jackfruit transform` processes on the embedded defaults, some
running concurrently for the same partition or run, are SIGKILLed at random moments in every phase; then the
recovery path (re-run = take-over, reap, gc) runs and the run-model invariants are checked after each round.

Phases are observed, not assumed: each process reports its phase on stderr (``<cmd>: phase <name>``); a kill
counts for the last phase the process had reported when the signal was sent. The test prints a histogram of
kill points per phase, the seed, and the violations found (the goal, and the assertion: zero).

It runs once per catalog backend: on the embedded SQLite catalog, and on PostgreSQL (a fresh database migrated by
`jackfruit db upgrade` through the CLI first). The invariants are the same on both; on PostgreSQL one more is
checked after each round: no session is left inside a transaction (a killed process's transaction was rolled back,
its locks released).

Environment: ``JACKFRUIT_KILL_ROUNDS_PER_PHASE`` (default 4: kills per phase on SQLite; 10 or more for a longer
schedule), ``JACKFRUIT_KILL_ROUNDS_PER_PHASE_DOCKER`` (default 2: with the Docker runner),
``JACKFRUIT_KILL_ROUNDS_PER_PHASE_POSTGRES`` (default 3). The defaults keep CI's cold run under 30 minutes (the three
variants took 11 minutes of it at 6/4/3); each CI run draws a new seed, so the kill points accumulate across runs;
set them to 10 for the full schedule. ``JACKFRUIT_KILL_SEED`` replays one.
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
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from jackfruit.app import Jackfruit
from jackfruit.domain.keys import tile_prefix
from jackfruit.domain.model import RunStatus, TransformStatus
from jackfruit.settings import load_settings
from jackfruit.synthetic.ads_stub import AdsStub

from ..conftest import CATALOG_BACKENDS, catalog_environment, clean_environ
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


class Proc:
    """One CLI process whose stderr is followed live for phase reports."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.p = subprocess.Popen([sys.executable, "-m", "jackfruit.cli", *argv], env=env, stdin=subprocess.DEVNULL,
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


@pytest.fixture(scope="module", params=(*CATALOG_BACKENDS, pytest.param("docker", marks=pytest.mark.service("docker"))))
def world(request, tmp_path_factory):
    data = tmp_path_factory.mktemp(f"kill-anywhere-{request.param}")
    runner_env = {}
    if request.param == "docker":  # the ingester in sibling containers (the Docker runner), SQLite catalog
        runner_env = {"JACKFRUIT_RUNNER": "docker", "JACKFRUIT_INGEST_IMAGE": request.getfixturevalue("ingest_image")}
    backend = "sqlite" if request.param == "docker" else request.param
    with catalog_environment(request, backend, "jf_kill") as catalog_env, \
            AdsStub(api_key=KEY, extra_args=("--job-seconds", "0.6", "--download-bytes-per-sec", "4000000",
                                             "--submit-delay", "60ms", "--bits", "12")) as stub:
        env = clean_environ()
        env.update(JACKFRUIT_DATA_DIR=str(data), JACKFRUIT_LEASE_TTL_S=str(TTL_S), ADS_BASE_URL=stub.url,
                   ADS_API_KEY=KEY, JACKFRUIT_INGEST_POLL_INITIAL_S="0.1", **catalog_env, **runner_env)
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            app = Jackfruit.from_settings(load_settings())
            try:
                yield app, env, stub
            finally:
                app.close()
        finally:
            os.environ.clear()
            os.environ.update(saved)


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


def ingest_argv(partition: dict) -> list[str]:
    return ["ingest", "--date", DAY.isoformat(), "--request", json.dumps(partition), "--supersede"]


def recover(app: Jackfruit, rng: random.Random) -> None:
    """The recovery path after kills: wait out the leases, then take over (re-run) or reap, and collect."""
    time.sleep(TTL_S + 0.2)
    for run in app.runs(limit=None):
        if run.status is RunStatus.RUNNING:
            if rng.random() < 0.25:
                app.reap(timedelta(0))
            else:
                part = {k: run.request[k] for k in ("variable", "leadtime_hour")}
                app.ingest(run.dataset, run.partition_date, part, supersede=True)  # takes the run over
    for run in app.runs(limit=None):
        if run.transform_status is TransformStatus.TRANSFORMING:
            app.transform(run.run_id)  # takes the transform over
    app.gc()


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
    # every run is terminal or holds a live lease (nothing is alive after recovery)
    for run in runs:
        if not run.terminal or run.transform_status is TransformStatus.TRANSFORMING:
            found.append(f"run {run.run_id} is {run.status.value}/{run.transform_status.value} after recovery")
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
        partial = Path(bucket.root) / ".partial"
        found += [f"staged file {p} left after gc" for p in partial.glob("*")]
    # reads equal the ecCodes decode (each published run once)
    for run in runs:
        if run.transform_status is TransformStatus.PUBLISHED and run.run_id not in checked_reads:
            checked_reads.add(run.run_id)
            path = Path(app.work_dir).parent / f"check-{run.run_id}.grib"
            path.write_bytes(app.raw_store.get(run.raw_key))
            try:
                ref = ecc_reference(path)
                lon0 = ref[0]["lon0"] - 360 if ref[0]["lon0"] > 180 else ref[0]["lon0"]
                fields = assemble(app, app.catalog.tiles_of_run(run.run_id), ref[0]["values"].shape,
                                  ref[0]["lat0"], lon0)
                for msg in ref:
                    got = [v for (m, var, lvl, rt, step), v in fields.items() if step == msg["step"]]
                    if not got or not any(np.array_equal(bits(g), bits(msg["values"])) for g in got):
                        found.append(f"run {run.run_id}: step {msg['step']} read back differs from ecCodes")
            finally:
                path.unlink()
    return found


def test_kill_anywhere(world, capsys):
    app, env, stub = world
    backend = env.get("JACKFRUIT_CATALOG", "sqlite")
    if env.get("JACKFRUIT_RUNNER") == "docker":  # containers start slower: fewer kills
        backend += " catalog, Docker runner"
        per_phase = int(KNOBS.get("JACKFRUIT_KILL_ROUNDS_PER_PHASE_DOCKER", "2"))
    else:
        per_phase = int(KNOBS.get("JACKFRUIT_KILL_ROUNDS_PER_PHASE_POSTGRES", "3") if backend == "postgres"
                        else KNOBS.get("JACKFRUIT_KILL_ROUNDS_PER_PHASE", "4"))
    seed = int(KNOBS.get("JACKFRUIT_KILL_SEED", str(random.SystemRandom().randrange(1 << 30))))
    rng = random.Random(seed)
    print(f"\nkill-anywhere: seed {seed} (JACKFRUIT_KILL_SEED={seed} reproduces the schedule)")
    kills: Counter[str] = Counter()
    bad: list[str] = []
    checked_reads: set[str] = set()
    rounds = conflicts = 0
    windows = dict(WINDOW_S)
    max_rounds = per_phase * len(PHASES) * 6
    while min(kills[p] for p in PHASES) < per_phase and rounds < max_rounds:
        rounds += 1
        target = min(PHASES, key=lambda p: (kills[p], rng.random()))
        concurrent = rng.random() < 0.3
        if target in INGEST_PHASES:
            argv = ingest_argv(rng.choice(PARTITIONS))
        else:
            ready = [r for r in app.runs(limit=None)
                     if r.status is RunStatus.SUCCEEDED and r.transform_status is TransformStatus.NONE]
            if not ready:
                app.ingest("cams-europe-air-quality-forecasts", DAY, rng.choice(PARTITIONS), supersede=True)
                continue
            argv = ["transform", rng.choice(ready).run_id]
        victim = Proc(argv, env)
        rival = Proc(argv, env) if concurrent else None
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
                bad.append(f"round {rounds}: the concurrent {argv[0]} exited {rc}: {rival.lines[-3:]}")
        recover(app, rng)
        found = violations(app, checked_reads) + open_transactions(env) + leftover_containers(app, env)
        bad += [f"round {rounds} ({target}): {v}" for v in found]
    with capsys.disabled():  # the histogram belongs in the CI log, pass or fail
        print(f"\nkill-anywhere ({backend if 'catalog' in backend else backend + ' catalog'}): seed {seed}; {rounds} rounds, {sum(kills.values())} kills, "
              f"{conflicts} concurrent claims refused, {len(app.runs(limit=None))} runs, violations: {len(bad)}")
        for phase in (*PHASES, "start-up"):
            aim = f"  (aimed within {windows[phase] * 1000:.0f} ms)" if windows.get(phase, 0) != WINDOW_S.get(phase, 0) else ""
            print(f"  {phase:10s} {kills[phase]:4d} {'#' * kills[phase]}{aim}")
        for v in bad[:20]:
            print("  VIOLATION", v)
    assert not bad, f"{len(bad)} invariant violations (seed {seed})"
    assert all(kills[p] >= per_phase for p in PHASES), f"kills per phase {dict(kills)} (seed {seed})"
