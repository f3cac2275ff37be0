"""ObjectStore contract bound to every adapter that exists."""

from __future__ import annotations

import itertools

import pytest

from jackfruit.adapters.filesystem_store import FilesystemObjectStore
from jackfruit.adapters.memory_store import InMemoryObjectStore

from .objectstore_suite import ObjectStoreContract


class TestInMemoryObjectStore(ObjectStoreContract):
    @pytest.fixture
    def make_store(self):
        return lambda write_once: InMemoryObjectStore("test", write_once=write_once)


class TestFilesystemObjectStore(ObjectStoreContract):
    @pytest.fixture
    def make_store(self, tmp_path):
        counter = itertools.count()
        return lambda write_once: FilesystemObjectStore(tmp_path / f"bucket-{next(counter)}", write_once=write_once)

    def test_partial_files_never_listed(self, tmp_path):
        store = FilesystemObjectStore(tmp_path / "b")
        (tmp_path / "b" / ".partial" / "tmp123").write_bytes(b"half")
        store.put("x", b"whole")
        assert [i.key for i in store.list()] == ["x"]
