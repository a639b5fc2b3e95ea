"""Learning from verdicts, through the real app and database: precision per
detector / camera / preset / period against a hand count; a false alarm's
region made a preset mask in one click, after which the deployed detector no
longer reports it; thresholds raised (bounded, audited) and restored; the
YOLO export; the admin models page (licence shown, switch audited, roles)."""
from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import timedelta

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from plugins.fire.detectors import FireColour
from tests.detection import scenes as S
from webapp.detection import learning
from webapp.detection.deploy import DomainDetector
from webapp.extensions import db
from webapp.models import Alert, AuditEvent, Camera, Preset
from webapp.platform import clock as clock_mod
from webapp.plugin_api import DetectionContext
from webapp.vision import box_iou

HONGSIPU = (37.40, 106.06)


@pytest.fixture
def cams(org):
    """Two cameras: A with presets 1 and 2, B with preset 1."""
    a = Camera(code="T-A", name="塔A", kind="ptz", lat=37.40, lon=106.06)
    b = Camera(code="T-B", name="塔B", kind="ptz", lat=37.41, lon=106.07)
    db.session.add_all([a, b])
    db.session.flush()
    for cam, number in ((a, 1), (a, 2), (b, 1)):
        db.session.add(Preset(camera_id=cam.id, number=number, name=f"P{number}", domains=["fire"], masks=[]))
    db.session.commit()
    return a, b


def preset_of(cam: Camera, number: int) -> Preset:
    return db.session.scalar(select(Preset).where(Preset.camera_id == cam.id, Preset.number == number))


_seq = iter(range(1, 1_000_000))


def make_alert(cam: Camera | None, preset: int | None, detector: str | None, status: str, *,
               age_days: float = 1, boxes=None, **fields) -> Alert:
    at = clock_mod.now() - timedelta(days=age_days)
    alert = Alert(domain="fire", event_type="fire", source="patrol", source_event_id=f"l{next(_seq)}",
                  occurred_at=at, created_at=at, last_seen_at=at, lat=HONGSIPU[0], lon=HONGSIPU[1],
                  camera_id=cam.id if cam else None, preset_number=preset, detector=detector, status=status,
                  boxes=boxes or [], verdict_at=at + timedelta(minutes=5) if status in learning.DECIDED else None,
                  **fields)
    db.session.add(alert)
    db.session.commit()
    return alert


def seed_verdicts(a: Camera, b: Camera) -> None:
    for _ in range(3):
        make_alert(a, 1, "fire_colour", "confirmed")
    make_alert(a, 1, "fire_colour", "false_alarm")
    make_alert(a, 2, "fire_colour", "false_alarm", age_days=10)
    make_alert(a, 2, "fire_colour", "false_alarm", age_days=10)
    make_alert(a, 2, "smoke_motion", "confirmed", age_days=40)
    make_alert(a, 2, "smoke_motion", "false_alarm", age_days=40)
    make_alert(b, 1, "smoke_motion", "confirmed")
    make_alert(b, 1, "smoke_motion", "confirmed")
    # Not verdicts: open, duplicate. Outside 90 days: an old confirmation.
    make_alert(b, 1, "fire_colour", "new")
    make_alert(b, 1, "fire_colour", "duplicate")
    make_alert(a, 1, "fire_colour", "confirmed", age_days=200)


def rows(page: str, table: str) -> dict[str, tuple[int, int, str]]:
    """data-key → (confirmed, false alarms, precision text) of a table."""
    body = page[page.index(f'id="{table}"'):]
    body = body[:body.index("</table>")]
    out = {}
    for key, rest in re.findall(r'<tr data-key="([^"]*)">(.*?)</tr>', body, re.S):
        nums = re.findall(r'<td class="num[^"]*">([^<]*)</td>', rest)
        out[key] = (int(nums[0]), int(nums[1]), nums[2])
    return out


