"""Issue 17 findings 2 and 3 through the use cases: a transform that fails ends its attempt with the reason and is
claimed again at once; a failed ingestion whose upstream job is still held is resumed, never paid for twice."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from jackfruit.domain.errors import IntegrityError
from jackfruit.domain.model import AttemptKind, TransformStatus
from jackfruit.sources.cams_europe.synthetic import fields, write_cams_grib

from ..helpers import file_source, memory_app

CAMS = "cams-europe-air-quality-forecasts"
DAY = date(2025, 3, 12)
REQUEST = {"variable": ["ozone"], "leadtime_hour": [str(h) for h in range(4)], "area": [52.05, -2.05, 38.05, 12.05]}


@pytest.fixture(scope="module")
def grib(tmp_path_factory):
    path = tmp_path_factory.mktemp("grib") / "one.grib"
    write_cams_grib(path, fields([DAY], ["ensemble"], ["ozone"], [0], range(4)), area=(52.05, -2.05, 38.05, 12.05))
    return path


class _Failing:
    """A curated store whose writes fail with ``error`` while ``failing`` is set (every other call delegated)."""

    def __init__(self, inner, error):
        self._inner, self._error, self.failing = inner, error, True

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if name in ("put", "put_file") and self.failing:
            def refuse(*args, **kwargs):
                raise self._error
            return refuse
        return attr


def test_a_transform_failing_with_an_integrity_error_ends_failed_and_is_claimed_again_at_once(grib):
    from jackfruit.adapters.storage.memory_store import InMemoryObjectStore

    curated = _Failing(InMemoryObjectStore("jackfruit-curated"), IntegrityError("stored bytes differ from those sent"))
    app = memory_app(file_source(grib), curated_store=curated, lease_ttl=timedelta(minutes=10))
    run = app.ingest(CAMS, DAY, REQUEST)
    with pytest.raises(IntegrityError):
        app.transform(run.run_id)
    failed = app.run(run.run_id)
    # was: left transforming, its claim released; now the attempt ends with its reason
    assert failed.transform_status is TransformStatus.FAILED, failed.transform_status
    assert "integrity" in failed.transform_reason and "differ" in failed.transform_reason
    attempt = failed.lease(AttemptKind.TRANSFORM)
    assert attempt.ended_at is not None and attempt.outcome.startswith("failed: integrity")
    curated.failing = False
    tiles = app.transform(run.run_id)  # no lease to wait out, no --version needed
    again = app.run(run.run_id)
    assert tiles and again.transform_status is TransformStatus.PUBLISHED
    assert again.lease(AttemptKind.TRANSFORM).epoch == 2
    assert app.verify().problems == []


# -- finding 2: one upstream job per partition -------------------------------------------------------------------
class _DropsAfterSubmit:
    """Wraps a runner: the first ``run`` fails once the upstream job exists (as when the S3 server or the Go child
    is lost mid-ingest), with the job id attached as the runners do."""

    def __init__(self, inner, error):
        self._inner, self._error, self.armed = inner, error, True

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def run(self, job, on_event=None):
        if not self.armed:
            return self._inner.run(job, on_event)
        self.armed = False
        from jackfruit.ports.runner import with_upstream_job

        def stop_after_submit(event):
            if on_event is not None:
                on_event(event)
            if event.kind == "submitted":
                raise with_upstream_job(self._error, event.upstream_job_id)

        return self._inner.run(job, stop_after_submit)


def _failed_after_submit(grib):
    """An app whose first ingest failed once the upstream had made its job: the app, its runner, the failed run."""
    from jackfruit.domain.errors import BackendUnavailable
    from jackfruit.domain.model import RunStatus

    app = memory_app(file_source(grib))
    inner = app.runner
    app.runner = _DropsAfterSubmit(inner, BackendUnavailable("the raw store went away"))
    with pytest.raises(BackendUnavailable):
        app.ingest(CAMS, DAY, REQUEST)
    (failed,) = app.runs()
    assert failed.status is RunStatus.FAILED and failed.upstream_job_id
    return app, inner, failed


def test_a_failed_ingest_whose_job_is_still_held_is_resumed_not_submitted_again(grib):
    from jackfruit.domain.model import RunStatus

    app, inner, failed = _failed_after_submit(grib)
    assert len(inner.jobs) == 1
    run = app.ingest(CAMS, DAY, REQUEST)  # was: a new run and a second upstream job
    assert run.run_id == failed.run_id and run.status is RunStatus.SUCCEEDED
    assert run.upstream_job_id == failed.upstream_job_id and run.lease(AttemptKind.INGEST).epoch == 2
    assert len(inner.jobs) == 1 and len(inner.upstream_jobs) == 1, "a second upstream job was made"
    assert [a.outcome.split(":")[0] for a in run.attempts] == ["failed", "succeeded"]


def test_a_failed_ingest_whose_job_expired_upstream_gets_one_new_job_and_fresh_forces_one(grib):
    from jackfruit.domain.errors import BackendUnavailable
    from jackfruit.domain.model import RunStatus

    app, inner, failed = _failed_after_submit(grib)
    inner.set_status(failed.upstream_job_id, "expired")
    run = app.ingest(CAMS, DAY, REQUEST)  # the job is gone upstream: a new run, one new job
    assert run.run_id != failed.run_id and run.status is RunStatus.SUCCEEDED and len(inner.upstream_jobs) == 2
    # fresh: a new job even though the upstream still holds one (asked for)
    app.runner = _DropsAfterSubmit(inner, BackendUnavailable("lost"))
    with pytest.raises(BackendUnavailable):
        app.ingest(CAMS, DAY, REQUEST, supersede=True)
    again = app.ingest(CAMS, DAY, REQUEST, supersede=True, fresh=True)
    assert again.status is RunStatus.SUCCEEDED and len(inner.upstream_jobs) == 4


def test_a_take_over_with_no_recorded_job_finds_the_job_upstream(grib):
    """The submitter died between the upstream's accept and the record: the take-over searches, never submits."""
    from datetime import timedelta as td

    from jackfruit.domain.model import IngestionRun, RunStatus
    from jackfruit.domain.keys import RawKey

    app = memory_app(file_source(grib), lease_ttl=td(seconds=30))
    request = app.catalog.get_dataset(CAMS).request_for(DAY, REQUEST)
    job = app.runner.make_job(CAMS, request, status="successful")  # what the dead submitter left upstream
    rid, now = app.ids.new_run_id(), app.clock.now()
    app.catalog.claim_ingest(IngestionRun(run_id=rid, source="ads", dataset=CAMS, partition_date=DAY, request=request,
                                          status=RunStatus.PENDING, created_at=now,
                                          raw_key=str(RawKey("ads", CAMS, DAY, rid, "grib"))),
                             attempt_id=app.ids.new_run_id(), owner="killed:1", now=now, expires_at=now + td(seconds=1))
    app.clock.advance(td(seconds=2))
    run = app.ingest(CAMS, DAY, REQUEST)
    assert run.run_id == rid and run.upstream_job_id == job and run.status is RunStatus.SUCCEEDED
    assert app.runner.jobs == [] and len(app.runner.upstream_jobs) == 1, "the take-over submitted a second job"


