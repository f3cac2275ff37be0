"""Runner contract bound to InMemoryRunner and to SubprocessRunner (Go jackfruit-ingest against ads-stub)."""

from __future__ import annotations

import pytest

from jackfruit.adapters.filesystem_store import FilesystemObjectStore
from jackfruit.adapters.memory_runner import InMemoryRunner
from jackfruit.adapters.memory_store import InMemoryObjectStore
from jackfruit.adapters.subprocess_runner import SubprocessRunner
from jackfruit.ports import Secret, Upstream
from jackfruit.testing.cams_grib import grib_for_request

from .runner_suite import RunnerContract


class TestInMemoryRunner(RunnerContract):
    @pytest.fixture
    def env(self):
        store = InMemoryObjectStore("jackfruit-raw", write_once=True)
        return InMemoryRunner(store, grib_for_request, api_key="test-key"), store, Upstream("memory://", Secret("test-key"))


class TestSubprocessRunner(RunnerContract):
    @pytest.fixture
    def env(self, tmp_path, ads_stub, ingest_binary):
        store = FilesystemObjectStore(tmp_path / "jackfruit-raw", write_once=True)
        runner = SubprocessRunner(store.root, binary=ingest_binary, timeout_s=60,
                                  extra_args=("--poll-initial", "50ms", "--poll-max", "200ms"))
        return runner, store, Upstream(ads_stub.url, Secret(ads_stub.api_key))
