"""The duty officer's review console (研判): live queue, alert detail,
verdicts, manual alerts; and the evidence file route /files/<id> for
logged-in users. (The review API is in :mod:`webapp.alerts.api`.)"""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from webapp.alerts import evidence, intake, review
from webapp.alerts.review import REASON_CODES, ReviewError
from webapp.extensions import db, htmx
from webapp.gis import maps
from webapp.models import (
    ALERT_STATUSES,
    OPEN_ALERT_STATUSES,
    Alert,
    AuditEvent,
    Camera,
    EvidenceFile,
    Township,
    User,
    WorkOrder,
)
from webapp.org import visibility
from webapp.platform import clock, exports, labels
from webapp.platform.errors import api_error
from webapp.platform.jinja import fmt_dt, render
from webapp.platform.security import (
    DUTY_ROLES,
    current_user,
    login_required,
    roles_required,
)

bp = Blueprint("alerts", __name__, template_folder="templates")
# Evidence files are read by pages of several areas (alerts, orders, phone).
files_bp = Blueprint("files", __name__)

PAGE_SIZE = 50
READ_ROLES = ("duty_officer", "duty_lead", "office_staff", "leader_viewer")
SINCE_CHOICES = {"1h": timedelta(hours=1), "24h": timedelta(hours=24),
                 "7d": timedelta(days=7), "30d": timedelta(days=30)}
# Degrees around the event point in which parcels are drawn on the map.


# -- the queue --------------------------------------------------------------------
def read_filters(args) -> dict[str, Any]:
    """Filters from the query string; anything unknown is ignored, not an error."""
    host = current_app.extensions["nrsc.plugins"]
    f: dict[str, Any] = {"domain": "", "township": None, "camera": None, "source": "",
                         "status": "open", "since": "", "page": 1}
    if args.get("domain") in host.domains:
        f["domain"] = args["domain"]
    for key in ("township", "camera", "page"):
        try:
            value = int(args.get(key) or 0)
        except ValueError:
            value = 0
        if value > 0:
            f[key] = value
    f["source"] = (args.get("source") or "").strip()[:80]
    status = args.get("status") or "open"
    f["status"] = status if status in ("open", "all", *ALERT_STATUSES) else "open"
    f["since"] = args.get("since") if args.get("since") in SINCE_CHOICES else ""
    return f


def _filtered(stmt: Select, f: dict[str, Any], *, with_status: bool = True) -> Select:
    if f["domain"]:
        stmt = stmt.where(Alert.domain == f["domain"])
    if f["township"]:
        stmt = stmt.where(Alert.township_id == f["township"])
    if f["camera"]:
        stmt = stmt.where(Alert.camera_id == f["camera"])
    if f["source"]:
        stmt = stmt.where(Alert.source == f["source"])
    if f["since"]:
        stmt = stmt.where(Alert.created_at >= clock.now() - SINCE_CHOICES[f["since"]])
    if with_status:
        if f["status"] == "open":
            stmt = stmt.where(Alert.status.in_(OPEN_ALERT_STATUSES))
        elif f["status"] != "all":
            stmt = stmt.where(Alert.status == f["status"])
    return stmt


def ordered_statement(f: dict[str, Any]) -> Select:
    """Every alert under the filters: open alerts by review due time (most
    pressing first), any other view newest first."""
    stmt = _filtered(select(Alert), f)
    if f["status"] in OPEN_ALERT_STATUSES or f["status"] == "open":
        return stmt.order_by(Alert.review_due_at.asc(), Alert.id.desc())
    return stmt.order_by(Alert.created_at.desc(), Alert.id.desc())


def queue_statement(f: dict[str, Any]) -> Select:
    """The page of the queue (one more row than shown, to know of a next page)."""
    return ordered_statement(f).limit(PAGE_SIZE + 1).offset((f["page"] - 1) * PAGE_SIZE)


