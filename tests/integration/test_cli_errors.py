"""Bad input or a failed backend: every subcommand answers with a named problem and its documented exit code,
never a traceback, and changes nothing stored.

One table of (argv, environment, exit code, message fragment), run as a new user would: the ``jackfruit``
command in a subprocess, against a data directory that already holds one small ingested and transformed run
(embedded filesystem buckets + SQLite catalog, the product made in process by ``JACKFRUIT_RUNNER=memory``).
Around every case the whole directory tree is snapshotted (path, size, SHA-256 of every file; the SQLite
catalog by its content, read through a read-only connection, since WAL checkpoints may change its bytes).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from jackfruit import cli
from jackfruit.sources.cams_europe.request import check_request

CAMS = "cams-europe-air-quality-forecasts"
UNKNOWN_RUN = "01890c24-905b-7122-b170-b60814e6ee06"  # a valid UUIDv7 no catalog holds
# the fixture's run covers [north 50, west 0, south 45, east 5], lead times 0 and 1 of 2025-03-12
QUERY = ("--start", "2025-03-12T00:00Z", "--end", "2025-03-12T03:00Z")
HERE = ("--bbox", "1,46,2,47", *QUERY)
SMALL = json.dumps({"variable": "ozone", "leadtime_hour": "0", "area": [50, 0, 45, 5]})  # if a check were missing
#: a day the upstream cannot have yet (today, UTC, may already be there)
DAY_AFTER_TOMORROW = (datetime.now(timezone.utc).date() + timedelta(days=2)).isoformat()


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any jackfruit/ADS/MinIO/Postgres setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JACKFRUIT_", "ADS_", "MINIO_", "POSTGRES_"))}
    return {**env, "JACKFRUIT_RUNNER": "memory", "ADS_API_KEY": "test-key", **extra}


def run_cli(argv: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jackfruit.cli", *argv], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=clean_env(**(env or {})))


def catalog_content(path: Path) -> dict[str, Any]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        content: dict[str, Any] = {"schema": sorted(db.execute("SELECT type, name, sql FROM sqlite_master")),
                                   "user_version": db.execute("PRAGMA user_version").fetchone()[0]}
        for table in tables:
            content[table] = sorted(repr(row) for row in db.execute(f'SELECT * FROM "{table}"'))
        return content
    finally:
        db.close()


def snapshot(root: Path) -> dict[str, Any]:
    """Every directory and file under ``root`` (size + SHA-256), the catalog by content."""
    tree: dict[str, Any] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.name.startswith("catalog.sqlite"):  # the database and its -wal / -shm files
            continue
        tree[rel] = "dir" if path.is_dir() else (path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())
    tree["catalog content"] = catalog_content(root / "data" / "catalog.sqlite")
    return tree


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Any]:
    """``root/data``: one small run ingested and transformed through the CLI; ``root/existing.zarr``: a folder;
    ``root/a-file``: a regular file."""
    root = tmp_path_factory.mktemp("cli-errors")
    data = root / "data"
    request = {"variable": ["ozone", "nitrogen_dioxide"], "leadtime_hour": ["0", "1"], "area": [50, 0, 45, 5]}
    ingest = run_cli(["ingest", "--json", "--date", "2025-03-12", "--request", json.dumps(request),
                      "--data-dir", str(data)], cwd=root)
    assert ingest.returncode == 0, ingest.stderr
    run = json.loads(ingest.stdout)
    transform = run_cli(["transform", run["run_id"], "--data-dir", str(data)], cwd=root)
    assert transform.returncode == 0, transform.stderr
    (root / "existing.zarr").mkdir()
    (root / "existing.zarr" / "keep.txt").write_text("mine\n")
    (root / "a-file").write_text("not a directory\n")
    return {"root": root, "data": data, "run_id": run["run_id"], "raw_key": run["raw_key"]}


def case(*argv: str, code: int, says: str, env: dict[str, str] | None = None, id: str) -> Any:  # noqa: A002
    return pytest.param(list(argv), env or {}, code, says, id=id)


CASES = [
    # -- ingest: the request is checked field by field before any run is recorded (finding 1)
    case("ingest", "--date", "2025-03-12", "--request", '{"variable": 5}', code=2, says="'variable'",
         id="ingest-variable-not-a-string"),
    case("ingest", "--date", "2025-03-12", "--request", "null", code=2, says="--request must be a JSON object",
         id="ingest-request-null"),
    case("ingest", "--date", "2025-03-12", "--request", "[1, 2]", code=2, says="--request must be a JSON object",
         id="ingest-request-list"),
    case("ingest", "--date", "2025-03-12", "--request", "{oops", code=2, says="not JSON", id="ingest-request-not-json"),
    case("ingest", "--date", "2025-03-12", "--request", '{"variable": []}', code=2, says="empty list",
         id="ingest-variable-empty"),
    case("ingest", "--date", "2025-03-12", "--request", '{"variable": ["unobtainium"]}', code=2, says="unobtainium",
         id="ingest-unknown-variable"),
    case("ingest", "--date", "2025-03-12", "--request", '{"leadtime_hour": "97"}', code=2, says="leadtime_hour",
         id="ingest-leadtime-out-of-range"),
    case("ingest", "--date", "2025-03-12", "--request", '{"leadtime_hour": [1.5]}', code=2, says="leadtime_hour",
         id="ingest-leadtime-not-integer"),
    case("ingest", "--date", "2025-03-12", "--request", '{"level": ["7"]}', code=2, says="'level'",
         id="ingest-unknown-level"),
    case("ingest", "--date", "2025-03-12", "--request", '{"model": "nope"}', code=2, says="nope",
         id="ingest-unknown-model"),
    case("ingest", "--date", "2025-03-12", "--request", '{"area": [50, 0, 45]}', code=2, says="'area'",
         id="ingest-area-arity"),
    case("ingest", "--date", "2025-03-12", "--request", '{"area": [45, 0, 50, 5]}', code=2, says="'area'",
         id="ingest-area-inverted"),
    case("ingest", "--date", "2025-03-12", "--request", '{"data_format": "netcdf"}', code=2, says="data_format",
         id="ingest-not-grib"),
    case("ingest", "--date", "2025-03-12", "--request", '{"colour": "red"}', code=2, says="colour",
         id="ingest-unknown-field"),
    case("ingest", "--date", "2025-03-12", "--request", '{"date": ["2025-01-01"]}', code=2, says="--date",
         id="ingest-date-in-request"),
    case("ingest", "--date", "2025-02-30", code=2, says="not a date", id="ingest-bad-date"),
    case("ingest", "--date", "tomorrow", code=2, says="not a date", id="ingest-date-word"),
    case("ingest", code=2, says="--date", id="ingest-no-date"),
    case("ingest", "--dataset", "no-such-dataset", "--date", "2025-03-12", code=3, says="no-such-dataset",
         id="ingest-unknown-dataset"),
    # -- issue 17 finding 6: a day the upstream cannot have yet is refused before anything is stored
    case("ingest", "--date", "9999-12-31", "--request", SMALL, code=2, says="9999-12-31 is after",
         id="ingest-date-far-future"),
    case("ingest", "--date", DAY_AFTER_TOMORROW, "--request", SMALL, code=2, says=f"{DAY_AFTER_TOMORROW} is after",
         id="ingest-date-day-after-tomorrow"),
    # -- settings: an unusable ADS_BASE_URL is refused before any network call (finding 8)
    case("ingest", "--date", "2025-03-12", "--request", SMALL, env={"ADS_BASE_URL": "ftp://x.test"},
         code=2, says="ADS_BASE_URL", id="ingest-ads-url-ftp"),
    case("ingest", "--date", "2025-03-12", "--request", SMALL, env={"ADS_BASE_URL": "http://x.test:70000"},
         code=2, says="ADS_BASE_URL", id="ingest-ads-url-bad-port"),
    case("ingest", "--date", "2025-03-12", "--request", SMALL, env={"ADS_BASE_URL": "https:///api"},
         code=2, says="ADS_BASE_URL", id="ingest-ads-url-no-host"),
    case("runs", env={"JACKFRUIT_CATALOG": "oracle"}, code=2, says="JACKFRUIT_CATALOG", id="settings-bad-catalog"),
    case("runs", env={"JACKFRUIT_LEASE_TTL_S": "0"}, code=2, says="JACKFRUIT_LEASE_TTL_S", id="settings-bad-lease"),
    # -- transform (finding 7)
    case("transform", "not-a-uuid", code=2, says="not-a-uuid", id="transform-malformed-run-id"),
    case("transform", UNKNOWN_RUN, code=3, says=UNKNOWN_RUN, id="transform-unknown-run"),
    case("transform", code=2, says="run_id", id="transform-no-run-id"),
    # -- tiles (finding 5: negative west longitudes, both spellings)
    case("tiles", "--bbox", "-10,40,20,60", *QUERY, code=0, says="2 tile(s)", id="tiles-negative-bbox"),
    case("tiles", "--bbox=-10,40,20,60", *QUERY, code=0, says="2 tile(s)", id="tiles-negative-bbox-equals"),
    case("tiles", "--bbox", "-25,30,-20,35", *QUERY, code=3, says="0 tile(s)", id="tiles-found-nothing"),
    # west > east is a box across the antimeridian (issue 19): 10..180 and -180..5 meet the data at 0..5
    case("tiles", "--bbox", "10,40,5,50", *QUERY, code=0, says="2 tile(s)", id="tiles-bbox-west-east-crosses"),
    case("tiles", "--bbox", "170,40,-170,50", *QUERY, code=3, says="0 tile(s)", id="tiles-bbox-across-nothing"),
    case("tiles", "--bbox", "10,50,20,40", *QUERY, code=2, says="inverted: south", id="tiles-bbox-south-north"),
    case("tiles", "--bbox", "-10,50,-20,40", *QUERY, code=2, says="inverted: south",
         id="tiles-negative-bbox-inverted"),
    case("tiles", "--bbox", "0,0,5,200", *QUERY, code=2, says="outside", id="tiles-bbox-out-of-range"),
    case("tiles", "--bbox", "-190,0,5,5", *QUERY, code=2, says="outside", id="tiles-bbox-west-out-of-range"),
    case("tiles", "--bbox", "1,2,3", *QUERY, code=2, says="west,south,east,north", id="tiles-bbox-arity"),
    case("tiles", "--bbox", "a,b,c,d", *QUERY, code=2, says="must be a number", id="tiles-bbox-not-numbers"),
    case("tiles", "--bbox", "1,46,2,47", "--start", "2025-03-13", "--end", "2025-03-12", code=2, says="not before",
         id="tiles-start-after-end"),
    case("tiles", "--bbox", "1,46,2,47", "--start", "yesterday", "--end", "2025-03-12", code=2, says="ISO-8601",
         id="tiles-bad-start"),
    case("tiles", "--bbox", "1,46,2,47", "--start", "2025-03-12", "--end", "2025-03-12T25:00", code=2,
         says="ISO-8601", id="tiles-bad-end"),
    case("tiles", *HERE, "--variable", "unobtainium", code=2, says="unobtainium", id="tiles-unknown-variable"),
    case("tiles", *HERE, "--dataset", "no-such-dataset", code=3, says="no-such-dataset", id="tiles-unknown-dataset"),
    case("tiles", *HERE, "--level", "ground", code=2, says="--level", id="tiles-level-not-integer"),
    case("tiles", "--start", "2025-03-12", "--end", "2025-03-13", code=2, says="--bbox", id="tiles-no-bbox"),
    # -- issue 17 finding 6: digits are ASCII; levels and models are the dataset's; negative values are parsed
    case("tiles", "--bbox", "\uff11,46,2,47", *QUERY, code=2, says="ASCII", id="tiles-bbox-fullwidth-digit"),
    case("tiles", "--bbox", "1,46,2,\uff14\uff17", *QUERY, code=2, says="ASCII", id="tiles-bbox-fullwidth-north"),
    case("tiles", "--bbox", "-inf,40,20,60", *QUERY, code=2, says="finite", id="tiles-bbox-minus-inf"),
    case("tiles", "--bbox", "-nan,40,20,60", *QUERY, code=2, says="finite", id="tiles-bbox-minus-nan"),
    case("tiles", *HERE, "--level", "-5", code=2, says="level -5 is not", id="tiles-level-negative"),
    case("tiles", *HERE, "--level", "7", code=2, says="level 7 is not", id="tiles-level-unknown"),
    case("tiles", *HERE, "--level", "\uff10", code=2, says="--level", id="tiles-level-fullwidth"),
    case("tiles", *HERE, "--model", "nope", code=2, says="known: ['chimere'", id="tiles-model-unknown"),
    case("read", *HERE, "--level", "-5", code=2, says="level -5 is not", id="read-level-negative"),
    case("read", *HERE, "--model", "nope", code=2, says="'ensemble'", id="read-model-unknown"),
    case("tiles", *HERE, "--bogus", code=2, says="unrecognized arguments: --bogus", id="tiles-unknown-option"),
    # -- read (finding 3: an existing --out is a conflict found before the read)
    case("read", *HERE, "--variable", "ozone", "--out", "{root}/existing.zarr", code=4,
         says="exists; choose another path or remove it", id="read-out-exists"),
    case("read", *HERE, "--variable", "ozone", "--out", "{root}/a-file", code=4, says="exists",
         id="read-out-is-a-file"),
    case("read", *HERE, "--variable", "ozone", "--out", "{root}/a-file/x.zarr", code=6, says="a-file",
         id="read-out-under-a-file"),
    case("read", "--bbox", "-25,30,-20,35", *QUERY, code=3, says="no tiles for", id="read-found-nothing"),
    # -- issue 17 finding 6: a read that finds no tile names the nearest data the catalog has
    case("read", "--bbox", "-25,30,-20,35", *QUERY, "--variable", "ozone", code=3,
         says="in this time range the tiles of ['ozone'] ensemble at 0 m cover (0.0, 45.0, 5.0, 50.0)",
         id="read-nothing-here"),
    case("read", *HERE, "--start", "2025-03-20", "--end", "2025-03-21", code=3,
         says="the latest valid time before is 2025-03-12T01:00:00+00:00", id="read-nothing-after-the-data"),
    case("read", *HERE, "--start", "2025-03-01", "--end", "2025-03-02", code=3,
         says="the earliest valid time after is 2025-03-12T00:00:00+00:00", id="read-nothing-before-the-data"),
    case("read", "--bbox", "-25,30,-20,35", "--start", "2025-03-20", "--end", "2025-03-21", code=3,
         says="the latest valid time before is 2025-03-12T01:00:00+00:00 (tiles covering (0.0, 45.0, 5.0, "
              "50.0))", id="read-nothing-anywhere-near"),
    case("read", *HERE, "--variable", "dust", code=3, says="the catalog has no tile of ['dust'] ensemble at 0 m",
         id="read-variable-never-ingested"),
    case("read", "--bbox", "-10,40,20,60", *QUERY, "--variable", "unobtainium", code=2, says="unobtainium",
         id="read-unknown-variable"),
    case("read", *HERE, "--dataset", "no-such-dataset", code=3, says="no-such-dataset", id="read-unknown-dataset"),
    case("read", "--bbox", "5,50,1,40", *QUERY, code=2, says="inverted: south", id="read-bbox-inverted"),
    # -- runs (finding 2)
    case("runs", "--limit", "100000000000000000000", code=2, says="--limit", id="runs-limit-huge"),
    case("runs", "--limit", "0", code=2, says="--limit", id="runs-limit-zero"),
    case("runs", "--limit", "-1", code=2, says="--limit", id="runs-limit-negative"),
    case("runs", "--limit", "ten", code=2, says="--limit", id="runs-limit-not-integer"),
    case("runs", "--status", "bogus", code=2, says="invalid choice", id="runs-bad-status"),
    case("runs", "--dataset", "no-such-dataset", code=3, says="no-such-dataset", id="runs-unknown-dataset"),
    case("runs", "--limit", "\uff15", code=2, says="--limit", id="runs-limit-fullwidth"),
    case("runs", "reap", "--older-than", "-5h", code=2, says="negative", id="reap-older-than-negative"),
    case("runs", "reap", "--older-than=-5h", code=2, says="negative", id="reap-older-than-negative-equals"),
    case("runs", "reap", "--older-than", "\uff15h", code=2, says="not a duration", id="reap-older-than-fullwidth"),
    case("runs", "reap", code=2, says="--older-than", id="reap-no-older-than"),
    # -- gc (issue 17 finding 6)
    case("gc", "--grace", "7d", code=2, says="--grace", id="gc-grace-without-superseded"),
    case("gc", "--superseded", "--grace", "-1d", code=2, says="negative", id="gc-grace-negative"),
    case("gc", "--superseded", "--grace", "soon", code=2, says="not a duration", id="gc-grace-not-a-duration"),
    # -- lineage
    case("lineage", code=2, says="--raw-key or --tile-key", id="lineage-no-key"),
    case("lineage", "--raw-key", "not/a/key", code=2, says="raw key", id="lineage-malformed-raw-key"),
    case("lineage", "--raw-key", f"ads/{CAMS}/2025-03-12/{UNKNOWN_RUN}.grib", code=3, says="0 edge(s)",
         id="lineage-unknown-raw-key"),
    # -- query-only commands never create a data directory (finding 6)
    *(case(*argv, "--data-dir", "{root}/typo", code=3, says="no jackfruit data directory", id=f"{argv[0]}-no-data-dir")
      for argv in (("runs",), ("tiles", *HERE), ("read", *HERE), ("lineage", "--tile-key", "x"),
                   ("transform", UNKNOWN_RUN))),
    # ... `datasets` lists the registered datasets then (what the catalog will record), creating nothing
    case("datasets", "--data-dir", "{root}/typo", code=0, says="listing the registered datasets",
         id="datasets-no-data-dir-lists-the-registered-ones"),
    case("runs", "--data-dir", "{root}/existing.zarr", code=3, says="no jackfruit catalog", id="runs-dir-without-catalog"),
    # -- demo (finding 9's bounds; the search window itself: test_demo_e2e)
    case("demo", "--lead-hours", "97", code=2, says="--lead-hours", id="demo-lead-hours-97"),
    case("demo", "--lead-hours", "-1", code=2, says="--lead-hours", id="demo-lead-hours-negative"),
    case("demo", "--lead-hours", "six", code=2, says="--lead-hours", id="demo-lead-hours-not-integer"),
    case("demo", "--lead-hours", "\uff16", code=2, says="--lead-hours", id="demo-lead-hours-fullwidth"),
    case("demo", "--date", "2025-13-01", code=2, says="not a date", id="demo-bad-date"),
    case("demo", env={"ADS_BASE_URL": "ftp://x.test"}, code=2, says="ADS_BASE_URL", id="demo-bad-settings"),
    # -- usage
    case("frobnicate", code=2, says="invalid choice", id="unknown-command"),
]


@pytest.mark.parametrize("argv, env, code, says", CASES)
def test_bad_input_is_named_with_its_exit_code_and_changes_nothing(world, argv, env, code, says):
    root, data = world["root"], world["data"]
    argv = [a.replace("{root}", str(root)) for a in argv]
    if argv[0] != "frobnicate" and "--data-dir" not in argv:
        argv += ["--data-dir", str(data)]
    before = snapshot(root)
    out = run_cli(argv, cwd=root, env=env)
    assert out.returncode == code, (out.stdout, out.stderr)
    assert says in (out.stderr if code in (1, 2, 4, 5, 6, 7) else out.stdout + out.stderr), (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    if code != 0:  # one line naming the problem (argparse's own errors too), never a usage block
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 or (code == 3 and not lines), out.stderr  # tiles and lineage say 3 on stdout
    assert snapshot(root) == before, "the command changed what is stored (or created a directory)"


def test_a_json_caller_gets_the_error_as_json(world):
    out = run_cli(["transform", "not-a-uuid", "--json", "--data-dir", str(world["data"])], cwd=world["root"])
    assert out.returncode == 2
    assert json.loads(out.stdout)["error"]["kind"] == "invalid_input"


def test_query_commands_still_answer_on_the_fixture(world):
    """The table's error cases are errors because of the input, not because the fixture is empty."""
    out = run_cli(["runs", "--json", "--limit", "10000", "--data-dir", str(world["data"])], cwd=world["root"])
    assert out.returncode == 0, out.stderr
    assert [r["run_id"] for r in json.loads(out.stdout)] == [world["run_id"]]
    out = run_cli(["lineage", "--json", "--raw-key", world["raw_key"], "--data-dir", str(world["data"])],
                  cwd=world["root"])
    assert out.returncode == 0 and len(json.loads(out.stdout)) == 2, out.stderr


