"""FilesystemObjectStore: a bucket is a directory; the Go ingester's filesystem sink uses the same layout.

Object ``KEY`` lives at ``ROOT/KEY``; writes go to ``ROOT/.partial/`` first and appear atomically
(``os.link`` for write-once buckets, which fails if the key exists; ``os.replace`` otherwise).
Staged files are ``.partial/put.{pid}.*`` (this store) and ``.partial/{attempt_id}.upload-*`` (the Go
ingester), so ``sweep_partials`` knows whose they are.

A write-once bucket is marked by ``ROOT/.jackfruit-bucket.json`` when first opened write-once; opening a
marked bucket any other way is refused, so the raw bucket cannot be rewritten through the library.
Objects of a write-once bucket are created read-only.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Collection, Iterator

from jackfruit.domain.errors import BackendUnavailable, Conflict, InvalidInput, NotFound
from jackfruit.ports.storage import ObjectInfo

from ._keys import check_object_key

PARTIAL = ".partial"
MARKER = ".jackfruit-bucket.json"
_CHUNK = 1 << 20


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FilesystemObjectStore:
    def __init__(self, root: str | os.PathLike[str], *, bucket: str | None = None,
                 write_once: bool | None = None) -> None:
        """``write_once=None`` opens the bucket as it is marked (plain if unmarked); ``True`` marks it."""
        self.root = Path(root)
        self.bucket = bucket or self.root.name
        try:
            (self.root / PARTIAL).mkdir(parents=True, exist_ok=True)
            marked = self._marked()
            if write_once and not marked:
                self._mark()
        except OSError as err:
            raise BackendUnavailable(f"cannot create bucket directory {self.root}: {err.strerror}") from err
        if marked and write_once is False:
            raise InvalidInput(f"bucket {self.bucket} at {self.root} is write-once (raw evidence); it cannot be "
                               "opened for rewriting")
        self.write_once = bool(marked or write_once)

    def _marked(self) -> bool:
        try:
            return bool(json.loads((self.root / MARKER).read_text()).get("write_once"))
        except FileNotFoundError:
            return False
        except (ValueError, AttributeError) as err:
            raise InvalidInput(f"bucket marker {self.root / MARKER} is unreadable: {err}") from err

    def _mark(self) -> None:
        tmp = self.root / PARTIAL / f"marker.{os.getpid()}"
        tmp.write_text(json.dumps({"bucket": self.bucket, "write_once": True}) + "\n")
        os.replace(tmp, self.root / MARKER)

    def sweep_partials(self, ended_attempts: Collection[str], idle_keys: Collection[str] = ()) -> int:
        removed = 0
        ended = set(ended_attempts)
        try:
            names = os.listdir(self.root / PARTIAL)
        except FileNotFoundError:
            return 0
        for name in names:
            head = name.split(".", 1)[0]
            stale_put = name.startswith("put.") and name.split(".")[1].isdigit() \
                and not _pid_alive(int(name.split(".")[1]))
            if head in ended or stale_put:
                try:
                    os.unlink(self.root / PARTIAL / name)
                    removed += 1
                except FileNotFoundError:
                    pass
        return removed

    def _path(self, key: str) -> Path:
        return self.root / check_object_key(key)

    def put(self, key: str, data: bytes | BinaryIO) -> ObjectInfo:
        final = self._path(key)
        if self.write_once and final.exists():
            raise Conflict(f"{self.bucket}/{key} already exists and this bucket is write-once")
        digest, size = hashlib.sha256(), 0
        tmp = ""
        try:
            fd, tmp = tempfile.mkstemp(dir=self.root / PARTIAL, prefix=f"put.{os.getpid()}.")
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
                if self.write_once:
                    os.fchmod(out.fileno(), 0o444)  # raw evidence is read-only on disk too
                os.fsync(out.fileno())
            self._commit(tmp, final, key)
        except OSError as err:
            raise self._write_error(key, err) from err
        finally:
            if tmp and os.path.exists(tmp):
                os.unlink(tmp)
        return ObjectInfo(key, size, digest.hexdigest())

    def put_file(self, key: str, path: str) -> ObjectInfo:
        """Hash and fsync the file where it is, then link (write-once) or rename it into place: no copy when
        ``path`` is on the bucket's filesystem; otherwise a plain ``put`` of its bytes."""
        final = self._path(key)
        if self.write_once and final.exists():
            raise Conflict(f"{self.bucket}/{key} already exists and this bucket is write-once")
        try:
            same_fs = os.stat(path).st_dev == os.stat(self.root / PARTIAL).st_dev
        except OSError as err:
            raise BackendUnavailable(f"cannot read {path} for {self.bucket}/{key}: {err.strerror}") from err
        if not same_fs:
            with open(path, "rb") as f:
                info = self.put(key, f)
            os.unlink(path)
            return info
        try:
            with open(path, "rb+") as f:
                digest = hashlib.file_digest(f, "sha256")
                size = f.tell()
                if self.write_once:
                    os.fchmod(f.fileno(), 0o444)
                os.fsync(f.fileno())
            self._commit(path, final, key)
            if self.write_once:
                os.unlink(path)  # linked into place; a rename already consumed it
        except OSError as err:
            raise self._write_error(key, err) from err
        return ObjectInfo(key, size, digest.hexdigest())

    def _commit(self, src: str, final: Path, key: str) -> None:
        """Make the fsynced file ``src`` visible as ``final`` at once: a link that fails if the key exists
        (write-once), else a rename over it."""
        final.parent.mkdir(parents=True, exist_ok=True)
        if self.write_once:
            try:
                os.link(src, final)
            except FileExistsError:
                raise Conflict(f"{self.bucket}/{key} already exists and this bucket is write-once") from None
        else:
            os.replace(src, final)

    def _write_error(self, key: str, err: OSError) -> Exception:
        if isinstance(err, (NotADirectoryError, IsADirectoryError, FileExistsError)):
            return Conflict(f"{self.bucket}/{key}: a filesystem bucket cannot hold a key that is also a prefix "
                            "of another key")
        return BackendUnavailable(f"cannot write {self.bucket}/{key}: {err.strerror}")

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

    def local_path(self, key: str) -> str | None:
        path = self._path(key)
        if not path.is_file():
            raise NotFound(f"{self.bucket}/{key} does not exist")
        return str(path)

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
                if rel_dir == "." and name.startswith("."):
                    continue  # the bucket's own files (marker), never an object key
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