def status_counts(f: dict[str, Any]) -> dict[str, int]:
    rows = db.session.execute(
        _filtered(select(Alert.status, func.count()), f, with_status=False).group_by(Alert.status)).all()
    counts = {s: 0 for s in ALERT_STATUSES}
    counts.update({status: n for status, n in rows})
    counts["open"] = sum(counts[s] for s in OPEN_ALERT_STATUSES)
    return counts


def queue_context(f: dict[str, Any]) -> dict[str, Any]:
    rows = db.session.scalars(queue_statement(f).options(
        selectinload(Alert.camera), selectinload(Alert.township), selectinload(Alert.claimed_by))).all()
    host = current_app.extensions["nrsc.plugins"]
    alarm = [a.id for a in rows if a.status in OPEN_ALERT_STATUSES and a.acknowledged_at is None
             and host.domain(a.domain) is not None and host.domain(a.domain).urgent]
    return {"alerts": rows[:PAGE_SIZE], "more": len(rows) > PAGE_SIZE, "filters": f,
            "counts": status_counts(f), "alarm_ids": alarm, "now": clock.now()}


def filter_choices() -> dict[str, Any]:
    return {
        "townships": db.session.scalars(select(Township).order_by(Township.id)).all(),
        "cameras": db.session.scalars(select(Camera).order_by(Camera.code)).all(),
        "sources": db.session.scalars(select(Alert.source).distinct().order_by(Alert.source).limit(50)).all(),
        "since_choices": list(SINCE_CHOICES),
    }


@bp.route("/")
@roles_required(*DUTY_ROLES)
def console():
    f = read_filters(request.args)
    ctx = queue_context(f)
    return render("alerts/console.html", "alerts/_queue.html", **ctx, **filter_choices())


@bp.route("/queue")
@roles_required(*DUTY_ROLES)
def queue():
    """The queue alone: polled by the console every 2 s."""
    f = read_filters(request.args)
    return render("alerts/_queue.html", None, **queue_context(f))


SINCE_LABELS = {"1h": _l("Last hour"), "24h": _l("Last 24 hours"), "7d": _l("Last 7 days"),
                "30d": _l("Last 30 days")}


def filter_words(f: dict[str, Any]) -> list[str]:
    """The filters in words, for the export's caption."""
    host = current_app.extensions["nrsc.plugins"]
    words = [_("Open") if f["status"] == "open" else _("All statuses") if f["status"] == "all"
             else _status_label(f["status"])]
    if f["domain"]:
        words.append(host.domain(f["domain"]).name_zh)
    if f["township"]:
        township = db.session.get(Township, f["township"])
        words.append(township.name if township else str(f["township"]))
    if f["camera"]:
        camera = db.session.get(Camera, f["camera"])
        words.append(f"{camera.code} {camera.name}" if camera else str(f["camera"]))
    if f["source"]:
        words.append(labels.source_label(f["source"]))
    if f["since"]:
        words.append(str(SINCE_LABELS[f["since"]]))
    return words


def export_rows(alerts: list[Alert]):
    host = current_app.extensions["nrsc.plugins"]
    for a in alerts:
        domain = host.domain(a.domain)
        yield [a.id, domain.name_zh if domain else a.domain, labels.event_type_name(a.domain, a.event_type),
               a.township.name if a.township else "", a.camera.code if a.camera else "",
               a.preset_number, _("Manual") if a.manual else labels.source_label(a.source),
               labels.detection_text(a.label, a.score, a.domain), a.occurred_at, a.created_at, a.occurrences,
               _status_label(a.status), a.claimed_by.display_name if a.claimed_by else "",
               a.review_due_at if a.status in OPEN_ALERT_STATUSES else None,
               str(REASON_CODES.get(a.verdict_reason, a.verdict_reason)) if a.verdict_reason else "",
               round(a.lat, 6), round(a.lon, 6), a.text or ""]


