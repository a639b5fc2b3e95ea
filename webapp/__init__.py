"""NRSC core: the application factory."""
from __future__ import annotations

import logging
from typing import Any, Iterable

from flask import Flask, request, session
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp.config import LANGUAGES, ConfigError, load_config
from webapp.extensions import babel, csrf, db
from webapp.platform.tasks import TaskRunner
from webapp.plugins import PluginError, build_plugin_host

__all__ = ["create_app", "ConfigError", "PluginError"]

log = logging.getLogger(__name__)


def create_app(
    config: dict[str, Any] | None = None,
    *,
    plugins: Iterable[Any] = (),
    load_entrypoints: bool | None = None,
) -> Flask:
    """Build the app. ``config`` overrides the environment; ``plugins`` are
    registered after the entry points (or alone with ``load_entrypoints=False``)."""
    app = Flask(__name__, instance_path=None)
    cfg = load_config(config)
    app.config.update(cfg)
    db.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale,
                   default_translation_directories="translations")
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            event.listen(db.engine, "connect", _sqlite_pragmas)

    if load_entrypoints is None:
        load_entrypoints = app.config["NRSC_LOAD_ENTRYPOINTS"]
    app.extensions["nrsc.plugins"] = build_plugin_host(
        load_entrypoints=load_entrypoints, plugins=plugins, settings=app.config,
        disabled=app.config["NRSC_DISABLED_PLUGINS"])
    _add_plugin_templates(app)

    app.extensions["nrsc.tasks"] = TaskRunner(
        app, eager=app.config.get("NRSC_TASKS_EAGER", False),
        broker_url=app.config.get("CELERY_BROKER_URL"))

    # Imported here, not at the top: plugins import webapp.plugin_api, which
    # must not pull every view and service of the core in with it.
    from webapp import wiring
    wiring.init_app(app)
    if app.config["NRSC_TRUSTED_PROXIES"]:
        # Behind nginx: client address, scheme, host and prefix come from the
        # X-Forwarded-* headers the trusted proxies set (docs/operations.md).
        hops = app.config["NRSC_TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_prefix=hops)
    return app


def _select_locale() -> str:
    # zh_CN whatever the browser says; English only when chosen explicitly.
    chosen = request.args.get("lang") or session.get("lang")
    return chosen if chosen in LANGUAGES else "zh_CN"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL makes NORMAL safe against corruption; it only risks the last commits on power loss.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _add_plugin_templates(app: Flask) -> None:
    """Let plugins ship templates in ``<package>/templates``."""
    import os

    from jinja2 import ChoiceLoader, FileSystemLoader

    host = app.extensions["nrsc.plugins"]
    folders = []
    for name, plugin in host.pm.list_name_plugin():
        path = getattr(plugin, "__file__", None)
        if path:
            folder = os.path.join(os.path.dirname(path), "templates")
            if os.path.isdir(folder):
                folders.append(FileSystemLoader(folder))
    if folders:
        app.jinja_loader = ChoiceLoader([app.jinja_loader, *folders])  # type: ignore[list-item]
