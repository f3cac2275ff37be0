"""Clock and id generator ports; the subprocess runner's protocol: credentials, events, results, reaping."""

from __future__ import annotations

import _thread
import json
import os
import signal
import stat
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from jackfruit.adapters.clock import FixedClock, SystemClock, Uuid7Generator
from jackfruit.adapters.runner.ingester_protocol import (build_args, child_env, input_line, manifest_from_result,
                                                          secrets_of, sink_credentials)
from jackfruit.adapters.runner.subprocess_runner import SubprocessRunner, parse_result
from jackfruit.domain.errors import BackendUnavailable, Conflict, InvalidInput, UpstreamRefused
from jackfruit.domain.keys import RawKey, check_run_id
from jackfruit.ports import IngestJob, RunnerEvent, Secret, SinkTarget, Upstream, upstream_job_of

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
    assert upstream_job_of(err.value) is None


def test_garbage_output_is_backend_unavailable():
    with pytest.raises(BackendUnavailable, match="without a JSON result"):
        parse_result("panic: oops\n", 2, "k")


def test_event_lines_are_not_results_and_errors_carry_the_upstream_job():
    events = [json.dumps({"event": "phase", "phase": "submit"}),
              json.dumps({"event": "submitted", "ads_job_id": "job-1", "status": "accepted"})]
    with pytest.raises(BackendUnavailable, match="without a JSON result") as err:
        parse_result("\n".join(events), 143, "k", upstream_job_id="job-1")
    assert upstream_job_of(err.value) == "job-1"
    failed = json.dumps({"error": {"kind": "job_failed", "message": "boom", "ads_job_id": "job-2"}})
    with pytest.raises(UpstreamRefused) as err:
        parse_result("\n".join([*events, failed]), 4, "k", upstream_job_id="job-1")
    assert upstream_job_of(err.value) == "job-2"
    manifest = {"key": "k", "size": 3, "sha256": "ab", "ads_job_id": "job-1", "adopted": True, "polls": 2}
    result = parse_result("\n".join([*events, json.dumps(manifest)]), 0, "k")
    m = manifest_from_result(result)
    assert m.adopted and m.upstream_job_id == "job-1" and m.details["polls"] == 2


def test_arguments_carry_attempt_and_resume_but_never_the_key():
    run_id = "01890c24-905b-7122-b170-b60814e6ee06"
    job = IngestJob(run_id, "cams-europe-air-quality-forecasts", {"variable": ["ozone"]},
                    str(RawKey("ads", "cams-europe-air-quality-forecasts", T0.date(), run_id, "grib")),
                    Upstream("http://127.0.0.1:9", Secret("hunter2")), attempt_id=ATTEMPT, resume_job_id="job-7")
    args = build_args("/bin/jackfruit-ingest", job, SinkTarget.directory("/raw"), 60)
    assert args[args.index("--input") + 1] == "-" and "--request-file" not in args
    assert args[args.index("--sink") + 1] == "file:///raw"
    assert args[args.index("--attempt") + 1] == ATTEMPT and args[args.index("--resume-job") + 1] == "job-7"
    assert not any("hunter2" in a for a in args)
    assert json.loads(input_line(job)) == {"request": {"variable": ["ozone"]}, "api_key": "hunter2"}


def test_s3_credentials_travel_on_stdin_only():
    run_id = "01890c24-905b-7122-b170-b60814e6ee06"
    job = IngestJob(run_id, "cams-europe-air-quality-forecasts", {"variable": ["ozone"]},
                    str(RawKey("ads", "cams-europe-air-quality-forecasts", T0.date(), run_id, "grib")),
                    Upstream("http://127.0.0.1:9", Secret("hunter2")), attempt_id=ATTEMPT)
    sink = SinkTarget("s3://jackfruit-raw?endpoint=http://127.0.0.1:7070&region=us-east-1",
                      lambda: {"access_key": Secret("AKIA-canary"), "secret_key": Secret("s3cr3t-canary")})
    args = build_args("/bin/jackfruit-ingest", job, sink, 60)
    assert args[args.index("--sink") + 1] == sink.url
    assert not any("canary" in a for a in args) and "canary" not in repr(sink)
    secrets = sink_credentials(sink)
    assert json.loads(input_line(job, secrets))["s3"] == {"access_key": "AKIA-canary", "secret_key": "s3cr3t-canary"}
    assert sorted(secrets_of(job, secrets)) == ["AKIA-canary", "hunter2", "s3cr3t-canary"]
    assert "ADS_API_KEY" not in child_env({"ADS_API_KEY": "x", "MINIO_SECRET_KEY": "y", "HOME": "/h"})


ATTEMPT = "01890c24-905b-7122-b170-b60814e6ee07"

