"""Patrol under a frozen clock, against fake cameras over loopback."""
from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select

from webapp.cameras import control
from webapp.cameras.patrol import STOP_CONSUMERS, PatrolEngine
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    CameraRuntime,
    PatrolFrame,
    PatrolTour,
    PatrolVisit,
)


def _visits(camera_id=None):
    db.session.expire_all()
    q = select(PatrolVisit).order_by(PatrolVisit.id)
    if camera_id is not None:
        q = q.where(PatrolVisit.camera_id == camera_id)
    return list(db.session.scalars(q))


def _run(engines, clock, seconds, step=1.0, skip=None):
    for _ in range(int(seconds / step)):
        for e in engines:
            e.tick()
            e.drain(timeout=10, skip=skip)
        clock.advance(seconds=step)


def test_presets_in_order_with_dwell_and_settle(app, clock, fakecams, make_camera):
    fake = fakecams()
    cam = make_camera(fake, presets=[(1, 0.0, -5.0), (2, 90.0, -5.0), (3, 180.0, -5.0)], dwell=20, settle=3)
    seen = []
    STOP_CONSUMERS.append(lambda camera, preset, frames, visit_id: seen.append((preset.number, len(frames), visit_id)))
    engine = PatrolEngine(app, holder="w1")
    t0 = clock.current
    try:
        _run([engine], clock, 65)
    finally:
        STOP_CONSUMERS.clear()
        engine.stop()
    visits = _visits(cam.id)
    assert [v.preset_number for v in visits] == [1, 2, 3, 1]
    assert [(v.started_at - t0).total_seconds() for v in visits] == [0, 20, 40, 60]
    assert all(v.status == "ok" and v.frame_count == 2 for v in visits)
    assert (visits[0].frames_at - visits[0].started_at).total_seconds() == 3  # the settle time
    assert [s[0] for s in seen] == [1, 2, 3, 1] and all(s[1] == 2 for s in seen)
    assert [c for c in fake.calls if c == "GotoPreset"] == ["GotoPreset"] * 4
    frames = db.session.scalars(select(PatrolFrame).where(PatrolFrame.visit_id == visits[0].id)).all()
    assert len(frames) == 2 and all(f.evidence.kind == "patrol_frame" for f in frames)
    assert db.session.get(type(cam), cam.id).status == "online"


def test_stalled_camera_does_not_delay_others(app, clock, fakecams, make_camera):
    slow, good = fakecams(), fakecams()
    slow.stall_seconds = 8
    stalled = make_camera(slow, dwell=10, settle=1)
    ok = make_camera(good, dwell=10, settle=1)
    slow.faults.add("stall")
    engine = PatrolEngine(app, holder="w1")
    started = time.monotonic()
    try:
        _run([engine], clock, 35, skip={stalled.id})
        elapsed = time.monotonic() - started
    finally:
        engine.stop()
    # Waiting on the stalled camera even once per stop would cost 5 s (its
    # timeout) per tick, well over a minute for these 35 ticks.
    assert elapsed < 15, elapsed
    assert [v.preset_number for v in _visits(ok.id)] == [1, 2, 3, 4]
    assert all(v.status == "ok" for v in _visits(ok.id))


