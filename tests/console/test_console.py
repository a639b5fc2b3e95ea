"""The console pages: queue filters and counts, access, detail, manual alerts."""
from __future__ import annotations

import re

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Alert, Camera, EvidenceFile, Preset


def _ids(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'<tr id="alert-(\d+)"', html)}


def _count(html: str, status: str) -> int:
    return int(re.search(rf'data-status="{status}">[^<]*<b>(\d+)</b>', html).group(1))


def test_console_filters_and_counts(app, make_alert, login_as):
    officer, user = login_as("duty_officer")
    cam = Camera(code="T-17", name="大河北塔", kind="tower", lat=37.5, lon=106.2)
    db.session.add(cam)
    db.session.commit()
    fire_new = make_alert("fire", township="dahe", camera_id=cam.id)
    fire_old = make_alert("fire", age_minutes=3 * 60)
    mining_review = make_alert("mining", status="under_review", claimed_by_id=user.id)
    mining_false = make_alert("mining", status="false_alarm")
    manual = make_alert("grazing", event_type="grazing", source="manual", manual=True)
    confirmed = make_alert("fire", status="confirmed", township="dahe")

    html = officer.get("/alerts/queue").get_data(as_text=True)
    assert _ids(html) == {fire_new.id, fire_old.id, mining_review.id, manual.id}  # open by default
    assert (_count(html, "open"), _count(html, "new"), _count(html, "under_review"),
            _count(html, "false_alarm"), _count(html, "confirmed")) == (4, 3, 1, 1, 1)

    def ids(**args):
        return _ids(officer.get("/alerts/queue", query_string=args).get_data(as_text=True))

    assert ids(domain="fire") == {fire_new.id, fire_old.id}
    assert ids(domain="fire", status="all") == {fire_new.id, fire_old.id, confirmed.id}
    dahe = fire_new.township_id
    assert ids(township=dahe, status="all") == {fire_new.id, confirmed.id}
    assert ids(camera=cam.id) == {fire_new.id}
    assert ids(source="manual") == {manual.id}
    assert ids(status="false_alarm") == {mining_false.id}
    assert ids(since="1h", status="all") == {fire_new.id, mining_review.id, mining_false.id, manual.id, confirmed.id}
    assert ids(domain="nonsense") == ids()  # unknown filters are ignored
    counts_fire = officer.get("/alerts/queue?domain=fire").get_data(as_text=True)
    assert (_count(counts_fire, "new"), _count(counts_fire, "confirmed")) == (2, 1)

    # Open alerts come by review due time: the 3-hour-old fire is the most pressing.
    order = [int(i) for i in re.findall(r'<tr id="alert-(\d+)"', officer.get("/alerts/queue").get_data(as_text=True))]
    assert order[0] == fire_old.id and order[-1] == mining_review.id


def test_console_page_and_partial(app, make_alert, login_as):
    officer, _user = login_as("duty_officer")
    make_alert("fire")
    full = officer.get("/alerts/")
    assert full.status_code == 200 and "<html" in full.get_data(as_text=True)
    html = full.get_data(as_text=True)
    assert 'hx-trigger="every 2s' in html and "console.js" in html and 'id="help-overlay"' in html
    part = officer.get("/alerts/", headers={"HX-Request": "true"})
    assert "<html" not in part.get_data(as_text=True) and "HX-Request" in part.headers["Vary"]
    assert "<html" not in officer.get("/alerts/queue").get_data(as_text=True)


def test_console_access(app, make_alert, login_as):
    alert = make_alert("fire")
    anon = app.test_client()
    assert anon.get("/alerts/").status_code == 302
    handler, _u = login_as("unit_handler", "town.hongsipu")
    assert handler.get("/alerts/").status_code == 403
    assert handler.get(f"/alerts/{alert.id}").status_code == 403
    assert handler.post(f"/alerts/{alert.id}/claim").status_code == 403
    viewer, _v = login_as("leader_viewer")
    page = viewer.get(f"/alerts/{alert.id}")
    assert page.status_code == 200 and 'id="claim-button"' not in page.get_data(as_text=True)
    assert viewer.post(f"/alerts/{alert.id}/claim").status_code == 403
    officer, _o = login_as("duty_officer")
    assert officer.get("/alerts/999999").status_code == 404
    # Forms need the CSRF token.
    assert officer.client.post(f"/alerts/{alert.id}/claim").status_code == 400


