"""Camera health from real captures (never a cached frame).

* ``N`` consecutive failures (``NRSC_CAMERA_OFFLINE_AFTER``, default 3) →
  status ``offline``, a health event, an audit event and a maintenance work
  order to the operator (:func:`webapp.orders.planning.create_maintenance_order`;
  an open one for the camera is reused).
* Frozen frame, PTZ camera: a camera that answers, reports that it moved
  between two presets aimed apart, and returns byte-identical JPEGs at both.
* Frozen frame, fixed camera (checkpoints; no PTZ to move): a live sensor never
  gives the same picture twice — even a still scene differs by sensor noise,
  and an 8×8 block's mean (what a 1/8-scale JPEG decode keeps) changes
  somewhere among a frame's thousands of blocks. So ``NRSC_CAMERA_FROZEN_AFTER``
  (default 5) consecutive captures with the same bytes or the same pixel
  fingerprint (SHA-256 of the 1/8-scale grey decode: a camera re-stamping the
  metadata of a stuck picture is caught too), spanning at least
  ``NRSC_CAMERA_FROZEN_SECONDS`` (default 120 s), mean a frozen picture. A
  noiseless source is not a live camera (the simulator adds sensor noise).
* Stuck PTZ: at least three presets aimed apart show the same view
  (difference hash, Hamming distance ≤ ``STUCK_HASH_DISTANCE``), or the
  camera reports the same pose at all of them: it does not move.
* Recovery (a good capture, or a moving camera with fresh frames) clears the
  status, records a health event and notes it on the open maintenance order,
  whose operator then feeds back the cause through the usual loop.
"""
from __future__ import annotations

import io
import logging

from flask import current_app
from PIL import Image
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Camera, CameraHealthEvent, CameraRuntime, Preset, WorkOrder
from webapp.orders import messaging, planning, states
from webapp.platform import audit, clock

log = logging.getLogger(__name__)
STUCK_HASH_DISTANCE = 4
STUCK_MIN_PRESETS = 3
# Presets closer than this (pan/tilt degrees) may legitimately look alike.
DISTINCT_PRESET_DEG = 10.0
FAULT_STATUSES = ("offline", "stuck", "frozen")


def runtime_for(camera: Camera) -> CameraRuntime:
    row = db.session.get(CameraRuntime, camera.id)
    if row is None:
        row = CameraRuntime(camera_id=camera.id, tour_index=0, same_frame_count=0, preset_hashes={}, version=1)
        db.session.add(row)
        db.session.flush()
    return row


def dhash(jpeg: bytes, size: int = 8) -> int:
    """64-bit difference hash: robust to noise and JPEG quality, equal for the same view."""
    with Image.open(io.BytesIO(jpeg)) as img:
        img.draft("L", (size * 16, size * 16))  # fast JPEG downscale while decoding
        small = img.convert("L").resize((size + 1, size), Image.Resampling.BILINEAR)
        px = small.tobytes()
    bits = 0
    for row in range(size):
        for col in range(size):
            left, right = px[row * (size + 1) + col], px[row * (size + 1) + col + 1]
            bits = (bits << 1) | (1 if left > right else 0)
    return bits


