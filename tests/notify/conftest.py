"""A real webhook receiver on 127.0.0.1 standing in for the WeCom and DingTalk
robot endpoints: it answers from a script (HTTP 500, errcode != 0, success),
verifies DingTalk signatures and records what it accepted."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Receiver:
    def __init__(self) -> None:
        self.script: list[tuple[int, dict]] = []
        self.requests: list[dict] = []
        self.accepted: Counter[str] = Counter()
        self.dingtalk_secret: str | None = None
        self.lock = threading.Lock()
        self.url = ""

    def fail_then_recover(self, *answers: tuple[int, dict]) -> None:
        """Answer the next requests with ``answers``, then succeed."""
        self.script = list(answers)

    def content(self, payload: dict) -> str:
        md = payload.get("markdown", {})
        return md.get("content") or md.get("text") or ""

    def handle(self, path: str, query: dict[str, str], payload: dict) -> tuple[int, dict]:
        with self.lock:
            self.requests.append({"path": path, "query": query, "payload": payload})
            if path.startswith("/dingtalk") and self.dingtalk_secret:
                expected = base64.b64encode(hmac.new(
                    self.dingtalk_secret.encode(),
                    f"{query.get('timestamp')}\n{self.dingtalk_secret}".encode(),
                    hashlib.sha256).digest()).decode()
                if query.get("sign") != expected:
                    return 200, {"errcode": 310000, "errmsg": "sign not match"}
            if self.script:
                return self.script.pop(0)
            self.accepted[self.content(payload)] += 1
            return 200, {"errcode": 0, "errmsg": "ok"}


@pytest.fixture
def receiver():
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            parts = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(parts.query))
            length = int(self.headers.get("Content-Length") or 0)
            payload = json.loads(self.rfile.read(length) or b"{}")
            status, answer = rec.handle(parts.path, query, payload)
            body = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield rec
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


# -- a complete work order, built through the ORM -------------------------------
def _jpeg(colour: tuple[int, int, int], label: str, size=(640, 360)) -> bytes:
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(img)
    draw.rectangle((size[0] // 3, size[1] // 3, size[0] // 2, size[1] // 2), outline=(255, 255, 255), width=4)
    draw.text((12, 12), label, fill=(255, 255, 255))
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


@pytest.fixture
def make_order(org, clock):
    """make_order(number, lead=..., cooperating=..., township=...) -> WorkOrder
    with an alert, a camera, snapshots, participants with deadlines, a
    check-in, a feedback with a photo and audit events."""
    from datetime import timedelta

    from sqlalchemy import select

    from webapp.alerts import evidence
    from webapp.extensions import db
    from webapp.models import (
        Alert,
        Camera,
        Feedback,
        OrderParticipant,
        Preset,
        Township,
        Unit,
        WorkOrder,
    )
    from webapp.platform import audit

    def unit(code):
        return db.session.scalar(select(Unit).where(Unit.code == code))

    def factory(number="HSB-2026-000731", *, lead="forestry_grassland",
                offices=("forestry_grassland.resources_office",), cooperating=("town.dahe",),
                township="dahe", lat=37.49, lon=106.23, domain="fire", event_type="fire",
                with_feedback=True):
        now = clock()
        town = db.session.scalar(select(Township).where(Township.code == township))
        camera = db.session.scalar(select(Camera).where(Camera.code == "T-17"))
        if camera is None:
            camera = Camera(code="T-17", name="大河乡北山塔", kind="tower", lat=37.46, lon=106.19,
                            mount_height_m=40, pan_zero_azimuth_deg=10.0,
                            fov_table=[{"zoom": 1, "hfov_deg": 60, "vfov_deg": 34},
                                       {"zoom": 30, "hfov_deg": 2.2, "vfov_deg": 1.24}])
            camera.presets.append(Preset(number=4, name="北坡", pan_deg=30.0, tilt_deg=-3, zoom=4))
            db.session.add(camera)
            db.session.flush()
        alert = Alert(domain=domain, event_type=event_type, status="confirmed", source="patrol",
                      source_event_id=f"ev-{number}", occurred_at=now - timedelta(minutes=6),
                      lat=lat, lon=lon, camera_id=camera.id, preset_number=4, pan_deg=30.0, zoom=4,
                      label="smoke", score=0.91, township_id=town.id,
                      gis_context={"township_code": township, "township_name": town.name, "features": [
                          {"layer": "forest_grassland", "code": "LC-0042", "name": "北山天然草地",
                           "inside": True, "distance_m": 0},
                          {"layer": "key_enterprise", "code": "KE-7", "name": "某砖厂",
                           "inside": False, "distance_m": 820.4}]},
                      prejudgement_level="high", prejudgement_reasons=["位于林地草地内"],
                      verdict_note="烟雾自固定点升起，非已知窑口")
        db.session.add(alert)
        db.session.flush()
        order = WorkOrder(number=number, alert_id=alert.id, camera_id=camera.id, domain=domain,
                          event_type=event_type, title=f"{town.name} 草原火情", description="北山坡见烟雾及明火",
                          state="to_review", working_group=3, township_id=town.id, lat=lat, lon=lon,
                          dispatched_at=now - timedelta(minutes=2), emergency=True,
                          emergency_at=now - timedelta(minutes=1))
        db.session.add(order)
        db.session.flush()
        participants = [OrderParticipant(order_id=order.id, unit_id=unit(lead).id, role="lead",
                                         office_ids=[unit(o).id for o in offices], state="in_progress",
                                         accept_due_at=now + timedelta(minutes=8),
                                         arrive_due_at=now + timedelta(minutes=58),
                                         feedback_due_at=now + timedelta(hours=24),
                                         accepted_at=now, accept_on_time=True,
                                         arrived_at=now + timedelta(minutes=40), arrive_on_time=True,
                                         arrive_lat=lat + 0.001, arrive_lon=lon + 0.001, arrive_distance_m=180)]
        participants += [OrderParticipant(order_id=order.id, unit_id=unit(c).id, role="cooperating",
                                          state="to_accept", accept_due_at=now + timedelta(minutes=8),
                                          arrive_due_at=now + timedelta(minutes=58),
                                          feedback_due_at=now + timedelta(hours=24)) for c in cooperating]
        db.session.add_all(participants)
        db.session.flush()
        evidence.store_image(_jpeg((150, 90, 40), f"{number} snapshot"), "snapshot-1.jpg",
                             alert_id=alert.id)
        evidence.store_image(_jpeg((60, 100, 60), f"{number} check-in"), "checkin.jpg", kind="checkin",
                             order_id=order.id, participant_id=participants[0].id)
        if with_feedback:
            fb = Feedback(order_id=order.id, participant_id=participants[0].id, result="resolved",
                          text="已扑灭，过火面积约2亩，原因：烧荒", submitted_at=now + timedelta(hours=2))
            db.session.add(fb)
            db.session.flush()
            evidence.store_image(_jpeg((40, 40, 40), f"{number} feedback"), "feedback-1.jpg", kind="feedback",
                                 order_id=order.id, participant_id=participants[0].id, feedback_id=fb.id)
        audit.record("created", "alert", alert.id, actor_label="patrol", to_state="new")
        audit.record("review", "alert", alert.id, actor_label="值守员03", from_state="under_review",
                     to_state="confirmed")
        audit.record("dispatch", "work_order", order.id, actor_label="值守员03", to_state="to_accept",
                     note="请尽快核实")
        audit.record("accept", "work_order", order.id, actor_label="林草局值班", from_state="to_accept",
                     to_state="in_progress")
        db.session.commit()
        return order

    return factory
