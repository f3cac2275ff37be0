"""SubprocessRunner: runs the Go ingester (``jackfruit-ingest``) as a child process, filesystem sink.

Protocol (arguments, stdin line, event lines, result line, error kinds): ``ingester_protocol``;
contract of the binary: docs/ingester-protocol.md. The API key travels only on the child's stdin, never on
its command line or in its environment. The child's stdin stays open for the child's whole life: if
this process dies, the child sees EOF, cancels itself and commits nothing.
"""

from __future__ import annotations

import os
import subprocess
import threading
from typing import IO, Callable

from jackfruit.domain.errors import BackendUnavailable
from jackfruit.ports.runner import AdsTuning, IngestJob, IngestManifest, RunnerEvent, SinkTarget, with_upstream_job

from .ingester_protocol import (INGEST_BINARY, build_args, child_env, classify_line, find_binary, input_line,
                                manifest_from_result, parse_result, redact, secrets_of, sink_credentials)

__all__ = ["INGEST_BINARY", "SubprocessRunner", "find_binary", "parse_result", "redact"]


class _Child:
    """One running ingester: its reader threads, the event callback, and how it is stopped."""

    def __init__(self, proc: subprocess.Popen[bytes], secret: list[str],
                 on_event: Callable[[RunnerEvent], None] | None) -> None:
        self.proc = proc
        self.secret = secret
        self.on_event = on_event
        self.results: list[str] = []            # stdout lines that are not events (the last is the result)
        self.job_id: str | None = None          # from the "submitted" event
        self.callback_error: BaseException | None = None
        self._deliver = threading.Lock()        # on_event: one call at a time
        self._stdin = threading.Lock()
        self._threads = [threading.Thread(target=self._read_stdout, daemon=True, name="ingest-stdout"),
                         threading.Thread(target=self._read_stderr, daemon=True, name="ingest-stderr")]
        for t in self._threads:
            t.start()

    def _emit(self, event: RunnerEvent) -> None:
        with self._deliver:
            if self.on_event is None or self.callback_error is not None:
                return
            try:
                self.on_event(event)
            except BaseException as err:  # the caller wants out (e.g. its lease is gone): cancel the child
                self.callback_error = err
                self.close_stdin()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            what, value = classify_line(line)
            if what != "event":
                self.results.append(line)
                continue
            if value is None:
                continue
            if value.kind == "submitted" and value.upstream_job_id:
                self.job_id = value.upstream_job_id
            self._emit(value)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.strip():
                self._emit(RunnerEvent("log", message=redact(line, self.secret)))

    def send(self, data: bytes) -> None:
        with self._stdin:
            stdin: IO[bytes] | None = self.proc.stdin
            if stdin is None or stdin.closed:
                return
            try:
                stdin.write(data)
                stdin.flush()
            except OSError:  # the child already exited (e.g. a usage error); its result line says why
                pass

    def close_stdin(self) -> None:
        """Cut the lifeline: the child cancels itself (commits nothing) and exits."""
        with self._stdin:
            if self.proc.stdin is not None and not self.proc.stdin.closed:
                try:
                    self.proc.stdin.close()
                except OSError:
                    pass

    def stop(self, grace_s: float) -> None:
        """Reap the child on every path: close stdin, wait ``grace_s``, then kill; join the readers."""
        self.close_stdin()
        try:
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for t in self._threads:
                t.join(timeout=5)
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()


class SubprocessRunner:
    """Runs ``jackfruit-ingest`` as a child process committing to ``sink``: the raw bucket's target (a
    directory path is taken as ``file://`` that directory)."""

    def __init__(self, sink: SinkTarget | str | os.PathLike[str], *, binary: str | None = None, timeout_s: float = 3600,
                 extra_args: tuple[str, ...] = (), grace_s: float = 5.0, margin_s: float = 30.0,
                 tuning: AdsTuning | None = None) -> None:
        """``timeout_s`` is the ingester's own deadline; after ``timeout_s + margin_s`` this side cuts the
        lifeline, and a child still alive ``grace_s`` after its stdin closed is killed. ``tuning``: poll, queue and
        retry settings (None: the binary's defaults); ``extra_args`` are appended after them and win."""
        self._sink = sink if isinstance(sink, SinkTarget) else SinkTarget.directory(os.fspath(sink))
        self._binary = binary
        self._timeout_s = timeout_s
        self._extra = extra_args
        self._grace_s = grace_s
        self._margin_s = margin_s
        self._tuning = tuning

    def sweep(self, is_live: Callable[[str, str], bool]) -> list[str]:
        """Nothing to sweep: a job cannot outlive its caller here (the child's stdin is its lifeline)."""
        return []

    def run(self, job: IngestJob, on_event: Callable[[RunnerEvent], None] | None = None) -> IngestManifest:
        binary = find_binary(INGEST_BINARY, self._binary)
        sink_secrets = sink_credentials(self._sink)
        secret = secrets_of(job, sink_secrets)
        args = build_args(binary, job, self._sink, self._timeout_s, self._extra, self._tuning)
        try:
            proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=child_env())
        except OSError as err:
            raise BackendUnavailable(f"cannot start {binary}: {err.strerror}") from err
        child = _Child(proc, secret, on_event)
        timed_out = False
        try:
            child.send(input_line(job, sink_secrets))  # stdin stays open: the child's lifeline
            try:
                proc.wait(timeout=self._timeout_s + self._margin_s)  # the child's own --timeout fires first
            except subprocess.TimeoutExpired:
                timed_out = True
        finally:
            # Normal exit, error, time-out, KeyboardInterrupt: the child is always reaped here.
            child.stop(self._grace_s)
        job_id = child.job_id or job.resume_job_id
        if child.callback_error is not None:
            raise with_upstream_job(child.callback_error, job_id)
        if timed_out:
            raise with_upstream_job(
                BackendUnavailable(f"the ingester did not finish within {self._timeout_s:.0f} s"), job_id)
        result = parse_result(child.results, proc.returncode, secret, upstream_job_id=job_id)
        return manifest_from_result(result)
