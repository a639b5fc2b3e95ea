"""Everything under /api/v1/alerts, on one blueprint: intake (POST), one
alert (GET), the review actions (claim, review, acknowledge, correct) and
dispatch (the plan the routing rule proposes, and dispatching it, through the
orders area's workflow). Every view declares its schemas with
:func:`~webapp.api.schema.operation`; every alert is answered in one shape,
:func:`alert_json`, documented by :class:`~webapp.alerts.schemas.AlertOut`."""
from __future__ import annotations

import uuid
from typing import Any, Callable

from flask import Blueprint, g, jsonify, request, url_for

from webapp.alerts import listing, review
from webapp.alerts.intake import IntakeError, ingest
from webapp.alerts.review import ReviewError
from webapp.alerts.schemas import (
    AlertIntake,
    AlertList,
    AlertListQuery,
    AlertOut,
    ClaimBody,
    CorrectBody,
    ManualAlertBody,
    ReleaseBody,
    ReviewBody,
)
from webapp.api.base import api_auth
from webapp.api.schema import BodyError, operation, read_body, read_form
from webapp.extensions import csrf, db
from webapp.models import Alert, User
from webapp.orders import errors, planning
from webapp.orders.api import order_json
from webapp.orders.schemas import DispatchBody, DispatchPlanOut, OrderOut
from webapp.org import visibility
from webapp.platform.errors import api_error
from webapp.platform.security import DUTY_ROLES

bp = Blueprint("alerts_api", __name__)
csrf.exempt(bp)

# Roles whose user-bound tokens may report alerts (leaders only read).
REPORTING_ROLES = frozenset({"duty_officer", "duty_lead", "unit_handler", "unit_leader", "office_staff"})
# Manual alerts (人工报警) are the duty office's, as on the console's form.
MANUAL_ROLES = DUTY_ROLES
MANUAL_SOURCE = "manual"
TAGS = ("alerts",)


# -- the one alert shape --------------------------------------------------------------
def _iso(value) -> str | None:
    return value.isoformat() if value else None


def alert_json(alert: Alert) -> dict[str, Any]:
    """The alert as every endpoint answers it (schema: AlertOut)."""
    endpoint = review.dispatch_endpoint() if alert.status == "confirmed" else None
    return {
        "id": alert.id, "status": alert.status, "domain": alert.domain, "event_type": alert.event_type,
        "version": alert.version, "source": alert.source, "source_event_id": alert.source_event_id,
        "manual": alert.manual, "occurred_at": _iso(alert.occurred_at), "created_at": _iso(alert.created_at),
        "last_seen_at": _iso(alert.last_seen_at), "occurrences": alert.occurrences,
        "lat": alert.lat, "lon": alert.lon, "location_estimated": alert.location_estimated,
        "camera_code": alert.camera.code if alert.camera else None, "preset": alert.preset_number,
        "pan": alert.pan_deg, "tilt": alert.tilt_deg, "zoom": alert.zoom,
        "label": alert.label, "score": alert.score, "boxes": alert.boxes or [], "text": alert.text,
        "township": ({"code": alert.township.code, "name": alert.township.name} if alert.township else None),
        "gis_context": alert.gis_context or {},
        "prejudgement": {"level": alert.prejudgement_level, "reasons": alert.prejudgement_reasons or []},
        "review_due_at": _iso(alert.review_due_at), "review_overdue": bool(alert.review_overdue),
        "claimed_by": alert.claimed_by.login if alert.claimed_by else None,
        "claimed_at": _iso(alert.claimed_at),
        "verdict_by": alert.verdict_by.login if alert.verdict_by else None,
        "verdict_at": _iso(alert.verdict_at),
        "reason": alert.verdict_reason, "verdict_reason": alert.verdict_reason, "note": alert.verdict_note,
        "duplicate_of": alert.duplicate_of_id, "acknowledged_at": _iso(alert.acknowledged_at),
        "dispatch_url": url_for(endpoint, alert_id=alert.id) if endpoint else None,
        "occurrence_list": [{
            "id": o.id, "source": o.source, "source_event_id": o.source_event_id,
            "occurred_at": _iso(o.occurred_at), "lat": o.lat, "lon": o.lon, "score": o.score,
            "boxes": o.boxes or [], "preset": o.preset_number} for o in alert.occurrence_rows],
        "evidence": [{
            "id": e.id, "url": url_for("files.evidence_file", file_id=e.id), "sha256": e.sha256,
            "content_type": e.content_type, "size": e.size, "width": e.width, "height": e.height,
            "occurrence_id": e.occurrence_id, "original_name": e.original_name} for e in alert.evidence],
    }


