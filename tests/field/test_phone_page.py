"""The handler's phone page through real HTTP: the primary action first and
the rarer forms folded, the required check-in photo, navigation links with
the coordinates each map app expects, and a check-in far from the site that
needs a reason (refused without it, stored and shown to the office with it)."""
from __future__ import annotations

import io
import math
import re
from html import unescape
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import func, select

from tests.field.conftest import EVENT, jpeg, version_of
from webapp.extensions import db
from webapp.geometry import chinacoords
from webapp.models import AuditEvent, EvidenceFile, WorkOrder

FORESTRY = "forestry_grassland.resources_office"
FAR = (EVENT[0] + 0.043, EVENT[1])      # about 4.8 km north of the event


def _metres(a, b) -> float:
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b[1] - a[1]) / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(h))


def _page(b, order) -> str:
    resp = b.get(f"/unit/orders/{order.id}")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def _accepted(make_order, login_as):
    order = make_order("fire")
    b, _user = login_as("unit_handler", FORESTRY)
    url = f"/unit/orders/{order.id}/accept"
    assert b.post(url, data={"version": version_of(_page(b, order), url)}).status_code == 302
    return order, b


def _arrive(b, order, point, far_reason=None, fetch=False):
    url = f"/unit/orders/{order.id}/arrive"
    data = {"version": version_of(_page(b, order), url), "lat": point[0], "lon": point[1], "accuracy": "8",
            "note": "到达路口", "photo": (io.BytesIO(jpeg()), "site.jpg")}
    if far_reason is not None:
        data["far_reason"] = far_reason
    headers = {"X-Field-Fetch": "1"} if fetch else {}
    return b.post(url, data=data, content_type="multipart/form-data", headers=headers)


def _folds(html: str) -> dict[str, bool]:
    """data-fold name → whether the <details> is rendered open."""
    return {m.group(1): "open" in m.group(2)
            for m in re.finditer(r'<details class="fold" data-fold="(\w+)"([^>]*)>', html)}


def test_to_accept_shows_accept_first_and_folds_return(make_order, login_as):
    order = make_order("fire")
    b, _ = login_as("unit_handler", FORESTRY)
    html = _page(b, order)
    assert 'data-primary-action="accept"' in html
    assert html.index(f'action="/unit/orders/{order.id}/accept"') < html.index('data-fold="return"')
    assert _folds(html) == {"return": False}
    # The return form lives inside the fold.
    fold = html[html.index('data-fold="return"'):]
    assert fold.index(f'action="/unit/orders/{order.id}/return"') < fold.index("</details>")


def test_in_progress_checkin_first_then_folded_forms(make_order, login_as):
    order, b = _accepted(make_order, login_as)
    html = _page(b, order)
    assert 'data-primary-action="arrive"' in html
    checkin = html.index(f'action="/unit/orders/{order.id}/arrive"')
    folds = _folds(html)
    # Feedback comes after the check-in; forward, extension and case are folded away.
    assert folds == {"feedback": False, "forward": False, "extension": False, "transfer_case": False}
    assert all(checkin < html.index(f'data-fold="{name}"') for name in folds)
    for name, action in (("forward", "forward"), ("extension", "extension"), ("transfer_case", "transfer-case")):
        fold = html[html.index(f'data-fold="{name}"'):]
        assert fold.index(f'action="/unit/orders/{order.id}/{action}"') < fold.index("</details>")
    # Every folded form has a summary (its name, readable by screen readers).
    assert html.count("<summary>") == 4

    # The required check-in photo: marked for the eye and for the browser.
    photo = re.search(r'<input[^>]*name="photo"[^>]*>', html).group(0)
    assert "required" in photo and 'aria-required="true"' in photo and "data-compress" in photo
    label = re.search(r'<label for="checkin-photo-\d+">(.*?)</label>', html, re.DOTALL).group(1)
    assert "（必填）" in label and "现场照片" in label
    # The server's photo limit is in the page for the phone to check before sending.
    assert 'data-max-bytes="10485760"' in html and "10 MB" in html

    assert _arrive(b, order, (EVENT[0] + 0.001, EVENT[1])).status_code == 302
    html = _page(b, order)
    assert 'data-primary-action="feedback"' in html
    assert f'action="/unit/orders/{order.id}/arrive"' not in html
    assert "feedback" not in _folds(html)
    assert html.index(f'action="/unit/orders/{order.id}/feedback"') < html.index('data-fold="extension"')


def test_error_in_a_folded_form_opens_it_and_keeps_the_input(make_order, login_as):
    order, b = _accepted(make_order, login_as)
    url = f"/unit/orders/{order.id}/extension"
    resp = b.post(url, data={"version": version_of(_page(b, order), url), "until": "", "reason": "路被冲断"})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert _folds(html)["extension"] is True and _folds(html)["transfer_case"] is False
    assert "路被冲断" in html and "请选择新的截止时间。" in html


