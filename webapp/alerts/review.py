"""Reviewing alerts (研判): claim, acknowledge, correct, verdicts, the review SLA.

Used by both the console pages and the JSON API, so the rules live in one
place. Every change goes through :func:`_apply`, a compare-and-swap on
``Alert.version``: two officers acting at once never both win, and a stale
form is refused with what changed since it was loaded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import event, select, update

from webapp.alerts.adapters import alert_view, gis_context
from webapp.extensions import db
from webapp.models import OPEN_ALERT_STATUSES, Alert, AuditEvent, User
from webapp.notify import outbox as notify
from webapp.orders import sla
from webapp.platform import audit, clock
from webapp.plugin_api import Clock

VERDICTS = ("false_alarm", "duplicate", "confirmed")
# False-alarm reason codes; labels are translated in the UI.
REASON_CODES: dict[str, Any] = {
    "permitted_area": _l("Permitted area (valid permit or approval)"),
    "known_object": _l("Known object (kiln, straw pile, building)"),
    "weather": _l("Weather (cloud, fog, dust, glare)"),
    "animal": _l("Animal"),
    "equipment_fault": _l("Equipment fault or bad image"),
    "other": _l("Other (explain in the note)"),
}
TAKEOVER_ROLES = frozenset({"duty_lead", "admin"})
DEFAULT_REVIEW_CLOCK = Clock(minutes=30)
ESCALATION_JOB = "alerts.review_sla"
ESCALATION_EVERY_SECONDS = 30


@dataclass
class ReviewError(Exception):
    """A refused review action; ``status`` is the HTTP status to answer with."""

    status: int
    code: str
    message: str
    who: str | None = None
    when: datetime | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.who is not None:
            body["who"] = self.who
        if self.when is not None:
            body["when"] = self.when.isoformat()
        if self.changes:
            body["changes"] = self.changes
        return body


# -- plugin views ---------------------------------------------------------------
def host():
    return current_app.extensions["nrsc.plugins"]


def checklist(alert: Alert) -> list[str]:
    return host().checklist(alert_view(alert))


# -- review SLA -----------------------------------------------------------------
def review_clock(domain_code: str) -> Clock:
    """The domain's review clock; unknown domains get the default."""
    domain = host().domain(domain_code) if has_app_context() else None
    return domain.sla.review if domain is not None else DEFAULT_REVIEW_CLOCK


def review_due(domain_code: str, created_at: datetime) -> datetime:
    """When an alert created at ``created_at`` must have been reviewed: the one
    place the review deadline is computed (intake and the insert listener
    both call it). The duty office works 24/7, so the review clock always
    counts natural time (docs/workflow.md), where a working day is 24 h —
    the SLA module's natural-time arithmetic, not a second copy of it."""
    if created_at.tzinfo is None:  # the core stores UTC
        created_at = created_at.replace(tzinfo=timezone.utc)
    return sla.deadline(created_at, review_clock(domain_code), "natural")


@event.listens_for(Alert, "before_insert")
def _set_review_due(_mapper, _connection, alert: Alert) -> None:
    # Whoever creates an alert (intake, manual, tests) gets the review clock.
    if alert.created_at is None:
        alert.created_at = clock.now()
    if alert.review_due_at is None and has_app_context():
        alert.review_due_at = review_due(alert.domain, alert.created_at)


def is_urgent(alert: Alert) -> bool:
    domain = host().domain(alert.domain)
    return bool(domain and domain.urgent)


def escalate_overdue() -> int:
    """Mark open alerts past their review due time, escalate each once to
    the duty leads (audit + one internal notification per lead)."""
    now = clock.now()
    overdue = db.session.scalars(
        select(Alert).where(Alert.status.in_(OPEN_ALERT_STATUSES), Alert.review_due_at <= now,
                            Alert.review_overdue.is_(False)).order_by(Alert.review_due_at)).all()
    if not overdue:
        return 0
    leads = db.session.scalars(
        select(User).where(User.role == "duty_lead", User.active.is_(True)).order_by(User.id)).all()
    count = 0
    for alert in overdue:
        changed = db.session.execute(
            update(Alert).where(Alert.id == alert.id, Alert.version == alert.version)
            .values(review_overdue=True, escalated_at=now, version=alert.version + 1)
            .execution_options(synchronize_session=False))
        if changed.rowcount != 1:
            continue  # reviewed or changed meanwhile; the next run looks again
        db.session.refresh(alert)
        audit.record("review_overdue", "alert", alert.id, actor_label="system",
                     from_state=alert.status, to_state=alert.status,
                     note=f"研判时限 {clock.local(alert.review_due_at):%Y-%m-%d %H:%M:%S}",
                     data={"version": alert.version, "notified": [u.login for u in leads]})
        for lead in leads:
            notify.enqueue(
                notify.INTERNAL, notify.user_target(lead), f"预警 #{alert.id} 研判超时",
                f"预警 #{alert.id}（{_domain_name(alert.domain)}）已超过研判时限，请值守组长处理。",
                notify.alert_link(alert.id), f"alert:{alert.id}:review_overdue:user:{lead.id}",
                unit_id=lead.unit_id, alert_id=alert.id)
        count += 1
    db.session.commit()
    return count


