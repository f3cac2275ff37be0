"""The ``jackfruit`` command: demo, ingest, land, transform, tiles, read, runs [reap], gc, verify, lineage, datasets,
storage init, db upgrade.

Exit codes: 0 ok; 1 unexpected error; 2 invalid input or usage (argparse's own errors too: one line); 3 not
found (incl. a search that finds nothing, and a missing data directory for a command that only reads); 4
conflict; 5 integrity (incl. a landed file quarantined because it does not match its request); 6 backend
unavailable (incl. any operating-system error); 7 upstream refused; 8 upstream results expired.
Set JACKFRUIT_DEBUG=1 to see the traceback of an unexpected error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import traceback
from dataclasses import asdict, is_dataclass
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Sequence

from .domain import levels
from .domain.model import check_partition_day
from .registry import default_registry
from .usecases.search import check_filters
from .domain.errors import Conflict, IntegrityError, InvalidInput, JackfruitError, NotFound
from .domain.geo import BBox, TimeRange, parse_time
from .domain.keys import RawKey, check_run_id
from .domain import runs as run_rules
from .domain.model import TRANSFORMATION_VERSION, IngestionRun, RunStatus

#: ``runs --limit`` bounds (an unbounded limit overflows the catalog's integers).
MAX_LIMIT = 10_000
DEFAULT_DATASET = "cams-europe-air-quality-forecasts"  # --dataset of ingest/land when none is given
#: Options whose value may start with '-' (``--bbox -10,40,20,60``, ``--bbox -inf,…``, ``--grace -1d``): argparse
#: would take such a value for an option, so ``normalize_argv`` joins it to the option (``--bbox=-10,40,20,60``)
#: and the option's own check refuses it with a reason.
NEGATIVE_VALUE_OPTIONS = frozenset({"--bbox", "--older-than", "--grace", "--level", "--limit", "--lead-hours"})
_NEGATIVE_VALUE = re.compile(r"-(?:\.?[0-9]|inf|nan)", re.IGNORECASE)


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def emit(args: argparse.Namespace, payload: Any, text: str) -> None:
    print(json.dumps(_jsonable(payload), sort_keys=True) if args.json else text)


class Progress:
    """Throttled one-line progress on stderr (quiet with --json unless stderr is a terminal)."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.label, self.enabled, self._last = label, enabled, 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.enabled and (done == total or now - self._last > 0.5):
            self._last = now
            print(f"{self.label}: {done}/{total} messages", file=sys.stderr, flush=True)

    def event(self, event: Any) -> None:
        """A runner event (phase, submitted job, ingester log line) as one stderr line."""
        if self.enabled:
            from .demo import describe_event

            print(f"{self.label}: {describe_event(event)}", file=sys.stderr, flush=True)

    def phase(self, name: str) -> None:
        if self.enabled:
            print(f"{self.label}: phase {name}", file=sys.stderr, flush=True)


# -- input checks (all before anything is opened)

class UsageError(InvalidInput):
    """argparse's own errors (unknown option, missing argument, invalid choice): one line, exit 2."""

    kind = "usage"


class _Parser(argparse.ArgumentParser):
    """argparse's parser whose errors are a ``UsageError`` (one line from ``main``), not a usage block and exit."""

    def error(self, message: str) -> Any:  # the documented hook for this (argparse.ArgumentParser.error)
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _integer(text: str) -> int:
    """argparse type of integer options: ASCII digits only (``int()`` also reads full-width and other scripts')."""
    if not re.fullmatch(r"[+-]?[0-9]+", text.strip()):
        raise argparse.ArgumentTypeError(f"must be an integer written in ASCII digits, got {text!r}")
    return int(text)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as err:
        raise InvalidInput(f"not a date (YYYY-MM-DD): {text!r}") from err


def _query(args: argparse.Namespace) -> tuple[BBox, TimeRange]:
    return BBox.parse(args.bbox), TimeRange(parse_time(args.start), parse_time(args.end))


