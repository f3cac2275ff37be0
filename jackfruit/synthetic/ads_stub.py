"""Start and stop the Go ``ads-stub`` (an ADS-compatible server on loopback) from Python."""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.request
from typing import Any

from jackfruit.adapters.runner.subprocess_runner import find_binary
from jackfruit.domain.errors import BackendUnavailable

STUB_BINARY = "ads-stub"


class AdsStub:
    """``with AdsStub(api_key="k") as stub: stub.url`` — the API root to give as ADS_BASE_URL."""

    def __init__(self, api_key: str = "jackfruit-demo-key", *, binary: str | None = None,
                 extra_args: tuple[str, ...] = (), start_timeout_s: float = 10) -> None:
        self.api_key = api_key
        self._args = [find_binary(STUB_BINARY, binary), "--listen", "127.0.0.1:0", "--api-key", api_key,
                      *extra_args]
        self._timeout = start_timeout_s
        self._proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.stderr_lines: list[str] = []

    def __enter__(self) -> "AdsStub":
        self._proc = subprocess.Popen(self._args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready: dict[str, Any] = {}

        def read_ready() -> None:
            assert self._proc and self._proc.stdout
            line = self._proc.stdout.readline()
            try:
                ready.update(json.loads(line))
            except json.JSONDecodeError:
                pass

        t = threading.Thread(target=read_ready, daemon=True)
        t.start()
        t.join(self._timeout)
        threading.Thread(target=self._drain, daemon=True).start()
        if "url" not in ready:
            self.__exit__(None, None, None)
            raise BackendUnavailable(f"ads-stub did not report its address within {self._timeout} s")
        self.url = ready["url"]
        return self

    def _drain(self) -> None:
        assert self._proc and self._proc.stderr
        for line in self._proc.stderr:
            self.stderr_lines.append(line.rstrip("\n"))

    def jobs(self) -> list[dict[str, Any]]:
        """The stub's own record of its jobs (status history, inputs, asset checksum)."""
        root = self.url.rsplit("/api", 1)[0]
        with urllib.request.urlopen(f"{root}/_stub/jobs", timeout=10) as resp:
            return json.loads(resp.read())

    def __exit__(self, *exc: object) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
