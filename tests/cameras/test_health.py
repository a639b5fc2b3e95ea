"""Camera health from real captures: offline → maintenance order → recovery
(closed through the order loop), stuck PTZ and frozen frame."""
from __future__ import annotations

import hashlib
import io

from PIL import Image
from sqlalchemy import select

from webapp.cameras.patrol import PatrolEngine
from webapp.extensions import db
from webapp.models import AuditEvent, Camera, CameraHealthEvent, WorkOrder
from webapp.orders import workflow


def _run(engine, clock, seconds):
    for _ in range(int(seconds)):
        engine.tick()
        engine.drain(timeout=10)
        clock.advance(seconds=1)


def _events(cam):
    db.session.expire_all()
    return [e.kind for e in db.session.scalars(select(CameraHealthEvent).where(
        CameraHealthEvent.camera_id == cam.id).order_by(CameraHealthEvent.id))]


def _jpeg():
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buf, "JPEG")
    return buf.getvalue()


def test_offline_order_recovery_and_feedback_closes_loop(org, clock, fakecams, make_camera, make_user):
    fake = fakecams()
    cam = make_camera(fake, dwell=5, settle=1)
    engine = PatrolEngine(org, holder="w1")
    try:
        _run(engine, clock, 6)
        assert db.session.get(Camera, cam.id).status == "online"
        fake.faults.add("offline")
        _run(engine, clock, 15)
        db.session.expire_all()
        camera = db.session.get(Camera, cam.id)
        assert camera.status == "offline" and camera.failure_count >= 3
        orders = db.session.scalars(select(WorkOrder).where(WorkOrder.camera_id == cam.id)).all()
        assert len(orders) == 1  # later failures reuse the open order
        order = orders[0]
        assert order.kind == "maintenance" and order.participants[0].unit.code == "operator"
        assert _events(cam) == ["offline"]
        fake.faults.clear()
        _run(engine, clock, 15)
    finally:
        engine.stop()
    db.session.expire_all()
    camera = db.session.get(Camera, cam.id)
    assert camera.status == "online" and camera.failure_count == 0
    assert _events(cam) == ["offline", "recovered"]
    recovered = db.session.scalar(select(CameraHealthEvent).where(CameraHealthEvent.kind == "recovered"))
    assert recovered.order_id == order.id
    assert db.session.scalar(select(AuditEvent).where(
        AuditEvent.entity_type == "work_order", AuditEvent.entity_id == order.id,
        AuditEvent.action == "camera_recovered")) is not None
    # The operator feeds back the cause; the duty office closes: the loop is closed.
    tech, duty = make_user("unit_handler", "operator"), make_user("duty_officer")
    workflow.accept(order, actor=tech)
    workflow.feedback(order, actor=tech, result="resolved", text="光纤被挖断，已熔接", photos=[_jpeg()])
    workflow.close(order, actor=duty, confirm_unfinished=True)
    assert order.state == "closed" and order.feedbacks[-1].text == "光纤被挖断，已熔接"


def test_stuck_ptz_when_presets_look_alike(org, clock, fakecams, make_camera):
    fake = fakecams()
    cam = make_camera(fake, dwell=5, settle=1)
    fake.faults.add("stuck")
    engine = PatrolEngine(org, holder="w1")
    try:
        _run(engine, clock, 25)
    finally:
        engine.stop()
    db.session.expire_all()
    assert db.session.get(Camera, cam.id).status == "stuck"
    assert "stuck" in _events(cam)
    assert db.session.scalar(select(WorkOrder).where(WorkOrder.camera_id == cam.id)).kind == "maintenance"


def test_moving_camera_is_not_stuck(org, clock, fakecams, make_camera):
    cam = make_camera(fakecams(), dwell=5, settle=1)
    engine = PatrolEngine(org, holder="w1")
    try:
        _run(engine, clock, 25)
    finally:
        engine.stop()
    db.session.expire_all()
    assert db.session.get(Camera, cam.id).status == "online"
    assert _events(cam) == []


def test_frozen_frame(org, clock, fakecams, make_camera):
    fake = fakecams()
    cam = make_camera(fake, dwell=5, settle=1)
    fake.faults.add("frozen")
    engine = PatrolEngine(org, holder="w1")
    try:
        _run(engine, clock, 12)
        db.session.expire_all()
        assert db.session.get(Camera, cam.id).status == "frozen"
        fake.faults.clear()
        _run(engine, clock, 12)
    finally:
        engine.stop()
    db.session.expire_all()
    assert db.session.get(Camera, cam.id).status == "online"
    assert _events(cam)[:2] == ["frozen", "recovered"]


def _poll_times(passages, clock, n, seconds=30):
    for _ in range(n):
        passages.poll_checkpoints()
        clock.advance(seconds=seconds)


def test_fixed_camera_frozen_frame_over_time_and_recovery(org, clock, fakecams, make_camera):
    """A checkpoint camera (no PTZ) that answers with one unchanging picture is
    frozen once NRSC_CAMERA_FROZEN_AFTER captures span NRSC_CAMERA_FROZEN_SECONDS;
    a live still scene (sensor noise) never is; a new picture recovers it."""
    from webapp.cameras import passages
    fake = fakecams(ptz=False)
    cam = make_camera(fake, kind="checkpoint", code="K-06")
    _poll_times(passages, clock, 8)  # 8 live captures over 4 minutes of a still scene
    db.session.expire_all()
    assert db.session.get(Camera, cam.id).status == "online" and _events(cam) == []
    fake.faults.add("frozen")
    _poll_times(passages, clock, 4)  # 4 identical captures, 90 s apart at the ends: not yet
    db.session.expire_all()
    assert db.session.get(Camera, cam.id).status == "online"
    _poll_times(passages, clock, 1)  # the 5th, 120 s after the first
    db.session.expire_all()
    camera = db.session.get(Camera, cam.id)
    assert camera.status == "frozen" and _events(cam) == ["frozen"]
    order = db.session.scalar(select(WorkOrder).where(WorkOrder.camera_id == cam.id))
    assert order is not None and order.kind == "maintenance" and "画面冻结" in order.title
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "camera_frozen",
                                                      AuditEvent.entity_id == cam.id)) is not None
    _poll_times(passages, clock, 3)  # still frozen: one fault, one order
    db.session.expire_all()
    assert _events(cam) == ["frozen"]
    fake.faults.clear()
    _poll_times(passages, clock, 1)
    db.session.expire_all()
    assert db.session.get(Camera, cam.id).status == "online"
    assert _events(cam) == ["frozen", "recovered"]


def test_fixed_camera_same_pixels_with_new_metadata_is_frozen(org, clock, make_camera):
    """The criterion is the picture, not the bytes: a camera that re-stamps the
    metadata (here a JPEG comment with the time) of a stuck picture is frozen too;
    a tower (PTZ) camera is not judged this way (its check is by presets)."""
    from webapp.cameras import health
    fixed = make_camera(None, kind="checkpoint", code="K-07")
    tower = make_camera(None)
    img = Image.new("RGB", (320, 180), (120, 130, 90))
    for i in range(6):
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=85, comment=f"2026-11-29 10:{i:02d}:00".encode())
        data = buf.getvalue()
        sha = hashlib.sha256(data).hexdigest()
        health.record_success(db.session.get(Camera, fixed.id), data, sha)
        health.record_success(db.session.get(Camera, tower.id), data, sha)
        clock.advance(seconds=30)
    db.session.expire_all()
    assert db.session.get(Camera, fixed.id).status == "frozen"
    assert db.session.get(Camera, tower.id).status == "online"
