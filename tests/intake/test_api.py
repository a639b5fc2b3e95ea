"""POST/GET /api/v1/alerts through real HTTP requests (test client)."""
from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import (
    Alert,
    AlertOccurrence,
    AuditEvent,
    Camera,
    EvidenceFile,
    Preset,
)


def post_json(client, token, body, kit):
    return client.post("/api/v1/alerts", data=json.dumps(body), content_type="application/json",
                       headers=kit.auth(token))


def body(kit, **extra):
    lat, lon = kit.INSIDE
    data = {"domain": "fire", "event_type": "smoke", "source_event_id": "evt-1",
            "occurred_at": "2026-11-20T02:10:00+08:00", "lat": lat, "lon": lon,
            "label": "smoke", "score": 0.91, "boxes": [[0.1, 0.2, 0.3, 0.4]], "text": "西侧山坡有烟"}
    data.update(extra)
    return data


def test_json_alert_is_created_with_context_and_audit(app, source_token, kit):
    client = app.test_client()
    resp = post_json(client, source_token, body(kit), kit)
    assert resp.status_code == 201, resp.get_json()
    data = resp.get_json()
    assert data["created"] is True and data["status"] == "new"
    assert data["source"] == "box1" and data["township"]["code"] == "hongsipu"
    assert data["occurred_at"] == "2026-11-19T18:10:00+00:00"
    assert data["review_due_at"] == "2026-11-19T18:18:00+00:00"  # fire: 5 minutes from creation
    alert = db.session.get(Alert, data["id"])
    assert alert.gis_context["township_name"] == "红寺堡镇"
    assert alert.location_estimated is False and alert.boxes == [[0.1, 0.2, 0.3, 0.4]]
    occurrences = db.session.scalars(select(AlertOccurrence)).all()
    assert [(o.alert_id, o.source_event_id) for o in occurrences] == [(alert.id, "evt-1")]
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "alert")).all()
    assert [(e.action, e.entity_id, e.actor_label) for e in events] == [("alert_created", alert.id, "source:box1")]


def test_multipart_with_two_snapshots_stores_both(app, source_token, kit, login_as):
    client = app.test_client()
    lat, lon = kit.INSIDE
    first, second = kit.jpeg(colour=(1, 2, 3)), kit.jpeg(colour=(200, 200, 0))
    form = {"domain": "fire", "event_type": "fire", "lat": str(lat), "lon": str(lon),
            "source_event_id": "mp-1", "boxes": json.dumps([{"box": [0, 0, 0.5, 0.5], "label": "fire"}]),
            "images": [(io.BytesIO(first), "a.jpg"), (io.BytesIO(second), "b.jpg")]}
    resp = client.post("/api/v1/alerts", data=form, content_type="multipart/form-data",
                       headers=kit.auth(source_token))
    assert resp.status_code == 201, resp.get_json()
    evidence = resp.get_json()["evidence"]
    assert [e["original_name"] for e in evidence] == ["a.jpg", "b.jpg"]
    assert all(e["content_type"] == "image/jpeg" for e in evidence)
    files = kit.stored_files(app)
    assert [f.read_bytes() for f in files] == sorted([first, second], key=lambda b: __import__("hashlib").sha256(b).hexdigest())
    assert all(f.parent.name == f.name[:2] and len(f.name) == 64 for f in files)  # content-addressed

    officer, _ = login_as("duty_officer", "duty")
    got = officer.get(evidence[0]["url"])
    assert got.status_code == 200 and got.data == first and got.mimetype == "image/jpeg"
    # A township unit elsewhere does not see another township's evidence.
    outsider, _ = login_as("unit_handler", "town.liuquan")
    assert outsider.get(evidence[0]["url"]).status_code == 404
    local, _ = login_as("unit_handler", "town.hongsipu")
    assert local.get(evidence[0]["url"]).status_code == 200
    assert app.test_client().get(evidence[0]["url"]).status_code == 302  # to the login page


def test_retry_returns_same_alert_and_never_a_second(app, source_token, kit):
    client = app.test_client()
    first = post_json(client, source_token, body(kit), kit)
    again = post_json(client, source_token, body(kit), kit)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["id"] == first.get_json()["id"] and again.get_json()["created"] is False
    assert kit.counts() == {"Alert": 1, "AlertOccurrence": 1, "EvidenceFile": 0}
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.entity_type == "alert")).all()
    assert actions == ["alert_created", "alert_intake_replayed"]


def test_nearby_report_joins_open_alert_with_200(app, source_token, kit):
    client = app.test_client()
    lat, lon = kit.INSIDE
    first = post_json(client, source_token, body(kit), kit).get_json()
    joined = post_json(client, source_token, body(kit, source_event_id="evt-2", lat=lat + 0.001,
                                                  occurred_at="2026-11-20T02:12:00+08:00", score=0.97), kit)
    assert joined.status_code == 200
    data = joined.get_json()
    assert data["id"] == first["id"] and data["occurrences"] == 2 and data["score"] == 0.97
    assert data["last_seen_at"] == "2026-11-19T18:12:00+00:00"
    assert [o["source_event_id"] for o in data["occurrence_list"]] == ["evt-1", "evt-2"]
    # A retry of the joining event is a replay, not a third occurrence.
    again = post_json(client, source_token, body(kit, source_event_id="evt-2", lat=lat + 0.001), kit)
    assert again.status_code == 200 and again.get_json()["occurrences"] == 2


