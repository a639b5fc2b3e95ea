"""Evidence clips (留足视频证据): a few seconds of a camera's stream encoded as
VP8 WebM (plays in every browser; OpenCV's bundled FFmpeg writes it, so no
extra dependency), stored content-addressed as an EvidenceFile of kind
``clip`` and linked to its alert.

* an alert raised from a patrol stop: :func:`attach_stop_evidence` copies the
  stop's frames onto the alert and queues a clip recorded right after;
* a pushed alert from one of our cameras: :func:`queue_clip_for_alert`;
* a duty officer's recording from the live view: :func:`record_clip` with
  ``reason="live"``.
"""
from __future__ import annotations

import logging
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select

from webapp.alerts import evidence
from webapp.cameras.adapter import CameraError
from webapp.cameras.capture import LINKS
from webapp.extensions import db
from webapp.models import Alert, Camera, CameraClipNote, EvidenceFile, PatrolFrame, User
from webapp.platform import audit, clock

log = logging.getLogger(__name__)
CLIP_JOB = "camera_clip"
MAX_CLIP_SECONDS = 120


def encode_webm(frames: list[Any], fps: float) -> bytes:
    """BGR arrays → VP8 WebM bytes."""
    import cv2
    if not frames:
        raise CameraError("no_stream", "no frames to encode")
    h, w = frames[0].shape[:2]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.webm"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"VP80"), fps, (w, h))
        if not writer.isOpened():
            raise CameraError("protocol", "the WebM encoder is not available")
        for f in frames:
            writer.write(f if f.shape[:2] == (h, w) else cv2.resize(f, (w, h)))
        writer.release()
        return path.read_bytes()


def grab(camera: Camera, seconds: float, fps: float = 5.0) -> tuple[list[Any], Any]:
    """Read ``seconds`` of the stream at about ``fps`` (real time)."""
    link = LINKS.get(camera)
    frames, started = [], None
    # Our own subscription: a live viewer of the same camera keeps watching, and
    # the shared capture closes once neither needs it.
    with link.stream() as stream:
        deadline = time.monotonic() + seconds
        next_at = time.monotonic()
        while time.monotonic() < deadline:
            img, at = stream.read_array()
            started = started or at
            if time.monotonic() >= next_at:
                frames.append(img)
                next_at += 1.0 / fps
    return frames, started


def record_clip(camera: Camera, seconds: float, *, reason: str, alert_id: int | None = None,
                user: User | None = None, fps: float = 5.0, note: str | None = None) -> EvidenceFile:
    seconds = max(1.0, min(float(seconds), MAX_CLIP_SECONDS))
    frames, started = grab(camera, seconds, fps)
    data = encode_webm(frames, fps)
    h, w = frames[0].shape[:2]
    row = evidence.store_file(data, "video/webm", "clip", f"{camera.code}.webm", uploaded_by=user,
                              width=w, height=h, alert_id=alert_id)
    db.session.flush()
    db.session.add(CameraClipNote(evidence_id=row.id, camera_id=camera.id, started_at=started or clock.now(),
                                  seconds=seconds, reason=reason, recorded_by_id=user.id if user else None,
                                  note=note))
    audit.record("camera_clip_recorded", "camera", camera.id, actor=user, actor_label=None if user else "system",
                 data={"evidence_id": row.id, "alert_id": alert_id, "seconds": seconds, "reason": reason})
    db.session.commit()
    return row


def clip_job(camera_id: int, seconds: float, reason: str, alert_id: int | None = None,
             user_id: int | None = None) -> int | None:
    camera = db.session.get(Camera, camera_id)
    if camera is None:
        return None
    user = db.session.get(User, user_id) if user_id else None
    try:
        return record_clip(camera, seconds, reason=reason, alert_id=alert_id, user=user).id
    except CameraError as exc:
        # No clip is no reason to fail the alert or the worker; the camera's
        # health is judged by patrol captures.
        db.session.rollback()
        log.warning("no clip from %s for alert %s: %s", camera.code, alert_id, exc)
        return None


def _clip_seconds() -> float:
    return float(current_app.config.get("NRSC_ALERT_CLIP_SECONDS", 10))


def attach_stop_evidence(alert: Alert, visit_id: int, *, clip: bool = True) -> list[EvidenceFile]:
    """Keep a patrol stop's frames as the alert's snapshots and queue a clip."""
    rows = []
    for pf in db.session.scalars(select(PatrolFrame).where(PatrolFrame.visit_id == visit_id).order_by(PatrolFrame.id)):
        src = pf.evidence
        row = EvidenceFile(sha256=src.sha256, path=src.path, content_type=src.content_type, size=src.size,
                           width=src.width, height=src.height, original_name=src.original_name,
                           kind="snapshot", alert_id=alert.id)
        db.session.add(row)
        rows.append(row)
    db.session.commit()
    if clip and alert.camera_id:
        queue_clip_for_alert(alert, reason="patrol")
    return rows


# How old an event may be for a clip recorded now to still show it.
CLIP_FRESH_FOR = timedelta(minutes=10)


def queue_clip_for_alert(alert: Alert, reason: str = "pushed") -> bool:
    """Record a clip for an alert whose camera is ours (has a stream), when the
    event is happening now: a clip recorded today shows nothing of an event
    reported late (a replayed backlog, the demo's history)."""
    camera = db.session.get(Camera, alert.camera_id) if alert.camera_id else None
    if camera is None or not (camera.onvif_host or camera.stream_uri) or _clip_seconds() <= 0:
        return False
    occurred = alert.occurred_at or alert.created_at
    if occurred is not None and clock.now() - occurred > CLIP_FRESH_FOR:
        return False
    from webapp.platform.tasks import get_runner
    runner = get_runner()
    if CLIP_JOB not in runner.jobs:  # the cameras' jobs are not wired in this process
        return False
    runner.submit(CLIP_JOB, camera_id=camera.id, seconds=_clip_seconds(), reason=reason, alert_id=alert.id)
    return True


def clips_of_alert(alert_id: int) -> list[EvidenceFile]:
    return list(db.session.scalars(select(EvidenceFile).where(
        EvidenceFile.alert_id == alert_id, EvidenceFile.kind == "clip").order_by(EvidenceFile.id)))
