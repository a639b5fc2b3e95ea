"""Chinese everywhere a user looks (issue 9 item 2): log in as each demo
role, follow every GET link and htmx partial reachable from the navigation
(within a bound), plus known routes with demo ids, in zh_CN; fail on any
visible Latin word outside an allow-list.

Visible text: text nodes outside script/style, plus the title, placeholder
and aria-label attributes. Identifiers shown as such (inside <code> or
<kbd>: logins, unit codes, key names) are data, not language."""
from __future__ import annotations

import io
import re
from collections import Counter, deque
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from sqlalchemy import select

from tests.conftest import Browser
from tests.images import jpeg
from webapp.demo.data import DEMO_PASSWORD, load_demo
from webapp.extensions import db
from webapp.models import Alert, Camera, Unit, User, WorkOrder
from webapp.platform import clock as clock_module

# The demo's people (webapp/demo/data.py), one per role the issue names.
ROLES = {
    "duty officer": "duty01",
    "duty lead": "duty_lead",
    "office": "office01",
    "department handler": "nr_geo_handler",
    "department leader": "nr_leader",
    "leader": "leader",
    "admin": "admin",
}
# Words that are names, not language: products and formats, units of
# measure, the platform's own short name, the language switch.
ALLOWED = {
    "ONVIF", "API", "PDF", "Excel", "NRSC", "GPS", "GIS", "RTSP", "MJPEG", "MQTT", "HTTP", "HTTPS", "URL", "IP",
    "ID", "JSON", "SHA", "YOLO", "ZIP",
    # Model names as their authors write them (YOLOv8, NanoDet).
    "YOLOv", "NanoDet", "PTZ", "DEM", "WGS", "GCJ", "BD", "Leaflet", "OpenStreetMap", "ECharts",
    "km", "m", "MB", "KB", "GB", "B", "h", "min", "s", "ms", "px", "dpi", "x",
    "English", "Webhook",
    # The clock syntax the dispatch form asks for: 10m, 4h, 3wd (working days).
    "wd",
    # A placeholder of the demo's fictional company names (XX化工有限公司).
    "XX",
    # Alert sources and API token names are integration identifiers.
    "crawl", "box",
}
# Order numbers (HSB-2026-000123), camera codes (T-01, K-07), alert sources
# of the world below, hex digests.
IDENTIFIERS = re.compile(r"https?://\S+|(?<![A-Za-z])(?:HSB-\d{4}-\d{6}|[TK]-\d{2}|crawl-box|[0-9a-f]{16,}"
                         r"|\d{4}-Q[1-4]|[A-Z]{1,3}-?\d[\w-]*|[\w.-]+\.(?:jpe?g|png|webp|pdf|xlsx))(?![A-Za-z])")
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")
# <textarea> holds what the user typed (or a JSON rules file to edit), not UI.
SKIP_TEXT_IN = {"script", "style", "code", "kbd", "template", "noscript", "textarea"}
VISIBLE_ATTRS = ("title", "placeholder", "aria-label")
# Not pages: downloads, streams, images, JSON, state changes.
NOT_PAGES = re.compile(r"(\.(pdf|xlsx|png|jpg|jpeg|mjpg|json|css|js)(\?|$))|^/(static|files|lang|logout)\b"
                       r"|/files/\d+|/live\.mjpg|/snapshot\.jpg|/api/")
MAX_PAGES_PER_ROLE = 100
# Pages of one shape (ids replaced) visited at most this often per role.
MAX_PER_SHAPE = 2


