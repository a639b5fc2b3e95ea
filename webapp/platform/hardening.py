"""App-wide protections wired once in the factory: bounded integer URL
parts, server-side sessions, security headers, clean-up of evidence left
half-written by a crash. (Trusted proxy headers: ProxyFix in webapp/__init__.py,
NRSC_TRUSTED_PROXIES.)"""
from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, current_app, request
from werkzeug.routing import IntegerConverter, ValidationError

# The largest id an INTEGER column holds on PostgreSQL (32-bit); anything
# larger is no id of ours. Same bound as webapp.api.schema.MAX_ID.
MAX_ID = 2**31 - 1
STAGED_GRACE_S = 600


class BoundedIntConverter(IntegerConverter):
    """``<int:…>`` that answers 404 (no route matched) for ids past MAX_ID
    instead of letting the database raise an overflow (a 500)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str):
        # Long digit strings: refuse before int() spends time on them.
        if len(value) > 19:
            raise ValidationError()
        return super().to_python(value)


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = BoundedIntConverter
    _sessions(app)
    app.after_request(_security_headers)
    _clean_staged(app)


def _sessions(app: Flask) -> None:
    from webapp.platform.sessions import DEFAULT_MAX_HOURS, SessionInterface
    app.session_interface = SessionInterface()
    hours = float(app.config.get("NRSC_SESSION_MAX_HOURS", DEFAULT_MAX_HOURS))
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=hours)
    # The cookie is not re-issued on every request: its lifetime is the login's.
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False


def content_security_policy(tile_url: str | None) -> str:
    """Same-origin everything, no inline script or style; map tiles may come
    from the configured tile server."""
    img = ["'self'", "data:", "blob:"]
    if tile_url:
        parts = urlsplit(tile_url.replace("{s}.", "a."))
        if parts.scheme in ("http", "https") and parts.hostname:
            host = parts.hostname
            if "{s}." in tile_url:
                host = "*." + host.split(".", 1)[1]
            img.append(f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else ""))
    return "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src " + " ".join(img),
        "connect-src 'self'", "font-src 'self'", "object-src 'none'", "base-uri 'self'",
        "form-action 'self'", "frame-ancestors 'none'",
    ])


def _security_headers(response):
    headers = response.headers
    if "Content-Security-Policy" not in headers:
        headers["Content-Security-Policy"] = content_security_policy(current_app.config.get("NRSC_TILE_URL"))
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def _clean_staged(app: Flask) -> None:
    """Temp files a crash left behind in files/tmp (older than a few minutes,
    so another worker's upload in flight is never touched)."""
    tmp_dir = Path(app.config["NRSC_DATA_DIR"]) / "files" / "tmp"
    if not tmp_dir.is_dir():
        return
    cutoff = time.time() - STAGED_GRACE_S
    for leftover in tmp_dir.iterdir():
        try:
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
        except OSError:
            pass
