"""Frigate NVR events as alerts: the label and camera maps, the event → alert
payload, and the event's snapshot.

Current Frigate releases put no ``thumbnail`` in their ``frigate/events``
messages, so the snapshot comes from one of two places:

* Frigate's HTTP API, ``GET <NRSC_FRIGATE_URL>/api/events/<id>/snapshot.jpg``,
  fetched when an event arrives (once per event) — when the base URL is set;
* the MQTT topic ``frigate/<camera>/<label>/snapshot`` (JPEG bytes, published
  when Frigate picks a better frame of the object): a snapshot that came
  just before the event is attached to it; one that comes after an event
  that had none is attached to that event's alert (an idempotent replay of
  the event with the image, so the alert gets it once).

Frigate camera names map to our camera codes through ``NRSC_FRIGATE_CAMERAS``
(JSON ``{"frigate_name": "T-01"}``); a name not in the map is taken as a code.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from flask import Flask

log = logging.getLogger(__name__)

FRIGATE_SOURCE = "frigate"
EVENTS_TOPIC = "frigate/events"
SNAPSHOT_TOPIC = "frigate/+/+/snapshot"
DEFAULT_SNAPSHOT_MAX_AGE_S = 60.0
DEFAULT_FETCH_TIMEOUT_S = 5.0
# Frigate event ids look like "1795111900.5-abc123": nothing else goes into the URL.
EVENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")
# The last events whose snapshot was taken (an event sends many updates).
REMEMBERED_EVENTS = 2000


class Skip(Exception):
    """A message that is not an alert for us (not an error)."""


def _config(app: Flask, name: str, default: Any = None) -> Any:
    value = app.config.get(name)
    return value if value not in (None, "") else default


def _json_setting(app: Flask, name: str) -> dict[str, Any] | None:
    raw = _config(app, name)
    if not raw:
        return None
    data = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(data, dict):
        raise TypeError(f"{name} must be a JSON object")
    return data


def frigate_labels(app: Flask) -> dict[str, tuple[str, str]]:
    """Frigate label -> (domain, event_type): the ``external_labels`` the domain
    plugins declare on their event types, unless NRSC_FRIGATE_LABELS (JSON)
    replaces them."""
    data = _json_setting(app, "NRSC_FRIGATE_LABELS")
    if data is None:
        return dict(app.extensions["nrsc.plugins"].external_labels)
    return {label: tuple(value.split("/", 1)) if isinstance(value, str) else tuple(value)
            for label, value in data.items()}


def frigate_cameras(app: Flask) -> dict[str, str]:
    """Frigate camera name -> our camera code (NRSC_FRIGATE_CAMERAS)."""
    data = _json_setting(app, "NRSC_FRIGATE_CAMERAS") or {}
    return {str(name): str(code) for name, code in data.items()}


def map_frigate(message: dict[str, Any], labels: dict[str, tuple[str, str]],
                cameras: dict[str, str] | None = None) -> dict[str, Any]:
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
    camera = after.get("camera")
    if isinstance(camera, str):
        camera = (cameras or {}).get(camera, camera)
    payload: dict[str, Any] = {
        "domain": domain, "event_type": event_type,
        "source_event_id": str(after.get("id") or ""),
        "camera_code": camera,
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


def snapshot_topic(topic: str) -> tuple[str, str] | None:
    """``(camera, label)`` of a ``frigate/<camera>/<label>/snapshot`` topic."""
    parts = topic.split("/")
    if len(parts) == 4 and parts[0] == "frigate" and parts[3] == "snapshot" and parts[1] and parts[2]:
        return parts[1], parts[2]
    return None


# -- the HTTP API --------------------------------------------------------------------
class FetchError(Exception):
    pass


def snapshot_url(base_url: str, event_id: str) -> str:
    if not EVENT_ID.match(event_id):
        raise FetchError(f"event id {event_id[:40]!r} is not a Frigate event id")
    return f"{base_url.rstrip('/')}/api/events/{quote(event_id, safe='')}/snapshot.jpg"


def fetch_snapshot(base_url: str, event_id: str, *, max_bytes: int,
                   timeout: float = DEFAULT_FETCH_TIMEOUT_S) -> bytes:
    """The event's snapshot from Frigate's HTTP API; at most ``max_bytes``
    (a larger answer is refused, not truncated)."""
    import requests

    url = snapshot_url(base_url, event_id)
    try:
        with requests.get(url, timeout=timeout, stream=True, allow_redirects=False) as resp:
            if resp.status_code != 200:
                raise FetchError(f"{url} answered {resp.status_code}")
            data = bytearray()
            for chunk in resp.iter_content(64 * 1024):
                data += chunk
                if len(data) > max_bytes:
                    raise FetchError(f"{url} sent more than {max_bytes} bytes")
            return bytes(data)
    except requests.RequestException as exc:
        raise FetchError(f"{url}: {type(exc).__name__}") from None


# -- pairing snapshots with events ---------------------------------------------------------
@dataclass
class SnapshotBook:
    """What the subscriber remembers between messages: the last snapshot per
    Frigate camera and label, the last event per camera and label that still
    waits for one, and the events that have theirs."""

    max_age_s: float = DEFAULT_SNAPSHOT_MAX_AGE_S
    _snapshots: dict[tuple[str, str], tuple[float, bytes]] = field(default_factory=dict)
    _waiting: dict[tuple[str, str], tuple[float, dict[str, Any]]] = field(default_factory=dict)
    _done: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def keep_snapshot(self, key: tuple[str, str], data: bytes) -> None:
        with self._lock:
            self._snapshots[key] = (time.monotonic(), data)

    def fresh_snapshot(self, key: tuple[str, str]) -> bytes | None:
        with self._lock:
            item = self._snapshots.get(key)
        if item is None or time.monotonic() - item[0] > self.max_age_s:
            return None
        return item[1]

    def wait_for_snapshot(self, key: tuple[str, str], payload: dict[str, Any]) -> None:
        with self._lock:
            self._waiting[key] = (time.monotonic(), payload)

    def take_waiting(self, key: tuple[str, str]) -> dict[str, Any] | None:
        with self._lock:
            item = self._waiting.pop(key, None)
        if item is None or time.monotonic() - item[0] > self.max_age_s:
            return None
        return item[1]

    def has_snapshot(self, event_id: str) -> bool:
        with self._lock:
            return event_id in self._done

    def mark_done(self, event_id: str) -> None:
        with self._lock:
            self._done[event_id] = None
            self._done.move_to_end(event_id)
            while len(self._done) > REMEMBERED_EVENTS:
                self._done.popitem(last=False)
