"""How long catalog calls may wait for a database connection, as one budget per catalog (per command)."""

from __future__ import annotations

import itertools
import threading
import time


class WaitBudget:
    """The budget of waiting for connections, shared by every call (every thread) of one catalog: it runs from the
    start of the earliest call that failed since the last success, or that is still waiting for a connection."""

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self._since: float | None = None  # start of the earliest call that failed since the last success
        self._waiting: dict[int, float] = {}  # calls waiting for a connection -> their start
        self._tokens = itertools.count()
        self._lock = threading.Lock()

    def begin(self) -> tuple[int, float, float]:
        """A call starts: its token, its start, and how long it may wait for a connection."""
        with self._lock:
            now = time.monotonic()
            starts = [*self._waiting.values(), *([] if self._since is None else [self._since])]
            wait = self.budget_s if not starts else max(0.0, self.budget_s - (now - min(starts)))
            token = next(self._tokens)
            self._waiting[token] = now
            return token, now, wait

    def connected(self, token: int) -> None:
        with self._lock:
            self._waiting.pop(token, None)

    def failed(self, started: float) -> None:
        with self._lock:
            self._since = started if self._since is None else min(self._since, started)

    def succeeded(self) -> None:
        with self._lock:
            self._since = None