@bp.route("/export.xlsx")
@roles_required(*DUTY_ROLES)
def export_queue():
    """The console's list as an Excel workbook: every row its filters select
    (all pages), in the console's order."""
    f = read_filters(request.args)
    user = current_user()
    alerts = db.session.scalars(ordered_statement(f).limit(exports.MAX_ROWS + 1).options(
        selectinload(Alert.camera), selectinload(Alert.township), selectinload(Alert.claimed_by))).all()
    # The console's roles see every alert today; the check keeps an export
    # from ever showing more than the pages would.
    alerts = [a for a in alerts if visibility.can_see_alert(user, a)]
    headers = [_("Alert no."), _("Domain"), _("Event type"), _("Township"), _("Camera"), _("Preset"),
               _("Source"), _("Detection"), _("Occurred"), _("Raised"), _("Seen"), _("Status"),
               _("Claimed by"), _("Review due"), _("Reason"), _("Latitude"), _("Longitude"), _("Description")]
    query = {k: v for k, v in f.items() if v and k != "page"}
    return exports.export("alerts", _("Alert list"), headers, export_rows(alerts), filters=filter_words(f),
                          query=query, filename="alerts")


# -- detail -----------------------------------------------------------------------
def _get_alert(alert_id: int) -> Alert:
    alert = db.session.get(Alert, alert_id)
    if alert is None:
        abort(404)
    return alert


def evidence_url(file_id: int) -> str:
    return url_for("files.evidence_file", file_id=file_id)


def map_data(alert: Alert) -> dict[str, Any]:
    """What the detail page's map draws (webapp/gis/maps.py): point, camera
    and its view direction, the parcels around, townships and district, and
    the 95% ellipse of a detected position."""
    data = maps.alert_payload(alert)
    data["uncertainty"] = uncertainty_feature(alert)
    return data


def uncertainty_feature(alert: Alert) -> dict[str, Any] | None:
    """The 95% uncertainty ellipse of a detected alert's position as a GeoJSON
    Feature (drawn on the map), or None when the alert has none."""
    from webapp.detection.geolocate import Fix
    u = alert.uncertainty or {}
    try:
        fix = Fix(alert.lat, alert.lon, float(u["semi_major_m"]), float(u["semi_minor_m"]),
                  float(u["orientation_deg"]), alert.location_method or "")
    except (KeyError, TypeError, ValueError):
        return None
    return {"type": "Feature", "geometry": fix.polygon(),
            "properties": {"kind": "uncertainty", "method": alert.location_method,
                           "semi_major_m": fix.semi_major_m, "semi_minor_m": fix.semi_minor_m,
                           "located_by": list(alert.located_by or [])}}


def _boxes(raw: Any) -> list[dict[str, Any]]:
    """Normalised boxes as {x1, y1, x2, y2, label}; accepts [x1,y1,x2,y2] or
    {"box": [...], "label": ...}; anything else is skipped."""
    out = []
    for item in raw or ():
        label = None
        if isinstance(item, dict):
            label = item.get("label")
            item = item.get("box") or [item.get(k) for k in ("x1", "y1", "x2", "y2")]
        try:
            x1, y1, x2, y2 = (min(1.0, max(0.0, float(v))) for v in item)
        except (TypeError, ValueError):
            continue
        if x2 > x1 and y2 > y1:
            out.append({"x1": x1, "y1": y1, "x2": x2, "y2": y2, "label": label})
    return out


