"""The detection pipeline unit by unit, with detectors the test controls
(a plugin registered like any other): temporal confirmation over frames and
over visits, smoke's rise, preset masks and thresholds, a failing detector
contained, corrupt frames, the bounded queue dropping and counting when
detection falls behind, and two cameras' bearings triangulated."""
from __future__ import annotations

import threading
import time

import cv2
import pytest
from flask import current_app
from sqlalchemy import select

from tests.detection import scenes
from webapp import create_app
from webapp.cameras.capture import Frame
from webapp.cameras.control import ensure_runtime
from webapp.detection import pipeline
from webapp.extensions import db
from webapp.models import (
    Alert,
    AuditEvent,
    Camera,
    CameraRuntime,
    EvidenceFile,
    PatrolVisit,
    Preset,
)
from webapp.platform import clock as clock_module
from webapp.plugin_api import Detection, hookimpl


class Probe:
    """Returns what the test scripted: {frame index: [(domain, event, box, score)]}."""

    name = "probe"
    domains = ("safety", "fire")
    params: dict = {}
    script: dict[int, list] = {}

    def detect(self, frames, context):
        return [Detection(domain, event, event, score, box, i, detector=self.name)
                for i in range(len(frames)) for domain, event, box, score in self.script.get(i, [])]


class Broken:
    name = "broken"
    domains = ("grazing", "safety")
    params: dict = {}

    def detect(self, frames, context):
        raise RuntimeError("model file truncated")


class Gate:
    """Blocks until released: a detector far slower than patrol."""

    name = "gate"
    domains = ("geohazard",)
    params: dict = {}
    release = threading.Event()

    def detect(self, frames, context):
        self.release.wait(20)
        return []


class RefProbe:
    """Compares against the reference (so it is costly and rests between runs)."""

    name = "ref_probe"
    domains = ("ecology",)
    params: dict = {}
    needs_reference = True
    calls = 0

    def detect(self, frames, context):
        RefProbe.calls += 1
        assert context.reference is not None
        return [Detection("ecology", "garbage", "change", 0.9, BOX, len(frames) - 1, detector=self.name)]


class ProbePlugin:
    @hookimpl
    def register_detectors(self, settings):
        return [Probe(), Broken(), Gate(), RefProbe()]


@pytest.fixture
def app(app_config, clock, tmp_path):
    app_config.update(NRSC_DETECTORS={"models_dir": str(tmp_path / "no-models")}, NRSC_DETECTION_ENABLED=True, NRSC_ALERT_CLIP_SECONDS=0, NRSC_DETECTION_QUEUE=1)
    application = create_app(app_config, plugins=[ProbePlugin()], load_entrypoints=True)
    with application.app_context():
        from webapp.demo.data import load_organisation
        load_organisation()
        yield application
        pipeline.pipeline_for(application).stop()
        Gate.release.set()
        db.session.remove()
        db.engine.dispose()


BOX = (0.40, 0.55, 0.46, 0.70)
LAT, LON = 37.4347, 105.9601  # the demo's T-05


def _camera(code="T-90", lat=LAT, lon=LON, domains=("safety",), pan=0.0, number=1):
    cam = db.session.scalar(select(Camera).where(Camera.code == code))
    if cam is None:
        cam = Camera(code=code, name=code, kind="tower", lat=lat, lon=lon, ground_elevation_m=1486.0,
                     mount_height_m=75.0, pan_zero_azimuth_deg=0.0, fov_table=[], status="online",
                     failure_count=0, active=True)
        db.session.add(cam)
        db.session.flush()
    db.session.add(Preset(camera_id=cam.id, number=number, name="p", pan_deg=pan, tilt_deg=-5.0, zoom=1.0,
                          dwell_seconds=20, domains=list(domains), masks=[]))
    db.session.commit()
    ensure_runtime(cam.id)
    db.session.commit()
    return cam


def _frames(n=3, seed=1):
    img = scenes.base(seed)
    return [cv2.imencode(".jpg", img)[1].tobytes() for _ in range(n)]


def _visit(cam, number=1):
    now = clock_module.now()
    v = PatrolVisit(camera_id=cam.id, preset_number=number, started_at=now, frames_at=now, status="ok",
                    frame_count=3)
    db.session.add(v)
    db.session.commit()
    return v


