"""The platform's notion of now, injectable so tests never sleep.

Everything time-dependent calls :func:`now`; tests freeze or move it with
:func:`set_clock` (or the ``clock`` fixture)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
_source: Callable[[], datetime] = lambda: datetime.now(timezone.utc)  # noqa: E731


def now() -> datetime:
    return _source()


def set_clock(source: Callable[[], datetime] | None) -> None:
    global _source
    _source = source or (lambda: datetime.now(timezone.utc))


class FrozenClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> datetime:
        self.current += timedelta(**kwargs)
        return self.current

    def set(self, when: datetime) -> None:
        self.current = when


def local(dt: datetime | None) -> datetime | None:
    return dt.astimezone(LOCAL_TZ) if dt else None