def hamming(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


def _setting(name: str, default: int) -> int:
    return int(current_app.config.get(name, default))


def _event(camera: Camera, kind: str, detail: str, order: WorkOrder | None = None) -> CameraHealthEvent:
    ev = CameraHealthEvent(camera_id=camera.id, at=clock.now(), kind=kind, detail=detail[:2000],
                           order_id=order.id if order else None)
    db.session.add(ev)
    return ev


def _open_maintenance_order(camera: Camera) -> WorkOrder | None:
    return db.session.scalar(select(WorkOrder).where(
        WorkOrder.kind == "maintenance", WorkOrder.camera_id == camera.id,
        WorkOrder.state.in_(states.OPEN_STATES)).order_by(WorkOrder.id))


FAULT_TITLES = {"offline": "摄像头离线", "stuck": "摄像头云台卡滞", "frozen": "摄像头画面冻结"}


def _fault(camera: Camera, status: str, detail: str) -> None:
    """Enter a fault status: event, audit, maintenance order (once per fault)."""
    previous = camera.status
    camera.status = status
    action = {"offline": "camera_offline", "stuck": "camera_stuck", "frozen": "camera_frozen"}[status]
    audit.record(action, "camera", camera.id, actor_label="system",
                 from_state=previous, to_state=status, note=detail[:500])
    db.session.flush()
    order = None
    try:
        order = planning.create_maintenance_order(
            camera, f"{FAULT_TITLES[status]} {camera.code} {camera.name}",
            f"{detail}\n(自动检测于 {clock.local(clock.now()):%Y-%m-%d %H:%M})", commit=False)
    except Exception:  # noqa: BLE001 - no operator unit configured: still record the fault
        log.exception("could not raise a maintenance order for camera %s", camera.code)
    _event(camera, status, detail, order)


def _recover(camera: Camera, rt: CameraRuntime, detail: str) -> None:
    previous = camera.status
    camera.status = "online"
    order = _open_maintenance_order(camera)
    _event(camera, "recovered", f"{previous} → online: {detail}", order)
    audit.record("camera_recovered", "camera", camera.id, actor_label="system",
                 from_state=previous, to_state="online", note=detail[:500])
    if order is not None:
        # Closing the loop stays with people: the operator feeds back the
        # cause and the duty office closes; the order records the recovery.
        audit.record("camera_recovered", "work_order", order.id, actor_label="system",
                     from_state=order.state, to_state=order.state,
                     note=f"{camera.code} 已恢复（{previous}）", data={"camera": camera.code})
        if order.participants:
            messaging.notify_unit(order.participants[0].unit, f"摄像头已恢复 {camera.code}",
                                 f"工单 {order.number}：请反馈故障原因。", f"order:{order.id}:recovered:{rt.version}",
                                 order)


def is_fixed(camera: Camera) -> bool:
    """A camera without PTZ (the checkpoints): its picture is checked over time."""
    return camera.kind == "checkpoint"


def pixel_fingerprint(jpeg: bytes) -> str | None:
    """SHA-256 of the picture decoded at 1/8 scale in grey (each value an 8×8
    block's mean): equal for the same picture whatever its metadata, different
    for live frames of a still scene (sensor noise). None if it does not decode."""
    import hashlib
    try:
        with Image.open(io.BytesIO(jpeg)) as img:
            img.draft("L", (max(1, img.width // 8), max(1, img.height // 8)))
            return hashlib.sha256(img.convert("L").tobytes()).hexdigest()
    except Exception:  # noqa: BLE001 - undecodable bytes are not a picture
        return None


def record_success(camera: Camera, jpeg: bytes, sha256: str, *, commit: bool = True) -> str:
    """A real capture succeeded; returns the camera's status afterwards."""
    rt = runtime_for(camera)
    now = clock.now()
    camera.failure_count = 0
    camera.last_seen_at = now
    rt.last_error = None
    fixed = is_fixed(camera)
    fingerprint = pixel_fingerprint(jpeg) if fixed else None
    same = rt.last_frame_sha == sha256 or (fingerprint is not None and fingerprint == rt.last_pixel_digest)
    if same and rt.same_frame_since is not None:
        rt.same_frame_count += 1
    else:
        rt.same_frame_count, rt.same_frame_since = 1, now
    rt.last_frame_sha, rt.last_pixel_digest = sha256, fingerprint
    if camera.status == "unknown":
        camera.status = "online"
    elif camera.status == "offline":
        _recover(camera, rt, "capture succeeded")
    if fixed:
        span = (now - rt.same_frame_since).total_seconds()
        if (rt.same_frame_count >= _setting("NRSC_CAMERA_FROZEN_AFTER", 5)
                and span >= _setting("NRSC_CAMERA_FROZEN_SECONDS", 120) and camera.status != "frozen"):
            _fault(camera, "frozen", f"连续 {rt.same_frame_count} 次采集（{int(span)} 秒内）画面完全相同，"
                                     "无传感器噪声：画面冻结")
        elif not same and camera.status == "frozen":
            _recover(camera, rt, "a new picture")
    rt.version += 1
    if commit:
        db.session.commit()
    return camera.status


def record_failure(camera: Camera, error: str, *, commit: bool = True) -> str:
    rt = runtime_for(camera)
    camera.failure_count = (camera.failure_count or 0) + 1
    rt.last_error = error[:300]
    rt.version += 1
    if camera.failure_count >= _setting("NRSC_CAMERA_OFFLINE_AFTER", 3) and camera.status != "offline":
        _fault(camera, "offline", f"连续 {camera.failure_count} 次采集失败：{error[:200]}")
    if commit:
        db.session.commit()
    return camera.status


def _apart(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(abs((a[0] - b[0] + 180) % 360 - 180), abs(a[1] - b[1]))


def record_preset_frame(camera: Camera, preset: Preset, jpeg: bytes, sha256: str | None = None,
                        pose: tuple[float, float] | None = None, *, commit: bool = True) -> str:
    """Compare this preset's view with the other presets' latest views.

    ``pose`` is the (pan, tilt) the camera reported (ONVIF GetStatus) when the
    frame was taken. Frozen: the same bytes at presets the camera says it
    moved between. Stuck: at least three presets aimed apart show the same
    view (perceptual hash), or the camera reports the same pose at all of them."""
    import hashlib
    rt = runtime_for(camera)
    sha256 = sha256 or hashlib.sha256(jpeg).hexdigest()
    h = dhash(jpeg)
    entries = dict(rt.preset_hashes or {})
    entries[str(preset.number)] = {"h": f"{h:016x}", "s": sha256, "p": list(pose) if pose else None}
    rt.preset_hashes = entries
    by_number = {p.number: p for p in camera.presets}
    frozen_with, alike = [], [preset]
    for number, e in entries.items():
        other = by_number.get(int(number))
        if other is None or other.number == preset.number or not isinstance(e, dict):
            continue
        if _apart((other.pan_deg, other.tilt_deg), (preset.pan_deg, preset.tilt_deg)) < DISTINCT_PRESET_DEG:
            continue
        moved = pose is not None and e.get("p") and _apart(tuple(e["p"]), pose) >= DISTINCT_PRESET_DEG / 2
        same_pose = pose is not None and e.get("p") and _apart(tuple(e["p"]), pose) < 0.5
        if e.get("s") == sha256 and moved:
            frozen_with.append(other)
        elif same_pose or hamming(h, int(e["h"], 16)) <= STUCK_HASH_DISTANCE:
            alike.append(other)
    if camera.status == "frozen" and not frozen_with:
        # A fresh picture again; views kept during the fault say nothing now.
        rt.preset_hashes = {str(preset.number): entries[str(preset.number)]}
        _recover(camera, rt, f"preset {preset.number} shows a new picture")
    elif frozen_with:
        if camera.status != "frozen":
            _fault(camera, "frozen", "预置位 " + "、".join(str(p.number) for p in [preset, *frozen_with])
                   + " 画面完全相同，但云台已转动：画面冻结")
    elif len(alike) >= STUCK_MIN_PRESETS:
        if camera.status != "stuck":
            _fault(camera, "stuck", "预置位 " + "、".join(str(p.number) for p in alike) + " 画面相同，云台未转动")
    elif camera.status in ("stuck", "frozen"):
        _recover(camera, rt, f"preset {preset.number} shows its own view again")
    rt.version += 1
    if commit:
        db.session.commit()
    return camera.status


def status_counts() -> dict[str, int]:
    out: dict[str, int] = {}
    for status in db.session.scalars(select(Camera.status).where(Camera.active.is_(True))):
        out[status] = out.get(status, 0) + 1
    return out


def health_events(camera: Camera, limit: int = 20) -> list[CameraHealthEvent]:
    return list(db.session.scalars(select(CameraHealthEvent).where(CameraHealthEvent.camera_id == camera.id)
                                   .order_by(CameraHealthEvent.at.desc(), CameraHealthEvent.id.desc()).limit(limit)))

