"""Start and stop the Go ``ads-stub`` (an ADS-compatible server on loopback) from Python."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.request
from typing import Any, Mapping, Sequence

from jackfruit.adapters.runner.subprocess_runner import find_binary
from jackfruit.domain.errors import BackendUnavailable

STUB_BINARY = "ads-stub"
CAMS = "cams-europe-air-quality-forecasts"
#: jackfruit's product command (``product_command=PRODUCT_COMMAND``): the Python interpreter running this
PRODUCT_COMMAND = (sys.executable, "-m", "jackfruit.synthetic.product_command")


class AdsStub:
    """``with AdsStub(api_key="k") as stub: stub.url`` — the API root to give as ADS_BASE_URL.

    ``stall_submit_replies=N``: the first N submits make their job upstream, then their reply is held until the
    client goes away -- a test waits for ``job_count(request) == 1`` and kills the ingester between "the upstream
    accepted the job" and "its id reached Python". ``drop_submit_replies=N``: the first N replies are dropped at once
    (the ingester's lost-submit search then finds the job). ``datasets``: the upstream dataset ids served (default:
    CAMS Europe's); ``product_command``: the argv that makes every job's product (one JSON line ``{"dataset",
    "request"}`` on its stdin, the product on its stdout, a non-zero exit fails the job with its stderr), e.g.
    ``PRODUCT_COMMAND``; without it the stub's built-in CAMS Europe generator does, and serves CAMS Europe only.
    ``require_licence_for``: the dataset ids whose submits are refused for a licence not accepted. Test control (ingest-go/README.md): ``jobs()``,
    ``job_counts()`` / ``job_count(request)`` (jobs made per request, counted where they are made), ``make_job``
    (a job in a given state, as another process would have made it), ``expire`` (purge a job's results)."""

    def __init__(self, api_key: str = "jackfruit-demo-key", *, binary: str | None = None,
                 extra_args: tuple[str, ...] = (), start_timeout_s: float = 10, stall_submit_replies: int = 0,
                 drop_submit_replies: int = 0, datasets: Sequence[str] = (),
                 product_command: Sequence[str] | None = None, require_licence_for: Sequence[str] = ()) -> None:
        self.api_key = api_key
        faults = [*(("--stall-submit-replies", str(stall_submit_replies)) if stall_submit_replies else ()),
                  *(("--drop-submit-replies", str(drop_submit_replies)) if drop_submit_replies else ()),
                  *(("--require-licence-for", ",".join(require_licence_for)) if require_licence_for else ())]
        served = [*(("--datasets", ",".join(datasets)) if datasets else ()),
                  *(("--product-command", json.dumps(list(product_command))) if product_command is not None else ())]
        self._args = [find_binary(STUB_BINARY, binary), "--listen", "127.0.0.1:0", "--api-key", api_key,
                      *served, *faults, *extra_args]
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

    def _control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        root = self.url.rsplit("/api", 1)[0]
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{root}/_stub/{path}", data=data, method="GET" if data is None else "POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def jobs(self) -> list[dict[str, Any]]:
        """The stub's own record of its jobs (status history, inputs, asset checksum)."""
        return self._control("jobs")

    def job_counts(self) -> list[dict[str, Any]]:
        """Jobs made per request: ``[{"dataset", "request", "canonical", "jobs"}]``, in order of the first job."""
        return self._control("job-counts")["counts"]

    def job_count(self, request: Mapping[str, Any], dataset: str = CAMS) -> int:
        """How many jobs the stub made for ``request`` (compared as JSON values: key order and 50 vs 50.0 do not
        matter), whatever became of their replies."""
        want = json.loads(json.dumps(dict(request)))  # tuples as lists, as the stub answers them
        return sum(c["jobs"] for c in self.job_counts() if c["dataset"] == dataset and c["request"] == want)

    def make_job(self, request: Mapping[str, Any], status: str, dataset: str = CAMS) -> str:
        """Makes a job of this stub's API key upstream in ``status`` (accepted, running, successful, failed, or
        expired: successful with its results purged), pinned there; returns its id."""
        return self._control("jobs", {"processID": dataset, "inputs": dict(request), "status": status})["jobID"]

    def expire(self, job_id: str) -> None:
        """Purges a successful job's product: its results answer 404 "results expired" from now on."""
        self._control(f"jobs/{job_id}/expire", {})

    def __exit__(self, *exc: object) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
