"""A bounded cache of opened tiles, shared by reading threads: tiles are immutable, so an entry keyed by the
store, the tile's key and the catalog's digest never goes stale (another digest is another entry)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

T = TypeVar("T")


class TileCache(Generic[T]):
    """Least recently used first out, at most ``size`` entries. Opening runs outside the lock: two threads
    opening the same tile at once both open it, and the second result is kept."""

    def __init__(self, size: int) -> None:
        self._entries: OrderedDict[Hashable, T] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, ident: Hashable, open_: Callable[[], T]) -> T:
        with self._lock:
            hit = self._entries.get(ident)
            if hit is not None:
                self._entries.move_to_end(ident)
                return hit
        opened = open_()
        with self._lock:
            self._entries[ident] = opened
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return opened
