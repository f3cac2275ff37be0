"""Issue 17 findings 2 and 3 through the use cases: a transform that fails ends its attempt with the reason and is
claimed again at once; a failed ingestion whose upstream job is still held is resumed, never paid for twice."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from jackfruit.domain.errors import IntegrityError
from jackfruit.domain.model import AttemptKind, TransformStatus
from jackfruit.synthetic.cams_grib import fields, write_cams_grib

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
