"""End to end: `jackfruit demo` on embedded defaults, then the CLI reads back what it made."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import xarray as xr

from jackfruit.app import Jackfruit
from jackfruit.demo import run_demo, search_window
from jackfruit.sources.cams_europe import codes as cams
from jackfruit.settings import Settings

from ..helpers import assemble, bits, ecc_reference

JACKFRUIT = str(Path(sys.executable).parent / "jackfruit")


def cli(*args: str, data_dir: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([JACKFRUIT, *args, "--data-dir", str(data_dir)], capture_output=True, text=True,
                          timeout=600, cwd=data_dir.parent, env={**os.environ, **(env or {})})


@pytest.mark.slow
def test_demo_runs_the_whole_path_and_the_cli_finds_its_tiles(tmp_path, stub_binary, ingest_binary):
    data = tmp_path / "data"
    out = cli("demo", "--json", "--lead-hours", "6", data_dir=data)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    run = summary["run"]
    assert run["status"] == "succeeded"
    raw = data / "buckets" / "jackfruit-raw" / run["raw_key"]
    assert hashlib.sha256(raw.read_bytes()).hexdigest() == run["raw_sha256"]
    assert raw.stat().st_size == run["raw_size"]
    assert summary["tiles"] == 4  # one whole-grid tile per species
    assert len(summary["search"]["tiles"]) == 2  # NO2 and O3, the two species the demo searches
    assert set(summary["search"]["means"]) == {"nitrogen_dioxide", "ozone"}

    tiles = cli("tiles", "--json", "--bbox", "2,48,3,49.5", "--start", "2025-03-12T00:00Z",
                "--end", "2025-03-12T03:00Z", data_dir=data)
    assert tiles.returncode == 0, tiles.stderr
    assert {t["variable"] for t in json.loads(tiles.stdout)} == {"nitrogen_dioxide", "ozone",
                                                                 "particulate_matter_2.5um", "particulate_matter_10um"}
    # the Go stub's GRIB went through the tiles bit-exact against ecCodes' own decode
    app = Jackfruit.from_settings(Settings(JACKFRUIT_DATA_DIR=str(data)))
    reference = ecc_reference(raw)
    fields = assemble(app, app.catalog.tiles_of_run(run["run_id"]), reference[0]["values"].shape, 71.95, -24.95)
    assert len(reference) == len(fields) == 4 * 7
    for m in reference:
        variable = cams.SPECIES_BY_CODE[(m["parameterNumber"], m["constituentType"])].name
        got = [v for k, v in fields.items() if k[1] == variable and k[4] == m["step"]]
        assert len(got) == 1 and (bits(got[0]) == bits(m["values"])).all()

    out_zarr = tmp_path / "paris.zarr"
    read = cli("read", "--json", "--bbox", "2,48,3,49.5", "--start", "2025-03-12T01:00Z", "--end", "2025-03-12T03:00Z",
               "--variable", "ozone", "--out", str(out_zarr), data_dir=data)
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout)["dims"] == {"forecast_reference_time": 1, "step": 2, "latitude": 15, "longitude": 10,
                                               "variable": 1}
    assert xr.open_zarr(out_zarr, consolidated=False)["ozone"].shape == (1, 2, 15, 10)

    lineage = json.loads(cli("lineage", "--json", "--raw-key", run["raw_key"], data_dir=data).stdout)
    assert len(lineage) == 4 and {e["raw_sha256"] for e in lineage} == {run["raw_sha256"]}
    assert json.loads(cli("runs", "--json", "--status", "failed", data_dir=data).stdout) == []

    runs = json.loads(cli("runs", "--json", data_dir=data).stdout)
    assert [r["run_id"] for r in runs] == [run["run_id"]]
    assert "jackfruit-demo-key" not in (data / "catalog.sqlite").read_bytes().decode("latin-1")


@pytest.mark.parametrize("args, code, words", [
    (("tiles", "--bbox", "10,0,5,5", "--start", "2025-03-12", "--end", "2025-03-13"), 2, "inverted"),
    (("tiles", "--bbox", "0,0,5,5", "--start", "2025-03-13", "--end", "2025-03-12"), 2, "not before"),
    (("tiles", "--bbox", "0,0,5,200", "--start", "2025-03-12", "--end", "2025-03-13"), 2, "outside"),
    (("tiles", "--bbox", "0,0,5,5", "--start", "2025-03-12", "--end", "2025-03-13"), 3, "no jackfruit data directory"),
    (("ingest", "--dataset", "no-such-dataset", "--date", "2025-03-12"), 3, "no-such-dataset"),
    (("ingest", "--date", "2025-02-30"), 2, "not a date"),
    (("transform", "01890c24-905b-7122-b170-b60814e6ee06"), 3, "no jackfruit data directory"),
])
def test_cli_bad_input_gets_a_named_error_and_exit_code(tmp_path, args, code, words):
    """On a fresh machine (no data directory yet); the full table against stored data: test_cli_errors.py."""
    out = cli(*args, data_dir=tmp_path / "data")
    assert out.returncode == code, (out.stdout, out.stderr)
    assert words in out.stderr + out.stdout
    assert "Traceback" not in out.stderr


def test_the_demo_search_window_starts_at_the_reference_time_and_ends_after_an_ingested_lead_time():
    for lead_hours in range(97):
        span = search_window(date(2025, 3, 12), lead_hours)
        assert span.start == datetime(2025, 3, 12, tzinfo=timezone.utc)  # lead time 0 is always ingested
        last = span.end - timedelta(hours=1)
        assert span.start <= last <= span.start + timedelta(hours=lead_hours)  # whole hours, all ingested


@pytest.mark.slow
@pytest.mark.parametrize("lead_hours", [0, 2])
def test_the_demo_finds_tiles_for_short_lead_times(monkeypatch, tmp_path, stub_binary, lead_hours):
    """``jackfruit demo --lead-hours 0|2`` used to search from 06:00 and always find nothing (exit 3)."""
    for name, value in {"JACKFRUIT_OBJECT_STORE": "memory", "JACKFRUIT_CATALOG": "memory",
                        "JACKFRUIT_RUNNER": "memory"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    summary = run_demo(data_dir=str(tmp_path / "data"), day=date(2025, 3, 12), lead_hours=lead_hours,
                       progress=False)
    assert len(summary["search"]["tiles"]) == 2, summary["text"]  # NO2 and O3 in the cell around Paris
    assert "jackfruit demo: OK" in summary["text"]
    assert list(tmp_path.iterdir()) == [], "the in-memory configuration wrote to disk"


@pytest.mark.parametrize("command", [("demo",), ("runs",)])
def test_invalid_settings_are_named_not_a_traceback(tmp_path, command):
    out = cli(*command, data_dir=tmp_path / "data", env={"JACKFRUIT_CATALOG": "oracle"})
    assert out.returncode == 2, out.stderr
    assert "JACKFRUIT_CATALOG" in out.stderr and "Traceback" not in out.stderr