def alert_json_for(alert: Alert, source: str | None) -> dict[str, Any]:
    """The alert as a token sees it: a source token whose report joined
    another source's alert sees only its own occurrences and their evidence."""
    data = alert_json(alert)
    if source is None or alert.source == source:
        return data
    own = [o for o in data["occurrence_list"] if o["source"] == source]
    own_ids = {o["id"] for o in own}
    first = own[0] if own else {}
    data.update({
        "source": source, "source_event_id": first.get("source_event_id"),
        "occurrence_list": own, "evidence": [e for e in data["evidence"] if e["occurrence_id"] in own_ids],
        "text": None, "label": None, "score": first.get("score"), "boxes": first.get("boxes", []),
        "camera_code": None, "preset": first.get("preset"), "pan": None, "tilt": None, "zoom": None,
        "verdict_reason": None, "reason": None, "note": None,
    })
    return data


# -- intake -----------------------------------------------------------------------------
def _read_intake() -> tuple[dict[str, Any], list[tuple[str | None, bytes]], bool]:
    """(payload, images, multipart?). Validation itself is intake's (MQTT
    shares it), against the same AlertIntake model."""
    if request.mimetype == "application/json":
        payload, _files = read_body()
        return payload, [], False
    if request.mimetype == "multipart/form-data":
        payload, files = read_form(("images",))
        if not payload and not files and request.content_length:
            # Werkzeug yields nothing (no error) for a body it cannot parse.
            raise BodyError(400, "invalid_multipart", "the multipart body has no readable parts")
        return payload, [(f.filename, f.read()) for f in files], True
    raise BodyError(415, "unsupported_media_type", "send application/json or multipart/form-data")


def _source_and_actor() -> tuple[str, User | None]:
    if g.api_source is not None:
        return g.api_source, None
    return f"user:{g.api_user.login}", g.api_user


@bp.route("", methods=["GET"])
@api_auth(source_allowed=True)
@operation(
    "The alerts this token may see (the review queue), filtered, in pages",
    description=("Newest first by default. Pages follow next_cursor: send it back as cursor with the "
                 "same filters; alerts taken in meanwhile never shift the pages still to come. "
                 "Duty, office and leaders see every alert; a unit its townships' alerts and those "
                 "behind orders it takes part in; a source token the alerts it reported."),
    query=AlertListQuery, tags=TAGS,
    responses={200: ("a page of alerts", AlertList),
               400: "a filter out of range, an unknown domain, township or camera, since not before "
                    "until, or a cursor that is invalid or belongs to other filters"})
def list_alerts(query: AlertListQuery):
    try:
        result = listing.page(query, g.api_user, g.api_source)
    except listing.ListError as exc:
        return api_error(exc.status, exc.code, exc.message)
    return jsonify(alerts=[listing.summary_json(a, g.api_source) for a in result.alerts],
                   next_cursor=result.next_cursor, limit=query.limit)


@bp.route("", methods=["POST"])
@api_auth(roles=REPORTING_ROLES, source_allowed=True)
@operation(
    "Report an alert (AI boxes, NVRs, other systems)",
    description=("Idempotent on (source, source_event_id): a retry returns 200 with the same alert. "
                 "A report within the dedupe radius and window of an open alert of the same domain "
                 "joins it (200). The source is the token's source name, or user:<login> for a "
                 "user-bound token. As multipart, the same fields are form fields (boxes as JSON "
                 "text) and at least one snapshot goes in `images`."),
    body=AlertIntake, form=True, files={"images": "snapshots (JPEG, PNG or WebP); at least one"},
    validate=False, tags=TAGS,
    responses={
        201: ("a new alert", AlertOut),
        200: ("a replay of an event already taken in, or joined to an open duplicate", AlertOut),
        400: "invalid body, unknown domain/event type/camera, outside the district, missing or non-image files",
        413: "an image over NRSC_MAX_IMAGE_BYTES or NRSC_MAX_IMAGE_PIXELS, or a body over NRSC_MAX_UPLOAD_MB",
        415: "neither JSON nor multipart",
    })