def detail_context(alert: Alert) -> dict[str, Any]:
    host = current_app.extensions["nrsc.plugins"]
    occurrences = {o.id: o for o in alert.occurrence_rows}
    snapshots = []
    for i, ev in enumerate(f for f in alert.evidence if f.kind == "snapshot"):
        occ = occurrences.get(ev.occurrence_id) if ev.occurrence_id else None
        boxes = _boxes(occ.boxes if occ is not None else (alert.boxes if i == 0 else []))
        snapshots.append({"file": ev, "url": evidence_url(ev.id), "boxes": boxes,
                          "at": occ.occurred_at if occ is not None else alert.occurred_at})
    history = db.session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "alert", AuditEvent.entity_id == alert.id)
        .order_by(AuditEvent.at, AuditEvent.id)).all()
    preset = None
    if alert.camera is not None and alert.preset_number is not None:
        preset = next((p for p in alert.camera.presets if p.number == alert.preset_number), None)
    user = current_user()
    order = db.session.scalar(select(WorkOrder).where(WorkOrder.alert_id == alert.id))
    # Once dispatched, the page leads to the order instead of a second dispatch.
    endpoint = review.dispatch_endpoint() if alert.status == "confirmed" and order is None else None
    actor_ids = {e.actor_id for e in history if e.actor_id}
    names = {u.id: u.display_name or u.login
             for u in db.session.scalars(select(User).where(User.id.in_(actor_ids)))} if actor_ids else {}
    return {
        "order": order, "names": names,
        "alert": alert, "domain": host.domain(alert.domain), "snapshots": snapshots,
        "occurrences": alert.occurrence_rows, "history": history, "preset": preset,
        "checklist": review.checklist(alert), "gis": review.gis_context(alert),
        "map_data": map_data(alert), "reasons": REASON_CODES, "now": clock.now(),
        "can_act": user.role in DUTY_ROLES or user.role == "admin",
        "can_takeover": user.role in review.TAKEOVER_ROLES,
        "urgent": review.is_urgent(alert),
        "dispatch_url": url_for(endpoint, alert_id=alert.id) if endpoint else None,
        "duplicate_target": db.session.get(Alert, alert.duplicate_of_id) if alert.duplicate_of_id else None,
    }


@bp.route("/<int:alert_id>")
@roles_required(*READ_ROLES)
def detail(alert_id: int):
    alert = _get_alert(alert_id)
    return render("alerts/detail.html", **detail_context(alert))


# -- page actions -----------------------------------------------------------------
def _form_version() -> int | None:
    try:
        return int(request.form["version"])
    except (KeyError, ValueError):
        return None


def _refused(alert: Alert, exc: ReviewError):
    """Show the detail page again with why the action was refused."""
    db.session.rollback()
    alert = _get_alert(alert.id)
    if htmx:
        return api_error(exc.status, exc.code, _conflict_text(exc))
    return render("alerts/detail.html", **detail_context(alert), problem=exc,
                  problem_text=_conflict_text(exc)), exc.status


def _conflict_text(exc: ReviewError) -> str:
    if exc.code == "claimed":
        return _("%(who)s claimed this alert at %(when)s.", who=exc.who, when=fmt_dt(exc.when, "%H:%M:%S"))
    if exc.code == "already_decided":
        return _("%(who)s already decided this alert at %(when)s.", who=exc.who,
                 when=fmt_dt(exc.when, "%Y-%m-%d %H:%M:%S"))
    if exc.code == "stale":
        return _("This alert changed after you opened it. Check what changed below, then try again.")
    return review_text(exc.message)


# The review's refusals are English for the API; pages say them in words.
_REVIEW_TEXTS = [
    (r"alert #\d+ is not claimed by you", lambda m: _("Claim the alert before deciding it.")),
    (r"unknown domain '(.*)'", lambda m: _("Choose the domain and event type.")),
    (r"domain \S+ has no event type '(.*)'", lambda m: _("Choose the domain and event type.")),
    (r"verdict must be one of .*", lambda m: _("Choose a verdict.")),
    (r"reason must be one of .* for a false alarm", lambda m: _("Choose the reason for the false alarm.")),
    (r"reason 'other' needs a note", lambda m: _("Explain the reason “other” in the note.")),
    (r"duplicate_of is required for a duplicate", lambda m: _("Enter the number of the alert this one repeats.")),
    (r"duplicate_of must be an alert id, not .*", lambda m: _("The repeated alert's number must be a number.")),
    (r"an alert cannot be a duplicate of itself", lambda m: _("An alert cannot be a duplicate of itself.")),
    (r"alert #(\d+) does not exist", lambda m: _("There is no alert #%(id)s.", id=m.group(1))),
    (r"that alert is already a duplicate of this one",
     lambda m: _("That alert is already a duplicate of this one.")),
]


