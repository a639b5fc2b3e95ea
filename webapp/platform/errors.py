"""Error pages in HTML, errors under /api/ as JSON {error, message}."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException


# Pages say what happened in the reader's language; werkzeug's own English
# descriptions are replaced, messages a view passed to abort() are kept.
def _page_messages() -> dict[int, tuple[str, str]]:
    return {
        400: (_("Bad request"), _("The request could not be understood. Check what was entered and try again.")),
        401: (_("Please log in"), _("Log in to see this page.")),
        403: (_("Not allowed"), _("Your account may not see this page or take this action.")),
        404: (_("Not found"), _("This page does not exist, or the record was removed.")),
        405: (_("Not allowed"), _("This page cannot be used that way.")),
        409: (_("Changed meanwhile"), _("Someone changed this record meanwhile. Reload the page and try again.")),
        413: (_("Too large"), _("The upload is too large.")),
        429: (_("Too many requests"), _("Too many requests. Wait a moment and try again.")),
        500: (_("Server error"), _("Something went wrong on the server. Try again later; if it persists, tell the administrator.")),
    }


def page_message(exc: HTTPException) -> tuple[str, str]:
    """(heading, message) for the error page of ``exc``."""
    code = exc.code or 500
    heading, default = _page_messages().get(code, _page_messages()[500 if code >= 500 else 400])
    own = exc.description if exc.description and exc.description != type(exc).description else None
    return heading, own or default


def api_error(status: int, error: str, message: str, **extra):
    response = jsonify({"error": error, "message": message, **extra})
    response.status_code = status
    return response


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        if request.path.startswith("/api/"):
            return api_error(400, "csrf", exc.description)
        return render_template("errors/error.html", code=400, heading=_("Form expired"),
                               message=_("The form expired or was not sent from this site. Reload the page and try again.")), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if request.path.startswith("/api/"):
            response = api_error(exc.code or 500, (exc.name or "error").lower().replace(" ", "_"),
                                 exc.description or "")
            for k, v in exc.get_headers():
                if k.lower() != "content-type":
                    response.headers[k] = v
            return response
        # Keep the exception's own headers (Allow on a 405, Retry-After…).
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        heading, message = page_message(exc)
        return (render_template("errors/error.html", code=exc.code, heading=heading, message=message),
                exc.code or 500, headers)
