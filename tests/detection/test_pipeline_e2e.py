"""End to end over real loopback: the camera simulator's events (``POST
/sim/events``) → patrol stops → the detection pipeline → alerts on the duty
console, placed within their stated 95% ellipse of ``GET /sim/truth``; the
simulator's look-alikes raise none."""
from __future__ import annotations

import json
import urllib.request

import pytest
from sqlalchemy import select

from webapp.cameras.capture import LINKS
from webapp.cameras.patrol import PatrolEngine
from webapp.detection import pipeline
from webapp.detection.geolocate import Fix
from webapp.extensions import db
from webapp.geometry import dem as dem_mod
from webapp.models import Alert, Camera, EvidenceFile, PatrolTour, PatrolVisit, Preset

USER, PASSWORD = "demo", "sim-cam-password"
SIZE = (640, 360)
CODE = "T-05"


@pytest.fixture(scope="module")
def dem():
    return dem_mod.synthetic_dem(resolution_arcsec=6.0)


@pytest.fixture(scope="module")
def sim(dem):
    from simulator.server import Simulator
    s = Simulator(cameras=[CODE], base_port=None, user=USER, password=PASSWORD, dem=dem, size=SIZE).start()
    yield s
    s.stop()


@pytest.fixture
def app_config(app_config, tmp_path):
    # The classical detectors only: the suite never depends on installed models.
    app_config.update(NRSC_DETECTORS={"models_dir": str(tmp_path / "no-models")}, NRSC_DETECTION_ENABLED=True,
                      NRSC_CHANGE_INTERVAL_S=0, NRSC_PATROL_BURST=3, NRSC_PATROL_BURST_INTERVAL_S=0.0,
                      NRSC_ALERT_CLIP_SECONDS=0)
    return app_config


