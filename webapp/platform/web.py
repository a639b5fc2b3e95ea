"""The production web server: gunicorn with threaded (gthread) workers.

Threads rather than an event loop: the code is plain blocking Flask and
SQLAlchemy, and a thread per long response (an MJPEG live view proxied from a
camera) holds nothing but that thread. Workers and threads come from
``NRSC_WEB_WORKERS`` / ``NRSC_WEB_THREADS`` (webapp/config.py)."""
from __future__ import annotations

from typing import Any, Mapping

from gunicorn.app.base import BaseApplication
from gunicorn.util import import_app

APP_URI = "webapp.wsgi:app"


def gunicorn_options(config: Mapping[str, Any], host: str, port: int) -> dict[str, Any]:
    return {
        "bind": f"{host}:{port}",
        "workers": int(config["NRSC_WEB_WORKERS"]),
        "threads": int(config["NRSC_WEB_THREADS"]),
        "worker_class": "gthread",
        # gthread's timeout is the worker's heartbeat, not a per-request limit,
        # so streams may run for hours.
        "timeout": 60,
        "graceful_timeout": int(config["NRSC_WEB_GRACEFUL_S"]),
        "keepalive": 5,
        # Uploads (evidence photos) stream through; nginx buffers slow clients.
        "limit_request_field_size": 16384,
        # Forwarded headers are handled once, by ProxyFix (NRSC_TRUSTED_PROXIES).
        "forwarded_allow_ips": "",
        "proc_name": "nrsc-web",
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
    }


class WebServer(BaseApplication):
    """gunicorn's arbiter, configured in code instead of a config file."""

    def __init__(self, app_uri: str, options: Mapping[str, Any]):
        self.app_uri = app_uri
        self.options = dict(options)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        # Each worker imports and builds its own app after the fork: no
        # database connection or thread crosses a fork.
        return import_app(self.app_uri)


def serve(config: Mapping[str, Any], host: str, port: int, app_uri: str = APP_URI) -> None:
    """Run gunicorn in this process until SIGTERM/SIGINT (its own signal handling)."""
    WebServer(app_uri, gunicorn_options(config, host, port)).run()