def review_text(message: str) -> str:
    """A review refusal in the reader's language (never the API's English)."""
    for pattern, words in _REVIEW_TEXTS:
        found = re.fullmatch(pattern, message or "")
        if found:
            return words(found)
    if message and not message.isascii():
        return message
    return _("The input was not accepted. Check the fields and try again.")


@bp.route("/<int:alert_id>/claim", methods=["POST"])
@roles_required(*DUTY_ROLES)
def claim(alert_id: int):
    alert = _get_alert(alert_id)
    try:
        review.claim(alert, current_user(), takeover=request.form.get("takeover") == "1",
                     version=_form_version())
    except ReviewError as exc:
        return _refused(alert, exc)
    return redirect(url_for("alerts.detail", alert_id=alert.id))


@bp.route("/<int:alert_id>/release", methods=["POST"])
@roles_required(*DUTY_ROLES)
def release(alert_id: int):
    alert = _get_alert(alert_id)
    try:
        review.release(alert, current_user(), version=_form_version())
    except ReviewError as exc:
        return _refused(alert, exc)
    flash(_("Alert #%(id)s is back in the queue.", id=alert.id))
    return redirect(url_for("alerts.console"))


@bp.route("/<int:alert_id>/acknowledge", methods=["POST"])
@roles_required(*DUTY_ROLES)
def acknowledge(alert_id: int):
    alert = _get_alert(alert_id)
    review.acknowledge(alert, current_user())
    if htmx:
        # The console's queue refreshes itself on this event.
        return "", 204, {"HX-Trigger": "queue-refresh"}
    return redirect(request.referrer if request.referrer and request.referrer.startswith(request.host_url)
                    else url_for("alerts.detail", alert_id=alert.id))


@bp.route("/<int:alert_id>/correct", methods=["POST"])
@roles_required(*DUTY_ROLES)
def correct(alert_id: int):
    alert = _get_alert(alert_id)
    domain, _sep, event_type = (request.form.get("kind") or "").partition("/")
    try:
        review.correct(alert, current_user(), domain=request.form.get("domain") or domain,
                       event_type=request.form.get("event_type") or event_type, version=_form_version())
    except ReviewError as exc:
        return _refused(alert, exc)
    flash(_("Domain and event type corrected; prejudgement updated."))
    return redirect(url_for("alerts.detail", alert_id=alert.id))


@bp.route("/<int:alert_id>/verdict", methods=["POST"])
@roles_required(*DUTY_ROLES)
def verdict(alert_id: int):
    alert = _get_alert(alert_id)
    try:
        review.decide(alert, current_user(), verdict=request.form.get("verdict", ""),
                      reason=request.form.get("reason") or None,
                      duplicate_of=request.form.get("duplicate_of"),
                      note=request.form.get("note"), version=_form_version())
    except ReviewError as exc:
        return _refused(alert, exc)
    if alert.status == "confirmed":
        endpoint = review.dispatch_endpoint()
        flash(_("Alert #%(id)s confirmed.", id=alert.id))
        if endpoint:
            return redirect(url_for(endpoint, alert_id=alert.id))
        return redirect(url_for("alerts.detail", alert_id=alert.id))
    flash(_("Alert #%(id)s closed as %(status)s.", id=alert.id, status=_status_label(alert.status)))
    return redirect(url_for("alerts.console"))


STATUS_LABELS = {"new": _l("New"), "under_review": _l("Under review"), "false_alarm": _l("False alarm"),
                 "duplicate": _l("Duplicate"), "confirmed": _l("Confirmed")}


def _status_label(status: str) -> str:
    label = STATUS_LABELS.get(status)
    return str(label) if label is not None else status


