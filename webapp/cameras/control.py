"""Who drives a camera: a worker's lease, or a person's manual control.

Lease (for workers): one row per camera in ``camera_runtime`` with a holder
and an expiry; taken or renewed with one conditional UPDATE, so two workers
(threads, processes or hosts) never both hold it, and a dead worker's cameras
are free once its lease runs out.

Control (for people): one controller at a time. A duty officer takes a free
camera, or one whose controller has been idle longer than the resume time; the
duty lead (and admin) may take it from anyone. Patrol skips a controlled camera
and resumes once it has been idle for ``NRSC_PATROL_RESUME_AFTER_S`` (default
300 s). Every take, takeover and release is audited.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import Camera, CameraRuntime, User
from webapp.platform import audit, clock

CONTROL_ROLES = frozenset({"duty_officer", "duty_lead", "admin"})
OVERRIDE_ROLES = frozenset({"duty_lead", "admin"})


class ControlError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def ensure_runtime(camera_id: int) -> None:
    if db.session.get(CameraRuntime, camera_id) is not None:
        return
    try:
        with db.session.begin_nested():
            db.session.add(CameraRuntime(camera_id=camera_id, tour_index=0, same_frame_count=0,
                                         preset_hashes={}, version=1))
    except IntegrityError:
        pass  # another worker made it first


# -- worker leases --------------------------------------------------------------------
def acquire_lease(camera_id: int, holder: str, seconds: float, now: datetime | None = None) -> bool:
    """Take or renew the lease; True when ``holder`` holds it afterwards. Commits."""
    now = now or clock.now()
    ensure_runtime(camera_id)
    result = db.session.execute(
        update(CameraRuntime)
        .where(CameraRuntime.camera_id == camera_id,
               or_(CameraRuntime.lease_holder.is_(None), CameraRuntime.lease_holder == holder,
                   CameraRuntime.lease_expires_at.is_(None), CameraRuntime.lease_expires_at < now))
        .values(lease_holder=holder, lease_expires_at=now + timedelta(seconds=seconds))
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1


def holds_lease(camera_id: int, holder: str, now: datetime | None = None) -> bool:
    now = now or clock.now()
    row = db.session.execute(
        CameraRuntime.__table__.select().where(CameraRuntime.camera_id == camera_id)).mappings().first()
    if row is None or row["lease_holder"] != holder or row["lease_expires_at"] is None:
        return False
    expires = row["lease_expires_at"]
    if expires.tzinfo is None:
        from datetime import timezone
        expires = expires.replace(tzinfo=timezone.utc)
    return expires >= now


def release_lease(camera_id: int, holder: str) -> None:
    db.session.execute(update(CameraRuntime).where(
        CameraRuntime.camera_id == camera_id, CameraRuntime.lease_holder == holder)
        .values(lease_holder=None, lease_expires_at=None).execution_options(synchronize_session=False))
    db.session.commit()


# -- manual control ---------------------------------------------------------------------
def resume_after() -> timedelta:
    return timedelta(seconds=float(current_app.config.get("NRSC_PATROL_RESUME_AFTER_S", 300)))


def controller_of(camera: Camera, now: datetime | None = None) -> User | None:
    """The person controlling the camera now (None once idle past the resume time)."""
    rt = db.session.get(CameraRuntime, camera.id)
    if rt is None or rt.controller_id is None:
        return None
    now = now or clock.now()
    if rt.control_last_at is not None and now - rt.control_last_at >= resume_after():
        return None
    return rt.controller


def take_control(camera: Camera, user: User) -> CameraRuntime:
    if user.role not in CONTROL_ROLES:
        raise ControlError(403, "forbidden", "only duty staff may control a camera")
    ensure_runtime(camera.id)
    rt = db.session.get(CameraRuntime, camera.id)
    now = clock.now()
    current = controller_of(camera, now)
    if current is not None and current.id != user.id:
        if user.role not in OVERRIDE_ROLES:
            raise ControlError(409, "camera_controlled",
                               f"{camera.code} is controlled by {current.display_name or current.login}")
        audit.record("camera_takeover", "camera", camera.id, actor=user,
                     from_state=current.login, to_state=user.login,
                     note=f"{user.login} took {camera.code} over from {current.login}",
                     data={"from_user_id": current.id})
    elif current is None:
        audit.record("camera_control_taken", "camera", camera.id, actor=user, to_state=user.login)
    if current is None or current.id != user.id:
        rt.controller_id, rt.control_since = user.id, now
    rt.control_last_at = now
    db.session.commit()
    return rt


def touch_control(camera: Camera, user: User) -> None:
    """A manual action: the caller must hold control (taken on first use)."""
    current = controller_of(camera)
    if current is None or current.id != user.id:
        take_control(camera, user)
        return
    rt = db.session.get(CameraRuntime, camera.id)
    rt.control_last_at = clock.now()
    db.session.commit()


def release_control(camera: Camera, user: User | None, *, automatic: bool = False) -> None:
    rt = db.session.get(CameraRuntime, camera.id)
    if rt is None or rt.controller_id is None:
        return
    if user is not None and rt.controller_id != user.id and user.role not in OVERRIDE_ROLES:
        raise ControlError(409, "camera_controlled", "only the controller or the duty lead may release it")
    previous = rt.controller.login if rt.controller else str(rt.controller_id)
    rt.controller_id = rt.control_since = rt.control_last_at = None
    audit.record("camera_control_released", "camera", camera.id, actor=user,
                 actor_label=None if user else "system", from_state=previous,
                 note="idle: patrol resumes" if automatic else None)
    db.session.commit()
