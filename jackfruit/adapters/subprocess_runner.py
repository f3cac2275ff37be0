"""SubprocessRunner: runs the Go ingester (``jackfruit-ingest``) as a child process, filesystem sink.

Contract of the binary: ingest-go/README.md (flags, one JSON line on stdout, exit codes).
The API key travels only in the child's environment, never on its command line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

from jackfruit.domain.errors import (BackendUnavailable, Conflict, IntegrityError, InvalidInput, JackfruitError,
                                     NotFound, UpstreamRefused)
from jackfruit.ports.runner import IngestJob, IngestManifest

INGEST_BINARY = "jackfruit-ingest"

#: error kind printed by the binary -> domain error
_KINDS: dict[str, type[JackfruitError]] = {
    "usage": InvalidInput, "invalid_request": InvalidInput, "auth": UpstreamRefused, "not_found": NotFound,
    "job_failed": UpstreamRefused, "unavailable": BackendUnavailable, "integrity": IntegrityError,
    "conflict": Conflict, "cancelled": BackendUnavailable, "internal": BackendUnavailable,
}


def find_binary(name: str, configured: str | None = None) -> str:
    """Configured path, else next to the running Python (``.venv/bin``), else ``PATH``."""
    if configured:
        if not os.access(configured, os.X_OK):
            raise BackendUnavailable(f"{name} binary {configured!r} is not an executable file")
        return configured
    beside = Path(sys.executable).parent / name
    if os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise BackendUnavailable(f"cannot find the {name} binary: build it (scripts/setup) or set its path "
                                 "in the settings (JACKFRUIT_INGEST_BINARY)")
    return found


def redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def parse_result(stdout: str, returncode: int, secret: str) -> dict[str, Any]:
    """The last JSON line of stdout: the manifest, or an ``error`` object mapped to a domain error."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    try:
        result = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        result = None
    if not isinstance(result, dict):
        raise BackendUnavailable(f"the ingester exited {returncode} without a JSON result")
    if "error" in result or returncode != 0:
        error = result.get("error") or {}
        kind = str(error.get("kind", "internal"))
        message = redact(str(error.get("message", f"exit code {returncode}")), secret)
        raise _KINDS.get(kind, BackendUnavailable)(f"ingester: {message}")
    return result


class SubprocessRunner:
    def __init__(self, sink_dir: str | os.PathLike[str], *, binary: str | None = None, timeout_s: float = 3600,
                 extra_args: tuple[str, ...] = (), on_log: Callable[[str], None] | None = None) -> None:
        self._sink_dir = str(sink_dir)
        self._binary = binary
        self._timeout_s = timeout_s
        self._extra = extra_args
        self.on_log = on_log

    def _pump(self, stream: Any, secret: str) -> None:
        for line in stream:
            if self.on_log and line.strip():
                self.on_log(redact(line.rstrip("\n"), secret))

    def run(self, job: IngestJob) -> IngestManifest:
        binary = find_binary(INGEST_BINARY, self._binary)
        secret = job.upstream.api_key.reveal()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ADS_", "AWS_", "MINIO_", "POSTGRES_"))}
        env["ADS_API_KEY"] = secret
        with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="jackfruit-request-") as req:
            json.dump(dict(job.request), req)
            req.flush()
            args = [binary, "--base-url", job.upstream.base_url, "--dataset", job.dataset,
                    "--request-file", req.name, "--key", job.raw_key, "--sink-dir", self._sink_dir,
                    "--timeout", f"{int(self._timeout_s)}s", *self._extra]
            try:
                proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
            except OSError as err:
                raise BackendUnavailable(f"cannot start {binary}: {err.strerror}") from err
            # Drain stderr live so progress reaches the caller while the job is queued upstream.
            logs = threading.Thread(target=self._pump, args=(proc.stderr, secret), daemon=True)
            logs.start()
            timed_out = threading.Event()
            timer = threading.Timer(self._timeout_s + 30, lambda: (timed_out.set(), proc.kill()))
            timer.start()
            try:
                stdout = proc.stdout.read() if proc.stdout else ""
                proc.wait()
            except BaseException:
                proc.terminate()
                proc.wait()
                raise
            finally:
                timer.cancel()
                logs.join(timeout=5)
            if timed_out.is_set():
                raise BackendUnavailable(f"the ingester did not finish within {self._timeout_s:.0f} s")
        result = parse_result(stdout, proc.returncode, secret)
        details = {k: result[k] for k in ("timings_ms", "polls", "retries", "resumes", "submitted_at",
                                          "finished_at", "content_type") if k in result}
        return IngestManifest(key=result["key"], size=int(result["size"]), sha256=result["sha256"],
                              upstream_job_id=result.get("ads_job_id"), details=details)
