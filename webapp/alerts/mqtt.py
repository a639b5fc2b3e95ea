"""MQTT intake for boxes that publish instead of posting (see docs/intake.md).

Two kinds of topic:

* ``nrsc/alerts/<source>`` — a JSON alert exactly as for ``POST /api/v1/alerts``
  (inline base64 ``images``); the topic's last level is the source name.
* ``frigate/events`` — Frigate's event messages, mapped by :func:`map_frigate`;
  their snapshot comes from Frigate's HTTP API or from
* ``frigate/<camera>/<label>/snapshot`` — Frigate's JPEG snapshots
  (see :mod:`webapp.alerts.frigate`).

Each message goes through :func:`webapp.alerts.intake.ingest`, so idempotency,
dedupe, GIS context and audit are the same as over HTTP. A refused message is
logged and counted; it writes nothing.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

from flask import Flask

from webapp.alerts.frigate import (
    DEFAULT_FETCH_TIMEOUT_S,
    DEFAULT_SNAPSHOT_MAX_AGE_S,
    EVENTS_TOPIC,
    FRIGATE_SOURCE,
    SNAPSHOT_TOPIC,
    FetchError,
    Skip,
    SnapshotBook,
    fetch_snapshot,
    frigate_cameras,
    frigate_labels,
    map_frigate,
    snapshot_topic,
)
from webapp.alerts.intake import IntakeError, ingest
from webapp.api.schema import BodyError, parse_json

log = logging.getLogger(__name__)

DEFAULT_TOPICS = ("nrsc/alerts/+", EVENTS_TOPIC, SNAPSHOT_TOPIC)
__all__ = ["FRIGATE_SOURCE", "MqttIntake", "Outcome", "Skip", "frigate_labels", "map_frigate", "start_mqtt"]


def _config(app: Flask, name: str, default: Any = None) -> Any:
    value = app.config.get(name)
    return value if value is not None else default


@dataclass
class Outcome:
    topic: str
    status: str          # created | existing (replay, joined, snapshot added) | kept (a snapshot) | skipped | rejected
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
    _queue: "queue.Queue[tuple[str, bytes, bool]]" = field(default_factory=queue.Queue)
    _client: Any = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _worker: threading.Thread | None = None
    _subscribed: threading.Event = field(default_factory=threading.Event)
    # Frigate snapshots waiting for their event, events waiting for a snapshot.
    book: SnapshotBook = field(default_factory=SnapshotBook)

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
        client.on_message = lambda _c, _u, msg: self._queue.put((msg.topic, msg.payload, bool(msg.retain)))
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

    def handle(self, topic: str, raw: bytes, retained: bool = False) -> Outcome:
        """Take in one message; never raises. ``retained``: the broker's
        stored copy, sent on subscribing (an old snapshot)."""

        with self.app.app_context():
            try:
                local = topic[len(self.prefix):] if self.prefix and topic.startswith(self.prefix) else topic
                key = snapshot_topic(local)
                if key is not None:
                    return self._snapshot(topic, key, raw, retained)
                payload, source, images, frigate_key = self._payload(local, raw)
                alert, created = ingest(payload, images, source=source, actor=None)
                if frigate_key is not None:
                    self._after_frigate_event(payload, images, frigate_key)
            except Skip as exc:
                return Outcome(topic, "skipped", detail=str(exc))
            except IntakeError as exc:
                log.warning("MQTT message on %s refused: %s %s", topic, exc.code, exc.message)
                return Outcome(topic, "rejected", detail=f"{exc.code}: {exc.message}")
            except Exception as exc:  # noqa: BLE001 - one bad message must not stop the subscriber
                log.exception("MQTT message on %s failed", topic)
                return Outcome(topic, "rejected", detail=f"{type(exc).__name__}: {exc}")
            return Outcome(topic, "created" if created else "existing", alert.id)

    def _payload(self, topic: str, raw: bytes) -> tuple[dict[str, Any], str, list[tuple[str | None, bytes]],
                                                       tuple[str, str] | None]:
        """(payload, source, images, Frigate's (camera, label) for its events)."""

        try:
            # The HTTP API's reader: same depth limit, no NaN/Infinity.
            message = parse_json(raw)
        except BodyError as exc:
            raise IntakeError(exc.status, exc.code, f"message: {exc.message}") from None
        if topic == EVENTS_TOPIC:
            if not isinstance(message, dict):
                raise IntakeError(400, "invalid_body", "Frigate event must be a JSON object")
            payload, images = self._frigate_event(message)
            return payload, FRIGATE_SOURCE, images, _frigate_key(message["after"])
        parts = topic.split("/")
        if len(parts) == 3 and parts[0] == "nrsc" and parts[1] == "alerts" and parts[2]:
            return message, parts[2], [], None
        raise Skip(f"topic {topic} is not an intake topic")

    # -- Frigate's snapshots ---------------------------------------------------------------
    def _book(self) -> SnapshotBook:
        self.book.max_age_s = float(_config(self.app, "NRSC_FRIGATE_SNAPSHOT_MAX_AGE_S", DEFAULT_SNAPSHOT_MAX_AGE_S))
        return self.book

    def _frigate_event(self, message: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str | None, bytes]]]:
        """The event's payload and its snapshot: inline (old Frigate), from
        Frigate's HTTP API, or the camera and label's snapshot just received."""
        payload = map_frigate(message, frigate_labels(self.app), frigate_cameras(self.app))
        event_id = payload["source_event_id"]
        after = message["after"]
        if payload.get("images") or not event_id or self._book().has_snapshot(event_id):
            return payload, []
        name = f"{event_id}.jpg"
        base_url = _config(self.app, "NRSC_FRIGATE_URL")
        if base_url and after.get("has_snapshot", True) is not False:
            try:
                data = fetch_snapshot(base_url, event_id, max_bytes=int(self.app.config["NRSC_MAX_IMAGE_BYTES"]),
                                      timeout=float(_config(self.app, "NRSC_FRIGATE_TIMEOUT_S",
                                                            DEFAULT_FETCH_TIMEOUT_S)))
                return payload, [(name, data)]
            except FetchError as exc:
                # The alert matters more than its picture: taken in without it.
                log.warning("Frigate snapshot of %s not fetched: %s", event_id, exc)
        data = self._book().fresh_snapshot(_frigate_key(after))
        return payload, ([(name, data)] if data is not None else [])

    def _after_frigate_event(self, payload: dict[str, Any], images: list[tuple[str | None, bytes]],
                             key: tuple[str, str]) -> None:
        event_id = payload.get("source_event_id")
        if not event_id:
            return
        if images or payload.get("images"):
            self.book.mark_done(event_id)
        elif not self.book.has_snapshot(event_id):
            # Until the next snapshot of this camera and label.
            self.book.wait_for_snapshot(key, payload)

    def _snapshot(self, topic: str, key: tuple[str, str], raw: bytes, retained: bool) -> Outcome:
        if retained:
            raise Skip("a retained snapshot is an old one")
        if not raw:
            raise Skip("an empty snapshot message")
        if len(raw) > int(self.app.config["NRSC_MAX_IMAGE_BYTES"]):
            raise IntakeError(413, "image_too_large", f"a snapshot of {len(raw)} bytes")
        waiting = self._book().take_waiting(key)
        if waiting is None:
            self.book.keep_snapshot(key, raw)
            return Outcome(topic, "kept", detail=f"snapshot of {key[0]}/{key[1]} kept for its event")
        event_id = waiting["source_event_id"]
        # The event again, with the image: a replay, which adds the image to its alert.
        alert, _created = ingest(waiting, [(f"{event_id}.jpg", raw)], source=FRIGATE_SOURCE, actor=None)
        self.book.mark_done(event_id)
        return Outcome(topic, "existing", alert.id, detail=f"snapshot added to the alert of event {event_id}")


def _frigate_key(after: dict[str, Any]) -> tuple[str, str]:
    return str(after.get("camera")), str(after.get("label"))


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
