"""Clocks and run-id generators: the system ones, and controllable ones for tests."""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta, timezone

from jackfruit.domain.keys import new_uuid7


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FixedClock:
    """A clock that moves only when told (``advance``), for tests."""

    def __init__(self, start: datetime, step: timedelta = timedelta(0)) -> None:
        self._now = start.astimezone(timezone.utc)
        self._step = step

    def now(self) -> datetime:
        value = self._now
        self._now += self._step
        return value

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class Uuid7Generator:
    """UUIDv7 from a clock, strictly increasing within the process even inside one millisecond."""

    def __init__(self, clock: SystemClock | FixedClock | None = None, random: bytes | None = None) -> None:
        self._clock = clock or SystemClock()
        self._last_ms = -1
        self._counter = 0
        self._lock = threading.Lock()
        self._seed = random

    def new_run_id(self) -> str:
        with self._lock:
            ms = int(self._clock.now().timestamp() * 1000)
            if ms <= self._last_ms:
                ms = self._last_ms
                self._counter += 1
                if self._counter > 0x0FFF:  # counter exhausted: borrow the next millisecond
                    ms, self._counter = ms + 1, 0
            else:
                self._counter = 0
            self._last_ms = ms
            tail = self._seed if self._seed is not None else os.urandom(8)
            # 12-bit counter in rand_a keeps ids monotonic within one millisecond (RFC 9562 method 1).
            rand = (self._counter & 0x0FFF).to_bytes(2, "big") + tail[:8].ljust(8, b"\0")
            return new_uuid7(ms, rand)
