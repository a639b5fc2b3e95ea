"""Intake endpoints on the ``api`` blueprint (POST/GET /api/v1/alerts) and the
evidence file route ``/files/<id>`` for logged-in users."""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, g, request, send_file, url_for
from sqlalchemy import select
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from webapp.alerts import evidence
from webapp.alerts.intake import FIELDS, IntakeError, ingest
from webapp.api.base import ERROR_CONTENT, OPENAPI_COMPONENTS, api_auth, bp, documented
from webapp.extensions import db
from webapp.models import Alert, EvidenceFile, OrderParticipant, User, WorkOrder
from webapp.platform.errors import api_error
from webapp.platform.security import (
    ALL_UNITS_ROLES,
    current_user,
    login_required,
    visible_unit_ids,
)

# Roles whose user-bound tokens may report alerts (leaders only read).
REPORTING_ROLES = frozenset({"duty_officer", "duty_lead", "unit_handler", "unit_leader", "office_staff"})

files_bp = Blueprint("files", __name__)

# -- OpenAPI schemas ------------------------------------------------------------
_BOX = {"oneOf": [
    {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}, "minItems": 4, "maxItems": 4,
     "description": "[x1, y1, x2, y2] normalised to the frame"},
    {"type": "object", "additionalProperties": False, "properties": {
        "box": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1},
                "minItems": 4, "maxItems": 4},
        "box_px": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
        "label": {"type": "string"}, "score": {"type": "number"}}},
]}
_FIELD_SCHEMAS: dict[str, dict[str, Any]] = {
    "domain": {"type": "string", "maxLength": 40, "description": "domain code declared by a plugin (fire, mining…)"},
    "event_type": {"type": "string", "maxLength": 60, "description": "an event type of that domain"},
    "source_event_id": {"type": "string", "maxLength": 120,
                        "description": "the sender's event id; a retry with the same id returns the same alert"},
    "occurred_at": {"type": "string", "format": "date-time",
                    "description": "ISO 8601 with an offset (+08:00 or Z); default: now"},
    "lat": {"type": "number", "minimum": -90, "maximum": 90, "description": "WGS84; must lie in the district"},
    "lon": {"type": "number", "minimum": -180, "maximum": 180},
    "camera_code": {"type": "string", "maxLength": 40,
                    "description": "without lat/lon the alert is placed where the camera looks (estimated)"},
    "preset": {"type": "integer", "description": "preset number of the camera"},
    "pan": {"type": "number"}, "tilt": {"type": "number"}, "zoom": {"type": "number"},
    "label": {"type": "string", "maxLength": 80},
    "score": {"type": "number", "minimum": 0, "maximum": 1},
    "boxes": {"type": "array", "maxItems": 100, "items": _BOX},
    "text": {"type": "string", "maxLength": 2000},
}
assert set(_FIELD_SCHEMAS) == set(FIELDS)
_REQUIRED = ["domain", "event_type"]
_LOCATION = {"anyOf": [{"required": ["lat", "lon"]}, {"required": ["camera_code"]}]}
OPENAPI_COMPONENTS["schemas"]["AlertIntake"] = {
    "type": "object", "additionalProperties": False, "required": _REQUIRED, **_LOCATION,
    "properties": {**_FIELD_SCHEMAS, "images": {
        "type": "array", "maxItems": 10, "description": "snapshots inline, base64 (JPEG, PNG or WebP)",
        "items": {"type": "object", "required": ["data"], "additionalProperties": False, "properties": {
            "filename": {"type": "string"}, "data": {"type": "string", "contentEncoding": "base64"}}}}},
}
OPENAPI_COMPONENTS["schemas"]["AlertIntakeMultipart"] = {
    "type": "object", "required": [*_REQUIRED, "images"], **_LOCATION,
    "description": "the same fields as form fields (boxes as a JSON string) plus one or more image files",
    "properties": {**{k: ({"type": "string", "description": "JSON list of boxes"} if k == "boxes" else v)
                      for k, v in _FIELD_SCHEMAS.items()},
                   "images": {"type": "array", "minItems": 1, "maxItems": 10,
                              "items": {"type": "string", "format": "binary"}}},
}
OPENAPI_COMPONENTS["schemas"]["Alert"] = {
    "type": "object", "required": ["id", "status", "domain", "event_type", "lat", "lon"],
    "properties": {
        "id": {"type": "integer"}, "status": {"type": "string"}, "domain": {"type": "string"},
        "event_type": {"type": "string"}, "source": {"type": "string"},
        "source_event_id": {"type": ["string", "null"]}, "occurred_at": {"type": "string", "format": "date-time"},
        "created_at": {"type": "string", "format": "date-time"},
        "last_seen_at": {"type": "string", "format": "date-time"},
        "occurrences": {"type": "integer"}, "lat": {"type": "number"}, "lon": {"type": "number"},
        "location_estimated": {"type": "boolean"}, "camera_code": {"type": ["string", "null"]},
        "township": {"type": ["object", "null"]}, "gis_context": {"type": "object"},
        "prejudgement": {"type": "object"}, "occurrence_list": {"type": "array"},
        "evidence": {"type": "array"},
    },
}
_ALERT = {"application/json": {"schema": {"$ref": "#/components/schemas/Alert"}}}


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def alert_json(alert: Alert, *, detail: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": alert.id, "status": alert.status, "domain": alert.domain, "event_type": alert.event_type,
        "source": alert.source, "source_event_id": alert.source_event_id, "manual": alert.manual,
        "occurred_at": _iso(alert.occurred_at), "created_at": _iso(alert.created_at),
        "last_seen_at": _iso(alert.last_seen_at), "occurrences": alert.occurrences,
        "lat": alert.lat, "lon": alert.lon, "location_estimated": alert.location_estimated,
        "camera_code": alert.camera.code if alert.camera else None, "preset": alert.preset_number,
        "label": alert.label, "score": alert.score,
        "township": ({"code": alert.township.code, "name": alert.township.name} if alert.township else None),
        "prejudgement": {"level": alert.prejudgement_level, "reasons": alert.prejudgement_reasons or []},
        "review_due_at": _iso(alert.review_due_at),
    }
    if detail:
        data.update({
            "pan": alert.pan_deg, "tilt": alert.tilt_deg, "zoom": alert.zoom, "boxes": alert.boxes or [],
            "text": alert.text, "gis_context": alert.gis_context or {},
            "duplicate_of": alert.duplicate_of_id, "verdict_reason": alert.verdict_reason,
            "occurrence_list": [{
                "id": o.id, "source": o.source, "source_event_id": o.source_event_id,
                "occurred_at": _iso(o.occurred_at), "lat": o.lat, "lon": o.lon, "score": o.score,
                "boxes": o.boxes or [], "preset": o.preset_number} for o in alert.occurrence_rows],
            "evidence": [{
                "id": e.id, "url": url_for("files.evidence_file", file_id=e.id), "sha256": e.sha256,
                "content_type": e.content_type, "size": e.size, "width": e.width, "height": e.height,
                "occurrence_id": e.occurrence_id, "original_name": e.original_name} for e in alert.evidence],
        })
    return data


