"""Console fixtures: alerts made straight in the database (fast, exact), the
real domain plugins, tokens and images."""
from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from tests.images import jpeg  # noqa: F401 - re-exported to the tests of this folder

# Inside 红寺堡镇 and inside 大河乡 (demo township boundaries).
HONGSIPU = (37.40, 106.06)
DAHE = (37.50, 106.22)


@pytest.fixture
def make_alert(org):
    """make_alert(domain="fire", event_type="fire", **fields) -> Alert, committed."""
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import Alert, Township
    from webapp.platform import clock

    counter = iter(range(1, 1_000_000))

    def factory(domain: str = "fire", event_type: str | None = None, *, township: str | None = "hongsipu",
                age_minutes: float = 0, **fields) -> "Alert":
        created = clock.now() - timedelta(minutes=age_minutes)
        lat, lon = HONGSIPU if township != "dahe" else DAHE
        town = db.session.scalar(select(Township).where(Township.code == township)) if township else None
        values = dict(domain=domain, event_type=event_type or {"fire": "fire", "mining": "illegal_mining"}.get(domain, domain),
                      source="box1", source_event_id=f"ev{next(counter)}", occurred_at=created,
                      created_at=created, last_seen_at=created, lat=lat, lon=lon,
                      township_id=town.id if town else None)
        values.update(fields)
        alert = Alert(**values)
        db.session.add(alert)
        db.session.commit()
        return alert
    return factory


@pytest.fixture
def token_for(app):
    """token_for(user) -> a plain user-bound API token."""
    from webapp.extensions import db
    from webapp.platform.security import create_api_token

    def factory(user=None, source: str | None = None) -> str:
        _row, plain = create_api_token(user=user, source=source)
        db.session.commit()
        return plain
    return factory


@pytest.fixture
def kit():
    return SimpleNamespace(HONGSIPU=HONGSIPU, DAHE=DAHE, jpeg=jpeg,
                           auth=lambda token: {"Authorization": f"Bearer {token}"})
