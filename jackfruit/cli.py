"""The ``jackfruit`` command: demo, ingest, transform, tiles, read, runs, lineage, datasets.

Exit codes: 0 ok; 1 unexpected error; 2 invalid input or usage; 3 not found (incl. a search that
finds nothing); 4 conflict; 5 integrity; 6 backend unavailable; 7 upstream refused.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any, Sequence

from .domain.errors import InvalidInput, JackfruitError
from .domain.geo import BBox, TimeRange, parse_time


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

    def log(self, line: str) -> None:
        if self.enabled:
            from .demo import format_log

            print(f"{self.label}: {format_log(line)}", file=sys.stderr, flush=True)


def _app(args: argparse.Namespace, **overrides: Any) -> Any:
    from .app import Jackfruit
    from .settings import load_settings

    return Jackfruit.from_settings(load_settings(getattr(args, "data_dir", None)), **overrides)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as err:
        raise InvalidInput(f"not a date (YYYY-MM-DD): {text!r}") from err


def _query(args: argparse.Namespace) -> tuple[BBox, TimeRange]:
    return BBox.parse(args.bbox), TimeRange(parse_time(args.start), parse_time(args.end))


def cmd_ingest(args: argparse.Namespace) -> int:
    overrides = json.loads(args.request) if args.request else None
    if overrides is not None and not isinstance(overrides, dict):
        raise InvalidInput("--request must be a JSON object of request fields")
    progress = Progress("ingest", not args.json or sys.stderr.isatty())
    app = _app(args)
    if hasattr(app.runner, "on_log"):
        app.runner.on_log = progress.log
    run = app.ingest(args.dataset, _day(args.date), overrides)
    emit(args, run, f"run {run.run_id} {run.status.value}\nraw key  {run.raw_key}\nsize     {run.raw_size} bytes\n"
                    f"sha256   {run.raw_sha256}")
    return 0


def cmd_transform(args: argparse.Namespace) -> int:
    app = _app(args)
    tiles = app.transform(args.run_id, progress=Progress("transform", not args.json or sys.stderr.isatty()))
    emit(args, {"run_id": args.run_id, "tiles": tiles},
         f"run {args.run_id}: {len(tiles)} tiles, {sum(t.size for t in tiles)} bytes published")
    return 0


def cmd_tiles(args: argparse.Namespace) -> int:
    bbox, span = _query(args)
    tiles = _app(args).find_tiles(bbox, span, args.variable or None, model=args.model, level_m=args.level,
                                  dataset=args.dataset)
    lines = [f"{t.variable:28s} {t.model:9s} {t.level_m:5d}m {t.reference_time:%Y-%m-%dT%HZ} {t.cell_id} {t.key}"
             for t in tiles]
    emit(args, tiles, "\n".join(lines + [f"{len(tiles)} tile(s)"]))
    return 0 if tiles else 3


def describe(ds: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"dims": {k: int(v) for k, v in ds.sizes.items()}, "variables": {}}
    for name, var in ds.data_vars.items():
        values = var.values
        finite = values[values == values]
        out["variables"][name] = {"units": var.attrs.get("units"), "count": int(finite.size),
                                  "min": float(finite.min()) if finite.size else None,
                                  "max": float(finite.max()) if finite.size else None,
                                  "mean": float(finite.mean()) if finite.size else None}
    return out


def cmd_read(args: argparse.Namespace) -> int:
    bbox, span = _query(args)
    ds = _app(args).read(bbox, span, args.variable or None, model=args.model, level_m=args.level,
                         dataset=args.dataset)
    if args.out:
        ds.to_zarr(args.out, mode="w-", zarr_format=3, consolidated=False)
    summary = describe(ds)
    emit(args, summary, json.dumps(summary, indent=2) + (f"\nwritten to {args.out}" if args.out else ""))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from .domain.model import RunStatus

    runs = _app(args).runs(args.dataset, RunStatus(args.status) if args.status else None, limit=args.limit)
    emit(args, runs, "\n".join(f"{r.run_id} {r.status.value:9s} {r.partition_date} {r.raw_key}" for r in runs))
    return 0


def cmd_lineage(args: argparse.Namespace) -> int:
    if not (args.raw_key or args.tile_key):
        raise InvalidInput("give --raw-key or --tile-key")
    edges = _app(args).lineage(raw_key=args.raw_key, tile_key=args.tile_key)
    lines = [f"{e.raw_key} -> {e.tile_key} ({e.transformation} v{e.transformation_version})" for e in edges]
    emit(args, edges, "\n".join(lines + [f"{len(edges)} edge(s)"]))
    return 0 if edges else 3


def cmd_datasets(args: argparse.Namespace) -> int:
    datasets = _app(args).catalog.list_datasets()
    emit(args, datasets, "\n".join(f"{d.source}/{d.name}: {d.description}" for d in datasets))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    summary = run_demo(data_dir=args.data_dir, day=_day(args.date), lead_hours=args.lead_hours,
                       progress=not args.json or sys.stderr.isatty())
    emit(args, summary, summary["text"])
    return 0 if summary["search"]["tiles"] else 3


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jackfruit", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    common.add_argument("--data-dir", help="embedded-defaults data directory (JACKFRUIT_DATA_DIR)")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", parents=[common], help="the whole path offline: stub ADS, ingest, transform, search")
    d.add_argument("--date", default="2025-03-12")
    d.add_argument("--lead-hours", type=int, default=24, help="lead times 0..N hourly (max 96)")
    d.set_defaults(func=cmd_demo)

    i = sub.add_parser("ingest", parents=[common], help="land one day of a dataset in the raw store")
    i.add_argument("--dataset", default="cams-europe-air-quality-forecasts")
    i.add_argument("--date", required=True)
    i.add_argument("--request", help="JSON object of request fields overriding the dataset template")
    i.set_defaults(func=cmd_ingest)

    t = sub.add_parser("transform", parents=[common], help="raw GRIB of a run -> curated Zarr tiles")
    t.add_argument("run_id")
    t.set_defaults(func=cmd_transform)

    for name, func, helptext in (("tiles", cmd_tiles, "find tiles by bbox, time range and variables"),
                                 ("read", cmd_read, "read matching tiles as one dataset")):
        q = sub.add_parser(name, parents=[common], help=helptext)
        q.add_argument("--bbox", required=True, help="west,south,east,north (degrees, -180..180)")
        q.add_argument("--start", required=True, help="ISO time (UTC if no zone), inclusive")
        q.add_argument("--end", required=True, help="ISO time (UTC if no zone), exclusive")
        q.add_argument("--variable", action="append", help="ADS variable name (repeatable)")
        q.add_argument("--dataset")
        q.add_argument("--model", default="ensemble" if name == "read" else None)
        q.add_argument("--level", type=int, default=0 if name == "read" else None, help="metres above ground")
        if name == "read":
            q.add_argument("--out", help="write the result as a local Zarr store")
        q.set_defaults(func=func)

    r = sub.add_parser("runs", parents=[common], help="ingestion run history, newest first")
    r.add_argument("--dataset")
    r.add_argument("--status", choices=["pending", "running", "succeeded", "failed"])
    r.add_argument("--limit", type=int, default=20)
    r.set_defaults(func=cmd_runs)

    g = sub.add_parser("lineage", parents=[common], help="which raw object made which tiles")
    g.add_argument("--raw-key")
    g.add_argument("--tile-key")
    g.set_defaults(func=cmd_lineage)

    s = sub.add_parser("datasets", parents=[common], help="registered datasets")
    s.set_defaults(func=cmd_datasets)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except JackfruitError as err:
        if getattr(args, "json", False):
            print(json.dumps({"error": {"kind": err.kind, "message": str(err)}}))
        print(f"jackfruit: {err.kind}: {err}", file=sys.stderr)
        return err.exit_code
    except json.JSONDecodeError as err:
        print(f"jackfruit: invalid_input: --request is not JSON: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jackfruit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
