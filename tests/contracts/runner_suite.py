"""The Runner contract: one suite, bound to the in-memory runner and to the Go ingester (subprocess)."""

from __future__ import annotations

import hashlib
import os
from datetime import date

import pytest

from dataclasses import replace

from jackfruit.domain.errors import Conflict, IntegrityError, InvalidInput, UpstreamRefused
from jackfruit.domain.keys import RawKey, new_uuid7
from jackfruit.ports import IngestJob, JobQuery, RunnerEvent, Secret, Upstream, UpstreamJob, upstream_job_of

CAMS = "cams-europe-air-quality-forecasts"
DAY = date(2025, 3, 12)
REQUEST = {"variable": ["ozone", "nitrogen_dioxide"], "model": ["ensemble"], "level": ["0"],
           "date": ["2025-03-12/2025-03-12"], "type": ["forecast"], "time": ["00:00"],
           "leadtime_hour": ["0", "1", "2"], "data_format": "grib", "area": [50, 0, 45, 5]}


#: a jackfruit dataset whose upstream id is another one's (CAMS Europe's analyses: same process, ``type: analysis``)
ANALYSIS = "cams-europe-air-quality-forecasts-analysis"
ANALYSIS_REQUEST = {**REQUEST, "type": ["analysis"], "leadtime_hour": ["0"]}


def job(upstream: Upstream, request: dict | None = None, key: str | None = None, dataset: str = CAMS,
        **kw) -> IngestJob:
    run_id = new_uuid7(1741780800000, os.urandom(10))
    attempt = new_uuid7(1741780800000, os.urandom(10))
    return IngestJob(run_id, dataset, request or REQUEST, key or str(RawKey("ads", dataset, DAY, run_id, "grib")),
                     upstream, attempt_id=attempt, **kw)


def steps(events: list[RunnerEvent]) -> list[str]:
    return [f"submitted:{e.upstream_job_id}" if e.kind == "submitted" else f"phase:{e.phase}"
            for e in events if e.kind != "log"]


HELD, NOT_HELD = ("queued", "running", "successful"), ("failed", "expired")
UNKNOWN_JOB = "00000000-0000-4000-8000-000000000000"


