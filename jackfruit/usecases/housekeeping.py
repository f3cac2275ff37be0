"""Use cases that keep the stores tidy and honest: reap, gc (collect what ended attempts left), verify."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

from jackfruit.domain.errors import InvalidInput, NotFound
from jackfruit.domain.keys import check_run_id, tile_attempt, tile_prefix
from jackfruit.domain.model import AttemptKind, IngestionRun
from jackfruit.ports import Catalog, Clock, ObjectStore, Runner, TileFormat

from .objects import hash_object


def reap(catalog: Catalog, clock: Clock, older_than: timedelta) -> list[IngestionRun]:
    """Fail open runs whose ingest claim expired more than ``older_than`` ago; nothing is deleted."""
    return catalog.reap(older_than, now=clock.now())


def attempt_liveness(catalog: Catalog, clock: Clock) -> Callable[[str, str], bool]:
    """``is_live(run_id, attempt_id)`` for a runner's sweep of leftovers: an attempt is live until it has ended or
    its lease has expired. A run or attempt this catalog does not know counts as live (the leftover may belong to
    another deployment sharing the Docker daemon): only what is known to be over is removed."""

    def is_live(run_id: str, attempt_id: str) -> bool:
        try:
            run = catalog.get_run(run_id)
        except (NotFound, InvalidInput):
            return True
        now = clock.now()
        for attempt in run.attempts:
            if attempt.attempt_id == attempt_id:
                return attempt.live(now)
        return True

    return is_live


@dataclass
class GcReport:
    revoked: int = 0  # attempts whose expired lease was ended now
    scratch_dirs: int = 0
    partial_files: int = 0
    tile_objects: int = 0
    containers: int = 0  # runner leftovers of attempts that are over (ingester containers), stopped and removed
    kept_unknown: list[str] = field(default_factory=list)  # leftovers of attempts the catalog does not know
    dry_run: bool = False
    #: what was removed (or, in a dry run, would be): scratch folders and tile objects, and the attempts ended
    removed: list[str] = field(default_factory=list)


def collect_garbage(*, catalog: Catalog, raw_store: ObjectStore, curated_store: ObjectStore, clock: Clock,
                    work_dir: str, runner: Runner | None = None, dry_run: bool = False) -> GcReport:
    """Remove what ended attempts left: scratch folders, staged uploads, objects of tiles never published.

    First every expired lease is ended (fencing its holder off; an abandoned transform becomes ``failed``), then
    only leftovers of *ended* attempts are removed: never a live attempt's files, never a raw object, never a tile
    the catalog records (whatever its run's state). Two at once are safe: each removal tolerates the other's.
    ``dry_run``: change nothing; ``removed`` lists the attempts that would end, the scratch folders and tile objects
    that would go (staged uploads and leftover containers are found by the stores and runner as they remove them,
    so a dry run does not list them).
    """
    report = GcReport(dry_run=dry_run)
    now = clock.now()
    if dry_run:
        runs = catalog.list_runs(limit=None)
        expiring = [a for r in runs for a in r.attempts if a.ended_at is None and not a.live(now)]
        report.revoked = len(expiring)
        report.removed += [f"attempt {a.attempt_id} ({a.kind.value}, owner {a.owner}): lease expired, would end"
                           for a in expiring]
        ended = {a.attempt_id: a for r in runs for a in r.attempts if a.ended_at is not None or not a.live(now)}
    else:
        report.revoked = len(catalog.revoke_expired(now=now))
        if runner is not None:  # containers of attempts now over (their callers died); never a live attempt's
            report.containers = len(runner.sweep(attempt_liveness(catalog, clock)))
        runs = catalog.list_runs(limit=None)
        ended = {a.attempt_id: a for r in runs for a in r.attempts if a.ended_at is not None}
    known = {a.attempt_id for r in runs for a in r.attempts}
    if os.path.isdir(work_dir):
        for name in sorted(os.listdir(work_dir)):
            if name in ended:
                if not dry_run:
                    shutil.rmtree(os.path.join(work_dir, name), ignore_errors=True)
                report.scratch_dirs += 1
                report.removed.append(os.path.join(work_dir, name))
            elif name not in known:
                report.kept_unknown.append(os.path.join(work_dir, name))
    ended_ingest = {i for i, a in ended.items() if a.kind is AttemptKind.INGEST}
    ended_transform = {i for i, a in ended.items() if a.kind is AttemptKind.TRANSFORM}
    # raw keys nobody is writing: every ingest attempt of the run has ended (or the run never had one)
    idle_raw = {r.raw_key for r in runs if r.raw_key
                and all(a.ended_at is not None for a in r.attempts if a.kind is AttemptKind.INGEST)}
    if not dry_run:
        report.partial_files += raw_store.sweep_partials(ended_ingest, idle_raw)
        report.partial_files += curated_store.sweep_partials(ended_transform)
    # a tile the catalog records was published, whatever its run's state now (a re-derivation moves the run back to
    # transforming while the older version's tiles stay current): never garbage; superseded ones are gc --superseded's
    published = {t.key for r in runs for t in catalog.tiles_of_run(r.run_id)}
    for info in list(curated_store.list("tiles/")):
        attempt, prefix = tile_attempt(info.key), tile_prefix(info.key)
        if attempt is None or prefix is None or prefix in published:
            continue
        if attempt in ended_transform:
            try:
                if not dry_run:
                    curated_store.delete(info.key)
                report.tile_objects += 1
                report.removed.append(info.key)
            except NotFound:
                pass  # another gc removed it first
        elif attempt not in known and prefix not in report.kept_unknown:
            report.kept_unknown.append(prefix)
    return report


@dataclass
class SupersededReport:
    grace_s: float  # the grace period, in seconds
    tiles: int = 0  # tiles whose objects were removed (records kept, marked removed)
    objects: int = 0
    bytes: int = 0
    removed: list[str] = field(default_factory=list)


def collect_superseded(*, catalog: Catalog, curated_store: ObjectStore, clock: Clock, grace: timedelta,
                       dry_run: bool = False,
                       on_tile: Callable[[int, int, str], None] | None = None) -> SupersededReport:
    """Remove the objects of tiles that stopped being current (``jackfruit.domain.currency``) at least ``grace``
    ago, and mark them removed in the catalog (the records stay: history, lineage, "as known at").

    Per tile: objects first, then the mark, so a kill in between leaves a superseded tile (never served as
    current) whose objects are partly gone, and the next run finishes it. A current tile is never touched."""
    if not isinstance(grace, timedelta) or grace < timedelta(0):
        raise InvalidInput(f"the grace period must be a non-negative duration, got {grace!r}")
    report = SupersededReport(grace_s=grace.total_seconds())
    found = catalog.superseded_tiles(before=clock.now() - grace, limit=None)
    for i, (tile, _) in enumerate(found):
        if on_tile is not None:
            on_tile(i, len(found), tile.key)
        report.tiles += 1
        report.removed.append(tile.key)
        if dry_run:
            report.bytes += tile.size
            continue
        for info in list(curated_store.list(tile.key + "/")):
            try:
                curated_store.delete(info.key)
            except NotFound:
                continue
            report.objects += 1
            report.bytes += info.size
        catalog.mark_removed([tile.key], now=clock.now())
    return report


@dataclass
class VerifyReport:
    raw_objects: int = 0
    tiles: int = 0
    problems: list[str] = field(default_factory=list)
    #: runs with a tile that is missing or damaged (`jackfruit repair RUN` rewrites them from raw)
    damaged_runs: list[str] = field(default_factory=list)


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
            if t.removed_at is not None:  # superseded, its objects removed by gc --superseded
                continue
            report.tiles += 1
            found = tile_format.verify(curated_store, t)
            report.problems.extend(found)
            if found and r.run_id not in report.damaged_runs:
                report.damaged_runs.append(r.run_id)
    if run_id is None:
        recorded = {r.raw_key for r in every}
        for info in raw_store.list():
            if info.key not in recorded:
                report.problems.append(f"raw {info.key}: no run records this object")
    return report
