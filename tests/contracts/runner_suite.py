"""The Runner contract: one suite, bound to the in-memory runner and to the Go ingester (subprocess)."""

from __future__ import annotations

import hashlib
import os
from datetime import date

import pytest

from jackfruit.domain.errors import Conflict, InvalidInput, UpstreamRefused
from jackfruit.domain.keys import RawKey, new_uuid7
from jackfruit.ports import IngestJob, Secret, Upstream

CAMS = "cams-europe-air-quality-forecasts"
DAY = date(2025, 3, 12)
REQUEST = {"variable": ["ozone", "nitrogen_dioxide"], "model": ["ensemble"], "level": ["0"],
           "date": ["2025-03-12/2025-03-12"], "type": ["forecast"], "time": ["00:00"],
           "leadtime_hour": ["0", "1", "2"], "data_format": "grib", "area": [50, 0, 45, 5]}


def job(upstream: Upstream, request: dict | None = None, key: str | None = None) -> IngestJob:
    run_id = new_uuid7(1741780800000, os.urandom(10))
    return IngestJob(run_id, CAMS, request or REQUEST, key or str(RawKey("ads", CAMS, DAY, run_id, "grib")), upstream)


class RunnerContract:
    """Subclasses provide fixture ``env`` -> (runner, raw_store, upstream)."""

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