def _run(cam, frames=None, number=1, visit=True):
    v = _visit(cam, number) if visit else None
    frames = frames if frames is not None else _frames()
    job = pipeline.StopJob(cam.id, number, v.id if v else None, frames, [clock_module.now()] * len(frames))
    outcome = pipeline.pipeline_for(current_app._get_current_object()).process(job)
    db.session.expire_all()
    return outcome, (db.session.get(PatrolVisit, v.id) if v else None)


def _alerts():
    db.session.expire_all()
    return list(db.session.scalars(select(Alert).order_by(Alert.id)))


def test_one_frame_is_not_an_alert_two_frames_are(app, clock):
    cam = _camera()
    Probe.script = {0: [("safety", "unsafe_operation", BOX, 0.9)]}
    outcome, visit = _run(cam)
    assert outcome.status == "done" and outcome.confirmed == [] and _alerts() == []
    assert visit.detection_status == "done" and visit.detections[0]["frames"] == 1
    assert "detector broken failed: RuntimeError: model file truncated" in visit.detection_note
    Probe.script = {0: [("safety", "unsafe_operation", BOX, 0.9)],
                    1: [("safety", "unsafe_operation", (0.405, 0.55, 0.465, 0.70), 0.8)]}
    other = _camera(code="T-91")
    outcome, visit = _run(other)
    [alert] = _alerts()
    assert outcome.alerts == [alert.id] and outcome.confirmed[0].confirmed_by == "frames"
    assert alert.source == "patrol" and alert.detector == "probe" and alert.visit_id == visit.id
    assert (alert.domain, alert.event_type, alert.camera_id, alert.preset_number) == \
        ("safety", "unsafe_operation", other.id, 1)
    assert alert.location_method == "monoplot" and alert.located_by == [other.id]
    assert alert.uncertainty["semi_major_m"] > alert.uncertainty["semi_minor_m"] > 0
    assert alert.score == pytest.approx(0.9) and alert.boxes[0]["box"] == list(BOX)
    snapshot = db.session.scalar(select(EvidenceFile).where(EvidenceFile.alert_id == alert.id))
    assert snapshot.kind == "snapshot" and snapshot.content_type == "image/jpeg"
    created = db.session.scalar(select(AuditEvent).where(AuditEvent.entity_id == alert.id,
                                                         AuditEvent.action == "alert_created"))
    assert created.data["source"] == "patrol"
    # The alert sits where the box's bottom centre looks: 12° down from a 75 m tower, ~350 m north.
    from webapp.geometry.projection import GEOD
    az, _b, dist = GEOD.inv(other.lon, other.lat, alert.lon, alert.lat)
    assert 300 < dist < 400 and abs((az + 180) % 360 - 180) < 10


def test_confirmed_over_consecutive_visits_of_the_preset(app, clock):
    cam = _camera()
    Probe.script = {2: [("safety", "unsafe_operation", BOX, 0.9)]}
    _run(cam)
    assert _alerts() == []
    clock.advance(seconds=60)
    Probe.script = {2: [("safety", "unsafe_operation", (0.42, 0.56, 0.48, 0.71), 0.85)]}  # the preset drifts a bit
    outcome, visit = _run(cam)
    [alert] = _alerts()
    assert outcome.confirmed[0].confirmed_by == "visits" and visit.detections[0]["visits"] == 2
    assert "2 visits" in alert.text
    # Too long ago is not consecutive: a new place starts again.
    clock.advance(hours=2)
    Probe.script = {2: [("safety", "hot_work", BOX, 0.9)]}
    _run(cam)
    assert len(_alerts()) == 1