# -- request parsing ----------------------------------------------------------------
def _read_request() -> tuple[dict[str, Any], list[tuple[str | None, bytes]], bool]:
    """(payload, images, multipart?) from a JSON or multipart request."""
    ctype = request.mimetype
    if ctype == "application/json":
        raw = request.get_data(cache=False)
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise IntakeError(400, "invalid_json", f"the body is not valid JSON ({exc})") from None
        return payload, [], False
    if ctype == "multipart/form-data":
        try:
            form, files = request.form, request.files
        except RequestEntityTooLarge:
            raise
        except (BadRequest, ValueError) as exc:
            raise IntakeError(400, "invalid_multipart", f"the multipart body cannot be read ({exc})") from None
        if not form and not files and request.content_length:
            # Werkzeug yields nothing (no error) for a body it cannot parse.
            raise IntakeError(400, "invalid_multipart", "the multipart body has no readable parts")
        payload = {}
        for key in form:
            values = form.getlist(key)
            if len(values) > 1:
                raise IntakeError(400, "invalid_field", f"{key} is given more than once")
            payload[key] = values[0]
        images = []
        for key in files:
            if key != "images":
                raise IntakeError(400, "unknown_field", f"file field {key!r}: send snapshots as 'images'")
            for storage in files.getlist(key):
                images.append((storage.filename, storage.read()))
        return payload, images, True
    raise IntakeError(415, "unsupported_media_type",
                      "send application/json or multipart/form-data")


def _source_and_actor() -> tuple[str, User | None]:
    if g.api_source is not None:
        return g.api_source, None
    return f"user:{g.api_user.login}", g.api_user


