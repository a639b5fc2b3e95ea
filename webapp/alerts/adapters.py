"""The alert as plugins see it: the one conversion from the ORM row to the
plugin API's frozen dataclasses (plugins never receive ORM objects)."""
from __future__ import annotations

from webapp.gis.context import context_from_json
from webapp.models import Alert
from webapp.plugin_api import AlertView, GisContext


def alert_view(alert: Alert) -> AlertView:
    """A read-only :class:`AlertView` of ``alert``; works on a row not yet
    flushed too (defaults not applied yet are filled in here)."""
    return AlertView(
        domain=alert.domain, event_type=alert.event_type, lat=alert.lat, lon=alert.lon,
        occurred_at=alert.occurred_at, id=alert.id, source=alert.source,
        camera_code=alert.camera.code if alert.camera else None, preset=alert.preset_number,
        label=alert.label, score=alert.score, text=alert.text, manual=bool(alert.manual),
        location_estimated=bool(alert.location_estimated), occurrences=alert.occurrences or 1)


def gis_context(alert: Alert) -> GisContext:
    """The GIS context stored on the alert at intake, as the plugins' dataclass."""
    return context_from_json(alert.gis_context)
