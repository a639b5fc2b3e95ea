"""The frame every work-order action runs in: who acts, the compare-and-swap on
``WorkOrder.version``, the state check, the audit record, one unit of work."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from flask import current_app
from sqlalchemy import func, select, update

from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    OrderParticipant,
    Unit,
    User,
    WorkOrder,
)
from webapp.orders import rounds
from webapp.orders.errors import WorkflowError, conflict, invalid
from webapp.orders.messaging import notify_leaders
from webapp.orders.states import (
    ACTOR_ROLES,
    DEFAULT_MAX_EXTENSION_DAYS,
    DEFAULT_REOPEN_DAYS,
    DUTY,
    DUTY_LEAD,
    IN_PROGRESS,
    LEAD,
    OFFICE,
    PARTICIPANT,
    RESUME,
    TO_ACCEPT,
    TRANSITIONS,
    Transition,
    active_participants,
)
from webapp.org import visibility
from webapp.platform import audit, clock
from webapp.platform.security import UNIT_ROLES


# -- small helpers ----------------------------------------------------------------------
def host():
    return current_app.extensions["nrsc.plugins"]


def unit_by_code(code: str) -> Unit:
    unit = db.session.scalar(select(Unit).where(Unit.code == code))
    if unit is None or not unit.active:
        raise invalid(f"unknown unit {code!r}")
    return unit


def clean_text(value: Any, limit: int = 4000) -> str:
    return str(value or "").strip()[:limit]


def display_name(user: User | None) -> str:
    return (user.display_name or user.login) if user else "system"


def reopen_days() -> int:
    return int(current_app.config.get("NRSC_REOPEN_DAYS") or DEFAULT_REOPEN_DAYS)


def max_extension_days() -> int:
    return int(current_app.config.get("NRSC_MAX_EXTENSION_DAYS") or DEFAULT_MAX_EXTENSION_DAYS)


# -- who acts ----------------------------------------------------------------------------
def can_view(order: WorkOrder, user: User) -> bool:
    """See webapp.org.visibility (the one rule)."""
    return visibility.can_view_order(user, order)


def participant_for(order: WorkOrder, user: User, participant_id: int | None = None,
                    *, lead_only: bool = False) -> OrderParticipant | None:
    """The participant ``user`` acts as (their own unit first, then the lead)."""
    candidates = (active_participants(order) if user.role == "admin"
                  else visibility.participants_of(order, user))
    if participant_id is not None:
        candidates = [p for p in candidates if p.id == participant_id]
    if lead_only:
        candidates = [p for p in candidates if p.role == "lead"]
    candidates.sort(key=lambda p: (p.unit_id != user.unit_id, p.role != "lead", p.id))
    return candidates[0] if candidates else None


def authorise(order: WorkOrder, t: Transition, user: User,
               participant_id: int | None) -> OrderParticipant | None:
    for kind in (DUTY, DUTY_LEAD, OFFICE):
        if kind in t.actors and user.role in ACTOR_ROLES[kind] and user.role != "admin":
            return None
    if PARTICIPANT in t.actors or LEAD in t.actors:
        p = participant_for(order, user, participant_id, lead_only=LEAD in t.actors)
        if p is not None:
            return p
    if user.role == "admin":
        return None
    if user.role in UNIT_ROLES and not can_view(order, user):
        raise WorkflowError(403, "forbidden", f"your unit does not take part in order {order.number}")
    raise WorkflowError(403, "forbidden", f"{user.role} may not {t.action} order {order.number}")


# -- the compare-and-swap every action goes through ---------------------------------------
def changes_since(order: WorkOrder, version: int) -> list[dict[str, Any]]:
    """Audit events recorded on the order after ``version``, oldest first."""
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "work_order", AuditEvent.entity_id == order.id)
        .order_by(AuditEvent.id)).all()
    return [{"action": e.action, "by": e.actor_label, "at": e.at.isoformat(), "from": e.from_state,
             "to": e.to_state, "note": e.note}
            for e in events if (e.data or {}).get("version", 0) > version]


def stale(order: WorkOrder, version: int) -> WorkflowError:
    changes = changes_since(order, version)
    what = "; ".join(f"{c['action']} by {c['by']} at {c['at']}" for c in changes) or "unknown change"
    return WorkflowError(409, "stale", (
        f"order {order.number} changed since the form was loaded (version {version}, now "
        f"{order.version}): {what}"), changes=changes)


def take(order: WorkOrder, version: int | None) -> None:
    """Bump the version if nobody changed the order since it was read (or
    since ``version``); reload it so checks see the latest committed state."""
    if version is not None and int(version) != order.version:
        raise stale(order, int(version))
    seen = order.version
    result = db.session.execute(
        update(WorkOrder).where(WorkOrder.id == order.id, WorkOrder.version == seen)
        .values(version=seen + 1).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.rollback()
        db.session.refresh(order)
        raise stale(order, seen)
    db.session.refresh(order)


def check_state(order: WorkOrder, t: Transition, p: OrderParticipant | None) -> None:
    if order.state not in t.sources:
        allowed = ", ".join(sorted(t.sources))
        raise conflict(f"cannot {t.action} order {order.number}: it is {order.state} "
                        f"(allowed from: {allowed})")
    if t.participant_states and p is not None and p.state not in t.participant_states:
        raise conflict(f"cannot {t.action} order {order.number} as {p.unit.name}: "
                        f"that participant is {p.state}")


def record(order: WorkOrder, action: str, actor: User | None, *, from_state: str | None,
            note: str | None = None, data: dict[str, Any] | None = None,
            participant: OrderParticipant | None = None) -> None:
    # Every change to an order is recorded here, so here the participants'
    # current rounds are copied into their round rows (webapp.orders.rounds).
    rounds.sync(order)
    payload = {"version": order.version, **(data or {})}
    if participant is not None:
        payload.setdefault("participant_id", participant.id)
        payload.setdefault("unit", participant.unit.code if participant.unit else None)
    audit.record(action, "work_order", order.id, actor=actor,
                 actor_label=None if actor else "system", from_state=from_state,
                 to_state=order.state, note=note, data=payload)


def run_unit_of_work(fn: Callable[[], WorkOrder], commit: bool = True) -> WorkOrder:
    """Run an action as one unit of work: commit it all or roll it all back."""
    try:
        result = fn()
        if commit:
            db.session.commit()
        else:
            db.session.flush()
        return result
    except Exception:
        db.session.rollback()
        raise


def act(order: WorkOrder, action: str, actor: User, *, version: int | None,
         participant_id: int | None, body: Callable[[OrderParticipant | None], str | None],
         note: str | None = None, data: dict[str, Any] | None = None, commit: bool = True) -> WorkOrder:
    """The common frame of every lifecycle action. ``body(participant)``
    changes rows and returns the audit note (or None to keep ``note``)."""
    t = TRANSITIONS[action]

    def work() -> WorkOrder:
        p = authorise(order, t, actor, participant_id)
        take(order, version)
        p = db.session.get(OrderParticipant, p.id) if p is not None else None
        check_state(order, t, p)
        before = order.state
        audit_note = body(p)
        if t.target is not None and (t.moves_order == "always" or (p is not None and p.role == "lead")):
            order.state = resume_state(order) if t.target == RESUME else t.target
        db.session.flush()
        record(order, action, actor, from_state=before, note=audit_note or note, data=data, participant=p)
        return order
    return run_unit_of_work(work, commit)


def resume_state(order: WorkOrder) -> str:
    lead = order.lead
    return IN_PROGRESS if lead is not None and lead.accepted_at is not None else TO_ACCEPT



def freeze_on_time(p: OrderParticipant, stage: str, when: datetime) -> None:
    """Freeze a stage's on-time flag once (the sweep may have frozen it false)."""
    flag = f"{stage}_on_time"
    if getattr(p, flag) is None:
        due = getattr(p, f"{stage}_due_at")
        setattr(p, flag, due is None or when <= due)


