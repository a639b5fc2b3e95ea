"""Alert intake: one function for the HTTP API, MQTT and manual alerts.

:func:`ingest` validates a payload (the fields of DESIGN.md §8), places an
alert that carries only a camera, refuses points outside the district, joins
an open duplicate or creates a new alert with its GIS context and the domain
plugin's prejudgement, stores the snapshots and records an audit event — all
in one transaction, with files published only when it commits.
"""
from __future__ import annotations

import base64
import binascii
import logging
import math
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable

from flask import current_app
from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from webapp.alerts import evidence, review
from webapp.alerts.adapters import alert_view
from webapp.alerts.schemas import AlertIntake
from webapp.api.schema import describe
from webapp.extensions import db
from webapp.geometry.ptz import aim_point
from webapp.gis import context as gis
from webapp.models import (
    OPEN_ALERT_STATUSES,
    Alert,
    AlertOccurrence,
    Camera,
    EvidenceFile,
    Preset,
    User,
)
from webapp.platform import audit, clock
from webapp.plugin_api import GisContext

log = logging.getLogger(__name__)

DEFAULT_DEDUPE_RADIUS_M = 300.0
# The oldest occurred_at taken in (NRSC_MAX_EVENT_AGE_DAYS).
DEFAULT_MAX_EVENT_AGE_DAYS = 30
DEFAULT_DEDUPE_WINDOW_MIN = 60.0
DEFAULT_MAX_IMAGES = 10
FUTURE_TOLERANCE = timedelta(minutes=10)

# The request fields of DESIGN.md §8, as the schema declares them.
FIELDS: tuple[str, ...] = tuple(name for name in AlertIntake.model_fields if name != "images")
# Inline images for senders that cannot post multipart (MQTT, some boxes).
INLINE_IMAGES = "images"