def test_precision_per_detector_camera_preset_and_period_match_a_hand_count(cams, login_as):
    a, b = cams
    seed_verdicts(a, b)
    lead, _ = login_as("duty_lead")
    page = lead.get("/detection/precision?days=90").get_data(as_text=True)
    assert rows(page, "detector-table") == {"fire_colour": (3, 3, "50.0%"), "smoke_motion": (3, 1, "75.0%")}
    assert rows(page, "camera-table") == {str(a.id): (4, 4, "50.0%"), str(b.id): (2, 0, "100.0%")}
    assert rows(page, "preset-table") == {f"{a.id}-1": (3, 1, "75.0%"), f"{a.id}-2": (1, 3, "25.0%"),
                                          f"{b.id}-1": (2, 0, "100.0%")}
    assert rows(page, "preset-detector-table") == {
        f"{a.id}-1-fire_colour": (3, 1, "75.0%"), f"{a.id}-2-fire_colour": (0, 2, "0.0%"),
        f"{a.id}-2-smoke_motion": (1, 1, "50.0%"), f"{b.id}-1-smoke_motion": (2, 0, "100.0%")}
    weeks = rows(page, "time-table")
    # 1, 10 and 40 days before Friday 2026-11-20 (local): the weeks of Mondays 11-16, 11-09, 10-05.
    assert weeks == {"2026-11-16": (5, 1, "83.3%"), "2026-11-09": (0, 2, "0.0%"), "2026-10-05": (1, 1, "50.0%")}
    assert "识别准确率" in page and "塔A" in page and 'class="chart"' in page
    # All time, per month: the old confirmation joins; a filter by detector.
    page = lead.get("/detection/precision?days=0&period=month&detector=fire_colour").get_data(as_text=True)
    assert rows(page, "detector-table") == {"fire_colour": (4, 3, "57.1%")}
    assert rows(page, "time-table") == {"2026-05-01": (1, 0, "100.0%"), "2026-11-01": (3, 3, "50.0%")}
    # A duty officer does not see the page; a duty lead and the admin do.
    officer, _ = login_as("duty_officer")
    assert officer.get("/detection/precision").status_code == 403
    admin, _ = login_as("admin")
    assert admin.get("/detection/precision").status_code == 200