def set_supervised(order: WorkOrder, note: str, actor: User | None) -> None:
    order.supervised, order.supervise_note, order.supervised_at = True, note, clock.now()
    for p in active_participants(order):
        notify_leaders(p.unit, f"督办 {order.number}", f"{order.title}\n{note}",
                       f"order:{order.id}:supervise:{order.version}:{p.id}", order)



# -- reading -----------------------------------------------------------------------------
def allowed_actions(order: WorkOrder, user: User) -> list[str]:
    """Actions of the transition table ``user`` may take on ``order`` now
    (input checks aside); for showing buttons, never instead of the checks."""
    allowed = []
    for action, t in TRANSITIONS.items():
        if order.state not in t.sources:
            continue
        try:
            p = authorise(order, t, user, None)
        except WorkflowError:
            continue
        if t.participant_states and p is not None and p.state not in t.participant_states:
            continue
        if (PARTICIPANT in t.actors or LEAD in t.actors) and p is None and not (
                t.actors & {DUTY, DUTY_LEAD, OFFICE}):
            continue
        allowed.append(action)
    return allowed


def get_order(order_id: int) -> WorkOrder | None:
    return db.session.get(WorkOrder, order_id)


def order_count_by_state() -> dict[str, int]:
    rows = db.session.execute(select(WorkOrder.state, func.count()).group_by(WorkOrder.state)).all()
    return {state: n for state, n in rows}
