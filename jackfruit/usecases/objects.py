"""Reading a stored object once, hashing it as it streams (and copying it when asked)."""

from __future__ import annotations

import hashlib
from typing import BinaryIO

from jackfruit.ports import ObjectStore


def hash_object(store: ObjectStore, key: str, copy_to: BinaryIO | None = None) -> tuple[int, str]:
    """Size and SHA-256 of an object, streamed in 1 MiB pieces; ``copy_to`` receives the bytes too."""
    digest, size = hashlib.sha256(), 0
    with store.open(key) as src:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
            if copy_to is not None:
                copy_to.write(chunk)
    return size, digest.hexdigest()