def _limit(text: str) -> int:
    """argparse type of ``runs --limit``: an integer 1..MAX_LIMIT."""
    try:
        value = _integer(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be an integer 1..{MAX_LIMIT}, got {text!r}") from None
    if not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be 1..{MAX_LIMIT}, got {text}")
    return value


def parse_request(text: str | None, dataset: str) -> dict[str, Any] | None:
    """``--request``: a JSON object of request fields (checked field by field by the dataset's profile)."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidInput(f"--request is not JSON: {err}") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"--request must be a JSON object of request fields, got {json.dumps(value)[:80]}")
    return default_registry().get(dataset).check_request(value)


def _check_out(path: str) -> None:
    """``read --out`` must name a new path (checked before any read work)."""
    out = Path(path)
    if out.exists() or out.is_symlink():
        raise Conflict(f"--out {out} exists; choose another path or remove it")


def check_ingest(args: argparse.Namespace) -> None:
    """``ingest``: a day the upstream cannot have yet is refused before anything is opened or stored."""
    profile = default_registry().get(args.dataset)
    check_partition_day(args.dataset, _day(args.date), profile.available_until(datetime.now(timezone.utc)))


def check_gc(args: argparse.Namespace) -> None:
    """``gc``: ``--grace`` only means something with ``--superseded`` (default 7d there); checked as a duration."""
    if args.grace is not None and not args.superseded:
        raise InvalidInput(f"--grace {args.grace} applies only with --superseded (plain gc removes what ended "
                           "attempts left, with no grace period)")
    if args.superseded:
        args.grace = args.grace if args.grace is not None else "7d"
        _duration(args.grace)


def check_reap(args: argparse.Namespace) -> None:
    _duration(args.older_than)


# -- the application

def _require_data(settings: Any) -> None:
    """Commands that only work on what is stored never create an embedded data directory or catalog."""
    missing_dir = NotFound(f"no jackfruit data directory at {settings.data_dir} (nothing ingested yet?)")
    if settings.object_store == "filesystem" and not settings.data_dir.is_dir():
        raise missing_dir
    if settings.catalog == "sqlite" and not settings.sqlite_file.is_file():
        if settings.sqlite_file.parent == settings.data_dir and not settings.data_dir.is_dir():
            raise missing_dir
        raise NotFound(f"no jackfruit catalog at {settings.sqlite_file} (nothing ingested yet?)")


def _app(args: argparse.Namespace, **overrides: Any) -> Any:
    from .app import Jackfruit
    from .settings import load_settings

    settings = load_settings(getattr(args, "data_dir", None))
    if getattr(args, "needs_data", False):
        _require_data(settings)
    app = Jackfruit.from_settings(settings, **overrides)
    args.__dict__.setdefault("_apps", []).append(app)  # closed by main() when the command ends
    return app


def _check_dataset(app: Any, dataset: str | None) -> None:
    if dataset is not None:
        app.catalog.get_dataset(dataset)  # NotFound names it


# -- commands

def acceptance_text(run: Any) -> str:
    """The acceptance outcome of a run, as ``runs``, ``ingest`` and ``land`` print it ("" before the check)."""
    verdict = run.details.get("acceptance") if isinstance(run.details, dict) else None
    if not isinstance(verdict, dict):
        return ""
    if verdict.get("ok"):
        return f"accepted: {verdict.get('received')} of {verdict.get('expected')} requested messages"
    return f"not accepted: {verdict.get('reason')}"


def _landed(args: argparse.Namespace, run: Any) -> int:
    """Print a landed run; a quarantined one is exit 5 (the file does not match its request)."""
    origin = run.details.get("origin") or {}
    emit(args, run, "\n".join([f"run {run.run_id} {run.status.value}", f"raw key  {run.raw_key}",
                               f"size     {run.raw_size} bytes", f"sha256   {run.raw_sha256}",
                               *([f"origin   {origin.get('kind')} {origin.get('file')}"] if origin else []),
                               f"accept   {acceptance_text(run) or '-'}"]))
    if run.status is RunStatus.QUARANTINED:
        print(f"jackfruit: quarantined: {run.failure_reason}", file=sys.stderr)
        return IntegrityError.exit_code
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    day = _day(args.date)
    overrides = parse_request(args.request, args.dataset)
    progress = Progress("ingest", not args.json or sys.stderr.isatty())
    app = _app(args)
    run = app.ingest(args.dataset, day, overrides, supersede=args.supersede, on_event=progress.event,
                     fresh=args.fresh)
    return _landed(args, run)


def cmd_land(args: argparse.Namespace) -> int:
    day = _day(args.date)
    if not os.path.lexists(args.file):  # before any data directory is made
        raise NotFound(f"no file {args.file}")
    app = _app(args)
    return _landed(args, app.land(args.file, dataset=args.dataset, partition_date=day, supersede=args.supersede))


def cmd_transform(args: argparse.Namespace) -> int:
    check_run_id(args.run_id)
    app = _app(args)
    progress = Progress("transform", not args.json or sys.stderr.isatty())
    tiles = app.transform(args.run_id, progress=progress, on_phase=progress.phase, version=args.version)
    emit(args, {"run_id": args.run_id, "tiles": tiles},
         f"run {args.run_id}: {len(tiles)} tiles, {sum(t.size for t in tiles)} bytes published")
    return 0


def _level(text: str) -> tuple[str, int]:
    """``--level``: a typed level (domain/levels.py)."""
    try:
        return levels.parse(text)
    except InvalidInput as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _search_filters(args: argparse.Namespace) -> dict[str, Any]:
    level_type, level_m = args.level if args.level is not None else (None, None)
    check_filters(default_registry(), args.variable, args.dataset, args.model, level_m, level_type)
    filters: dict[str, Any] = dict(model=args.model, level_m=level_m, level_type=level_type, dataset=args.dataset)
    if args.as_of:
        filters["as_of"] = parse_time(args.as_of)
    if getattr(args, "history", False):
        filters["history"] = True
    return filters


def cmd_tiles(args: argparse.Namespace) -> int:
    bbox, span = _query(args)
    filters = _search_filters(args)
    app = _app(args)
    _check_dataset(app, args.dataset)
    tiles = app.find_tiles(bbox, span, args.variable or None, **filters)
    lines = [f"{t.variable:28s} {t.model:9s} {levels.segment(t.level_type, t.level_m):>7s} "
             f"{t.reference_time:%Y-%m-%dT%HZ} {t.cell_id} "
             f"v{t.transformation_version} {t.key}" + (f" (removed {t.removed_at:%Y-%m-%dT%H:%MZ})" if t.removed_at
                                                        else "") for t in tiles]
    emit(args, tiles, "\n".join(lines + [f"{len(tiles)} tile(s)"]))
    return 0 if tiles else 3


def describe(ds: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"dims": {k: int(v) for k, v in ds.sizes.items()}, "variables": {}}
    for name, var in ds.data_vars.items():
        if name == "present":
            out["present"] = {"true": int(var.values.sum()), "of": int(var.size)}
            continue
        values = var.values
        finite = values[values == values]
        out["variables"][name] = {"units": var.attrs.get("units"), "count": int(finite.size),
                                  "min": float(finite.min()) if finite.size else None,
                                  "max": float(finite.max()) if finite.size else None,
                                  "mean": float(finite.mean()) if finite.size else None}
    return out


def cmd_read(args: argparse.Namespace) -> int:
    bbox, span = _query(args)
    filters = _search_filters(args)
    if args.out:
        _check_out(args.out)
    app = _app(args)
    _check_dataset(app, args.dataset)
    ds = app.read(bbox, span, args.variable or None, **filters)
    if args.out:
        _check_out(args.out)  # again: it may have appeared during the read
        ds.to_zarr(args.out, mode="w-", zarr_format=3, consolidated=False)
    summary = describe(ds)
    emit(args, summary, json.dumps(summary, indent=2) + (f"\nwritten to {args.out}" if args.out else ""))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    app = _app(args)
    _check_dataset(app, args.dataset)
    runs = app.runs(args.dataset, RunStatus(args.status) if args.status else None, limit=args.limit)
    now = app.clock.now()

    def overdue(r: IngestionRun) -> str:
        late = run_rules.lease_overdue(r, now)
        return "" if late is None else (f"  ({late[0].value} lease expired {_ago(late[1])} ago: `runs reap` or gc "
                                        "ends it, the next command takes it over)")

    emit(args, runs, "\n".join(f"{r.run_id} {r.status.value:11s} {r.transform_status.value:12s} {r.partition_date} "
                                f"{r.raw_key}" + (f"  ({r.failure_reason})" if r.failure_reason else "")
                                + (f"  (transform: {r.transform_reason})" if r.transform_reason else "")
                                + overdue(r)
                                + (f"  [{acceptance_text(r)}]" if r.details.get("acceptance", {}).get("ok") else "")
                                for r in runs))
    return 0


def _ago(delta: timedelta) -> str:
    """A duration as people read it: 45s, 12m30s, 3h05m, 2d04h."""
    s = int(delta.total_seconds())
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def cmd_reap(args: argparse.Namespace) -> int:
    reaped = _app(args).reap(_duration(args.older_than))
    emit(args, reaped, "\n".join([f"{r.run_id} failed: {r.failure_reason}" for r in reaped]
                                 + [f"{len(reaped)} run(s) reaped"]))
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    if args.superseded:
        grace = _duration(args.grace)
        def on_tile(i: int, total: int, key: str) -> None:
            if not args.json or sys.stderr.isatty():
                print(f"gc: {'would remove' if args.dry_run else 'removing'} {i + 1}/{total} {key}",
                      file=sys.stderr, flush=True)

        rep = _app(args).gc_superseded(grace, dry_run=args.dry_run, on_tile=on_tile)
        verb = "would remove" if args.dry_run else "removed"
        emit(args, rep, f"gc --superseded: {verb} {rep.tiles} tile(s) superseded for at least {args.grace} "
                        f"({rep.objects} object(s), {rep.bytes} bytes); their records and lineage stay")
        return 0
    report = _app(args).gc(dry_run=args.dry_run)
    if args.dry_run:
        emit(args, report, "\n".join([f"would remove: {k}" for k in report.removed]
                                      + [f"gc --dry-run: {report.revoked} expired attempt(s) would end; "
                                         f"{report.scratch_dirs} scratch folder(s) and {report.tile_objects} object(s) "
                                         "of unpublished tiles would be removed (staged uploads and leftover "
                                         "containers are found only when removing); nothing changed"]))
        return 0
    emit(args, report, f"gc: {report.revoked} expired attempt(s) ended; removed {report.scratch_dirs} scratch "
                       f"folder(s), {report.partial_files} staged file(s), {report.tile_objects} object(s) of "
                       f"unpublished tiles, {report.containers} leftover ingester container(s)" + "".join(f"\nkept (unknown attempt): {k}" for k in report.kept_unknown))
    return 0


def cmd_repair(args: argparse.Namespace) -> int:
    check_run_id(args.run_id)
    report = _app(args).repair(args.run_id)
    emit(args, report, "\n".join([f"repaired {k}" for k in report.repaired]
                                  + [f"repair: run {report.run_id}: {report.checked} current tile(s) checked, "
                                     f"{len(report.repaired)} rewritten from raw and verified"]))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    if args.run:
        check_run_id(args.run)
    report = _app(args).verify(args.run)
    emit(args, report, "\n".join(report.problems + [f"run {r} has missing or damaged tiles: `jackfruit repair {r}` "
                                                   "rewrites them from raw" for r in report.damaged_runs]
                                  + [f"verify: {report.raw_objects} raw object(s), {report.tiles} "
                                     f"tile(s) checked, {len(report.problems)} problem(s)"]))
    return 5 if report.problems else 0


def _duration(text: str) -> timedelta:
    if re.fullmatch(r"\s*-.*", text or ""):
        raise InvalidInput(f"a duration must not be negative: {text!r}")
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(s|m|h|d)\s*", text or "")
    if not m:
        raise InvalidInput(f"not a duration (e.g. 90s, 15m, 2h, 1d): {text!r}")
    value = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    if value > 100 * 365 * 86400:
        raise InvalidInput(f"duration {text!r} is longer than a century")
    return timedelta(seconds=value)


def cmd_lineage(args: argparse.Namespace) -> int:
    if not (args.raw_key or args.tile_key):
        raise InvalidInput("give --raw-key or --tile-key")
    if args.raw_key:
        RawKey.parse(args.raw_key)
    app = _app(args)
    edges = app.lineage(raw_key=args.raw_key, tile_key=args.tile_key)
    lines = [f"{e.raw_key} -> {e.tile_key} ({e.transformation} v{e.transformation_version})" for e in edges]
    if args.tile_key and edges and not args.raw_key:
        sources = app.tile_sources(args.tile_key)
        spans = [f"  step {m['step']:>3}h: bytes [{m['offset']}, {m['offset'] + m['length']}) of {sources['raw_key']}"
                 for m in sources["messages"]] or ["  (this tile version does not record its source messages)"]
        emit(args, sources, "\n".join(lines + spans + [f"{len(sources['messages'])} source message(s)"]))
        return 0
    emit(args, edges, "\n".join(lines + [f"{len(edges)} edge(s)"]))
    return 0 if edges else 3


def cmd_datasets(args: argparse.Namespace) -> int:
    try:
        datasets = _app(args).datasets()
    except NotFound as err:  # no catalog yet: the registered profiles' definitions, which it will record
        print(f"jackfruit: {err}; listing the registered datasets", file=sys.stderr)
        datasets = [p.definition() for p in default_registry().all()]
    emit(args, datasets, "\n".join(
        f"{d.name} v{d.version} (upstream {d.source}/{d.upstream_dataset}"
        + (f", schedule {d.schedule}" if d.schedule else "") + f"): {d.description}" for d in datasets))
    return 0


def cmd_coverage(args: argparse.Namespace) -> int:
    days = _app(args).coverage(args.dataset, _day(args.date_from), _day(args.date_to))
    lines = [f"{'day':10s}  {'state':15s} {'fields':>7s}  run / what is missing"]
    for d in days:
        have = f"{len(d.present)}/{d.expected}"
        what = "; ".join([*d.partial, *(f"missing {m}" for m in d.missing[:4])]
                         + ([f"… {len(d.missing) - 4} more missing"] if len(d.missing) > 4 else []))
        if d.state not in ("complete", "partial"):
            what = d.detail
        lines.append(f"{d.day.isoformat():10s}  {d.state:15s} {have:>7s}  {d.run_id or '-'}  {what}".rstrip())
    counts = {s: sum(d.state == s for d in days) for s in dict.fromkeys(d.state for d in days)}
    lines.append(f"{len(days)} day(s): " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    emit(args, days, "\n".join(lines))
    return 0


def cmd_storage_init(args: argparse.Namespace) -> int:
    from .container import init_storage
    from .settings import load_settings

    lines = init_storage(load_settings(args.data_dir))
    emit(args, {"actions": lines}, "\n".join(lines))
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from .container import upgrade_catalog
    from .settings import load_settings

    report = upgrade_catalog(load_settings(args.data_dir))
    if report is None:
        emit(args, {"catalog": "memory", "applied": []}, "in-memory catalog: no schema to upgrade")
    else:
        emit(args, report, "\n".join(report.lines()))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    summary = run_demo(data_dir=args.data_dir, day=_day(args.date), lead_hours=args.lead_hours,
                       progress=not args.json or sys.stderr.isatty(), dataset=args.dataset)
    emit(args, summary, summary["text"])
    return 0 if summary["search"]["tiles"] else 3


# -- the parser

def _command(sub: Any, common: argparse.ArgumentParser, name: str, func: Callable[[argparse.Namespace], int],
             helptext: str, *, needs_data: bool,
             check: Callable[[argparse.Namespace], None] | None = None) -> argparse.ArgumentParser:
    """One subcommand. ``needs_data``: it only works on what is stored, so it never creates a data directory
    (a missing one is 'not found'); commands that store (ingest, demo) create it. ``check``: the options' own
    rules, run by ``main`` before the command opens anything."""
    p = sub.add_parser(name, parents=[common], help=helptext, description=helptext)
    p.set_defaults(func=func, needs_data=needs_data, check=check)
    return p


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="jackfruit", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    common.add_argument("--data-dir", help="embedded-defaults data directory (JACKFRUIT_DATA_DIR)")
    sub = p.add_subparsers(dest="command", required=True)

    d = _command(sub, common, "demo", cmd_demo, "the whole path offline: stub ADS, ingest, transform, search",
                 needs_data=False)
    d.add_argument("--date", default="2025-03-12")
    d.add_argument("--lead-hours", type=_integer, default=24, help="lead times 0..N hourly (max 96)")
    d.add_argument("--dataset", default=DEFAULT_DATASET, help="a registered dataset (`jackfruit datasets`)")

    i = _command(sub, common, "ingest", cmd_ingest, "land one day of a dataset in the raw store", needs_data=False,
                 check=check_ingest)
    i.add_argument("--dataset", default=DEFAULT_DATASET)
    i.add_argument("--date", required=True)
    i.add_argument("--request", help="JSON object of request fields overriding the dataset template")
    i.add_argument("--supersede", action="store_true",
                   help="land a new version even if this partition already succeeded (docs/runs.md)")
    i.add_argument("--fresh", action="store_true",
                   help="submit a new upstream job in a new run: do not resume the job of the partition's failed "
                        "run, nor search the upstream for a job an interrupted ingest made (docs/runs.md)")

    ld = _command(sub, common, "land", cmd_land, "land a GRIB file you already have as one partition (its "
                  "request read from the file; write-once; checked like an ingest)", needs_data=False)
    ld.add_argument("file", help="the GRIB file (never changed)")
    ld.add_argument("--dataset", default=DEFAULT_DATASET)
    ld.add_argument("--date", required=True, help="the partition day: must be the file's date")
    ld.add_argument("--supersede", action="store_true",
                    help="land a new version even if this partition already succeeded (docs/runs.md)")

    t = _command(sub, common, "transform", cmd_transform, "raw GRIB of a run -> curated Zarr tiles",
                 needs_data=True)
    t.add_argument("run_id")
    t.add_argument("--version", help=f"re-derive a run already transformed under an older version, under this "
                   f"one (it must be {TRANSFORMATION_VERSION}); the old tiles stay until gc --superseded")

    for name, func, helptext in (("tiles", cmd_tiles, "find tiles by bbox, time range and variables"),
                                 ("read", cmd_read, "read matching tiles as one dataset")):
        q = _command(sub, common, name, func, helptext, needs_data=True)
        q.add_argument("--bbox", required=True,
                       help="west,south,east,north (degrees, -180..180; --bbox -10,40,20,60 works as written)")
        q.add_argument("--start", required=True, help="ISO time (UTC if no zone), inclusive")
        q.add_argument("--end", required=True, help="ISO time (UTC if no zone), exclusive")
        q.add_argument("--variable", action="append", help="ADS variable name (repeatable)")
        q.add_argument("--dataset")
        q.add_argument("--model", help="default for read: the dataset's (e.g. ensemble)")
        q.add_argument("--level", type=_level, help="50 or 50m (height above ground), surface, 1000hPa, ml60 (model "
                                                    "level); default for read: the dataset's (e.g. 0 m)")
        q.add_argument("--as-of", help="ISO time: the tiles that were current then (what a consumer saw), "
                       "default now")
        if name == "tiles":
            q.add_argument("--history", action="store_true",
                           help="every tile published (by --as-of), also those a newer run or version replaced")
        if name == "read":
            q.add_argument("--out", help="write the result as a new local Zarr store (the path must not exist)")

    r = _command(sub, common, "runs", cmd_runs, "ingestion run history, newest first", needs_data=True)
    r.add_argument("--dataset")
    r.add_argument("--status", choices=[s.value for s in RunStatus])
    r.add_argument("--limit", type=_limit, default=20, help=f"at most this many runs (1..{MAX_LIMIT})")
    actions = r.add_subparsers(dest="runs_action")
    reap = _command(actions, common, "reap", cmd_reap,
                    "fail open runs whose claim expired more than --older-than ago (deletes nothing)",
                    needs_data=True, check=check_reap)
    reap.add_argument("--older-than", required=True, help="duration: 90s, 15m, 2h, 1d")

    st = sub.add_parser("storage", help="object storage administration", description="object storage administration")
    st_actions = st.add_subparsers(dest="storage_action", required=True)
    _command(st_actions, common, "init", cmd_storage_init, "create missing buckets, mark raw write-once, set the "
             "abort-incomplete-uploads rule (idempotent; prints what the server does not support)", needs_data=False)

    db = sub.add_parser("db", help="catalog database administration",
                        description="catalog database administration")
    db_actions = db.add_subparsers(dest="db_action", required=True)
    _command(db_actions, common, "upgrade", cmd_db_upgrade, "apply the catalog's pending schema migrations "
             "(idempotent; PostgreSQL needs it before first use and after upgrading jackfruit, the SQLite catalog "
             "also upgrades itself when opened; a database newer than this jackfruit is refused)", needs_data=False)

    g = _command(sub, common, "gc", cmd_gc, "remove what ended attempts left: scratch, staged uploads, objects of "
                 "unpublished tiles (never raw objects or published tiles)", needs_data=True, check=check_gc)
    g.add_argument("--superseded", action="store_true",
                   help="instead: remove the objects of tiles no longer current (a newer run or transformation "
                        "version replaced them) for at least --grace; records and lineage stay")
    g.add_argument("--grace", help="with --superseded: how long a superseded tile stays readable "
                                                 "(default 7d; e.g. 90s, 15m, 2h, 1d)")
    g.add_argument("--dry-run", action="store_true", help="list what would be removed (and, without --superseded, "
                                                          "the attempts that would end); change nothing")
    v = _command(sub, common, "verify", cmd_verify, "re-hash raw objects and tiles against the catalog "
                 "(exit 5 on any mismatch)", needs_data=True)
    v.add_argument("--run", help="only this run (default: every run)")
    rp = _command(sub, common, "repair", cmd_repair, "rewrite a run's missing or damaged current tiles from its raw "
                  "object, at their recorded keys, under the same version (each must hash as recorded)",
                  needs_data=True)
    rp.add_argument("run_id")

    g = _command(sub, common, "lineage", cmd_lineage, "which raw object made which tiles", needs_data=True)
    g.add_argument("--raw-key")
    g.add_argument("--tile-key")

    _command(sub, common, "datasets", cmd_datasets, "registered datasets", needs_data=True)
    cov = _command(sub, common, "coverage", cmd_coverage, "per day: which expected fields are present, "
                   "partial or missing, and why (no run, failed, refused, ...)", needs_data=True)
    cov.add_argument("dataset")
    cov.add_argument("--from", dest="date_from", required=True, help="first day, YYYY-MM-DD")
    cov.add_argument("--to", dest="date_to", required=True, help="last day (inclusive), YYYY-MM-DD")
    return p


def normalize_argv(argv: Sequence[str]) -> list[str]:
    """Join ``--bbox -10,40,20,60`` into ``--bbox=-10,40,20,60`` (argparse reads a value starting with '-' as
    an option); a following real option (``--bbox --start ...``) is left alone, and so is everything after ``--``."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            out.extend(argv[i:])
            break
        if token in NEGATIVE_VALUE_OPTIONS and i + 1 < len(argv) and _NEGATIVE_VALUE.match(argv[i + 1]):
            out.append(f"{token}={argv[i + 1]}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def _fail(args: argparse.Namespace, kind: str, message: str, code: int, problems: tuple[str, ...] = ()) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"error": {"kind": kind, "message": message, **({"problems": list(problems)}
                                                                            if problems else {})}}))
    print(f"jackfruit: {kind}: {message}", file=sys.stderr)
    return code