def test_detail_shows_boxes_map_context_checklist_history(app, make_alert, login_as, kit):
    from webapp.alerts import evidence
    officer, _user = login_as("duty_officer")
    cam = Camera(code="T-17", name="大河北塔", kind="tower", lat=37.45, lon=106.2, pan_zero_azimuth_deg=10,
                 fov_table=[{"zoom": 1, "hfov_deg": 50.0, "vfov_deg": 30.0}])
    cam.presets.append(Preset(number=3, name="北坡", pan_deg=35.0))
    db.session.add(cam)
    db.session.flush()
    alert = make_alert("fire", camera_id=cam.id, preset_number=3,
                       boxes=[[0.1, 0.2, 0.5, 0.6], {"box": [0.6, 0.6, 0.9, 0.8], "label": "smoke"}, "junk"],
                       gis_context={"township_code": "hongsipu", "township_name": "红寺堡镇", "features": [
                           {"layer": "forest_grassland", "code": "FG-1", "name": "北坡草地", "inside": True,
                            "distance_m": 0}]})
    evidence.store_image(kit.jpeg(), "snap.jpg", "snapshot", alert_id=alert.id)
    db.session.commit()
    html = officer.get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert html.count('class="det-box"') == 2
    assert 'data-box="10.00,20.00,40.00,40.00"' in html  # applied as left/top/width/height by app.js (CSP)
    assert "北坡草地" in html and "T-17" in html and "北坡" in html
    map_json = re.search(r'<script type="application/json" id="alert-map-data">(.*?)</script>', html, re.S).group(1)
    import json
    data = json.loads(map_json)
    assert data["cameras"][0]["azimuth"] == 45.0 and data["cameras"][0]["hfov"] == 50.0
    assert data["points"] == [{"lat": alert.lat, "lon": alert.lon, "kind": "event", "label": "事发点",
                               "estimated": False}]
    checklist = app.extensions["nrsc.plugins"].checklist(__import__("webapp.alerts.review", fromlist=["x"]).alert_view(alert))
    assert checklist and all(line in html for line in checklist)
    assert "vendor/leaflet/leaflet.js" in html
    img = re.search(r'<img src="([^"]+)"', html).group(1)
    assert officer.get(img).status_code == 200


def test_manual_alert_with_image(app, org, login_as, kit):
    officer, user = login_as("duty_officer")
    form = officer.get("/alerts/new").get_data(as_text=True)
    token = re.search(r'name="token" value="([0-9a-f]+)"', form).group(1)
    data = {"kind": "grazing/grazing", "lat": str(kit.HONGSIPU[0]), "lon": str(kit.HONGSIPU[1]),
            "text": "禁牧区内有羊群约30只", "occurred_at": "2026-11-20T02:05", "token": token}
    resp = officer.post("/alerts/new", data={**data, "images": [(__import__("io").BytesIO(kit.jpeg()), "sheep.jpg")]},
                        content_type="multipart/form-data")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    alert = db.session.scalar(select(Alert).where(Alert.manual.is_(True)))
    assert alert.reporter_id == user.id and alert.domain == "grazing" and alert.text == "禁牧区内有羊群约30只"
    assert alert.occurred_at.isoformat() == "2026-11-19T18:05:00+00:00"
    assert alert.review_due_at is not None and alert.township.name == "红寺堡镇"
    files = db.session.scalars(select(EvidenceFile).where(EvidenceFile.alert_id == alert.id)).all()
    assert [f.original_name for f in files] == ["sheep.jpg"]
    assert resp.headers["Location"].endswith(f"/alerts/{alert.id}")
    # Sending the same form again raises no second alert.
    again = officer.post("/alerts/new", data={**data}, content_type="multipart/form-data")
    assert again.status_code == 302
    assert db.session.scalar(select(db.func.count(Alert.id))) == 1


def test_manual_alert_bad_input(app, org, login_as, kit):
    officer, _user = login_as("duty_officer")
    resp = officer.post("/alerts/new", data={"kind": "grazing/grazing", "text": "羊", "token": "t1"})
    assert resp.status_code == 400 and "flash error" in resp.get_data(as_text=True)
    resp = officer.post("/alerts/new", data={"kind": "nope/x", "lat": "37.4", "lon": "106.06", "text": "x", "token": "t2"})
    assert resp.status_code == 400
    # Outside the district: intake refuses, nothing written.
    resp = officer.post("/alerts/new", data={"kind": "grazing/grazing", "lat": "38.6", "lon": "106.0",
                                             "text": "羊", "token": "t3"})
    assert resp.status_code == 400
    resp = officer.post("/alerts/new", data={"kind": "grazing/grazing", "lat": "37.4", "lon": "106.06",
                                             "text": "羊", "token": "t4",
                                             "images": [(__import__("io").BytesIO(b"not an image"), "x.jpg")]},
                        content_type="multipart/form-data")
    assert resp.status_code == 400
    assert db.session.scalar(select(db.func.count(Alert.id))) == 0
    assert db.session.scalar(select(db.func.count(EvidenceFile.id))) == 0


def test_review_api_is_documented(app):
    doc = app.test_client().get("/api/v1/openapi.json").json
    op = doc["paths"]["/alerts/{id}/review"]["post"]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["verdict"]["enum"] == ["false_alarm", "duplicate", "confirmed"]
    assert "permitted_area" in body["properties"]["reason"]["enum"]
    assert {"400", "401", "403", "409"} <= set(op["responses"])
