"""Frigate events without a thumbnail (current releases) get their snapshot
(issue 9, item 12): from the ``frigate/<camera>/<label>/snapshot`` topic of
the real Mosquitto on 127.0.0.1:1883, or from Frigate's HTTP API served by a
small real HTTP server on loopback; Frigate camera names map to ours."""
from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from tests.intake.test_mqtt import BROKER, wait_for, wait_outcomes
from webapp.alerts.frigate import FetchError, snapshot_url
from webapp.extensions import db
from webapp.models import Alert, AuditEvent, Camera, EvidenceFile

pytestmark = pytest.mark.broker


def publish(topic: str, payload: bytes | dict, *, retain: bool = False) -> None:
    import paho.mqtt.client as paho
    client = paho.Client(paho.CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    client.publish(topic, raw, qos=1, retain=retain).wait_for_publish(timeout=10)
    client.loop_stop()
    client.disconnect()


@pytest.fixture
def tower(org, kit):
    lat, lon = kit.INSIDE
    cam = Camera(code="T-01", name="塔1", kind="tower", lat=lat, lon=lon)
    db.session.add(cam)
    db.session.commit()
    # Frigate knows the tower as "ridge_cam".
    org.config["NRSC_FRIGATE_CAMERAS"] = json.dumps({"ridge_cam": "T-01"})
    return cam


@pytest.fixture
def start_subscriber(org):
    from webapp.alerts.mqtt import MqttIntake
    started = []

    def start(prefix: str | None = None):
        sub = MqttIntake(org, BROKER, prefix=prefix or uuid.uuid4().hex[:8] + "/")
        try:
            sub.start()
        except OSError as exc:
            pytest.fail(f"Mosquitto is not reachable on 127.0.0.1:1883 ({exc}): run scripts/setup")
        started.append(sub)
        return sub
    yield start
    for sub in started:
        sub.stop()


def event(event_id: str, *, kind: str = "new", camera: str = "ridge_cam", label: str = "smoke",
          has_snapshot: bool = True) -> dict:
    after = {"id": event_id, "camera": camera, "label": label, "sub_label": None, "top_score": 0.9,
             "score": 0.85, "false_positive": False, "start_time": 1795111900.5, "end_time": None,
             "box": [10, 20, 110, 220], "current_zones": [], "has_snapshot": has_snapshot}
    return {"type": kind, "before": after, "after": after}


def _evidence(alert_id: int) -> list[bytes]:
    from webapp.alerts import evidence
    rows = db.session.scalars(select(EvidenceFile).where(EvidenceFile.alert_id == alert_id)
                              .order_by(EvidenceFile.id)).all()
    return [evidence.absolute_path(r).read_bytes() for r in rows]


# -- the MQTT snapshot topic -------------------------------------------------------------------
def test_a_snapshot_just_before_the_event_is_its_image(start_subscriber, tower, kit):
    sub = start_subscriber()
    snap = kit.jpeg(colour=(120, 10, 10))
    publish(f"{sub.prefix}frigate/ridge_cam/smoke/snapshot", snap)
    publish(f"{sub.prefix}frigate/events", event("1795111900.5-aaa"))
    alert = wait_for(lambda: db.session.scalar(select(Alert).where(Alert.source == "frigate")))
    assert alert.camera.code == "T-01" and alert.location_estimated
    assert wait_for(lambda: _evidence(alert.id)) == [snap]
    assert [o.status for o in wait_outcomes(sub, 2)] == ["kept", "created"]


def test_a_snapshot_after_the_event_is_added_to_its_alert(start_subscriber, tower, kit):
    sub = start_subscriber()
    publish(f"{sub.prefix}frigate/events", event("1795111900.5-bbb", has_snapshot=False))
    alert = wait_for(lambda: db.session.scalar(select(Alert).where(Alert.source == "frigate")))
    assert _evidence(alert.id) == []
    snap = kit.jpeg(colour=(10, 120, 10))
    publish(f"{sub.prefix}frigate/ridge_cam/smoke/snapshot", snap)
    assert wait_for(lambda: _evidence(alert.id)) == [snap]
    # Later snapshots and updates of the event add nothing more; still one alert.
    publish(f"{sub.prefix}frigate/ridge_cam/smoke/snapshot", kit.jpeg(colour=(10, 121, 10)))
    publish(f"{sub.prefix}frigate/events", event("1795111900.5-bbb", kind="update"))
    outcomes = wait_outcomes(sub, 4)
    assert [o.status for o in outcomes] == ["created", "existing", "kept", "existing"], outcomes
    assert outcomes[1].alert_id == alert.id
    db.session.rollback()
    assert _evidence(alert.id) == [snap]
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 1
    added = db.session.scalars(select(AuditEvent).where(
        AuditEvent.entity_id == alert.id, AuditEvent.action == "alert_intake_replayed")).all()
    assert added[0].data.get("images_added") == 1


def test_snapshots_pair_by_camera_and_label_only(start_subscriber, tower, kit):
    sub = start_subscriber()
    # Another camera's and another label's snapshots are not this event's.
    publish(f"{sub.prefix}frigate/other_cam/smoke/snapshot", kit.jpeg(colour=(1, 2, 3)))
    publish(f"{sub.prefix}frigate/ridge_cam/person/snapshot", kit.jpeg(colour=(4, 5, 6)))
    publish(f"{sub.prefix}frigate/events", event("1795111900.5-ccc"))
    alert = wait_for(lambda: db.session.scalar(select(Alert).where(Alert.source == "frigate")))
    wait_outcomes(sub, 3)
    assert _evidence(alert.id) == []


def test_a_retained_old_snapshot_is_not_taken(start_subscriber, tower, kit):
    prefix = uuid.uuid4().hex[:8] + "/"
    topic = f"{prefix}frigate/ridge_cam/smoke/snapshot"
    publish(topic, kit.jpeg(colour=(9, 9, 9)), retain=True)
    try:
        sub = start_subscriber(prefix)
        publish(f"{prefix}frigate/events", event("1795111900.5-ddd"))
        alert = wait_for(lambda: db.session.scalar(select(Alert).where(Alert.source == "frigate")))
        outcomes = wait_outcomes(sub, 2)
        assert sorted(o.status for o in outcomes) == ["created", "skipped"], outcomes
        assert _evidence(alert.id) == []
    finally:
        publish(topic, b"", retain=True)   # clears the broker's copy


def test_a_bad_snapshot_writes_nothing(start_subscriber, tower, kit):
    sub = start_subscriber()
    publish(f"{sub.prefix}frigate/events", event("1795111900.5-eee", has_snapshot=False))
    alert = wait_for(lambda: db.session.scalar(select(Alert).where(Alert.source == "frigate")))
    files_before = db.session.scalar(select(func.count()).select_from(EvidenceFile))
    publish(f"{sub.prefix}frigate/ridge_cam/smoke/snapshot", b"not a jpeg at all")
    outcomes = wait_outcomes(sub, 2)
    assert outcomes[1].status == "rejected" and outcomes[1].detail.startswith("not_an_image"), outcomes
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(EvidenceFile)) == files_before
    assert _evidence(alert.id) == []


