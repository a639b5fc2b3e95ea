"""MQTT intake against the real Mosquitto broker on 127.0.0.1:1883."""
from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Alert, Camera, EvidenceFile, Preset

pytestmark = pytest.mark.broker
BROKER = "mqtt://127.0.0.1:1883"


@pytest.fixture
def subscriber(org):
    from webapp.alerts.mqtt import MqttIntake
    prefix = uuid.uuid4().hex[:8] + "/"   # topics of our own, so parallel runs never cross
    sub = MqttIntake(org, BROKER, prefix=prefix)
    try:
        sub.start()
    except OSError as exc:
        pytest.fail(f"Mosquitto is not reachable on 127.0.0.1:1883 ({exc}): run scripts/setup")
    yield sub
    sub.stop()


def publish(topic: str, payload) -> None:
    import paho.mqtt.client as paho
    client = paho.Client(paho.CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    info = client.publish(topic, payload if isinstance(payload, bytes) else json.dumps(payload), qos=1)
    info.wait_for_publish(timeout=10)
    client.loop_stop()
    client.disconnect()


def wait_for(predicate, timeout: float = 10.0):
    """Poll the database (fresh transaction each time) until predicate() is truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.rollback()
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("not seen within %.0f s" % timeout)


def wait_outcomes(sub, n: int, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while len(sub.outcomes) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return sub.outcomes


def test_json_alert_over_mqtt(subscriber, kit):
    lat, lon = kit.INSIDE
    image = kit.jpeg(colour=(3, 4, 5))
    message = {"domain": "fire", "event_type": "smoke", "lat": lat, "lon": lon, "source_event_id": "mq-1",
               "images": [{"filename": "s.jpg", "data": base64.b64encode(image).decode()}]}
    publish(f"{subscriber.prefix}nrsc/alerts/box7", message)
    alert = wait_for(lambda: db.session.scalar(select(Alert).where(Alert.source == "box7")))
    assert alert.source_event_id == "mq-1" and alert.township.code == "hongsipu"
    assert db.session.scalar(select(EvidenceFile.size).where(EvidenceFile.alert_id == alert.id)) == len(image)
    # The same message again (QoS 1 redelivery) is a replay, not a second alert.
    publish(f"{subscriber.prefix}nrsc/alerts/box7", message)
    outcomes = wait_outcomes(subscriber, 2)
    assert [o.status for o in outcomes] == ["created", "existing"] and outcomes[1].alert_id == alert.id
    assert db.session.scalar(select(db.func.count()).select_from(Alert)) == 1


def test_frigate_event_is_mapped(subscriber, kit):
    lat, lon = kit.INSIDE
    cam = Camera(code="front_tower", name="塔1", kind="tower", lat=lat, lon=lon)
    cam.presets = [Preset(number=1, aim_lat=lat + 0.005, aim_lon=lon)]
    db.session.add(cam)
    db.session.commit()
    thumb = base64.b64encode(kit.jpeg(colour=(90, 90, 90))).decode()
    after = {"id": "1732040000.5-abc123", "camera": "front_tower", "label": "smoke", "sub_label": None,
             "top_score": 0.87, "score": 0.8, "false_positive": False, "start_time": 1732040000.5,
             "end_time": None, "box": [424, 500, 536, 712], "current_zones": ["ridge"], "thumbnail": thumb,
             "has_snapshot": True}
    topic = f"{subscriber.prefix}frigate/events"
    publish(topic, {"type": "new", "before": after, "after": after})
    publish(topic, {"type": "new", "before": after, "after": {**after, "id": "x2", "label": "person"}})
    publish(topic, {"type": "end", "before": after, "after": after})
    publish(topic, b"{not json")
    alert = wait_for(lambda: db.session.scalar(select(Alert).where(Alert.source == "frigate")))
    assert (alert.domain, alert.event_type, alert.label, alert.score) == ("fire", "smoke", "smoke", 0.87)
    assert alert.source_event_id == "1732040000.5-abc123" and alert.camera.code == "front_tower"
    assert alert.location_estimated and (alert.lat, alert.lon) == (lat, lon)  # no preset in Frigate: the camera
    assert alert.boxes == [{"box_px": [424, 500, 536, 712], "label": "smoke", "score": 0.87}]
    assert alert.occurred_at.timestamp() == 1732040000.5 and alert.text == "Frigate zones: ridge"
    assert len(alert.evidence) == 1
    statuses = sorted(o.status for o in wait_outcomes(subscriber, 4))
    assert statuses == ["created", "rejected", "skipped", "skipped"]
    assert db.session.scalar(select(db.func.count()).select_from(Alert)) == 1


def test_refused_message_writes_nothing(subscriber, kit):
    publish(f"{subscriber.prefix}nrsc/alerts/box8",
            {"domain": "fire", "event_type": "smoke", "lat": 38.6, "lon": 106.0, "source_event_id": "out"})
    outcomes = wait_outcomes(subscriber, 1)
    assert [(o.status, o.detail.split(":")[0]) for o in outcomes] == [("rejected", "outside_district")]
    assert db.session.scalar(select(db.func.count()).select_from(Alert)) == 0
