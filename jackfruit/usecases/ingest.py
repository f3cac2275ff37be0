"""Use case: ingest one partition (day) of a dataset into the raw store and record the run."""

from __future__ import annotations

from datetime import date
from typing import Any, Mapping

from jackfruit.domain import cams
from jackfruit.domain.errors import IntegrityError, InvalidInput, JackfruitError
from jackfruit.domain.keys import RawKey
from jackfruit.domain.model import IngestionRun, RunStatus
from jackfruit.ports import Catalog, Clock, IdGenerator, IngestJob, ObjectStore, Runner, Upstream


def _check_request(dataset_variables: tuple[str, ...], request: Mapping[str, Any]) -> None:
    variables = request.get("variable")
    if isinstance(variables, str):
        variables = [variables]
    if not variables:
        raise InvalidInput("the request names no variable")
    unknown = [v for v in variables if v not in dataset_variables]
    if unknown:
        raise InvalidInput(f"variable(s) {unknown} are not produced by this dataset")
    cams.check_variables(list(variables))


def ingest_partition(
    *,
    catalog: Catalog,
    runner: Runner,
    raw_store: ObjectStore,
    clock: Clock,
    ids: IdGenerator,
    upstream: Upstream,
    dataset: str,
    day: date,
    overrides: Mapping[str, Any] | None = None,
    orchestrator_run_id: str | None = None,
) -> IngestionRun:
    """Land one day of ``dataset`` unchanged under a new raw key; the run records the outcome either way."""
    definition = catalog.get_dataset(dataset)
    if not upstream.api_key:
        raise InvalidInput(f"no API key for {upstream.base_url}: set ADS_API_KEY (it is never logged or stored)")
    request = definition.request_for(day, overrides)
    _check_request(definition.variables, request)
    run_id = ids.new_run_id()
    key = str(RawKey(definition.source, definition.name, day, run_id, definition.ext))
    run = IngestionRun(run_id=run_id, source=definition.source, dataset=definition.name, partition_date=day,
                       request=request, status=RunStatus.PENDING, created_at=clock.now(), raw_key=key,
                       orchestrator_run_id=orchestrator_run_id)
    catalog.add_run(run)
    run = run.start(clock.now())
    catalog.update_run(run)
    try:
        manifest = runner.run(IngestJob(run_id, definition.name, request, key, upstream))
        if manifest.key != key:
            raise IntegrityError(f"the ingester stored {manifest.key!r}, not the requested {key!r}")
        stored = raw_store.head(key)
        if stored.size != manifest.size:
            raise IntegrityError(f"raw object {key} holds {stored.size} bytes; the ingester reported {manifest.size}")
    except JackfruitError as err:
        catalog.update_run(run.fail(clock.now(), f"{err.kind}: {err}"))
        raise
    except BaseException as err:  # interrupted or a bug: the run must not stay 'running'
        catalog.update_run(run.fail(clock.now(), f"interrupted: {type(err).__name__}"))
        raise
    run = run.succeed(clock.now(), manifest.size, manifest.sha256, manifest.upstream_job_id, manifest.details)
    catalog.update_run(run)
    return run
