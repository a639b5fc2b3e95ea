"""Home page per role and the health check."""
from __future__ import annotations

from flask import Blueprint, jsonify, redirect, url_for
from sqlalchemy import func, select, text

from webapp.extensions import db
from webapp.models import Alert, Camera, Unit, User, WorkOrder
from webapp.platform import dbtools
from webapp.platform.jinja import render
from webapp.platform.security import current_user, login_required

bp = Blueprint("main", __name__)

# Where each role starts its day; areas not built yet fall back to the summary.
ROLE_HOME = {
    "duty_officer": "alerts.console",
    "duty_lead": "alerts.console",
    "unit_handler": "unit.my_orders",
    "unit_leader": "unit.my_orders",
    "office_staff": "orders.office",
}


@bp.route("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - report, never raise, from a probe
        return jsonify(status="error", database=f"{type(exc).__name__}"), 503
    schema = dbtools.schema_status()
    ok = schema["current"] == schema["head"]
    return jsonify(status="ok" if ok else "migrations_pending", schema=schema), (200 if ok else 503)


@bp.route("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico where a page names no icon (a PDF tab, a bookmark)."""
    return redirect(url_for("static", filename="img/favicon.svg"), 301)


@bp.route("/")
@login_required
def home():
    user = current_user()
    endpoint = ROLE_HOME.get(user.role)
    if endpoint:
        from flask import current_app
        if endpoint in current_app.view_functions:
            return redirect(url_for(endpoint))
    counts = {
        "units": db.session.scalar(select(func.count(Unit.id))),
        "users": db.session.scalar(select(func.count(User.id))),
        "cameras": db.session.scalar(select(func.count(Camera.id))),
        "alerts_open": db.session.scalar(select(func.count(Alert.id)).where(Alert.status.in_(("new", "under_review")))),
        "orders_open": db.session.scalar(select(func.count(WorkOrder.id)).where(WorkOrder.state != "closed")),
    }
    return render("main/home.html", counts=counts)
