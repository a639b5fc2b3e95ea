"""Login and logout."""
from __future__ import annotations

from flask import (
    Blueprint,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select

from webapp.auth import throttle
from webapp.auth.redirects import safe_path
from webapp.config import LANGUAGES
from webapp.extensions import db
from webapp.models import User
from webapp.platform import audit, clock
from webapp.platform.security import (
    login_user,
    logout_user,
    verify_dummy,
    verify_password,
)

bp = Blueprint("auth", __name__, template_folder="templates")


def _safe_next(target: str | None) -> str:
    # Only same-site relative paths; never an open redirect.
    return safe_path(target) or url_for("main.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    login_name = ""
    if request.method == "POST":
        login_name = (request.form.get("login") or "").strip()
        password = request.form.get("password") or ""
        verdict = throttle.check(login_name, request.remote_addr)
        user = db.session.scalar(select(User).where(User.login == login_name)) if verdict.allowed else None
        if not verdict.allowed:
            # Not checked, not counted, not audited: the same answer for any login.
            error = _("Too many failed logins. Wait %(seconds)s seconds and try again.",
                      seconds=verdict.retry_after)
            response = make_response(render_template("auth/login.html", error=error, login_name=login_name), 429)
            response.headers["Retry-After"] = str(verdict.retry_after)
            return response
        # A missing login costs the same hash check as a wrong password.
        valid = verify_password(user, password) if user is not None else verify_dummy(password)
        if user is None or not user.active or not valid:
            error = _("Wrong login or password.")
            failures = throttle.failed(login_name, request.remote_addr)
            # Audited while guessing is still slow; a flood adds one row per throttle step only.
            if failures <= throttle.FREE_FAILURES or failures & (failures - 1) == 0:
                audit.record("login_failed", "user", user.id if user else None,
                             actor_label=login_name[:80] or "?", data={"failures": failures})
            db.session.commit()
        else:
            throttle.succeeded(login_name, request.remote_addr)
            login_user(user)
            user.last_login_at = clock.now()
            audit.record("login", "user", user.id, actor=user)
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", error=error, login_name=login_name), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
def logout():
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code: str):
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(_safe_next(request.form.get("next")))