# -- manual alerts ----------------------------------------------------------------
def _manual_form_context(values: dict[str, Any], errors: list[str]) -> dict[str, Any]:
    cameras = db.session.scalars(
        select(Camera).where(Camera.active.is_(True)).options(selectinload(Camera.presets))
        .order_by(Camera.code)).all()
    return {"values": values, "errors": errors, "cameras": cameras,
            "map_data": maps.payload(cameras=[maps.camera(c) for c in cameras], fit="district")}


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*DUTY_ROLES)
def new_manual():
    """A duty officer raises an alert by hand (人工报警)."""
    if request.method == "GET":
        return render("alerts/new.html", **_manual_form_context(
            {"token": uuid.uuid4().hex, "occurred_at": clock.local(clock.now()).strftime("%Y-%m-%dT%H:%M")}, []))
    values = {k: (request.form.get(k) or "").strip() for k in (
        "kind", "lat", "lon", "camera_code", "preset", "text", "occurred_at", "token")}
    payload, errors = _manual_payload(values)
    images = [(f.filename or "image", f.read()) for f in request.files.getlist("images") if f and f.filename]
    if errors:
        return render("alerts/new.html", **_manual_form_context(values, errors)), 400
    try:
        alert, _created = _ingest_manual(payload, images)
    except Exception as exc:  # noqa: BLE001 - intake's own errors carry status and message
        status = getattr(exc, "status", None)
        if status is None:
            raise
        db.session.rollback()
        return render("alerts/new.html", **_manual_form_context(
            values, [getattr(exc, "message", str(exc))])), status
    flash(_("Manual alert #%(id)s raised.", id=alert.id))
    return redirect(url_for("alerts.detail", alert_id=alert.id))


def _manual_payload(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    host = current_app.extensions["nrsc.plugins"]
    errors = []
    domain, _sep, event_type = values["kind"].partition("/")
    descriptor = host.domain(domain)
    if descriptor is None:
        errors.append(_("Choose the domain and event type."))
    elif descriptor.event_types and descriptor.event_type(event_type) is None:
        errors.append(_("Choose the domain and event type."))
    payload: dict[str, Any] = {"domain": domain, "event_type": event_type or domain,
                               "source_event_id": values["token"] or uuid.uuid4().hex,
                               "text": values["text"] or None}
    if values["lat"] or values["lon"]:
        try:
            payload["lat"], payload["lon"] = float(values["lat"]), float(values["lon"])
        except ValueError:
            errors.append(_("Latitude and longitude must be numbers."))
    if values["camera_code"]:
        payload["camera_code"] = values["camera_code"]
        if values["preset"]:
            try:
                payload["preset"] = int(values["preset"])
            except ValueError:
                errors.append(_("The preset must be a number."))
    if "lat" not in payload and "camera_code" not in payload:
        errors.append(_("Click the point on the map or choose a camera and preset."))
    if not values["text"]:
        errors.append(_("Describe what you saw."))
    try:
        when = datetime.fromisoformat(values["occurred_at"]) if values["occurred_at"] else None
    except ValueError:
        when = None
        errors.append(_("The time is not valid."))
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=clock.LOCAL_TZ)
    payload["occurred_at"] = (when or clock.now()).isoformat()
    return payload, errors


def _ingest_manual(payload: dict[str, Any], images: list[tuple[str, bytes]]) -> tuple[Alert, bool]:
    return intake.ingest(payload, images, source="manual", actor=current_user(), manual=True)


# -- evidence files -------------------------------------------------------------------
@files_bp.route("/files/<int:file_id>")
@login_required
def evidence_file(file_id: int):
    row = db.session.get(EvidenceFile, file_id)
    # 404 either way, so ids of files one may not see are not confirmed.
    if row is None or not visibility.can_see_file(current_user(), row):
        abort(404)
    path = evidence.absolute_path(row)
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype=row.content_type, conditional=True, etag=row.sha256, max_age=3600)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


def register(app: Flask) -> None:
    app.register_blueprint(bp, url_prefix="/alerts")
    app.register_blueprint(files_bp)

    @app.context_processor
    def alert_helpers() -> dict[str, Any]:
        return {"status_label": _status_label, "reason_label": lambda c: REASON_CODES.get(c, c)}
