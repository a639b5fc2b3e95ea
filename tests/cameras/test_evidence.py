"""Clips (browser-playable WebM from the stream), stop frames kept on the
alert, retention never deleting evidence of an open or case-transferred order."""
from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image
from sqlalchemy import select

from webapp.alerts import evidence
from webapp.cameras import clips, retention
from webapp.cameras.patrol import PatrolEngine
from webapp.extensions import db
from webapp.models import Alert, EvidenceFile, PatrolVisit, WorkOrder


def _jpeg(color):
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(buf, "JPEG")
    return buf.getvalue()


def _alert(**kw):
    from webapp.platform import clock
    a = Alert(domain="mining", event_type="excavator", status=kw.pop("status", "new"), source="patrol",
              occurred_at=clock.now(), lat=37.4, lon=106.2, **kw)
    db.session.add(a)
    db.session.commit()
    return a


def test_clip_is_webm_from_the_stream_and_stop_frames_join_the_alert(app, clock, fakecams, make_camera):
    fake = fakecams()
    cam = make_camera(fake, dwell=5, settle=1)
    engine = PatrolEngine(app, holder="w1")
    try:
        for _ in range(3):
            engine.tick()
            engine.drain()
            clock.advance(seconds=1)
    finally:
        engine.stop()
    visit = db.session.scalars(select(PatrolVisit)).first()
    alert = _alert(camera_id=cam.id)
    rows = clips.attach_stop_evidence(alert, visit.id, clip=False)
    assert len(rows) == 2 and all(r.kind == "snapshot" and r.alert_id == alert.id for r in rows)
    clip = clips.record_clip(cam, 1.5, reason="patrol", alert_id=alert.id, fps=5)
    assert clip.content_type == "video/webm" and clip.kind == "clip"
    path = evidence.absolute_path(clip)
    data = path.read_bytes()
    assert data[:4] == b"\x1a\x45\xdf\xa3"  # EBML: a WebM file
    import hashlib
    assert hashlib.sha256(data).hexdigest() == clip.sha256 and path.name == clip.sha256
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n >= 4
    assert clips.clips_of_alert(alert.id) == [clip]


def test_retention_by_age_and_budget_never_open_or_case_orders(org, clock, make_user):
    old = clock.current
    patrol_frame = evidence.store_image(_jpeg((1, 2, 3)), kind="patrol_frame")
    a_plain = _alert(status="false_alarm")
    plain = evidence.store_image(_jpeg((10, 20, 30)), alert_id=a_plain.id)
    a_open, a_case = _alert(status="confirmed"), _alert(status="confirmed")
    open_ev = evidence.store_image(_jpeg((50, 60, 70)), alert_id=a_open.id)
    case_ev = evidence.store_image(_jpeg((90, 100, 110)), alert_id=a_case.id)
    db.session.commit()
    for a, state, case in ((a_open, "in_progress", False), (a_case, "closed", True)):
        db.session.add(WorkOrder(number=f"WO-{a.id}", kind="alert", alert_id=a.id, title="t", state=state,
                                 case_transferred=case, closed_at=old if state == "closed" else None, version=1))
    db.session.commit()
    clock.advance(days=4)
    result = retention.sweep()
    assert result["by_class"] == {"patrol": 1}
    assert db.session.get(EvidenceFile, patrol_frame.id) is None
    assert not (evidence.files_root() / evidence.relative_path(patrol_frame.sha256)).exists()
    clock.advance(days=90)
    retention.sweep()
    assert db.session.get(EvidenceFile, plain.id) is None
    # Years later, and a budget of zero: the open and the case-transferred order's files stay.
    clock.advance(days=3 * 365)
    org.config["NRSC_EVIDENCE_BUDGET_MB"] = 0.000001
    retention.sweep()
    assert db.session.get(EvidenceFile, open_ev.id) is not None
    assert db.session.get(EvidenceFile, case_ev.id) is not None
    assert evidence.absolute_path(open_ev).exists() and evidence.absolute_path(case_ev).exists()


def test_closed_order_evidence_kept_for_archive_then_expires(org, clock):
    a = _alert(status="confirmed")
    ev = evidence.store_image(_jpeg((5, 5, 5)), alert_id=a.id)
    db.session.add(WorkOrder(number="WO-X", kind="alert", alert_id=a.id, title="t", state="closed",
                             closed_at=clock.current, version=1))
    db.session.commit()
    # Closed 2026-11: kept through the 2027 assessment plus a year → until 2028-01-01 local.
    assert retention.archive_until(clock.current).year == 2028
    clock.advance(days=400)
    retention.sweep()
    assert db.session.get(EvidenceFile, ev.id) is not None
    clock.advance(days=400)
    retention.sweep()
    assert db.session.get(EvidenceFile, ev.id) is None


def test_budget_deletes_oldest_patrol_frames_first(app, clock):
    app.config["NRSC_EVIDENCE_BUDGET_MB"] = None
    rng = np.random.default_rng(1)
    rows = []
    for i in range(4):
        img = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=95)
        rows.append(evidence.store_image(buf.getvalue(), kind="patrol_frame"))
        db.session.commit()
        clock.advance(minutes=1)
    size = rows[0].size
    app.config["NRSC_EVIDENCE_BUDGET_MB"] = (sum(r.size for r in rows) - size - 1) / 1024 / 1024 + 0.0
    out = retention.sweep()
    assert out["over_budget"] >= 1
    db.session.expire_all()
    assert db.session.get(EvidenceFile, rows[0].id) is None
    assert db.session.get(EvidenceFile, rows[-1].id) is not None


def test_pushed_alert_from_our_camera_gets_a_clip(org, clock, fakecams, make_camera):
    from webapp.alerts import intake
    from webapp.cameras.jobs import register_jobs
    from webapp.platform.tasks import get_runner
    org.config["NRSC_ALERT_CLIP_SECONDS"] = 1
    register_jobs(get_runner(org))  # eager runner: the clip is recorded in the call
    cam = make_camera(fakecams())
    alert, created = intake.ingest({
        "domain": "fire", "event_type": "smoke", "source_event_id": "box-1",
        "occurred_at": "2026-11-20T02:13:00+08:00", "lat": 37.35, "lon": 106.25,
        "camera_code": cam.code}, source="box")
    assert created and alert.camera_id == cam.id
    (clip,) = clips.clips_of_alert(alert.id)
    assert clip.content_type == "video/webm" and evidence.absolute_path(clip).stat().st_size > 0


def test_a_late_report_gets_no_clip_of_today(org, clock, fakecams, make_camera):
    """An event reported an hour late: a clip recorded now would show nothing of it."""
    from webapp.alerts import intake
    from webapp.cameras.jobs import register_jobs
    from webapp.platform.tasks import get_runner
    org.config["NRSC_ALERT_CLIP_SECONDS"] = 1
    register_jobs(get_runner(org))
    cam = make_camera(fakecams())
    alert, created = intake.ingest({
        "domain": "fire", "event_type": "smoke", "source_event_id": "box-late",
        "occurred_at": "2026-11-20T01:13:00+08:00", "lat": 37.35, "lon": 106.25,
        "camera_code": cam.code}, source="box")
    assert created and clips.clips_of_alert(alert.id) == []