@bp.route("/alerts", methods=["POST"])
@api_auth(roles=REPORTING_ROLES, source_allowed=True)
@documented("/alerts", "post", {
    "summary": "Report an alert (AI boxes, NVRs, other systems)",
    "description": ("Idempotent on (source, source_event_id): a retry returns 200 with the same alert. "
                    "A report within the dedupe radius and window of an open alert of the same domain "
                    "joins it (200). The source is the token's source name, or user:<login> for a "
                    "user-bound token."),
    "requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/AlertIntake"}},
        "multipart/form-data": {"schema": {"$ref": "#/components/schemas/AlertIntakeMultipart"},
                                "encoding": {"images": {"contentType": "image/jpeg, image/png, image/webp"}}},
    }},
    "responses": {
        "201": {"description": "a new alert", "content": _ALERT},
        "200": {"description": "a replay of an event already taken in, or joined to an open duplicate",
                "content": _ALERT},
        "400": {"description": "invalid body, unknown domain/event type/camera, outside the district, "
                              "missing or non-image files", "content": ERROR_CONTENT},
        "413": {"description": "an image over NRSC_MAX_IMAGE_BYTES or NRSC_MAX_IMAGE_PIXELS", "content": ERROR_CONTENT},
        "415": {"description": "neither JSON nor multipart", "content": ERROR_CONTENT},
    },
})
def post_alert():
    try:
        payload, images, multipart = _read_request()
        source, actor = _source_and_actor()
        alert, created = ingest(payload, images, source=source, actor=actor, require_images=multipart)
    except IntakeError as exc:
        return api_error(exc.status, exc.code, exc.message)
    body = alert_json(alert)
    body["created"] = created
    return body, (201 if created else 200)


def can_see_alert(alert: Alert, *, user: User | None, source: str | None) -> bool:
    """Duty, office and leaders see every alert; a unit sees alerts in its
    township or behind its work orders; a source sees what it reported."""
    if source is not None:
        return alert.source == source or any(o.source == source for o in alert.occurrence_rows)
    if user is None:
        return False
    if user.role in ALL_UNITS_ROLES or alert.reporter_id == user.id:
        return True
    ids = visible_unit_ids(user) or set()
    if alert.township is not None and alert.township.unit_id in ids:
        return True
    return db.session.scalar(select(OrderParticipant.id).join(WorkOrder).where(
        WorkOrder.alert_id == alert.id, OrderParticipant.unit_id.in_(ids)).limit(1)) is not None


@bp.route("/alerts/<int:alert_id>", methods=["GET"])
@api_auth(source_allowed=True)
@documented("/alerts/{id}", "get", {
    "summary": "One alert with its GIS context, occurrences and evidence URLs",
    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
    "responses": {"200": {"description": "the alert", "content": _ALERT},
                  "404": {"description": "no such alert (or not visible to this token)", "content": ERROR_CONTENT}},
})
def get_alert(alert_id: int):
    alert = db.session.get(Alert, alert_id)
    if alert is None or not can_see_alert(alert, user=g.api_user, source=g.api_source):
        return api_error(404, "not_found", f"no alert {alert_id}")
    return alert_json(alert)


# -- evidence files -------------------------------------------------------------------
def can_see_file(row: EvidenceFile, user: User) -> bool:
    if user.role in ALL_UNITS_ROLES or row.uploaded_by_id == user.id:
        return True
    if row.alert_id is not None:
        alert = db.session.get(Alert, row.alert_id)
        if alert is not None and can_see_alert(alert, user=user, source=None):
            return True
    if row.order_id is not None:
        ids = visible_unit_ids(user) or set()
        return db.session.scalar(select(OrderParticipant.id).where(
            OrderParticipant.order_id == row.order_id, OrderParticipant.unit_id.in_(ids)).limit(1)) is not None
    return False


@files_bp.route("/files/<int:file_id>")
@login_required
def evidence_file(file_id: int):
    row = db.session.get(EvidenceFile, file_id)
    # 404 either way, so ids of files one may not see are not confirmed.
    if row is None or not can_see_file(row, current_user()):
        abort(404)
    path = evidence.absolute_path(row)
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype=row.content_type, conditional=True, etag=row.sha256, max_age=3600)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


def register(app) -> None:
    app.register_blueprint(files_bp)