#: loggers of libraries whose records are debug detail for the command line (the one-line error says what
#: matters): psycopg_pool's warning per failed connection attempt while the database is gone
DEBUG_ONLY_LOGGERS = ("psycopg.pool",)


class _AsDebug(logging.Filter):
    """Turns a record into a debug record, shown only with JACKFRUIT_DEBUG=1."""

    def __init__(self, show: bool) -> None:
        super().__init__()
        self.show = show

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return self.show


def _library_logs_at_debug(show: bool) -> None:
    """The command line's choice, made here and never by the library (a host such as Dagster keeps its own
    logging: README "Logging"): the records of ``DEBUG_ONLY_LOGGERS`` are debug records, on stderr only with
    JACKFRUIT_DEBUG=1."""
    for name in DEBUG_ONLY_LOGGERS:
        log = logging.getLogger(name)
        for old in [f for f in log.filters if isinstance(f, _AsDebug)]:
            log.removeFilter(old)
        log.addFilter(_AsDebug(show))
        if show and not any(getattr(h, "_jackfruit", False) for h in log.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler._jackfruit = True  # type: ignore[attr-defined]
            handler.setFormatter(logging.Formatter("jackfruit: debug: %(name)s: %(message)s"))
            log.addHandler(handler)
            log.setLevel(logging.DEBUG)


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM unwinds like Ctrl-C, so claims are released and the ingester is stopped and reaped."""
    _TERMINATED.append(signum)
    raise KeyboardInterrupt


_TERMINATED: list[int] = []


def main(argv: Sequence[str] | None = None) -> int:
    from .settings import debug_enabled

    argv = list(sys.argv[1:] if argv is None else argv)
    _library_logs_at_debug(debug_enabled())
    try:
        args = parser().parse_args(normalize_argv(argv))
    except UsageError as err:
        return _fail(argparse.Namespace(json="--json" in argv), err.kind, str(err), err.exit_code)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        try:
            if getattr(args, "check", None) is not None:
                args.check(args)
            return args.func(args)
        finally:
            for app in args.__dict__.pop("_apps", []):
                app.close()  # the catalog's connections (a PostgreSQL pool) end with the command
    except JackfruitError as err:
        return _fail(args, err.kind, str(err), err.exit_code, getattr(err, "problems", ()))
    except KeyboardInterrupt:
        print("jackfruit: terminated" if _TERMINATED else "jackfruit: interrupted", file=sys.stderr)
        return 143 if _TERMINATED else 130
    except BrokenPipeError:  # stdout closed early (`jackfruit runs | head -1`): not an error of ours
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so the interpreter's final flush stays quiet
        except OSError:
            pass
        return 141
    except OSError as err:  # a disk, permission or network failure below an adapter
        if debug_enabled():
            traceback.print_exc()
        return _fail(args, "unavailable", str(err) or type(err).__name__, 6)
    except Exception as err:  # noqa: BLE001 - the last line: a message, not a traceback
        if debug_enabled():
            traceback.print_exc()
        return _fail(args, "unexpected", f"{type(err).__name__}: {err} (this is a bug: please report it; "
                     "JACKFRUIT_DEBUG=1 shows the traceback)", 1)


if __name__ == "__main__":
    sys.exit(main())
