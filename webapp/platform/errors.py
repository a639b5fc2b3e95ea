"""Error pages in HTML, errors under /api/ as JSON {error, message}."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException


def api_error(status: int, error: str, message: str, **extra):
    response = jsonify({"error": error, "message": message, **extra})
    response.status_code = status
    return response


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        if request.path.startswith("/api/"):
            return api_error(400, "csrf", exc.description)
        return render_template("errors/error.html", code=400,
                               message=_("The form expired or was not sent from this site. Reload the page and try again.")), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if request.path.startswith("/api/"):
            return api_error(exc.code or 500, (exc.name or "error").lower().replace(" ", "_"),
                             exc.description or "")
        return render_template("errors/error.html", code=exc.code, message=exc.description), exc.code or 500
