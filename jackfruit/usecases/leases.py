"""Heartbeat: keeps a claim's lease alive while its holder works, and tells the holder when it is lost."""

from __future__ import annotations

import threading
from datetime import timedelta
from types import TracebackType

from jackfruit.domain.errors import BackendUnavailable, Conflict
from jackfruit.domain.model import AttemptKind
from jackfruit.ports import Catalog, Clock


class Heartbeat:
    """Renews ``(run_id, kind, epoch)`` every third of the lease; ``lost`` is set once a renewal is fenced off.

    A renewal that fails because the catalog is unreachable is retried on the next beat; if the lease
    expires meanwhile, the next claimant may take over, and this holder's next write is refused.
    """

    def __init__(self, catalog: Catalog, clock: Clock, run_id: str, kind: AttemptKind, epoch: int,
                 ttl: timedelta) -> None:
        if ttl <= timedelta(0):
            raise ValueError("the lease must be positive")
        self._catalog, self._clock, self._ttl = catalog, clock, ttl
        self.run_id, self.kind, self.epoch = run_id, kind, epoch
        self.lost = threading.Event()
        self.reason = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{kind.value}-{run_id}", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join()

    def _beat(self) -> None:
        interval = self._ttl.total_seconds() / 3
        while not self._stop.wait(interval):
            now = self._clock.now()
            try:
                self._catalog.renew(self.run_id, self.kind, self.epoch, now=now, expires_at=now + self._ttl)
            except Conflict as err:
                self.reason = str(err)
                self.lost.set()
                return
            except BackendUnavailable:
                continue

    def check(self) -> None:
        """Raise ``Conflict`` when the claim has been lost (taken over, reaped or revoked)."""
        if self.lost.is_set():
            raise Conflict(f"run {self.run_id}: the {self.kind.value} claim (epoch {self.epoch}) was lost: "
                           f"{self.reason}")

    def release(self) -> None:
        """Let the lease expire now so the next claimant takes over at once (best effort)."""
        self.stop()
        if self.lost.is_set():
            return
        now = self._clock.now()
        try:
            self._catalog.renew(self.run_id, self.kind, self.epoch, now=now, expires_at=now)
        except (Conflict, BackendUnavailable):
            pass
