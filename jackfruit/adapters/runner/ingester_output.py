"""What one running ingester prints, handled the one way every runner does (subprocess, Docker).

A runner only moves bytes: it hands each stdout line to ``stdout_line`` and each stderr line to ``stderr_line`` (from
its reader threads, in order), and at the end asks ``result`` for the outcome. This class does the rest, written
once: event lines become ``RunnerEvent``\\s delivered to ``on_event`` one call at a time, the announced upstream job
is kept, log lines are redacted, the other stdout lines are kept for the result line, and a callback that raises
cancels the ingester (``cancel``: cut its lifeline) and is re-raised at the end (docs/ingester-protocol.md §3-§5).
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from jackfruit.domain.errors import BackendUnavailable
from jackfruit.ports.runner import RunnerEvent, with_upstream_job

from .ingester_protocol import classify_line, parse_result, redact


class IngesterOutput:
    """The output of one ingester process: ``results`` (stdout lines that are not events; the last is the result
    line), ``job_id`` (the last upstream job announced by a ``submitted`` event), ``callback_error`` (what
    ``on_event`` raised, if it did)."""

    def __init__(self, secret: list[str], on_event: Callable[[RunnerEvent], None] | None,
                 cancel: Callable[[], None]) -> None:
        self.secret = secret
        self.on_event = on_event
        self.cancel = cancel
        self.results: list[str] = []
        self.job_id: str | None = None
        self.callback_error: BaseException | None = None
        self._deliver = threading.Lock()  # on_event: one call at a time, whichever reader thread calls

    def stdout_line(self, raw: bytes | str) -> None:
        line = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw).strip()
        if not line:
            return
        what, value = classify_line(line)
        if what != "event":
            self.results.append(line)
            return
        if value is None:  # an event type this version does not know
            return
        if value.kind == "submitted" and value.upstream_job_id:
            self.job_id = value.upstream_job_id
        self._emit(value)

    def stderr_line(self, raw: bytes | str) -> None:
        line = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw).rstrip("\r\n")
        if line.strip():
            self._emit(RunnerEvent("log", message=redact(line, self.secret)))

    def _emit(self, event: RunnerEvent) -> None:
        with self._deliver:
            if self.on_event is None or self.callback_error is not None:
                return
            try:
                self.on_event(event)
            except BaseException as err:  # the caller wants out (e.g. its lease is gone): cancel the ingester
                self.callback_error = err
                self.cancel()

    def result(self, returncode: int | None, *, job_id: str | None = None,
               failure: str | None = None) -> dict[str, Any]:
        """The ingester's result line once it has exited with ``returncode``: the callback's error re-raised first,
        then ``failure`` (the runner's own reason the run did not end normally: time-out, lost container) as
        ``BackendUnavailable``, then the result line (``parse_result``: the manifest or answer, or the error it
        names). Errors carry the announced upstream job, else ``job_id`` (e.g. the resumed one)."""
        upstream = self.job_id or job_id
        if self.callback_error is not None:
            raise with_upstream_job(self.callback_error, upstream)
        if failure is not None or returncode is None:
            raise with_upstream_job(BackendUnavailable(failure or "the ingester's exit status is unknown"), upstream)
        return parse_result(self.results, returncode, self.secret, upstream_job_id=upstream)
