"""The JSON API under /api/v1: token auth and the OpenAPI document's route.

Each endpoint documents itself with :func:`webapp.api.schema.operation`; the
document is built per request by :mod:`webapp.api.openapi`."""
from __future__ import annotations

from datetime import timedelta
from functools import wraps
from typing import Callable, Literal

from flask import Blueprint, current_app, g, jsonify, request
from flask_wtf.csrf import validate_csrf
from pydantic import Field
from wtforms.validators import ValidationError

from webapp.api import openapi
from webapp.api.schema import Reply, Response, operation
from webapp.extensions import csrf, db
from webapp.platform import clock
from webapp.platform.errors import api_error
from webapp.platform.security import current_user, token_from_request

bp = Blueprint("api", __name__)
LAST_USED_RESOLUTION = timedelta(minutes=1)
csrf.exempt(bp)

def api_auth(*, roles: frozenset[str] | None = None, source_allowed: bool = False) -> Callable:
    """Require a valid token (a browser session also works for user actions).

    Sets ``g.api_user`` (user-bound token or session) or ``g.api_source``
    (source-bound token)."""
    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            token = token_from_request()
            g.api_user, g.api_source, g.api_token = None, None, token
            if token is not None:
                # Bookkeeping in its own transaction, before the view adds anything;
                # at most once a minute, so busy boxes do not pay a commit per request.
                now = clock.now()
                if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
                    token.last_used_at = now
                    db.session.commit()
                if token.user is not None:
                    g.api_user = token.user
                else:
                    g.api_source = token.source_name
            elif current_user() is not None:
                # The API is CSRF-exempt for tokens; a cookie session writing
                # through it must prove the request came from our own pages.
                if request.method not in ("GET", "HEAD", "OPTIONS"):
                    try:
                        validate_csrf(request.headers.get("X-CSRFToken", ""))
                    except ValidationError:
                        return api_error(400, "csrf", "a session request needs the X-CSRFToken header")
                g.api_user = current_user()
            else:
                return api_error(401, "unauthorized", "a valid Bearer token is required")
            if g.api_source is not None and not source_allowed:
                return api_error(403, "forbidden", "this endpoint needs a user-bound token")
            if g.api_user is not None and roles is not None and g.api_user.role not in (roles | {"admin"}):
                return api_error(403, "forbidden", f"role {g.api_user.role} may not do this")
            return view(*args, **kwargs)
        # Read by the OpenAPI builder: the operation needs a token (401/403).
        wrapped.api_auth = {"roles": roles, "source_allowed": source_allowed}
        return wrapped
    return decorator


class Me(Reply):
    kind: Literal["user", "source"]
    login: str | None = None
    role: str | None = None
    unit: str | None = None
    source: str | None = None


# -- the domains, as the plugins register them ------------------------------------------------------------------------
class EventTypeOut(Reply):
    code: str = Field(description="the event_type to send")
    name_zh: str
    name_en: str
    external_labels: list[str] = Field(description="labels other systems (Frigate) give it")
    basis: str = Field(description="the time basis its work-order clocks count in: natural or office "
                                   "(an event type may differ from its domain, e.g. safety accidents)")


class ClockOut(Reply):
    minutes: int
    working_days: int
    text: str = Field(description="e.g. 30m, 4h, 3wd (working days)")


class DomainClocks(Reply):
    review: ClockOut = Field(description="from intake to verdict; natural time")
    accept: ClockOut
    arrive: ClockOut
    feedback: ClockOut
    basis: str = Field(description="natural or working: how accept, arrive and feedback count")


class DomainOut(Reply):
    code: str = Field(description="the domain to send")
    name_zh: str
    name_en: str
    colour: str
    working_group: int
    urgent: bool = Field(description="its alerts sound the console's alarm")
    emergency_allowed: bool
    event_types: list[EventTypeOut]
    clocks: DomainClocks


class DomainList(Reply):
    domains: list[DomainOut]


@bp.route("/openapi.json")
@operation("This document (OpenAPI 3.1)", responses={200: Response("the OpenAPI document", content={
    "application/json": {"schema": {"type": "object"}}})}, tags=("meta",))
def openapi_document():
    return jsonify(openapi.build(current_app))


@bp.route("/me")
@api_auth(source_allowed=True)
@operation("Who this token acts as", responses={200: ("the user or source bound to the token", Me)},
           tags=("meta",))
def me():
    if g.api_user is not None:
        u = g.api_user
        return jsonify(kind="user", login=u.login, role=u.role,
                       unit=u.unit.code if u.unit else None)
    return jsonify(kind="source", source=g.api_source)


@bp.route("/domains")
@api_auth(source_allowed=True)
@operation("The supervision domains, their event types and clocks, as the plugins register them",
           description=("What a sender needs to report an alert: each domain's code and its event types' "
                        "codes (the domain and event_type of POST /alerts), with their Chinese and English "
                        "names, the labels other systems give them, and the domain's clocks."),
           responses={200: ("the domains", DomainList)}, tags=("meta",))
def domains():
    host = current_app.extensions["nrsc.plugins"]
    return jsonify(domains=[_domain_json(d) for d in host.domains.values()])


def _clock_json(clock_value) -> dict:
    return {"minutes": clock_value.minutes, "working_days": clock_value.working_days, "text": str(clock_value)}


def _domain_json(domain) -> dict:
    sla = domain.sla
    return {
        "code": domain.code, "name_zh": domain.name_zh, "name_en": domain.name_en, "colour": domain.colour,
        "working_group": domain.working_group, "urgent": bool(domain.urgent),
        "emergency_allowed": bool(domain.emergency_allowed),
        "event_types": [{"code": e.code, "name_zh": e.name_zh, "name_en": e.name_en,
                         "external_labels": list(e.external_labels),
                         "basis": domain.clocks_for(e.code).basis} for e in domain.event_types],
        "clocks": {"review": _clock_json(sla.review), "accept": _clock_json(sla.accept),
                   "arrive": _clock_json(sla.arrive), "feedback": _clock_json(sla.feedback),
                   "basis": sla.basis},
    }
