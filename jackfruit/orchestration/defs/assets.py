"""Per dataset: the raw asset (the ingest use case, one daily partition) and the curated tiles (the transform)."""

# no `from __future__ import annotations`: Dagster reads the parameters' types (config, resources)
import json
from datetime import datetime
from typing import Any, Callable, Sequence

import dagster as dg

from jackfruit.app import Jackfruit
from jackfruit.domain.errors import JackfruitError
from jackfruit.domain.model import TRANSFORMATION_VERSION, IngestionRun, RunStatus, Tile, TransformStatus, partition_key
from jackfruit.ports.runner import RunnerEvent

from .partitions import RUN_ID_TAG, DatasetPlan, day_of
from .resources import JackfruitResource


class RawConfig(dg.Config):
    """``supersede``: land the day again even though it already has a succeeded run (docs/runs.md)."""

    supersede: bool = False


def event_text(event: RunnerEvent) -> str:
    """One ingester event for the event log: a phase, the upstream job, or its (redacted) log line."""
    if event.kind == "phase":
        return f"ingest phase {event.phase}"
    if event.kind == "submitted":
        return f"ingest submitted upstream job {event.upstream_job_id}" + (
            f" (replaces {event.replaces})" if event.replaces else "")
    try:
        record = json.loads(event.message or "")
    except json.JSONDecodeError:
        return f"ingester: {event.message}"
    if not isinstance(record, dict):
        return f"ingester: {event.message}"
    rest = " ".join(f"{k}={v}" for k, v in record.items() if k not in ("time", "level", "msg", "key", "dataset", "url"))
    return f"ingester: {record.get('msg', '')} {rest}".rstrip()


def materialized_run_id(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str) -> str | None:
    """The jackfruit run id recorded by the newest materialization of ``key`` for ``partition``."""
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]),
                                              limit=1).records
    if not records or records[0].asset_materialization is None:
        return None
    value = records[0].asset_materialization.metadata.get("jackfruit_run_id")
    return None if value is None else str(value.value)


def landed_run(app: Jackfruit, plan: DatasetPlan, partition: str) -> IngestionRun | None:
    """The succeeded run of this partition (the dataset's whole request template for the day), if any."""
    day = day_of(partition)
    wanted = partition_key(plan.dataset.name, day, plan.dataset.request_for(day))
    runs = [r for r in app.runs(plan.dataset.name, RunStatus.SUCCEEDED, limit=None)
            if r.partition_date == day and r.partition == wanted]
    return max(runs, key=lambda r: r.run_id, default=None)


def raw_metadata(run: IngestionRun, reused: bool) -> dict[str, Any]:
    acceptance = run.details.get("acceptance") or {}
    return {
        "jackfruit_run_id": run.run_id, "status": run.status.value, "raw_key": run.raw_key,
        "raw_size": dg.MetadataValue.int(run.raw_size or 0), "raw_sha256": run.raw_sha256 or "",
        "upstream_job_id": run.upstream_job_id or "", "orchestrator_run_id": run.orchestrator_run_id or "",
        "accepted": bool(acceptance.get("ok")), "reason": run.failure_reason or acceptance.get("reason") or "",
        "reused": reused,
    }


def tiles_metadata(run: IngestionRun, tiles: Sequence[Tile], reused: bool) -> dict[str, Any]:
    west, south = min((t.bbox.west for t in tiles), default=0.0), min((t.bbox.south for t in tiles), default=0.0)
    east, north = max((t.bbox.east for t in tiles), default=0.0), max((t.bbox.north for t in tiles), default=0.0)
    start: datetime | None = min((t.valid_start for t in tiles), default=None)
    end: datetime | None = max((t.valid_end for t in tiles), default=None)
    return {
        "jackfruit_run_id": run.run_id, "raw_key": run.raw_key, "raw_sha256": run.raw_sha256 or "",
        "tile_count": dg.MetadataValue.int(len(tiles)), "tiles_size": dg.MetadataValue.int(sum(t.size for t in tiles)),
        "bbox": dg.MetadataValue.json({"west": west, "south": south, "east": east, "north": north}),
        "valid_time": dg.MetadataValue.json({"start": start.isoformat() if start else None,
                                             "end": end.isoformat() if end else None}),
        "variables": ", ".join(sorted({t.variable for t in tiles})),
        "transformation_version": TRANSFORMATION_VERSION, "reused": reused,
    }


