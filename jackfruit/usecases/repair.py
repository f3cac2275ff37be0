"""Use case: re-publish a run's damaged or missing current tiles from its raw object, under the same version.

The way back from damage to the curated bucket (a tile's objects deleted or changed): ``jackfruit verify`` names the
runs whose current tiles are damaged, ``jackfruit repair RUN`` rewrites exactly those tiles at their recorded keys from
the raw object (checked against the catalog first). The transformation is deterministic, so the rewritten tile must
hash to the digest the catalog recorded; if it does not (the tile was written by another jackfruit's encoder), nothing
in the catalog changes and the error says to re-derive under a newer version (``transform --version``). The catalog
is not written: the same tiles, the same lineage, the same publish time."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

from jackfruit.domain.errors import Conflict, IntegrityError
from jackfruit.domain.keys import check_run_id
from jackfruit.domain.model import TRANSFORMATION_VERSION, RunStatus, Tile
from jackfruit.domain.tiling import plan_tiles
from jackfruit.ports import Catalog, GribDecoder, IdGenerator, ObjectStore, TileFormat
from jackfruit.ports.source import Profiles

from .transform import _write_tiles, raw_file, scratch_dir


@dataclass
class RepairReport:
    run_id: str
    checked: int = 0  # current tiles of the run verified
    repaired: list[str] = field(default_factory=list)  # tile keys rewritten (now verified)


def damaged_tiles(catalog: Catalog, curated_store: ObjectStore, tile_format: TileFormat,
                  run_id: str) -> tuple[list[Tile], dict[str, list[str]]]:
    """The run's tiles of its newest published version that are not removed, and the problems of each damaged one."""
    run = catalog.get_run(check_run_id(run_id))
    tiles = [t for t in catalog.tiles_of_run(run.run_id)
             if t.removed_at is None and t.transformation_version == run.transform_version]
    problems = {t.key: p for t in tiles if (p := tile_format.verify(curated_store, t))}
    return tiles, problems


def repair_run(*, catalog: Catalog, raw_store: ObjectStore, curated_store: ObjectStore, decoder: GribDecoder,
               tile_format: TileFormat, ids: IdGenerator, work_dir: str, run_id: str,
               profiles: Profiles) -> RepairReport:
    """Rewrite the run's damaged current tiles from raw at their recorded keys; every rewritten tile verified.
    Raises ``NotFound`` (run), ``Conflict`` (nothing published under this jackfruit's version to repair),
    ``IntegrityError`` (raw bytes differ from the catalog's; or a rewritten tile does not hash as recorded)."""
    run = catalog.get_run(check_run_id(run_id))
    tiles, problems = damaged_tiles(catalog, curated_store, tile_format, run_id)
    report = RepairReport(run.run_id, checked=len(tiles))
    if not problems:
        return report
    if run.status is not RunStatus.SUCCEEDED or run.transform_version != TRANSFORMATION_VERSION:
        raise Conflict(f"run {run.run_id}: its damaged tiles are of transformation version {run.transform_version}, "
                       f"this jackfruit writes {TRANSFORMATION_VERSION}: re-derive it with `jackfruit transform "
                       f"--version {TRANSFORMATION_VERSION} {run.run_id}`")
    by_slot = {(t.model, t.variable, t.level_type, t.level_m, t.reference_time, t.cell_id): t
               for t in tiles if t.key in problems}
    attempt_id = ids.new_run_id()  # names the scratch folder only: no claim, no catalog write
    scratch = scratch_dir(work_dir, attempt_id)
    os.makedirs(scratch)
    try:
        path, check = raw_file(raw_store, run.raw_key, run.raw_sha256, run.raw_size, scratch)
        profile = profiles.get(run.dataset)
        messages = decoder.scan(path, profile.grib_names)
        if check is not None:
            check.result()
        groups = plan_tiles(messages, profile.name_message, profile.time_axis)

        def key_of(group, cell):
            tile = by_slot.get((group.model, group.variable, group.level_type, group.level_m, group.reference_time,
                                cell.cell_id))
            return None if tile is None else tile.key

        for key in by_slot.values():
            for info in list(curated_store.list(key.key + "/")):  # what is left of it: rewritten whole
                curated_store.delete(info.key)
        written = _write_tiles(run, profile, groups, messages, path, decoder, tile_format, curated_store, [], None,
                               attempt_id, None, scratch, key_of=key_of)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    recorded = {t.key: t for t in by_slot.values()}
    for t in written:
        want = recorded[t.key]
        if (t.size, t.sha256) != (want.size, want.sha256) or tile_format.verify(curated_store, want):
            raise IntegrityError(f"tile {t.key} rewritten from raw is {t.size} bytes sha256 {t.sha256}; the catalog "
                                 f"recorded {want.size} bytes sha256 {want.sha256}: re-derive the run with `jackfruit "
                                 f"transform --version N {run.run_id}` under a newer version")
        report.repaired.append(t.key)
    missing = set(recorded) - set(report.repaired)
    if missing:
        raise IntegrityError(f"run {run.run_id}: the raw object no longer plans tiles {sorted(missing)}")
    return report
