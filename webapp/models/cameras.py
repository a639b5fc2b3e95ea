"""Cameras, presets, GIS layers and the holiday calendar.

Pan/tilt/zoom conventions are those of :mod:`webapp.geometry.ptz`.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    literal_column,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models._common import UTCDateTime, utcnow
from webapp.platform.secrets import EncryptedText

CAMERA_KINDS = ("tower", "checkpoint")
CAMERA_STATUSES = ("unknown", "online", "offline", "stuck", "frozen")


class Camera(db.Model):
    __tablename__ = "cameras"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    ground_elevation_m: Mapped[float] = mapped_column(Float, default=0.0)
    mount_height_m: Mapped[float] = mapped_column(Float, default=0.0)
    # Azimuth (degrees clockwise from true north) of the camera's pan zero.
    pan_zero_azimuth_deg: Mapped[float] = mapped_column(Float, default=0.0)
    # [{"zoom": 1, "hfov_deg": 60.0, "vfov_deg": 34.0}, ...] ordered by zoom.
    fov_table: Mapped[list[dict[str, float]]] = mapped_column(JSON, default=list)
    onvif_host: Mapped[str | None] = mapped_column(String(200))
    onvif_port: Mapped[int | None] = mapped_column(Integer)
    # Credentials are never rendered, logged or returned by the API.
    onvif_user: Mapped[str | None] = mapped_column(String(80))
    # Encrypted at rest (webapp/platform/secrets.py); reads give the plain value.
    onvif_password: Mapped[str | None] = mapped_column(EncryptedText)
    stream_uri: Mapped[str | None] = mapped_column(String(500))
    snapshot_uri: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="unknown")
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    township_id: Mapped[int | None] = mapped_column(ForeignKey("townships.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    presets: Mapped[list["Preset"]] = relationship(
        back_populates="camera", order_by="Preset.number", cascade="all, delete-orphan")
    township = relationship("Township")

    def __repr__(self) -> str:  # never show credentials
        return f"<Camera {self.code} {self.kind} {self.status}>"


class Preset(db.Model):
    __tablename__ = "presets"
    __table_args__ = (UniqueConstraint("camera_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(120), default="")
    pan_deg: Mapped[float] = mapped_column(Float, default=0.0)
    tilt_deg: Mapped[float] = mapped_column(Float, default=0.0)
    zoom: Mapped[float] = mapped_column(Float, default=1.0)
    dwell_seconds: Mapped[int] = mapped_column(Integer, default=20)
    domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Polygons in normalised image coordinates where detections are ignored.
    masks: Mapped[list[list[list[float]]]] = mapped_column(JSON, default=list)
    aim_lat: Mapped[float | None] = mapped_column(Float)
    aim_lon: Mapped[float | None] = mapped_column(Float)
    # SHA-256 of the reference image (an EvidenceFile) captured in the preset editor.
    reference_sha256: Mapped[str | None] = mapped_column(String(64))
    # Per-detector score thresholds of this preset, raised (bounded, audited,
    # reversible) when its precision stays low: {detector: threshold} (0013).
    thresholds: Mapped[dict[str, float]] = mapped_column(JSON, default=dict, server_default="{}")
    # Per-preset detector parameters handed to detectors as DetectionContext.params:
    # {"<detector>.<param>": value} or {"<param>": value} (0020).
    detector_params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")

    camera: Mapped[Camera] = relationship(back_populates="presets")


class Parcel(db.Model):
    """A parcel or zone of one GIS layer; layers are declared by plugins
    (``webapp.gis.layers``), so ``layer`` is a plain string."""

    __tablename__ = "parcels"
    __table_args__ = (
        UniqueConstraint("layer", "code"),
        Index("ix_parcels_bbox", "min_lon", "min_lat", "max_lon", "max_lat"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    layer: Mapped[str] = mapped_column(String(40), index=True)
    code: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(200), default="")
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A table-wide change counter: every UPDATE sets it above the current
    # maximum, so webapp.gis.context sees any change in max(revision) (an index lookup).
    revision: Mapped[int] = mapped_column(
        Integer, default=1, server_default="1", index=True,
        onupdate=literal_column("(SELECT COALESCE(MAX(p2.revision), 0) + 1 FROM parcels AS p2)"))


class CalendarDay(db.Model):
    """An exception to the Monday–Friday week: a public holiday on a weekday
    or a make-up working day (调休) on a weekend."""

    __tablename__ = "calendar_days"
    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # "holiday" | "workday"
    name: Mapped[str] = mapped_column(String(80), default="")