def _jpeg(frame: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return buf.tobytes()


def test_false_alarm_region_becomes_a_preset_mask_and_the_detector_stops_reporting_it(cams, login_as):
    from webapp.alerts import evidence
    a, _b = cams
    scene, box = S.add_fire(S.base(1), 1)
    row = evidence.store_image(_jpeg(scene), "t-a-p1.jpg")
    frame = cv2.imdecode(np.frombuffer(evidence.absolute_path(row).read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    deployed = DomainDetector("fire", [FireColour()])
    context = DetectionContext(camera_code="T-A", preset=1, masks=preset_of(a, 1).masks)
    hits = [d for d in deployed.detect([frame], context) if box_iou(d.box, box) > 0.3]
    assert hits, "the scene's flames are reported before any mask"
    alert = make_alert(a, 1, "fire_colour", "new", age_days=0, boxes=[list(hits[0].box)], label="fire",
                       score=hits[0].score)
    row.alert_id = alert.id
    db.session.commit()

    officer, _ = login_as("duty_officer")
    assert "mask-button" not in officer.get(f"/alerts/{alert.id}").get_data(as_text=True)  # not a false alarm yet
    refused = officer.post(f"/detection/alerts/{alert.id}/mask", follow_redirects=True).get_data(as_text=True)
    assert "只有判定为误报的报警区域才能加入屏蔽。" in refused and preset_of(a, 1).masks == []
    resp = officer.post(f"/alerts/{alert.id}/verdict", data={"verdict": "false_alarm", "reason": "known_object",
                                                             "version": alert.version})
    assert resp.status_code == 302
    page = officer.get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert 'id="mask-button"' in page
    # A viewer cannot; without the CSRF token nothing happens.
    viewer, _ = login_as("leader_viewer")
    assert viewer.post(f"/detection/alerts/{alert.id}/mask").status_code == 403
    assert officer.client.post(f"/detection/alerts/{alert.id}/mask").status_code == 400
    assert preset_of(a, 1).masks == []

    resp = officer.post(f"/detection/alerts/{alert.id}/mask", follow_redirects=True)
    assert "已将 1 个区域加入预置位 1 的屏蔽" in resp.get_data(as_text=True)
    masks = preset_of(a, 1).masks
    assert len(masks) == 1
    xs, ys = [p[0] for p in masks[0]], [p[1] for p in masks[0]]
    b = hits[0].box
    assert min(xs) < b[0] and max(xs) > b[2] and min(ys) < b[1] and max(ys) > b[3]  # the box, with a margin
    assert 'id="mask-done"' in officer.get(f"/alerts/{alert.id}").get_data(as_text=True)
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action.in_(
        ("preset_mask_from_alert", "alert_region_masked")))).all()
    assert {e.action for e in events} == {"preset_mask_from_alert", "alert_region_masked"}
    assert all(e.data["alert"] == alert.id and e.data["polygons"] == masks for e in events)
    # A second click adds nothing.
    officer.post(f"/detection/alerts/{alert.id}/mask")
    assert preset_of(a, 1).masks == masks

    # The same frame, with a context built from the preset: the region is silent.
    context = DetectionContext(camera_code="T-A", preset=1, masks=preset_of(a, 1).masks)
    assert not [d for d in deployed.detect([frame], context) if box_iou(d.box, box) > 0]
    assert not [d for d in FireColour().detect([frame], context) if box_iou(d.box, box) > 0]

    # Reversible: the preset editor lists the mask and deletes it (audited).
    editor = officer.get("/cameras/T-A/presets").get_data(as_text=True)
    assert 'id="masks-1"' in editor and "mask-delete" in editor
    stale = officer.post(f"/detection/presets/{preset_of(a, 1).id}/masks/delete",
                         data={"index": 0, "polygon": json.dumps([[0, 0], [1, 0], [1, 1]])})
    assert stale.status_code == 302 and preset_of(a, 1).masks == masks  # not the mask on the page: kept
    officer.post(f"/detection/presets/{preset_of(a, 1).id}/masks/delete",
                 data={"index": 0, "polygon": json.dumps(masks[0])})
    assert preset_of(a, 1).masks == []
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "preset_mask_deleted")) is not None
    context = DetectionContext(camera_code="T-A", preset=1, masks=preset_of(a, 1).masks)
    assert [d for d in deployed.detect([frame], context) if box_iou(d.box, box) > 0.3]


@pytest.fixture
def app_config(app_config):
    return {**app_config, "NRSC_LEARN_WINDOW": 4, "NRSC_LEARN_MIN_PRECISION": 0.5, "NRSC_LEARN_STEP": 0.1,
            "NRSC_LEARN_MAX_THRESHOLD": 0.8}


