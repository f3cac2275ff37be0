"""``jackfruit demo``: the whole path offline on the embedded defaults, against the local ADS stub."""

from __future__ import annotations

import json
import sys
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any

from .app import Jackfruit
from .container import init_storage
from .domain.errors import InvalidInput
from .domain.geo import BBox, TimeRange
from .ports import RunnerEvent, Secret, Upstream
from .settings import load_settings
from .registry import default_registry
from .synthetic.ads_stub import PRODUCT_COMMAND, AdsStub

SEARCH_BBOX = BBox(2.0, 48.0, 3.0, 49.5)  # around Paris
DEMO_KEY = "jackfruit-demo-key"


def format_log(line: str) -> str:
    """One structured (JSON) log line of the Go ingester as ``msg key=value ...`` for humans."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return line
    if not isinstance(record, dict):
        return line
    keep = {k: v for k, v in record.items() if k not in ("time", "level", "msg", "key", "dataset", "url")}
    return " ".join([str(record.get("msg", ""))] + [f"{k}={v}" for k, v in keep.items()])


def search_window(day: date, lead_hours: int) -> TimeRange:
    """Where the demo searches: from the forecast's reference time (00:00) to just after its last lead time
    (at most 6 h), so the valid times ingested with any ``--lead-hours`` 0..96 fall inside."""
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    return TimeRange(start, start + timedelta(hours=min(6, lead_hours) + 1))


def describe_event(event: RunnerEvent) -> str:
    """One runner event for humans: ``phase poll``, ``submitted job 1234``, or a log line."""
    if event.kind == "phase":
        return f"phase {event.phase}"
    if event.kind == "submitted":
        return f"submitted job {event.upstream_job_id}"
    return format_log(event.message or "")


def _say(enabled: bool, text: str) -> None:
    if enabled:
        print(f"demo: {text}", file=sys.stderr, flush=True)


def demo_overrides(template: Any, lead_hours: int) -> dict[str, Any]:
    """The demo's request: the dataset's template, its lead times cut to ``lead_hours`` when it has several."""
    leads = template.get("leadtime_hour")
    if isinstance(leads, list) and len(leads) > 1:
        return {"leadtime_hour": [v for v in leads if int(v) <= lead_hours]}
    return {}


def demo_selection(tiles: Any, model: str, level: tuple[str, int]) -> dict[str, Any]:
    """What the demo searches for: two variables of the tiles it made, at the dataset's default model and level
    when they have it (else at the first tile's), so every dataset's demo finds its own tiles."""
    pool = [t for t in tiles if t.model == model and (t.level_type, t.level_m) == tuple(level)] or list(tiles)
    first = pool[0]
    chosen = [t for t in pool if (t.model, t.level_type, t.level_m) == (first.model, first.level_type, first.level_m)]
    return {"variables": list(dict.fromkeys(t.variable for t in chosen))[:2], "model": first.model,
            "level_type": first.level_type, "level_m": first.level_m}


def run_demo(*, data_dir: str | None, day: date, lead_hours: int = 24, progress: bool = True,
             dataset: str = "cams-europe-air-quality-forecasts") -> dict[str, Any]:
    if not 0 <= lead_hours <= 96:
        raise InvalidInput(f"--lead-hours must be 0..96, got {lead_hours}")
    profile = default_registry().get(dataset)  # NotFound names the registered datasets
    definition = profile.definition()
    settings = load_settings(data_dir)
    timings: dict[str, float] = {}
    for line in init_storage(settings):  # buckets exist before anything is written (idempotent)
        _say(progress, f"storage: {line}")
    app = None
    try:
        # the stub serves the dataset's own synthetic product (its profile, through jackfruit's product command)
        with AdsStub(api_key=DEMO_KEY, datasets=(profile.upstream_dataset,), product_command=PRODUCT_COMMAND) as stub:
            _say(progress, f"ADS stub listening at {stub.url}")
            app = Jackfruit.from_settings(settings, upstream=Upstream(stub.url, Secret(DEMO_KEY)))
            def on_event(event: RunnerEvent) -> None:
                if progress:
                    _say(True, f"ingest: {describe_event(event)}")

            t0 = time.perf_counter()
            # a re-run of the demo lands a new version of the same partition (docs/runs.md: supersede)
            run = app.ingest(dataset, day, demo_overrides(definition.request_template, lead_hours),
                             supersede=True, on_event=on_event)
            timings["ingest_s"] = time.perf_counter() - t0
            _say(progress, f"landed {run.raw_key} ({run.raw_size} bytes)")
            t0 = time.perf_counter()
            tiles = app.transform(run.run_id, progress=lambda d, n: _say(progress and (d == n or d % 20 == 0),
                                                                         f"transform {d}/{n} messages"))
            timings["transform_s"] = time.perf_counter() - t0
        span = search_window(day, lead_hours)
        selection = demo_selection(tiles, profile.default_model, profile.default_level)
        variables = selection.pop("variables")
        t0 = time.perf_counter()
        found = app.find_tiles(SEARCH_BBOX, span, variables, dataset=dataset, **selection)
        ds = app.read(SEARCH_BBOX, span, variables, dataset=dataset, **selection) if found else None
        timings["search_s"] = time.perf_counter() - t0
        means = {name: float(ds[name].mean()) for name in variables} if ds is not None else {}
    finally:
        if app is not None:
            app.close()  # the catalog's connections
    text = "\n".join([
        "jackfruit demo: OK" if found else "jackfruit demo: search found nothing",
        f"run id      {run.run_id}",
        f"raw key     {run.raw_key}",
        f"raw sha256  {run.raw_sha256}",
        f"dataset     {dataset} (upstream {profile.upstream_dataset})",
        f"raw size    {run.raw_size} bytes",
        f"tiles       {len(tiles)} published, {sum(t.size for t in tiles)} bytes",
        f"search      {', '.join(variables)} in {SEARCH_BBOX.as_tuple()} during [{span.start:%Y-%m-%dT%H:%MZ}, "
        f"{span.end:%Y-%m-%dT%H:%MZ}) -> {len(found)} tile(s)",
        *(f"            mean {name} = {value:.4g} {ds[name].attrs.get('units', '')} over "
          f"{dict(ds[name].sizes)}" for name, value in means.items()),
        f"timings     ingest {timings['ingest_s']:.1f} s, transform {timings['transform_s']:.1f} s, "
        f"search+read {timings['search_s']:.2f} s",
        f"data dir    {settings.data_dir.resolve()}",
    ])
    return {"run": run, "tiles": len(tiles), "search": {"tiles": [t.key for t in found], "means": means},
            "timings": timings, "text": text}
