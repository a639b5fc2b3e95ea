"""Checkpoint passage log: motion with direction, search by time and camera,
passages beside an alert of the same area and time; the poll job over a
fixed camera on loopback."""
from __future__ import annotations

import io
from datetime import timedelta

from PIL import Image, ImageDraw

from webapp.cameras import passages
from webapp.cameras.capture import Frame
from webapp.extensions import db
from webapp.models import Alert, CheckpointPassage
from webapp.platform import clock as clock_mod


def _frame(x: int | None) -> Frame:
    img = Image.new("RGB", (320, 180), (110, 110, 100))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 120, 320, 150], fill=(60, 60, 60))  # the road
    if x is not None:
        d.rectangle([x, 105, x + 50, 145], fill=(200, 40, 30))  # a truck
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return Frame(buf.getvalue(), clock_mod.now(), "snapshot")


def _drive(cam, xs, clock):
    logged = []
    for x in xs:
        clock.advance(seconds=1)
        p = passages.process_frame(cam, _frame(x))
        if p is not None:
            logged.append(p)
    return logged


def test_direction_search_and_beside_alerts(app, clock, make_camera):
    k1 = make_camera(None, kind="checkpoint", code="K-01")
    k2 = make_camera(None, kind="checkpoint", code="K-02")
    t0 = clock.current
    (inbound,) = _drive(k1, [None, None, 20, 80, 140, 200, None, None], clock)
    (outbound,) = _drive(k1, [240, 170, 100, 30, None, None], clock)
    clock.advance(hours=3)
    (later,) = _drive(k2, [None, 20, 90, 160, None, None], clock)
    assert (inbound.direction, outbound.direction, later.direction) == ("in", "out", "in")
    assert inbound.evidence.kind == "passage" and inbound.at > t0
    assert _drive(k1, [None, None, None], clock) == []  # no motion, nothing logged

    assert [p.id for p in passages.search([k1.id])] == [outbound.id, inbound.id]
    assert [p.id for p in passages.search(None, t0 + timedelta(hours=2))] == [later.id]
    assert [p.id for p in passages.search(None, direction="out")] == [outbound.id]

    alert = Alert(domain="mining", event_type="excavator", status="new", source="patrol",
                  occurred_at=t0 + timedelta(minutes=5), lat=k1.lat + 0.01, lon=k1.lon)
    db.session.add(alert)
    db.session.commit()
    near = passages.near_alert(alert, radius_m=5000, window=timedelta(minutes=30))
    assert {p.id for p in near} == {inbound.id, outbound.id}  # K-02 is too late (and farther)


def test_passage_page_and_alert_page(app, clock, make_camera, login_as):
    k1 = make_camera(None, kind="checkpoint", code="K-01")
    _drive(k1, [None, 20, 80, 140, None, None], clock)
    b, _ = login_as("duty_officer")
    page = b.get("/cameras/passages?camera=K-01").get_data(as_text=True)
    assert "驶入" in page and "/files/" in page
    empty = b.get("/cameras/passages?camera=K-01&start=2030-01-01T00:00").get_data(as_text=True)
    assert "该时段无通行记录" in empty


def test_poll_job_over_a_fixed_camera(app, clock, fakecams, make_camera):
    fake = fakecams(ptz=False)
    cam = make_camera(fake, kind="checkpoint", code="K-05")
    out = passages.poll_checkpoints()
    assert out == {"logged": 0, "failed": 0}
    db.session.expire_all()
    assert db.session.get(type(cam), cam.id).status == "online"
    fake.faults.add("offline")
    for _ in range(3):
        clock.advance(seconds=120)  # past the link's backoff
        passages.poll_checkpoints()
    db.session.expire_all()
    assert db.session.get(type(cam), cam.id).status == "offline"
    assert db.session.query(CheckpointPassage).count() == 0