def _http(sim, method, path, body=None):
    req = urllib.request.Request(sim.control_url + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.fixture
def world(org, sim, dem):
    """The simulator's camera registered on the platform, one preset patrolled."""
    org.extensions["nrsc.dem"] = dem
    spec = sim.cameras[CODE].spec
    _http(sim, "DELETE", "/sim/events")
    _http(sim, "POST", "/sim/clock", {"frozen": True})
    cam = Camera(code=CODE, name="sim", kind="tower", lat=spec.lat, lon=spec.lon,
                 ground_elevation_m=sim.cameras[CODE].ground, mount_height_m=spec.mount_height_m,
                 pan_zero_azimuth_deg=spec.pan_zero_azimuth_deg, fov_table=spec.fov_table,
                 onvif_host="127.0.0.1", onvif_port=sim.cameras[CODE].port, onvif_user=USER,
                 onvif_password=PASSWORD, status="unknown", failure_count=0, active=True)
    db.session.add(cam)
    db.session.flush()
    for p in spec.presets:
        db.session.add(Preset(camera_id=cam.id, number=p.number, name=str(p.number), pan_deg=p.pan_deg,
                              tilt_deg=p.tilt_deg, zoom=p.zoom, dwell_seconds=5, domains=list(p.domains),
                              masks=[]))
    db.session.commit()
    yield cam
    pipeline.pipeline_for(org).join(30)
    LINKS.clear()
    org.extensions.pop("nrsc.dem", None)


def _tour(cam, number):
    for t in db.session.scalars(select(PatrolTour).where(PatrolTour.camera_id == cam.id)):
        db.session.delete(t)
    db.session.add(PatrolTour(camera_id=cam.id, name="t", preset_numbers=[number], dwell_seconds=8,
                              settle_seconds=4, start_local="", end_local="", active=True))
    db.session.commit()


def _patrol(app, clock, sim, engine, visits, cam):
    """Run patrol until ``visits`` more stops of the camera were examined."""
    start = len(_visits(cam))
    for _ in range(10 * visits + 10):
        engine.tick()
        engine.drain(timeout=30)
        clock.advance(seconds=1)
        _http(sim, "POST", "/sim/clock", {"advance_s": 1.0})
        if len([v for v in _visits(cam) if v.frames_at]) >= start + visits:
            break
    assert pipeline.pipeline_for(app).join(60)
    db.session.expire_all()


def _visits(cam):
    db.session.expire_all()
    return list(db.session.scalars(select(PatrolVisit).where(PatrolVisit.camera_id == cam.id)
                                   .order_by(PatrolVisit.id)))


def _place(sim, number, u, v, kind, **extra):
    cam = sim.cameras[CODE]
    preset = next(p for p in cam.spec.presets if p.number == number)
    model = cam.base.at(pan=preset.pan_deg, tilt=preset.tilt_deg, zoom=preset.zoom)
    hit = model.pixel_to_ground(model.width * u, model.height * v, sim.world.dem)
    assert hit is not None
    return _http(sim, "POST", "/sim/events", {"kind": kind, "lat": hit[0], "lon": hit[1], **extra})["ids"][0]


def _truth(sim, event_id):
    return next(e for e in _http(sim, "GET", "/sim/truth?cameras=0")["events"] if e["id"] == event_id)


def _alerts():
    db.session.expire_all()
    return list(db.session.scalars(select(Alert).order_by(Alert.id)))


def _console_sees(login_as, alert):
    b, _user = login_as("duty_officer")
    page = b.get("/alerts/").get_data(as_text=True)
    assert f"/alerts/{alert.id}" in page
    detail = b.get(f"/alerts/{alert.id}")
    assert detail.status_code == 200
    return detail.get_data(as_text=True)


def _within(alert, truth):
    fix = Fix(alert.lat, alert.lon, alert.uncertainty["semi_major_m"], alert.uncertainty["semi_minor_m"],
              alert.uncertainty["orientation_deg"], alert.location_method)
    return fix.mahalanobis2(truth["state"]["lat"], truth["state"]["lon"])


def test_fire_becomes_an_alert_placed_within_its_ellipse(org, clock, sim, world, login_as):
    number = 4  # farmland + fire
    _tour(world, number)
    # A far view: this preset's flames are small, so its fire cue looks at smaller regions.
    preset = db.session.scalar(select(Preset).where(Preset.camera_id == world.id, Preset.number == number))
    preset.detector_params = {"fire_colour.min_fraction": 0.0001}
    db.session.commit()
    event = _place(sim, number, 0.42, 0.72, "fire", width_m=14, height_m=8)
    engine = PatrolEngine(org, holder="w1")
    try:
        _patrol(org, clock, sim, engine, 1, world)
    finally:
        engine.stop()
    alerts = _alerts()
    assert [(a.domain, a.event_type) for a in alerts] == [("fire", "fire")], [(v.detection_status, v.detection_note, v.detections, v.frame_count) for v in _visits(world)]
    alert = alerts[0]
    visit = _visits(world)[-1]
    assert alert.visit_id == visit.id and visit.detection_status == "done"
    assert alert.source == "patrol" and alert.detector == "fire_colour" and alert.location_method == "monoplot"
    assert alert.located_by == [world.id] and alert.camera_id == world.id and alert.preset_number == number
    assert alert.boxes and alert.score >= 0.5
    truth = _truth(sim, event)
    assert _within(alert, truth) <= 1.0, (alert.uncertainty, truth["state"])
    kinds = [e.kind for e in db.session.scalars(select(EvidenceFile).where(EvidenceFile.alert_id == alert.id))]
    assert kinds.count("snapshot") == 1 + visit.frame_count  # annotated + the stop's frames
    page = _console_sees(login_as, alert)
    import html
    import re
    data = json.loads(html.unescape(re.search(r'id="alert-map-data">(.*?)</script>', page, re.S).group(1)))
    ring = data["uncertainty"]["geometry"]["coordinates"][0]  # the ellipse the map draws
    assert data["uncertainty"]["geometry"]["type"] == "Polygon" and ring[0] == ring[-1] and len(ring) > 20
    major = round(alert.uncertainty["semi_major_m"])
    assert "单相机地形定位" in page and f"误差椭圆 {major} ×" in page and "fire_colour" in page


def test_smoke_rising_from_visit_to_visit_becomes_an_alert_at_its_base(org, clock, sim, world, login_as):
    """A patrol burst is too short for a plume to grow; over the preset's
    visits it grows and rises, and the alert stands at its base."""
    number = 4  # farmland + fire
    _tour(world, number)
    engine = PatrolEngine(org, holder="w1")
    try:
        _patrol(org, clock, sim, engine, 1, world)  # the view before the fire starts
        event = _place(sim, number, 0.45, 0.75, "smoke", width_m=12, height_m=120)
        _patrol(org, clock, sim, engine, 1, world)
        assert _alerts() == []  # one visit cannot show a plume growing
        _patrol(org, clock, sim, engine, 1, world)
    finally:
        engine.stop()
    alerts = _alerts()
    visits = _visits(world)
    assert [(a.domain, a.event_type) for a in alerts] == [("fire", "smoke")], \
        [(v.detection_status, v.detection_note, v.detections) for v in visits]
    alert = alerts[0]
    assert alert.detector == "smoke_motion" and alert.visit_id == visits[-1].id
    assert alert.location_method == "monoplot" and alert.located_by == [world.id]
    truth = _truth(sim, event)
    assert _within(alert, truth) <= 1.0, (alert.uncertainty, truth["state"], alert.lat, alert.lon)
    assert visits[-1].detections[0]["confirmed_by"] == "visits" and visits[-1].detections[0]["visits"] == 3
    page = _console_sees(login_as, alert)
    assert "smoke_motion" in page and "3 visits" in page


def test_excavator_needs_a_reference_and_two_visits(org, clock, sim, world):
    number = 1  # mining
    _tour(world, number)
    engine = PatrolEngine(org, holder="w1")
    try:
        _patrol(org, clock, sim, engine, 1, world)
        visit = _visits(world)[-1]
        assert visit.detection_status == "skipped" and "reference image" in visit.detection_note
        # The duty lead captures the reference (the stop's frame) …
        preset = db.session.scalar(select(Preset).where(Preset.camera_id == world.id, Preset.number == number))
        frame = db.session.scalar(select(EvidenceFile).where(EvidenceFile.kind == "patrol_frame")
                                  .order_by(EvidenceFile.id.desc()))
        preset.reference_sha256 = frame.sha256
        db.session.commit()
        event = _place(sim, number, 0.45, 0.8, "excavator", width_m=12, height_m=5)
        _patrol(org, clock, sim, engine, 1, world)
        assert _alerts() == []  # one visit is not enough for machinery
        _patrol(org, clock, sim, engine, 1, world)
    finally:
        engine.stop()
    alerts = _alerts()
    assert {(a.domain, a.event_type) for a in alerts} == {("mining", "excavator")}, \
        [(v.detection_status, v.detection_note, v.detections, v.frame_count) for v in _visits(world)]
    truth = _truth(sim, event)
    assert _within(alerts[0], truth) <= 1.0


def test_look_alikes_raise_nothing(org, clock, sim, world):
    """Sunset, red soil and chimney steam before a fire-watching preset; a
    lorry driving past a mining preset that has its reference image."""
    fire_view, mining_view = 4, 1
    preset = db.session.scalar(select(Preset).where(Preset.camera_id == world.id, Preset.number == fire_view))
    preset.domains = ["fire"]
    preset.detector_params = {"fire_colour.min_fraction": 0.0001}  # as sensitive as for the fire above
    db.session.commit()
    _tour(world, mining_view)
    engine = PatrolEngine(org, holder="w1")
    try:
        _patrol(org, clock, sim, engine, 1, world)
        mining = db.session.scalar(select(Preset).where(Preset.camera_id == world.id, Preset.number == mining_view))
        mining.reference_sha256 = db.session.scalar(select(EvidenceFile.sha256).where(
            EvidenceFile.kind == "patrol_frame").order_by(EvidenceFile.id.desc()).limit(1))
        db.session.commit()
        for kind, u, v in (("red_soil", 0.3, 0.8), ("steam", 0.6, 0.7)):
            _place(sim, fire_view, u, v, kind)
        _http(sim, "POST", "/sim/events", {"kind": "sunset", "lat": 0, "lon": 0})
        _place(sim, mining_view, 0.5, 0.8, "public_truck", speed_m_s=6.0, heading_deg=80.0)
        _tour(world, fire_view)
        _patrol(org, clock, sim, engine, 3, world)
        _tour(world, mining_view)
        _patrol(org, clock, sim, engine, 3, world)
    finally:
        engine.stop()
    visits = [v for v in _visits(world) if v.frames_at][1:]
    assert len(visits) >= 6 and all(v.detection_status == "done" for v in visits), \
        [(v.detection_status, v.detection_note) for v in visits]
    assert _alerts() == [], [(v.preset_number, v.detections) for v in visits]
