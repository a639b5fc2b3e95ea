"""Answers htmx understands.

A 302 to an htmx request is followed by the browser's XMLHttpRequest before
htmx sees any header, so htmx would swap the whole target page into the
form (two top bars, the URL left on the form). Every redirect answered to an
htmx request therefore becomes a 204 with ``HX-Redirect``: htmx then loads
the target as a full page, and the flashed message shows there. Requests
without htmx (no JavaScript) keep their ordinary 302.
"""
from __future__ import annotations

from flask import Flask, Response

from webapp.extensions import htmx

REDIRECTS = (301, 302, 303, 307, 308)


def htmx_redirects(response: Response) -> Response:
    if response.status_code in REDIRECTS and response.location and htmx:
        # Changed in place: cookies the view set (language, session) stay.
        target = response.location
        del response.headers["Location"]
        response.status_code = 204
        response.set_data(b"")
        response.headers["HX-Redirect"] = target
        response.vary.add("HX-Request")
    return response


def init_app(app: Flask) -> None:
    app.after_request(htmx_redirects)