def test_camera_only_alert_is_placed_at_preset_aim_point(app, source_token, kit):
    lat, lon = kit.INSIDE
    cam = Camera(code="T01", name="1号塔", kind="tower", lat=lat, lon=lon, mount_height_m=40)
    cam.presets = [Preset(number=3, aim_lat=lat + 0.01, aim_lon=lon + 0.02)]
    db.session.add(cam)
    db.session.commit()
    client = app.test_client()
    resp = post_json(client, source_token, {"domain": "fire", "event_type": "smoke", "camera_code": "T01",
                                            "preset": 3, "source_event_id": "c1"}, kit)
    assert resp.status_code == 201, resp.get_json()
    data = resp.get_json()
    assert (data["lat"], data["lon"]) == (lat + 0.01, lon + 0.02)
    assert data["location_estimated"] is True and data["camera_code"] == "T01" and data["preset"] == 3
    # No preset: the camera's own position, still estimated.
    resp = post_json(client, source_token, {"domain": "mining", "event_type": "illegal_mining",
                                            "camera_code": "T01", "source_event_id": "c2"}, kit)
    assert resp.status_code == 201
    assert (resp.get_json()["lat"], resp.get_json()["lon"]) == (lat, lon)
    assert resp.get_json()["location_estimated"] is True


def test_user_bound_token_acts_as_the_user(app, org, make_user, kit):
    from webapp.platform.security import create_api_token
    officer = make_user("duty_officer", "duty", login="zhiban1")
    viewer = make_user("leader_viewer", None, login="lingdao1")
    _r, officer_token = create_api_token(user=officer)
    _r, viewer_token = create_api_token(user=viewer)
    db.session.commit()
    client = app.test_client()
    resp = post_json(client, officer_token, body(kit), kit)
    assert resp.status_code == 201 and resp.get_json()["source"] == "user:zhiban1"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "alert_created"))
    assert event.actor_id == officer.id
    assert post_json(client, viewer_token, body(kit, source_event_id="x"), kit).status_code == 403
    # The viewer can read it, with its own token.
    got = client.get(f"/api/v1/alerts/{resp.get_json()['id']}", headers=kit.auth(viewer_token))
    assert got.status_code == 200 and got.get_json()["gis_context"]["township_code"] == "hongsipu"


def test_get_alert_is_limited_to_its_source(app, source_token, kit):
    from webapp.platform.security import create_api_token
    _r, other = create_api_token(source="box2")
    db.session.commit()
    client = app.test_client()
    alert_id = post_json(client, source_token, body(kit), kit).get_json()["id"]
    assert client.get(f"/api/v1/alerts/{alert_id}", headers=kit.auth(source_token)).status_code == 200
    assert client.get(f"/api/v1/alerts/{alert_id}", headers=kit.auth(other)).status_code == 404
    assert client.get(f"/api/v1/alerts/{alert_id + 99}", headers=kit.auth(source_token)).status_code == 404
    assert client.get(f"/api/v1/alerts/{alert_id}").status_code == 401


# -- bad input: a clear error and nothing left behind ---------------------------------
def _png(size):
    buf = io.BytesIO()
    Image.new("L", size, 0).save(buf, "PNG")
    return buf.getvalue()


BAD_JSON_CASES = [
    ("unknown domain", {"domain": "weather"}, 400, "unknown_domain"),
    ("unknown event type", {"event_type": "flood"}, 400, "unknown_event_type"),
    ("unknown camera", {"camera_code": "NOPE"}, 400, "unknown_camera"),
    ("outside the district", {"lat": 38.6, "lon": 106.0}, 400, "outside_district"),
    ("unknown field", {"colour": "red"}, 400, "unknown_field"),
    ("no offset", {"occurred_at": "2026-11-20T02:10:00"}, 400, "invalid_field"),
    ("future", {"occurred_at": "2026-11-21T02:10:00+08:00"}, 400, "invalid_field"),
    ("lat as text", {"lat": "north"}, 400, "invalid_field"),
    ("bad boxes", {"boxes": [[0, 0, 2, 2]]}, 400, "invalid_field"),
    ("no domain", {"domain": None}, 400, "missing_field"),
    ("bad base64", {"images": [{"filename": "a.jpg", "data": "%%%"}]}, 400, "invalid_field"),
]


@pytest.mark.parametrize("case,change,status,code", BAD_JSON_CASES, ids=[c[0] for c in BAD_JSON_CASES])
def test_bad_json_is_refused_and_writes_nothing(app, source_token, kit, case, change, status, code):
    data = body(kit)
    data.update(change)
    data = {k: v for k, v in data.items() if v is not None}
    resp = post_json(app.test_client(), source_token, data, kit)
    assert resp.status_code == status, resp.get_json()
    assert resp.get_json()["error"] == code and resp.get_json()["message"]
    assert kit.counts() == {"Alert": 0, "AlertOccurrence": 0, "EvidenceFile": 0}
    assert kit.stored_files(app) == []


