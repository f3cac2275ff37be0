"""ObjectStore: one bucket of immutable-by-convention objects (raw is write-once, curated may be rewritten)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Collection, Iterator, Protocol, runtime_checkable


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    sha256: str | None = None  # known when the store computed it (put) or recorded it


@runtime_checkable
class ObjectStore(Protocol):
    """One bucket.

    Keys are ``/``-separated, never start with ``/`` or ``.``, never contain ``..`` parts.
    Raises (jackfruit.domain.errors): ``NotFound`` for a missing key, ``Conflict`` when a
    write-once store already holds the key (the stored object is left untouched),
    ``InvalidInput`` for a malformed key, ``BackendUnavailable`` when the backend fails.
    A ``put`` is atomic: readers see the whole object or nothing. A write-once bucket stays write-once
    however it is opened (the filesystem store marks the bucket; S3 enforces it server-side).
    """

    bucket: str
    write_once: bool

    def put(self, key: str, data: bytes | BinaryIO) -> ObjectInfo:
        """Store ``data`` (bytes or a readable binary stream, read to its end); returns size and SHA-256."""
        ...

    def put_file(self, key: str, path: str) -> ObjectInfo:
        """Store the bytes of the local file ``path`` under ``key``, like ``put``, and consume the file: after
        a successful call ``path`` no longer exists (a store on the same filesystem may move it into place
        instead of copying it). On failure the file is left where it was."""
        ...

    def open(self, key: str) -> BinaryIO:
        """A readable stream of the object; the caller closes it."""
        ...

    def get(self, key: str) -> bytes: ...

    def get_range(self, key: str, start: int, length: int | None = None) -> bytes:
        """Bytes ``[start, start+length)`` (to the end when ``length`` is None); short at the end of the object."""
        ...

    def head(self, key: str) -> ObjectInfo: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix``, in key order."""
        ...

    def delete(self, key: str) -> None:
        """Remove an object; a write-once store refuses with ``Conflict``. Missing keys are ``NotFound``."""
        ...

    def local_path(self, key: str) -> str | None:
        """A path on this machine whose file holds the object's bytes, when the store keeps objects as local
        files (the filesystem store); None otherwise. For reading in place, never for writing; valid while
        the object exists. Raises ``NotFound`` for a missing key."""
        ...

    def sweep_partials(self, ended_attempts: Collection[str], idle_keys: Collection[str] = ()) -> int:
        """Remove staged, never-committed uploads of the given (ended) attempts, and the store's own
        staging leftovers of writers that no longer exist; returns how many. A store that cannot tell whose
        an unfinished upload is (S3 lists multipart uploads by key and start time only) also removes those at
        ``idle_keys``: keys no live attempt is writing. Committed objects are never touched."""
        ...
