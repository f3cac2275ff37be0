"""Use case: land a GRIB file the user already has as one partition, through the same claim and write-once path.

The run's request is read from the file's own headers (``acceptance.request_from_headers``), so a file that
holds the dataset's whole template is the same partition as an ``ingest`` of that day. Everything the file
can be refused for (not GRIB, truncated, codes the table does not know, several dates, another date, a date
in the future, an unknown dataset) is checked before anything is stored. Then: claim the partition, put the
bytes write-once (size and SHA-256 verified against the file), run the acceptance check on the stored
object, and record ``succeeded`` or ``quarantined``. A re-run after a crash takes the open run over and
adopts an object already at its key.
"""

from __future__ import annotations

import hashlib
import os
from datetime import date, timedelta
from typing import Any

from jackfruit.domain import acceptance
from jackfruit.domain.errors import Conflict, IntegrityError, InvalidInput, JackfruitError, NotFound
from jackfruit.domain.keys import RawKey
from jackfruit.domain.model import AttemptKind, IngestionRun, RunStatus
from jackfruit.ports import Catalog, Clock, GribDecoder, IdGenerator, ObjectStore
from jackfruit.ports.source import SourceProfile

from .ingest import _quietly, check_landed, finish_landed
from .leases import Heartbeat
from .objects import hash_object


def _hash_file(path: str) -> tuple[int, str]:
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
        return f.tell(), digest


def _check_path(path: str) -> None:
    if not os.path.lexists(path):
        raise NotFound(f"no file {path}")
    if not os.path.isfile(path):
        raise InvalidInput(f"{path} is not a regular file")


def land_file(
    *,
    catalog: Catalog,
    raw_store: ObjectStore,
    decoder: GribDecoder,
    clock: Clock,
    ids: IdGenerator,
    path: str,
    dataset: str,
    profile: SourceProfile,
    day: date,
    owner: str,
    lease_ttl: timedelta,
    work_dir: str,
    supersede: bool = False,
) -> IngestionRun:
    """Land the file at ``path`` unchanged as ``dataset``'s partition ``day``; the run records the outcome."""
    definition = catalog.get_dataset(dataset)  # NotFound names an unknown dataset
    today = clock.now().date()
    if day > today:
        raise InvalidInput(f"date {day.isoformat()} is in the future (today is {today.isoformat()} UTC)")
    if profile.name != definition.name:
        raise InvalidInput(f"profile {profile.name!r} is not the profile of dataset {definition.name!r}")
    _check_path(path)
    name = os.path.basename(path)
    size, sha256 = _hash_file(path)
    request = acceptance.request_from_headers(decoder.scan(path, profile.grib_names), profile)  # InvalidInput: not GRIB, truncated, unnamed
    file_day = date.fromisoformat(request["date"][0][:10])
    if file_day != day:
        raise InvalidInput(f"date {day.isoformat()} is not the date of {name}: it holds {file_day.isoformat()}")
    origin = {"kind": "land", "file": name}
    run_id, attempt_id = ids.new_run_id(), ids.new_run_id()
    key = str(RawKey(definition.source, definition.name, day, run_id, definition.ext))
    candidate = IngestionRun(run_id=run_id, source=definition.source, dataset=definition.name, partition_date=day,
                             request=request, status=RunStatus.PENDING, created_at=clock.now(), raw_key=key,
                             details={"origin": origin})
    now = clock.now()
    run = catalog.claim_ingest(candidate, attempt_id=attempt_id, owner=owner, now=now, expires_at=now + lease_ttl,
                               supersede=supersede)
    epoch = run.lease(AttemptKind.INGEST).epoch
    with Heartbeat(catalog, clock, run.run_id, AttemptKind.INGEST, epoch, lease_ttl) as beat:
        try:
            stored_size, stored_sha, adopted = _put(raw_store, run, epoch, path, size, sha256)
            beat.check()
        except JackfruitError as err:
            beat.stop()
            if isinstance(err, Conflict) and beat.lost.is_set():
                raise  # someone else holds the claim now: record nothing
            reason = f"{err.kind}: {err}"
            _quietly(lambda: catalog.fail(run.run_id, epoch, now=clock.now(), reason=reason))
            raise
        except BaseException:
            beat.release()  # interrupted: the next land of this file takes the run over at once
            raise
        verdict = check_landed(catalog, raw_store, decoder, clock, run, epoch, beat, work_dir, attempt_id,
                               size=stored_size, sha256=stored_sha, job_id=run.upstream_job_id, scheme=profile)
        details: dict[str, Any] = dict(run.details)
        if adopted:
            details["adopted"] = True
        if not adopted or stored_sha == sha256:
            details["origin"] = origin
        done = finish_landed(catalog, clock, run, epoch, beat, verdict, size=stored_size, sha256=stored_sha,
                             job_id=run.upstream_job_id, details=details)
    if stored_sha != sha256:
        raise Conflict(f"run {run.run_id} of partition {dataset} {day} was open with another object already at "
                       f"{run.raw_key} (sha256 {stored_sha}, not {name}'s {sha256}); it was checked and recorded "
                       f"{done.status.value}; land {name} again (with supersede if it succeeded)")
    return done


def _put(raw_store: ObjectStore, run: IngestionRun, epoch: int, path: str, size: int,
         sha256: str) -> tuple[int, str, bool]:
    """Write the file's bytes write-once at the run's raw key and verify them: (size, sha256, adopted). A
    run taken over (epoch > 1) adopts an object an earlier attempt already committed there."""
    key = run.raw_key
    try:
        with open(path, "rb") as f:
            info = raw_store.put(key, f)
    except Conflict:
        if epoch == 1:
            raise
        got_size, got_sha = hash_object(raw_store, key)
        return got_size, got_sha, True
    got_sha = info.sha256 or hash_object(raw_store, key)[1]
    if (info.size, got_sha) != (size, sha256):
        raise IntegrityError(f"raw object {key} holds {info.size} bytes sha256 {got_sha}; the file "
                             f"{os.path.basename(path)} held {size} bytes sha256 {sha256} when it was checked "
                             "(did it change meanwhile?)")
    return info.size, got_sha, False
