"""Reading a stored object once, hashing it as it streams (and copying it when asked)."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

from jackfruit.ports import ObjectStore


def hash_object(store: ObjectStore, key: str, copy_to: BinaryIO | None = None) -> tuple[int, str]:
    """Size and SHA-256 of an object, streamed in 1 MiB pieces; ``copy_to`` receives the bytes too. The next
    piece is read (from the network, for a remote store) while this one is hashed: both release the GIL."""
    digest, size = hashlib.sha256(), 0
    with store.open(key) as src, ThreadPoolExecutor(1, thread_name_prefix="hash-read") as reader:
        ahead = reader.submit(src.read, _PIECE)
        while chunk := ahead.result():
            ahead = reader.submit(src.read, _PIECE)
            digest.update(chunk)
            size += len(chunk)
            if copy_to is not None:
                copy_to.write(chunk)
    return size, digest.hexdigest()


_PIECE = 1 << 20
