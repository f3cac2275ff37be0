"""ObjectStore contract bound to every adapter that exists."""

from __future__ import annotations

import itertools
import os

import pytest

from jackfruit.adapters.storage.filesystem_store import FilesystemObjectStore
from jackfruit.adapters.storage.memory_store import InMemoryObjectStore

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

    def test_write_once_bucket_stays_write_once_however_opened(self, tmp_path):
        from jackfruit.domain.errors import Conflict, InvalidInput

        raw = FilesystemObjectStore(tmp_path / "raw", bucket="jackfruit-raw", write_once=True)
        raw.put("ads/x.grib", b"evidence")
        with pytest.raises(InvalidInput, match="write-once"):
            FilesystemObjectStore(tmp_path / "raw", write_once=False)
        again = FilesystemObjectStore(tmp_path / "raw")  # opened directly, by default
        assert again.write_once
        with pytest.raises(Conflict):
            again.put("ads/x.grib", b"rewritten")
        with pytest.raises(Conflict):
            again.delete("ads/x.grib")
        assert again.get("ads/x.grib") == b"evidence"
        assert (tmp_path / "raw" / "ads" / "x.grib").stat().st_mode & 0o222 == 0  # read-only on disk
        assert [i.key for i in again.list()] == ["ads/x.grib"]  # the marker is not an object

    def test_sweep_partials_removes_only_ended_attempts_and_dead_writers(self, tmp_path):
        import subprocess
        import sys

        store = FilesystemObjectStore(tmp_path / "b")
        ended, live = "01890c24-905b-7122-b170-b60814e6ee06", "01890c24-905b-7122-b170-b60814e6ee07"
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout.strip()
        partial = tmp_path / "b" / ".partial"
        for name in (f"{ended}.upload-1", f"{live}.upload-2", f"put.{dead}.abc", f"put.{os.getpid()}.def"):
            (partial / name).write_bytes(b"half")
        store.put("k", b"whole")
        assert store.sweep_partials({ended}) == 2
        assert sorted(p.name for p in partial.iterdir()) == [f"{live}.upload-2", f"put.{os.getpid()}.def"]
        assert store.get("k") == b"whole"


class TestS3ObjectStore(ObjectStoreContract):
    """The boto3 adapter against a real S3-compatible server (versitygw; CI starts it)."""

    @pytest.fixture
    def make_store(self, s3_server, s3_buckets):
        from jackfruit.adapters.storage.s3_store import S3ObjectStore

        return lambda write_once: S3ObjectStore(s3_server.client(), s3_buckets(), write_once=write_once)


class TestMinioObjectStore(ObjectStoreContract):
    """The minio-py adapter against the same real server. It serves mutable buckets only: minio-py's public API
    cannot send If-None-Match (tests/integration/test_minio_store.py), so opening a write-once store is refused
    with InvalidInput pointing at the boto3 adapter. The suite's tests that take ``raw`` (WRITE_ONCE_TESTS)
    therefore run mixed: ``raw`` first asserts that refusal -- asked for (``make_store(True)``) and for a bucket
    the boto3 adapter tagged write-once, opened by default and with ``write_once=False`` -- then hands out that
    boto3 ``S3ObjectStore`` on the same server, as production does for the raw bucket. ``store`` stays the minio
    store, so the mutable half of the mixed tests (put_file, local_path, sweep_partials) still runs here."""

    WRITE_ONCE_TESTS = frozenset({
        "test_put_file_stores_and_consumes_the_file", "test_local_path_when_given_holds_the_object",
        "test_write_once_refuses_overwrite_and_keeps_original", "test_sweep_partials_never_touches_committed_objects",
        "test_concurrent_write_once_puts_exactly_one_wins"})

    @pytest.fixture
    def minio_client(self, s3_server):
        from jackfruit.adapters.storage.minio_store import make_minio_client

        return make_minio_client(s3_server.endpoint, s3_server.access_key, s3_server.secret_key)

    @pytest.fixture
    def make_store(self, minio_client, s3_buckets):
        from jackfruit.adapters.storage.minio_store import MinioObjectStore

        return lambda write_once: MinioObjectStore(minio_client, s3_buckets(), write_once=write_once)

    @pytest.fixture
    def raw(self, request, make_store, minio_client, s3_server, s3_buckets):
        from jackfruit.adapters.storage.minio_store import MinioObjectStore
        from jackfruit.adapters.storage.s3_store import S3ObjectStore
        from jackfruit.domain.errors import InvalidInput

        assert request.node.originalname in self.WRITE_ONCE_TESTS
        with pytest.raises(InvalidInput, match="write-once.*boto3.*JACKFRUIT_OBJECT_STORE=s3"):
            make_store(True)
        raw = S3ObjectStore(s3_server.client(), s3_buckets(), write_once=True)  # tags the bucket write-once
        for write_once in (None, False):
            with pytest.raises(InvalidInput, match="jackfruit-write-once=true.*boto3"):
                MinioObjectStore(minio_client, raw.bucket, write_once=write_once)
        return raw

    def test_write_once_tests_are_the_suites_raw_tests(self):
        import inspect

        takes_raw = {name for name, fn in inspect.getmembers(ObjectStoreContract, inspect.isfunction)
                     if name.startswith("test_") and "raw" in inspect.signature(fn).parameters}
        assert takes_raw == self.WRITE_ONCE_TESTS, "update WRITE_ONCE_TESTS: the suite's write-once tests changed"