def _tag(context: dg.AssetExecutionContext, run_id: str) -> None:
    context.instance.add_run_tags(context.run.run_id, {RUN_ID_TAG: run_id})


def _failure(context: dg.AssetExecutionContext, app: Jackfruit, plan: DatasetPlan, err: JackfruitError) -> dg.Failure:
    """The use case's error as the step's failure, with the run it recorded (when it got that far)."""
    mine = [r for r in app.runs(plan.dataset.name, limit=None) if r.orchestrator_run_id == context.run.run_id]
    run = max(mine, key=lambda r: r.run_id, default=None)
    metadata: dict[str, Any] = {"error_kind": err.kind}
    if run is not None:
        _tag(context, run.run_id)
        metadata.update(jackfruit_run_id=run.run_id, status=run.status.value, raw_key=run.raw_key)
    return dg.Failure(description=f"{err.kind}: {err}", metadata=metadata)


def raw_asset(plan: DatasetPlan) -> dg.AssetsDefinition:
    @dg.asset(key=plan.raw_key, partitions_def=plan.partitions, pool=plan.pool, group_name=plan.slug,
              kinds={"grib"}, description=f"{plan.dataset.description}: one day landed unchanged in the raw "
              "bucket by the ingest use case (claim, Go ingester, acceptance check).")
    def raw(context: dg.AssetExecutionContext, config: RawConfig, jackfruit: JackfruitResource) -> dg.MaterializeResult:
        log: Callable[[RunnerEvent], None] = lambda event: context.log.info(event_text(event))  # noqa: E731
        with jackfruit.open() as app:
            run = None if config.supersede else landed_run(app, plan, context.partition_key)
            reused = run is not None
            if run is not None:
                context.log.info(f"{plan.dataset.name} {context.partition_key} already landed by run {run.run_id}; "
                                 "reused (supersede: true lands it again)")
            else:
                try:
                    run = app.ingest(plan.dataset.name, day_of(context.partition_key),
                                     orchestrator_run_id=context.run.run_id, supersede=config.supersede, on_event=log)
                except JackfruitError as err:
                    raise _failure(context, app, plan, err) from err
            _tag(context, run.run_id)
            if run.status is RunStatus.QUARANTINED:
                context.log.error(f"run {run.run_id} quarantined: {run.failure_reason}")
            return dg.MaterializeResult(metadata=raw_metadata(run, reused))

    return raw


def tiles_asset(plan: DatasetPlan) -> dg.AssetsDefinition:
    @dg.asset(key=plan.tiles_key, deps=[plan.raw_key], partitions_def=plan.partitions, group_name=plan.slug,
              kinds={"zarr"}, code_version=TRANSFORMATION_VERSION,
              description="The day's raw file as indexed Zarr tiles, published with lineage by the transform use case.")
    def tiles(context: dg.AssetExecutionContext, jackfruit: JackfruitResource) -> dg.MaterializeResult:
        run_id = materialized_run_id(context.instance, plan.raw_key, context.partition_key)
        if run_id is None:
            raise dg.Failure(f"{plan.raw_key.to_user_string()} has no materialization for {context.partition_key}: "
                             "materialize it first")
        _tag(context, run_id)
        with jackfruit.open() as app:
            run = app.run(run_id)
            reused = (run.transform_status is TransformStatus.PUBLISHED
                      and run.transform_version == TRANSFORMATION_VERSION)
            try:
                if reused:
                    found = [t for t in app.catalog.tiles_of_run(run_id)
                             if t.transformation_version == TRANSFORMATION_VERSION]
                else:
                    # published or refused under an older version: derived again under this one (docs/runs.md)
                    again = run.transform_status in (TransformStatus.PUBLISHED, TransformStatus.REFUSED)
                    found = app.transform(run_id, on_phase=lambda phase: context.log.info(f"transform: {phase}"),
                                          version=TRANSFORMATION_VERSION if again else None)
            except JackfruitError as err:
                raise dg.Failure(description=f"{err.kind}: {err}",
                                 metadata={"jackfruit_run_id": run_id, "error_kind": err.kind}) from err
            return dg.MaterializeResult(metadata=tiles_metadata(app.run(run_id), found, reused))

    return tiles
