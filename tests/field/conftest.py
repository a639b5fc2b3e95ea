"""Helpers for the field and office page tests: real alerts, reviewed and
dispatched through the real intake, review and workflow code."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.images import jpeg  # noqa: F401 - re-exported to the tests of this folder

# A point inside 大河乡 (demo township boundaries).
EVENT = (37.50, 106.22)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def version_of(html: str, form_action: str) -> int:
    """The hidden version in the form posting to ``form_action``."""
    start = html.index(f'action="{form_action}"')
    return int(re.search(r'name="version" value="(\d+)"', html[start:]).group(1))


@pytest.fixture
def duty(make_user):
    return make_user("duty_officer", "duty")


@pytest.fixture
def make_order(org, duty, clock):
    """make_order(domain="fire", event_type=None, lat=, lon=) -> WorkOrder, dispatched now."""
    from webapp.alerts import intake, review
    from webapp.orders import planning

    counter = iter(range(1, 10_000))

    def factory(domain: str = "fire", event_type: str | None = None, lat: float = EVENT[0],
                lon: float = EVENT[1], data: dict | None = None):
        n = next(counter)
        payload = {"domain": domain, "event_type": event_type or {"fire": "fire", "farmland": "farmland_damage",
                                                                  "ecology": "straw_burning"}.get(domain, domain),
                   "source_event_id": f"field-test-{n}", "occurred_at": (clock() - timedelta(minutes=2)).isoformat(),
                   "lat": lat, "lon": lon, "text": f"test event {n}"}
        alert, _ = intake.ingest(payload, [("snap.jpg", jpeg((10 * n % 255, 80, 80)))], source="field-tests")
        review.decide(alert, duty, verdict="confirmed")
        return planning.dispatch(alert, actor=duty, data=data or {})
    return factory
