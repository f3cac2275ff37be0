"""Clock and id generator ports; the subprocess runner's handling of credentials and results."""

from __future__ import annotations

import json
import os
import stat
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from jackfruit.adapters.clock import FixedClock, SystemClock, Uuid7Generator
from jackfruit.adapters.subprocess_runner import SubprocessRunner, parse_result
from jackfruit.domain.errors import BackendUnavailable, Conflict, InvalidInput, UpstreamRefused
from jackfruit.domain.keys import RawKey, check_run_id
from jackfruit.ports import IngestJob, Secret, Upstream

T0 = datetime(2025, 3, 12, 12, tzinfo=timezone.utc)


def test_system_clock_is_utc_aware():
    now = SystemClock().now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)


def test_uuid7_ids_are_valid_time_ordered_and_strictly_increasing_within_a_millisecond():
    ids = Uuid7Generator(FixedClock(T0))
    minted = [ids.new_run_id() for _ in range(5000)]  # > 4096: exercises the counter roll-over
    assert minted == sorted(minted) and len(set(minted)) == len(minted)
    for value in minted[:3] + minted[-3:]:
        check_run_id(value)
        assert uuid.UUID(value).version == 7
    assert int(minted[0].replace("-", "")[:12], 16) == int(T0.timestamp() * 1000)


def test_uuid7_follows_the_clock():
    clock = FixedClock(T0)
    ids = Uuid7Generator(clock)
    a = ids.new_run_id()
    clock.advance(timedelta(seconds=1))
    b = ids.new_run_id()
    assert int(b[:8] + b[9:13], 16) - int(a[:8] + a[9:13], 16) == 1000


def test_secret_never_shows_itself():
    s = Secret("hunter2")
    up = Upstream("http://x", s)
    assert "hunter2" not in repr(s) + str(s) + repr(up) + str(up)
    assert s.reveal() == "hunter2"


@pytest.mark.parametrize("kind, error", [("invalid_request", InvalidInput), ("auth", UpstreamRefused),
                                         ("job_failed", UpstreamRefused), ("conflict", Conflict),
                                         ("unavailable", BackendUnavailable), ("weird", BackendUnavailable)])
def test_error_kinds_map_to_domain_errors_with_the_secret_redacted(kind, error):
    line = json.dumps({"error": {"kind": kind, "message": "token hunter2 refused"}})
    with pytest.raises(error) as err:
        parse_result(line, 3, "hunter2")
    assert "hunter2" not in str(err.value) and "***" in str(err.value)


def test_garbage_output_is_backend_unavailable():
    with pytest.raises(BackendUnavailable, match="without a JSON result"):
        parse_result("panic: oops\n", 2, "k")


def test_the_key_travels_only_in_the_environment_never_on_the_command_line(tmp_path):
    """A stand-in binary records its argv and environment; the runner must keep the key out of argv."""
    record = tmp_path / "record.json"
    fake = tmp_path / "jackfruit-ingest"
    fake.write_text(f"""#!/usr/bin/env python3
import json, os, sys
json.dump({{"argv": sys.argv, "key": os.environ.get("ADS_API_KEY"),
           "leaked": sorted(k for k in os.environ if k.startswith(("MINIO_", "POSTGRES_", "AWS_")))}},
          open({str(record)!r}, "w"))
print("log line mentioning hunter2", file=sys.stderr)
print(json.dumps({{"error": {{"kind": "auth", "message": "401 for key hunter2"}}}}))
sys.exit(3)
""")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    logs: list[str] = []
    runner = SubprocessRunner(tmp_path / "raw", binary=str(fake), timeout_s=30, on_log=logs.append)
    run_id = "01890c24-905b-7122-b170-b60814e6ee06"
    job = IngestJob(run_id, "cams-europe-air-quality-forecasts", {"variable": ["ozone"]},
                    str(RawKey("ads", "cams-europe-air-quality-forecasts", T0.date(), run_id, "grib")),
                    Upstream("http://127.0.0.1:9", Secret("hunter2")))
    os.environ["MINIO_SECRET_KEY"] = "should-not-pass"
    try:
        with pytest.raises(UpstreamRefused) as err:
            runner.run(job)
    finally:
        del os.environ["MINIO_SECRET_KEY"]
    seen = json.loads(record.read_text())
    assert seen["key"] == "hunter2"
    assert not any("hunter2" in a for a in seen["argv"])
    assert seen["leaked"] == []
    assert "hunter2" not in str(err.value)
    assert logs == ["log line mentioning ***"]
