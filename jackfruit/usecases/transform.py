"""Use case: transform one landed run's raw GRIB into curated tiles, then publish tiles + lineage at once."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

from jackfruit.domain.errors import BackendUnavailable, Conflict, IntegrityError, InvalidInput, JackfruitError
from jackfruit.domain.keys import check_run_id, tile_key
from jackfruit.domain.model import (TRANSFORMATION, TRANSFORMATION_VERSION, AttemptKind, LineageEdge, Tile,
                                    TransformStatus, version_number)
from jackfruit.domain.tiling import plan_cells, plan_tiles
from jackfruit.ports import Catalog, Clock, GribDecoder, ObjectStore, TileFormat
from jackfruit.ports.source import SourceProfile

from .context import Claimant, TransformPorts
from .leases import Heartbeat
from .objects import hash_object

Progress = Callable[[int, int], None]


def fetch_verified(raw_store: ObjectStore, key: str, sha256: str, size: int, dest: str) -> None:
    """Copy a raw object to ``dest``, refusing it unless size and SHA-256 match the catalog."""
    with open(dest, "wb") as out:
        total, digest = hash_object(raw_store, key, copy_to=out)
    _check_raw(key, total, digest, size, sha256)


def _check_raw(key: str, total: int, digest: str, size: int, sha256: str) -> None:
    if total != size or digest != sha256:
        raise IntegrityError(f"raw object {key} is {total} bytes sha256 {digest}; "
                             f"the catalog recorded {size} bytes sha256 {sha256}")


def _verify_in_place(path: str, key: str, size: int, sha256: str) -> None:
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
        total = f.tell()
    _check_raw(key, total, digest, size, sha256)


def raw_file(raw_store: ObjectStore, key: str, sha256: str, size: int, scratch: str) -> tuple[str, Future | None]:
    """A local file with the raw object's bytes and the check of its size and SHA-256 against the catalog.
    A store that keeps objects as local files is read in place (raw objects are write-once and read-only) and
    checked in a thread while the caller scans and converts it: the caller must wait for the check before it
    concludes anything from the bytes (a refusal, a publish). Any other store is copied into ``scratch``, checked while it streams (None)."""
    local = raw_store.local_path(key)
    if local is not None:
        return local, _CHECKS.submit(_verify_in_place, local, key, size, sha256)
    path = os.path.join(scratch, "raw.grib")
    fetch_verified(raw_store, key, sha256, size, path)
    return path, None


_CHECKS = ThreadPoolExecutor(2, thread_name_prefix="raw-check")


def transform_run(ports: TransformPorts, claimant: Claimant, run_id: str, *, progress: Progress | None = None,
                  on_phase: Callable[[str], None] | None = None, version: str | None = None) -> list[Tile]:
    """Claim the run's transformation, write every tile under this attempt's keys, then publish tiles and
    lineage in one fenced catalog transaction. A file the transformation cannot represent is ``refused``
    (recorded with every reason); any other failure ends the attempt ``failed`` with its reason, and the next
    transform of the run claims it again at once."""
    catalog, raw_store, curated_store, decoder = ports.catalog, ports.raw_store, ports.curated_store, ports.decoder
    tile_format, clock, ids = ports.tile_format, ports.clock, ports.ids
    owner, lease_ttl, work_dir = claimant.owner, claimant.lease_ttl, claimant.work_dir
    check_run_id(run_id)
    if version is not None and version != TRANSFORMATION_VERSION:
        version_number(version)
        raise InvalidInput(f"this jackfruit writes transformation version {TRANSFORMATION_VERSION}, not {version}")
    if version is None:  # re-deriving a transformed run is asked for by naming the version (--version)
        known = catalog.get_run(run_id)
        if known.transform_status in (TransformStatus.PUBLISHED, TransformStatus.REFUSED):
            how = "was refused by" if known.transform_status is TransformStatus.REFUSED else "is published under"
            raise Conflict(f"run {run_id} {how} transformation version {known.transform_version or '?'}; "
                           f"`jackfruit transform --version {TRANSFORMATION_VERSION} {run_id}` re-derives it under "
                           f"this jackfruit's version (new tiles next to the old ones)")
    attempt_id = ids.new_run_id()
    now = clock.now()
    run = catalog.claim_transform(run_id, attempt_id=attempt_id, owner=owner, now=now, expires_at=now + lease_ttl,
                                  version=TRANSFORMATION_VERSION)
    epoch = run.lease(AttemptKind.TRANSFORM).epoch
    phase = on_phase or (lambda name: None)
    profile = ports.profiles.get(run.dataset)
    scratch = scratch_dir(work_dir, attempt_id)
    started: list[str] = []  # tile keys whose objects may exist, for clean-up if we do not publish
    with Heartbeat(catalog, clock, run_id, AttemptKind.TRANSFORM, epoch, lease_ttl) as beat:
        try:
            try:
                os.makedirs(scratch)
            except OSError as err:
                raise BackendUnavailable(f"cannot create the scratch folder {scratch}: {err.strerror}") from err
            phase("fetch")
            path, check = raw_file(raw_store, run.raw_key, run.raw_sha256, run.raw_size, scratch)
            phase("decode")
            try:
                messages = decoder.scan(path, profile.grib_names)
                groups = plan_tiles(messages, profile.name_message, profile.time_axis)
            except InvalidInput as err:
                if check is not None:
                    check.result()  # bytes that are not the recorded ones are an integrity error, not a refusal
                beat.stop()
                beat.check()
                catalog.refuse_transform(run_id, epoch, now=clock.now(), reason=str(err))
                raise
            phase("tile write")
            # the tiles are written while the raw bytes' check runs (nothing is visible before the publish; a
            # failed check removes this attempt's objects below): it is waited for before anything is published
            tiles = _write_tiles(run, profile, groups, messages, path, decoder, tile_format, curated_store, started,
                                 progress, attempt_id, beat, scratch)
            if check is not None:
                check.result()
            lineage = [LineageEdge(run.raw_key, run.raw_sha256, t.key, run_id,
                                   transformation_version=TRANSFORMATION_VERSION) for t in tiles]
            phase("publish")
            beat.check()
            catalog.publish(run_id, epoch, tiles, lineage, now=clock.now())
            phase("published")
        except BaseException as err:
            _remove_unpublished(curated_store, started)  # this attempt's own objects only
            if not isinstance(err, InvalidInput):  # a refused run is final; anything else may be retried
                _end_failed(catalog, clock, beat, run_id, epoch, err)
            raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return tiles


def _end_failed(catalog: Catalog, clock: Clock, beat: Heartbeat, run_id: str, epoch: int, err: BaseException) -> None:
    """Every failure of a transform attempt ends it with its reason (``failed``, claimable again at once): an
    error, an interruption, a bug. Not when the claim was lost (someone else holds it: write nothing); if the
    catalog cannot take the write, the lease is released, and else it runs out (gc then ends it as failed)."""
    beat.stop()
    if isinstance(err, Conflict) and beat.lost.is_set():
        return
    if isinstance(err, JackfruitError):
        reason = f"{err.kind}: {err}"
    elif isinstance(err, (KeyboardInterrupt, SystemExit)):
        reason = f"interrupted ({type(err).__name__})"
    else:
        reason = f"{type(err).__name__}: {err}"
    try:
        catalog.fail_transform(run_id, epoch, now=clock.now(), reason=reason)
    except JackfruitError:
        beat.release()


def scratch_dir(work_dir: str, attempt_id: str) -> str:
    """The scratch folder of one attempt: ``{work_dir}/{attempt_id}`` (gc removes those of ended attempts)."""
    return os.path.join(work_dir, check_run_id(attempt_id))


KeyOf = Callable[[Any, Any], "str | None"]

#: tiles written at once: as many as the values of two 16-lead-time slabs of a CAMS Europe grid allow, the slabs
#: being the tile format's (``TileFormat.slab_depth``) (at least two, at most ``MAX_TILES_AT_ONCE``). A tile's fixed cost — its scratch folder, metadata, four fsynced objects
#: and their renames — is mostly waiting on the disk, so small tiles (a day of EAC4 analyses on the 0.75 degree
#: grid) write more at once; big grids keep two, bounding the memory (docs/benchmarks.md)
VALUES_AT_ONCE = 2 * 16 * 700 * 420
MAX_TILES_AT_ONCE = 6


def tiles_at_once(groups: list, slab_depth: int) -> int:
    """How many tiles of ``groups`` to write at once (``VALUES_AT_ONCE``), for slabs of ``slab_depth`` lead times."""
    biggest = max((g.grid.ny * g.grid.nx * min(len(g.steps), slab_depth) for g in groups), default=1)
    return max(2, min(MAX_TILES_AT_ONCE, VALUES_AT_ONCE // max(biggest, 1)))


def _write_tiles(run: Any, profile: SourceProfile, groups: list, messages: list, path: str, decoder: GribDecoder,
                 tile_format: TileFormat,
                 curated_store: ObjectStore, started: list[str], progress: Progress | None, attempt_id: str,
                 beat: Heartbeat | None, scratch: str, key_of: KeyOf | None = None) -> list[Tile]:
    """Write every tile of every group, several groups at a time (``tiles_at_once``: one group's start and end, a
    decode with nothing to encode yet and an upload with nothing left to decode, overlap the others' middle); each key goes into
    ``started`` before its first object is written. Tiles come back in group order. ``key_of(group, cell)``:
    the key to write a tile at, or None to skip it (default: this attempt's key of every tile)."""
    if key_of is None:
        def key_of(group: Any, cell: Any) -> str:
            return tile_key(run.dataset, group.variable, group.model, group.level_m, group.reference_time,
                            cell.cell_id, run.run_id, TRANSFORMATION_VERSION, attempt_id, group.level_type)
    lock = threading.Lock()
    done = [0]

    def one(group: Any) -> list[Tile]:
        members = [messages[i] for i in group.message_indices]

        def values(k0: int, k1: int, out: Any = None) -> Any:
            return decoder.read(path, members[k0:k1], out=out)

        attrs = _attrs(profile, run.raw_key, run.raw_sha256, run.run_id, group)
        attrs.update(_grib_identity(members))
        tiles = []
        for cell in plan_cells(group.grid):
            if beat is not None:
                beat.check()  # a holder that lost its claim stops writing at once
            key = key_of(group, cell)
            if key is None:
                continue
            with lock:
                started.append(key)
            size, sha = tile_format.write(curated_store, key, group, cell, values, attrs, scratch)
            tiles.append(Tile(key=key, run_id=run.run_id, dataset=run.dataset, model=group.model,
                              variable=group.variable, level_m=group.level_m, reference_time=group.reference_time,
                              valid_start=group.valid_start, valid_end=group.valid_end, cell_id=cell.cell_id,
                              bbox=cell.bbox, shape=(len(group.steps), cell.rows[1] - cell.rows[0],
                                                     cell.cols[1] - cell.cols[0]), size=size, sha256=sha,
                              transformation_version=TRANSFORMATION_VERSION, level_type=group.level_type))
        with lock:
            done[0] += len(group.message_indices)
            if progress:
                progress(done[0], len(messages))
        return tiles

    with ThreadPoolExecutor(tiles_at_once(groups, tile_format.slab_depth), thread_name_prefix="transform") as pool:
        futures = [pool.submit(one, group) for group in groups]
        try:
            return [tile for future in futures for tile in future.result()]
        except BaseException:
            for future in futures:
                future.cancel()  # groups not started yet; the running one ends at its next check or write
            raise


def _remove_unpublished(curated_store: ObjectStore, keys: list[str]) -> None:
    """Best effort: delete this attempt's objects of tiles that will not be published (``gc`` removes what a
    killed attempt left)."""
    for key in keys:
        try:
            for info in list(curated_store.list(key + "/")):
                curated_store.delete(info.key)
        except JackfruitError:
            continue


def _grib_identity(members: list) -> dict[str, Any]:
    """What the group's messages share (they were grouped by it), and where each one is in the raw object:
    a tile can be traced to its bytes without the catalog."""
    first = members[0]
    return {
        "grib_edition": first.edition, "grib_centre": first.centre, "grib_subCentre": first.sub_centre,
        "grib_discipline": first.discipline, "grib_parameterCategory": first.category,
        "grib_parameterNumber": first.number, "grib_constituentType": first.constituent_type,
        "grib_productDefinitionTemplateNumber": first.template,
        "grib_typeOfFirstFixedSurface": first.level_type, "grib_level": first.level,
        "grib_message_offsets": [m.offset for m in members],
        "grib_message_lengths": [m.length for m in members],
    }


def _attrs(profile: SourceProfile, raw_key: str, raw_sha256: str, run_id: str, group: Any) -> dict[str, Any]:
    """The tile's attributes: the variable's CF attributes, institution, licence and attribution (the dataset's
    profile), provenance and the transformation."""
    return {
        **profile.data_attributes(group.variable),
        "jackfruit_variable": group.variable,
        "institution": profile.institution(group.model),
        "license": profile.licence,
        "source_raw_key": raw_key,
        "source_raw_sha256": raw_sha256,
        "source_run_id": run_id,
        "transformation": TRANSFORMATION,
        "transformation_version": TRANSFORMATION_VERSION,
        "attribution": profile.attribution(group.reference_time.year),
    }
