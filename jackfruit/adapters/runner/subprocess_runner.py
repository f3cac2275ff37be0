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
from typing import IO, Any, Callable

from jackfruit.domain.errors import BackendUnavailable
from jackfruit.ports.runner import AdsTuning, IngestJob, IngestManifest, JobQuery, RunnerEvent, SinkTarget

from .ingester_output import IngesterOutput
from .ingester_protocol import (INGEST_BINARY, QUERY_TIMEOUT_S, IngesterQueries, build_args, child_env, find_binary,
                                input_line, manifest_from_result, parse_result, query_args, query_line, query_secrets,
                                redact, secrets_of, sink_credentials)

__all__ = ["INGEST_BINARY", "SubprocessRunner", "find_binary", "parse_result", "redact"]


class _Child:
    """One running ingester: its reader threads feeding its ``IngesterOutput``, and how it is stopped."""

    def __init__(self, proc: subprocess.Popen[bytes], secret: list[str],
                 on_event: Callable[[RunnerEvent], None] | None) -> None:
        self.proc = proc
        self.output = IngesterOutput(secret, on_event, cancel=self.close_stdin)
        self._stdin = threading.Lock()
        self._threads = [threading.Thread(target=self._read, args=(proc.stdout, self.output.stdout_line), daemon=True,
                                          name="ingest-stdout"),
                         threading.Thread(target=self._read, args=(proc.stderr, self.output.stderr_line), daemon=True,
                                          name="ingest-stderr")]
        for t in self._threads:
            t.start()

    @staticmethod
    def _read(stream: IO[bytes] | None, handle: Callable[[bytes], None]) -> None:
        assert stream is not None
        for raw in stream:
            handle(raw)

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


class SubprocessRunner(IngesterQueries):
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
        args = build_args(binary, job, self._sink, self._timeout_s, self._extra, self._tuning)
        result = self._execute(args, input_line(job, sink_secrets), secrets_of(job, sink_secrets), on_event,
                               job.resume_job_id, self._timeout_s)
        return manifest_from_result(result)

    def _query(self, query: JobQuery, mode: list[str]) -> dict[str, Any]:
        binary = find_binary(INGEST_BINARY, self._binary)
        args = query_args(binary, query, mode, self._timeout_s, self._extra, self._tuning)
        return self._execute(args, query_line(query), query_secrets(query), None, None,
                             min(self._timeout_s, QUERY_TIMEOUT_S))

    def _execute(self, args: list[str], line: bytes, secret: list[str],
                 on_event: Callable[[RunnerEvent], None] | None, job_id: str | None,
                 timeout_s: float) -> dict[str, Any]:
        """Runs the ingester with ``args``, ``line`` on its stdin (kept open: its lifeline) until it exits or
        ``timeout_s + margin_s`` pass; returns its result line (``IngesterOutput.result``)."""
        try:
            proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=child_env())
        except OSError as err:
            raise BackendUnavailable(f"cannot start {args[0]}: {err.strerror}") from err
        child = _Child(proc, secret, on_event)
        timed_out = False
        try:
            child.send(line)  # stdin stays open: the child's lifeline
            try:
                proc.wait(timeout=timeout_s + self._margin_s)  # the child's own --timeout fires first
            except subprocess.TimeoutExpired:
                timed_out = True
        finally:
            # Normal exit, error, time-out, KeyboardInterrupt: the child is always reaped here.
            child.stop(self._grace_s)
        failure = f"the ingester did not finish within {timeout_s:.0f} s" if timed_out else None
        return child.output.result(proc.returncode, job_id=job_id, failure=failure)
