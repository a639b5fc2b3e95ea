"""Checkpoint passage log (卡口通行记录): motion-triggered snapshots with time
and direction of travel, searchable by time and camera, and shown beside
alerts of the same area and time.

Motion: frames are reduced to small grey images; pixels that changed by more
than a threshold form a mask; while the changed share stays above
``MOTION_SHARE`` a passage is open and its mask centroid is tracked. When the
motion stops, the passage is logged with the sharpest-motion snapshot and the
direction of the centroid's travel: towards the camera's ``in`` side
(``NRSC_CHECKPOINT_IN_SIDE``: right by default) is ``in``. A plate and a
vehicle type are filled once a reader is configured (detection issue).
"""
from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from flask import current_app
from PIL import Image
from sqlalchemy import select

from webapp.alerts import evidence
from webapp.cameras.adapter import CameraError
from webapp.cameras.capture import LINKS, Frame
from webapp.extensions import db
from webapp.geometry import ptz
from webapp.models import Alert, Camera, CheckpointPassage

PASSAGE_JOB = "checkpoint_poll"
MOTION_SHARE = 0.01
PIXEL_DELTA = 25
SIZE = (96, 54)
MIN_TRAVEL = 0.05  # of the image width, to call a direction


def _grey(jpeg: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(jpeg)) as img:
        img.draft("L", (SIZE[0] * 4, SIZE[1] * 4))
        return np.asarray(img.convert("L").resize(SIZE, Image.Resampling.BILINEAR), dtype=np.int16)


@dataclass
class _Open:
    started: datetime
    xs: list[float] = field(default_factory=list)
    best: Frame | None = None
    best_share: float = 0.0


class PassageDetector:
    """Per checkpoint camera; feed it frames in order, it returns finished passages."""

    def __init__(self, in_side: str = "right"):
        self.in_side = in_side
        self.previous: np.ndarray | None = None
        self.open: _Open | None = None

    def feed(self, frame: Frame) -> dict[str, Any] | None:
        grey = _grey(frame.data)
        prev, self.previous = self.previous, grey
        if prev is None:
            return None
        mask = np.abs(grey - prev) > PIXEL_DELTA
        share = float(mask.mean())
        if share >= MOTION_SHARE:
            cols = np.nonzero(mask)[1]
            x = float(cols.mean()) / SIZE[0]
            if self.open is None:
                self.open = _Open(frame.captured_at)
            self.open.xs.append(x)
            if share > self.open.best_share:
                self.open.best, self.open.best_share = frame, share
            return None
        if self.open is None:
            return None
        done, self.open = self.open, None
        travel = done.xs[-1] - done.xs[0] if len(done.xs) > 1 else 0.0
        if abs(travel) < MIN_TRAVEL:
            direction = "unknown"
        else:
            rightwards = travel > 0
            direction = "in" if rightwards == (self.in_side == "right") else "out"
        return {"at": done.started, "direction": direction, "motion": done.best_share, "frame": done.best,
                "travel": travel}


def log_passage(camera: Camera, found: dict[str, Any]) -> CheckpointPassage:
    frame: Frame = found["frame"]
    row = evidence.store_image(frame.data, f"{camera.code}-passage.jpg", kind="passage")
    db.session.flush()
    passage = CheckpointPassage(camera_id=camera.id, at=found["at"], direction=found["direction"],
                                motion=round(found["motion"], 4), evidence_id=row.id,
                                data={"travel": round(found["travel"], 3)})
    db.session.add(passage)
    db.session.commit()
    return passage


_DETECTORS: dict[int, PassageDetector] = {}
_lock = threading.Lock()


def detector_for(camera: Camera) -> PassageDetector:
    with _lock:
        det = _DETECTORS.get(camera.id)
        if det is None:
            det = _DETECTORS[camera.id] = PassageDetector(current_app.config.get("NRSC_CHECKPOINT_IN_SIDE", "right"))
        return det


def process_frame(camera: Camera, frame: Frame) -> CheckpointPassage | None:
    found = detector_for(camera).feed(frame)
    return log_passage(camera, found) if found else None


def poll_checkpoints() -> dict[str, int]:
    """The recurring job: one snapshot per checkpoint camera, fed to its detector."""
    from webapp.cameras import health
    logged = failed = 0
    for camera in db.session.scalars(select(Camera).where(Camera.kind == "checkpoint", Camera.active.is_(True),
                                                          Camera.onvif_host.is_not(None))):
        link = LINKS.get(camera)
        if not link.backoff.ready():
            continue
        try:
            frame = link.snapshot()
        except CameraError as exc:
            health.record_failure(camera, str(exc))
            failed += 1
            continue
        health.record_success(camera, frame.data, frame.sha256)
        if process_frame(camera, frame) is not None:
            logged += 1
    return {"logged": logged, "failed": failed}


def search(camera_ids: list[int] | None = None, start: datetime | None = None, end: datetime | None = None,
           direction: str | None = None, limit: int = 200) -> list[CheckpointPassage]:
    q = select(CheckpointPassage).order_by(CheckpointPassage.at.desc(), CheckpointPassage.id.desc())
    if camera_ids:
        q = q.where(CheckpointPassage.camera_id.in_(camera_ids))
    if start:
        q = q.where(CheckpointPassage.at >= start)
    if end:
        q = q.where(CheckpointPassage.at <= end)
    if direction:
        q = q.where(CheckpointPassage.direction == direction)
    return list(db.session.scalars(q.limit(limit)))


def near_alert(alert: Alert, radius_m: float | None = None, window: timedelta | None = None) -> list[CheckpointPassage]:
    """Passages at checkpoints within ``radius_m`` of the alert, within
    ``window`` of its time (trucks leaving an illegal-mining alert's area)."""
    radius_m = radius_m or float(current_app.config.get("NRSC_PASSAGE_RADIUS_M", 8000))
    window = window or timedelta(minutes=float(current_app.config.get("NRSC_PASSAGE_WINDOW_MIN", 60)))
    cams = [c.id for c in db.session.scalars(select(Camera).where(Camera.kind == "checkpoint"))
            if ptz.haversine_m(c.lat, c.lon, alert.lat, alert.lon) <= radius_m]
    if not cams:
        return []
    return search(cams, alert.occurred_at - window, alert.occurred_at + window, limit=50)
