"""The ingester's command line names the upstream dataset id when a job or a query has one (``--upstream-dataset``),
and only then: old callers' argv is unchanged."""

from __future__ import annotations

import pytest

from jackfruit.adapters.runner.ingester_protocol import build_args, job_status_args, query_args
from jackfruit.domain.errors import InvalidInput
from jackfruit.ports import IngestJob, JobQuery, Secret, SinkTarget, Upstream

UP = Upstream("http://127.0.0.1:9/api", Secret("k"))
KEY = "ads/cams-europe-air-quality-forecasts-analysis/2025-03-12/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.grib"
SINK = SinkTarget("file:///tmp/raw")


def flag(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def test_the_upstream_dataset_is_passed_to_an_ingest_and_to_a_query():
    job = IngestJob("r", "cams-europe-air-quality-forecasts-analysis", {}, KEY, UP,
                    upstream_dataset="cams-europe-air-quality-forecasts")
    args = build_args("jackfruit-ingest", job, SINK, 60)
    assert flag(args, "--dataset") == "cams-europe-air-quality-forecasts-analysis"
    assert flag(args, "--upstream-dataset") == "cams-europe-air-quality-forecasts" == job.upstream_id
    query = JobQuery(job.dataset, {}, UP, upstream_dataset=job.upstream_dataset)
    args = query_args("jackfruit-ingest", query, job_status_args("j1"), 60)
    assert flag(args, "--upstream-dataset") == "cams-europe-air-quality-forecasts" == query.upstream_id


def test_without_an_upstream_dataset_the_argv_is_as_before():
    job = IngestJob("r", "cams-europe-air-quality-forecasts", {}, KEY, UP)
    assert "--upstream-dataset" not in build_args("jackfruit-ingest", job, SINK, 60)
    assert job.upstream_id == job.dataset
    query = JobQuery(job.dataset, {}, UP)
    assert "--upstream-dataset" not in query_args("jackfruit-ingest", query, ["--find-job"], 60)


def test_an_empty_upstream_dataset_is_invalid_input():
    job = IngestJob("r", "d", {}, KEY, UP, upstream_dataset="")
    with pytest.raises(InvalidInput, match="upstream dataset"):
        build_args("jackfruit-ingest", job, SINK, 60)