def test_navigation_links_carry_converted_coordinates(make_order, login_as):
    order, b = _accepted(make_order, login_as)
    html = _page(b, order)
    assert f'id="order-map-{order.id}"' in html
    hrefs = {m.group(2): unescape(m.group(1))
             for m in re.finditer(r'<a class="button" href="([^"]+)" data-nav="(\w+)">', html)}
    webs = {m.group(2): unescape(m.group(1))
            for m in re.finditer(r'<a class="web" href="([^"]+)" data-nav-web="(\w+)"', html)}
    assert set(hrefs) == {"amap", "tencent", "baidu", "geo"} and set(webs) == {"amap", "tencent", "baidu"}
    assert "高德地图" in html and "腾讯地图" in html and "百度地图" in html

    site = (order.lat, order.lon)
    gcj, bd = chinacoords.wgs84_to_gcj02(*site), chinacoords.wgs84_to_bd09(*site)
    assert hrefs["geo"].startswith(f"geo:{site[0]:.6f},{site[1]:.6f}")

    amap = parse_qs(urlsplit(hrefs["amap"]).query)
    assert hrefs["amap"].startswith("amapuri://route/plan/") and amap["dev"] == ["0"]
    got = (float(amap["dlat"][0]), float(amap["dlon"][0]))
    assert _metres(got, gcj) < 1 and _metres(got, site) > 100
    lon, lat, _name = parse_qs(urlsplit(webs["amap"]).query)["to"][0].split(",", 2)
    assert _metres((float(lat), float(lon)), gcj) < 1

    for url in (hrefs["tencent"], webs["tencent"]):
        lat, lon = map(float, parse_qs(urlsplit(url).query)["tocoord"][0].split(","))
        assert _metres((lat, lon), gcj) < 1

    for url in (hrefs["baidu"], webs["baidu"]):
        q = parse_qs(urlsplit(url).query)
        assert q["coord_type"] == ["bd09ll"]
        lat, lon = map(float, re.search(r"latlng:([\d.]+),([\d.]+)", unquote(q["destination"][0])).groups())
        assert _metres((lat, lon), bd) < 1 and _metres((lat, lon), site) > 500


def _arrive_events(order) -> list[AuditEvent]:
    return db.session.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "work_order", AuditEvent.entity_id == order.id,
        AuditEvent.action == "arrive")).all()


def test_far_checkin_needs_a_reason(make_order, login_as):
    order, b = _accepted(make_order, login_as)
    resp = _arrive(b, order, FAR)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert re.search(r"您距事件地点 4\.\d\d km，超过 500 m，请说明原因。", html)
    # In place: the reason field now required, the note kept; nothing stored.
    reason = re.search(r'<textarea[^>]*name="far_reason"[^>]*>', html).group(0)
    assert "required" in reason and "到达路口" in html
    db.session.expire_all()
    assert db.session.get(WorkOrder, order.id).lead.arrived_at is None
    assert db.session.scalar(select(func.count(EvidenceFile.id)).where(
        EvidenceFile.order_id == order.id, EvidenceFile.kind == "checkin")) == 0
    assert _arrive_events(order) == []

    # Sent by field.js: the same refusal as JSON, with a code the page reacts to.
    resp = _arrive(b, order, FAR, far_reason="   ", fetch=True)
    assert resp.status_code == 400 and resp.json["code"] == "far_checkin_needs_reason"
    assert "请说明原因" in resp.json["message"]

    resp = _arrive(b, order, FAR, far_reason="河道涨水，只能在对岸观察")
    assert resp.status_code == 302
    db.session.expire_all()
    lead = db.session.get(WorkOrder, order.id).lead
    assert lead.arrived_at is not None and 4500 < lead.arrive_distance_m < 5000
    assert lead.arrive_far_reason == "河道涨水，只能在对岸观察"
    [event] = _arrive_events(order)
    assert event.data["far_reason"] == "河道涨水，只能在对岸观察"
    assert 4500 < event.data["distance_m"] < 5000

    # The handler sees it on the phone; the office on the order page.
    assert "河道涨水，只能在对岸观察" in _page(b, order)
    office, _ = login_as("duty_officer", "duty")
    detail = office.get(f"/orders/{order.id}").get_data(as_text=True)
    cell = detail[detail.index(f'data-checkin-distance="{lead.arrive_distance_m}"'):]
    cell = cell[:cell.index("</td>")]
    assert re.search(r"4\.\d\d km", cell) and "远离现场" in cell
    assert "异地签到原因: 河道涨水，只能在对岸观察" in cell
    # And in the order's timeline, from the audit row.
    timeline = detail[detail.index("data-arrive-distance>"):]
    timeline = timeline[:timeline.index("</div>")]
    assert re.search(r"已签到 4\.\d\d km", timeline) and "异地签到原因: 河道涨水，只能在对岸观察" in timeline


def test_near_checkin_needs_no_reason_and_the_limit_is_configured(app, make_order, login_as):
    order, b = _accepted(make_order, login_as)
    assert _arrive(b, order, (EVENT[0] + 0.004, EVENT[1])).status_code == 302     # about 450 m
    db.session.expire_all()
    lead = db.session.get(WorkOrder, order.id).lead
    assert lead.arrive_far_reason is None and lead.arrive_distance_m < 500
    [event] = _arrive_events(order)
    assert "far_reason" not in event.data and event.data["distance_m"] == lead.arrive_distance_m

    app.config["NRSC_CHECKIN_FAR_M"] = 10_000
    other, b2 = _accepted(make_order, login_as)
    html = _page(b2, other)
    assert 'data-far-m="10000"' in html and "距事件地点超过 10.0 km" in html
    assert _arrive(b2, other, FAR).status_code == 302
