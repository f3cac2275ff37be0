"""InMemoryObjectStore: a first-class ObjectStore for unit tests, held to the same contract suite."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from typing import BinaryIO, Collection, Iterator

from jackfruit.domain.errors import Conflict, NotFound
from jackfruit.ports.storage import ObjectInfo

from ._keys import check_object_key


def read_all(data: bytes | BinaryIO) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    return data.read()


class InMemoryObjectStore:
    def __init__(self, bucket: str = "memory", *, write_once: bool = False) -> None:
        self.bucket = bucket
        self.write_once = write_once
        self._objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes | BinaryIO) -> ObjectInfo:
        check_object_key(key)
        body = read_all(data)
        with self._lock:
            if self.write_once and key in self._objects:
                raise Conflict(f"{self.bucket}/{key} already exists and this bucket is write-once")
            self._objects[key] = body
        return ObjectInfo(key, len(body), hashlib.sha256(body).hexdigest())

    def put_file(self, key: str, path: str) -> ObjectInfo:
        with open(path, "rb") as f:
            info = self.put(key, f)
        os.unlink(path)
        return info

    def _body(self, key: str) -> bytes:
        check_object_key(key)
        try:
            return self._objects[key]
        except KeyError:
            raise NotFound(f"{self.bucket}/{key} does not exist") from None

    def open(self, key: str) -> BinaryIO:
        return io.BytesIO(self._body(key))

    def get(self, key: str) -> bytes:
        return self._body(key)

    def get_range(self, key: str, start: int, length: int | None = None) -> bytes:
        body = self._body(key)
        return body[start:] if length is None else body[start:start + length]

    def head(self, key: str) -> ObjectInfo:
        body = self._body(key)
        return ObjectInfo(key, len(body), hashlib.sha256(body).hexdigest())

    def local_path(self, key: str) -> str | None:
        self._body(key)  # NotFound for a missing key
        return None

    def exists(self, key: str) -> bool:
        check_object_key(key)
        return key in self._objects

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        with self._lock:
            items = sorted((k, len(v)) for k, v in self._objects.items() if k.startswith(prefix))
        return iter([ObjectInfo(k, n) for k, n in items])

    def sweep_partials(self, ended_attempts: Collection[str], idle_keys: Collection[str] = ()) -> int:
        return 0  # puts are atomic in memory: nothing is ever staged

    def delete(self, key: str) -> None:
        if self.write_once:
            raise Conflict(f"{self.bucket} is write-once; {key} cannot be deleted")
        with self._lock:
            self._body(key)
            del self._objects[key]