def test_threshold_rises_in_bounded_audited_steps_and_an_admin_restores_the_default(app, cams, login_as, clock):
    a, b = cams
    runner = app.extensions["nrsc.tasks"]
    assert learning.THRESHOLD_JOB in runner.jobs
    assert learning.default_threshold("fire_colour") == pytest.approx(0.6)  # FireColour's min_score

    def verdicts(cam, number, confirmed, false_alarm):
        for status in ["confirmed"] * confirmed + ["false_alarm"] * false_alarm:
            make_alert(cam, number, "fire_colour", status, age_days=0)

    verdicts(a, 1, 1, 3)   # 25% over the last 4: raised
    verdicts(a, 2, 3, 1)   # 75%: kept
    verdicts(b, 1, 0, 3)   # too few verdicts: kept
    assert runner.run(learning.THRESHOLD_JOB) == 1
    assert preset_of(a, 1).thresholds == {"fire_colour": pytest.approx(0.7)}
    assert preset_of(a, 2).thresholds == {} and preset_of(b, 1).thresholds == {}
    raised = db.session.scalar(select(AuditEvent).where(AuditEvent.action == learning.RAISED))
    assert (raised.entity_id, raised.from_state, raised.to_state) == (preset_of(a, 1).id, "0.6", "0.7")
    assert raised.data["precision"] == 0.25 and raised.actor_label == "system"
    # The same verdicts never raise it twice: only alerts after the change count.
    assert runner.run(learning.THRESHOLD_JOB) == 0
    clock.advance(minutes=10)
    verdicts(a, 1, 0, 4)
    assert runner.run(learning.THRESHOLD_JOB) == 1
    assert preset_of(a, 1).thresholds["fire_colour"] == pytest.approx(0.8)
    clock.advance(minutes=10)
    verdicts(a, 1, 0, 4)
    assert runner.run(learning.THRESHOLD_JOB) == 0  # the ceiling holds
    assert preset_of(a, 1).thresholds["fire_colour"] == pytest.approx(0.8)
    assert len(db.session.scalars(select(AuditEvent).where(AuditEvent.action == learning.RAISED)).all()) == 2

    lead, _ = login_as("duty_lead")
    page = lead.get("/detection/precision").get_data(as_text=True)
    assert f'data-key="{preset_of(a, 1).id}-fire_colour"' in page and "0.8" in page
    url = f"/detection/presets/{preset_of(a, 1).id}/thresholds/reset"
    assert lead.post(url, data={"detector": "fire_colour"}).status_code == 403
    assert preset_of(a, 1).thresholds == {"fire_colour": pytest.approx(0.8)}
    assert url not in page  # the button is the admin's
    admin, _ = login_as("admin")
    assert url in admin.get("/detection/precision").get_data(as_text=True)
    assert admin.post(url, data={"detector": "fire_colour"}).status_code == 302
    assert preset_of(a, 1).thresholds == {}
    reset = db.session.scalar(select(AuditEvent).where(AuditEvent.action == learning.RESET))
    assert (reset.from_state, reset.to_state, reset.data["detector"]) == ("0.8", "default", "fire_colour")
    # Restored: the verdicts before the reset no longer count.
    assert runner.run(learning.THRESHOLD_JOB) == 0
    # The schedule looks at pairs with new verdicts; the CLI looks at all of them.
    from webapp.detection.cli import detection
    db.session.add(Preset(camera_id=b.id, number=2, name="P2", domains=["fire"], masks=[]))
    db.session.commit()
    for _ in range(4):
        make_alert(b, 2, "fire_colour", "false_alarm", age_days=3)
    assert runner.run(learning.THRESHOLD_JOB) == 0
    result = app.test_cli_runner().invoke(detection, ["raise-thresholds"])
    assert result.exit_code == 0 and "raised: 1" in result.output, result.output
    assert preset_of(b, 2).thresholds == {"fire_colour": pytest.approx(0.7)}
    assert preset_of(a, 1).thresholds == {} and preset_of(a, 2).thresholds == {}


