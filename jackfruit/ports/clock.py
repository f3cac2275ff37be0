"""Clock and run-id generator: time and identity are ports so tests control them."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC now."""
        ...


@runtime_checkable
class IdGenerator(Protocol):
    def new_run_id(self) -> str:
        """A new lowercase UUIDv7, strictly increasing within a process."""
        ...