class RunnerContract:
    """Subclasses provide fixtures ``env`` -> (runner, raw_store, upstream), ``submits`` -> a callable
    returning how many jobs were submitted upstream so far, and ``upstream_jobs`` -> an object whose
    ``make(request, status)`` makes a job of the upstream in a state (queued, running, successful, failed, expired:
    as another process would have left it) and returns its id, whose ``expire(job_id)`` purges a successful job's results,
    and whose ``datasets()`` lists the upstream dataset id each upstream job was made for, oldest first."""

    def test_lands_the_product_under_the_key_with_its_checksum(self, env):
        runner, store, upstream = env
        j = job(upstream)
        manifest = runner.run(j)
        body = store.get(j.raw_key)
        assert manifest.key == j.raw_key
        assert manifest.size == len(body) > 0
        assert manifest.sha256 == hashlib.sha256(body).hexdigest()
        assert body[:4] == b"GRIB" and body[-4:] == b"7777"
        assert manifest.upstream_job_id

    def test_existing_key_is_a_conflict_and_is_left_alone(self, env):
        runner, store, upstream = env
        j = job(upstream)
        runner.run(j)
        before = store.get(j.raw_key)
        with pytest.raises(Conflict):
            runner.run(job(upstream, {**REQUEST, "leadtime_hour": ["5"]}, key=j.raw_key))
        assert store.get(j.raw_key) == before

    def test_wrong_credentials_are_refused_without_leaking_them(self, env):
        runner, store, upstream = env
        bad = Upstream(upstream.base_url, Secret("wrong-key-s3cr3t"))
        j = job(bad)
        with pytest.raises(UpstreamRefused) as err:
            runner.run(j)
        assert "s3cr3t" not in str(err.value)
        assert not store.exists(j.raw_key)

    def test_malformed_request_is_invalid_input_and_stores_nothing(self, env):
        runner, store, upstream = env
        j = job(upstream, {**REQUEST, "variable": ["unobtainium"]})
        with pytest.raises(InvalidInput, match="unobtainium"):
            runner.run(j)
        assert not store.exists(j.raw_key)

    @pytest.mark.parametrize("key", ["ads/../x/2025-03-12/k.grib", "ADS/d/2025-03-12/k.grib", "ads/d/2025-13-01/k.grib"])
    def test_bad_raw_key_is_invalid_input(self, env, key):
        runner, store, upstream = env
        with pytest.raises(InvalidInput):
            runner.run(job(upstream, key=key))
        assert list(store.list()) == []

    def test_events_announce_the_job_before_the_commit_and_match_the_manifest(self, env):
        runner, store, upstream = env
        events: list[RunnerEvent] = []
        manifest = runner.run(job(upstream), events.append)
        assert steps(events) == ["phase:submit", f"submitted:{manifest.upstream_job_id}", "phase:poll",
                                 "phase:download", "phase:commit"]
        assert not manifest.adopted

    def test_resuming_follows_the_recorded_job_without_submitting_again(self, env, submits):
        runner, store, upstream = env
        first = runner.run(job(upstream))
        before = submits()
        j = job(upstream, resume_job_id=first.upstream_job_id)
        events: list[RunnerEvent] = []
        manifest = runner.run(j, events.append)
        assert submits() == before
        assert steps(events) == [f"submitted:{first.upstream_job_id}", "phase:poll", "phase:download",
                                 "phase:commit"]
        assert manifest.upstream_job_id == first.upstream_job_id and not manifest.adopted
        assert store.get(j.raw_key) == store.get(first.key)
        assert manifest.sha256 == first.sha256 and manifest.size == first.size

    def test_resuming_adopts_the_object_an_earlier_attempt_committed(self, env, submits):
        runner, store, upstream = env
        j = job(upstream)
        first = runner.run(j)
        before = submits()
        events: list[RunnerEvent] = []
        again = replace(j, attempt_id=new_uuid7(1741780800000, os.urandom(10)),
                        resume_job_id=first.upstream_job_id)
        manifest = runner.run(again, events.append)
        assert manifest.adopted and submits() == before
        assert (manifest.key, manifest.size, manifest.sha256, manifest.upstream_job_id) == (
            first.key, first.size, first.sha256, first.upstream_job_id)
        assert steps(events) == [f"submitted:{first.upstream_job_id}", "phase:poll", "phase:adopt"]
        with pytest.raises(Conflict):  # without the resume it is still a conflict
            runner.run(replace(j, attempt_id=again.attempt_id))

    def test_adopting_an_object_of_the_wrong_size_is_an_integrity_error_and_changes_nothing(self, env):
        runner, store, upstream = env
        first = runner.run(job(upstream))
        j = job(upstream, resume_job_id=first.upstream_job_id)
        store.put(j.raw_key, b"GRIB not this product 7777")
        with pytest.raises(IntegrityError) as err:
            runner.run(j)
        assert upstream_job_of(err.value) == first.upstream_job_id
        assert store.get(j.raw_key) == b"GRIB not this product 7777"

    def test_resuming_an_unknown_job_is_refused_with_its_id(self, env, submits):
        runner, store, upstream = env
        j = job(upstream, resume_job_id="00000000-0000-4000-8000-000000000000")
        with pytest.raises(UpstreamRefused) as err:
            runner.run(j)
        assert upstream_job_of(err.value) == j.resume_job_id
        assert not store.exists(j.raw_key) and submits() == 0

    # -- a dataset whose upstream id is another name -----------------------------------------------------------------
    def test_a_dataset_with_another_upstream_id_lands_under_its_key_and_the_upstream_sees_its_id(
            self, env, submits, upstream_jobs):
        runner, store, upstream = env
        j = job(upstream, ANALYSIS_REQUEST, dataset=ANALYSIS, upstream_dataset=CAMS)
        manifest = runner.run(j)
        assert manifest.key == j.raw_key and RawKey.parse(j.raw_key).dataset == ANALYSIS
        assert store.get(j.raw_key)[:4] == b"GRIB" and [o for o in store.list() if f"/{CAMS}/" in o.key] == []
        assert upstream_jobs.datasets() == [CAMS]
        query = JobQuery(ANALYSIS, ANALYSIS_REQUEST, upstream, upstream_dataset=CAMS)
        found = UpstreamJob(manifest.upstream_job_id, "successful")
        assert runner.find_job(query) == found and runner.job_status(query, manifest.upstream_job_id) == found
        # asked under the dataset's own name, the upstream knows no such job
        assert runner.find_job(replace(query, upstream_dataset=None)) is None
        assert runner.job_status(replace(query, upstream_dataset=None), manifest.upstream_job_id).status == "unknown"
        again = runner.run(replace(j, resume_job_id=manifest.upstream_job_id))
        assert again.adopted and again.upstream_job_id == manifest.upstream_job_id and submits() == 1

    def test_the_key_names_the_dataset_not_its_upstream_id(self, env, submits):
        runner, store, upstream = env
        j = job(upstream, ANALYSIS_REQUEST, dataset=ANALYSIS, upstream_dataset=CAMS)
        with pytest.raises(InvalidInput):
            runner.run(replace(j, raw_key=str(RawKey("ads", CAMS, DAY, j.run_id, "grib"))))
        assert list(store.list()) == [] and submits() == 0

    # -- questions about the upstream's jobs ---------------------------------------------------------------------------
    def test_a_submitted_job_is_found_held_and_its_status_answered_without_a_new_job(self, env, submits):
        runner, store, upstream = env
        manifest = runner.run(job(upstream))
        before = submits()
        reordered = dict(reversed(list(REQUEST.items())))  # the same request, keys in another order
        found = runner.find_job(JobQuery(CAMS, reordered, upstream))
        assert found == UpstreamJob(manifest.upstream_job_id, "successful") and found.held
        assert runner.job_status(JobQuery(CAMS, REQUEST, upstream), manifest.upstream_job_id) == found
        assert submits() == before

    def test_no_job_is_found_for_a_request_never_submitted(self, env, submits):
        runner, store, upstream = env
        runner.run(job(upstream))
        before = submits()
        assert runner.find_job(JobQuery(CAMS, {**REQUEST, "leadtime_hour": ["7"]}, upstream)) is None
        assert submits() == before

    @pytest.mark.parametrize("status", HELD + NOT_HELD)
    def test_the_status_of_a_job_in_each_state(self, env, submits, upstream_jobs, status):
        runner, store, upstream = env
        job_id = upstream_jobs.make(REQUEST, status)
        before = submits()
        answer = runner.job_status(JobQuery(CAMS, REQUEST, upstream), job_id)
        assert answer == UpstreamJob(job_id, status) and answer.held == (status in HELD)
        assert runner.find_job(JobQuery(CAMS, REQUEST, upstream)) == answer
        assert submits() == before

    def test_find_job_prefers_a_held_job_then_the_newest(self, env, submits, upstream_jobs):
        runner, store, upstream = env
        upstream_jobs.make(REQUEST, "successful")
        queued = upstream_jobs.make(REQUEST, "queued")
        upstream_jobs.make(REQUEST, "failed")  # the newest, not held
        assert runner.find_job(JobQuery(CAMS, REQUEST, upstream)) == UpstreamJob(queued, "queued")
        other = {**REQUEST, "leadtime_hour": ["3"]}
        upstream_jobs.make(other, "failed")
        expired = upstream_jobs.make(other, "expired")  # none held: the newest
        before = submits()
        assert runner.find_job(JobQuery(CAMS, other, upstream)) == UpstreamJob(expired, "expired")
        assert submits() == before

    def test_an_expired_product_and_an_unknown_job_are_answered(self, env, submits, upstream_jobs):
        runner, store, upstream = env
        manifest = runner.run(job(upstream))
        upstream_jobs.expire(manifest.upstream_job_id)
        before = submits()
        query = JobQuery(CAMS, REQUEST, upstream)
        assert runner.job_status(query, manifest.upstream_job_id) == UpstreamJob(manifest.upstream_job_id, "expired")
        assert not runner.find_job(query).held
        unknown = runner.job_status(query, UNKNOWN_JOB)
        assert unknown == UpstreamJob(UNKNOWN_JOB, "unknown") and not unknown.held
        assert runner.job_status(JobQuery("cams-global-reanalysis-eac4", REQUEST, upstream),
                                 manifest.upstream_job_id).status == "unknown"  # another dataset's job
        assert submits() == before

    def test_questions_with_wrong_credentials_are_refused_without_leaking_them(self, env, submits):
        runner, store, upstream = env
        manifest = runner.run(job(upstream))
        bad = JobQuery(CAMS, REQUEST, Upstream(upstream.base_url, Secret("wrong-key-s3cr3t")))
        with pytest.raises(UpstreamRefused) as err:
            runner.find_job(bad)
        assert "s3cr3t" not in str(err.value)
        with pytest.raises(UpstreamRefused) as err:
            runner.job_status(bad, manifest.upstream_job_id)
        assert "s3cr3t" not in str(err.value)
