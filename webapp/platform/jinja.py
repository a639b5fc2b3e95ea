"""Template helpers: local-time formatting, HTMX partial rendering."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask, make_response, render_template
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from webapp.extensions import htmx
from webapp.platform import labels
from webapp.platform.clock import local
from webapp.platform.security import current_user


def fmt_dt(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return local(value).strftime(fmt) if value else ""


def render(full: str, partial: str | None = None, **context: Any):
    """Render the partial alone for HTMX requests and the full page otherwise;
    responses vary on HX-Request so caches keep the two apart."""
    template = partial if partial and htmx else full
    response = make_response(render_template(template, **context))
    response.headers["Vary"] = "HX-Request"
    return response


# (endpoint, label, roles); an entry shows once its blueprint exists and the
# user's role is listed (admin sees everything).
NAV = [
    ("alerts.console", _l("Alert console"), {"duty_officer", "duty_lead"}),
    ("unit.my_orders", _l("My orders"), {"unit_handler", "unit_leader"}),
    ("orders.office", _l("Work orders"), {"duty_officer", "duty_lead", "office_staff", "leader_viewer"}),
    ("admin.units", _l("Units"), {"office_staff", "duty_lead", "leader_viewer"}),
    ("admin.users", _l("Users"), {"office_staff", "duty_lead", "leader_viewer"}),
    ("cameras.index", _l("Camera monitoring"), {"duty_officer", "duty_lead", "office_staff", "leader_viewer"}),
    ("admin.cameras", _l("Cameras"), {"office_staff", "duty_lead", "leader_viewer", "duty_officer"}),
    ("admin.parcels", _l("Parcels"), {"office_staff", "duty_lead", "leader_viewer", "duty_officer"}),
    ("notify.channels", _l("Notification channels"), {"office_staff", "duty_lead", "leader_viewer"}),
    ("assessment.leaderboard", _l("Assessment"), {"office_staff", "duty_lead", "leader_viewer",
                                                   "unit_handler", "unit_leader"}),
    ("assessment.overview", _l("Leaders' overview"), {"office_staff", "duty_lead", "leader_viewer"}),
    ("detection.precision", _l("Detection precision"), {"duty_lead"}),
    ("detection.models", _l("Detector models"), set()),
]


def init_app(app: Flask) -> None:
    htmx.init_app(app)

    app.jinja_env.filters["dt"] = fmt_dt
    labels.init_app(app)  # action_label, state_label, stage_label, event_type_name
    app.jinja_env.add_extension("jinja2.ext.do")

    @app.context_processor
    def inject() -> dict[str, Any]:
        host = app.extensions["nrsc.plugins"]
        return {
            "current_user": current_user(),
            "domains": host.domains,
            "locale": str(get_locale()),
            "nav_items": lambda user: [
                (e, label, roles) for e, label, roles in NAV
                if e in app.view_functions and (user.role == "admin" or user.role in roles)],
        }

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response
