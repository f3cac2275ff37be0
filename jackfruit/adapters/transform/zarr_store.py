"""ObjectStoreZarrStore: a read-only zarr v3 Store over any ObjectStore port, with byte-range reads."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from typing import AsyncIterator, Iterable, Mapping

from zarr.abc.buffer import Buffer, BufferPrototype
from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, Store, SuffixByteRequest

from jackfruit.domain.errors import IntegrityError, NotFound
from jackfruit.ports.storage import ObjectStore


TILE_MANIFEST = "manifest.json"


class ObjectStoreZarrStore(Store):
    """Serves the group under ``prefix`` of ``objects``; zarr reads shard indexes and chunks by range."""

    supports_writes = False
    supports_deletes = False
    supports_listing = True

    def __init__(self, objects: ObjectStore, prefix: str) -> None:
        super().__init__(read_only=True)
        self._objects = objects
        self._prefix = prefix.rstrip("/") + "/"

    @property
    def tile_key(self) -> str:
        """The key prefix served (the tile's key)."""
        return self._prefix.rstrip("/")

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ObjectStoreZarrStore) and other._objects is self._objects
                and other._prefix == self._prefix)

    def _read(self, key: str, byte_range: ByteRequest | None) -> bytes | None:
        full = self._prefix + key
        try:
            if byte_range is None:
                return self._objects.get(full)
            if isinstance(byte_range, RangeByteRequest):
                return self._objects.get_range(full, byte_range.start, byte_range.end - byte_range.start)
            if isinstance(byte_range, OffsetByteRequest):
                return self._objects.get_range(full, byte_range.offset)
            if isinstance(byte_range, SuffixByteRequest):
                size = self._objects.head(full).size
                return self._objects.get_range(full, max(0, size - byte_range.suffix))
        except NotFound:
            return None
        raise TypeError(f"unexpected byte range {byte_range!r}")

    async def get(self, key: str, prototype: BufferPrototype,
                  byte_range: ByteRequest | None = None) -> Buffer | None:
        data = await asyncio.to_thread(self._read, key, byte_range)
        return None if data is None else prototype.buffer.from_bytes(data)

    async def get_partial_values(self, prototype: BufferPrototype,
                                 key_ranges: Iterable[tuple[str, ByteRequest | None]]) -> list[Buffer | None]:
        return list(await asyncio.gather(*(self.get(k, prototype, r) for k, r in key_ranges)))

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._objects.exists, self._prefix + key)

    async def set(self, key: str, value: Buffer) -> None:
        raise PermissionError("tiles are immutable: this store is read-only")

    async def delete(self, key: str) -> None:
        raise PermissionError("tiles are immutable: this store is read-only")

    async def list(self) -> AsyncIterator[str]:
        for info in self._objects.list(self._prefix):
            key = info.key[len(self._prefix):]
            if key != TILE_MANIFEST:  # jackfruit's own object beside the zarr hierarchy
                yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        async for key in self.list():
            if key.startswith(prefix):
                yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        seen = set()
        async for key in self.list_prefix(prefix):
            head = key[len(prefix):].split("/", 1)[0]
            if head not in seen:
                seen.add(head)
                yield head


class VerifiedZarrStore(ObjectStoreZarrStore):
    """Serves only the objects a tile's manifest lists, each checked before zarr sees it.

    A whole-object read (metadata, coordinates, a whole shard) must match the manifest's size and SHA-256;
    a range read (the data shard's index and chunks, which carry crc32c) is served once the object's size
    matches the manifest. Listed-but-missing objects, and any mismatch, are ``IntegrityError`` naming tile
    and object. Objects the manifest does not list do not exist for the reader. ``ranged()`` names the
    objects read by range so far: the ones a crc32c failure during decoding can come from.
    """

    def __init__(self, objects: ObjectStore, prefix: str, entries: Mapping[str, tuple[int, str]]) -> None:
        super().__init__(objects, prefix)
        self._entries = {k: v for k, v in entries.items() if k != TILE_MANIFEST}
        self._sized: set[str] = set()
        self._lock = threading.Lock()

    def ranged(self) -> list[str]:
        """Objects read by byte range so far (their size checked; their bytes left to crc32c)."""
        with self._lock:
            return sorted(self._sized)

    def _fail(self, key: str, what: str) -> IntegrityError:
        return IntegrityError(f"tile {self.tile_key}: object {key} {what}")

    def _read(self, key: str, byte_range: ByteRequest | None) -> bytes | None:
        if key not in self._entries:
            return None
        size, sha = self._entries[key]
        full = self._prefix + key
        try:
            if byte_range is None:
                body = self._objects.get(full)
                got = hashlib.sha256(body).hexdigest()
                if (len(body), got) != (size, sha):
                    raise self._fail(key, f"is {len(body)} bytes sha256 {got}; the manifest says {size} bytes "
                                          f"sha256 {sha}")
                return body
            with self._lock:
                checked = key in self._sized
            if not checked:
                actual = self._objects.head(full).size
                if actual != size:
                    raise self._fail(key, f"is {actual} bytes; the manifest says {size}")
                with self._lock:
                    self._sized.add(key)
            if isinstance(byte_range, RangeByteRequest):
                return self._objects.get_range(full, byte_range.start, byte_range.end - byte_range.start)
            if isinstance(byte_range, OffsetByteRequest):
                return self._objects.get_range(full, byte_range.offset)
            if isinstance(byte_range, SuffixByteRequest):  # the size is known and checked: no second head
                return self._objects.get_range(full, max(0, size - byte_range.suffix))
        except NotFound:  # listed by the manifest, so never "absent, use the fill value"
            raise self._fail(key, "is missing") from None
        raise TypeError(f"unexpected byte range {byte_range!r}")

    def sizes(self) -> dict[str, int]:
        """Relative key -> size of every object the manifest lists."""
        return {k: size for k, (size, _) in self._entries.items()}

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """Bytes ``[start, start+length)`` of a listed object, for a reader that checks them itself (crc32c)."""
        if key not in self._entries:
            raise self._fail(key, "is not in the tile's manifest")
        try:
            return self._objects.get_range(self._prefix + key, start, length)
        except NotFound:
            raise self._fail(key, "is missing") from None

    def stored_size(self, key: str) -> int:
        """The size of a listed object as the store has it now."""
        try:
            return self._objects.head(self._prefix + key).size
        except NotFound:
            raise self._fail(key, "is missing") from None

    def get_verified(self, key: str) -> bytes:
        """One whole object of the tile, checked against the manifest (``IntegrityError`` if it is not listed)."""
        body = self._read(key, None)
        if body is None:
            raise self._fail(key, "is not in the tile's manifest")
        return body

    async def exists(self, key: str) -> bool:
        return key in self._entries

    async def list(self) -> AsyncIterator[str]:
        for key in sorted(self._entries):
            yield key