def test_yolo_export_labels_confirmed_boxes_and_keeps_false_alarms_as_negatives(cams, login_as, tmp_path, app):
    from webapp.alerts import evidence
    from webapp.detection.cli import detection
    a, _b = cams
    frame = S.base(2, (64, 48))

    def with_image(alert: Alert) -> Alert:
        row = evidence.store_image(_jpeg(frame), f"a{alert.id}.jpg")
        row.alert_id = alert.id
        db.session.commit()
        return alert

    fire = with_image(make_alert(a, 1, "fire_colour", "confirmed", boxes=[[0.1, 0.2, 0.3, 0.6]], label="fire"))
    smoke = with_image(make_alert(a, 1, "smoke_motion", "confirmed",
                                  boxes=[{"box": [0.5, 0.5, 0.7, 0.9], "label": "smoke"},
                                         {"box_px": [0, 0, 32, 24], "label": "fire"}]))
    false = with_image(make_alert(a, 2, "fire_colour", "false_alarm", boxes=[[0.4, 0.4, 0.5, 0.5]]))
    make_alert(a, 2, "fire_colour", "confirmed", boxes=[[0.1, 0.1, 0.2, 0.2]])  # no image: skipped
    # A patrol alert: its stop's raw frame is exported, not the annotated snapshot.
    from webapp.models import PatrolFrame, PatrolVisit
    visit = PatrolVisit(camera_id=a.id, preset_number=1, started_at=clock_mod.now())
    db.session.add(visit)
    db.session.flush()
    raw_row = evidence.store_image(_jpeg(S.base(3, (64, 48))), "raw.jpg", kind="patrol_frame")
    db.session.flush()
    db.session.add(PatrolFrame(visit_id=visit.id, evidence_id=raw_row.id, captured_at=clock_mod.now()))
    db.session.commit()
    patrol = with_image(make_alert(a, 1, "fire_colour", "confirmed", boxes=[[0.2, 0.2, 0.4, 0.4]], label="fire",
                                   visit_id=visit.id))
    with_image(make_alert(a, 2, "fire_colour", "new", boxes=[[0.1, 0.1, 0.2, 0.2]]))  # undecided: left out

    officer, _ = login_as("duty_officer")
    assert officer.get("/detection/export.zip").status_code == 403
    lead, _ = login_as("duty_lead")
    resp = lead.get("/detection/export.zip")
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(resp.data))
    names = set(zf.namelist())
    assert names == {"data.yaml", *(f"{d}/alert-{x.id}.{e}" for x in (fire, smoke, false, patrol)
                                     for d, e in (("images", "jpg"), ("labels", "txt")))}
    assert zf.read(f"images/alert-{patrol.id}.jpg") == evidence.absolute_path(raw_row).read_bytes()
    assert zf.read(f"images/alert-{fire.id}.jpg") != evidence.absolute_path(raw_row).read_bytes()
    assert zf.read(f"labels/alert-{fire.id}.txt").decode() == "0 0.200000 0.400000 0.200000 0.400000\n"
    assert zf.read(f"labels/alert-{smoke.id}.txt").decode().splitlines() == [
        "1 0.600000 0.700000 0.200000 0.400000", "0 0.250000 0.250000 0.500000 0.500000"]
    assert zf.read(f"labels/alert-{false.id}.txt") == b""
    assert cv2.imdecode(np.frombuffer(zf.read(f"images/alert-{fire.id}.jpg"), np.uint8), 1).shape == (48, 64, 3)
    yaml = zf.read("data.yaml").decode()
    assert "nc: 2" in yaml and '0: "fire"' in yaml and '1: "smoke"' in yaml and "train: images" in yaml
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "dataset_exported")).data["negatives"] == 1

    out = tmp_path / "set"
    result = app.test_cli_runner().invoke(detection, ["export-yolo", str(out), "--detector", "fire_colour"])
    assert result.exit_code == 0, result.output
    assert "2 confirmed, 1 false alarms" in result.output
    assert sorted(p.name for p in (out / "labels").iterdir()) == sorted(
        f"alert-{x.id}.txt" for x in (fire, false, patrol))
    assert (out / "labels" / f"alert-{false.id}.txt").read_text() == ""
    assert (out / "data.yaml").is_file() and len(list((out / "images").iterdir())) == 3
    assert app.test_cli_runner().invoke(detection, ["export-yolo", str(out)]).exit_code != 0  # not empty


