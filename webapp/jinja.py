"""Template helpers: local-time formatting, HTMX partial rendering."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask, make_response, render_template, request
from flask_babel import get_locale, lazy_gettext as _l

from webapp.clock import local


def fmt_dt(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return local(value).strftime(fmt) if value else ""


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def render(full: str, partial: str | None = None, **context: Any):
    """Render the partial alone for HTMX requests and the full page otherwise;
    responses vary on HX-Request so caches keep the two apart."""
    template = partial if partial and is_htmx() else full
    response = make_response(render_template(template, **context))
    response.headers["Vary"] = "HX-Request"
    return response


# (endpoint, label, roles); an entry shows once its blueprint exists and the
# user's role is listed (admin sees everything).
LAYER_NAMES = {
    "basic_farmland": _l("Basic farmland"),
    "cultivated_land": _l("Cultivated land"),
    "mining_permit": _l("Mining permit"),
    "construction_approval": _l("Construction approval"),
    "land_use_plan": _l("Land-use plan zone"),
    "geohazard_point": _l("Geohazard point"),
    "grazing_ban_zone": _l("Grazing-ban zone"),
    "key_enterprise": _l("Key enterprise"),
    "forest_grassland": _l("Forest / grassland"),
}

NAV = [
    ("alerts.console", _l("Alert console"), {"duty_officer", "duty_lead"}),
    ("unit.my_orders", _l("My orders"), {"unit_handler", "unit_leader"}),
    ("orders.office", _l("Work orders"), {"duty_officer", "duty_lead", "office_staff", "leader_viewer"}),
    ("admin.units", _l("Units"), {"office_staff", "duty_lead", "leader_viewer"}),
    ("admin.users", _l("Users"), {"office_staff", "duty_lead", "leader_viewer"}),
    ("cameras.index", _l("Camera monitoring"), {"duty_officer", "duty_lead", "office_staff", "leader_viewer"}),
    ("admin.cameras", _l("Cameras"), {"office_staff", "duty_lead", "leader_viewer", "duty_officer"}),
    ("admin.parcels", _l("Parcels"), {"office_staff", "duty_lead", "leader_viewer", "duty_officer"}),
    ("admin.channels", _l("Notification channels"), {"office_staff", "duty_lead", "leader_viewer"}),
]


def init_app(app: Flask) -> None:
    from webapp.security import current_user

    app.jinja_env.filters["dt"] = fmt_dt
    from webapp import labels
    labels.init_app(app)  # action_label, state_label, stage_label, event_type_name
    app.jinja_env.add_extension("jinja2.ext.do")

    @app.context_processor
    def inject() -> dict[str, Any]:
        host = app.extensions["nrsc.plugins"]
        return {
            "current_user": current_user(),
            "domains": host.domains,
            "locale": str(get_locale()),
            "layer_name": lambda code: LAYER_NAMES.get(code, code),
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