def test_smoke_is_confirmed_by_a_slow_rise_not_by_persistence_alone(app, clock):
    cam = _camera(domains=("fire",))
    still = (0.50, 0.40, 0.56, 0.60)
    Probe.script = {i: [("fire", "smoke", still, 0.8)] for i in range(3)}
    outcome, _v = _run(cam)
    assert outcome.confirmed == [] and _alerts() == []  # a grey rock in three frames
    clock.advance(hours=2)  # and not consecutive with that
    rising = {i: [("fire", "smoke", (0.50, 0.40 - 0.01 * i, 0.56, 0.60), 0.8)] for i in range(3)}
    Probe.script = rising
    outcome, _v = _run(cam)
    [alert] = _alerts()
    assert (alert.domain, alert.event_type) == ("fire", "smoke")
    # Drifting sideways fast is a lorry's dust, not a plume.
    clock.advance(hours=2)
    Probe.script = {i: [("fire", "smoke", (0.1 + 0.1 * i, 0.40 - 0.01 * i, 0.16 + 0.1 * i, 0.6), 0.8)]
                    for i in range(3)}
    outcome, _v = _run(cam)
    assert outcome.confirmed == []


def test_masks_and_thresholds_of_the_preset(app, clock):
    cam = _camera()
    preset = db.session.scalar(select(Preset).where(Preset.camera_id == cam.id))
    preset.masks = [[[0.35, 0.5], [0.5, 0.5], [0.5, 0.75], [0.35, 0.75]]]
    db.session.commit()
    Probe.script = {i: [("safety", "unsafe_operation", BOX, 0.9)] for i in range(3)}
    outcome, visit = _run(cam)
    assert _alerts() == [] and "3 masked" in visit.detection_note
    preset.masks = []
    preset.thresholds = {"probe": 0.95}  # raised after false alarms
    db.session.commit()
    outcome, visit = _run(cam)
    assert _alerts() == [] and "3 below threshold" in visit.detection_note
    preset.thresholds = {"probe": 0.85}
    db.session.commit()
    _run(cam)
    assert len(_alerts()) == 1


def test_a_failing_detector_is_contained_and_corrupt_frames_are_said(app, clock, login_as):
    cam = _camera(domains=("grazing",))  # only the broken detector serves it
    outcome, visit = _run(cam)
    assert outcome.status == "failed" and visit.detection_status == "failed"
    assert "broken failed" in visit.detection_note
    # The camera page says so in its own words (not 「发送失败」, a message's).
    b, _user = login_as("duty_officer")
    notes = b.get(f"/cameras/{cam.code}").get_data(as_text=True).split('id="detection-notes"')[1].split("</ul>")[0]
    assert "识别失败" in notes and "发送失败" not in notes
    other = _camera(code="T-92", domains=("safety",))
    Probe.script = {i: [("safety", "unsafe_operation", BOX, 0.9)] for i in range(3)}
    outcome, visit = _run(other, frames=[b"\xff\xd8garbage", *_frames(2)])
    assert outcome.status == "done" and "frame 1 is corrupt" in visit.detection_note
    assert len(_alerts()) == 1
    outcome, visit = _run(other, frames=[b"not an image"] * 3)
    assert visit.detection_status == "skipped" and "no frame of the stop could be decoded" in visit.detection_note
    rt = db.session.get(CameraRuntime, other.id)
    assert (rt.stops_detected, rt.stops_failed) == (1, 1)


def test_a_preset_without_reference_and_a_ray_into_the_sky(app, clock):
    cam = _camera(domains=("mining",))
    outcome, visit = _run(cam)
    assert visit.detection_status == "skipped"
    assert "no reference image" in visit.detection_note and "mining_change" in visit.detection_note
    other = _camera(code="T-93", domains=("safety",))
    Probe.script = {i: [("safety", "unsafe_operation", (0.4, 0.05, 0.45, 0.2), 0.9)] for i in range(3)}
    outcome, visit = _run(other)
    assert visit.detection_status == "skipped" and "meets no ground" in visit.detection_note
    # A DEM that does not reach this camera's view.
    import numpy as np

    from webapp.geometry.dem import Dem
    app.extensions["nrsc.dem"] = Dem(np.full((4, 4), 1500.0), 100.0, 30.0, 0.01, 0.01)
    try:
        Probe.script = {i: [("safety", "unsafe_operation", BOX, 0.9)] for i in range(3)}
        outcome, visit = _run(other)
    finally:
        del app.extensions["nrsc.dem"]
    assert visit.detection_status == "skipped" and "the DEM does not cover the viewing ray" in visit.detection_note
    assert _alerts() == []


