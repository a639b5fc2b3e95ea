"""Organisation: townships, units, working groups, users, API tokens."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models._common import UTCDateTime, utcnow
from webapp.platform.secrets import EncryptedText

UNIT_KINDS = ("department", "office", "township", "duty", "operator")
ROLES = (
    "duty_officer",   # 值守人员
    "duty_lead",      # 值守组长
    "unit_handler",   # 处置人员
    "unit_leader",    # 单位负责人
    "office_staff",   # 领导小组办公室
    "leader_viewer",  # 领导（只读）
    "admin",
)


class Township(db.Model):
    __tablename__ = "townships"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    # GeoJSON geometry (Polygon or MultiPolygon, lon/lat WGS84).
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    unit: Mapped["Unit | None"] = relationship(foreign_keys=[unit_id])


class Unit(db.Model):
    __tablename__ = "units"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    is_leading_office: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    # Whom the duty office calls about the unit's orders (edited in admin).
    contact_name: Mapped[str | None] = mapped_column(String(80))
    contact_phone: Mapped[str | None] = mapped_column(String(40))

    parent: Mapped["Unit | None"] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list["Unit"]] = relationship(back_populates="parent", order_by="Unit.sort_order")

    @property
    def full_name(self) -> str:
        return f"{self.parent.name} {self.name}" if self.parent else self.name

    def subtree_ids(self) -> set[int]:
        ids = {self.id}
        for child in self.children:
            ids |= child.subtree_ids()
        return ids


class WorkingGroup(db.Model):
    __tablename__ = "working_groups"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(120))
    duties: Mapped[str] = mapped_column(String(500), default="")
    lead_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    # Domain codes this group handles (domains are declared by plugins).
    domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    lead_unit: Mapped["Unit | None"] = relationship()


class User(db.Model):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    unit: Mapped["Unit | None"] = relationship()

    def __repr__(self) -> str:
        return f"<User {self.login} {self.role}>"


class ApiToken(db.Model):
    """An API token; only its SHA-256 is stored. Bound to a source or a user."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    source_name: Mapped[str | None] = mapped_column(String(80))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    label: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped["User | None"] = relationship()


class NotificationChannel(db.Model):
    """Where a unit's (and optionally a domain's) messages go: a chat-group
    robot webhook or an SMS number. The secret never appears in logs."""

    __tablename__ = "notification_channels"
    __table_args__ = (UniqueConstraint("unit_id", "domain", "channel", "target"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    domain: Mapped[str | None] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(String(500))
    # Encrypted at rest (webapp/platform/secrets.py); reads give the plain value.
    secret: Mapped[str | None] = mapped_column(EncryptedText)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    unit: Mapped["Unit | None"] = relationship()

    def __repr__(self) -> str:
        return f"<NotificationChannel {self.channel} unit={self.unit_id}>"
