"""Use case: transform one landed run's raw GRIB into curated tiles, then publish tiles + lineage at once."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from typing import Any, Callable

from jackfruit.domain import cams
from jackfruit.domain.errors import Conflict, IntegrityError, JackfruitError
from jackfruit.domain.keys import tile_key
from jackfruit.domain.model import TRANSFORMATION, TRANSFORMATION_VERSION, LineageEdge, RunStatus, Tile
from jackfruit.domain.tiling import plan_cells, plan_tiles
from jackfruit.ports import Catalog, GribDecoder, ObjectStore, TileFormat

ATTRIBUTION = "Contains modified Copernicus Atmosphere Monitoring Service information {year}"
Progress = Callable[[int, int], None]


def fetch_verified(raw_store: ObjectStore, key: str, sha256: str, size: int, dest: str) -> None:
    """Copy a raw object to ``dest``, refusing it unless size and SHA-256 match the catalog."""
    digest, total = hashlib.sha256(), 0
    with raw_store.open(key) as src, open(dest, "wb") as out:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            total += len(chunk)
            out.write(chunk)
    if total != size or digest.hexdigest() != sha256:
        raise IntegrityError(f"raw object {key} is {total} bytes sha256 {digest.hexdigest()}; "
                             f"the catalog recorded {size} bytes sha256 {sha256}")


def transform_run(
    *,
    catalog: Catalog,
    raw_store: ObjectStore,
    curated_store: ObjectStore,
    decoder: GribDecoder,
    tile_format: TileFormat,
    run_id: str,
    workdir: str | None = None,
    progress: Progress | None = None,
) -> list[Tile]:
    """Write every tile of the run, then publish them with their lineage in one catalog transaction."""
    run = catalog.get_run(run_id)
    if run.status is not RunStatus.SUCCEEDED or run.raw_sha256 is None or run.raw_size is None:
        raise Conflict(f"run {run_id} is {run.status.value}; only a succeeded ingestion can be transformed")
    if catalog.tiles_of_run(run_id):
        raise Conflict(f"run {run_id} is already transformed; tiles are immutable")
    scratch = tempfile.mkdtemp(prefix="jackfruit-transform-", dir=workdir)
    try:
        path = os.path.join(scratch, "raw.grib")
        fetch_verified(raw_store, run.raw_key, run.raw_sha256, run.raw_size, path)
        messages = decoder.scan(path)
        groups = plan_tiles(messages)
        started: list[str] = []  # tile keys whose objects may exist, for clean-up if we do not publish
        try:
            tiles = _write_tiles(run, groups, messages, path, decoder, tile_format, curated_store, started, progress)
            lineage = [LineageEdge(run.raw_key, run.raw_sha256, t.key, run_id) for t in tiles]
            catalog.publish(run_id, tiles, lineage)
        except BaseException:
            _remove_unpublished(curated_store, started)
            raise
        return tiles
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _write_tiles(run: Any, groups: list, messages: list, path: str, decoder: GribDecoder, tile_format: TileFormat,
                 curated_store: ObjectStore, started: list[str], progress: Progress | None) -> list[Tile]:
    """Write every tile of every group; each key goes into ``started`` before its first object is written."""
    tiles: list[Tile] = []
    done, total = 0, len(messages)
    for group in groups:
        values = decoder.read(path, [messages[i] for i in group.message_indices])
        attrs = _attrs(run.raw_key, run.raw_sha256, run.run_id, group.variable, group.reference_time.year)
        for cell in plan_cells(group.grid):
            key = tile_key(run.dataset, group.variable, group.model, group.level_m, group.reference_time,
                           cell.cell_id, run.run_id)
            started.append(key)
            size, sha = tile_format.write(curated_store, key, group, cell, values, attrs)
            tiles.append(Tile(key=key, run_id=run.run_id, dataset=run.dataset, model=group.model,
                             variable=group.variable, level_m=group.level_m, reference_time=group.reference_time,
                             valid_start=group.valid_start, valid_end=group.valid_end, cell_id=cell.cell_id,
                             bbox=cell.bbox, shape=(len(group.steps), cell.rows[1] - cell.rows[0],
                                                    cell.cols[1] - cell.cols[0]), size=size, sha256=sha))
        del values
        done += len(group.message_indices)
        if progress:
            progress(done, total)
    return tiles


def _remove_unpublished(curated_store: ObjectStore, keys: list[str]) -> None:
    """Best effort: delete the objects of tiles that will not be published (a retry would overwrite them)."""
    for key in keys:
        try:
            for info in list(curated_store.list(key + "/")):
                curated_store.delete(info.key)
        except JackfruitError:
            continue


def _attrs(raw_key: str, raw_sha256: str, run_id: str, variable: str, year: int) -> dict[str, Any]:
    species = cams.SPECIES_BY_NAME[variable]
    attrs: dict[str, Any] = {
        "units": species.units,
        "long_name": species.long_name,
        "jackfruit_variable": variable,
        "source_raw_key": raw_key,
        "source_raw_sha256": raw_sha256,
        "source_run_id": run_id,
        "transformation": TRANSFORMATION,
        "transformation_version": TRANSFORMATION_VERSION,
        "attribution": ATTRIBUTION.format(year=year),
    }
    if species.standard_name:
        attrs["standard_name"] = species.standard_name
    return attrs
