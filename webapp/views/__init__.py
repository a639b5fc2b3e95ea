"""Blueprint registration: one blueprint per area."""
from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from webapp.views import admin, api, auth, errors, main

    app.register_blueprint(auth.bp)
    app.register_blueprint(main.bp)
    app.register_blueprint(admin.bp, url_prefix="/admin")
    app.register_blueprint(api.bp, url_prefix="/api/v1")
    errors.register(app)
    # Areas added by later features register themselves here.
    for module_name in ("webapp.views.alerts", "webapp.views.orders", "webapp.views.unit",
                        "webapp.views.print", "webapp.cameras.views"):
        try:
            module = __import__(module_name, fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(app)
