"""IngesterOutput: the one handling of an ingester's output lines that the subprocess and Docker runners share."""

from __future__ import annotations

import json
import threading

import pytest

from jackfruit.adapters.runner.ingester_output import IngesterOutput
from jackfruit.domain.errors import BackendUnavailable, Conflict
from jackfruit.ports import RunnerEvent, upstream_job_of

SUBMITTED = json.dumps({"event": "submitted", "ads_job_id": "job-1", "status": "accepted"})
MANIFEST = json.dumps({"key": "k", "size": 3, "sha256": "abc", "ads_job_id": "job-1"})


def output(on_event=None):
    cancelled: list[bool] = []
    return IngesterOutput(["hunter2"], on_event, cancel=lambda: cancelled.append(True)), cancelled


def test_events_in_order_the_job_kept_logs_redacted_the_result_last():
    events: list[RunnerEvent] = []
    out, cancelled = output(events.append)
    out.stdout_line(b'{"event":"phase","phase":"submit"}\n')
    out.stdout_line(SUBMITTED.encode())
    out.stdout_line('{"event":"progress","percent":5}')  # an event type this version does not know: ignored
    out.stdout_line(b"   \n")
    out.stderr_line(b'{"msg":"key hunter2 refused"}\r\n')
    out.stderr_line(b"\n")
    out.stdout_line(MANIFEST + "\n")
    assert events == [RunnerEvent("phase", phase="submit"), RunnerEvent("submitted", upstream_job_id="job-1"),
                      RunnerEvent("log", message='{"msg":"key *** refused"}')]
    assert out.job_id == "job-1" and out.results == [MANIFEST] and not cancelled
    assert out.result(0)["sha256"] == "abc"


def test_an_error_line_raises_its_class_with_the_announced_job():
    out, _ = output()
    out.stdout_line(SUBMITTED)
    out.stdout_line(json.dumps({"error": {"kind": "conflict", "message": "key hunter2 taken"}}))
    with pytest.raises(Conflict) as err:
        out.result(4, job_id="resumed")
    assert upstream_job_of(err.value) == "job-1" and "hunter2" not in str(err.value)


def test_a_callback_that_raises_cancels_once_and_is_raised_before_the_result():
    seen: list[RunnerEvent] = []

    def on_event(event: RunnerEvent) -> None:
        seen.append(event)
        if event.kind == "submitted":
            raise KeyboardInterrupt("lease lost")

    out, cancelled = output(on_event)
    out.stdout_line(SUBMITTED)
    out.stdout_line('{"event":"phase","phase":"poll"}')  # not delivered after the callback failed
    out.stdout_line(json.dumps({"error": {"kind": "cancelled", "message": "cancelled"}}))
    assert cancelled == [True] and [e.kind for e in seen] == ["submitted"]
    with pytest.raises(KeyboardInterrupt) as err:
        out.result(143)
    assert upstream_job_of(err.value) == "job-1"


@pytest.mark.parametrize("returncode, failure, message", [
    (None, "its container was lost", "its container was lost"),
    (0, "did not finish within 9 s", "did not finish within 9 s"),
    (None, None, "exit status is unknown"),
])
def test_a_runner_side_failure_is_backend_unavailable_with_the_job(returncode, failure, message):
    out, _ = output()
    out.stdout_line(MANIFEST)  # even a result line does not count once the runner says it failed
    with pytest.raises(BackendUnavailable, match=message) as err:
        out.result(returncode, job_id="resumed-7", failure=failure)
    assert upstream_job_of(err.value) == "resumed-7"


def test_no_result_line_is_backend_unavailable():
    out, _ = output()
    out.stdout_line("panic: runtime error")
    with pytest.raises(BackendUnavailable, match="without a JSON result"):
        out.result(2)


def test_the_callback_is_called_one_call_at_a_time_from_two_reader_threads():
    inside, overlaps = [0], []
    lock = threading.Lock()

    def on_event(event: RunnerEvent) -> None:
        with lock:
            inside[0] += 1
            overlaps.append(inside[0])
        threading.Event().wait(0.0005)
        with lock:
            inside[0] -= 1

    out, _ = output(on_event)
    threads = [threading.Thread(target=lambda: [out.stdout_line('{"event":"phase","phase":"poll"}') for _ in range(50)]),
               threading.Thread(target=lambda: [out.stderr_line("a log line") for _ in range(50)])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(overlaps) == 100 and max(overlaps) == 1
