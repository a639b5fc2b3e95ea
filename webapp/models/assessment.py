"""Assessment (考核): versioned rules, closed periods with their snapshot, adjustments."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models._common import UTCDateTime, utcnow


class AssessmentRules(db.Model):
    """One version of the rules; the highest version is in force. Rows are never edited."""

    __tablename__ = "assessment_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AssessmentPeriod(db.Model):
    """A closed period: the computed scores and the records behind them, frozen."""

    __tablename__ = "assessment_periods"
    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(40), unique=True)
    rules_version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AssessmentAdjustment(db.Model):
    """核减/申诉: points added to (or taken from) a unit's score for a period."""

    __tablename__ = "assessment_adjustments"
    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(40), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    kind: Mapped[str] = mapped_column(String(12))  # "reduction" (核减) | "appeal" (申诉)
    points: Mapped[float] = mapped_column(Float)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"))
    reason: Mapped[str] = mapped_column(Text)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
