"""Work orders, their participants, feedback and extension requests."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models._common import UTCDateTime, utcnow

ORDER_KINDS = ("alert", "maintenance")
PARTICIPANT_ROLES = ("lead", "cooperating", "forwarded")
FEEDBACK_RESULTS = ("stopped", "rectification_ordered", "case_filed", "not_as_reported",
                    "resolved", "other")


class WorkOrder(db.Model):
    __tablename__ = "work_orders"
    __table_args__ = (Index("ix_work_orders_state_dispatched", "state", "dispatched_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(30), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="alert")
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), unique=True)
    camera_id: Mapped[int | None] = mapped_column(ForeignKey("cameras.id"))
    domain: Mapped[str | None] = mapped_column(String(40), index=True)
    event_type: Mapped[str | None] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(20), default="to_accept")
    priority: Mapped[str] = mapped_column(String(12), default="normal")
    working_group: Mapped[int | None] = mapped_column(Integer)
    township_id: Mapped[int | None] = mapped_column(ForeignKey("townships.id"))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    # The SLA clocks applied (as strings, e.g. {"accept": "10m", "basis": "natural"}).
    clocks: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dispatched_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    supervised: Mapped[bool] = mapped_column(Boolean, default=False)
    supervise_note: Mapped[str | None] = mapped_column(Text)
    supervised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    emergency_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    emergency_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    case_transferred: Mapped[bool] = mapped_column(Boolean, default=False)
    case_number: Mapped[str | None] = mapped_column(String(80))
    spot_check_result: Mapped[str | None] = mapped_column(String(10))
    spot_check_note: Mapped[str | None] = mapped_column(Text)
    spot_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    template: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    alert = relationship("Alert")
    camera = relationship("Camera")
    township = relationship("Township")
    participants: Mapped[list["OrderParticipant"]] = relationship(
        back_populates="order", order_by="OrderParticipant.id", cascade="all, delete-orphan")
    feedbacks: Mapped[list["Feedback"]] = relationship(
        back_populates="order", order_by="Feedback.id", cascade="all, delete-orphan")
    extensions: Mapped[list["ExtensionRequest"]] = relationship(
        back_populates="order", order_by="ExtensionRequest.id", cascade="all, delete-orphan")

    @property
    def lead(self) -> "OrderParticipant | None":
        # A lead replaced at re-dispatch stays on record as "withdrawn".
        return next((p for p in self.participants if p.role == "lead" and p.state != "withdrawn"), None)


class OrderParticipant(db.Model):
    """A unit taking part in an order, with its own deadlines, records and
    on-time flags (frozen when each stage ends)."""

    __tablename__ = "order_participants"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    role: Mapped[str] = mapped_column(String(12))
    # Offices inside the lead unit that handle (unit ids).
    office_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    forwarded_by_id: Mapped[int | None] = mapped_column(ForeignKey("order_participants.id"))
    state: Mapped[str] = mapped_column(String(20), default="to_accept")
    # When this participant's clocks started: dispatch, re-dispatch or forward (migration 0004).
    # Indexed: the assessment picks a period's participant records by it.
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # The current round (see OrderRound); the stage columns below are that round's.
    round_number: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    accept_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    arrive_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    feedback_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    accept_on_time: Mapped[bool | None] = mapped_column(Boolean)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    arrived_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    arrive_on_time: Mapped[bool | None] = mapped_column(Boolean)
    arrive_lat: Mapped[float | None] = mapped_column(Float)
    arrive_lon: Mapped[float | None] = mapped_column(Float)
    arrive_accuracy_m: Mapped[float | None] = mapped_column(Float)
    arrive_distance_m: Mapped[float | None] = mapped_column(Float)
    # Why the check-in was made farther than NRSC_CHECKIN_FAR_M from the event (migration 0015).
    arrive_far_reason: Mapped[str | None] = mapped_column(Text)
    feedback_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    feedback_on_time: Mapped[bool | None] = mapped_column(Boolean)

    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    return_reason: Mapped[str | None] = mapped_column(Text)
    return_justified: Mapped[bool | None] = mapped_column(Boolean)
    return_count: Mapped[int] = mapped_column(Integer, default=0)

    # When the 75% warning / the overdue mark were raised, per stage.
    warned: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    overdue: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)

    order: Mapped[WorkOrder] = relationship(back_populates="participants")
    unit = relationship("Unit")
    rounds: Mapped[list["OrderRound"]] = relationship(
        back_populates="participant", order_by="OrderRound.number", cascade="all, delete-orphan")


ROUND_REASONS = ("dispatch", "forward", "redispatch", "rework", "reopen")


class OrderRound(db.Model):
    """One round of a participant's work on an order: the first assignment,
    then each re-dispatch, rework (退回重办) or reopening. A new round
    restarts some stage clocks; the earlier rounds keep their deadlines, times
    and frozen on-time flags, so a first lateness is never lost to a later
    round (the assessment counts every round).

    A stage belongs to a round when the round set its deadline; its other
    stage columns stay empty (a rework round restarts feedback only)."""

    __tablename__ = "order_rounds"
    __table_args__ = (Index("ix_order_rounds_participant_number", "participant_id", "number", unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("order_participants.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(12))
    # Indexed: the assessment picks a period's rounds by when they started.
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # When a later round (or a return) ended this one; stages not done by then do not count.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    accept_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    arrive_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    feedback_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accept_on_time: Mapped[bool | None] = mapped_column(Boolean)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    arrive_on_time: Mapped[bool | None] = mapped_column(Boolean)
    feedback_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    feedback_on_time: Mapped[bool | None] = mapped_column(Boolean)
    # Stage -> when the sweep marked it overdue, for this round's stages.
    overdue: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)

    participant: Mapped[OrderParticipant] = relationship(back_populates="rounds")
    order: Mapped[WorkOrder] = relationship()


class Feedback(db.Model):
    __tablename__ = "feedbacks"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("order_participants.id"))
    result: Mapped[str] = mapped_column(String(30))
    text: Mapped[str] = mapped_column(Text)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Client-chosen key so a retried upload on a flaky connection is kept once.
    client_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    review_result: Mapped[str | None] = mapped_column(String(10))  # "closed" | "rework"
    review_note: Mapped[str | None] = mapped_column(Text)

    order: Mapped[WorkOrder] = relationship(back_populates="feedbacks")
    participant = relationship("OrderParticipant")


class ExtensionRequest(db.Model):
    __tablename__ = "extension_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("order_participants.id"))
    stage: Mapped[str] = mapped_column(String(12), default="feedback")
    reason: Mapped[str] = mapped_column(Text)
    requested_until: Mapped[datetime] = mapped_column(UTCDateTime)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decision: Mapped[str | None] = mapped_column(String(10))  # "approved" | "rejected"
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    order: Mapped[WorkOrder] = relationship(back_populates="extensions")


class OrderSequence(db.Model):
    """Per-year counter behind human-readable numbers (HSB-2026-000123)."""

    __tablename__ = "order_sequences"
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)
