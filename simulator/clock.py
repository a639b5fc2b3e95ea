"""Simulation time: the wall clock, unless the control API sets or freezes it,
so tests can step PTZ motion and event evolution deterministically."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone


class SimClock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0  # sim = wall + offset while running
        self._frozen: float | None = None

    def now(self) -> float:
        """Seconds since the epoch, in simulation time."""
        with self._lock:
            return self._frozen if self._frozen is not None else time.time() + self._offset

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now(), timezone.utc)

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def set(self, when: float | None = None, frozen: bool | None = None, advance_s: float = 0.0) -> float:
        """Set the time (epoch seconds; None keeps it), freeze or release it, advance it."""
        with self._lock:
            current = self._frozen if self._frozen is not None else time.time() + self._offset
            if when is not None:
                current = when
            current += advance_s
            keep_frozen = self._frozen is not None if frozen is None else frozen
            if keep_frozen:
                self._frozen = current
            else:
                self._frozen = None
                self._offset = current - time.time()
            return current
