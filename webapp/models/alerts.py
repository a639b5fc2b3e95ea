"""Alerts, their occurrences, evidence files, audit events, notification outbox."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models._common import UTCDateTime, utcnow

ALERT_STATUSES = ("new", "under_review", "false_alarm", "duplicate", "confirmed")
OPEN_ALERT_STATUSES = ("new", "under_review")


class Alert(db.Model):
    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("source", "source_event_id"),
        Index("ix_alerts_status_created", "status", "created_at"),
        Index("ix_alerts_domain_last_seen", "domain", "last_seen_at"),
        # The duty console's queue: newest first, open ones by review due time,
        # and each filter with the time order (migration 0003).
        Index("ix_alerts_created_at", "created_at"),
        Index("ix_alerts_status_review_due", "status", "review_due_at"),
        Index("ix_alerts_domain_created", "domain", "created_at"),
        Index("ix_alerts_camera_created", "camera_id", "created_at"),
        Index("ix_alerts_source_created", "source", "created_at"),
        # Counts per status under a filter read these alone, never the table.
        Index("ix_alerts_domain_status", "domain", "status", "created_at"),
        Index("ix_alerts_township_status", "township_id", "status", "created_at"),
        Index("ix_alerts_camera_status", "camera_id", "status", "created_at"),
        Index("ix_alerts_source_status", "source", "status", "created_at"),
        # Precision per detector / camera / preset reads verdicts by detector (0013).
        Index("ix_alerts_detector_status", "detector", "status", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20), default="new")
    source: Mapped[str] = mapped_column(String(80))
    source_event_id: Mapped[str | None] = mapped_column(String(120))
    manual: Mapped[bool] = mapped_column(Boolean, default=False)
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)

    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    location_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    camera_id: Mapped[int | None] = mapped_column(ForeignKey("cameras.id"))
    preset_number: Mapped[int | None] = mapped_column(Integer)
    pan_deg: Mapped[float | None] = mapped_column(Float)
    tilt_deg: Mapped[float | None] = mapped_column(Float)
    zoom: Mapped[float | None] = mapped_column(Float)
    label: Mapped[str | None] = mapped_column(String(80))
    score: Mapped[float | None] = mapped_column(Float)
    boxes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    text: Mapped[str | None] = mapped_column(Text)
    # Detection provenance (0013): the detector that raised it, the patrol stop
    # whose frames it came from, how its position was obtained ("pushed",
    # "monoplot", "triangulated") and by which cameras, and the 95% uncertainty
    # ellipse {"semi_major_m", "semi_minor_m", "orientation_deg"} (orientation:
    # the major axis, degrees clockwise from north).
    detector: Mapped[str | None] = mapped_column(String(80))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("patrol_visits.id", ondelete="SET NULL"))
    location_method: Mapped[str | None] = mapped_column(String(20))
    located_by: Mapped[list[int]] = mapped_column(JSON, default=list, server_default="[]")
    uncertainty: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    township_id: Mapped[int | None] = mapped_column(ForeignKey("townships.id"), index=True)
    gis_context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prejudgement_level: Mapped[str | None] = mapped_column(String(10))
    prejudgement_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)

    review_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verdict_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    verdict_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verdict_reason: Mapped[str | None] = mapped_column(String(40))
    verdict_note: Mapped[str | None] = mapped_column(Text)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))
    # Optimistic lock: every change bumps it; a stale form is refused.
    version: Mapped[int] = mapped_column(Integer, default=1)

    camera = relationship("Camera")
    township = relationship("Township")
    claimed_by = relationship("User", foreign_keys=[claimed_by_id])
    verdict_by = relationship("User", foreign_keys=[verdict_by_id])
    reporter = relationship("User", foreign_keys=[reporter_id])
    occurrence_rows: Mapped[list["AlertOccurrence"]] = relationship(
        back_populates="alert", order_by="AlertOccurrence.occurred_at",
        cascade="all, delete-orphan")
    evidence: Mapped[list["EvidenceFile"]] = relationship(
        back_populates="alert", order_by="EvidenceFile.id")


class AlertOccurrence(db.Model):
    """One sighting joined to an alert (the first sighting included)."""

    __tablename__ = "alert_occurrences"
    # One row per (source, event): a retried event never joins twice.
    __table_args__ = (UniqueConstraint("source", "source_event_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(80))
    source_event_id: Mapped[str | None] = mapped_column(String(120))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float)
    boxes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    camera_id: Mapped[int | None] = mapped_column(ForeignKey("cameras.id"))
    preset_number: Mapped[int | None] = mapped_column(Integer)

    alert: Mapped[Alert] = relationship(back_populates="occurrence_rows")


class EvidenceFile(db.Model):
    """A stored file (snapshot, check-in or feedback photo) with its SHA-256.

    Files live under ``NRSC_DATA_DIR/files/<sha[:2]>/<sha>``; equal content is
    stored once and may be referenced by several rows."""

    __tablename__ = "evidence_files"
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(80))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    original_name: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(20), default="snapshot")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    occurrence_id: Mapped[int | None] = mapped_column(ForeignKey("alert_occurrences.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"), index=True)
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("order_participants.id"))
    feedback_id: Mapped[int | None] = mapped_column(ForeignKey("feedbacks.id"))

    alert: Mapped[Alert | None] = relationship(back_populates="evidence")


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_entity", "entity_type", "entity_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(120), default="")
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(60))
    from_state: Mapped[str | None] = mapped_column(String(30))
    to_state: Mapped[str | None] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))
    # Hash chain (webapp/platform/auditchain.py, migration 0008).
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))

    actor = relationship("User")


class OutboxMessage(db.Model):
    """A notification waiting to be delivered, retried until it is."""

    __tablename__ = "notification_outbox"
    # deliver_due() scans pending rows by next_attempt_at (migration 0005).
    __table_args__ = (Index("ix_notification_outbox_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(String(500))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(500))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"), index=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