def test_a_slow_detector_never_holds_patrol_stops_are_dropped_and_counted(app, clock, login_as):
    cam = _camera(domains=("geohazard",))
    Gate.release.clear()
    frames = [Frame(data, clock_module.now(), "snapshot") for data in _frames()]
    preset = db.session.scalar(select(Preset).where(Preset.camera_id == cam.id))
    visits = [_visit(cam) for _ in range(4)]
    started = time.monotonic()
    pipeline.consume(cam, preset, frames, visit_id=visits[0].id)
    deadline = time.monotonic() + 5  # the worker has taken the first stop and is stuck on it
    while pipeline.pipeline_for(app).queue.qsize() and time.monotonic() < deadline:
        time.sleep(0.01)
    for v in visits[1:]:
        pipeline.consume(cam, preset, frames, visit_id=v.id)
    assert time.monotonic() - started < 2.0  # patrol went on at once
    Gate.release.set()
    assert pipeline.pipeline_for(app).join(20)
    db.session.expire_all()
    statuses = [db.session.get(PatrolVisit, v.id).detection_status for v in visits]
    assert statuses == ["done", "dropped", "dropped", "done"]
    assert "detection queue full" in db.session.get(PatrolVisit, visits[1].id).detection_note
    rt = db.session.get(CameraRuntime, cam.id)
    assert (rt.stops_detected, rt.stops_dropped) == (2, 2)
    assert pipeline.figures(app)["dropped"] == 2
    b, _user = login_as("duty_officer")
    page = b.get(f"/cameras/{cam.code}").get_data(as_text=True)
    assert "识别积压时丢弃：2" in page
    assert b.get("/cameras/status.json").get_json()["cameras"][0]["detection"]["dropped"] == 2


def test_a_stop_that_waited_too_long_is_dropped(app, clock):
    app.config["NRSC_DETECTION_MAX_AGE_S"] = 30
    cam = _camera()
    v = _visit(cam)
    job = pipeline.StopJob(cam.id, 1, v.id, _frames(), [clock_module.now()] * 3, queued_at=time.monotonic() - 60)
    outcome = pipeline.pipeline_for(app).process(job)
    assert outcome.status == "dropped" and "behind" in outcome.notes[0]


def test_two_cameras_see_one_event_the_alert_takes_the_triangulated_position(app, clock):
    from webapp.geometry.projection import GEOD, CameraModel
    lon, lat, _ = GEOD.fwd(LON, LAT, 10.0, 2500.0)
    olon, olat, _ = GEOD.fwd(LON, LAT, 95.0, 2200.0)
    a = _camera(code="T-94", pan=10.0)
    b_az = GEOD.inv(olon, olat, lon, lat)[0] % 360
    b = _camera(code="T-95", lat=olat, lon=olon, pan=b_az)
    boxes = {}
    for cam in (a, b):
        preset = db.session.scalar(select(Preset).where(Preset.camera_id == cam.id))
        model = CameraModel.of(cam, width=640, height=360, pan=preset.pan_deg, tilt=preset.tilt_deg)
        # The event stands 20 m above the ground: each camera alone puts it too far away.
        u, v, _f = model.ground_to_pixel(lat, lon, cam.ground_elevation_m + 20)
        boxes[cam.id] = (float(u) / 640 - 0.02, float(v) / 360 - 0.06, float(u) / 640 + 0.02, float(v) / 360)
    Probe.script = {i: [("safety", "unsafe_operation", boxes[a.id], 0.9)] for i in range(3)}
    _run(a)
    [first] = _alerts()
    assert first.location_method == "monoplot"
    alone = GEOD.inv(first.lon, first.lat, lon, lat)[2]
    alone_major = first.uncertainty["semi_major_m"]
    clock.advance(seconds=30)
    Probe.script = {i: [("safety", "unsafe_operation", boxes[b.id], 0.9)] for i in range(3)}
    _run(b)
    [alert] = _alerts()  # one event: the second camera's sighting joined the first alert
    assert alert.id == first.id and alert.occurrences == 2
    assert alert.location_method == "triangulated" and sorted(alert.located_by) == sorted([a.id, b.id])
    assert GEOD.inv(alert.lon, alert.lat, lon, lat)[2] < min(alone, 30.0)
    assert alert.uncertainty["semi_major_m"] < alone_major
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.entity_id == alert.id,
                                                      AuditEvent.action == "alert_relocated")) is not None


