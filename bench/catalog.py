"""Benchmark: ``Catalog.find_tiles`` at 10 k, 100 k and 1 M tiles (10 M on demand), PostgreSQL and SQLite, beside
a bare psycopg client (the floor) and the same queries without the spatial/time indexes, same run, same data.

The catalog: a realistic tiling of the CAMS Europe domain (lon -25..45, lat 30..72): 40 cells of 10° (ADR 0002,
each tile's extent its cell clipped to the domain) × 4 species × 12 models × the surface level × N daily runs
(00 UTC, 97 lead times: each tile is valid for 96 h), N = size / 1,920. Every run is claimed, landed and
published through the Catalog API — one run per day, 1,920 tiles and their lineage edges — so the rows are
exactly what the adapters write (1 M tiles: ~2 min on PostgreSQL, ~1 min on SQLite; 1.7 GB and 2.8 GB). Catalogs
of 100 k tiles and more are cached between runs (SQLite files under ``~/.cache/jackfruit-bench``, PostgreSQL
databases ``jackfruit_bench_catalog_<tiles>_<key>``), keyed by size, schema (the text of every migration) and
this generator's version; ``--rebuild`` rebuilds them, ``--drop-cache`` removes them. Before measuring, the
SQLite file is read once (page cache) and PostgreSQL's tiles table and search index are loaded into shared
buffers as far as they fit (pg_prewarm): a catalog in use.

The queries: distinct random queries (no result cache anywhere): one variable, one model, level 0, a 5° × 5° box
inside the domain (corners on 0.01°), a one-day window ``[t, t + 24 h)`` at a random minute, with t such that
every window overlaps five daily runs (so each size answers the same kind of query: 5 to 20 tiles). Two clients
= two processes, each with its own catalog (connection pool / SQLite connection), each running half of the
queries back to back after a warm-up over other queries; p50/p99 of the single query latencies, q/s = queries /
wall time of both. ``--rounds`` (3) repeats every variant, each round on its own distinct queries, and the
table gives the median of the rounds (and the range of their p50s): a shared machine's bursts hit one round.

Variants (same queries; the slow ones on the first ``--slow-queries`` of round 1 only):
  postgres api        PostgresCatalog.find_tiles
  postgres bare       psycopg, one connection, the SQL of find_tiles (prepared), rows as tuples: the floor
  postgres no index   the bare client with index scans turned off (what dropping the GiST index gives)  [slow]
  sqlite api          SqliteCatalog.find_tiles (R*Tree over longitude, latitude and valid hours)
  sqlite bare         sqlite3, the SQL of find_tiles, rows as tuples
  sqlite space only   the find_tiles of schema 2: the R*Tree constrained on longitude/latitude only  [slow]
  sqlite no index     the exact predicates on the tiles table alone (NOT INDEXED)  [slow]
Every variant must return the same tiles for every query; a sample of queries is also checked, whole Tile
objects, against the answer computed from the generator.

    eval "$(scripts/postgres-server env)"                       # PostgreSQL 15 + PostGIS on loopback
    .venv/bin/python bench/catalog.py                           # 10 k, 100 k, 1 M tiles, 3 × 2,000 queries
    .venv/bin/python bench/catalog.py --sizes 10000000          # 10 M on demand (~30 min to build, ~45 GB)
    .venv/bin/python bench/catalog.py --sizes 2000 --queries 200    # quick (CI smoke, a few seconds)
    .venv/bin/python bench/catalog.py --backends sqlite         # without PostgreSQL
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

GENERATOR = "2"  # bump when the generated catalog changes (invalidates the cache)
CACHE_FROM = 100_000  # smaller catalogs build in seconds: never cached
DOMAIN = (-25.0, 30.0, 45.0, 72.0)
FIRST_RUN = datetime(2024, 1, 1, tzinfo=timezone.utc)
LEAD_HOURS = 96
PG_PREFIX = "jackfruit_bench_catalog_"
SLOW = {"postgres no index", "sqlite space only", "sqlite no index"}
VARIANTS = ("postgres api", "postgres bare", "postgres no index", "sqlite api", "sqlite bare", "sqlite space only",
            "sqlite no index")


# -- the catalog -----------------------------------------------------------------------------------------------
def _cells():
    """The 40 cells of 10° over the CAMS Europe domain: (cell id, extent, ny, nx) at 0.1°."""
    from jackfruit.domain.geo import BBox

    west0, south0, east0, north0 = DOMAIN
    out = []
    for south in range(30, 72, 10):
        for west in range(-30, 45, 10):
            ext = BBox(max(west, west0), max(south, south0), min(west + 10, east0), min(south + 10, north0))
            cid = f"{'n' if south >= 0 else 's'}{abs(south):02d}{'e' if west >= 0 else 'w'}{abs(west):03d}"
            out.append((cid, ext, round((ext.north - ext.south) * 10), round((ext.east - ext.west) * 10)))
    assert len(out) == 40
    return out


def _series():
    from jackfruit.sources.cams_europe.codes import MAIN_SPECIES, MODELS

    return [(v, m, 0) for m in MODELS for v in MAIN_SPECIES]


@dataclass(frozen=True)
class Layout:
    """``days`` daily runs of ``nseries`` (variable, model, level) series over the 40 cells."""

    requested: int
    days: int
    nseries: int

    @classmethod
    def of(cls, size: int) -> "Layout":
        per_day = 40 * len(_series())
        days = max(5, round(size / per_day))  # at least 5: every query window overlaps five runs
        return cls(size, days, min(len(_series()), max(1, round(size / (40 * days)))))

    @property
    def tiles(self) -> int:
        return 40 * self.nseries * self.days

    def label(self) -> str:
        n = self.requested
        return f"{n // 1_000_000} M" if n % 1_000_000 == 0 else f"{n // 1000} k" if n % 1000 == 0 else str(n)


def _uid(ms: int, *parts) -> str:
    from jackfruit.domain.keys import new_uuid7

    return new_uuid7(ms, hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:10])


def _run_ids(day: int) -> tuple[str, str, datetime]:
    ref = FIRST_RUN + timedelta(days=day)
    ms = int(ref.timestamp() * 1000) + 12 * 3_600_000
    return _uid(ms, "run", day), _uid(ms + 3_600_000, "transform", day), ref


def make_tile(day: int, series: tuple, cell: tuple):
    from jackfruit.domain.keys import tile_key
    from jackfruit.domain.model import TRANSFORMATION_VERSION, Tile
    from jackfruit.sources.cams_europe import PROFILE as CAMS_PROFILE
    CAMS_EUROPE = CAMS_PROFILE.definition()

    run_id, attempt, ref = _run_ids(day)
    (variable, model, level), (cid, ext, ny, nx) = series, cell
    key = tile_key(CAMS_EUROPE.name, variable, model, level, ref, cid, run_id, TRANSFORMATION_VERSION, attempt)
    return Tile(key=key, run_id=run_id, dataset=CAMS_EUROPE.name, model=model, variable=variable, level_m=level,
                reference_time=ref, valid_start=ref, valid_end=ref + timedelta(hours=LEAD_HOURS), cell_id=cid,
                bbox=ext, shape=(LEAD_HOURS + 1, ny, nx), size=(LEAD_HOURS + 1) * ny * nx * 2,
                sha256=hashlib.sha256(key.encode()).hexdigest())


def populate(catalog, layout: Layout, progress: str) -> None:
    """Every run through the Catalog API: claim, land, claim the transformation, publish its tiles + lineage."""
    from jackfruit.domain.keys import RawKey
    from jackfruit.domain.model import IngestionRun, LineageEdge, RunStatus
    from jackfruit.sources.cams_europe import PROFILE as CAMS_PROFILE
    CAMS_EUROPE = CAMS_PROFILE.definition()

    catalog.add_dataset(CAMS_EUROPE)
    cells, series = _cells(), _series()[:layout.nseries]
    t0 = time.monotonic()
    for d in range(layout.days):
        run_id, attempt, ref = _run_ids(d)
        day, now, hour = ref.date(), ref + timedelta(hours=12), timedelta(hours=1)
        run = IngestionRun(run_id=run_id, source=CAMS_EUROPE.source, dataset=CAMS_EUROPE.name, partition_date=day,
                           request=CAMS_EUROPE.request_for(day), status=RunStatus.PENDING, created_at=now,
                           raw_key=str(RawKey(CAMS_EUROPE.source, CAMS_EUROPE.name, day, run_id, CAMS_EUROPE.ext)))
        catalog.claim_ingest(run, attempt_id=_uid(int(now.timestamp() * 1000), "ingest", d), owner="bench", now=now,
                             expires_at=now + hour)
        raw_sha = hashlib.sha256(run.raw_key.encode()).hexdigest()
        catalog.succeed(run_id, 1, now=now, size=300_000_000, sha256=raw_sha, upstream_job_id=f"job-{d}")
        catalog.claim_transform(run_id, attempt_id=attempt, owner="bench", now=now, expires_at=now + hour)
        tiles = [make_tile(d, s, c) for s in series for c in cells]
        catalog.publish(run_id, 1, tiles, [LineageEdge(run.raw_key, raw_sha, t.key, run_id) for t in tiles],
                        now=now)
        if time.monotonic() - t0 > 20 and (d + 1) % 50 == 0:
            print(f"  {progress}: {d + 1}/{layout.days} runs, {time.monotonic() - t0:.0f} s", file=sys.stderr)


def expected_tiles(layout: Layout, q) -> list:
    """The answer computed from the generator (the domain's predicates over the tiles that exist)."""
    box, window, variable, model, level = q
    out = []
    for d in range(layout.days):
        for s in _series()[:layout.nseries]:
            if s != (variable, model, level):
                continue
            for c in _cells():
                if box.intersects(c[1]):
                    t = make_tile(d, s, c)
                    if window.overlaps(t.valid_start, t.valid_end):
                        out.append(t)
    return sorted(out, key=lambda t: (t.variable, t.model, t.level_m, t.reference_time, t.cell_id, t.key))


def make_queries(layout: Layout, n: int, seed: int) -> list:
    from jackfruit.domain.geo import BBox, TimeRange

    rnd, seen, out = random.Random(seed), set(), []
    series = _series()[:layout.nseries]
    first = FIRST_RUN + timedelta(hours=LEAD_HOURS - 24)  # window start: every window meets five runs
    minutes = (layout.days - 1) * 1440 - (LEAD_HOURS - 24) * 60
    while len(out) < n:
        west, south = rnd.randint(-2500, 4000) / 100, rnd.randint(3000, 6700) / 100
        start = first + timedelta(minutes=rnd.randint(0, minutes))
        variable, model, level = rnd.choice(series)
        ident = (west, south, start, variable, model)
        if ident in seen:
            continue
        seen.add(ident)
        out.append((BBox(west, south, west + 5, south + 5), TimeRange(start, start + timedelta(days=1)),
                    variable, model, level))
    return out


# -- backends --------------------------------------------------------------------------------------------------
def _pg_settings() -> dict:
    env = os.environ
    if not env.get("JACKFRUIT_TEST_PG_HOST"):
        raise SystemExit("PostgreSQL: eval \"$(scripts/postgres-server env)\" first (JACKFRUIT_TEST_PG_*), "
                         "or --backends sqlite")
    return {"host": env["JACKFRUIT_TEST_PG_HOST"], "port": int(env.get("JACKFRUIT_TEST_PG_PORT", "5432")),
            "user": env["JACKFRUIT_TEST_PG_USER"], "password": env.get("JACKFRUIT_TEST_PG_PASSWORD")}


def _pg_admin(pg: dict):
    import psycopg

    return psycopg.connect(dbname="postgres", autocommit=True, **pg)


def _schema_key(kind: str) -> str:
    """The cache key of a catalog's schema: the text of every migration of ``kind``, and this generator."""
    from importlib import resources

    from jackfruit.adapters.catalog import _migrations

    folder = resources.files(_migrations.__package__).joinpath("migrations", kind)
    text = "".join(folder.joinpath(f"{m}.sql").read_text() for m in _migrations.migration_ids(kind))
    return hashlib.sha256(f"{text} generator {GENERATOR}".encode()).hexdigest()[:8]


def build_postgres(pg: dict, layout: Layout, cache: bool, rebuild: bool) -> tuple[str, bool]:
    """The database holding ``layout`` (from the cache, or built): (name, temporary)."""
    from jackfruit.adapters.catalog.postgres_catalog import PostgresCatalog, upgrade_schema

    name = f"{PG_PREFIX}{layout.tiles}_{_schema_key('postgres')}"
    if not cache:
        name = f"jackfruit_bench_tmp_{os.getpid()}_{layout.tiles}"
    building = name + "_building"
    with _pg_admin(pg) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and cache and not rebuild:
            return name, False
        admin.execute(f'DROP DATABASE IF EXISTS "{building}"')
        admin.execute(f'CREATE DATABASE "{building}"')
    t0 = time.monotonic()
    upgrade_schema(dbname=building, **pg)
    with PostgresCatalog(dbname=building, **pg) as catalog:
        populate(catalog, layout, f"postgres {layout.label()}")
    import psycopg

    with psycopg.connect(dbname=building, autocommit=True, **pg) as conn:
        conn.execute("VACUUM ANALYZE")  # what autovacuum does to a steady catalog
    with _pg_admin(pg) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
    print(f"  postgres {layout.label()}: built {layout.tiles:,} tiles in {time.monotonic() - t0:.0f} s",
          file=sys.stderr)
    return name, not cache


def build_sqlite(cache_dir: Path, scratch: Path, layout: Layout, cache: bool, rebuild: bool) -> Path:
    from jackfruit.adapters.catalog.sqlite_catalog import SqliteCatalog

    path = (cache_dir if cache else scratch) / f"catalog-{layout.tiles}-{_schema_key('sqlite')}.sqlite"
    if path.exists() and cache and not rebuild:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building")
    for p in (building, Path(f"{building}-wal"), Path(f"{building}-shm")):
        p.unlink(missing_ok=True)
    t0 = time.monotonic()
    with SqliteCatalog(str(building)) as catalog:
        populate(catalog, layout, f"sqlite {layout.label()}")
    os.replace(building, path)
    print(f"  sqlite {layout.label()}: built {layout.tiles:,} tiles in {time.monotonic() - t0:.0f} s",
          file=sys.stderr)
    return path


def drop_cache(cache_dir: Path) -> None:
    if cache_dir.exists():
        for p in cache_dir.glob("catalog-*.sqlite"):
            p.unlink()
            print(f"removed {p}")
    if os.environ.get("JACKFRUIT_TEST_PG_HOST"):
        with _pg_admin(_pg_settings()) as admin:
            for (name,) in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                         (PG_PREFIX + "%",)).fetchall():
                admin.execute(f'DROP DATABASE "{name}"')
                print(f"dropped database {name}")