def test_two_workers_never_drive_one_camera_and_a_dead_ones_cameras_are_taken(app, clock, fakecams, make_camera):
    cams = [make_camera(fakecams(), dwell=5, settle=1) for _ in range(3)]
    w1, w2 = PatrolEngine(app, holder="w1"), PatrolEngine(app, holder="w2")
    w1.settings.lease_seconds = w2.settings.lease_seconds = 15
    w1.settings.max_cameras = 2  # so both workers get cameras
    try:
        _run([w1, w2], clock, 20)
        by_camera = {c.id: {v.worker for v in _visits(c.id)} for c in cams}
        assert all(len(workers) == 1 for workers in by_camera.values()), by_camera
        assert {w for ws in by_camera.values() for w in ws} == {"w1", "w2"}
        w1_cams = {cid for cid, ws in by_camera.items() if ws == {"w1"}}
        before = {cid: len(_visits(cid)) for cid in w1_cams}
        w1.stop(release=False)  # killed: its leases stay until they expire
        _run([w2], clock, 24)
        for cid in w1_cams:
            visits = _visits(cid)
            assert len(visits) > before[cid]
            taken = [v for v in visits[before[cid]:]]
            assert {v.worker for v in taken} == {"w2"}
            # No overlap: w2 started only after w1's lease ran out.
            assert (taken[0].started_at - visits[before[cid] - 1].started_at).total_seconds() >= 5
            # The tour goes on where w1 left it, not from the start.
            assert taken[0].preset_number == visits[before[cid] - 1].preset_number % 4 + 1
        rows = db.session.scalars(select(CameraRuntime)).all()
        assert {r.lease_holder for r in rows} == {"w2"}
    finally:
        w1.stop(release=False)
        w2.stop()


def test_takeover_one_controller_duty_lead_overrides_patrol_resumes(app, clock, fakecams, make_camera, make_user):
    cam = make_camera(fakecams(), dwell=10, settle=1)
    officer, other, lead = make_user("duty_officer"), make_user("duty_officer"), make_user("duty_lead")
    engine = PatrolEngine(app, holder="w1")
    try:
        _run([engine], clock, 5)
        assert len(_visits(cam.id)) == 1
        control.take_control(cam, officer)
        _run([engine], clock, 60)
        assert len(_visits(cam.id)) == 1  # patrol holds off while a person drives
        try:
            control.take_control(cam, other)
            raise AssertionError("a second officer must not take a held camera")
        except control.ControlError as exc:
            assert exc.status == 409
        control.take_control(cam, lead)
        assert control.controller_of(cam).id == lead.id
        _run([engine], clock, 100)
        assert len(_visits(cam.id)) == 1
        _run([engine], clock, 40)  # idle past 120 s: patrol takes it back
        assert len(_visits(cam.id)) > 1
        assert control.controller_of(cam) is None
    finally:
        engine.stop()
    actions = [a.action for a in db.session.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "camera", AuditEvent.entity_id == cam.id).order_by(AuditEvent.id))]
    assert actions == ["camera_control_taken", "camera_takeover", "camera_control_released"]


def test_tour_by_time_of_day_and_night_pause(app, clock, fakecams, make_camera):
    cam = make_camera(fakecams(), dwell=10, settle=1, tour=False)
    db.session.add(PatrolTour(camera_id=cam.id, name="白天", preset_numbers=[1, 2], settle_seconds=1,
                              start_local="08:00", end_local="18:00", active=True))
    db.session.commit()
    engine = PatrolEngine(app, holder="w1")
    try:
        _run([engine], clock, 30)  # 02:13 local: no tour → rests
        assert _visits(cam.id) == []
        db.session.add(PatrolTour(camera_id=cam.id, name="夜间", preset_numbers=[4, 3], settle_seconds=1,
                                  start_local="18:00", end_local="08:00", active=True))
        db.session.commit()
        clock.advance(seconds=61)
        _run([engine], clock, 15)
        assert [v.preset_number for v in _visits(cam.id)] == [4, 3]
        clock.set(clock.current.replace(hour=2) + timedelta(days=1))  # 10:00 local next day
        _run([engine], clock, 15)
        assert [v.preset_number for v in _visits(cam.id)][-2:] == [1, 2]
    finally:
        engine.stop()


def test_missing_preset_recorded_and_tour_goes_on(app, clock, fakecams, make_camera):
    fake = fakecams()
    cam = make_camera(fake, dwell=5, settle=1)
    del fake.presets["2"]
    engine = PatrolEngine(app, holder="w1")
    try:
        _run([engine], clock, 20)
    finally:
        engine.stop()
    visits = _visits(cam.id)
    assert [v.preset_number for v in visits][:3] == [1, 2, 3]
    assert visits[1].status == "failed" and "no_preset" in visits[1].error
    assert visits[2].status == "ok"
