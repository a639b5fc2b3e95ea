"""The JSON API under /api/v1: token auth, JSON errors, the OpenAPI document.

Each endpoint documents itself with :func:`documented`, so the OpenAPI file is
built from the same code that serves the requests."""
from __future__ import annotations

from datetime import timedelta
from functools import wraps
from typing import Any, Callable

from flask import Blueprint, g, jsonify, request
from flask_wtf.csrf import validate_csrf
from wtforms.validators import ValidationError

from webapp.extensions import csrf, db
from webapp.platform import clock
from webapp.platform.errors import api_error
from webapp.platform.security import current_user, token_from_request

bp = Blueprint("api", __name__)
LAST_USED_RESOLUTION = timedelta(minutes=1)
csrf.exempt(bp)

OPENAPI_PATHS: dict[str, dict[str, Any]] = {}
OPENAPI_COMPONENTS: dict[str, Any] = {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    "schemas": {
        "Error": {
            "type": "object", "required": ["error", "message"],
            "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
        },
    },
}


# The response content of every JSON error, for endpoints' OpenAPI specs.
ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def documented(path: str, method: str, spec: dict[str, Any]) -> Callable:
    """Record an endpoint's OpenAPI operation (``path`` in OpenAPI form)."""
    def decorator(view: Callable) -> Callable:
        op = {"security": [{"bearer": []}], **spec}
        op.setdefault("responses", {})
        for code, text in (("401", "missing, wrong or revoked token"),
                           ("403", "not allowed for this token's role or unit")):
            op["responses"].setdefault(code, {"description": text, "content": ERROR_CONTENT})
        OPENAPI_PATHS.setdefault(path, {})[method.lower()] = op
        return view
    return decorator


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
        return wrapped
    return decorator


@bp.route("/openapi.json")
def openapi():
    return jsonify({
        "openapi": "3.1.0",
        "info": {"title": "NRSC 自然资源综合监管指挥平台 API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "paths": dict(sorted(OPENAPI_PATHS.items())),
        "components": OPENAPI_COMPONENTS,
    })


@bp.route("/me")
@api_auth(source_allowed=True)
@documented("/me", "get", {
    "summary": "Who this token acts as",
    "responses": {"200": {"description": "the user or source bound to the token"}},
})
def me():
    if g.api_user is not None:
        u = g.api_user
        return jsonify(kind="user", login=u.login, role=u.role,
                       unit=u.unit.code if u.unit else None)
    return jsonify(kind="source", source=g.api_source)