# -- clients (each in its own process) -------------------------------------------------------------------------
def _pg_sql(q) -> tuple[str, list]:
    """The statement PostgresCatalog.find_tiles runs for this query (its SQL, its arguments)."""
    from jackfruit.adapters.catalog import postgres_catalog as pc

    box, window, variable, model, level = q
    m = pc.INDEX_MARGIN
    sql = (f"SELECT {pc._TILE_T} FROM tiles t WHERE t.extent && ST_MakeEnvelope(%s, %s, %s, %s, 4326) "
           "AND t.valid && tstzrange(%s, %s, '[)') "
           "AND %s <= t.east AND %s >= t.west AND %s <= t.north AND %s >= t.south "
           f"AND t.variable = %s AND t.model = %s AND t.level_m = %s::bigint "
           f"AND {pc._CURRENT.replace('%(known)s', '%s')} {pc._ORDER}")
    return sql, [box.west - m, box.south - m, box.east + m, box.north + m, window.start, window.end,
                 box.west, box.east, box.south, box.north, variable, model, level, pc._FOREVER, pc._FOREVER]


def _sqlite_sql(q, space_only: bool = False, no_index: bool = False) -> tuple[str, list]:
    """The statement SqliteCatalog.find_tiles runs (or the schema-2 one, or the exact predicates alone)."""
    from jackfruit.adapters.catalog import _rows
    from jackfruit.adapters.catalog import sqlite_catalog as sc

    box, window, variable, model, level = q
    m, hour = sc.RTREE_MARGIN, sc.HOUR_US
    start, end = _rows.to_micros(window.start), _rows.to_micros(window.end)
    # the exact predicates, the publish-time bound and the currency rule, as find_tiles has them
    exact = ("? <= t.east AND ? >= t.west AND ? <= t.north AND ? >= t.south AND t.valid_start < ? "
             "AND t.valid_end >= ? AND t.variable IN (?) AND t.model = ? AND t.level_m = ? AND t.published_at <= ? "
             f"AND {sc._CURRENT.replace(':known', '?')}")
    exact_args = [box.west, box.east, box.south, box.north, end, start, variable, model, level,
                  sc._MAX_US, sc._MAX_US, sc._MAX_US]
    if no_index:
        return f"SELECT {sc._TILE_T} FROM tiles t NOT INDEXED WHERE {exact} {sc._ORDER}", exact_args
    space = [box.east + m, box.west - m, box.north + m, box.south - m]
    sql = (f"SELECT {sc._TILE_T} FROM tiles_rtree r JOIN tiles t ON t.id = r.id "
           "WHERE r.west <= ? AND r.east >= ? AND r.south <= ? AND r.north >= ? ")
    if space_only:
        return sql + f"AND {exact} {sc._ORDER}", space + exact_args
    return (sql + f"AND r.first_hour <= ? AND r.last_hour >= ? AND {exact} {sc._ORDER}",
            space + [(end - 1) // hour, start // hour] + exact_args)


def _opener(variant: str, target):
    """A function answering one query with the keys of the tiles found, and a closer."""
    if variant == "postgres api":
        from jackfruit.adapters.catalog.postgres_catalog import PostgresCatalog

        c = PostgresCatalog(**target)
        return (lambda q: [t.key for t in c.find_tiles(q[0], q[1], [q[2]], model=q[3], level_m=q[4])]), c.close
    if variant.startswith("postgres"):
        import psycopg

        kwargs = dict(target)
        conn = psycopg.connect(autocommit=True, prepare_threshold=0, options="-c TimeZone=UTC", **kwargs)
        if variant == "postgres no index":
            for setting in ("enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan"):
                conn.execute(f"SET {setting} = off")

        def pg(q):
            sql, args = _pg_sql(q)
            return [r[0] for r in conn.execute(sql, args).fetchall()]

        return pg, conn.close
    if variant == "sqlite api":
        from jackfruit.adapters.catalog.sqlite_catalog import SqliteCatalog

        c = SqliteCatalog(target)
        return (lambda q: [t.key for t in c.find_tiles(q[0], q[1], [q[2]], model=q[3], level_m=q[4])]), c.close
    if variant == "sqlite space only":
        # the schema-2 find_tiles, as it was: through the catalog's transaction, rows made into Tiles
        from jackfruit.adapters.catalog import _rows
        from jackfruit.adapters.catalog.sqlite_catalog import SqliteCatalog

        c = SqliteCatalog(target)

        def old(q):
            sql, args = _sqlite_sql(q, space_only=True)
            with c._tx() as db:
                rows = db.execute(sql, args).fetchall()
            return [_rows.tile_of(r).key for r in rows]

        return old, c.close
    import sqlite3

    db = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
    no_index = variant == "sqlite no index"

    def lite(q):
        sql, args = _sqlite_sql(q, no_index=no_index)
        return [r[0] for r in db.execute(sql, args).fetchall()]

    return lite, db.close


def _client(conn, barrier) -> None:
    """A client process: measures what the parent sends, until it sends None."""
    while True:
        job = conn.recv()
        if job is None:
            return
        variant, target, warm, queries = job
        try:
            answer, close = _opener(variant, target)
            try:
                for q in warm:
                    answer(q)
                barrier.wait(timeout=600)
                latencies, digests = [], []
                for q in queries:
                    t = time.perf_counter()
                    keys = answer(q)
                    latencies.append(time.perf_counter() - t)
                    digests.append(hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16] + f":{len(keys)}")
                done = time.perf_counter()
            finally:
                close()
            conn.send(("ok", latencies, digests, done))
        except BaseException as err:  # noqa: BLE001 - reported by the parent
            barrier.abort()
            conn.send(("error", f"{type(err).__name__}: {err}", None, None))


class Clients:
    """Two client processes, started once, released together for each measurement."""

    def __init__(self, n: int = 2) -> None:
        ctx = mp.get_context("spawn")
        self.barrier = ctx.Barrier(n + 1)
        self.pipes, self.procs = [], []
        for _ in range(n):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_client, args=(child, self.barrier), daemon=True)
            p.start()
            self.pipes.append(parent)
            self.procs.append(p)

    def measure(self, variant: str, target, queries: list, warm: list) -> dict:
        n = len(self.pipes)
        for i, pipe in enumerate(self.pipes):
            pipe.send((variant, target, warm[i::n], queries[i::n]))
        try:
            self.barrier.wait(timeout=900)
        except threading.BrokenBarrierError:
            pass  # a client failed: its answer says why
        t0 = time.perf_counter()
        answers = [pipe.recv() for pipe in self.pipes]
        self.barrier.reset()
        for status, *rest in answers:
            if status != "ok":
                raise SystemExit(f"{variant}: {rest[0]}")
        wall = max(a[3] for a in answers) - t0
        latencies = sorted(x for a in answers for x in a[1])
        digests = [None] * len(queries)
        for i, a in enumerate(answers):
            digests[i::n] = a[2]
        return {"p50": _pct(latencies, 50), "p99": _pct(latencies, 99), "qps": len(queries) / wall,
                "n": len(queries), "digests": digests,
                "results": sum(int(d.split(":")[1]) for d in digests) / len(digests)}

    def close(self) -> None:
        for pipe in self.pipes:
            pipe.send(None)
        for p in self.procs:
            p.join(10)


