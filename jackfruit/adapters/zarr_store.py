"""ObjectStoreZarrStore: a read-only zarr v3 Store over any ObjectStore port, with byte-range reads."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Iterable

from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, Store, SuffixByteRequest
from zarr.core.buffer import Buffer, BufferPrototype

from jackfruit.domain.errors import NotFound
from jackfruit.ports.storage import ObjectStore


class ObjectStoreZarrStore(Store):
    """Serves the group under ``prefix`` of ``objects``; zarr reads shard indexes and chunks by range."""

    supports_writes = False
    supports_deletes = False
    supports_listing = True

    def __init__(self, objects: ObjectStore, prefix: str) -> None:
        super().__init__(read_only=True)
        self._objects = objects
        self._prefix = prefix.rstrip("/") + "/"

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
            yield info.key[len(self._prefix):]

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