def post_alert():
    try:
        payload, images, multipart = _read_intake()
        source, actor = _source_and_actor()
        alert, created = ingest(payload, images, source=source, actor=actor, require_images=multipart)
    except (IntakeError, BodyError) as exc:
        return api_error(exc.status, exc.code, exc.message)
    body = alert_json_for(alert, g.api_source)
    body["created"] = created
    return body, (201 if created else 200)


def _visible_alert(alert_id: int) -> Alert | None:
    alert = db.session.get(Alert, alert_id)
    if alert is None or not visibility.can_see_alert(g.api_user, alert, source=g.api_source):
        return None
    return alert


@bp.route("/<int:alert_id>", methods=["GET"])
@api_auth(source_allowed=True)
@operation("One alert with its GIS context, occurrences and evidence URLs", tags=TAGS,
           responses={200: ("the alert", AlertOut), 404: "no such alert (or not visible to this token)"})
def get_alert(alert_id: int):
    alert = _visible_alert(alert_id)
    if alert is None:
        return api_error(404, "not_found", f"no alert {alert_id}")
    return alert_json_for(alert, g.api_source)


@bp.route("/manual", methods=["POST"])
@api_auth(roles=MANUAL_ROLES)
@operation(
    "Raise a manual alert (人工报警) reported by a person",
    description=("The console's manual alert form over the API: the alert is marked manual, its source "
                 "is manual and its reporter the token's user. Give lat and lon, or a camera_code (placed "
                 "where the camera looks); text is required. source_event_id is an idempotency key of "
                 "the caller's: sending it again returns the same alert (200). Photos go inline as "
                 "base64 images, or as multipart files in `images`."),
    body=ManualAlertBody, form=True, files={"images": "photos (JPEG, PNG or WebP)"}, tags=TAGS,
    responses={
        201: ("the new manual alert", AlertOut),
        200: ("a repeat of the same idempotency key, or joined to an open duplicate nearby", AlertOut),
        400: "invalid body, unknown domain/event type/camera/preset, outside the district, bad images",
        409: "the idempotency key was already used for another event",
        413: "an image over NRSC_MAX_IMAGE_BYTES or NRSC_MAX_IMAGE_PIXELS, or a body over NRSC_MAX_UPLOAD_MB",
    })
def post_manual_alert(body: ManualAlertBody):
    user = g.api_user
    payload = body.model_dump(mode="json", exclude_none=True)
    # Keys are the caller's: namespaced by user, so two officers' keys never meet.
    key = body.source_event_id or uuid.uuid4().hex
    payload["source_event_id"] = f"{user.login}:{key}"[:120]
    images = [(f.filename, f.read()) for f in (g.get("api_files") or [])]
    try:
        alert, created = ingest(payload, images, source=MANUAL_SOURCE, actor=user, manual=True)
    except IntakeError as exc:
        return api_error(exc.status, exc.code, exc.message)
    body_out = alert_json(alert)
    body_out["created"] = created
    return body_out, (201 if created else 200)


# -- review -------------------------------------------------------------------------------
_CONFLICT = ("claimed by someone else, already decided, or stale version "
             "(the body names who and when, and what changed)")


def _review_call(alert_id: int, action: Callable[[Alert], None]):
    alert = db.session.get(Alert, alert_id)
    if alert is None:
        return api_error(404, "not_found", f"no alert #{alert_id}")
    try:
        action(alert)
    except ReviewError as exc:
        db.session.rollback()
        return jsonify(exc.as_json()), exc.status
    return jsonify(alert_json(alert))


@bp.route("/<int:alert_id>/review", methods=["POST"])
@api_auth(roles=DUTY_ROLES)
@operation("Record the review verdict of an alert (研判)", body=ReviewBody, tags=TAGS, responses={
    200: ("the alert after the verdict", AlertOut),
    400: "invalid verdict, reason code or duplicate_of", 404: "no such alert", 409: _CONFLICT})
