"""Login, roles and per-unit visibility, enforced server-side."""
from __future__ import annotations

import hashlib
import secrets
from functools import wraps
from typing import Callable, Iterable

from flask import abort, g, redirect, request, session, url_for
from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.extensions import db
from webapp.models import ApiToken, Unit, User
from webapp.platform import clock, sessions

DUTY_ROLES = frozenset({"duty_officer", "duty_lead"})
OFFICE_ROLES = frozenset({"office_staff", "admin"})
UNIT_ROLES = frozenset({"unit_handler", "unit_leader"})
# Roles that see every unit's records.
ALL_UNITS_ROLES = DUTY_ROLES | OFFICE_ROLES | {"leader_viewer"}
MIN_PASSWORD_LENGTH = 8
# werkzeug's scrypt default (N=2^15); the test suite lowers N, never the app.
PASSWORD_HASH_METHOD = "scrypt:32768:8:1"


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    return generate_password_hash(password, method=PASSWORD_HASH_METHOD)


def verify_password(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


_DUMMY_HASH: list[str] = []


def verify_dummy(password: str) -> bool:
    """Spend the time of a real password check (for a login that does not exist)."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(generate_password_hash(secrets.token_hex(16)))
    check_password_hash(_DUMMY_HASH[0], password)
    return False


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "nrsc_" + secrets.token_urlsafe(32)


def create_api_token(*, source: str | None = None, user: User | None = None, label: str = "") -> tuple[ApiToken, str]:
    """Create a token bound to a source name or to a user; returns the row and
    the plain token, which is shown once and never stored."""
    if bool(source) == bool(user):
        raise ValueError("a token is bound to exactly one of a source name or a user")
    plain = new_token()
    row = ApiToken(token_hash=hash_token(plain), prefix=plain[:12], source_name=source,
                   user_id=user.id if user else None, label=label)
    db.session.add(row)
    return row, plain


def revoke_user_tokens(user: User) -> int:
    """Revoke every API token of ``user`` (disabling): enabling the user again
    does not bring them back, a new token is issued. The caller commits."""
    result = db.session.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                                .values(revoked_at=clock.now()))
    return result.rowcount or 0


def disable_user(user: User) -> dict[str, int]:
    """Disable ``user``: every session ends and every API token is revoked
    (the admin page and ``nrsc user disable``). The caller audits and commits."""
    user.active = False
    return {"sessions_ended": sessions.revoke_all(user), "tokens_revoked": revoke_user_tokens(user)}


def token_from_request() -> ApiToken | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(header[7:].strip())))
    if token is None or token.revoked_at is not None:
        return None
    if token.user is not None and not token.user.active:
        return None
    return token


def current_user() -> User | None:
    if "user" not in g:
        user_id = session.get("user_id")
        user = db.session.get(User, user_id) if user_id else None
        if user is not None and (not user.active or session.get("pw") != user.password_hash[-16:]
                                 or not sessions.resolve(session.get("sid"), user.id)):
            session.clear()
            user = None
        g.user = user
    return g.user


def login_user(user: User) -> None:
    session.clear()
    session["user_id"] = user.id
    session["sid"] = sessions.start(user)
    # Changing the password invalidates existing sessions.
    session["pw"] = user.password_hash[-16:]
    session.permanent = True
    g.user = user


def logout_user() -> None:
    # The server forgets the session: a copy of the cookie is worth nothing.
    sessions.end(session.get("sid"))
    db.session.commit()
    session.clear()
    g.pop("user", None)


def login_required(view: Callable) -> Callable:
    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)
    return wrapped


def roles_required(*roles: str) -> Callable:
    allowed = frozenset(roles) | {"admin"}

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = current_user()
            if user is None:
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


def units_by_code(codes: Iterable[str]) -> dict[str, Unit]:
    codes = list(codes)
    if not codes:
        return {}
    return {u.code: u for u in db.session.scalars(select(Unit).where(Unit.code.in_(codes)))}
