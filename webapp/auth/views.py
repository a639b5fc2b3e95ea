"""Login and logout."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from webapp.config import LANGUAGES
from webapp.extensions import db
from webapp.models import User
from webapp.platform import audit, clock
from webapp.platform.security import login_user, logout_user, verify_password

bp = Blueprint("auth", __name__, template_folder="templates")


def _safe_next(target: str | None) -> str:
    # Only same-site relative paths; never an open redirect.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("main.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    login_name = ""
    if request.method == "POST":
        login_name = (request.form.get("login") or "").strip()
        password = request.form.get("password") or ""
        user = db.session.scalar(select(User).where(User.login == login_name))
        if user is None or not user.active or not verify_password(user, password):
            error = _("Wrong login or password.")
            audit.record("login_failed", "user", user.id if user else None,
                         actor_label=login_name[:80] or "?")
            db.session.commit()
        else:
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