# -- the last line of defence in main (finding 4), in process


@pytest.mark.parametrize("error, code, says", [
    (PermissionError(13, "Permission denied", "/srv/buckets/jackfruit-curated/.partial/tmp1"), 6,
     "jackfruit: unavailable: [Errno 13] Permission denied: '/srv/buckets/jackfruit-curated/.partial/tmp1'"),
    (OSError(28, "No space left on device"), 6, "No space left on device"),
    (RuntimeError("kaboom"), 1, "jackfruit: unexpected: RuntimeError: kaboom"),
])
def test_main_turns_any_exception_into_a_message_and_an_exit_code(monkeypatch, capsys, error, code, says):
    def boom(args):
        raise error

    monkeypatch.delenv("JACKFRUIT_DEBUG", raising=False)
    monkeypatch.setattr(cli, "cmd_datasets", boom)
    assert cli.main(["datasets"]) == code
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    if code == 1:
        assert "please report" in err


def test_jackfruit_debug_shows_the_traceback_of_an_unexpected_error(monkeypatch, capsys):
    def boom(args):
        raise RuntimeError("kaboom")

    monkeypatch.setenv("JACKFRUIT_DEBUG", "1")
    monkeypatch.setattr(cli, "cmd_datasets", boom)
    assert cli.main(["datasets"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "kaboom" in err


@pytest.mark.parametrize("argv, joined", [
    (["tiles", "--bbox", "-10,40,20,60"], ["tiles", "--bbox=-10,40,20,60"]),
    (["tiles", "--bbox", "-.5,40,20,60"], ["tiles", "--bbox=-.5,40,20,60"]),
    (["tiles", "--bbox=-10,40,20,60"], ["tiles", "--bbox=-10,40,20,60"]),
    (["tiles", "--bbox", "10,40,20,60"], ["tiles", "--bbox", "10,40,20,60"]),
    (["tiles", "--bbox", "--start", "x"], ["tiles", "--bbox", "--start", "x"]),  # a missing value stays missing
    (["tiles", "--bbox"], ["tiles", "--bbox"]),
    (["lineage", "--", "--bbox", "-1"], ["lineage", "--", "--bbox", "-1"]),
    (["tiles", "--bbox", "-inf,40,20,60"], ["tiles", "--bbox=-inf,40,20,60"]),
    (["tiles", "--bbox", "-NaN,40,20,60"], ["tiles", "--bbox=-NaN,40,20,60"]),
    (["runs", "reap", "--older-than", "-5h"], ["runs", "reap", "--older-than=-5h"]),
    (["gc", "--superseded", "--grace", "-1d"], ["gc", "--superseded", "--grace=-1d"]),
    (["tiles", "--level", "-5"], ["tiles", "--level=-5"]),
    (["runs", "reap", "--older-than", "-h"], ["runs", "reap", "--older-than", "-h"]),  # help stays help
])
def test_negative_bbox_values_are_joined_to_their_option(argv, joined):
    assert cli.normalize_argv(argv) == joined


def test_cams_request_fields_that_the_ads_accepts_pass_with_integers_as_strings():
    checked = check_request({"variable": "ozone", "leadtime_hour": [0, "1"], "level": 0, "_timestamp": 5})
    assert checked == {"variable": "ozone", "leadtime_hour": ["0", "1"], "level": "0", "_timestamp": 5}
    analysis = {"variable": ["ozone"], "type": "analysis", "leadtime_hour": "0", "time": "12:00",
                "area": [50.5, -10, 45, 5.25], "data_format": "grib"}
    assert check_request(analysis) == analysis


@pytest.mark.parametrize("request_, fragment", [
    ({"variable": True}, "'variable'"),
    ({"variable": [["ozone"]]}, "'variable'"),
    ({"leadtime_hour": [True]}, "leadtime_hour"),
    ({"leadtime_hour": ["01"]}, "leadtime_hour"),
    ({"type": "analysis", "leadtime_hour": ["3"]}, "leadtime_hour"),
    ({"type": "reanalysis"}, "'type'"),
    ({"time": "12:00"}, "'time'"),
    ({"area": [50, 0, 45, "5"]}, "'area'"),
    ({"area": [80, 0, 45, 5]}, "'area'"),
    ({"format": ["grib", "grib"]}, "format"),
])
def test_cams_request_fields_are_checked_like_the_ads_does(request_, fragment):
    from jackfruit.domain.errors import InvalidInput

    with pytest.raises(InvalidInput, match=fragment):
        check_request(request_)


def test_a_day_the_upstream_cannot_have_yet_is_refused_by_the_library_too():
    """The horizon is the use case's rule, not only the CLI's: the library (Dagster) refuses it, recording nothing."""
    from datetime import date

    from jackfruit.domain.errors import InvalidInput

    from ..helpers import memory_app

    app = memory_app(lambda dataset, request: b"")  # its clock: 2025-03-12T13Z
    with pytest.raises(InvalidInput, match="partition day 2025-03-13 is after 2025-03-12"):
        app.ingest(CAMS, date(2025, 3, 13), {"variable": "ozone"})
    assert app.runs() == []


def test_the_cli_shows_psycopg_pool_records_only_with_jackfruit_debug():
    """Issue 17 finding 5: the CLI turns the pool's connection warnings into debug records; the library alone never
    touches logging (a host such as Dagster decides)."""
    probe = ("import logging, sys\n"
             "import jackfruit.adapters.catalog.postgres_catalog, jackfruit.app\n"
             "log = logging.getLogger('psycopg.pool')\n"
             "assert (log.level, log.filters, log.handlers) == (logging.NOTSET, [], []), 'the library changed it'\n"
             "from jackfruit import cli\n"
             "cli._library_logs_at_debug(sys.argv[1] == 'debug')\n"
             "log.warning('error connecting in %r', 'jackfruit-catalog-h:5432/db')\n")
    for mode, shown in (("quiet", False), ("debug", True)):
        done = subprocess.run([sys.executable, "-c", probe, mode], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert ("jackfruit: debug: psycopg.pool: error connecting in 'jackfruit-catalog-h:5432/db'" in done.stderr
                ) is shown, done.stderr
        if not shown:
            assert done.stderr == ""
