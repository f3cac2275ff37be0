"""Acceptance and `jackfruit land` with real processes on the embedded defaults (Go ingester, ADS stub, filesystem raw
bucket), on each catalog backend: an ingest records its acceptance ledger; a landed file that does not match the
request read from it is quarantined (exit 5), kept byte for byte, never transformed, and reported by `runs` and
`coverage`; the real CAMS Europe download lands one date per file."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from jackfruit.adapters.transform.eccodes_decoder import EccodesGribDecoder
from jackfruit.synthetic.ads_stub import AdsStub
from jackfruit.sources.cams_europe.synthetic import fields, write_cams_grib

from ..conftest import REAL_CAMS, clean_environ

pytestmark = pytest.mark.slow

KEY = "land-test-key"
DAY = date(2025, 3, 12)
AREA = [52.05, -2.05, 50.05, 0.05]


@pytest.fixture
def world(tmp_path, catalog_env, stub_binary, ingest_binary):
    with AdsStub(api_key=KEY, binary=stub_binary) as stub:
        env = clean_environ()
        env.update(JACKFRUIT_DATA_DIR=str(tmp_path / "data"), ADS_BASE_URL=stub.url, ADS_API_KEY=KEY,
                   JACKFRUIT_INGEST_POLL_INITIAL_S="0.1", **catalog_env)
        yield env, stub, tmp_path / "data"


def cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jackfruit.cli", *argv], env=env, capture_output=True, text=True,
                          timeout=300)


def runs(env: dict[str, str]) -> list[dict]:
    done = cli(env, "runs", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_ingest_through_the_go_ingester_records_its_acceptance(world):
    env, stub, data = world
    request = {"variable": ["ozone", "nitrogen_dioxide"], "leadtime_hour": ["0", "1", "2"], "area": AREA}
    done = cli(env, "ingest", "--date", DAY.isoformat(), "--request", json.dumps(request))
    assert done.returncode == 0, done.stderr
    assert "accept   accepted: 6 of 6 requested messages" in done.stdout
    (run,) = runs(env)
    verdict = run["details"]["acceptance"]
    assert run["status"] == "succeeded" and verdict["ok"] is True
    assert verdict["expected"] == verdict["received"] == stub.jobs()[0]["asset"]["messages"] == 6
    assert verdict["received_axes"]["lead_times"] == "0..2"
    listing = cli(env, "runs")
    assert "[accepted: 6 of 6 requested messages]" in listing.stdout


def test_a_landed_file_that_does_not_match_is_quarantined_kept_and_reported(world, tmp_path):
    env, _, data = world
    ragged = tmp_path / "ragged.grib"
    write_cams_grib(ragged, fields([DAY], ["ensemble"], ["ozone"], [0], range(3))
                    + fields([DAY], ["ensemble"], ["nitrogen_dioxide"], [0], range(2)), area=tuple(AREA))
    before = sha(ragged)
    done = cli(env, "land", str(ragged), "--date", DAY.isoformat(), "--json")
    assert done.returncode == 5, done.stderr
    assert "quarantined: the file does not match its request" in done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "quarantined" and run["details"]["origin"] == {"kind": "land", "file": "ragged.grib"}
    assert "missing 1: nitrogen_dioxide/ensemble/0 m at +2 h" in run["failure_reason"]
    raw = data / "buckets" / "jackfruit-raw" / run["raw_key"]
    assert sha(raw) == sha(ragged) == before == run["raw_sha256"]  # the file unchanged, the evidence kept
    refused = cli(env, "transform", run["run_id"])
    assert refused.returncode == 4 and "quarantined" in refused.stderr
    listing = cli(env, "runs")
    assert "quarantined" in listing.stdout and "missing 1: nitrogen_dioxide/ensemble/0 m at +2 h" in listing.stdout
    coverage = cli(env, "coverage", "cams-europe-air-quality-forecasts", "--from", "2025-03-12", "--to", "2025-03-12",
                   "--json")
    (day,) = json.loads(coverage.stdout)
    assert day["state"] == "quarantined" and day["detail"] == run["failure_reason"]
    assert cli(env, "verify").returncode == 0


def test_the_real_cams_europe_download_lands_one_date_per_file(world, tmp_path):
    env, _, data = world
    whole = cli(env, "land", str(REAL_CAMS), "--date", "2022-08-13")
    assert whole.returncode == 2 and "spans 3 dates (2022-08-13, 2022-08-14, 2022-08-15)" in whole.stderr
    assert runs(env) == []
    msg = EccodesGribDecoder().scan(str(REAL_CAMS))[0]
    one = tmp_path / "mugwort-2022-08-13.grib"
    one.write_bytes(REAL_CAMS.read_bytes()[msg.offset:msg.offset + msg.length])
    wrong = cli(env, "land", str(one), "--date", "2022-08-14")
    assert wrong.returncode == 2 and "2022-08-14 is not the date of mugwort-2022-08-13.grib" in wrong.stderr
    done = cli(env, "land", str(one), "--date", "2022-08-13", "--json")
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["request"]["variable"] == ["mugwort_pollen"] and "area" not in run["request"]
    assert run["details"]["acceptance"]["ok"] is True
    again = cli(env, "land", str(one), "--date", "2022-08-13")
    assert again.returncode == 4 and run["run_id"] in again.stderr  # the partition already succeeded
    tiles = cli(env, "transform", run["run_id"])
    assert tiles.returncode == 0, tiles.stderr
