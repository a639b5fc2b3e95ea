"""The app's areas, attached explicitly: every blueprint, error handler,
template helper and background job is listed here once."""
from __future__ import annotations

from flask import Flask

from webapp import jobs
from webapp.admin import views as admin_views
from webapp.alerts import api as alerts_api
from webapp.alerts import views as alerts_views
from webapp.api import base as api_base
from webapp.api.schema import BoundedIntConverter
from webapp.assessment import views as assessment_views
from webapp.auth import views as auth_views
from webapp.cameras import views as cameras_views
from webapp.detection import views as detection_views
from webapp.gis import layers as gis_layers
from webapp.gis import maps as gis_maps
from webapp.notify import views as notify_views
from webapp.orders import api as orders_api
from webapp.orders import unit_views
from webapp.orders import views as orders_views
from webapp.platform import errors, formats, htmx, jinja
from webapp.platform import views as platform_views
from webapp.platform.tasks import get_runner
from webapp.printing import views as printing_views


def init_app(app: Flask) -> None:
    # Before any rule is added: ids past 2^31-1 (INTEGER columns on PostgreSQL) match no route (404), not a 500.
    app.url_map.converters["int"] = BoundedIntConverter
    jinja.init_app(app)
    gis_layers.init_app(app)
    gis_maps.init_app(app)
    htmx.init_app(app)
    formats.init_app(app)
    errors.register(app)
    app.register_blueprint(auth_views.bp)
    app.register_blueprint(platform_views.bp)
    app.register_blueprint(admin_views.bp, url_prefix="/admin")
    app.register_blueprint(notify_views.bp)
    app.register_blueprint(api_base.bp, url_prefix="/api/v1")
    alerts_views.register(app)
    app.register_blueprint(alerts_api.bp, url_prefix="/api/v1/alerts")
    orders_views.register(app)
    app.register_blueprint(orders_api.bp, url_prefix="/api/v1")
    unit_views.register(app)
    printing_views.register(app)
    cameras_views.register(app)
    assessment_views.register(app)
    detection_views.register(app)
    jobs.register_jobs(get_runner(app))