class IntakeError(Exception):
    """An intake refused; ``status``/``code``/``message`` become the JSON error."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def to_json(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}


@dataclass
class Report:
    """A validated payload."""

    domain: str
    event_type: str
    occurred_at: datetime
    source_event_id: str | None = None
    lat: float | None = None
    lon: float | None = None
    camera_code: str | None = None
    preset: int | None = None
    pan: float | None = None
    tilt: float | None = None
    zoom: float | None = None
    label: str | None = None
    score: float | None = None
    boxes: list[Any] = field(default_factory=list)
    text: str | None = None


def _setting(name: str, default: float) -> float:
    return gis.setting(name, default)


# -- validation ---------------------------------------------------------------
def _error_code(exc: ValidationError) -> str:
    kinds = {err["type"] for err in exc.errors()}
    if "missing" in kinds:
        return "missing_field"
    if "extra_forbidden" in kinds:
        return "unknown_field"
    return "invalid_field"


def parse_report(payload: Any) -> Report:
    """Validate a payload against :class:`AlertIntake` (the schema the OpenAPI
    document shows), then the rules that span fields."""
    if not isinstance(payload, dict):
        raise IntakeError(400, "invalid_body", "the alert must be a JSON object")
    # Senders leave fields out as null or "" (multipart forms): both mean absent.
    given = {k: v for k, v in payload.items()
             if v is not None and not (isinstance(v, str) and not v.strip())}
    try:
        model = AlertIntake.model_validate(given)
    except ValidationError as exc:
        extra = sorted(str(e["loc"][0]) for e in exc.errors() if e["type"] == "extra_forbidden")
        code = _error_code(exc)
        message = f"unknown field(s): {', '.join(extra)}" if code == "unknown_field" else describe(exc)
        raise IntakeError(400, code, message) from None
    values = model.model_dump(exclude_none=True, exclude={INLINE_IMAGES})
    if ("lat" in values) != ("lon" in values):
        raise IntakeError(400, "missing_field", "lat and lon go together")
    if "lat" not in values and "camera_code" not in values:
        raise IntakeError(400, "missing_field", "give lat and lon, or a camera_code")
    now = clock.now()
    values.setdefault("occurred_at", now)
    if values["occurred_at"] > now + FUTURE_TOLERANCE:
        raise IntakeError(400, "invalid_field", "occurred_at is in the future")
    max_age = timedelta(days=float(current_app.config.get("NRSC_MAX_EVENT_AGE_DAYS", DEFAULT_MAX_EVENT_AGE_DAYS)))
    if values["occurred_at"] < now - max_age:
        raise IntakeError(400, "invalid_field",
                          f"occurred_at is more than {max_age.days} days in the past")
    return Report(**values)


def inline_images(payload: dict[str, Any]) -> list[tuple[str | None, bytes]]:
    """Decode ``images: [{filename, data (base64)}]`` from a JSON payload."""
    items = payload.get(INLINE_IMAGES)
    if items is None:
        return []
    if not isinstance(items, list):
        raise IntakeError(400, "invalid_field", "images must be a list of {filename, data}")
    result = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("data"), str):
            raise IntakeError(400, "invalid_field", f"images[{i}] must be an object with base64 data")
        try:
            data = base64.b64decode(item["data"], validate=True)
        except (binascii.Error, ValueError):
            raise IntakeError(400, "invalid_field", f"images[{i}].data is not valid base64") from None
        name = item.get("filename")
        result.append((name if isinstance(name, str) else None, data))
    return result


# -- placing ------------------------------------------------------------------
@dataclass
class Placement:
    lat: float
    lon: float
    estimated: bool
    camera: Camera | None
    preset: Preset | None


def _aim(camera: Camera, pan: float, tilt: float) -> tuple[float, float] | None:
    return aim_point(camera.lat, camera.lon, camera.mount_height_m, camera.pan_zero_azimuth_deg,
                     pan, tilt, ground_elevation_m=camera.ground_elevation_m)


def place(report: Report) -> Placement:
    """Resolve the camera and preset; a report without coordinates is placed at
    where the camera looks (the preset's aim point, else the camera) and
    marked estimated."""
    camera = preset = None
    if report.camera_code:
        camera = db.session.scalar(select(Camera).where(Camera.code == report.camera_code))
        if camera is None or not camera.active:
            raise IntakeError(400, "unknown_camera", f"no active camera with code {report.camera_code!r}")
        if report.preset is not None:
            preset = db.session.scalar(select(Preset).where(
                Preset.camera_id == camera.id, Preset.number == report.preset))
            if preset is None:
                raise IntakeError(400, "unknown_preset",
                                  f"camera {camera.code} has no preset {report.preset}")
    elif report.preset is not None:
        raise IntakeError(400, "missing_field", "preset needs camera_code")
    if report.lat is not None and report.lon is not None:
        return Placement(report.lat, report.lon, False, camera, preset)
    assert camera is not None
    point = None
    if report.pan is not None and report.tilt is not None:
        point = _aim(camera, report.pan, report.tilt)
    if point is None and preset is not None:
        if preset.aim_lat is not None and preset.aim_lon is not None:
            point = (preset.aim_lat, preset.aim_lon)
        else:
            point = _aim(camera, preset.pan_deg, preset.tilt_deg)
    lat, lon = point if point is not None else (camera.lat, camera.lon)
    return Placement(lat, lon, True, camera, preset)


# -- dedupe -------------------------------------------------------------------
def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def find_open_duplicate(domain: str, lat: float, lon: float, when: datetime) -> Alert | None:
    """The nearest open alert of ``domain`` within the dedupe radius and window."""
    radius = _setting("NRSC_DEDUPE_RADIUS_M", DEFAULT_DEDUPE_RADIUS_M)
    window = timedelta(minutes=_setting("NRSC_DEDUPE_WINDOW_MIN", DEFAULT_DEDUPE_WINDOW_MIN))
    if radius <= 0 or window <= timedelta(0):
        return None
    dlat = radius / 110_574.0
    dlon = radius / (111_320.0 * max(math.cos(math.radians(lat)), 0.01))
    candidates = db.session.scalars(select(Alert).where(
        Alert.domain == domain, Alert.status.in_(OPEN_ALERT_STATUSES),
        Alert.last_seen_at >= when - window, Alert.occurred_at <= when + window,
        Alert.lat.between(lat - dlat, lat + dlat), Alert.lon.between(lon - dlon, lon + dlon),
    )).all()
    scored = [(haversine_m(lat, lon, a.lat, a.lon), a.id, a) for a in candidates]
    scored = [s for s in scored if s[0] <= radius]
    return min(scored)[2] if scored else None


# Metres per degree of latitude, at least (the haversine sphere gives 111 195):
# a latitude band this many degrees per metre of radius is at least the radius tall.
MIN_METRES_PER_DEGREE_LAT = 110_574.0


def dedupe_lock_keys(domain: str, lat: float, radius_m: float) -> list[tuple[int, int]]:
    """The advisory lock keys an intake at ``lat`` holds: its latitude band and
    the two next to it, the band at least the dedupe radius tall. Two reports
    within the radius of each other are in the same or adjacent bands, so
    their key sets overlap and they queue; reports far apart, or of other
    domains, do not wait for each other. Ascending, so takers never deadlock."""
    band = math.floor(lat / (radius_m / MIN_METRES_PER_DEGREE_LAT))
    # A signed 32-bit key per domain, stable across processes (hash() is not).
    domain_key = zlib.crc32(f"nrsc.alert-dedupe:{domain}".encode()) - 2**31
    return [(domain_key, b) for b in (band - 1, band, band + 1)]


def serialise_dedupe(domain: str, lat: float) -> None:
    """Hold, until this transaction ends, the lock that orders the intakes
    that could join each other, so that of two reports arriving in the same
    instant one creates the alert and the other sees it and joins (otherwise
    both find no open alert and each opens its own).

    PostgreSQL: transaction-scoped advisory locks on :func:`dedupe_lock_keys`
    (READ COMMITTED: the duplicate search that follows sees what the previous
    holder committed). SQLite has one writer at a time: an UPDATE takes the
    database's write lock now, before the search, instead of at the insert.
    The intake has written nothing before this point, so the lock is the
    first write of its transaction and the search reads after it."""
    radius = _setting("NRSC_DEDUPE_RADIUS_M", DEFAULT_DEDUPE_RADIUS_M)
    window = _setting("NRSC_DEDUPE_WINDOW_MIN", DEFAULT_DEDUPE_WINDOW_MIN)
    if radius <= 0 or window <= 0:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        for key, band in dedupe_lock_keys(domain, lat, radius):
            db.session.execute(text("SELECT pg_advisory_xact_lock(:key, :band)"), {"key": key, "band": band})
    else:
        db.session.execute(text("UPDATE alerts SET id = id WHERE 0"))


# -- the whole intake ---------------------------------------------------------
def find_replay(source: str, source_event_id: str | None) -> Alert | None:
    """The alert an earlier delivery of this event created or joined."""
    if not source_event_id:
        return None
    return db.session.scalar(select(Alert).join(AlertOccurrence).where(
        AlertOccurrence.source == source, AlertOccurrence.source_event_id == source_event_id))


def _actor_kwargs(source: str, actor: User | None) -> dict[str, Any]:
    return {"actor": actor} if actor is not None else {"actor_label": f"source:{source}"}


def ingest(payload: dict[str, Any], images: Iterable[tuple[str | None, bytes]] = (), *,
           source: str, actor: User | None = None, manual: bool = False,
           require_images: bool = False, provenance: dict[str, Any] | None = None) -> tuple[Alert, bool]:
    """Take in one reported event. Returns ``(alert, created)``; ``created`` is
    False for a replay of an event already taken in, or when the event joined
    an open duplicate. Commits; raises :class:`IntakeError` having written
    nothing.

    ``provenance`` (the detection pipeline's): ``detector``, ``visit_id``,
    ``location_method``, ``located_by`` and ``uncertainty`` of the alert; a
    joined duplicate takes the new position when its ellipse is smaller."""
    try:
        return _ingest(payload, list(images), source=source, actor=actor, manual=manual,
                       require_images=require_images, provenance=provenance)
    except IntakeError:
        db.session.rollback()
        raise
    except evidence.EvidenceError as exc:
        db.session.rollback()
        raise IntakeError(exc.status, exc.code, exc.message) from None
    except Exception:
        db.session.rollback()
        raise


def _ingest(payload: dict[str, Any], images: list[tuple[str | None, bytes]], *, source: str,
            actor: User | None, manual: bool, require_images: bool,
            provenance: dict[str, Any] | None = None) -> tuple[Alert, bool]:
    report = parse_report(payload)
    images = images + inline_images(payload)

    replay = find_replay(source, report.source_event_id)
    if replay is not None:
        _check_same_facts(replay, source, report)
        checked = [evidence.check_image(data, name or f"image {i + 1}") for i, (name, data) in enumerate(images)]
        return _replayed(replay, source, report, actor, checked), False

    host = current_app.extensions["nrsc.plugins"]
    domain = host.domain(report.domain)
    if domain is None:
        raise IntakeError(400, "unknown_domain", f"unknown domain {report.domain!r}; "
                          f"known: {', '.join(sorted(host.domains)) or 'none'}")
    if domain.event_type(report.event_type) is None:
        raise IntakeError(400, "unknown_event_type",
                          f"domain {domain.code} has no event type {report.event_type!r}; "
                          f"known: {', '.join(e.code for e in domain.event_types)}")
    placement = place(report)
    gis_index = gis.get_index()
    if not gis.in_district(placement.lat, placement.lon, gis_index):
        raise IntakeError(400, "outside_district",
                          f"({placement.lat:.6f}, {placement.lon:.6f}) is outside the district's townships")
    max_images = int(_setting("NRSC_MAX_IMAGES", DEFAULT_MAX_IMAGES))
    if require_images and not images:
        raise IntakeError(400, "missing_images", "send at least one snapshot image")
    if len(images) > max_images:
        raise IntakeError(400, "too_many_images", f"at most {max_images} images per alert")
    checked = [evidence.check_image(data, name or f"image {i + 1}") for i, (name, data) in enumerate(images)]

    # What a new alert needs, worked out before the lock so that it is held
    # briefly: the GIS context and the snapshots' files and print copies (their
    # rows are added under the lock).
    context = gis.context_at(placement.lat, placement.lon, report.occurred_at, gis_index)
    town = gis.township_at(placement.lat, placement.lon, gis_index)
    for image in checked:
        evidence.put_on_disk(image, "snapshot")
    serialise_dedupe(domain.code, placement.lat)
    now = clock.now()
    duplicate = find_open_duplicate(domain.code, placement.lat, placement.lon, report.occurred_at)
    if duplicate is not None:
        alert, created = duplicate, False
        alert.occurrences = Alert.occurrences + 1
        alert.last_seen_at = max(alert.last_seen_at, report.occurred_at)
        if report.score is not None and (alert.score is None or report.score > alert.score):
            alert.score = report.score
        if provenance:
            _take_better_location(alert, placement, provenance)
    else:
        alert, created = _new_alert(report, placement, domain, source=source, actor=actor,
                                    manual=manual, now=now, context=context, town=town), True
        for name in PROVENANCE_FIELDS:
            if provenance and provenance.get(name) is not None:
                setattr(alert, name, provenance[name])
    try:
        occurrence = _record(alert, created, report, placement, checked, source=source,
                             actor=actor, manual=manual)
        db.session.commit()
    except IntegrityError:
        # Another delivery of the same event won the race (the unique
        # (source, source_event_id) of alerts or occurrences): answer with its alert.
        db.session.rollback()
        existing = find_replay(source, report.source_event_id)
        if existing is None:
            raise
        return _replayed(existing, source, report, actor, checked), False
    log.debug("intake %s/%s → alert %s occurrence %s", source, report.source_event_id, alert.id, occurrence.id)
    if not created:
        db.session.refresh(alert)
    elif alert.camera_id is not None and not manual:
        from webapp.cameras.clips import queue_clip_for_alert
        queue_clip_for_alert(alert)  # pushed alerts from our own cameras get a clip too
    return alert, created


PROVENANCE_FIELDS = ("detector", "visit_id", "location_method", "located_by", "uncertainty")


def _ellipse_area(uncertainty: Any) -> float:
    try:
        return math.pi * float(uncertainty["semi_major_m"]) * float(uncertainty["semi_minor_m"])
    except (KeyError, TypeError, ValueError):
        return math.inf


def _take_better_location(alert: Alert, placement: Placement, provenance: dict[str, Any]) -> None:
    """A joined sighting whose position is known better (a smaller 95% ellipse)
    moves the alert there; the cameras that placed it are merged."""
    new = provenance.get("uncertainty")
    if new is None or _ellipse_area(new) >= _ellipse_area(alert.uncertainty):
        return
    alert.lat, alert.lon, alert.location_estimated = placement.lat, placement.lon, False
    alert.uncertainty = new
    alert.location_method = provenance.get("location_method") or alert.location_method
    alert.located_by = sorted({*(alert.located_by or []), *(provenance.get("located_by") or [])})


def _record(alert: Alert, created: bool, report: Report, placement: Placement,
            checked: list[evidence.CheckedImage], *, source: str, actor: User | None,
            manual: bool) -> AlertOccurrence:
    """Add the sighting, its snapshots and the audit event to the session."""
    occurrence = AlertOccurrence(
        alert=alert, source=source, source_event_id=report.source_event_id,
        occurred_at=report.occurred_at, lat=placement.lat, lon=placement.lon, score=report.score,
        boxes=report.boxes, camera_id=placement.camera.id if placement.camera else None,
        preset_number=report.preset)
    db.session.add(occurrence)
    db.session.flush()
    for image in checked:
        evidence.store_image(image, image.filename, "snapshot", uploaded_by=actor,
                             alert_id=alert.id, occurrence_id=occurrence.id)
    detail = {"source": source, "source_event_id": report.source_event_id, "occurrence_id": occurrence.id,
              "images": len(checked), "sha256": [i.sha256 for i in checked], "lat": placement.lat, "lon": placement.lon,
              "location_estimated": placement.estimated}
    if created:
        audit.record("alert_created", "alert", alert.id, to_state="new", data=detail,
                     note="manual" if manual else None, **_actor_kwargs(source, actor))
    else:
        audit.record("alert_occurrence_joined", "alert", alert.id, from_state=alert.status,
                     to_state=alert.status, data=detail, **_actor_kwargs(source, actor))
    return occurrence


def _new_alert(report: Report, placement: Placement, domain, *, source: str, actor: User | None,
               manual: bool, now: datetime, context: GisContext, town) -> Alert:
    alert = Alert(
        domain=domain.code, event_type=report.event_type, status="new", source=source,
        source_event_id=report.source_event_id, manual=manual,
        reporter_id=actor.id if (manual and actor) else None,
        occurred_at=report.occurred_at, created_at=now, last_seen_at=report.occurred_at, occurrences=1,
        lat=placement.lat, lon=placement.lon, location_estimated=placement.estimated,
        camera=placement.camera, preset_number=report.preset, pan_deg=report.pan, tilt_deg=report.tilt,
        zoom=report.zoom, label=report.label, score=report.score, boxes=report.boxes, text=report.text,
        township_id=town.id if town else None, gis_context=gis.context_to_json(context),
        review_due_at=review.review_due(domain.code, now),
    )
    db.session.add(alert)
    _prejudge(alert, context)
    return alert


def _prejudge(alert: Alert, context: GisContext) -> None:
    host = current_app.extensions["nrsc.plugins"]
    result = host.prejudge(alert=alert_view(alert), context=context)
    if result is not None:
        alert.prejudgement_level = result.level
        alert.prejudgement_reasons = list(result.reasons)


def _check_same_facts(alert: Alert, source: str, report: Report) -> None:
    """A replay must report the same event: same domain and type, and (when it
    gives coordinates) a place within the dedupe radius of the first report."""
    occurrence = db.session.scalar(select(AlertOccurrence).where(
        AlertOccurrence.source == source, AlertOccurrence.source_event_id == report.source_event_id))
    conflict = []
    if report.domain != alert.domain:
        conflict.append(f"domain {report.domain!r} (first report: {alert.domain!r})")
    if report.event_type != alert.event_type:
        conflict.append(f"event_type {report.event_type!r} (first report: {alert.event_type!r})")
    if occurrence is not None and report.lat is not None and report.lon is not None \
            and occurrence.lat is not None and occurrence.lon is not None:
        radius = _setting("NRSC_DEDUPE_RADIUS_M", DEFAULT_DEDUPE_RADIUS_M)
        distance = haversine_m(report.lat, report.lon, occurrence.lat, occurrence.lon)
        if distance > radius:
            conflict.append(f"a place {distance:.0f} m from the first report (limit {radius:.0f} m)")
    if conflict:
        raise IntakeError(409, "idempotency_conflict",
                          f"source_event_id {report.source_event_id!r} was already used for another event: "
                          + "; ".join(conflict))


def _replayed(alert: Alert, source: str, report: Report, actor: User | None,
              checked: list[evidence.CheckedImage] = ()) -> Alert:
    """Answer a replay with the first alert. Images it brings are kept when
    the first delivery lacked them (a later snapshot of the same event), and
    restore a file that a crash lost before evidence was written file-first."""
    added = restored = 0
    if checked:
        occurrence = db.session.scalar(select(AlertOccurrence).where(
            AlertOccurrence.source == source, AlertOccurrence.source_event_id == report.source_event_id))
        rows = {r.sha256: r for r in db.session.scalars(select(EvidenceFile).where(EvidenceFile.alert_id == alert.id))}
        for image in checked:
            row = rows.get(image.sha256)
            if row is not None:
                restored += evidence.restore_missing(row, image.data)
                continue
            rows[image.sha256] = evidence.store_image(
                image, image.filename, "snapshot", uploaded_by=actor, alert_id=alert.id,
                occurrence_id=occurrence.id if occurrence is not None else None)
            added += 1
    audit.record("alert_intake_replayed", "alert", alert.id, data={
        "source": source, "source_event_id": report.source_event_id,
        **({"images_added": added} if added else {}), **({"images_restored": restored} if restored else {})},
        **_actor_kwargs(source, actor))
    db.session.commit()
    return alert
