"""Work-order fixtures: the app with a drill domain (so the state machine and
the timers are tested whatever the real plugins do), alerts made straight in
the database, users with user-bound tokens, an API client and photos."""
from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from tests.images import jpeg  # noqa: F401 - re-exported to the tests of this folder
from webapp.plugin_api import Clock, Domain, EventType, Routing, SlaClocks, hookimpl

# Inside 柳泉乡 and 红寺堡镇 (demo township boundaries).
LIUQUAN = (37.14, 106.35)
HONGSIPU = (37.40, 106.06)
DAHE = (37.50, 106.22)
XINZHUANGJI = (37.18, 106.02)
TAIYANGSHAN = (37.42, 106.45)


class DrillPlugin:
    """Two test domains: 'drill' counts natural time and allows emergency
    response; 'paper' counts working time."""

    @hookimpl
    def register_domains(self):
        return [
            Domain(code="drill", name_zh="演练", name_en="Drill", colour="#c00", icon="bolt",
                   working_group=1, event_types=(EventType("slide", "滑坡", "Slide"),),
                   sla=SlaClocks(review=Clock(5), accept=Clock(10), arrive=Clock(60), feedback=Clock(24 * 60),
                                 basis="natural"),
                   urgent=True, emergency_allowed=True),
            Domain(code="paper", name_zh="文书", name_en="Paperwork", colour="#0c0", icon="file",
                   working_group=1, event_types=(EventType("form", "表格", "Form"),),
                   sla=SlaClocks(review=Clock(30), accept=Clock(120), arrive=Clock(working_days=1),
                                 feedback=Clock(working_days=3), basis="working")),
        ]

    @hookimpl
    def route_alert(self, alert, context):
        if alert.domain not in ("drill", "paper"):
            return None
        cooperating = tuple(c for c in (context.township_unit, "emergency_management") if c)
        return Routing(lead_unit="natural_resources", working_group=1,
                       lead_offices=("natural_resources.geology_mining_office",),
                       cooperating=cooperating if alert.domain == "drill" else cooperating[:1],
                       note="test rule")


@pytest.fixture
def app(app_config, clock):
    from webapp import create_app

    application = create_app(app_config, plugins=[DrillPlugin()], load_entrypoints=True)
    with application.app_context():
        yield application
        from webapp.extensions import db
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def make_alert(org):
    """make_alert(domain, event_type, at=(lat, lon), status="confirmed") -> Alert."""
    from webapp.extensions import db
    from webapp.models import Alert
    from webapp.platform import clock

    counter = iter(range(1, 1_000_000))

    def factory(domain: str = "drill", event_type: str = "slide", *, at=LIUQUAN,
                status: str = "confirmed", **fields) -> Alert:
        now = clock.now()
        values = dict(domain=domain, event_type=event_type, status=status, source="test",
                      source_event_id=f"ev{next(counter)}", occurred_at=now, created_at=now,
                      last_seen_at=now, lat=at[0], lon=at[1], text="测试事件")
        values.update(fields)
        alert = Alert(**values)
        db.session.add(alert)
        db.session.commit()
        return alert
    return factory


class Api:
    """The test client with a user-bound Bearer token."""

    def __init__(self, client, token: str, user):
        self.client, self.token, self.user = client, token, user

    def _h(self):
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, url):
        return self.client.get(url, headers=self._h())

    def post(self, url, json=None, data=None):
        if data is not None:
            return self.client.post(url, data=data, headers=self._h(), content_type="multipart/form-data")
        return self.client.post(url, json=json if json is not None else {}, headers=self._h())


@pytest.fixture
def api_as(app, org, make_user):
    """api_as(role, unit_code=None) -> Api for a new user with a fresh token."""
    from webapp.extensions import db
    from webapp.platform.security import create_api_token

    def factory(role: str, unit_code: str | None = None) -> Api:
        user = make_user(role, unit_code)
        _row, plain = create_api_token(user=user)
        db.session.commit()
        return Api(app.test_client(), plain, user)
    return factory


@pytest.fixture
def people(api_as):
    """Everyone a loop needs, each with a token."""
    return SimpleNamespace(
        duty=api_as("duty_officer", "duty"),
        lead=api_as("duty_lead", "duty"),
        office=api_as("office_staff", "natural_resources"),
        nr=api_as("unit_handler", "natural_resources.geology_mining_office"),
        nr_dept=api_as("unit_handler", "natural_resources"),
        liuquan=api_as("unit_handler", "town.liuquan"),
        em=api_as("unit_handler", "emergency_management"),
        outsider=api_as("unit_handler", "forestry_grassland"),
        enforcement=api_as("unit_handler", "comprehensive_enforcement"),
    )


def photo_form(**fields):
    data = {k: str(v) for k, v in fields.items()}
    data["photos"] = [(io.BytesIO(jpeg()), "site.jpg")]
    return data


@pytest.fixture
def dispatched(make_alert, people):
    """dispatched(domain="drill", **body) -> the order JSON after an API dispatch."""
    def factory(domain: str = "drill", event_type: str = "slide", at=LIUQUAN, **body):
        alert = make_alert(domain, event_type, at=at)
        resp = people.duty.post(f"/api/v1/alerts/{alert.id}/dispatch", json=body)
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()
    return factory


@pytest.fixture
def with_photo():
    """with_photo(**fields) -> multipart form data with one JPEG."""
    return photo_form


@pytest.fixture
def make_jpeg():
    return jpeg


@pytest.fixture
def places():
    return SimpleNamespace(liuquan=LIUQUAN, hongsipu=HONGSIPU, dahe=DAHE, xinzhuangji=XINZHUANGJI,
                           taiyangshan=TAIYANGSHAN)