def test_runs_shows_how_long_an_open_claims_lease_has_been_expired(tmp_path, monkeypatch, capsys):
    """Finding 3: `jackfruit runs` says how long a running run's lease has been expired (and what to do)."""
    from datetime import datetime, timezone

    from jackfruit import cli
    from jackfruit.app import Jackfruit
    from jackfruit.domain.keys import RawKey
    from jackfruit.domain.model import IngestionRun, RunStatus
    from jackfruit.settings import Settings

    for name in [k for k in __import__("os").environ if k.startswith(("JACKFRUIT_", "POSTGRES_", "MINIO_"))]:
        monkeypatch.delenv(name)
    with Jackfruit.from_settings(Settings(JACKFRUIT_DATA_DIR=str(tmp_path))) as app:
        start = datetime.now(timezone.utc) - timedelta(hours=3, minutes=5)
        rid = app.ids.new_run_id()
        request = app.catalog.get_dataset(CAMS).request_for(DAY, REQUEST)
        app.catalog.claim_ingest(IngestionRun(run_id=rid, source="ads", dataset=CAMS, partition_date=DAY,
                                              request=request, status=RunStatus.PENDING, created_at=start,
                                              raw_key=str(RawKey("ads", CAMS, DAY, rid, "grib"))),
                                 attempt_id=app.ids.new_run_id(), owner="gone:1", now=start,
                                 expires_at=start + timedelta(minutes=1))
    assert cli.main(["runs", "--data-dir", str(tmp_path)]) == 0
    line = capsys.readouterr().out.strip()
    assert rid in line and "ingest lease expired 3h04m ago" in line, line
