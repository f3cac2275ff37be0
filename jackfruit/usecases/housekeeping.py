"""Use cases that keep the stores tidy and honest: reap, gc (collect what ended attempts left), verify."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import timedelta

from jackfruit.domain.errors import NotFound
from jackfruit.domain.keys import check_run_id, tile_attempt, tile_prefix
from jackfruit.domain.model import AttemptKind, IngestionRun, TransformStatus
from jackfruit.ports import Catalog, Clock, ObjectStore, TileFormat

from .objects import hash_object


def reap(catalog: Catalog, clock: Clock, older_than: timedelta) -> list[IngestionRun]:
    """Fail open runs whose ingest claim expired more than ``older_than`` ago; nothing is deleted."""
    return catalog.reap(older_than, now=clock.now())


@dataclass
class GcReport:
    revoked: int = 0  # attempts whose expired lease was ended now
    scratch_dirs: int = 0
    partial_files: int = 0
    tile_objects: int = 0
    kept_unknown: list[str] = field(default_factory=list)  # leftovers of attempts the catalog does not know


def collect_garbage(*, catalog: Catalog, raw_store: ObjectStore, curated_store: ObjectStore, clock: Clock,
                    work_dir: str) -> GcReport:
    """Remove what ended attempts left: scratch folders, staged uploads, objects of tiles never published.

    First every expired lease is ended (fencing its holder off), then only leftovers of *ended* attempts
    are removed: never a live attempt's files, never a raw object, never a published tile.
    """
    report = GcReport()
    report.revoked = len(catalog.revoke_expired(now=clock.now()))
    runs = catalog.list_runs(limit=None)
    ended = {a.attempt_id: a for r in runs for a in r.attempts if a.ended_at is not None}
    known = {a.attempt_id for r in runs for a in r.attempts}
    if os.path.isdir(work_dir):
        for name in sorted(os.listdir(work_dir)):
            if name in ended:
                shutil.rmtree(os.path.join(work_dir, name), ignore_errors=True)
                report.scratch_dirs += 1
            elif name not in known:
                report.kept_unknown.append(os.path.join(work_dir, name))
    ended_ingest = {i for i, a in ended.items() if a.kind is AttemptKind.INGEST}
    ended_transform = {i for i, a in ended.items() if a.kind is AttemptKind.TRANSFORM}
    # raw keys nobody is writing: every ingest attempt of the run has ended (or the run never had one)
    idle_raw = {r.raw_key for r in runs if r.raw_key
                and all(a.ended_at is not None for a in r.attempts if a.kind is AttemptKind.INGEST)}
    report.partial_files += raw_store.sweep_partials(ended_ingest, idle_raw)
    report.partial_files += curated_store.sweep_partials(ended_transform)
    published = {t.key for r in runs if r.transform_status is TransformStatus.PUBLISHED
                 for t in catalog.tiles_of_run(r.run_id)}
    for info in list(curated_store.list("tiles/")):
        attempt, prefix = tile_attempt(info.key), tile_prefix(info.key)
        if attempt is None or prefix is None or prefix in published:
            continue
        if attempt in ended_transform:
            try:
                curated_store.delete(info.key)
                report.tile_objects += 1
            except NotFound:
                pass
        elif attempt not in known and prefix not in report.kept_unknown:
            report.kept_unknown.append(prefix)
    return report


@dataclass
class VerifyReport:
    raw_objects: int = 0
    tiles: int = 0
    problems: list[str] = field(default_factory=list)


def verify(*, catalog: Catalog, raw_store: ObjectStore, curated_store: ObjectStore,
           tile_format: TileFormat, run_id: str | None = None) -> VerifyReport:
    """Re-hash raw objects and tiles against the catalog; every mismatch is reported, nothing is changed."""
    report = VerifyReport()
    every = catalog.list_runs(limit=None) if run_id is None else []
    runs = [catalog.get_run(check_run_id(run_id))] if run_id else every
    for r in runs:
        if r.raw_sha256 is not None and r.raw_size is not None:
            report.raw_objects += 1
            try:
                size, digest = hash_object(raw_store, r.raw_key)
                if (size, digest) != (r.raw_size, r.raw_sha256):
                    report.problems.append(f"raw {r.raw_key} (run {r.run_id}): {size} bytes sha256 "
                                           f"{digest}; the catalog recorded {r.raw_size} bytes "
                                           f"sha256 {r.raw_sha256}")
            except NotFound:
                report.problems.append(f"raw {r.raw_key} (run {r.run_id}): missing")
        for t in catalog.tiles_of_run(r.run_id):
            report.tiles += 1
            report.problems.extend(tile_format.verify(curated_store, t))
    if run_id is None:
        recorded = {r.raw_key for r in every}
        for info in raw_store.list():
            if info.key not in recorded:
                report.problems.append(f"raw {info.key}: no run records this object")
    return report