def _multipart(kit, images, **fields):
    lat, lon = kit.INSIDE
    form = {"domain": "fire", "event_type": "smoke", "lat": str(lat), "lon": str(lon), "source_event_id": "m1"}
    form.update(fields)
    if images:
        form["images"] = [(io.BytesIO(data), name) for name, data in images]
    return form


@pytest.mark.parametrize("case,images,status,code", [
    ("no files", [], 400, "missing_images"),
    ("text file", [("ok.jpg", None), ("notes.txt", b"hello, not an image")], 400, "not_an_image"),
    ("truncated jpeg", [("bad.jpg", b"\xff\xd8\xff\xe0" + b"0" * 50)], 400, "not_an_image"),
    ("empty file", [("empty.jpg", b"")], 400, "empty_file"),
    ("too large", [("ok.jpg", None), ("big.jpg", "big")], 413, "image_too_large"),
    ("decompression bomb", [("bomb.png", "bomb")], 413, "image_too_many_pixels"),
])
def test_bad_files_are_refused_and_nothing_is_written(app, source_token, kit, case, images, status, code):
    app.config["NRSC_MAX_IMAGE_BYTES"] = 50_000
    app.config["NRSC_MAX_IMAGE_PIXELS"] = 1_000_000
    resolved = []
    for name, data in images:
        if data is None:
            data = kit.jpeg()
        elif data == "big":
            data = kit.noisy_jpeg(80_000)
        elif data == "bomb":
            data = _png((3000, 3000))  # 9 Mpx in a few kB
            assert len(data) < 50_000
        resolved.append((name, data))
    resp = app.test_client().post("/api/v1/alerts", data=_multipart(kit, resolved),
                                  content_type="multipart/form-data", headers=kit.auth(source_token))
    assert resp.status_code == status, resp.get_json()
    assert resp.get_json()["error"] == code
    assert kit.counts() == {"Alert": 0, "AlertOccurrence": 0, "EvidenceFile": 0}
    assert kit.stored_files(app) == []


def test_malformed_bodies(app, source_token, kit):
    client = app.test_client()
    resp = client.post("/api/v1/alerts", data=b'{"domain": "fire",', content_type="application/json",
                       headers=kit.auth(source_token))
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_json"
    resp = client.post("/api/v1/alerts", data=b"[1, 2]", content_type="application/json",
                       headers=kit.auth(source_token))
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_body"
    resp = client.post("/api/v1/alerts", data=b"--xyz\r\nContent-Disposition: form-data; name=\"domain\"\r\n\r\nfi",
                       content_type="multipart/form-data; boundary=xyz", headers=kit.auth(source_token))
    assert resp.status_code == 400 and resp.get_json()["error"] in ("invalid_multipart", "missing_images")
    resp = client.post("/api/v1/alerts", data="domain=fire", content_type="text/plain",
                       headers=kit.auth(source_token))
    assert resp.status_code == 415 and resp.get_json()["error"] == "unsupported_media_type"
    assert kit.counts() == {"Alert": 0, "AlertOccurrence": 0, "EvidenceFile": 0}


def test_wrong_missing_or_revoked_token_is_401(app, source_token, kit):
    from webapp.models import ApiToken
    from webapp.platform import clock
    client = app.test_client()
    assert post_json(client, "nrsc_wrong", body(kit), kit).status_code == 401
    resp = client.post("/api/v1/alerts", json=body(kit))
    assert resp.status_code == 401 and resp.get_json()["error"] == "unauthorized"
    token = db.session.scalar(select(ApiToken))
    token.revoked_at = clock.now()
    db.session.commit()
    assert post_json(client, source_token, body(kit), kit).status_code == 401
    assert kit.counts()["Alert"] == 0


def test_openapi_documents_what_the_endpoint_accepts(app, kit):
    from webapp.alerts.intake import FIELDS
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    op = doc["paths"]["/alerts"]["post"]
    content = op["requestBody"]["content"]
    assert set(content) == {"application/json", "multipart/form-data"}
    schemas = doc["components"]["schemas"]
    json_schema, multipart = schemas["AlertIntake"], schemas["AlertIntakeMultipart"]
    assert set(json_schema["properties"]) == set(FIELDS) | {"images"}
    assert set(multipart["properties"]) == set(FIELDS) | {"images"}
    assert json_schema["additionalProperties"] is False and json_schema["required"] == ["domain", "event_type"]
    assert {"200", "201", "400", "401", "413"} <= set(op["responses"])
    assert "/alerts/{id}" in doc["paths"]


def test_inline_base64_image_in_json(app, source_token, kit):
    import base64
    image = kit.jpeg(colour=(9, 9, 9))
    resp = post_json(app.test_client(), source_token,
                     body(kit, images=[{"filename": "inline.jpg", "data": base64.b64encode(image).decode()}]), kit)
    assert resp.status_code == 201
    row = db.session.scalar(select(EvidenceFile))
    assert row.original_name == "inline.jpg" and row.size == len(image)
    assert kit.stored_files(app)[0].read_bytes() == image
