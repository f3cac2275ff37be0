"""FilesystemObjectStore: a bucket is a directory; the Go ingester's filesystem sink uses the same layout.

Object ``KEY`` lives at ``ROOT/KEY``; writes go to ``ROOT/.partial/`` first and appear atomically
(``os.link`` for write-once buckets, which fails if the key exists; ``os.replace`` otherwise).
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

from jackfruit.domain.errors import BackendUnavailable, Conflict, NotFound
from jackfruit.ports.storage import ObjectInfo

from ._keys import check_object_key

PARTIAL = ".partial"
_CHUNK = 1 << 20


class FilesystemObjectStore:
    def __init__(self, root: str | os.PathLike[str], *, bucket: str | None = None, write_once: bool = False) -> None:
        self.root = Path(root)
        self.bucket = bucket or self.root.name
        self.write_once = write_once
        try:
            (self.root / PARTIAL).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise BackendUnavailable(f"cannot create bucket directory {self.root}: {err.strerror}") from err

    def _path(self, key: str) -> Path:
        return self.root / check_object_key(key)

    def put(self, key: str, data: bytes | BinaryIO) -> ObjectInfo:
        final = self._path(key)
        if self.write_once and final.exists():
            raise Conflict(f"{self.bucket}/{key} already exists and this bucket is write-once")
        digest, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(dir=self.root / PARTIAL)
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(data, (bytes, bytearray, memoryview)):
                    digest.update(data)
                    size = len(data)
                    out.write(data)
                else:
                    while chunk := data.read(_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            final.parent.mkdir(parents=True, exist_ok=True)
            if self.write_once:
                try:
                    os.link(tmp, final)
                except FileExistsError:
                    raise Conflict(f"{self.bucket}/{key} already exists and this bucket is write-once") from None
            else:
                os.replace(tmp, final)
        except (NotADirectoryError, IsADirectoryError, FileExistsError) as err:
            raise Conflict(f"{self.bucket}/{key}: a filesystem bucket cannot hold a key that is also a prefix "
                           "of another key") from err
        except OSError as err:
            raise BackendUnavailable(f"cannot write {self.bucket}/{key}: {err.strerror}") from err
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return ObjectInfo(key, size, digest.hexdigest())

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"{self.bucket}/{key} does not exist") from None
        except OSError as err:
            raise BackendUnavailable(f"cannot read {self.bucket}/{key}: {err.strerror}") from err

    def get(self, key: str) -> bytes:
        with self.open(key) as f:
            return f.read()

    def get_range(self, key: str, start: int, length: int | None = None) -> bytes:
        with self.open(key) as f:
            f.seek(start)
            return f.read() if length is None else f.read(length)

    def head(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"{self.bucket}/{key} does not exist") from None
        if not path.is_file():
            raise NotFound(f"{self.bucket}/{key} does not exist")
        return ObjectInfo(key, st.st_size)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        # Walk only the directory the prefix names, not the whole bucket.
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root / base if base else self.root
        found = []
        for dirpath, dirnames, filenames in os.walk(start):
            if Path(dirpath) == self.root:
                dirnames[:] = [d for d in dirnames if d != PARTIAL]
            rel_dir = os.path.relpath(dirpath, self.root)
            for name in filenames:
                key = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
                if key.startswith(prefix):
                    found.append(key)
        for key in sorted(found):
            try:
                yield ObjectInfo(key, (self.root / key).stat().st_size)
            except FileNotFoundError:
                continue

    def delete(self, key: str) -> None:
        if self.write_once:
            raise Conflict(f"{self.bucket} is write-once; {key} cannot be deleted")
        path = self._path(key)
        try:
            path.unlink()
            self._prune(path.parent)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"{self.bucket}/{key} does not exist") from None
        except OSError as err:
            if err.errno in (errno.EISDIR, errno.EPERM):
                raise NotFound(f"{self.bucket}/{key} does not exist") from None
            raise BackendUnavailable(f"cannot delete {self.bucket}/{key}: {err.strerror}") from err

    def _prune(self, directory: Path) -> None:
        """Remove directories a delete left empty, so the key space stays as if they never existed."""
        while directory != self.root:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent
