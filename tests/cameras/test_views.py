"""Camera pages and API through the app over a fake camera on loopback:
roles, CSRF'd forms, the MJPEG proxy, PTZ, control, the preset editor,
and credentials never shown in pages, API answers or logs."""
from __future__ import annotations

import json
import logging

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import AuditEvent, Camera, EvidenceFile, Preset


def test_list_map_and_api_show_status_never_credentials(app, fakecams, make_camera, login_as, token_for, caplog):
    caplog.set_level(logging.DEBUG)
    fake = fakecams(password="Sup3r-Secret-PW")
    cam = make_camera(fake)
    b, _user = login_as("duty_officer")
    page = b.get("/cameras/").get_data(as_text=True)
    assert cam.code in page and "camera-map" in page
    live = b.get(f"/cameras/{cam.code}").get_data(as_text=True)
    snap = b.get(f"/cameras/{cam.code}/snapshot.jpg")
    assert snap.status_code == 200 and snap.data[:2] == b"\xff\xd8"
    status = b.get("/cameras/status.json").get_json()
    assert status["cameras"][0]["status"] == "online"
    token = token_for(user=_user)
    api = app.test_client().get("/api/v1/cameras", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200 and api.get_json()["cameras"][0]["code"] == cam.code
    one = app.test_client().get(f"/api/v1/cameras/{cam.code}", headers={"Authorization": f"Bearer {token}"})
    assert one.get_json()["presets"][0]["number"] == 1
    # A failing camera's error text goes to the page and the API: still no secret.
    fake.faults.add("garbage")
    b.get(f"/cameras/{cam.code}/snapshot.jpg")
    fake.faults.clear()
    texts = [page, live, json.dumps(status), api.get_data(as_text=True), one.get_data(as_text=True),
             b.get(f"/cameras/{cam.code}").get_data(as_text=True), caplog.text,
             json.dumps([a.data for a in db.session.scalars(select(AuditEvent))], default=str)]
    for text in texts:
        assert "Sup3r-Secret-PW" not in text
    assert "Sup3r-Secret-PW" not in repr(cam)


def test_roles(app, fakecams, make_camera, login_as):
    cam = make_camera(fakecams())
    unit_user, _ = login_as("unit_handler")
    assert unit_user.get("/cameras/").status_code == 403
    assert unit_user.get(f"/cameras/{cam.code}/live.mjpg").status_code == 403
    viewer, _ = login_as("leader_viewer")
    assert viewer.get("/cameras/").status_code == 200
    assert viewer.post(f"/cameras/{cam.code}/ptz", {"action": "left"}).status_code == 403
    assert app.test_client().get("/api/v1/cameras").status_code == 401


def test_mjpeg_proxy_streams_frames(app, fakecams, make_camera, login_as):
    fake = fakecams()
    cam = make_camera(fake)
    b, _ = login_as("duty_officer")
    resp = b.get(f"/cameras/{cam.code}/live.mjpg?max_s=5", buffered=False)
    assert resp.status_code == 200
    assert resp.mimetype == "multipart/x-mixed-replace"
    chunks = b""
    for chunk in resp.response:
        chunks += chunk
        if chunks.count(b"\xff\xd9") >= 3:
            break
    resp.close()
    assert chunks.startswith(b"--frame") and chunks.count(b"Content-Type: image/jpeg") >= 3


def test_ptz_control_takeover_and_csrf(app, fakecams, make_camera, login_as):
    fake = fakecams()
    cam = make_camera(fake)
    a, officer = login_as("duty_officer")
    resp = a.post(f"/cameras/{cam.code}/ptz", {"action": "goto", "preset": "2"})
    assert resp.status_code == 302
    assert fake.pan == 90.0 / 180.0 - 1.0
    a.post(f"/cameras/{cam.code}/ptz", {"action": "right"})
    assert "RelativeMove" in fake.calls
    other, _ = login_as("duty_officer")
    assert other.post(f"/cameras/{cam.code}/ptz", {"action": "left"}).status_code == 409
    lead, _ = login_as("duty_lead")
    assert lead.post(f"/cameras/{cam.code}/control").status_code == 302
    assert "duty_lead" in lead.get(f"/cameras/{cam.code}").get_data(as_text=True)
    # No CSRF token: refused.
    assert app.test_client().post(f"/cameras/{cam.code}/ptz", data={"action": "left"}).status_code in (400, 302)
    actions = [e.action for e in db.session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "camera"))]
    assert "camera_control_taken" in actions and "camera_takeover" in actions and "camera_ptz" in actions


def test_preset_editor_save_goto_reference_masks(app, fakecams, make_camera, login_as):
    fake = fakecams()
    cam = make_camera(fake)
    b, _ = login_as("duty_officer")
    assert b.get(f"/cameras/{cam.code}/presets").status_code == 200
    b.post(f"/cameras/{cam.code}/ptz", {"action": "goto", "preset": "3"})
    resp = b.post(f"/cameras/{cam.code}/presets/save", {"number": "9", "name": "北坡"})
    assert resp.status_code == 302
    db.session.expire_all()
    p9 = db.session.scalar(select(Preset).where(Preset.camera_id == cam.id, Preset.number == 9))
    assert p9.name == "北坡" and abs(p9.pan_deg - 180.0) < 0.01 and "9" in fake.presets
    assert b.post(f"/cameras/{cam.code}/presets/9/goto").status_code == 302
    assert b.post(f"/cameras/{cam.code}/presets/9/reference").status_code == 302
    db.session.expire_all()
    p9 = db.session.get(Preset, p9.id)
    ref = db.session.scalar(select(EvidenceFile).where(EvidenceFile.sha256 == p9.reference_sha256))
    assert ref.kind == "reference"
    masks = [[[0.1, 0.1], [0.5, 0.1], [0.5, 0.4]]]
    assert b.post(f"/cameras/{cam.code}/presets/9/masks", {"masks": json.dumps(masks)}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Preset, p9.id).masks == masks
    assert b.post(f"/cameras/{cam.code}/presets/9/masks", {"masks": "[[[2, 0], [0, 0], [0, 1]]]"}).status_code == 400
    page = b.get(f"/cameras/{cam.code}/presets").get_data(as_text=True)
    assert f"/files/{ref.id}" in page and "mask-editor" in page


def test_coverage_page_and_json(org, login_as, monkeypatch):
    from webapp.cameras import coverage
    from webapp.demo.data import demo_cameras
    specs = demo_cameras()[:3]
    for s in specs:
        db.session.add(Camera(code=s.code, name=s.name, kind=s.kind, lat=s.lat, lon=s.lon, mount_height_m=40,
                              ground_elevation_m=0, pan_zero_azimuth_deg=0, fov_table=[], status="unknown",
                              failure_count=0, active=True))
    db.session.commit()
    from webapp.geometry import dem as dem_mod
    small = dem_mod.synthetic_dem(resolution_arcsec=6.0)
    monkeypatch.setattr(coverage, "load_dem", lambda: small)  # a coarse DEM: fast
    coverage._result_cache.clear()
    if True:
        b, _ = login_as("duty_lead")
        data = b.get("/cameras/coverage.json?profile=machinery").get_json()
        assert 0 < data["share"] < 0.2 and set(data["per_camera_km2"]) == {s.code for s in specs}
        # Each within π (r + one cell)²: cells touched at the rim count whole.
        assert all(0 < v <= 3.1416 * 2.2 ** 2 for v in data["per_camera_km2"].values()), data["per_camera_km2"]
        page = b.get("/cameras/coverage?profile=machinery").get_data(as_text=True)
        assert "coverage-share" in page
        png = b.get("/cameras/coverage.png?profile=machinery")
        assert png.mimetype == "image/png" and png.data[:4] == b"\x89PNG"
        one = b.get(f"/cameras/coverage.png?profile=machinery&camera={specs[0].code}")
        assert one.status_code == 200 and one.data != png.data
        assert b.get("/cameras/coverage.png?profile=machinery&camera=NOPE").status_code == 404


def test_malformed_numbers_get_no_server_error(app, fakecams, make_camera, login_as):
    cam = make_camera(fakecams())
    b, _ = login_as("duty_officer")
    resp = b.get(f"/cameras/{cam.code}/live.mjpg?max_s=abc", buffered=False)
    assert resp.status_code == 200
    resp.close()
    assert b.post(f"/cameras/{cam.code}/ptz", {"action": "goto", "preset": "x"}).status_code < 500
    assert b.post(f"/cameras/{cam.code}/record", {"seconds": "lots"}).status_code < 500
