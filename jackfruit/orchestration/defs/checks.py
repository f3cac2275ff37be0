"""Per dataset: asset checks of a partition, each reading the run its asset's materialization recorded.

raw: checksum verified (re-hash), matches its request (**blocking**: a quarantined file never reaches the
transformation); tiles: every expected field present (coverage), registered and readable (find + read).
"""

# no `from __future__ import annotations`: Dagster reads the parameters' types (config, resources)
import warnings
from datetime import timedelta
from typing import Any, Mapping

import dagster as dg

from jackfruit.domain.errors import JackfruitError
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.model import TRANSFORMATION_VERSION, RunStatus

from .assets import materialized_run_id
from .partitions import DatasetPlan, day_of
from .resources import JackfruitResource

LISTED = 20  # names listed in a check's metadata (counts are whole)


def _unmaterialized(key: dg.AssetKey, partition: str) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, description=f"{key.to_user_string()} has no materialization for "
                               f"{partition}: nothing to check", metadata={"partition": partition})


def checks(plan: DatasetPlan) -> list[dg.AssetChecksDefinition]:
    # partitioned checks are a preview in dagster 1.13 (pinned: constraints/dagster.txt); ADR 0009
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*partitions_def on an AssetCheckSpec")
        return _checks(plan)


def _checks(plan: DatasetPlan) -> list[dg.AssetChecksDefinition]:
    common = dict(partitions_def=plan.partitions)

    @dg.asset_check(asset=plan.raw_key, name="raw_checksum_verified", **common,
                    description="The raw object re-hashed (size + SHA-256) equals what the catalog recorded.")
    def raw_checksum_verified(context: dg.AssetCheckExecutionContext,
                              jackfruit: JackfruitResource) -> dg.AssetCheckResult:
        run_id = materialized_run_id(context.instance, plan.raw_key, context.partition_key)
        if run_id is None:
            return _unmaterialized(plan.raw_key, context.partition_key)
        with jackfruit.open() as app:
            run = app.run(run_id)
            report = app.verify(run_id)
        problems = [p for p in report.problems if run.raw_key in p]
        passed = report.raw_objects == 1 and not problems
        return dg.AssetCheckResult(passed=passed, description="; ".join(problems) or None, metadata={
            "jackfruit_run_id": run_id, "raw_key": run.raw_key, "raw_sha256": run.raw_sha256 or "",
            "raw_size": dg.MetadataValue.int(run.raw_size or 0), "problems": len(problems)})

    @dg.asset_check(asset=plan.raw_key, name="raw_matches_request", blocking=True, **common,
                    description="The landed file's GRIB headers hold exactly the fields its request asked for "
                    "(the acceptance result the ingest recorded); blocking: a mismatch is never transformed.")
    def raw_matches_request(context: dg.AssetCheckExecutionContext,
                            jackfruit: JackfruitResource) -> dg.AssetCheckResult:
        run_id = materialized_run_id(context.instance, plan.raw_key, context.partition_key)
        if run_id is None:
            return _unmaterialized(plan.raw_key, context.partition_key)
        with jackfruit.open() as app:
            run = app.run(run_id)
        verdict: Mapping[str, Any] = run.details.get("acceptance") or {}
        passed = run.status is RunStatus.SUCCEEDED and verdict.get("ok") is True
        reason = run.failure_reason or verdict.get("reason") or ("" if verdict else "no acceptance result recorded")
        return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.ERROR,
                                   description=None if passed else f"run {run_id} is {run.status.value}: {reason}",
                                   metadata={"jackfruit_run_id": run_id, "status": run.status.value,
                                             "expected": dg.MetadataValue.int(int(verdict.get("expected") or 0)),
                                             "received": dg.MetadataValue.int(int(verdict.get("received") or 0)),
                                             "reason": reason})

    @dg.asset_check(asset=plan.tiles_key, name="expected_fields_present", **common,
                    description="Every field the dataset expects for the day (variables x models x levels, each "
                    "with all lead times) is in the day's current tiles (jackfruit coverage).")
    def expected_fields_present(context: dg.AssetCheckExecutionContext,
                                jackfruit: JackfruitResource) -> dg.AssetCheckResult:
        day = day_of(context.partition_key)
        with jackfruit.open() as app:
            (cover,) = app.coverage(plan.dataset.name, day, day)
        gaps = [*cover.partial, *(f"{f}: missing" for f in cover.missing)]
        return dg.AssetCheckResult(passed=cover.state == "complete",
                                   description=None if cover.state == "complete" else
                                   f"{cover.state}: {'; '.join(gaps[:LISTED]) or cover.detail}",
                                   metadata={"state": cover.state, "jackfruit_run_id": cover.run_id or "",
                                             "expected": dg.MetadataValue.int(cover.expected),
                                             "present": dg.MetadataValue.int(len(cover.present)),
                                             "gaps": dg.MetadataValue.int(len(gaps))})

    @dg.asset_check(asset=plan.tiles_key, name="tiles_registered_and_readable", **common,
                    description="find_tiles over the tiles' extent returns every tile of the run, and a small "
                    "read of one of them succeeds (verified on the way).")
    def tiles_registered_and_readable(context: dg.AssetCheckExecutionContext,
                                      jackfruit: JackfruitResource) -> dg.AssetCheckResult:
        run_id = materialized_run_id(context.instance, plan.tiles_key, context.partition_key)
        if run_id is None:
            return _unmaterialized(plan.tiles_key, context.partition_key)
        with jackfruit.open() as app:
            tiles = [t for t in app.catalog.tiles_of_run(run_id)
                     if t.transformation_version == TRANSFORMATION_VERSION and t.removed_at is None]
            if not tiles:
                return dg.AssetCheckResult(passed=False, description=f"run {run_id} has no tiles",
                                           metadata={"jackfruit_run_id": run_id})
            extent = BBox(min(t.bbox.west for t in tiles), min(t.bbox.south for t in tiles),
                          max(t.bbox.east for t in tiles), max(t.bbox.north for t in tiles))
            span = TimeRange(min(t.valid_start for t in tiles), max(t.valid_end for t in tiles) + timedelta(hours=1))
            found = {t.key for t in app.find_tiles(extent, span, dataset=plan.dataset.name)}
            unregistered = sorted(t.key for t in tiles if t.key not in found)
            sample = tiles[0]
            centre = BBox((sample.bbox.west + sample.bbox.east) / 2, (sample.bbox.south + sample.bbox.north) / 2,
                          (sample.bbox.west + sample.bbox.east) / 2, (sample.bbox.south + sample.bbox.north) / 2)
            try:
                ds = app.read(centre, TimeRange(sample.valid_start, sample.valid_start + timedelta(hours=1)),
                              [sample.variable], dataset=plan.dataset.name, model=sample.model,
                              level_m=sample.level_m, level_type=sample.level_type)
                unreadable = "" if sample.variable in ds.data_vars and ds[sample.variable].size else "no values"
            except JackfruitError as err:
                unreadable = f"{err.kind}: {err}"
        problems = ([f"{len(unregistered)} tile(s) not found by find_tiles: {', '.join(unregistered[:LISTED])}"]
                    if unregistered else []) + ([f"reading {sample.key}: {unreadable}"] if unreadable else [])
        return dg.AssetCheckResult(passed=not problems, description="; ".join(problems) or None, metadata={
            "jackfruit_run_id": run_id, "tiles": dg.MetadataValue.int(len(tiles)),
            "found": dg.MetadataValue.int(len(tiles) - len(unregistered)), "read_sample": sample.key})

    return [raw_checksum_verified, raw_matches_request, expected_fields_present, tiles_registered_and_readable]
