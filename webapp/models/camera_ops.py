"""Camera operations: runtime state (lease, controller, health), patrol tours
and visits, health events, clips and checkpoint passages (issue 10)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models._common import UTCDateTime, utcnow

HEALTH_EVENT_KINDS = ("offline", "recovered", "stuck", "frozen", "error")


class CameraRuntime(db.Model):
    """One row per camera: who drives it (a worker's lease), who controls it
    (a duty officer), where its tour stands and its health counters."""

    __tablename__ = "camera_runtime"
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True)
    # Worker lease: a worker drives the camera only while it holds an unexpired lease.
    lease_holder: Mapped[str | None] = mapped_column(String(120))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Manual control by a person; patrol resumes after an idle time.
    controller_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    control_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    control_last_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Tour position, kept so a worker taking over resumes where the last one stopped.
    tour_id: Mapped[int | None] = mapped_column(Integer)
    tour_index: Mapped[int] = mapped_column(Integer, default=0)
    # Health.
    last_error: Mapped[str | None] = mapped_column(String(300))
    last_frame_sha: Mapped[str | None] = mapped_column(String(64))
    same_frame_count: Mapped[int] = mapped_column(Integer, default=0)
    # Fixed cameras' frozen-frame check: when the run of identical pictures began,
    # and the latest picture's pixel fingerprint (see health.pixel_fingerprint).
    same_frame_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_pixel_digest: Mapped[str | None] = mapped_column(String(64))
    # {"<preset number>": "<dhash hex>"} from the latest visit of each preset.
    preset_hashes: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Detection pipeline counters (0020): stops whose frames were examined,
    # dropped because the detection queue was full, or skipped on an error.
    stops_detected: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    stops_dropped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    stops_failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    controller = relationship("User")


class PatrolTour(db.Model):
    """An ordered tour of presets, active in a local time-of-day window."""

    __tablename__ = "patrol_tours"
    id: Mapped[int] = mapped_column(primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    preset_numbers: Mapped[list[int]] = mapped_column(JSON, default=list)
    # None: the preset's own dwell_seconds.
    dwell_seconds: Mapped[int | None] = mapped_column(Integer)
    settle_seconds: Mapped[float] = mapped_column(Float, default=3.0)
    # Local (Asia/Shanghai) "HH:MM"; start > end wraps midnight; both empty: all day.
    start_local: Mapped[str] = mapped_column(String(5), default="")
    end_local: Mapped[str] = mapped_column(String(5), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class PatrolVisit(db.Model):
    __tablename__ = "patrol_visits"
    __table_args__ = (Index("ix_patrol_visits_camera_started", "camera_id", "started_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    tour_id: Mapped[int | None] = mapped_column(Integer)
    preset_number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    frames_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="ok")  # ok | failed
    error: Mapped[str | None] = mapped_column(String(300))
    frame_count: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(120))
    # What detection made of the stop (0020): queued | done | dropped | skipped |
    # failed, a message for the duty staff, and the candidate detections (after
    # masks and thresholds) that the next visit's confirmation reads.
    detection_status: Mapped[str | None] = mapped_column(String(20))
    detection_note: Mapped[str | None] = mapped_column(String(500))
    detections: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")


class PatrolFrame(db.Model):
    """A frame kept from a patrol stop (an EvidenceFile of kind ``patrol_frame``)."""

    __tablename__ = "patrol_frames"
    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("patrol_visits.id", ondelete="CASCADE"), index=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence_files.id", ondelete="CASCADE"), index=True)
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime)

    evidence = relationship("EvidenceFile")


class CameraHealthEvent(db.Model):
    __tablename__ = "camera_health_events"
    __table_args__ = (Index("ix_camera_health_events_camera_at", "camera_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default="")
    order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"))


class CheckpointPassage(db.Model):
    """A vehicle (or anything moving) passing a checkpoint camera."""

    __tablename__ = "checkpoint_passages"
    __table_args__ = (Index("ix_checkpoint_passages_camera_at", "camera_id", "at"),
                      Index("ix_checkpoint_passages_at", "at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    direction: Mapped[str] = mapped_column(String(10), default="unknown")  # in | out | unknown
    motion: Mapped[float] = mapped_column(Float, default=0.0)
    evidence_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_files.id", ondelete="SET NULL"))
    # Filled once a plate reader is configured (detection issue).
    plate: Mapped[str | None] = mapped_column(String(20))
    vehicle_type: Mapped[str | None] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    camera = relationship("Camera")
    evidence = relationship("EvidenceFile")


class CameraClipNote(db.Model):
    """Why a clip was recorded (patrol alert, pushed alert, live view) — the
    clip itself is an EvidenceFile of kind ``clip``."""

    __tablename__ = "camera_clips"
    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence_files.id", ondelete="CASCADE"), index=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seconds: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(20))  # patrol | pushed | live
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(Text)
