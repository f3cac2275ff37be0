"""The official ecmwf-datastores-client retrieves from ads-stub; the stub's own record proves the job lifecycle."""

from __future__ import annotations

import hashlib

import eccodes
import pytest

REQUEST = {"variable": ["ozone", "particulate_matter_10um"], "model": ["ensemble"], "level": ["0"],
           "date": ["2025-03-12/2025-03-12"], "type": ["forecast"], "time": ["00:00"],
           "leadtime_hour": ["0", "6", "12"], "data_format": "grib", "area": [49.5, 1.5, 47.5, 3.5]}


def test_official_client_retrieves_exactly_what_was_requested(ads_stub, tmp_path):
    from ecmwf.datastores import Client

    client = Client(url=ads_stub.url, key=ads_stub.api_key, retry_after=0.1, sleep_max=0.2, maximum_tries=3,
                    progress=False)
    target = tmp_path / "out.grib"
    client.retrieve("cams-europe-air-quality-forecasts", REQUEST, target=str(target))

    (job,) = ads_stub.jobs()
    statuses = [h["status"] for h in job["history"]]
    assert statuses[:3] == ["accepted", "running", "successful"], statuses
    body = target.read_bytes()
    assert job["asset"]["sha256"] == hashlib.sha256(body).hexdigest()
    assert job["asset"]["size"] == len(body)

    seen = []
    with open(target, "rb") as f:
        while (h := eccodes.codes_grib_new_from_file(f)) is not None:
            seen.append((eccodes.codes_get(h, "constituentType"), eccodes.codes_get(h, "forecastTime"),
                         eccodes.codes_get(h, "Ni"), eccodes.codes_get(h, "Nj"),
                         eccodes.codes_get(h, "latitudeOfFirstGridPointInDegrees"),
                         eccodes.codes_get(h, "longitudeOfFirstGridPointInDegrees")))
            eccodes.codes_release(h)
    assert [(c, s) for c, s, *_ in seen] == [(0, 0), (0, 6), (0, 12), (40008, 0), (40008, 6), (40008, 12)]
    assert {(ni, nj) for _, _, ni, nj, _, _ in seen} == {(20, 20)}  # snapped inward to cell centres
    assert {(lat, lon) for *_, lat, lon in seen} == {(49.45, 1.55)}


def test_official_client_sees_the_stubs_validation_error(ads_stub):
    from ecmwf.datastores import Client

    client = Client(url=ads_stub.url, key=ads_stub.api_key, retry_after=0.1, sleep_max=0.2, maximum_tries=2,
                    progress=False)
    with pytest.raises(Exception, match="leadtime_hour|97"):
        client.submit("cams-europe-air-quality-forecasts", {**REQUEST, "leadtime_hour": ["97"]})