def review_alert(alert_id: int, body: ReviewBody):
    return _review_call(alert_id, lambda alert: review.decide(
        alert, g.api_user, verdict=body.verdict, reason=body.reason, duplicate_of=body.duplicate_of,
        note=body.note, version=body.version))


@bp.route("/<int:alert_id>/claim", methods=["POST"])
@api_auth(roles=DUTY_ROLES)
@operation("Claim an alert for review; a duty lead may take over with takeover=true", body=ClaimBody,
           tags=TAGS, responses={200: ("the alert, claimed", AlertOut), 404: "no such alert", 409: _CONFLICT})
def claim_alert(alert_id: int, body: ClaimBody):
    return _review_call(alert_id, lambda alert: review.claim(
        alert, g.api_user, takeover=body.takeover, version=body.version))


@bp.route("/<int:alert_id>/release", methods=["POST"])
@api_auth(roles=DUTY_ROLES)
@operation("Release a claimed alert back to the queue: the claimant, or a duty lead freeing another's claim",
           body=ReleaseBody, tags=TAGS,
           responses={200: ("the alert, back in the queue", AlertOut), 404: "no such alert",
                      409: "not claimed, claimed by someone else (for an officer), already decided, "
                           "or stale version"})
def release_alert(alert_id: int, body: ReleaseBody):
    return _review_call(alert_id, lambda alert: review.release(alert, g.api_user, version=body.version))


@bp.route("/<int:alert_id>/acknowledge", methods=["POST"])
@api_auth(roles=DUTY_ROLES)
@operation("Acknowledge an urgent alert's alarm", tags=TAGS,
           responses={200: ("the alert", AlertOut), 404: "no such alert"})
def acknowledge_alert(alert_id: int):
    return _review_call(alert_id, lambda alert: review.acknowledge(alert, g.api_user))


@bp.route("/<int:alert_id>/correct", methods=["POST"])
@api_auth(roles=DUTY_ROLES)
@operation("Correct an alert's domain and event type (re-runs prejudgement)", body=CorrectBody, tags=TAGS,
           responses={200: ("the corrected alert", AlertOut),
                      400: "unknown domain or event type", 404: "no such alert", 409: _CONFLICT})
def correct_alert(alert_id: int, body: CorrectBody):
    return _review_call(alert_id, lambda alert: review.correct(
        alert, g.api_user, domain=body.domain, event_type=body.event_type, version=body.version))


# -- dispatch (the orders area's workflow) ----------------------------------------------------
@bp.route("/<int:alert_id>/dispatch", methods=["GET"])
@api_auth(roles=DUTY_ROLES)
@operation("The dispatch plan the domain's routing rule proposes for a confirmed alert", tags=TAGS,
           responses={200: ("the prefilled plan", DispatchPlanOut), 404: "no such alert"})
def dispatch_plan(alert_id: int):
    alert = db.session.get(Alert, alert_id)
    if alert is None:
        return api_error(404, "not_found", f"no alert #{alert_id}")
    return jsonify(planning.prefill(alert).as_json())


@bp.route("/<int:alert_id>/dispatch", methods=["POST"])
@api_auth(roles=DUTY_ROLES)
@operation("Dispatch a confirmed alert as a work order (派发); the routing rule fills what is left out",
           body=DispatchBody, body_required=False, tags=TAGS, responses={
               201: ("the new work order", OrderOut),
               400: "malformed plan, or an unknown unit, office or township",
               404: "no such alert",
               409: "alert not confirmed or already dispatched, or no emergency response for this domain"})
def dispatch(alert_id: int, body: DispatchBody):
    alert = db.session.get(Alert, alert_id)
    if alert is None:
        return api_error(404, "not_found", f"no alert #{alert_id}")
    try:
        order = planning.dispatch(alert, actor=g.api_user, data=body.as_plan_input())
    except errors.WorkflowError as exc:
        db.session.rollback()
        return jsonify(exc.as_json()), exc.status
    return jsonify(order_json(order)), 201