#: A stand-in ingester: records argv, environment and its stdin line, talks the event protocol, then
#: behaves as MODE says: "fail" (auth error), "wait" (until stdin closes, then cancelled), "hang" (ignores
#: stdin EOF; only a kill stops it).
FAKE = """#!/usr/bin/env python3
import json, os, sys, time
mode = {mode!r}
line = sys.stdin.readline()
json.dump({{"argv": sys.argv, "env_key": os.environ.get("ADS_API_KEY"), "line": json.loads(line),
           "leaked": sorted(k for k in os.environ if k.startswith(("MINIO_", "POSTGRES_", "AWS_", "ADS_")))}},
          open({record!r}, "w"))
print("log line mentioning hunter2", file=sys.stderr, flush=True)
print(json.dumps({{"event": "phase", "phase": "submit"}}), flush=True)
print(json.dumps({{"event": "submitted", "ads_job_id": "job-42", "status": "accepted"}}), flush=True)
print(json.dumps({{"event": "phase", "phase": "poll"}}), flush=True)
if mode == "fail":
    print(json.dumps({{"error": {{"kind": "auth", "message": "401 for key hunter2", "ads_job_id": "job-42"}}}}))
    sys.exit(3)
if mode == "wait":
    sys.stdin.read()  # EOF: the parent went away or cut the lifeline
    open({record!r} + ".eof", "w").write("eof")
    print(json.dumps({{"error": {{"kind": "cancelled", "message": "cancelled: parent went away",
                                  "ads_job_id": "job-42"}}}}))
    sys.exit(143)
while True:
    time.sleep(1)
"""


def fake_ingester(tmp_path, mode: str):
    record = tmp_path / "record.json"
    fake = tmp_path / "jackfruit-ingest"
    fake.write_text(FAKE.format(mode=mode, record=str(record)))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    run_id = "01890c24-905b-7122-b170-b60814e6ee06"
    job = IngestJob(run_id, "cams-europe-air-quality-forecasts", {"variable": ["ozone"]},
                    str(RawKey("ads", "cams-europe-air-quality-forecasts", T0.date(), run_id, "grib")),
                    Upstream("http://127.0.0.1:9", Secret("hunter2")), attempt_id=ATTEMPT)
    return str(fake), record, job


def test_the_key_travels_only_on_stdin_never_in_argv_or_environment(tmp_path):
    """A stand-in binary records what it got; the runner must keep the key out of argv and environment."""
    fake, record, job = fake_ingester(tmp_path, "fail")
    events: list[RunnerEvent] = []
    runner = SubprocessRunner(tmp_path / "raw", binary=fake, timeout_s=30)
    os.environ["MINIO_SECRET_KEY"] = "should-not-pass"
    os.environ["ADS_API_KEY"] = "should-not-pass-either"
    try:
        with pytest.raises(UpstreamRefused) as err:
            runner.run(job, events.append)
    finally:
        del os.environ["MINIO_SECRET_KEY"], os.environ["ADS_API_KEY"]
    seen = json.loads(record.read_text())
    assert seen["line"] == {"request": {"variable": ["ozone"]}, "api_key": "hunter2"}
    assert seen["env_key"] is None and seen["leaked"] == []
    assert not any("hunter2" in a for a in seen["argv"])
    assert seen["argv"][seen["argv"].index("--attempt") + 1] == ATTEMPT
    assert "hunter2" not in str(err.value)
    assert upstream_job_of(err.value) == "job-42"
    assert [e for e in events if e.kind == "log"] == [RunnerEvent("log", message="log line mentioning ***")]
    assert [(e.kind, e.phase or e.upstream_job_id) for e in events if e.kind != "log"] == [
        ("phase", "submit"), ("submitted", "job-42"), ("phase", "poll")]


def test_an_interrupted_parent_cuts_the_lifeline_and_reaps_the_child(tmp_path):
    fake, record, job = fake_ingester(tmp_path, "wait")
    runner = SubprocessRunner(tmp_path / "raw", binary=fake, timeout_s=30)

    def interrupt_when_polling(event: RunnerEvent) -> None:
        if event.phase == "poll":
            _thread.interrupt_main()  # KeyboardInterrupt in the thread waiting for the child

    # interrupt_main() does nothing while SIGINT is ignored, as it is in a process started in the background by
    # a non-interactive shell: the handler is Python's own for the test's duration
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            runner.run(job, interrupt_when_polling)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert (tmp_path / "record.json.eof").exists()  # the child saw EOF and stopped by itself
    assert not _children_named("jackfruit-ingest")


def test_a_raising_event_callback_cancels_the_child_and_is_re_raised(tmp_path):
    fake, record, job = fake_ingester(tmp_path, "wait")
    runner = SubprocessRunner(tmp_path / "raw", binary=fake, timeout_s=30)

    def lease_lost(event: RunnerEvent) -> None:
        if event.kind == "submitted":
            raise Conflict("lease lost")

    with pytest.raises(Conflict, match="lease lost") as err:
        runner.run(job, lease_lost)
    assert upstream_job_of(err.value) == "job-42"
    assert (tmp_path / "record.json.eof").exists()
    assert not _children_named("jackfruit-ingest")


def test_a_child_that_ignores_its_lifeline_is_killed_after_the_time_out(tmp_path):
    fake, record, job = fake_ingester(tmp_path, "hang")
    runner = SubprocessRunner(tmp_path / "raw", binary=fake, timeout_s=1, margin_s=0.5, grace_s=0.5)
    with pytest.raises(BackendUnavailable, match="did not finish") as err:
        runner.run(job)
    assert upstream_job_of(err.value) == "job-42"
    assert not _children_named("jackfruit-ingest")


def _children_named(name: str) -> list[int]:
    """Live (non-zombie) child processes of this process whose command line mentions ``name``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat_line = open(f"/proc/{entry}/stat").read()
            cmdline = open(f"/proc/{entry}/cmdline", "rb").read().decode(errors="replace")
        except OSError:
            continue
        fields = stat_line.rsplit(")", 1)[1].split()
        if int(fields[1]) == os.getpid() and fields[0] != "Z" and name in cmdline:
            found.append(int(entry))
    return found
