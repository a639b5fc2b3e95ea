"""Server-side sessions behind the signed cookie.

The cookie holds a random session id (``sid``); the database keeps its SHA-256
with the user, when it started and when it was last used. A session ends on
logout, on a password change or when the user is disabled (every session of
that user is revoked), after ``NRSC_SESSION_IDLE_MIN`` minutes without a
request (default 720: a 12-hour duty shift) and ``NRSC_SESSION_MAX_HOURS``
after login (default 24), whatever the cookie says.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app, request
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import update

from webapp.extensions import db
from webapp.models import User, UserSession
from webapp.platform import clock

DEFAULT_IDLE_MIN = 720
DEFAULT_MAX_HOURS = 24
# last_seen_at is written at most this often, not on every request.
TOUCH_EVERY = timedelta(seconds=60)


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def idle_limit() -> timedelta:
    return timedelta(minutes=int(current_app.config.get("NRSC_SESSION_IDLE_MIN", DEFAULT_IDLE_MIN)))


def max_age() -> timedelta:
    return timedelta(hours=float(current_app.config.get("NRSC_SESSION_MAX_HOURS", DEFAULT_MAX_HOURS)))


def start(user: User) -> str:
    """Create a session row for ``user``; returns the id for the cookie."""
    sid = secrets.token_urlsafe(32)
    now = clock.now()
    db.session.add(UserSession(token_hash=_hash(sid), user_id=user.id, created_at=now, last_seen_at=now,
                               ip=request.remote_addr, user_agent=(request.user_agent.string or "")[:200]))
    return sid


def resolve(sid: str | None, user_id: int | None) -> bool:
    """Whether the cookie's session is live for ``user_id`` (touching it)."""
    if not sid or not user_id:
        return False
    row = db.session.query(UserSession).filter_by(token_hash=_hash(sid)).one_or_none()
    if row is None or row.user_id != user_id or row.revoked_at is not None:
        return False
    now = clock.now()
    if now - row.created_at > max_age() or now - row.last_seen_at > idle_limit():
        return False
    # Skipped when this request's own transaction already writes (SQLite would
    # make the separate write wait for it); a later request touches instead.
    if now - row.last_seen_at > TOUCH_EVERY and not (db.session.new or db.session.dirty or db.session.deleted):
        # A separate short write; the request's own transaction stays untouched.
        with db.engine.begin() as conn:
            conn.execute(update(UserSession).where(UserSession.id == row.id).values(last_seen_at=now))
        db.session.expire(row)
    return True


def end(sid: str | None) -> None:
    if sid:
        db.session.execute(update(UserSession).where(UserSession.token_hash == _hash(sid),
                                                     UserSession.revoked_at.is_(None))
                           .values(revoked_at=clock.now()))


def revoke_all(user: User) -> int:
    """End every session of ``user`` (password change, disabling); the caller commits."""
    result = db.session.execute(update(UserSession).where(UserSession.user_id == user.id,
                                                          UserSession.revoked_at.is_(None))
                                .values(revoked_at=clock.now()))
    return result.rowcount or 0


class SessionInterface(SecureCookieSessionInterface):
    """The signed cookie, marked ``Secure`` whenever the request came over
    HTTPS (as seen through the trusted proxies, see webapp/platform/hardening.py)."""

    def get_cookie_secure(self, app) -> bool:
        if app.config.get("SESSION_COOKIE_SECURE"):
            return True
        try:
            return request.is_secure
        except RuntimeError:  # outside a request
            return False
