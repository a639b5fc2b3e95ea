"""MQTT intake for boxes that publish instead of posting (see docs/intake.md).

Two kinds of topic:

* ``nrsc/alerts/<source>`` — a JSON alert exactly as for ``POST /api/v1/alerts``
  (inline base64 ``images``); the topic's last level is the source name.
* ``frigate/events`` — Frigate's event messages, mapped by :func:`map_frigate`.

Each message goes through :func:`webapp.alerts.intake.ingest`, so idempotency,
dedupe, GIS context and audit are the same as over HTTP. A refused message is
logged and counted; it writes nothing.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote, urlparse

from flask import Flask

from webapp.alerts.intake import IntakeError, ingest
from webapp.api.schema import BodyError, parse_json

log = logging.getLogger(__name__)

DEFAULT_TOPICS = ("nrsc/alerts/+", "frigate/events")
FRIGATE_SOURCE = "frigate"


class Skip(Exception):
    """A message that is not an alert for us (not an error)."""


def _config(app: Flask, name: str, default: Any = None) -> Any:
    value = app.config.get(name)
    return value if value is not None else default


def frigate_labels(app: Flask) -> dict[str, tuple[str, str]]:
    """Frigate label -> (domain, event_type): the ``external_labels`` the domain
    plugins declare on their event types, unless NRSC_FRIGATE_LABELS (JSON)
    replaces them."""
    raw = _config(app, "NRSC_FRIGATE_LABELS")
    if not raw:
        return dict(app.extensions["nrsc.plugins"].external_labels)
    data = json.loads(raw) if isinstance(raw, str) else raw
    return {label: tuple(value.split("/", 1)) if isinstance(value, str) else tuple(value)
            for label, value in data.items()}


def map_frigate(message: dict[str, Any], labels: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """A Frigate ``frigate/events`` message → our alert payload.

    Only ``new`` events (and ``update``s, which replay to the same alert) of a
    mapped label that are not false positives become alerts."""
    kind = message.get("type")
    after = message.get("after")
    if kind not in ("new", "update") or not isinstance(after, dict):
        raise Skip(f"event type {kind!r} is not taken in")
    if after.get("false_positive"):
        raise Skip("Frigate marks it a false positive")
    label = after.get("label")
    if label not in labels:
        raise Skip(f"label {label!r} is not mapped to a domain")
    domain, event_type = labels[label]
    payload: dict[str, Any] = {
        "domain": domain, "event_type": event_type,
        "source_event_id": str(after.get("id") or ""),
        "camera_code": after.get("camera"),
        "label": label if not after.get("sub_label") else f"{label}:{_sub_label(after['sub_label'])}",
    }
    score = after.get("top_score", after.get("score"))
    if isinstance(score, (int, float)):
        payload["score"] = float(score)
    if isinstance(after.get("start_time"), (int, float)):
        payload["occurred_at"] = datetime.fromtimestamp(after["start_time"], timezone.utc).isoformat()
    box = after.get("box")
    if isinstance(box, list) and len(box) == 4:
        payload["boxes"] = [{"box_px": box, "label": label, **({"score": payload["score"]} if "score" in payload else {})}]
    if after.get("current_zones"):
        payload["text"] = "Frigate zones: " + ", ".join(map(str, after["current_zones"]))
    # Older Frigate versions put a base64 JPEG thumbnail in the event.
    if isinstance(after.get("thumbnail"), str) and after["thumbnail"]:
        payload["images"] = [{"filename": f"{after.get('id', 'frigate')}.jpg", "data": after["thumbnail"]}]
    return payload


def _sub_label(value: Any) -> str:
    return str(value[0] if isinstance(value, list) and value else value)[:40]


@dataclass
class Outcome:
    topic: str
    status: str          # created | existing (replay or joined) | skipped | rejected
    alert_id: int | None = None
    detail: str = ""


@dataclass
class MqttIntake:
    """A paho subscriber feeding :func:`ingest`. Messages are queued by paho's
    network thread and handled by :meth:`process_pending` (in a worker thread
    started by :meth:`start`, or called directly)."""

    app: Flask
    url: str
    topics: tuple[str, ...] = DEFAULT_TOPICS
    # Prepended to every topic (NRSC_MQTT_PREFIX, e.g. "hongsipu/"), for shared brokers.
    prefix: str = ""
    outcomes: list[Outcome] = field(default_factory=list)
    _queue: "queue.Queue[tuple[str, bytes]]" = field(default_factory=queue.Queue)
    _client: Any = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _worker: threading.Thread | None = None
    _subscribed: threading.Event = field(default_factory=threading.Event)

    def connect(self, timeout: float = 10.0) -> None:
        import paho.mqtt.client as paho

        parsed = urlparse(self.url)
        if parsed.scheme not in ("mqtt", "tcp", ""):
            raise ValueError(f"NRSC_MQTT_URL must be mqtt://host:port, not {self.url!r}")
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"nrsc-intake-{os.getpid()}-{id(self):x}")
        if parsed.username:
            client.username_pw_set(unquote(parsed.username), unquote(parsed.password or ""))
        client.on_connect = self._on_connect
        client.on_subscribe = lambda *a, **k: self._subscribed.set()
        client.on_message = lambda _c, _u, msg: self._queue.put((msg.topic, msg.payload))
        client.reconnect_delay_set(1, 30)
        client.connect(parsed.hostname or "127.0.0.1", parsed.port or 1883, keepalive=30)
        client.loop_start()
        self._client = client
        if not self._subscribed.wait(timeout):
            raise TimeoutError(f"no subscription acknowledged by {self.url} within {timeout} s")

    def _on_connect(self, client, _userdata, _flags, reason_code, _properties=None) -> None:
        if getattr(reason_code, "is_failure", False):
            log.error("MQTT connection refused: %s", reason_code)
            return
        # (Re)subscribe on every connect: a broker restart forgets subscriptions.
        client.subscribe([(self.prefix + t, 1) for t in self.topics])

    def start(self) -> None:
        """Connect and handle messages in a daemon thread until :meth:`stop`."""
        self.connect()
        self._stop.clear()
        self._worker = threading.Thread(target=self._loop, name="nrsc-mqtt-intake", daemon=True)
        self._worker.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.process_pending(timeout=0.5)

    def stop(self) -> None:
        self._stop.set()
        if self._worker:
            self._worker.join(timeout=5)
            self._worker = None
        if self._client is not None:
            self._client.loop_stop()
            self._client.disconnect()
            self._client = None

    def process_pending(self, timeout: float = 0.0) -> int:
        """Handle queued messages (waiting up to ``timeout`` for the first)."""
        handled = 0
        try:
            item = self._queue.get(timeout=timeout) if timeout else self._queue.get_nowait()
        except queue.Empty:
            return 0
        while True:
            self.outcomes.append(self.handle(*item))
            del self.outcomes[:-1000]
            handled += 1
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return handled

    def handle(self, topic: str, raw: bytes) -> Outcome:
        """Take in one message; never raises."""

        with self.app.app_context():
            try:
                payload, source = self._payload(topic, raw)
                alert, created = ingest(payload, source=source, actor=None)
            except Skip as exc:
                return Outcome(topic, "skipped", detail=str(exc))
            except IntakeError as exc:
                log.warning("MQTT message on %s refused: %s %s", topic, exc.code, exc.message)
                return Outcome(topic, "rejected", detail=f"{exc.code}: {exc.message}")
            except Exception as exc:  # noqa: BLE001 - one bad message must not stop the subscriber
                log.exception("MQTT message on %s failed", topic)
                return Outcome(topic, "rejected", detail=f"{type(exc).__name__}: {exc}")
            return Outcome(topic, "created" if created else "existing", alert.id)

    def _payload(self, topic: str, raw: bytes) -> tuple[dict[str, Any], str]:

        try:
            # The HTTP API's reader: same depth limit, no NaN/Infinity.
            message = parse_json(raw)
        except BodyError as exc:
            raise IntakeError(exc.status, exc.code, f"message: {exc.message}") from None
        if self.prefix and topic.startswith(self.prefix):
            topic = topic[len(self.prefix):]
        if topic == "frigate/events":
            if not isinstance(message, dict):
                raise IntakeError(400, "invalid_body", "Frigate event must be a JSON object")
            return map_frigate(message, frigate_labels(self.app)), FRIGATE_SOURCE
        parts = topic.split("/")
        if len(parts) == 3 and parts[0] == "nrsc" and parts[1] == "alerts" and parts[2]:
            return message, parts[2]
        raise Skip(f"topic {topic} is not an intake topic")


def start_mqtt(app: Flask) -> None:
    """Background starter: subscribe when NRSC_MQTT_URL is set."""
    url = app.config.get("MQTT_URL")
    if not url:
        return
    topics = tuple(t.strip() for t in str(_config(app, "NRSC_MQTT_TOPICS", ",".join(DEFAULT_TOPICS))).split(",")
                   if t.strip())
    subscriber = MqttIntake(app, url, topics, prefix=str(_config(app, "NRSC_MQTT_PREFIX", "")))
    try:
        subscriber.start()
    except Exception as exc:  # noqa: BLE001 - the web app runs on without MQTT
        log.error("MQTT intake not started (%s): %s", url, exc)
        return
    app.extensions["nrsc.mqtt"] = subscriber
    log.info("MQTT intake subscribed to %s on %s", ", ".join(topics), url)