def _median(rounds: list[dict]) -> dict:
    """Median over rounds of each figure, with the range of the p50s."""
    def med(key):
        return statistics.median(r[key] for r in rounds)

    return {"p50": med("p50"), "p99": med("p99"), "qps": med("qps"), "n": rounds[0]["n"],
            "results": med("results"), "rounds": len(rounds),
            "p50_range": (min(r["p50"] for r in rounds), max(r["p50"] for r in rounds))}


def _pct(sorted_values: list, p: float) -> float:
    """Nearest-rank percentile, in ms."""
    k = max(0, min(len(sorted_values) - 1, -(-len(sorted_values) * p // 100) - 1))
    return sorted_values[int(k)] * 1000


def _prewarm_postgres(target: dict) -> str:
    """Load the tiles table and the indexes find_tiles reads (the search index, the two probes of the currency
    rule) into shared buffers, as much as they hold (pg_prewarm)."""
    import psycopg

    with psycopg.connect(autocommit=True, **target) as conn:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        except psycopg.Error as err:
            return f"no pg_prewarm ({type(err).__name__})"
        conn.execute("SELECT pg_prewarm('tiles'), pg_prewarm('tiles_search'), pg_prewarm('tiles_by_slot'), "
                     "pg_prewarm('tiles_by_run_product')")
        return f"shared_buffers {conn.execute('SHOW shared_buffers').fetchone()[0]}"


def _warm_file(path: Path) -> None:
    """Read the SQLite file once, so every variant starts from the page cache (a catalog in use)."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


# -- main ------------------------------------------------------------------------------------------------------
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--queries", type=int, default=2000, help="distinct queries per variant (default 2000)")
    p.add_argument("--rounds", type=int, default=3,
                   help="rounds of the fast variants, each on its own distinct queries; the table gives medians "
                        "(default 3)")
    p.add_argument("--slow-queries", type=int, default=200,
                   help="queries for the variants without the time or any index, first round only (default 200)")
    p.add_argument("--warmup", type=int, default=200, help="other queries each client runs first (default 200)")
    p.add_argument("--check", type=int, default=20, help="queries checked against the generator (default 20)")
    p.add_argument("--backends", default="postgres,sqlite", help="postgres,sqlite (default both)")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset of the variants")
    p.add_argument("--cache-dir", type=Path,
                   default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "jackfruit-bench")
    p.add_argument("--no-cache", action="store_true", help="build every catalog afresh and remove it after")
    p.add_argument("--rebuild", action="store_true", help="rebuild cached catalogs")
    p.add_argument("--drop-cache", action="store_true", help="remove the cached catalogs and exit")
    p.add_argument("--seed", type=int, default=20261129)
    a = p.parse_args()
    if a.drop_cache:
        drop_cache(a.cache_dir)
        return
    import jackfruit.adapters._load_order  # noqa: F401 - libpq before anything else native

    backends = set(a.backends.split(","))
    variants = [v for v in a.variants.split(",") if v.split()[0] in backends]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants: {', '.join(sorted(unknown))}")
    pg = _pg_settings() if "postgres" in backends else None
    load = os.getloadavg()
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
          f"{os.cpu_count()} cores; {a.rounds} rounds of {a.queries} distinct queries per variant "
          f"({a.slow_queries} in round 1 only for {', '.join(sorted(SLOW))}), 2 client processes, warm-up "
          f"{a.warmup} other queries per client")
    rows, failures, notes = [], [], set()
    temporary_dbs: list[str] = []
    scratch = Path(tempfile.mkdtemp(prefix="bench-catalog-"))
    clients = Clients(2)
    try:
        for size in a.sizes:
            layout = Layout.of(size)
            cache = not a.no_cache and layout.requested >= CACHE_FROM
            queries = make_queries(layout, a.rounds * a.queries + a.warmup * 2, a.seed)
            warm, queries = queries[:a.warmup * 2], queries[a.warmup * 2:]
            targets = {}
            if pg is not None:
                name, temp = build_postgres(pg, layout, cache, a.rebuild)
                if temp:
                    temporary_dbs.append(name)
                targets["postgres"] = {**pg, "dbname": name}
                notes.add(f"postgres: {_prewarm_postgres(targets['postgres'])}, prewarmed")
            if "sqlite" in backends:
                path = build_sqlite(a.cache_dir, scratch, layout, cache, a.rebuild)
                _warm_file(path)
                targets["sqlite"] = str(path)
            measured: dict[str, list] = {v: [] for v in variants}
            references: list = [None] * a.rounds
            # the fast variants round after round, then the slow ones once (on round 1's first queries): their
            # parallel scans would otherwise load the machine during the next round. The fast ones take turns
            # going first: the first to run a round's queries pulls their pages into the caches for the others
            fast = [v for v in variants if v not in SLOW]
            plan = [(rnd, v) for rnd in range(a.rounds) for v in fast[rnd % len(fast):] + fast[:rnd % len(fast)]]
            plan += [(0, v) for v in variants if v in SLOW]
            for rnd, variant in plan:
                batch = queries[rnd * a.queries:(rnd + 1) * a.queries]
                slow = variant in SLOW
                r = clients.measure(variant, targets[variant.split()[0]], batch[:a.slow_queries] if slow else batch,
                                    warm[:20] if slow else warm)
                # every variant answers each query as the first one of its round did
                mismatch = [i for i, (x, y) in enumerate(zip(r["digests"], references[rnd] or [])) if x != y]
                if mismatch:
                    failures.append(f"{layout.label()} {variant}: {len(mismatch)} queries answer differently "
                                    f"(first: query {mismatch[0]} of round {rnd + 1})")
                if references[rnd] is None or len(r["digests"]) > len(references[rnd]):
                    references[rnd] = r["digests"]
                measured[variant].append(r)
                print(f"  {layout.label():>5s} round {rnd + 1} {variant:18s} p50 {r['p50']:8.3f} ms  p99 "
                      f"{r['p99']:8.3f} ms  {r['qps']:8.0f} q/s  ({r['n']} queries, {r['results']:.1f} tiles "
                      f"each; load {os.getloadavg()[0]:.2f})", file=sys.stderr)
            rows += [(layout, v, _median(rs)) for v, rs in measured.items()]
            failures += _check(layout, queries[:a.check], targets, variants)
    finally:
        clients.close()
        if pg is not None:
            with _pg_admin(pg) as admin:
                for name in temporary_dbs:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        shutil.rmtree(scratch, ignore_errors=True)
    for note in sorted(notes):
        print(note)
    _report(rows, failures)


def _check(layout: Layout, sample: list, targets: dict, variants: list) -> list[str]:
    """Whole Tile objects from each API against the generator's own answer."""
    out = []
    for variant in ("postgres api", "sqlite api"):
        if variant not in variants:
            continue
        if variant == "postgres api":
            from jackfruit.adapters.catalog.postgres_catalog import PostgresCatalog

            catalog = PostgresCatalog(**targets["postgres"])
        else:
            from jackfruit.adapters.catalog.sqlite_catalog import SqliteCatalog

            catalog = SqliteCatalog(targets["sqlite"])
        try:
            for i, q in enumerate(sample):
                if catalog.find_tiles(q[0], q[1], [q[2]], model=q[3], level_m=q[4]) != expected_tiles(layout, q):
                    out.append(f"{layout.label()} {variant}: query {i} differs from the generator's answer")
        finally:
            catalog.close()
    return out


def _report(rows: list, failures: list) -> None:
    print()
    print("| tiles | variant | queries × rounds | p50 ms | p99 ms | q/s (2 clients) | p50 range ms | "
          "tiles per answer |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for layout, variant, r in rows:
        low, high = r["p50_range"]
        spread = f"{low:.3f}–{high:.3f}" if r["rounds"] > 1 else ""
        print(f"| {layout.tiles:,} | {variant} | {r['n']} × {r['rounds']} | {r['p50']:.3f} | {r['p99']:.3f} | "
              f"{r['qps']:,.0f} | {spread} | {r['results']:.1f} |")
    by = {(layout.requested, variant): r for layout, variant, r in rows}
    sizes = sorted({layout.requested for layout, _, _ in rows})
    goals = []
    for backend, p50_goal, p99_goal in (("postgres", 1.0, 2.0), ("sqlite", 2.0, None)):
        api = f"{backend} api"
        at = [s for s in sizes if (s, api) in by]
        if not at:
            continue
        big = max(at)
        r = by[(big, api)]
        goals.append((f"{api} p50 ≤ {p50_goal:g} ms at {big:,}", r["p50"] <= p50_goal, f"{r['p50']:.3f} ms"))
        if p99_goal:
            goals.append((f"{api} p99 ≤ {p99_goal:g} ms at {big:,}", r["p99"] <= p99_goal, f"{r['p99']:.3f} ms"))
        if backend == "postgres" and (big, "postgres bare") in by:
            gap = r["p50"] - by[(big, "postgres bare")]["p50"]
            goals.append((f"{api} within 0.3 ms of bare at p50 ({big:,})", gap <= 0.3, f"+{gap:.3f} ms"))
        small = [s for s in at if s >= 10_000]
        if len(small) > 1:
            ratio = r["p50"] / by[(min(small), api)]["p50"]
            goals.append((f"{api} p50 {min(small):,} → {big:,} within 2×", ratio <= 2.0, f"×{ratio:.2f}"))
    if goals:
        print()
        for name, ok, value in goals:
            print(f"goal {'met' if ok else 'NOT met'}: {name} ({value})")
    for f in failures:
        print(f"FAILED: {f}")
    if failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