def test_an_unmapped_frigate_camera_name_is_refused(start_subscriber, tower, kit):
    sub = start_subscriber()
    publish(f"{sub.prefix}frigate/events", event("1795111900.5-fff", camera="garage"))
    outcomes = wait_outcomes(sub, 1)
    assert outcomes[0].status == "rejected" and outcomes[0].detail.startswith("unknown_camera"), outcomes
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 0


# -- Frigate's HTTP API --------------------------------------------------------------------------
class FakeFrigate:
    """A real HTTP server on 127.0.0.1 answering /api/events/<id>/snapshot.jpg."""

    def __init__(self, snapshots: dict[str, bytes]):
        self.snapshots, self.requests = snapshots, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                outer.requests.append(self.path)
                parts = self.path.split("/")
                data = None
                if len(parts) == 5 and parts[1:3] == ["api", "events"] and parts[4] == "snapshot.jpg":
                    data = outer.snapshots.get(parts[3])
                if data is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def frigate_http(org, kit):
    server = FakeFrigate({"1795111900.5-http": kit.jpeg(colour=(30, 60, 90))})
    org.config["NRSC_FRIGATE_URL"] = server.url + "/"
    yield server
    server.close()


def test_the_http_api_snapshot_is_fetched_once_per_event(start_subscriber, tower, frigate_http, kit):
    sub = start_subscriber()
    publish(f"{sub.prefix}frigate/events", event("1795111900.5-http"))
    alert = wait_for(lambda: db.session.scalar(select(Alert).where(Alert.source == "frigate")))
    assert wait_for(lambda: _evidence(alert.id)) == [frigate_http.snapshots["1795111900.5-http"]]
    assert frigate_http.requests == ["/api/events/1795111900.5-http/snapshot.jpg"]
    # Updates of the event replay to the alert without fetching again.
    publish(f"{sub.prefix}frigate/events", event("1795111900.5-http", kind="update"))
    publish(f"{sub.prefix}frigate/events", event("1795111900.5-http", kind="update"))
    assert [o.status for o in wait_outcomes(sub, 3)] == ["created", "existing", "existing"]
    assert len(frigate_http.requests) == 1
    assert len(_evidence(alert.id)) == 1


