"""Runner contract bound to InMemoryRunner and to SubprocessRunner (Go jackfruit-ingest against ads-stub)."""

from __future__ import annotations

import tempfile
from datetime import date

import pytest

from jackfruit.adapters.filesystem_store import FilesystemObjectStore
from jackfruit.adapters.memory_runner import InMemoryRunner
from jackfruit.adapters.memory_store import InMemoryObjectStore
from jackfruit.adapters.subprocess_runner import SubprocessRunner
from jackfruit.domain import cams
from jackfruit.domain.errors import InvalidInput
from jackfruit.ports import Secret, Upstream
from jackfruit.testing.cams_grib import fields, write_cams_grib

from .runner_suite import RunnerContract


def generated(dataset: str, request: dict) -> bytes:
    """What an ADS would serve for the request (validated like the stub does), on a small area."""
    cams.check_variables(request["variable"])
    specs = fields([date(2025, 3, 12)], request["model"], request["variable"], [0],
                   [int(h) for h in request["leadtime_hour"]])
    with tempfile.NamedTemporaryFile(suffix=".grib") as f:
        write_cams_grib(f.name, specs, area=(49.95, 0.05, 45.05, 4.95))
        return open(f.name, "rb").read()


def validating(dataset: str, request: dict) -> bytes:
    try:
        return generated(dataset, request)
    except InvalidInput as err:
        raise InvalidInput(f"invalid request: {err}") from err


class TestInMemoryRunner(RunnerContract):
    @pytest.fixture
    def env(self):
        store = InMemoryObjectStore("jackfruit-raw", write_once=True)
        return InMemoryRunner(store, validating, api_key="test-key"), store, Upstream("memory://", Secret("test-key"))


class TestSubprocessRunner(RunnerContract):
    @pytest.fixture
    def env(self, tmp_path, ads_stub, ingest_binary):
        store = FilesystemObjectStore(tmp_path / "jackfruit-raw", write_once=True)
        runner = SubprocessRunner(store.root, binary=ingest_binary, timeout_s=60,
                                  extra_args=("--poll-initial", "50ms", "--poll-max", "200ms"))
        return runner, store, Upstream(ads_stub.url, Secret(ads_stub.api_key))