class Visible(HTMLParser):
    """Visible text, links and htmx GET partials of one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.links: list[str] = []
        self.partials: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in SKIP_TEXT_IN:
            self._skip += 1
        for name in VISIBLE_ATTRS:
            if a.get(name):
                self.texts.append(a[name])
        if tag == "a" and a.get("href") and "download" not in a:
            self.links.append(a["href"])
        if a.get("hx-get"):
            self.partials.append(a["hx-get"])

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in SKIP_TEXT_IN:
            self._skip -= 1

    def handle_endtag(self, tag):
        if tag in SKIP_TEXT_IN and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.texts.append(data)


def latin_words(text: str) -> list[str]:
    text = IDENTIFIERS.sub(" ", text)
    return [w for w in LATIN_WORD.findall(text) if w not in ALLOWED]


def shape(path: str) -> str:
    parts = urlsplit(path)
    return re.sub(r"\d+", "N", parts.path) + ("?" + "&".join(sorted(
        k.split("=")[0] for k in parts.query.split("&") if k)) if parts.query else "")


# -- the world --------------------------------------------------------------------
def build_world(clock) -> dict:
    """The demo organisation, users, cameras and parcels, and orders in every
    state made through the real intake, review and workflow."""
    from webapp.alerts import intake, review
    from webapp.orders import planning, workflow

    load_demo(history=False)
    users = {u.login: u for u in db.session.scalars(select(User))}
    duty = users["duty01"]
    n = iter(range(1, 1000))

    def alert(domain, event_type, lat, lon, verdict=None, **extra):
        k = next(n)
        payload = {"domain": domain, "event_type": event_type, "source_event_id": f"crawl-{k}",
                   "occurred_at": (clock() - timedelta(minutes=3)).isoformat(), "lat": lat, "lon": lon,
                   "text": f"巡查发现情况{k}", "label": extra.pop("label", None), "score": extra.pop("score", None)}
        payload.update(extra)
        made, _ = intake.ingest(payload, [("snap.jpg", jpeg((20 * k % 255, 90, 60)))], source="crawl-box")
        if verdict:
            review.decide(made, duty, verdict=verdict, reason="weather" if verdict == "false_alarm" else None)
        return made

    def order(domain, event_type, lat, lon):
        return planning.dispatch(alert(domain, event_type, lat, lon, verdict="confirmed"), actor=duty, data={})

    geo_lead = users["nr_geo_handler"]
    waiting = order("geohazard", "landslide", 37.50, 106.22)
    handled = order("geohazard", "landslide", 37.41, 106.07)
    workflow.accept(handled, actor=geo_lead)
    workflow.arrive(handled, actor=geo_lead, lat=37.4101, lon=106.0702, accuracy_m=8,
                    photos=[(jpeg((1, 2, 3)), "site.jpg")])
    workflow.feedback(handled, actor=geo_lead, result="resolved", text="已清理落石，设置警示牌。",
                      photos=[(jpeg((4, 5, 6)), "done.jpg")])
    closed = order("fire", "fire", 37.30, 106.10)
    p = closed.lead
    handler = db.session.scalar(select(User).where(User.unit_id == p.unit_id, User.role == "unit_handler"))
    workflow.accept(closed, actor=handler, participant_id=p.id)
    workflow.arrive(closed, actor=handler, participant_id=p.id, lat=37.30, lon=106.10,
                    photos=[(jpeg((7, 8, 9)), "a.jpg")])
    workflow.feedback(closed, actor=handler, participant_id=p.id, result="stopped", text="火已扑灭。",
                      photos=[(jpeg((9, 8, 7)), "b.jpg")])
    workflow.close(closed, actor=duty, note="处置到位", confirm_unfinished=True)
    workflow.supervise(waiting, actor=users["office01"], note="请尽快签收")
    order("farmland", "farmland_damage", 37.20, 106.05)
    clock.advance(hours=3)  # some clocks run out: overdue marks and countdowns
    alert("fire", "fire", 37.45, 106.15, label="smoke", score=0.91)
    alert("mining", "illegal_mining", 37.35, 106.25, verdict="false_alarm")
    db.session.commit()
    return {
        "alerts": [a.id for a in db.session.scalars(select(Alert).order_by(Alert.id))],
        "orders": [o.id for o in db.session.scalars(select(WorkOrder).order_by(WorkOrder.id))],
        "unit": db.session.scalar(select(Unit.id).where(Unit.code == "natural_resources")),
        "camera": db.session.scalar(select(Camera).order_by(Camera.id)),
        "confirmed": alert("safety", "accident", 37.42, 106.12, verdict="confirmed").id,
    }


def known_routes(world: dict) -> list[str]:
    """Pages no link leads to directly (ids of the demo world, error pages)."""
    cam = world["camera"]
    period = clock_module.local(clock_module.now()).strftime("%Y-%m")
    routes = ["/", "/alerts/new", f"/orders/dispatch/{world['confirmed']}", f"/admin/units/{world['unit']}/edit",
              f"/admin/cameras/{cam.id}/edit", "/admin/users/new", f"/cameras/{cam.code}",
              f"/cameras/{cam.code}/presets", "/no/such/page", f"/assessment/?period={period}",
              f"/assessment/{period}/unit/{world['unit']}", "/assessment/rules", "/assessment/dispatch-pack"]
    for oid in world["orders"]:
        routes += [f"/orders/{oid}", f"/orders/{oid}/review", f"/unit/orders/{oid}", f"/orders/{oid}/deliveries"]
    routes += [f"/alerts/{aid}" for aid in world["alerts"]]
    return routes


def crawl(app, login: str, seeds: list[str]) -> tuple[list[tuple[str, str, str]], int]:
    """(url, word, text) of every Latin word met, and the number of pages read."""
    browser = Browser(app.test_client())
    resp = browser.login(login, DEMO_PASSWORD)
    assert resp.status_code == 302, (login, resp.status_code)
    queue: deque[tuple[str, bool]] = deque((s, False) for s in seeds)
    seen: set[tuple[str, bool]] = set()
    shapes: Counter = Counter()
    found: list[tuple[str, str, str]] = []
    pages = 0
    while queue and pages < MAX_PAGES_PER_ROLE:
        url, partial = queue.popleft()
        if (url, partial) in seen or NOT_PAGES.search(url):
            continue
        seen.add((url, partial))
        key = (shape(url), partial)
        if shapes[key] >= MAX_PER_SHAPE:
            continue
        shapes[key] += 1
        headers = {"Accept-Language": "zh-CN,zh;q=0.9"}
        if partial:
            headers["HX-Request"] = "true"
        resp = browser.get(url, headers=headers)
        if resp.status_code in (301, 302, 303) or resp.status_code == 204:
            target = resp.headers.get("Location") or resp.headers.get("HX-Redirect")
            if target:
                queue.append((urlsplit(target).path + (f"?{urlsplit(target).query}" if urlsplit(target).query
                                                        else ""), False))
            continue
        if resp.mimetype != "text/html":
            continue
        pages += 1
        page = Visible()
        page.feed(resp.get_data(as_text=True))
        for text in page.texts:
            for word in latin_words(text):
                found.append((url, word, " ".join(text.split())[:120]))
        for href in page.links:
            target = urljoin(url, href)
            parts = urlsplit(target)
            if parts.netloc and parts.netloc != "localhost" or not parts.path.startswith("/"):
                continue
            queue.append((parts.path + (f"?{parts.query}" if parts.query else ""), False))
        for href in page.partials:
            parts = urlsplit(urljoin(url, href))
            queue.append((parts.path + (f"?{parts.query}" if parts.query else ""), True))
    return found, pages


@pytest.fixture
def world(app, clock):
    return build_world(clock)


def test_no_english_on_any_page_of_any_role(app, world):
    seeds = known_routes(world)
    by_text: dict[str, list[str]] = {}
    for role, login in ROLES.items():
        found, pages = crawl(app, login, seeds)
        assert pages >= 10, (role, pages)
        for url, word, text in found:
            by_text.setdefault(text, []).append(f"{role} {url}")
    # One line per distinct text, with where it was first seen and how often.
    lines = [f"{text!r} ({len(where)}×, e.g. {where[0]})" for text, where in sorted(by_text.items())]
    assert lines == [], f"{len(lines)} texts with Latin words on zh_CN pages:\n" + "\n".join(lines)


def test_the_crawler_sees_what_it_must_refuse(app, org):
    """The check can fail: an English word in visible text or a placeholder is
    caught, while scripts, code and allowed names are not."""
    page = Visible()
    page.feed('<p>办结 <b>Closed</b></p><input placeholder="Search orders"><code>nr_geo_handler</code>'
              '<script>var x = "English";</script><span title="导出 Excel">PDF 30.1 MB</span>'
              '<a href="/orders/1">HSB-2026-000123</a> T-01 <kbd>Esc</kbd>')
    words = [w for t in page.texts for w in latin_words(t)]
    assert words == ["Closed", "Search", "orders"]
    assert page.links == ["/orders/1"]


def _visible_latin(html: str) -> list[str]:
    page = Visible()
    page.feed(html)
    return [w for t in page.texts for w in latin_words(t)]


def test_refused_actions_answer_in_chinese_on_pages(app, world):
    """Workflow and review refusals carry English for the API; the pages that
    show them (phone, office, dispatch, alert) say them in Chinese."""
    waiting, handled, closed, _farmland = world["orders"][:4]
    fresh_alert = db.session.scalar(select(Alert.id).where(Alert.status == "new").order_by(Alert.id))

    def as_user(login):
        b = Browser(app.test_client())
        assert b.login(login, DEMO_PASSWORD).status_code == 302
        return b

    handler, office, duty = as_user("nr_geo_handler"), as_user("office01"), as_user("duty01")
    cases = [
        # The phone page: accepting an order that waits for review.
        (handler, f"/unit/orders/{handled}/accept", {}, 409, "不能进行"),
        # Checking in before accepting.
        (handler, f"/unit/orders/{waiting}/arrive", {"lat": "37.5", "lon": "106.22", "accuracy": "5",
                                                     "photo": (io.BytesIO(jpeg()), "site.jpg")}, 409, "当前不能在工单"),
        # The office: rework of a closed order.
        (duty, f"/orders/{closed}/act/rework", {"reason": "重新核实"}, 409, "不能进行"),
        # The office: a supervision note missing (a form check, already in words).
        (office, f"/orders/{waiting}/act/supervise", {"note": ""}, 400, "督办"),
        # Dispatch with an office as lead: the fallback reason.
        (duty, f"/orders/dispatch/{world['confirmed']}",
         {"lead_unit": "natural_resources.geology_mining_office", "title": "测试"}, 400, "派发"),
        # A false alarm without its reason.
        (duty, f"/alerts/{fresh_alert}/verdict", {"verdict": "false_alarm"}, 400, "误报原因"),
    ]
    for browser, url, data, status, words in cases:
        resp = browser.post(url, data=data)
        html = resp.get_data(as_text=True)
        assert resp.status_code == status, (url, resp.status_code, html[:300])
        assert _visible_latin(html) == [], (url, _visible_latin(html))
        if words:
            texts = Visible()
            texts.feed(html)
            assert words in html, (url, words, [t for t in texts.texts if "。" in t][:8])
