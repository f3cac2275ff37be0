"""Acceptance after landing (ingest) and landing a file the user already has (land), on in-memory adapters: a file
that does not match its request ends the run quarantined with the reason, kept as evidence, never transformed;
crashes and I/O failures between landing and the verdict leave a run the next attempt takes over and checks."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any, Mapping

import pytest

from jackfruit.adapters.storage.memory_store import InMemoryObjectStore
from jackfruit.adapters.transform.eccodes_decoder import EccodesGribDecoder
from jackfruit.domain.errors import BackendUnavailable, Conflict, IntegrityError, InvalidInput, NotFound
from jackfruit.domain.model import AttemptKind, RunStatus
from jackfruit.domain.tiling import GRIB_NAMES
from jackfruit.sources.cams_europe.synthetic import fields, grib_for_request, write_cams_grib

from ..conftest import REAL_CAMS
from ..helpers import memory_app

CAMS = "cams-europe-air-quality-forecasts"
DAY = date(2025, 3, 12)
AREA = [52.05, -2.05, 50.05, 0.05]  # 21 x 22 points: fast
ASK = {"variable": ["nitrogen_dioxide", "ozone"], "leadtime_hour": ["0", "1", "2", "3"], "area": AREA}


def tampered(**change: Any):
    """The upstream: what the ADS would serve for the request with ``change`` applied to it."""
    def make(dataset: str, request: Mapping[str, Any]) -> bytes:
        return grib_for_request(dataset, {**request, **change})
    return make


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def test_a_matching_file_succeeds_with_the_acceptance_ledger():
    app = memory_app(grib_for_request)
    run = app.ingest(CAMS, DAY, ASK)
    verdict = run.details["acceptance"]
    assert run.status is RunStatus.SUCCEEDED and verdict["ok"] is True
    assert verdict["expected"] == verdict["received"] == 8 and verdict["missing_count"] == 0
    assert run.details["runner"] == "memory"  # the runner's details are kept next to it
    assert len(app.transform(run.run_id)) == 2


@pytest.mark.parametrize("change, words", [
    ({"leadtime_hour": ["0", "1", "2"]},
     ["asked for 4 lead times 0..3, file holds 0..2", "missing 2: nitrogen_dioxide/ensemble/0 m at +3 h, "
      "ozone/ensemble/0 m at +3 h", "expected 8 messages, file holds 6"]),
    ({"variable": ["nitrogen_dioxide", "ozone", "ammonia"]},
     ["asked for 2 variables nitrogen_dioxide, ozone, file holds ammonia, nitrogen_dioxide, ozone",
      "unexpected 4: ammonia/ensemble/0 m at +0 h"]),
    ({"date": ["2025-03-11/2025-03-11"]},
     ["asked for 1 date 2025-03-12, file holds 2025-03-11", "missing 8: nitrogen_dioxide/ensemble/0 m at +0 h of "
      "2025-03-12T00Z"]),
    ({"area": [55.05, -2.05, 50.05, 0.05]}, ["is not within the requested area [N 52.05, W -2.05, S 50.05, E 0.05]"]),
])
def test_a_file_that_does_not_match_is_quarantined_kept_and_never_transformed(change, words):
    app = memory_app(tampered(**change))
    run = app.ingest(CAMS, DAY, ASK)
    assert run.status is RunStatus.QUARANTINED
    for w in words:
        assert w in run.failure_reason
    assert run.details["acceptance"]["ok"] is False and run.details["acceptance"]["reason"] == run.failure_reason
    body = app.raw_store.get(run.raw_key)  # kept as evidence, recorded
    assert (run.raw_size, run.raw_sha256) == (len(body), sha(body)) and run.upstream_job_id == "memory-1"
    with pytest.raises(Conflict, match="quarantined; only a succeeded ingestion can be transformed"):
        app.transform(run.run_id)
    assert list(app.curated_store.list()) == []
    (day,) = app.coverage(CAMS, DAY, DAY)
    assert day.state == "quarantined" and day.detail == run.failure_reason
    again = app.ingest(CAMS, DAY, ASK)  # a quarantined partition may be ingested again: a new run
    assert again.run_id != run.run_id and app.raw_store.exists(run.raw_key)


@pytest.mark.parametrize("body, words", [
    (b"<html>503 Service Unavailable</html>", "is not a GRIB file"),
    (None, "truncated or corrupt"),
])
def test_a_non_grib_or_truncated_object_is_quarantined_naming_the_problem(body, words):
    whole = grib_for_request(CAMS, {**ASK, "date": [f"{DAY}/{DAY}"]})
    body = body if body is not None else whole[: len(whole) - 500]
    app = memory_app(lambda d, r: body)
    run = app.ingest(CAMS, DAY, ASK)
    assert run.status is RunStatus.QUARANTINED and words in run.failure_reason
    assert run.failure_reason.startswith("the file cannot be read: ")
    assert app.raw_store.get(run.raw_key) == body and run.raw_sha256 == sha(body)


class FlakyDecoder(EccodesGribDecoder):
    """Fails its first ``scan`` calls with ``error`` (an I/O failure, or an interrupt like SIGINT)."""

    def __init__(self, *errors: BaseException) -> None:
        super().__init__()
        self.errors = list(errors)

    def scan(self, path, names=GRIB_NAMES):
        if self.errors:
            raise self.errors.pop(0)
        return super().scan(path, names)


@pytest.mark.parametrize("error", [BackendUnavailable("the disk went away"), KeyboardInterrupt()])
def test_a_header_read_that_fails_for_io_or_is_interrupted_leaves_the_run_to_take_over(error):
    app = memory_app(tampered(leadtime_hour=["0", "1", "2"]), decoder=FlakyDecoder(error))
    with pytest.raises(type(error)):
        app.ingest(CAMS, DAY, ASK)
    (open_run,) = app.runs()
    assert open_run.status is RunStatus.RUNNING and app.raw_store.exists(open_run.raw_key)  # not failed, not quarantined
    assert not open_run.lease(AttemptKind.INGEST).live(app.clock.now())  # released: the next attempt takes over
    run = app.ingest(CAMS, DAY, ASK)
    assert (run.run_id, run.lease(AttemptKind.INGEST).epoch) == (open_run.run_id, 2)
    assert run.details["adopted"] is True and len(app.runner.jobs) == 1  # resumed, not submitted again
    assert run.status is RunStatus.QUARANTINED and "file holds 0..2" in run.failure_reason  # the re-run checked it


def test_a_killed_ingest_after_landing_is_taken_over_and_checked():
    """A process killed between landing and the verdict (nothing released: its lease runs out), the next ingest
    resumes the recorded job, adopts the object and runs the acceptance check."""
    app = memory_app(grib_for_request)

    class Killed(BaseException):
        pass

    app.decoder = FlakyDecoder(Killed())
    with pytest.raises(Killed):
        app.ingest(CAMS, DAY, ASK)
    app.clock.advance(timedelta(minutes=5))
    app.decoder = EccodesGribDecoder()
    run = app.ingest(CAMS, DAY, ASK)
    assert run.status is RunStatus.SUCCEEDED and run.details["adopted"] is True
    assert run.details["acceptance"]["ok"] is True and run.lease(AttemptKind.INGEST).epoch == 2


# -- land -------------------------------------------------------------------------------------------------------
@pytest.fixture
def small(tmp_path):
    path = tmp_path / "no2-o3 day.grib"
    write_cams_grib(path, fields([DAY], ["ensemble"], ["nitrogen_dioxide", "ozone"], [0, 50], range(3)),
                    area=tuple(AREA))
    return path


def test_land_stores_the_file_unchanged_with_a_request_read_from_it(small):
    app = memory_app(lambda d, r: b"")
    before = sha(small.read_bytes())
    run = app.land(small, dataset=CAMS, partition_date=DAY)
    assert run.status is RunStatus.SUCCEEDED and run.details["acceptance"]["ok"] is True
    assert run.details["origin"] == {"kind": "land", "file": "no2-o3 day.grib"}
    assert run.request == {"variable": ["nitrogen_dioxide", "ozone"], "model": ["ensemble"], "level": ["0", "50"],
                           "type": ["forecast"], "time": ["00:00"], "leadtime_hour": ["0", "1", "2"],
                           "data_format": "grib", "date": ["2025-03-12/2025-03-12"], "area": AREA}
    assert sha(small.read_bytes()) == before == run.raw_sha256 == sha(app.raw_store.get(run.raw_key))
    assert run.raw_key == f"ads/{CAMS}/2025-03-12/{run.run_id}.grib" and app.runner.jobs == []
    with pytest.raises(Conflict, match=f"already has succeeded run {run.run_id}"):
        app.land(small, dataset=CAMS, partition_date=DAY)
    newer = app.land(small, dataset=CAMS, partition_date=DAY, supersede=True)
    assert newer.supersedes == run.run_id and newer.raw_key != run.raw_key
    assert len(app.transform(newer.run_id)) == 4


def test_a_ragged_file_is_landed_quarantined_naming_each_hole(tmp_path):
    path = tmp_path / "ragged.grib"
    write_cams_grib(path, fields([DAY], ["ensemble"], ["ozone"], [0], range(3))
                    + fields([DAY], ["ensemble"], ["nitrogen_dioxide"], [0], range(2)), area=tuple(AREA))
    app = memory_app(lambda d, r: b"")
    run = app.land(path, dataset=CAMS, partition_date=DAY)
    assert run.status is RunStatus.QUARANTINED and run.details["origin"]["file"] == "ragged.grib"
    assert "missing 1: nitrogen_dioxide/ensemble/0 m at +2 h" in run.failure_reason
    assert app.raw_store.get(run.raw_key) == path.read_bytes()


def test_the_real_cams_europe_file_lands_one_date_at_a_time(tmp_path):
    app = memory_app(lambda d, r: b"")
    with pytest.raises(InvalidInput, match=r"spans 3 dates \(2022-08-13, 2022-08-14, 2022-08-15\)"):
        app.land(REAL_CAMS, dataset=CAMS, partition_date=date(2022, 8, 13))
    assert app.runs() == [] and list(app.raw_store.list()) == []
    first = EccodesGribDecoder().scan(str(REAL_CAMS))[1]  # the real bytes of one message: 2022-08-14
    one = tmp_path / "mugwort-2022-08-14.grib"
    one.write_bytes(REAL_CAMS.read_bytes()[first.offset:first.offset + first.length])
    run = app.land(one, dataset=CAMS, partition_date=date(2022, 8, 14))
    assert run.status is RunStatus.SUCCEEDED, run.failure_reason
    assert run.request == {"variable": ["mugwort_pollen"], "model": ["ensemble"], "level": ["0"],
                           "type": ["forecast"], "time": ["00:00"], "leadtime_hour": ["0"], "data_format": "grib",
                           "date": ["2022-08-14/2022-08-14"]}  # the whole domain: no area, as the ADS request had
    assert run.details["acceptance"]["expected"] == run.details["acceptance"]["received"] == 1
    (tile,) = app.transform(run.run_id)
    assert tile.variable == "mugwort_pollen" and tile.shape == (1, 420, 700)


def test_bad_input_is_refused_naming_the_problem_and_stores_nothing(small, tmp_path):
    app = memory_app(lambda d, r: b"")
    text = tmp_path / "notes.grib"
    text.write_bytes(b"not a grib file\n")
    cut = tmp_path / "cut.grib"
    cut.write_bytes(small.read_bytes()[:-300])
    other = tmp_path / "ncep.grib"
    other.write_bytes((REAL_CAMS.parent / "ecmwf_multi_param_on_multi_dims.grib").read_bytes())
    cases = [
        (lambda: app.land(text, dataset=CAMS, partition_date=DAY), InvalidInput, "notes.grib is not a GRIB file"),
        (lambda: app.land(cut, dataset=CAMS, partition_date=DAY), InvalidInput, "cut.grib: message 12 .*truncated"),
        (lambda: app.land(other, dataset=CAMS, partition_date=DAY), InvalidInput, "48 of 48 messages cannot be named"),
        (lambda: app.land(small, dataset="no-such-dataset", partition_date=DAY), NotFound, "no-such-dataset"),
        (lambda: app.land(small, dataset=CAMS, partition_date=date(2099, 1, 1)), InvalidInput,
         "2099-01-01 is in the future"),
        (lambda: app.land(small, dataset=CAMS, partition_date=date(2025, 3, 11)), InvalidInput,
         "2025-03-11 is not the date of no2-o3 day.grib: it holds 2025-03-12"),
        (lambda: app.land(tmp_path / "absent.grib", dataset=CAMS, partition_date=DAY), NotFound, "absent.grib"),
        (lambda: app.land(tmp_path, dataset=CAMS, partition_date=DAY), InvalidInput, "not a regular file"),
    ]
    for call, error, words in cases:
        with pytest.raises(error, match=words):
            call()
    assert app.runs() == [] and list(app.raw_store.list()) == []


def test_a_store_that_keeps_other_bytes_fails_the_run_saying_why(small):
    class Mangling(InMemoryObjectStore):
        def put(self, key, data):
            return super().put(key, data.read()[:-1] + b"!")

    app = memory_app(lambda d, r: b"", raw_store=Mangling("jackfruit-raw", write_once=True))
    with pytest.raises(IntegrityError, match="did it change meanwhile"):
        app.land(small, dataset=CAMS, partition_date=DAY)
    (run,) = app.runs()
    assert run.status is RunStatus.FAILED and "integrity: raw object" in run.failure_reason


def test_an_interrupted_land_is_taken_over_by_the_next_and_adopts_its_object(small):
    app = memory_app(lambda d, r: b"", decoder=FlakyDecoder())
    app.decoder.errors = []
    real_scan = app.decoder.scan
    calls = []

    def scan(path, names=GRIB_NAMES):
        calls.append(path)
        if len(calls) == 2:  # the first land's check of the stored object
            raise KeyboardInterrupt
        return real_scan(path, names)

    app.decoder.scan = scan
    with pytest.raises(KeyboardInterrupt):
        app.land(small, dataset=CAMS, partition_date=DAY)
    (open_run,) = app.runs()
    assert open_run.status is RunStatus.RUNNING and app.raw_store.exists(open_run.raw_key)
    run = app.land(small, dataset=CAMS, partition_date=DAY)
    assert (run.run_id, run.status, run.details["adopted"]) == (open_run.run_id, RunStatus.SUCCEEDED, True)
    assert run.details["origin"]["file"] == small.name and len(list(app.raw_store.list())) == 1
