"""The work-order closed loop (DESIGN.md §6): dispatch, the lifecycle state
machine, SLA clocks and their sweep.

Pages and the JSON API both call the functions here, so the rules live in one
place. Every action:

1. finds who acts (a duty role, the office, or a participating unit — 403 otherwise),
2. takes the order with a compare-and-swap on ``WorkOrder.version`` (a stale
   form, or a concurrent action, gets 409 with what changed),
3. checks the move against :data:`TRANSITIONS` (409 when illegal),
4. validates its input (400), changes rows, records one audit event and
   commits — or rolls everything back, staged photo files included.

Design choices worth knowing (also in docs/workflow.md):

* Order state moves on the **lead**'s steps: the lead's accept makes it
  ``in_progress``, the lead's feedback ``to_review``. Cooperating and
  forwarded participants keep their own records and clocks.
* A return (退单) by any participant who has not accepted puts the whole
  order into ``returned`` until the duty office re-dispatches; re-dispatched
  participants get fresh clocks from the re-dispatch. A unit that returns
  again after the duty lead ruled its return unjustified is refused.
* A forwarded participant (转派) gets an accept clock from the forward time
  and inherits the forwarding participant's arrive and feedback deadlines
  (clocks start at dispatch, DESIGN.md §6).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Mapping, Sequence

from flask import Flask, current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from webapp import audit, clock, orgchart, sla
from webapp.extensions import db
from webapp.labels import result_name_zh, stage_name_zh
from webapp.models import (
    FEEDBACK_RESULTS, Alert, AuditEvent, Camera, EvidenceFile, ExtensionRequest, Feedback,
    OrderParticipant, OrderSequence, Township, Unit, User, WorkOrder,
)
from webapp.plugin_api import Clock, Routing, RoutingContext, SlaClocks
from webapp.security import DUTY_ROLES, UNIT_ROLES

log = logging.getLogger(__name__)

# -- states and the transition table -------------------------------------------------
TO_ACCEPT, IN_PROGRESS, TO_REVIEW, CLOSED, RETURNED = (
    "to_accept", "in_progress", "to_review", "closed", "returned")
OPEN_STATES = frozenset({TO_ACCEPT, IN_PROGRESS, TO_REVIEW, RETURNED})
ALL_STATES = OPEN_STATES | {CLOSED}
# Participant states: to_accept → in_progress → done; returned; withdrawn (replaced).
P_TO_ACCEPT, P_IN_PROGRESS, P_DONE, P_RETURNED, P_WITHDRAWN = (
    "to_accept", "in_progress", "done", "returned", "withdrawn")
# Target meaning "where the lead's progress puts the order" (after re-dispatch).
RESUME = "resume"

# Who may act: a duty role, the duty lead, the leading-group office, any
# participating unit, or the lead participant only.
DUTY, DUTY_LEAD, OFFICE, PARTICIPANT, LEAD = "duty", "duty_lead", "office", "participant", "lead"
ACTOR_ROLES = {
    DUTY: DUTY_ROLES | {"admin"},
    DUTY_LEAD: frozenset({"duty_lead", "admin"}),
    OFFICE: frozenset({"office_staff", "admin"}),
}
PRIORITIES = ("normal", "high", "urgent")
SPOT_CHECK_RESULTS = ("pass", "fail")
EXTENSION_STAGES = ("accept", "arrive", "feedback")
DEFAULT_REOPEN_DAYS = 30
DEFAULT_MAINTENANCE_CLOCKS = {"accept": "2h", "arrive": "24h", "feedback": "48h", "basis": "natural"}
DEFAULT_CLOCKS = SlaClocks(review=Clock(30), accept=Clock(120), arrive=Clock(working_days=1),
                           feedback=Clock(working_days=3), basis="working")
MAINTENANCE_UNIT = "operator"
SLA_JOB = "sla_sweep"
SLA_EVERY_SECONDS = 30


@dataclass(frozen=True)
class Transition:
    """One row of the lifecycle table.

    ``sources``: order states the action is allowed in; ``target``: the order
    state afterwards (None: unchanged, RESUME: from the lead's progress);
    ``moves_order``: "always", or "lead" when only the lead's step moves the
    order; ``participant_states``: the acting participant's required state."""

    action: str
    sources: frozenset[str]
    target: str | None
    actors: frozenset[str]
    moves_order: str = "always"
    participant_states: frozenset[str] | None = None
    label: str = ""


def _t(action, sources, target, actors, moves_order="always", participant_states=None, label=""):
    return Transition(action, frozenset(sources), target, frozenset(actors), moves_order,
                      frozenset(participant_states) if participant_states else None, label)


TRANSITIONS: dict[str, Transition] = {t.action: t for t in (
    _t("accept", {TO_ACCEPT, IN_PROGRESS}, IN_PROGRESS, {PARTICIPANT}, "lead", {P_TO_ACCEPT}, "签收"),
    _t("return", {TO_ACCEPT, IN_PROGRESS}, RETURNED, {PARTICIPANT}, "always", {P_TO_ACCEPT}, "退单"),
    _t("return-decision", ALL_STATES, None, {DUTY_LEAD}, label="退单认定"),
    _t("redispatch", {RETURNED}, RESUME, {DUTY}, label="重新派发"),
    _t("arrive", {TO_ACCEPT, IN_PROGRESS, TO_REVIEW}, None, {PARTICIPANT}, "lead", {P_IN_PROGRESS}, "到场"),
    _t("forward", {IN_PROGRESS}, None, {LEAD}, "lead", {P_IN_PROGRESS}, "转派"),
    _t("feedback", {TO_ACCEPT, IN_PROGRESS, TO_REVIEW}, TO_REVIEW, {PARTICIPANT}, "lead",
       {P_IN_PROGRESS}, "反馈"),
    _t("close", {TO_REVIEW}, CLOSED, {DUTY}, label="办结"),
    _t("rework", {TO_REVIEW}, IN_PROGRESS, {DUTY}, label="退回重办"),
    _t("extend", {TO_ACCEPT, IN_PROGRESS, TO_REVIEW}, None, {PARTICIPANT}, "lead",
       {P_TO_ACCEPT, P_IN_PROGRESS}, "申请延期"),
    _t("approve-extension", {TO_ACCEPT, IN_PROGRESS, TO_REVIEW}, None, {DUTY, OFFICE}, label="延期审批"),
    _t("supervise", OPEN_STATES, None, {OFFICE, DUTY_LEAD}, label="督办"),
    _t("emergency", OPEN_STATES, None, {DUTY, OFFICE}, label="启动应急响应"),
    _t("reopen", {CLOSED}, IN_PROGRESS, {DUTY, OFFICE}, label="重新打开"),
    _t("transfer-case", {IN_PROGRESS, TO_REVIEW, CLOSED}, None, {DUTY, OFFICE, PARTICIPANT}, label="立案"),
    _t("spot-check", {CLOSED}, None, {OFFICE}, label="核查"),
)}


def staff_roles(action: str) -> frozenset[str]:
    """User roles that may take ``action`` by office (not as a participating
    unit); pages use it to decide which forms to show."""
    return frozenset().union(*(ACTOR_ROLES[kind] for kind in TRANSITIONS[action].actors if kind in ACTOR_ROLES))


# The order actions of DESIGN.md §8, in its order (the API's paths).
API_ACTIONS = ("accept", "return", "arrive", "forward", "feedback", "close", "rework", "extend",
               "approve-extension", "supervise", "emergency", "reopen", "transfer-case", "spot-check")


# -- errors ---------------------------------------------------------------------------
@dataclass
class WorkflowError(Exception):
    """A refused action; ``status`` is the HTTP status to answer with."""

    status: int
    code: str
    message: str
    changes: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.changes:
            body["changes"] = self.changes
        return body


def _invalid(message: str) -> WorkflowError:
    return WorkflowError(400, "invalid", message)


def _conflict(message: str, code: str = "illegal_transition") -> WorkflowError:
    return WorkflowError(409, code, message)


# -- small helpers ----------------------------------------------------------------------
def host():
    return current_app.extensions["nrsc.plugins"]


def _unit(code: str) -> Unit:
    unit = db.session.scalar(select(Unit).where(Unit.code == code))
    if unit is None or not unit.active:
        raise _invalid(f"unknown unit {code!r}")
    return unit


def _text(value: Any, limit: int = 4000) -> str:
    return str(value or "").strip()[:limit]


def _name(user: User | None) -> str:
    return (user.display_name or user.login) if user else "system"


def reopen_days() -> int:
    return int(current_app.config.get("NRSC_REOPEN_DAYS") or DEFAULT_REOPEN_DAYS)


def _calendar_and_schedule() -> tuple[sla.WorkCalendar, sla.Schedule]:
    return sla.calendar_from_db(), sla.schedule_from_config()


def clocks_of(order: WorkOrder) -> tuple[dict[str, Clock], str]:
    """The order's stage clocks and time basis."""
    stored = order.clocks or {}
    basis = stored.get("basis", "working")
    return {s: Clock.parse(stored[s]) for s in sla.STAGES if stored.get(s)}, basis


def _dues(start: datetime, order: WorkOrder, stages: Iterable[str] = sla.STAGES) -> dict[str, datetime]:
    clocks, basis = clocks_of(order)
    calendar, schedule = _calendar_and_schedule()
    return {s: sla.deadline(start, clocks[s], basis, calendar, schedule) for s in stages if s in clocks}


def stage_start(order: WorkOrder, p: OrderParticipant, stage: str) -> datetime:
    """When ``p``'s clock for ``stage`` started (see the module docstring)."""
    if p.role == "forwarded" and stage != "accept" and p.forwarded_by_id:
        forwarder = db.session.get(OrderParticipant, p.forwarded_by_id)
        if forwarder is not None:
            return stage_start(order, forwarder, stage)
    return p.assigned_at or order.dispatched_at or order.created_at


def stage_done_at(p: OrderParticipant, stage: str) -> datetime | None:
    return {"accept": p.accepted_at, "arrive": p.arrived_at, "feedback": p.feedback_at}[stage]


def active_participants(order: WorkOrder) -> list[OrderParticipant]:
    return [p for p in order.participants if p.state != P_WITHDRAWN]


# -- who acts ----------------------------------------------------------------------------
def unit_matches(user: User, unit_id: int) -> bool:
    """A unit user acts for their unit, its parent department, or its offices."""
    if user.unit is None:
        return False
    if user.unit_id == unit_id or user.unit.parent_id == unit_id:
        return True
    unit = db.session.get(Unit, unit_id)
    return unit is not None and unit.parent_id == user.unit_id


def can_view(order: WorkOrder, user: User) -> bool:
    if user.role not in UNIT_ROLES:
        return True
    return any(unit_matches(user, p.unit_id) for p in order.participants)


def participant_for(order: WorkOrder, user: User, participant_id: int | None = None,
                    *, lead_only: bool = False) -> OrderParticipant | None:
    """The participant ``user`` acts as (their own unit first, then the lead)."""
    candidates = [p for p in active_participants(order)
                  if user.role == "admin" or (user.role in UNIT_ROLES and unit_matches(user, p.unit_id))]
    if participant_id is not None:
        candidates = [p for p in candidates if p.id == participant_id]
    if lead_only:
        candidates = [p for p in candidates if p.role == "lead"]
    candidates.sort(key=lambda p: (p.unit_id != user.unit_id, p.role != "lead", p.id))
    return candidates[0] if candidates else None


def _authorise(order: WorkOrder, t: Transition, user: User,
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


def _stale(order: WorkOrder, version: int) -> WorkflowError:
    changes = changes_since(order, version)
    what = "; ".join(f"{c['action']} by {c['by']} at {c['at']}" for c in changes) or "unknown change"
    return WorkflowError(409, "stale", (
        f"order {order.number} changed since the form was loaded (version {version}, now "
        f"{order.version}): {what}"), changes=changes)


def _take(order: WorkOrder, version: int | None) -> None:
    """Bump the version if nobody changed the order since it was read (or
    since ``version``); reload it so checks see the latest committed state."""
    if version is not None and int(version) != order.version:
        raise _stale(order, int(version))
    seen = order.version
    result = db.session.execute(
        update(WorkOrder).where(WorkOrder.id == order.id, WorkOrder.version == seen)
        .values(version=seen + 1).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.rollback()
        db.session.refresh(order)
        raise _stale(order, seen)
    db.session.refresh(order)


def _check_state(order: WorkOrder, t: Transition, p: OrderParticipant | None) -> None:
    if order.state not in t.sources:
        allowed = ", ".join(sorted(t.sources))
        raise _conflict(f"cannot {t.action} order {order.number}: it is {order.state} "
                        f"(allowed from: {allowed})")
    if t.participant_states and p is not None and p.state not in t.participant_states:
        raise _conflict(f"cannot {t.action} order {order.number} as {p.unit.name}: "
                        f"that participant is {p.state}")


def _record(order: WorkOrder, action: str, actor: User | None, *, from_state: str | None,
            note: str | None = None, data: dict[str, Any] | None = None,
            participant: OrderParticipant | None = None) -> None:
    payload = {"version": order.version, **(data or {})}
    if participant is not None:
        payload.setdefault("participant_id", participant.id)
        payload.setdefault("unit", participant.unit.code if participant.unit else None)
    audit.record(action, "work_order", order.id, actor=actor,
                 actor_label=None if actor else "system", from_state=from_state,
                 to_state=order.state, note=note, data=payload)


def _run(fn: Callable[[], WorkOrder], commit: bool = True) -> WorkOrder:
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


def _act(order: WorkOrder, action: str, actor: User, *, version: int | None,
         participant_id: int | None, body: Callable[[OrderParticipant | None], str | None],
         note: str | None = None, data: dict[str, Any] | None = None, commit: bool = True) -> WorkOrder:
    """The common frame of every lifecycle action. ``body(participant)``
    changes rows and returns the audit note (or None to keep ``note``)."""
    t = TRANSITIONS[action]

    def work() -> WorkOrder:
        p = _authorise(order, t, actor, participant_id)
        _take(order, version)
        p = db.session.get(OrderParticipant, p.id) if p is not None else None
        _check_state(order, t, p)
        before = order.state
        audit_note = body(p)
        if t.target is not None and (t.moves_order == "always" or (p is not None and p.role == "lead")):
            order.state = _resume_state(order) if t.target == RESUME else t.target
        db.session.flush()
        _record(order, action, actor, from_state=before, note=audit_note or note, data=data, participant=p)
        return order
    return _run(work, commit)


def _resume_state(order: WorkOrder) -> str:
    lead = order.lead
    return IN_PROGRESS if lead is not None and lead.accepted_at is not None else TO_ACCEPT


# -- notifications ---------------------------------------------------------------------
def _link(order: WorkOrder) -> str:
    base = (current_app.config.get("NRSC_BASE_URL") or "").rstrip("/")
    return f"{base}/orders/{order.id}"


def notify_unit(unit: Unit, title: str, body: str, key: str, order: WorkOrder | None = None) -> None:
    """Queue a message to a unit's channels and its in-platform inbox."""
    from webapp import notify
    notify.notify_unit(unit, title, body, link=_link(order) if order is not None else None, key=key, order=order)


def notify_leaders(unit: Unit, title: str, body: str, key: str, order: WorkOrder | None = None) -> list[User]:
    """Message the unit's leaders (role unit_leader; the department's when an
    office has none) in their personal inbox, plus the unit's channels."""
    from webapp import notify
    leaders = _leaders_of(unit)
    link = _link(order) if order is not None else None
    for leader in leaders:
        notify.enqueue(notify.INTERNAL, f"user:{leader.login}", title, body, link, f"{key}:user:{leader.id}",
                       unit_id=unit.id, order_id=order.id if order else None,
                       alert_id=order.alert_id if order else None)
    notify_unit(unit, title, body, f"{key}:unit", order)
    return leaders


def _leaders_of(unit: Unit) -> list[User]:
    leaders = list(db.session.scalars(select(User).where(
        User.unit_id == unit.id, User.role == "unit_leader", User.active.is_(True)).order_by(User.id)))
    if not leaders and unit.parent_id:
        leaders = list(db.session.scalars(select(User).where(
            User.unit_id == unit.parent_id, User.role == "unit_leader", User.active.is_(True)).order_by(User.id)))
    return leaders


def _notify_participants(order: WorkOrder, title: str, body: str, key: str,
                         participants: Iterable[OrderParticipant] | None = None) -> None:
    for p in participants if participants is not None else active_participants(order):
        notify_unit(p.unit, title, body, f"{key}:{p.id}", order)


# -- numbers -----------------------------------------------------------------------------
def next_number(when: datetime | None = None) -> str:
    """HSB-YYYY-NNNNNN from the per-year sequence. The UPDATE … RETURNING takes
    the row lock (PostgreSQL) or the write lock (SQLite), so concurrent
    dispatches never share a number."""
    year = clock.local(when or clock.now()).year
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    db.session.execute(insert(OrderSequence).values(year=year, last=0).on_conflict_do_nothing())
    last = db.session.execute(
        update(OrderSequence).where(OrderSequence.year == year)
        .values(last=OrderSequence.last + 1).returning(OrderSequence.last)
        .execution_options(synchronize_session=False)).scalar_one()
    return f"HSB-{year}-{last:06d}"


# -- dispatch ----------------------------------------------------------------------------
@dataclass
class DispatchPlan:
    """What the dispatch form shows and sends: the routing rule's answer,
    corrected by the officer. Units are named by their codes."""

    lead_unit: str
    working_group: int
    lead_offices: tuple[str, ...] = ()
    cooperating: tuple[str, ...] = ()
    forward_to: tuple[str, ...] = ()
    township: str | None = None
    clocks: dict[str, str] = field(default_factory=dict)
    priority: str = "normal"
    title: str = ""
    description: str = ""
    routing_note: str = ""
    note: str = ""
    as_case: bool = False
    emergency: bool = False
    emergency_allowed: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "lead_unit": self.lead_unit, "lead_offices": list(self.lead_offices),
            "cooperating": list(self.cooperating), "forward_to": list(self.forward_to),
            "township": self.township, "working_group": self.working_group, "clocks": dict(self.clocks),
            "priority": self.priority, "title": self.title, "description": self.description,
            "routing_note": self.routing_note, "note": self.note, "as_case": self.as_case,
            "emergency": self.emergency, "emergency_allowed": self.emergency_allowed,
        }


def clocks_to_json(clocks: SlaClocks) -> dict[str, str]:
    return {"review": str(clocks.review), "accept": str(clocks.accept), "arrive": str(clocks.arrive),
            "feedback": str(clocks.feedback), "basis": clocks.basis}


def township_of(alert: Alert) -> Township | None:
    """The event's township: stored at intake, else from its coordinates."""
    if alert.township is not None:
        return alert.township
    from webapp import gis
    found = gis.township_at(alert.lat, alert.lon)
    return db.session.get(Township, found.id) if found else None


def routing_for(alert: Alert) -> tuple[Routing, Township | None]:
    from webapp import review
    town = township_of(alert)
    town_unit = town.unit.code if town is not None and town.unit is not None else (
        orgchart.township_unit(town.code) if town is not None else None)
    context = RoutingContext(township_code=town.code if town else None, township_unit=town_unit,
                             gis=review.gis_context(alert))
    routing = host().route(alert=review.alert_view(alert), context=context)
    if routing is None:  # only when the core defaults were disabled
        routing = Routing(lead_unit=orgchart.LEADING_OFFICE_UNIT, working_group=1,
                          cooperating=(town_unit,) if town_unit else ())
    return routing, town


def prefill(alert: Alert) -> DispatchPlan:
    """The dispatch form's starting point, from the domain's routing rule."""
    routing, town = routing_for(alert)
    domain = host().domain(alert.domain)
    clocks = routing.clocks or (domain.sla if domain else DEFAULT_CLOCKS)
    event = domain.event_type(alert.event_type) if domain else None
    title = " · ".join(x for x in (
        domain.name_zh if domain else alert.domain, event.name_zh if event else alert.event_type,
        town.name if town else "") if x)
    description = "\n".join(x for x in (alert.text or "", alert.label or "") if x)
    return DispatchPlan(
        lead_unit=routing.lead_unit, working_group=routing.working_group,
        lead_offices=tuple(routing.lead_offices), cooperating=tuple(routing.cooperating),
        forward_to=tuple(routing.forward_to), township=town.code if town else None,
        clocks=clocks_to_json(clocks),
        priority="urgent" if domain is not None and domain.urgent else "normal",
        title=title[:200], description=description, routing_note=routing.note,
        emergency_allowed=bool(domain and domain.emergency_allowed))


def case_plan(plan: DispatchPlan) -> DispatchPlan:
    """Raise straight to a case (立案查处): working group 5, 自然资源局 and
    综合执法局 with the township."""
    town_unit = orgchart.township_unit(plan.township)
    lead, *others = orgchart.CASE_UNITS
    cooperating = tuple(dict.fromkeys([*others, *([town_unit] if town_unit else [])]))
    return replace(plan, lead_unit=lead, lead_offices=("natural_resources.enforcement",),
                   cooperating=cooperating, working_group=orgchart.CASE_GROUP, as_case=True)


def _codes(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.replace(";", ",").split(",")
    return tuple(dict.fromkeys(str(v).strip() for v in value if str(v).strip()))


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def plan_from_input(plan: DispatchPlan, data: Mapping[str, Any]) -> DispatchPlan:
    """Apply the officer's corrections (form or JSON); unknown fields are ignored."""
    changes: dict[str, Any] = {}
    if _bool(data.get("as_case", False)):
        plan = case_plan(plan)
    for name in ("lead_unit", "township"):
        if data.get(name) not in (None, ""):
            changes[name] = str(data[name]).strip()
    for name in ("lead_offices", "cooperating"):
        if name in data:
            changes[name] = _codes(data[name])
    if changes.get("lead_unit", plan.lead_unit) != plan.lead_unit and "lead_offices" not in changes:
        # Offices belong to their unit: a new lead keeps none of the old lead's.
        changes["lead_offices"] = tuple(o for o in plan.lead_offices
                                        if o.startswith(changes["lead_unit"] + "."))
    if data.get("working_group") not in (None, ""):
        try:
            changes["working_group"] = int(data["working_group"])
        except (TypeError, ValueError):
            raise _invalid("working_group must be a number 1–5") from None
        if changes["working_group"] not in orgchart.WORKING_GROUPS:
            raise _invalid(f"there is no working group {changes['working_group']}")
    clocks = dict(plan.clocks)
    raw_clocks = data.get("clocks") if isinstance(data.get("clocks"), Mapping) else {}
    for stage in sla.STAGES:
        value = raw_clocks.get(stage, data.get(f"clock_{stage}"))
        if value not in (None, ""):
            try:
                clocks[stage] = str(Clock.parse(str(value)))
            except ValueError as exc:
                raise _invalid(f"{stage} clock: {exc}") from None
    basis = raw_clocks.get("basis", data.get("basis"))
    if basis not in (None, ""):
        if basis not in ("natural", "working"):
            raise _invalid("basis must be natural or working")
        clocks["basis"] = basis
    changes["clocks"] = clocks
    if data.get("priority") not in (None, ""):
        if data["priority"] not in PRIORITIES:
            raise _invalid(f"priority must be one of {', '.join(PRIORITIES)}")
        changes["priority"] = data["priority"]
    for name, limit in (("title", 200), ("description", 4000), ("note", 2000)):
        if name in data and data[name] is not None:
            changes[name] = _text(data[name], limit)
    if "emergency" in data:
        changes["emergency"] = _bool(data["emergency"])
    return replace(plan, **changes)


def _validate_plan(plan: DispatchPlan) -> tuple[Unit, list[Unit], list[Unit], Township | None]:
    lead = _unit(plan.lead_unit)
    if lead.kind == "office":
        raise _invalid(f"the lead must be a unit, not the office {plan.lead_unit}; name offices in lead_offices")
    offices = [_unit(code) for code in plan.lead_offices]
    for office in offices:
        if office.parent_id != lead.id:
            raise _invalid(f"{office.code} is not an office of {lead.code}")
    cooperating = [u for u in (_unit(code) for code in plan.cooperating) if u.id != lead.id]
    town = None
    if plan.township:
        town = db.session.scalar(select(Township).where(Township.code == plan.township))
        if town is None:
            raise _invalid(f"unknown township {plan.township!r}")
    for stage in sla.STAGES:
        if not plan.clocks.get(stage):
            raise _invalid(f"the {stage} clock is missing")
    if not plan.title:
        raise _invalid("a title is required")
    if plan.emergency and not plan.emergency_allowed:
        raise _conflict("this domain does not allow an emergency response", "emergency_not_allowed")
    return lead, offices, cooperating, town


def _add_participant(order: WorkOrder, unit: Unit, role: str, start: datetime, *,
                     office_ids: Sequence[int] = (), forwarded_by: OrderParticipant | None = None,
                     dues: Mapping[str, datetime] | None = None) -> OrderParticipant:
    dues = dict(dues or _dues(start, order))
    p = OrderParticipant(unit=unit, role=role, office_ids=list(office_ids), state=P_TO_ACCEPT,
                         assigned_at=start, accept_due_at=dues.get("accept"),
                         arrive_due_at=dues.get("arrive"), feedback_due_at=dues.get("feedback"),
                         forwarded_by_id=forwarded_by.id if forwarded_by else None,
                         warned={}, overdue={}, return_count=0)
    order.participants.append(p)
    return p


def dispatch(alert: Alert, *, actor: User, data: Mapping[str, Any] | None = None,
             plan: DispatchPlan | None = None, commit: bool = True) -> WorkOrder:
    """Dispatch a confirmed alert as a work order. ``data`` (form or JSON)
    corrects the routing rule's plan; missing fields keep the rule's values."""
    if actor.role not in ACTOR_ROLES[DUTY]:
        raise WorkflowError(403, "forbidden", f"{actor.role} may not dispatch work orders")
    if alert.status != "confirmed":
        raise _conflict(f"alert #{alert.id} is {alert.status}: confirm it before dispatching", "not_confirmed")
    existing = db.session.scalar(select(WorkOrder).where(WorkOrder.alert_id == alert.id))
    if existing is not None:
        raise _conflict(f"alert #{alert.id} was already dispatched as {existing.number}", "already_dispatched")
    plan = plan_from_input(plan or prefill(alert), data or {})
    lead, offices, cooperating, town = _validate_plan(plan)

    def work() -> WorkOrder:
        now = clock.now()
        order = WorkOrder(
            number=next_number(now), kind="alert", alert_id=alert.id, camera_id=alert.camera_id,
            domain=alert.domain, event_type=alert.event_type, title=plan.title,
            description=plan.description, state=TO_ACCEPT, priority=plan.priority,
            working_group=plan.working_group, township_id=town.id if town else None,
            lat=alert.lat, lon=alert.lon, clocks=dict(plan.clocks), dispatched_at=now,
            dispatched_by_id=actor.id, template=host().workorder_template(alert.domain), version=1)
        db.session.add(order)
        _add_participant(order, lead, "lead", now, office_ids=[o.id for o in offices])
        for unit in cooperating:
            _add_participant(order, unit, "cooperating", now)
        try:
            db.session.flush()
        except IntegrityError:
            raise _conflict(f"alert #{alert.id} was already dispatched", "already_dispatched") from None
        _record(order, "dispatch", actor, from_state=None, note=plan.note or None,
                data={"alert_id": alert.id, "plan": plan.as_json()})
        audit.record("dispatched", "alert", alert.id, actor=actor, from_state=alert.status,
                     to_state=alert.status, note=order.number, data={"order_id": order.id})
        _notify_participants(order, f"新工单 {order.number}", f"{order.title}\n{plan.note}".strip(),
                             f"order:{order.id}:dispatch")
        if plan.emergency:
            _start_emergency(order, actor, plan.note or None)
        return order
    return _run(work, commit)


def create_maintenance_order(camera: Camera, title: str, description: str = "",
                             actor: User | None = None, *, commit: bool = True) -> WorkOrder:
    """A maintenance order to the operator for a camera fault; an open one for
    the same camera is reused, so a flapping camera raises one order."""
    open_order = db.session.scalar(select(WorkOrder).where(
        WorkOrder.kind == "maintenance", WorkOrder.camera_id == camera.id,
        WorkOrder.state.in_(OPEN_STATES)).order_by(WorkOrder.id))
    if open_order is not None:
        return open_order
    operator = _unit(MAINTENANCE_UNIT)

    def work() -> WorkOrder:
        now = clock.now()
        clocks = dict(current_app.config.get("NRSC_MAINTENANCE_CLOCKS") or DEFAULT_MAINTENANCE_CLOCKS)
        order = WorkOrder(
            number=next_number(now), kind="maintenance", camera_id=camera.id, domain=None,
            title=_text(title, 200) or f"摄像头故障 {camera.code}", description=_text(description),
            state=TO_ACCEPT, priority="normal", lat=camera.lat, lon=camera.lon, clocks=clocks,
            dispatched_at=now, dispatched_by_id=actor.id if actor else None, version=1)
        db.session.add(order)
        _add_participant(order, operator, "lead", now)
        db.session.flush()
        _record(order, "dispatch", actor, from_state=None, note=order.title,
                data={"kind": "maintenance", "camera": camera.code})
        _notify_participants(order, f"运维工单 {order.number}", order.title, f"order:{order.id}:dispatch")
        return order
    return _run(work, commit)


# -- lifecycle actions --------------------------------------------------------------------
def _on_time(p: OrderParticipant, stage: str, when: datetime) -> None:
    """Freeze a stage's on-time flag once (the sweep may have frozen it false)."""
    flag = f"{stage}_on_time"
    if getattr(p, flag) is None:
        due = getattr(p, f"{stage}_due_at")
        setattr(p, flag, due is None or when <= due)


def accept(order: WorkOrder, *, actor: User, version: int | None = None,
           participant_id: int | None = None, note: str | None = None) -> WorkOrder:
    """签收: the participant takes the order on."""
    def body(p: OrderParticipant) -> None:
        now = clock.now()
        p.state, p.accepted_at, p.accepted_by_id = P_IN_PROGRESS, now, actor.id
        _on_time(p, "accept", now)
    return _act(order, "accept", actor, version=version, participant_id=participant_id, body=body,
                note=_text(note) or None)


def return_order(order: WorkOrder, *, actor: User, reason: str, version: int | None = None,
                 participant_id: int | None = None) -> WorkOrder:
    """退单: "not ours", with a reason; the order waits as returned."""
    reason = _text(reason)

    def body(p: OrderParticipant) -> str:
        if not reason:
            raise _invalid("a return needs a reason")
        if p.return_count >= 2 and p.return_justified is False:
            raise _conflict(f"the duty lead ruled {p.unit.name}'s return unjustified; "
                            "the order must be handled", "return_refused")
        p.state, p.returned_at, p.return_reason = P_RETURNED, clock.now(), reason
        p.return_count += 1
        p.return_justified = None
        # The duty office re-dispatches: tell it at once.
        for duty in db.session.scalars(select(Unit).where(Unit.kind == "duty")):
            notify_unit(duty, f"工单被退单 {order.number}", f"{p.unit.name}: {reason}",
                        f"order:{order.id}:return:{p.id}:{p.return_count}", order)
        return reason
    return _act(order, "return", actor, version=version, participant_id=participant_id, body=body)


def decide_return(order: WorkOrder, *, actor: User, justified: Any, note: str | None = None,
                  participant_id: int | None = None, version: int | None = None) -> WorkOrder:
    """The duty lead records whether a return was justified (and, on a second
    return by the same unit, decides the dispute)."""
    if justified in (None, ""):
        raise _invalid("justified (true or false) is required")
    verdict = _bool(justified)

    def body(_p: None) -> str:
        returned = [p for p in order.participants if p.returned_at is not None
                    and (participant_id is None or p.id == participant_id)]
        returned.sort(key=lambda p: p.returned_at, reverse=True)
        if not returned:
            raise _conflict(f"order {order.number} has no return to decide", "nothing_to_decide")
        p = returned[0]
        p.return_justified = verdict
        return f"{p.unit.name}：{'退单理由成立' if verdict else '退单理由不成立'}" + (f" — {note}" if note else "")
    return _act(order, "return-decision", actor, version=version, participant_id=None, body=body,
                data={"justified": verdict})


def redispatch(order: WorkOrder, *, actor: User, units: Mapping[int, str] | None = None,
               note: str | None = None, version: int | None = None) -> WorkOrder:
    """Send a returned order out again. ``units`` maps returned participant
    ids to the unit that replaces them (default: the same unit)."""
    units = {int(k): v for k, v in (units or {}).items() if v}

    def body(_p: None) -> str:
        now = clock.now()
        returned = [p for p in order.participants if p.state == P_RETURNED]
        for p in returned:
            if p.return_count >= 2 and p.return_justified is None:
                raise _conflict(f"{p.unit.name} returned the order a second time: the duty lead "
                                "must decide the dispute first", "dispute_pending")
        sent = []
        for p in returned:
            new_code = units.get(p.id)
            if new_code and new_code != p.unit.code:
                unit = _unit(new_code)
                p.state = P_WITHDRAWN
                sent.append(_add_participant(order, unit, p.role, now, office_ids=[]))
            else:
                p.state = P_TO_ACCEPT
                dues = _dues(now, order)
                p.assigned_at, p.accepted_at, p.accepted_by_id, p.accept_on_time = now, None, None, None
                p.accept_due_at, p.arrive_due_at, p.feedback_due_at = (
                    dues.get("accept"), dues.get("arrive"), dues.get("feedback"))
                p.arrive_on_time = p.feedback_on_time = None
                p.warned, p.overdue = {}, {}
                sent.append(p)
        db.session.flush()
        _notify_participants(order, f"工单重新派发 {order.number}", order.title,
                             f"order:{order.id}:redispatch:{order.version}", sent)
        return _text(note) or None
    return _act(order, "redispatch", actor, version=version, participant_id=None, body=body)


def _coordinate(value: Any, name: str, low: float, high: float) -> float:
    if value in (None, ""):
        raise _invalid(f"check-in needs {name} (the phone's GPS position)")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _invalid(f"{name} must be a number") from None
    if not (low <= number <= high):
        raise _invalid(f"{name} must be between {low} and {high}")
    return number


def _haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    from webapp.geometry.ptz import haversine_m
    return haversine_m(lat1, lon1, lat2, lon2)


def _read_photos(photos: Sequence[Any] | None) -> list[Any]:
    """Validate every photo before anything is written (400/413 otherwise)."""
    from webapp.evidence import EvidenceError, check_image

    checked = []
    for item in photos or ():
        if isinstance(item, tuple):
            data, name = item
        elif isinstance(item, (bytes, bytearray)):
            data, name = bytes(item), None
        else:  # a werkzeug FileStorage
            name = getattr(item, "filename", None)
            data = item.read()
            if not data and not name:
                continue  # an empty file input sent by a form
        try:
            checked.append(check_image(data, name))
        except EvidenceError as exc:
            raise WorkflowError(exc.status, exc.code, exc.message) from None
    return checked


def _store_photos(checked: Sequence[Any], kind: str, actor: User, **fks: Any) -> list[EvidenceFile]:
    from webapp.evidence import store_image
    return [store_image(c, kind=kind, uploaded_by=actor, **fks) for c in checked]


def arrive(order: WorkOrder, *, actor: User, lat: Any, lon: Any, accuracy_m: Any = None,
           photos: Sequence[Any] | None = None, note: str | None = None, version: int | None = None,
           participant_id: int | None = None) -> WorkOrder:
    """到场: on-site check-in with the phone's GPS (and photos)."""
    checked_lat = _coordinate(lat, "lat", -90, 90)
    checked_lon = _coordinate(lon, "lon", -180, 180)
    accuracy = None
    if accuracy_m not in (None, ""):
        try:
            accuracy = float(accuracy_m)
        except (TypeError, ValueError):
            raise _invalid("accuracy_m must be a number") from None
    checked = _read_photos(photos)

    def body(p: OrderParticipant) -> str | None:
        if p.arrived_at is not None:
            raise _conflict(f"{p.unit.name} already checked in at {p.arrived_at.isoformat()}", "already_arrived")
        now = clock.now()
        p.arrived_at, p.arrived_by_id = now, actor.id
        p.arrive_lat, p.arrive_lon, p.arrive_accuracy_m = checked_lat, checked_lon, accuracy
        if order.lat is not None and order.lon is not None:
            p.arrive_distance_m = round(_haversine_m(order.lat, order.lon, checked_lat, checked_lon), 1)
        _on_time(p, "arrive", now)
        _store_photos(checked, "checkin", actor, order_id=order.id, participant_id=p.id)
        return _text(note) or None
    return _act(order, "arrive", actor, version=version, participant_id=participant_id, body=body,
                data={"lat": checked_lat, "lon": checked_lon, "photos": len(checked)})


def forward(order: WorkOrder, *, actor: User, unit: str, note: str | None = None,
            version: int | None = None) -> WorkOrder:
    """转派: the lead hands part of the order to a township or 综合执法局."""
    target = _unit(_text(unit)) if _text(unit) else None
    if target is None:
        raise _invalid("forward needs the unit to forward to")
    if target.kind not in ("township", "department"):
        raise _invalid(f"cannot forward to {target.name}: choose a township or a department")

    def body(lead: OrderParticipant) -> str:
        if any(p.unit_id == target.id for p in active_participants(order)):
            raise _conflict(f"{target.name} already takes part in order {order.number}", "already_participant")
        now = clock.now()
        accept_due = _dues(now, order, ("accept",)).get("accept")
        new = _add_participant(order, target, "forwarded", now, forwarded_by=lead, dues={
            "accept": accept_due, "arrive": lead.arrive_due_at, "feedback": lead.feedback_due_at})
        db.session.flush()
        notify_unit(target, f"转派工单 {order.number}", f"{order.title}\n{note or ''}".strip(),
                    f"order:{order.id}:forward:{new.id}", order)
        return f"→ {target.name}" + (f": {_text(note)}" if note else "")
    return _act(order, "forward", actor, version=version, participant_id=None, body=body,
                data={"to": target.code})


def feedback(order: WorkOrder, *, actor: User, result: str, text: str = "",
             photos: Sequence[Any] | None = None, client_key: str | None = None,
             case_number: str | None = None, version: int | None = None,
             participant_id: int | None = None) -> WorkOrder:
    """反馈: the handling result with at least one photo. A retried upload with
    the same ``client_key`` is kept once."""
    client_key = _text(client_key, 80) or None
    if client_key:
        earlier = db.session.scalar(select(Feedback).where(Feedback.client_key == client_key))
        if earlier is not None:
            if earlier.order_id != order.id:
                raise _conflict("client_key was already used for another order", "client_key_reused")
            return order
    if result not in FEEDBACK_RESULTS:
        raise _invalid(f"result must be one of {', '.join(FEEDBACK_RESULTS)}")
    checked = _read_photos(photos)
    if not checked:
        raise _invalid("feedback needs at least one photo")
    case_number = _text(case_number, 80) or None

    def body(p: OrderParticipant) -> str:
        now = clock.now()
        fb = Feedback(order_id=order.id, participant_id=p.id, result=result, text=_text(text),
                      submitted_by_id=actor.id, submitted_at=now, client_key=client_key)
        db.session.add(fb)
        db.session.flush()
        _store_photos(checked, "feedback", actor, order_id=order.id, participant_id=p.id, feedback_id=fb.id)
        p.feedback_at = now
        _on_time(p, "feedback", now)
        p.state = P_DONE
        if case_number and not order.case_transferred:
            order.case_transferred, order.case_number = True, case_number
        return f"{result_name_zh(result)}：{_text(text)}"[:4000]
    try:
        return _act(order, "feedback", actor, version=version, participant_id=participant_id, body=body,
                    data={"result": result, "photos": len(checked), "client_key": client_key,
                          "case_number": case_number})
    except IntegrityError:
        # A concurrent retry of the same upload won the race: that one counts.
        if client_key and db.session.scalar(select(Feedback.id).where(Feedback.client_key == client_key)):
            db.session.refresh(order)
            return order
        raise


def _latest_lead_feedback(order: WorkOrder) -> Feedback | None:
    lead = order.lead
    items = [f for f in order.feedbacks if lead is not None and f.participant_id == lead.id]
    return items[-1] if items else None


def close(order: WorkOrder, *, actor: User, note: str | None = None, version: int | None = None) -> WorkOrder:
    """办结: the duty office accepts the feedback."""
    def body(_p: None) -> str | None:
        order.closed_at, order.closed_by_id = clock.now(), actor.id
        fb = _latest_lead_feedback(order)
        if fb is not None:
            fb.review_result, fb.review_note = "closed", _text(note) or None
        return _text(note) or None
    return _act(order, "close", actor, version=version, participant_id=None, body=body)


def rework(order: WorkOrder, *, actor: User, reason: str, version: int | None = None) -> WorkOrder:
    """退回重办: feedback not accepted; counts against the unit."""
    reason = _text(reason)

    def body(_p: None) -> str:
        if not reason:
            raise _invalid("rework needs a reason")
        order.rework_count += 1
        fb = _latest_lead_feedback(order)
        if fb is not None:
            fb.review_result, fb.review_note = "rework", reason
        if order.lead is not None:
            order.lead.state = P_IN_PROGRESS
            notify_unit(order.lead.unit, f"工单退回重办 {order.number}", reason,
                        f"order:{order.id}:rework:{order.rework_count}", order)
        return reason
    return _act(order, "rework", actor, version=version, participant_id=None, body=body)


def _parse_until(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise _invalid("until must be an ISO 8601 date-time, e.g. 2026-11-22T18:00+08:00") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=clock.LOCAL_TZ)
    return parsed


def extend(order: WorkOrder, *, actor: User, reason: str, until: Any = None, hours: Any = None,
           stage: str = "feedback", version: int | None = None, participant_id: int | None = None) -> WorkOrder:
    """延期: ask for a later deadline, with a reason."""
    reason = _text(reason)
    if not reason:
        raise _invalid("an extension needs a reason")
    stage = stage or "feedback"
    if stage not in EXTENSION_STAGES:
        raise _invalid(f"stage must be one of {', '.join(EXTENSION_STAGES)}")
    if until in (None, "") and hours in (None, ""):
        raise _invalid("an extension needs until (a date-time) or hours")

    def body(p: OrderParticipant) -> str:
        if stage_done_at(p, stage) is not None:
            raise _conflict(f"the {stage} stage is already done", "stage_done")
        if any(e.participant_id == p.id and e.decision is None for e in order.extensions):
            raise _conflict("an extension request is already waiting for a decision", "extension_pending")
        due = getattr(p, f"{stage}_due_at") or clock.now()
        if until not in (None, ""):
            new_due = _parse_until(until)
        else:
            try:
                new_due = due + timedelta(hours=float(hours))
            except (TypeError, ValueError):
                raise _invalid("hours must be a number") from None
        if new_due <= due:
            raise _invalid(f"the new deadline must be after the current one ({due.isoformat()})")
        db.session.add(ExtensionRequest(order_id=order.id, participant_id=p.id, stage=stage, reason=reason,
                                        requested_until=new_due, requested_by_id=actor.id,
                                        requested_at=clock.now()))
        return f"{stage_name_zh(stage)} → {clock.local(new_due):%Y-%m-%d %H:%M}：{reason}"
    return _act(order, "extend", actor, version=version, participant_id=participant_id, body=body)


def approve_extension(order: WorkOrder, *, actor: User, approve: Any = True, request_id: int | None = None,
                      note: str | None = None, version: int | None = None) -> WorkOrder:
    """延期审批: approve (the deadline moves) or reject a pending request."""
    approved = _bool(approve) if approve not in (None, "") else True

    def body(_p: None) -> str:
        pending = [e for e in order.extensions if e.decision is None
                   and (request_id is None or e.id == int(request_id))]
        if not pending:
            raise _conflict(f"order {order.number} has no pending extension request", "nothing_to_decide")
        req = pending[-1]
        req.decision, req.decided_by_id, req.decided_at = (
            "approved" if approved else "rejected"), actor.id, clock.now()
        if approved:
            p = db.session.get(OrderParticipant, req.participant_id)
            setattr(p, f"{req.stage}_due_at", req.requested_until)
            if req.stage not in (p.overdue or {}):
                p.warned = {k: v for k, v in (p.warned or {}).items() if k != req.stage}
        decision = "同意" if req.decision == "approved" else "不同意"
        return (f"{decision}：{stage_name_zh(req.stage)} → {clock.local(req.requested_until):%Y-%m-%d %H:%M}"
                + (f" — {note}" if note else ""))
    return _act(order, "approve-extension", actor, version=version, participant_id=None, body=body,
                data={"approved": approved})


def _set_supervised(order: WorkOrder, note: str, actor: User | None) -> None:
    order.supervised, order.supervise_note, order.supervised_at = True, note, clock.now()
    for p in active_participants(order):
        notify_leaders(p.unit, f"督办 {order.number}", f"{order.title}\n{note}",
                       f"order:{order.id}:supervise:{order.version}:{p.id}", order)


def supervise(order: WorkOrder, *, actor: User, note: str, version: int | None = None) -> WorkOrder:
    """督办: a flag with a note; the units' leaders are told."""
    note = _text(note)

    def body(_p: None) -> str:
        if not note:
            raise _invalid("supervision needs a note")
        _set_supervised(order, note, actor)
        return note
    return _act(order, "supervise", actor, version=version, participant_id=None, body=body)


def _start_emergency(order: WorkOrder, actor: User, note: str | None) -> None:
    order.emergency, order.emergency_at, order.emergency_by_id = True, clock.now(), actor.id
    order.priority = "urgent"
    text = f"{order.title}\n启动人: {_name(actor)} {clock.local(order.emergency_at):%Y-%m-%d %H:%M}"
    if note:
        text += f"\n{note}"
    targets = db.session.scalars(select(Unit).where(
        (Unit.is_leading_office.is_(True)) | (Unit.code == "emergency_management"))).all()
    for unit in targets:
        notify_leaders(unit, f"启动应急响应 {order.number}", text, f"order:{order.id}:emergency:{unit.id}", order)
    _record(order, "emergency", actor, from_state=order.state, note=note,
            data={"notified": [u.code for u in targets]})


def emergency(order: WorkOrder, *, actor: User, note: str | None = None, version: int | None = None) -> WorkOrder:
    """启动应急响应: priority raised, the leading group and 应急管理局 notified."""
    t = TRANSITIONS["emergency"]
    _authorise(order, t, actor, None)
    domain = host().domain(order.domain) if order.domain else None
    if domain is None or not domain.emergency_allowed:
        raise _conflict(f"domain {order.domain} does not allow an emergency response", "emergency_not_allowed")
    if order.emergency:
        raise _conflict(f"order {order.number} is already under emergency response", "already_emergency")

    def work() -> WorkOrder:
        _take(order, version)
        _check_state(order, t, None)
        if order.emergency:
            raise _conflict(f"order {order.number} is already under emergency response", "already_emergency")
        _start_emergency(order, actor, _text(note) or None)
        return order
    return _run(work)


def reopen(order: WorkOrder, *, actor: User, reason: str, version: int | None = None) -> WorkOrder:
    """Reopen a closed order within N days when the violation recurs."""
    reason = _text(reason)

    def body(_p: None) -> str:
        if not reason:
            raise _invalid("reopening needs a reason")
        limit = timedelta(days=reopen_days())
        if order.closed_at is None or clock.now() - order.closed_at > limit:
            raise _conflict(f"order {order.number} was closed more than {reopen_days()} days ago; "
                            "raise a new alert instead", "reopen_too_late")
        order.reopen_count += 1
        order.closed_at = order.closed_by_id = None
        if order.lead is not None:
            order.lead.state = P_IN_PROGRESS
            notify_unit(order.lead.unit, f"工单重新打开 {order.number}", reason,
                        f"order:{order.id}:reopen:{order.reopen_count}", order)
        return reason
    return _act(order, "reopen", actor, version=version, participant_id=None, body=body)


def transfer_case(order: WorkOrder, *, actor: User, case_number: str, note: str | None = None,
                  version: int | None = None, participant_id: int | None = None) -> WorkOrder:
    """立案: flag the order as transferred to a case, with its case number."""
    case_number = _text(case_number, 80)

    def body(_p: OrderParticipant | None) -> str:
        if not case_number:
            raise _invalid("case transfer needs the case number")
        if order.case_transferred:
            raise _conflict(f"order {order.number} was already transferred as case {order.case_number}",
                            "already_transferred")
        order.case_transferred, order.case_number = True, case_number
        return case_number + (f" — {_text(note)}" if note else "")
    return _act(order, "transfer-case", actor, version=version, participant_id=participant_id, body=body,
                data={"case_number": case_number})


def spot_check(order: WorkOrder, *, actor: User, result: str, note: str | None = None,
               version: int | None = None) -> WorkOrder:
    """核查: the office checks a closed order's feedback: pass or fail."""
    note = _text(note)
    if result not in SPOT_CHECK_RESULTS:
        raise _invalid("result must be pass or fail")
    if result == "fail" and not note:
        raise _invalid("a failed spot check needs a note")

    def body(_p: None) -> str:
        if order.spot_check_result is not None:
            raise _conflict(f"order {order.number} was already spot-checked ({order.spot_check_result})",
                            "already_checked")
        order.spot_check_result, order.spot_check_note, order.spot_checked_at = result, note or None, clock.now()
        return result_name_zh(result) + (f"：{note}" if note else "")
    return _act(order, "spot-check", actor, version=version, participant_id=None, body=body,
                data={"result": result})


# -- the SLA sweep ----------------------------------------------------------------------
def sla_status(order: WorkOrder, p: OrderParticipant, stage: str, now: datetime | None = None,
               calendar: sla.WorkCalendar | None = None, schedule: sla.Schedule | None = None) -> dict[str, Any]:
    """One stage of one participant: due, done, fraction elapsed, on time."""
    now = now or clock.now()
    due = getattr(p, f"{stage}_due_at")
    done = stage_done_at(p, stage)
    _, basis = clocks_of(order)
    info: dict[str, Any] = {"due_at": due.isoformat() if due else None,
                            "done_at": done.isoformat() if done else None,
                            "on_time": getattr(p, f"{stage}_on_time"),
                            "warned": stage in (p.warned or {}), "overdue": stage in (p.overdue or {})}
    if due is not None and done is None:
        if calendar is None or schedule is None:
            calendar, schedule = _calendar_and_schedule()
        info["fraction"] = round(sla.elapsed_fraction(stage_start(order, p, stage), due, now, basis,
                                                      calendar, schedule), 3)
        info["remaining_s"] = int(sla.remaining(due, now, basis, calendar, schedule).total_seconds())
    return info


def sla_sweep() -> dict[str, int]:
    """Warn at 75% of a clock; at 100% mark overdue, freeze the on-time flag
    false, flag the order for supervision and notify the unit's leaders."""
    now = clock.now()
    calendar, schedule = _calendar_and_schedule()
    counts = {"warned": 0, "overdue": 0}
    order_ids = db.session.scalars(select(WorkOrder.id).where(WorkOrder.state.in_(OPEN_STATES))
                                   .order_by(WorkOrder.id)).all()
    for order_id in order_ids:
        order = db.session.get(WorkOrder, order_id)
        if order is None or order.state not in OPEN_STATES:
            continue
        _, basis = clocks_of(order)
        for p in active_participants(order):
            if p.state == P_RETURNED:
                continue
            for stage in sla.STAGES:
                due = getattr(p, f"{stage}_due_at")
                if due is None or stage_done_at(p, stage) is not None or stage in (p.overdue or {}):
                    continue
                fraction = sla.elapsed_fraction(stage_start(order, p, stage), due, now, basis, calendar, schedule)
                if fraction >= 1.0:
                    _mark_overdue(order, p, stage, now)
                    counts["overdue"] += 1
                elif fraction >= sla.WARN_FRACTION and stage not in (p.warned or {}):
                    p.warned = {**(p.warned or {}), stage: now.isoformat()}
                    notify_unit(p.unit, f"工单即将超时 {order.number}",
                                f"{order.title}\n{stage_name_zh(stage)} 截止 {clock.local(due):%Y-%m-%d %H:%M}",
                                f"order:{order.id}:warn:{p.id}:{stage}:{due.isoformat()}", order)
                    _record(order, "sla_warning", None, from_state=order.state,
                            note=f"{p.unit.name} {stage_name_zh(stage)}即将超时", data={"stage": stage},
                            participant=p)
                    counts["warned"] += 1
        db.session.commit()
    return counts


def _mark_overdue(order: WorkOrder, p: OrderParticipant, stage: str, now: datetime) -> None:
    p.overdue = {**(p.overdue or {}), stage: now.isoformat()}
    setattr(p, f"{stage}_on_time", False)
    note = f"{p.unit.name} {stage_name_zh(stage)}超时"
    if not order.supervised:
        order.supervised, order.supervised_at = True, now
        order.supervise_note = f"自动督办：{note}"
        _record(order, "supervise", None, from_state=order.state, note=order.supervise_note,
                data={"automatic": True, "stage": stage}, participant=p)
    notify_leaders(p.unit, f"工单超时督办 {order.number}", f"{order.title}\n{note}",
                   f"order:{order.id}:overdue:{p.id}:{stage}", order)
    _record(order, "sla_overdue", None, from_state=order.state, note=note, data={"stage": stage}, participant=p)


def start_sla_timers(app: Flask) -> None:
    from webapp.tasks import get_runner
    runner = get_runner(app)
    if SLA_JOB not in runner.jobs:
        runner.register(SLA_JOB, sla_sweep)
    runner.schedule(SLA_JOB, SLA_EVERY_SECONDS)


def _register_starter() -> None:
    from webapp import services
    if start_sla_timers not in services.STARTERS:
        services.STARTERS.append(start_sla_timers)


_register_starter()


# -- reading -----------------------------------------------------------------------------
def allowed_actions(order: WorkOrder, user: User) -> list[str]:
    """Actions of the transition table ``user`` may take on ``order`` now
    (input checks aside); for showing buttons, never instead of the checks."""
    allowed = []
    for action, t in TRANSITIONS.items():
        if order.state not in t.sources:
            continue
        try:
            p = _authorise(order, t, user, None)
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