def test_the_celery_job_reads_a_stored_stop_back(app, clock):
    """Under Celery the stop travels as ``detection_stop(visit_id)``; its frames
    come back from the evidence store."""
    from webapp.alerts import evidence
    from webapp.models import PatrolFrame
    cam = _camera()
    visit = _visit(cam)
    for data in _frames():
        row = evidence.store_image(data, "f.jpg", kind="patrol_frame")
        db.session.flush()
        db.session.add(PatrolFrame(visit_id=visit.id, evidence_id=row.id, captured_at=clock_module.now()))
    db.session.commit()
    Probe.script = {i: [("safety", "unsafe_operation", BOX, 0.9)] for i in range(3)}
    from webapp.cameras.patrol import STOP_CONSUMERS
    assert pipeline.consume in STOP_CONSUMERS  # wired wherever the cameras' jobs are
    assert pipeline.JOB_NAME in app.extensions["nrsc.tasks"].jobs
    result = app.extensions["nrsc.tasks"].run(pipeline.JOB_NAME, visit_id=visit.id)
    [alert] = _alerts()
    assert result == {"status": "done", "alerts": [alert.id]} and alert.visit_id == visit.id
    # The stop's frames are the alert's evidence too (annotated snapshot first).
    kinds = db.session.scalars(select(EvidenceFile.kind).where(EvidenceFile.alert_id == alert.id)).all()
    assert kinds == ["snapshot"] * 4


def test_a_joined_sighting_with_a_smaller_ellipse_moves_the_alert(app, clock):
    from webapp.alerts.intake import ingest
    from webapp.geometry.projection import GEOD
    base = {"domain": "fire", "event_type": "fire", "occurred_at": clock_module.now().isoformat()}
    lon2, lat2, _ = GEOD.fwd(LON, LAT, 45.0, 100.0)
    wide = {"semi_major_m": 400.0, "semi_minor_m": 20.0, "orientation_deg": 10.0}
    narrow = {"semi_major_m": 30.0, "semi_minor_m": 20.0, "orientation_deg": 80.0}
    first, created = ingest({**base, "lat": LAT, "lon": LON, "source_event_id": "a"}, source="patrol",
                            provenance={"detector": "probe", "location_method": "monoplot", "located_by": [1],
                                        "uncertainty": wide})
    assert created and first.uncertainty == wide and first.detector == "probe"
    joined, created = ingest({**base, "lat": lat2, "lon": lon2, "source_event_id": "b"}, source="patrol",
                             provenance={"location_method": "triangulated", "located_by": [2, 3],
                                         "uncertainty": narrow})
    assert not created and joined.id == first.id
    assert (joined.lat, joined.lon) == (pytest.approx(lat2), pytest.approx(lon2))
    assert joined.uncertainty == narrow and joined.location_method == "triangulated"
    assert joined.located_by == [1, 2, 3]
    # A worse estimate joining later does not move it back.
    again, _ = ingest({**base, "lat": LAT, "lon": LON, "source_event_id": "c"}, source="patrol",
                      provenance={"location_method": "monoplot", "located_by": [1], "uncertainty": wide})
    assert again.uncertainty == narrow and again.lat == pytest.approx(lat2)


def test_change_detectors_rest_between_runs_and_their_candidates_carry_over(app, clock):
    from webapp.alerts import evidence
    app.config["NRSC_CHANGE_INTERVAL_S"] = 300
    cam = _camera(domains=("ecology",))
    preset = db.session.scalar(select(Preset).where(Preset.camera_id == cam.id))
    preset.reference_sha256 = evidence.store_image(_frames(1)[0], "ref.jpg", kind="reference").sha256
    db.session.commit()
    RefProbe.calls = 0
    _run(cam)
    clock.advance(seconds=60)
    _outcome, resting = _run(cam)
    assert RefProbe.calls == 1 and _alerts() == []
    assert resting.detections[0]["detector"] == "ref_probe"  # carried for the next run
    clock.advance(seconds=300)
    _run(cam)
    assert RefProbe.calls == 2
    [alert] = _alerts()
    assert alert.detector == "ref_probe" and "2 visits" in alert.text