def test_models_page_shows_the_manifest_and_licence_and_an_admin_switches_a_model(app, login_as):
    from pathlib import Path

    from tests.detection import tiny_models
    from webapp.detection.plugin import register_detectors
    root = Path(app.config["NRSC_DETECTORS"]["models_dir"])
    tiny_models.build(root / "tiny", "yolov8", "onnx", licence="AGPL-3.0 (test checkpoint)",
                      description="a tiny test model",
                      source={"registry": "pypi", "package": "tiny-pkg", "version": "9.9.9",
                              "archive_sha256": "ab" * 32},
                      sha256="cd" * 32)
    host = app.extensions["nrsc.plugins"]
    host.refresh_detectors(app.config)
    assert "tiny" in host.detectors

    officer, _ = login_as("duty_officer")
    assert officer.get("/detection/models").status_code == 403
    assert officer.post("/detection/models/tiny/switch", data={"enabled": "0"}).status_code == 403
    lead, _ = login_as("duty_lead")
    assert lead.get("/detection/models").status_code == 403
    admin, _ = login_as("admin")
    page = admin.get("/detection/models").get_data(as_text=True)
    assert "AGPL-3.0 (test checkpoint)" in page and "licence-warning" in page and "传染性" in page
    assert "tiny-pkg" in page and "9.9.9" in page and "cd" * 32 in page and "ab" * 32 in page
    assert "64×64" in page or re.search(r"\d+×\d+", page)
    assert all(c in page for c in tiny_models.CLASSES)

    assert admin.post("/detection/models/tiny/switch", data={"enabled": "0"}).status_code == 302
    assert json.loads((root / "tiny" / "manifest.json").read_text())["enabled"] is False
    assert "tiny" not in [d.name for d in register_detectors(settings=app.config["NRSC_DETECTORS"])]
    assert "tiny" not in host.detectors
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "model_toggled"))
    assert (event.from_state, event.to_state, event.data) == ("on", "off", {"model": "tiny"})
    assert 'id="switch-tiny"' in admin.get("/detection/models").get_data(as_text=True)
    admin.post("/detection/models/tiny/switch", data={"enabled": "1"})
    assert "tiny" in [d.name for d in register_detectors(settings=app.config["NRSC_DETECTORS"])]
    assert "tiny" in host.detectors
    # A switch made by another process (`nrsc models disable`) reaches this one through the sync job.
    from webapp.detection.models import set_enabled
    set_enabled("tiny", False, target_dir=root)
    assert app.extensions["nrsc.tasks"].run(learning.MODEL_SYNC_JOB) is True
    assert "tiny" not in host.detectors
    assert app.extensions["nrsc.tasks"].run(learning.MODEL_SYNC_JOB) is False  # nothing changed since
    assert admin.post("/detection/models/../switch", data={"enabled": "0"}).status_code == 404
    assert admin.post("/detection/models/nope/switch", data={"enabled": "0"}).status_code == 404



def test_mask_refusals_are_clear_and_store_nothing_and_pixel_boxes_are_scaled(cams, login_as):
    from webapp.alerts import evidence
    a, _b = cams
    officer, _ = login_as("duty_officer")
    no_preset = make_alert(a, 7, "fire_colour", "false_alarm", boxes=[[0.1, 0.1, 0.2, 0.2]])
    page = officer.post(f"/detection/alerts/{no_preset.id}/mask", follow_redirects=True).get_data(as_text=True)
    assert "该报警没有对应的摄像机预置位。" in page
    no_box = make_alert(a, 1, "fire_colour", "false_alarm")
    page = officer.post(f"/detection/alerts/{no_box.id}/mask", follow_redirects=True).get_data(as_text=True)
    assert "该报警没有可屏蔽的检测框。" in page
    assert 'id="mask-button"' not in page
    assert preset_of(a, 1).masks == []
    # A box in pixels of a 64×48 frame: scaled by the frame's size, then grown by the margin.
    pixel = make_alert(a, 2, "fire_colour", "false_alarm", boxes=[{"box_px": [16, 12, 32, 36], "label": "fire"}])
    row = evidence.store_image(_jpeg(S.base(5, (64, 48))), "px.jpg")
    row.alert_id = pixel.id
    db.session.commit()
    assert officer.post(f"/detection/alerts/{pixel.id}/mask").status_code == 302
    assert preset_of(a, 2).masks == [[[0.1875, 0.125], [0.5625, 0.125], [0.5625, 0.875], [0.1875, 0.875]]]
