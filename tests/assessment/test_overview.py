"""The leaders' overview dashboard (/assessment/overview) over a history made
through the real intake, review and workflow functions with the frozen clock:
the page's tables hold exactly the seeded counts, rates and medians; units are
refused; in chromium the charts and the heat map draw without a CSP error."""
from __future__ import annotations

from html.parser import HTMLParser
from types import SimpleNamespace

import pytest

from tests.images import jpeg
from tests.orders.conftest import DAHE, HONGSIPU, LIUQUAN, TAIYANGSHAN, XINZHUANGJI

PASSWORD = "test-password-1"
PERIOD = "2026-11"


class Tables(HTMLParser):
    """Every table with an id, as rows of cell texts (th and td alike)."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id"):
            self._table = attrs["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def body_rows(tables: Tables, table_id: str) -> dict[str, list[str]]:
    """Data rows keyed by their first cell (the header row left out)."""
    rows = tables.tables[table_id]
    return {r[0]: r[1:] for r in rows[1:]}


@pytest.fixture
def seeded(org, make_user, clock):
    """Six alerts in November 2026, four orders:

    alert  domain  source/label  camera  review (min)  verdict
    A1     drill   box7 smoke    T01      2            confirmed   → O1 closed
    A2     drill   box7 smoke    T01      4            false_alarm
    A3     drill   box7 smoke    -        6            false_alarm
    A4     paper   box9 form     -        8            confirmed   → O2 closed
    A5     paper   box9 form     -       10            confirmed   → O3 open, supervised
    A6     drill   box7 smoke    -       12            confirmed   → O4 open, nobody accepts (overdue)

    Lead (自然资源局) accepts O1 after 3, O2 after 7, O3 after 11 minutes;
    arrives O1 after 23, O2 after 47; O1 closes 53, O2 60 minutes after dispatch."""
    from webapp.alerts import intake, review
    from webapp.extensions import db
    from webapp.models import Camera
    from webapp.orders import planning, workflow

    duty = make_user("duty_officer", "duty")
    office = make_user("office_staff", "natural_resources")
    nr = make_user("unit_handler", "natural_resources")
    db.session.add(Camera(code="T01", name="测试塔", kind="tower", lat=LIUQUAN[0], lon=LIUQUAN[1] + 0.02))
    db.session.commit()
    counter = iter(range(1, 100))

    def alert(domain, source, label, at, minutes, verdict, camera=None):
        payload = {"domain": domain, "event_type": "slide" if domain == "drill" else "form",
                   "source_event_id": f"ov{next(counter)}", "lat": at[0], "lon": at[1], "label": label}
        if camera:
            payload["camera_code"] = camera
        a, created = intake.ingest(payload, source=source)
        assert created
        clock.advance(minutes=minutes)
        review.decide(a, duty, verdict=verdict, reason="weather" if verdict == "false_alarm" else None)
        return a

    a1 = alert("drill", "box7", "smoke", LIUQUAN, 2, "confirmed", camera="T01")
    alert("drill", "box7", "smoke", HONGSIPU, 4, "false_alarm", camera="T01")
    alert("drill", "box7", "smoke", DAHE, 6, "false_alarm")
    a4 = alert("paper", "box9", "form", XINZHUANGJI, 8, "confirmed")
    a5 = alert("paper", "box9", "form", TAIYANGSHAN, 10, "confirmed")
    a6 = alert("drill", "box7", "smoke", (LIUQUAN[0] + 0.03, LIUQUAN[1] + 0.03), 12, "confirmed")

    o1 = planning.dispatch(a1, actor=duty)
    clock.advance(minutes=3)
    workflow.accept(o1, actor=nr)
    clock.advance(minutes=20)
    workflow.arrive(o1, actor=nr, lat=o1.lat, lon=o1.lon)
    clock.advance(minutes=30)
    workflow.feedback(o1, actor=nr, result="resolved", text="已处置", photos=[(jpeg(), "site.jpg")])
    workflow.close(o1, actor=duty, confirm_unfinished=True)

    o2 = planning.dispatch(a4, actor=duty)
    clock.advance(minutes=7)
    workflow.accept(o2, actor=nr)
    clock.advance(minutes=40)
    workflow.arrive(o2, actor=nr, lat=o2.lat, lon=o2.lon)
    clock.advance(minutes=13)
    workflow.feedback(o2, actor=nr, result="stopped", text="已制止", photos=[(jpeg(), "site.jpg")])
    workflow.close(o2, actor=duty, confirm_unfinished=True)

    o3 = planning.dispatch(a5, actor=duty)
    clock.advance(minutes=11)
    workflow.accept(o3, actor=nr)
    workflow.supervise(o3, actor=office, note="请加快办理")

    o4 = planning.dispatch(a6, actor=duty)
    clock.advance(minutes=15)  # past the drill domain's 10-minute accept clock
    return SimpleNamespace(orders=[o1, o2, o3, o4], duty=duty)


def test_tables_hold_the_seeded_figures(seeded, login_as):
    b, _user = login_as("leader_viewer")
    resp = b.get(f"/assessment/overview?period={PERIOD}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "<script>" not in html and "style=" not in html  # the CSP: no inline script or style
    t = Tables(html)

    domains = body_rows(t, "ov-domain-table")
    assert domains["演练"][0] == "4" and domains["文书"][0] == "2"
    assert body_rows(t, "ov-source-table")["box7"][0] == "4"
    assert body_rows(t, "ov-source-table")["box9"][0] == "2"
    townships = body_rows(t, "ov-township-table")
    assert sum(int(r[0]) for r in townships.values()) == 6
    assert townships["柳泉乡"][0] == "2"

    detectors = body_rows(t, "detector-rates")
    # source → [label, alerts, false alarms, confirmed, rate]
    assert detectors["box7"] == ["烟雾", "4", "2", "2", "50.0%"]
    assert detectors["box9"] == ["form", "2", "0", "2", "0.0%"]
    cameras = body_rows(t, "camera-rates")
    assert cameras["T01 测试塔"] == ["2", "1", "1", "50.0%"]

    medians = {row[0]: row[1:] for row in t.tables["medians"][1:]}
    by_stage = dict(zip(("review", "accept", "arrive", "close"), medians.values()))
    assert by_stage["review"] == ["7.0", "6"]     # 2, 4, 6, 8, 10, 12 minutes
    assert by_stage["accept"] == ["7.0", "3"]     # 3, 7, 11
    assert by_stage["arrive"] == ["35.0", "2"]    # 23, 47
    assert by_stage["close"] == ["56.5", "2"]     # 53, 60

    counts = {r[0]: r[1] for r in t.tables["order-counts"]}
    values = list(counts.values())
    assert values == ["6", "4", "1", "1", "1"]  # alerts, dispatched, overdue now, supervised now, supervised in period
    assert 'href="/orders/?overdue=1"' in html and 'href="/orders/?supervised=1"' in html

    heat = t.tables["heat-cells"][1:]
    assert sum(int(r[3]) for r in heat) == 4  # the four confirmed alerts


def test_other_period_is_empty_and_bad_period_refused(seeded, login_as):
    b, _user = login_as("office_staff", "natural_resources")
    t = Tables(b.get("/assessment/overview?period=2026-10").get_data(as_text=True))
    assert body_rows(t, "order-counts") is not None
    values = [r[1] for r in t.tables["order-counts"]]
    assert values[:2] == ["0", "0"] and values[2:4] == ["1", "1"]  # "now" figures do not depend on the period
    assert b.get("/assessment/overview?period=2026-13").status_code == 400


def test_a_year_is_drawn_per_week(seeded, login_as):
    b, _user = login_as("duty_lead", "duty")
    t = Tables(b.get("/assessment/overview?period=2026").get_data(as_text=True))
    header = t.tables["ov-domain-table"][0]
    # One column per week with alerts: all six fall in the week of Monday 2026-11-16.
    assert header[2:] == ["11-16"]
    assert body_rows(t, "ov-domain-table")["演练"] == ["4", "4"]


@pytest.mark.parametrize("role,unit", [("unit_handler", "natural_resources"), ("unit_leader", "natural_resources"),
                                       ("duty_officer", "duty")])
def test_units_and_duty_officers_are_refused(seeded, login_as, role, unit):
    b, _user = login_as(role, unit)
    assert b.get(f"/assessment/overview?period={PERIOD}").status_code == 403


def test_nav_links_the_overview_for_leaders_only(seeded, login_as):
    leader, _u = login_as("leader_viewer")
    assert 'href="/assessment/overview"' in leader.get("/assessment/").get_data(as_text=True)
    handler, _u = login_as("unit_handler", "natural_resources")
    assert 'href="/assessment/overview"' not in handler.get("/assessment/").get_data(as_text=True)


@pytest.mark.browser
def test_overview_in_chromium(page, seeded, make_user):
    viewer = make_user("leader_viewer")
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.goto(page.base_url + "/login")
    page.fill("input[name=login]", viewer.login)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.goto(page.base_url + f"/assessment/overview?period={PERIOD}")
    page.wait_for_selector("#ov-domain .chart[data-ready='1'] canvas")
    assert page.locator(".ov-chart[data-ready='1'] canvas").count() == 5  # 3 over time, detectors, cameras
    page.wait_for_selector("#heat-map[data-ready='1']", state="attached")
    # One circle per grid cell with confirmed alerts, drawn as SVG paths by Leaflet.
    assert page.locator("#heat-map path.leaflet-interactive").count() == 4
    assert "50.0%" in page.inner_text("#detector-rates")
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e or "page error" in e], errors