def test_no_snapshot_yet_then_fetched_on_the_update_that_has_one(start_subscriber, tower, frigate_http, kit):
    sub = start_subscriber()
    frigate_http.snapshots["1795111900.5-late"] = kit.jpeg(colour=(200, 100, 0))
    publish(f"{sub.prefix}frigate/events", event("1795111900.5-late", has_snapshot=False))
    alert = wait_for(lambda: db.session.scalar(select(Alert).where(Alert.source == "frigate")))
    wait_outcomes(sub, 1)
    assert frigate_http.requests == [] and _evidence(alert.id) == []
    publish(f"{sub.prefix}frigate/events", event("1795111900.5-late", kind="update"))
    assert wait_for(lambda: _evidence(alert.id)) == [frigate_http.snapshots["1795111900.5-late"]]
    assert frigate_http.requests == ["/api/events/1795111900.5-late/snapshot.jpg"]


def test_an_unreachable_or_missing_snapshot_still_raises_the_alert(start_subscriber, tower, frigate_http, kit):
    sub = start_subscriber()
    publish(f"{sub.prefix}frigate/events", event("1795111900.5-gone"))   # the server answers 404
    alert = wait_for(lambda: db.session.scalar(select(Alert).where(Alert.source == "frigate")))
    assert wait_outcomes(sub, 1)[0].status == "created"
    assert frigate_http.requests == ["/api/events/1795111900.5-gone/snapshot.jpg"] and _evidence(alert.id) == []
    # Nothing listening: the report is still taken in (here it joins the alert nearby).
    sub.app.config["NRSC_FRIGATE_URL"] = "http://127.0.0.1:9"
    publish(f"{sub.prefix}frigate/events", event("1795111900.5-nobody", label="fire"))
    outcomes = wait_outcomes(sub, 2)
    assert (outcomes[1].status, outcomes[1].alert_id) == ("existing", alert.id), outcomes


def test_event_ids_never_reach_the_url_unchecked():
    assert snapshot_url("http://f:5000/", "1795111900.5-abc") == "http://f:5000/api/events/1795111900.5-abc/snapshot.jpg"
    for bad in ("../../config", "a/b", "x?y=1", "", "a b", "%2e%2e"):
        with pytest.raises(FetchError):
            snapshot_url("http://f:5000", bad)