def _domain_name(code: str) -> str:
    domain = host().domain(code) if has_app_context() else None
    return domain.name_zh if domain else code


# -- the compare-and-swap every change goes through ------------------------------
def changes_since(alert: Alert, version: int) -> list[dict[str, Any]]:
    """Audit events recorded after the given version, oldest first."""
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "alert", AuditEvent.entity_id == alert.id)
        .order_by(AuditEvent.id)).all()
    return [
        {"action": e.action, "by": e.actor_label, "at": e.at.isoformat(),
         "from": e.from_state, "to": e.to_state, "note": e.note}
        for e in events if (e.data or {}).get("version", 0) > version
    ]


def _stale(alert: Alert, version: int) -> ReviewError:
    return ReviewError(409, "stale", (
        f"alert #{alert.id} changed since the form was loaded (version {version}, now {alert.version})"),
        who=_who(alert), when=alert.verdict_at or alert.claimed_at, changes=changes_since(alert, version))


def _who(alert: Alert) -> str | None:
    user = alert.verdict_by or alert.claimed_by
    return user.display_name or user.login if user else None


def _check_version(alert: Alert, version: int | None) -> None:
    if version is not None and version != alert.version:
        raise _stale(alert, version)


def _apply(alert: Alert, *, action: str, note: str | None = None,
           data: dict[str, Any] | None = None, actor: User, **values: Any) -> Alert:
    """Write ``values`` only if nobody changed the alert since it was read,
    bump the version and audit, all in the caller's transaction."""
    before = alert.status
    seen_version = alert.version
    result = db.session.execute(
        update(Alert).where(Alert.id == alert.id, Alert.version == seen_version)
        .values(version=seen_version + 1, **values).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.rollback()
        fresh = db.session.get(Alert, alert.id, populate_existing=True)
        raise _conflict_for(fresh, actor) or _stale(fresh, seen_version)
    db.session.refresh(alert)
    audit.record(action, "alert", alert.id, actor=actor, from_state=before, to_state=alert.status,
                 note=note, data={"version": alert.version, **(data or {})})
    return alert


def _conflict_for(alert: Alert, user: User) -> ReviewError | None:
    """Why ``user`` may not act on ``alert`` now, or None."""
    if alert.status not in OPEN_ALERT_STATUSES:
        by = alert.verdict_by
        name = (by.display_name or by.login) if by else "?"
        return ReviewError(409, "already_decided", (
            f"alert #{alert.id} was already decided ({alert.status}) by {name}"),
            who=name, when=alert.verdict_at)
    if alert.claimed_by_id is not None and alert.claimed_by_id != user.id:
        by = alert.claimed_by
        name = (by.display_name or by.login) if by else "?"
        return ReviewError(409, "claimed", f"alert #{alert.id} is claimed by {name}",
                           who=name, when=alert.claimed_at)
    return None


# -- actions --------------------------------------------------------------------
def claim(alert: Alert, user: User, *, takeover: bool = False, version: int | None = None) -> Alert:
    """Take the alert for review. Someone else's claim is a 409 unless a duty
    lead takes it over; claiming one's own claim again changes nothing."""
    conflict = _conflict_for(alert, user)
    if conflict is not None and not (
            conflict.code == "claimed" and takeover and user.role in TAKEOVER_ROLES):
        raise conflict
    _check_version(alert, version)
    if conflict is not None:
        previous = alert.claimed_by.login if alert.claimed_by else None
        _apply(alert, action="review_takeover", actor=user, note=f"接管 {previous} 的研判",
               data={"previous": previous}, status="under_review", claimed_by_id=user.id,
               claimed_at=clock.now())
        db.session.commit()
        return alert
    if alert.claimed_by_id == user.id:
        return alert
    _apply(alert, action="review_claim", actor=user, status="under_review",
           claimed_by_id=user.id, claimed_at=clock.now())
    db.session.commit()
    return alert


def release(alert: Alert, user: User, *, version: int | None = None) -> Alert:
    """Give a claimed alert back to the queue: the claimant, or a duty lead
    freeing someone else's claim (an officer gone off shift)."""
    conflict = _conflict_for(alert, user)
    lead_release = conflict is not None and conflict.code == "claimed" and user.role in TAKEOVER_ROLES
    if conflict is not None and not lead_release:
        raise conflict
    _check_version(alert, version)
    if alert.claimed_by_id is None:
        raise ReviewError(409, "not_claimed", f"alert #{alert.id} is not claimed")
    if alert.claimed_by_id != user.id and not lead_release:
        raise ReviewError(409, "not_claimed", f"alert #{alert.id} is not claimed by you")
    previous = alert.claimed_by.login if alert.claimed_by else None
    _apply(alert, action="review_release", actor=user, status="new", claimed_by_id=None, claimed_at=None,
           note=f"释放 {previous} 的认领" if lead_release else None,
           data={"previous": previous} if lead_release else None)
    db.session.commit()
    return alert


def acknowledge(alert: Alert, user: User) -> Alert:
    """Silence an urgent alert's alarm on every console."""
    if alert.acknowledged_at is not None:
        return alert
    _apply(alert, action="alarm_acknowledged", actor=user, acknowledged_at=clock.now())
    db.session.commit()
    return alert


def correct(alert: Alert, user: User, *, domain: str, event_type: str,
            version: int | None = None) -> Alert:
    """Correct domain and event type; prejudgement and review clock follow."""
    conflict = _conflict_for(alert, user)
    if conflict is not None:
        raise conflict
    _check_version(alert, version)
    descriptor = host().domain(domain)
    if descriptor is None:
        raise ReviewError(400, "invalid", f"unknown domain {domain!r}")
    if descriptor.event_types and descriptor.event_type(event_type) is None:
        raise ReviewError(400, "invalid", f"domain {domain} has no event type {event_type!r}")
    if (domain, event_type) == (alert.domain, alert.event_type):
        return alert
    view = alert_view(alert)
    from dataclasses import replace
    judged = host().prejudge(replace(view, domain=domain, event_type=event_type), gis_context(alert))
    values: dict[str, Any] = {"domain": domain, "event_type": event_type,
                              "review_due_at": review_due(domain, alert.created_at)}
    if judged is not None:
        values["prejudgement_level"] = judged.level
        values["prejudgement_reasons"] = list(judged.reasons)
    _apply(alert, action="review_correct", actor=user,
           note=f"{alert.domain}/{alert.event_type} → {domain}/{event_type}",
           data={"from": [alert.domain, alert.event_type], "to": [domain, event_type],
                 "prejudgement": values.get("prejudgement_level")}, **values)
    db.session.commit()
    return alert


def decide(alert: Alert, user: User, *, verdict: str, reason: str | None = None,
           duplicate_of: Any = None, note: str | None = None, version: int | None = None) -> Alert:
    """Record a verdict. An unclaimed alert is claimed by the verdict itself."""
    if verdict not in VERDICTS:
        raise ReviewError(400, "invalid", f"verdict must be one of {', '.join(VERDICTS)}")
    conflict = _conflict_for(alert, user)
    if conflict is not None:
        raise conflict
    _check_version(alert, version)
    note = (note or "").strip()[:2000] or None
    values: dict[str, Any] = {"status": verdict, "verdict_by_id": user.id, "verdict_at": clock.now(),
                              "verdict_note": note}
    if alert.claimed_by_id is None:
        values.update(claimed_by_id=user.id, claimed_at=values["verdict_at"])
    data: dict[str, Any] = {}
    if verdict == "false_alarm":
        if reason not in REASON_CODES:
            raise ReviewError(400, "invalid", (
                f"reason must be one of {', '.join(REASON_CODES)} for a false alarm"))
        if reason == "other" and not note:
            raise ReviewError(400, "invalid", "reason 'other' needs a note")
        values["verdict_reason"] = data["reason"] = reason
    elif verdict == "duplicate":
        original = _original(alert, duplicate_of)
        values["duplicate_of_id"] = data["duplicate_of"] = original.id
    _apply(alert, action=f"review_{verdict}", actor=user, note=note, data=data, **values)
    db.session.commit()
    return alert


def _original(alert: Alert, duplicate_of: Any) -> Alert:
    if duplicate_of in (None, ""):
        raise ReviewError(400, "invalid", "duplicate_of is required for a duplicate")
    try:
        target_id = int(str(duplicate_of).strip().lstrip("#"))
    except ValueError:
        raise ReviewError(400, "invalid", f"duplicate_of must be an alert id, not {duplicate_of!r}") from None
    if target_id == alert.id:
        raise ReviewError(400, "invalid", "an alert cannot be a duplicate of itself")
    target = db.session.get(Alert, target_id)
    if target is None:
        raise ReviewError(400, "invalid", f"alert #{target_id} does not exist")
    # Point at the root so duplicates never form chains.
    seen = {alert.id}
    while target.status == "duplicate" and target.duplicate_of_id and target.id not in seen:
        seen.add(target.id)
        target = db.session.get(Alert, target.duplicate_of_id)
    if target.id == alert.id:
        raise ReviewError(400, "invalid", "that alert is already a duplicate of this one")
    return target


def dispatch_endpoint() -> str | None:
    """The work-order dispatch form's endpoint, when the orders area is attached."""
    endpoint = "orders.dispatch_form"
    return endpoint if endpoint in current_app.view_functions else None
