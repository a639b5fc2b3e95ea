"""Login throttling: a growing delay, not a lockout.

Failed logins are counted per login name and per client address in the
database (so every gunicorn worker sees them; the clock is the injectable one).
After ``FREE_FAILURES`` failures with no pause of ``WINDOW`` between them,
each further attempt must wait twice as long as the previous one (1 s, 2 s,
4 s … up to ``MAX_DELAY``); a quiet ``WINDOW`` forgets the count.
Nobody can lock the duty officer out for the night: the wait never exceeds 15
minutes, and a correct password after the wait works. A refused attempt is
not checked and not counted; it answers the same for a login that exists and
one that does not.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import LoginThrottle
from webapp.platform import clock

FREE_FAILURES = 5
WINDOW = timedelta(minutes=15)
FIRST_DELAY = timedelta(seconds=1)
MAX_DELAY = timedelta(minutes=15)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0  # seconds


def keys(login: str, address: str | None) -> list[str]:
    found = [f"login:{login.strip().lower()[:180]}"]
    if address:
        found.append(f"ip:{address[:180]}")
    return found


def check(login: str, address: str | None, now: datetime | None = None) -> Verdict:
    now = now or clock.now()
    rows = db.session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys(login, address)))).all()
    wait = max((r.blocked_until - now for r in rows if r.blocked_until and r.blocked_until > now),
               default=timedelta(0))
    if wait > timedelta(0):
        return Verdict(False, max(1, int(wait.total_seconds() + 0.999)))
    return Verdict(True)


def failed(login: str, address: str | None, now: datetime | None = None) -> int:
    """Count a failure under each key; returns the highest failure count."""
    now = now or clock.now()
    worst = 0
    for key in keys(login, address):
        row = db.session.execute(select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()
                                 ).scalar_one_or_none()
        if row is None:
            row = LoginThrottle(key=key, failures=0, window_start=now)
            db.session.add(row)
        # window_start: the last failure; a quiet window forgets the count.
        if now - row.window_start > WINDOW:
            row.failures = 0
        row.failures += 1
        row.window_start = now
        if row.failures >= FREE_FAILURES:
            delay = min(MAX_DELAY, FIRST_DELAY * (2 ** (row.failures - FREE_FAILURES)))
            row.blocked_until = now + delay
        worst = max(worst, row.failures)
    return worst


def succeeded(login: str, address: str | None) -> None:
    # The login's own count is cleared; the address keeps its count so one
    # known password does not reset guessing against other logins.
    key = keys(login, address)[0]
    row = db.session.get(LoginThrottle, key)
    if row is not None:
        db.session.delete(row)
