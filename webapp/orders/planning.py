"""Dispatch: order numbers, the plan the domain's routing rule proposes, its
validation, the dispatch itself, and maintenance orders for camera faults."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Mapping, Sequence

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from webapp.alerts import review
from webapp.extensions import db
from webapp.gis import context as gis
from webapp.models import (
    Alert,
    Camera,
    OrderParticipant,
    OrderSequence,
    Township,
    Unit,
    User,
    WorkOrder,
)
from webapp.orders import rounds, sla
from webapp.orders.deadlines import stage_deadlines, start_emergency
from webapp.orders.engine import (
    clean_text,
    host,
    record,
    run_unit_of_work,
    unit_by_code,
)
from webapp.orders.errors import WorkflowError, conflict, invalid
from webapp.orders.messaging import notify_participants
from webapp.orders.states import (
    ACTOR_ROLES,
    DEFAULT_CLOCKS,
    DEFAULT_MAINTENANCE_CLOCKS,
    DUTY,
    MAINTENANCE_UNIT,
    OPEN_STATES,
    P_TO_ACCEPT,
    PRIORITIES,
    TO_ACCEPT,
)
from webapp.org import chart as orgchart
from webapp.platform import audit, clock
from webapp.plugin_api import Clock, Routing, RoutingContext, SlaClocks


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
    found = gis.township_at(alert.lat, alert.lon)
    return db.session.get(Township, found.id) if found else None


def routing_for(alert: Alert) -> tuple[Routing, Township | None]:
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
    clocks = routing.clocks or (domain.clocks_for(alert.event_type) if domain else DEFAULT_CLOCKS)
    event = domain.event_type(alert.event_type) if domain else None
    if event is not None and event.basis is not None and clocks.basis != event.basis:
        # The event type's basis wins over a rule's clocks: an accident counts natural time.
        clocks = replace(clocks, basis=event.basis)
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


def codes(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.replace(";", ",").split(",")
    return tuple(dict.fromkeys(str(v).strip() for v in value if str(v).strip()))


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def plan_from_input(plan: DispatchPlan, data: Mapping[str, Any]) -> DispatchPlan:
    """Apply the officer's corrections (form or JSON); unknown fields are ignored."""
    changes: dict[str, Any] = {}
    if as_bool(data.get("as_case", False)):
        plan = case_plan(plan)
    for name in ("lead_unit", "township"):
        if data.get(name) not in (None, ""):
            changes[name] = str(data[name]).strip()
    for name in ("lead_offices", "cooperating"):
        if name in data:
            changes[name] = codes(data[name])
    if changes.get("lead_unit", plan.lead_unit) != plan.lead_unit and "lead_offices" not in changes:
        # Offices belong to their unit: a new lead keeps none of the old lead's.
        changes["lead_offices"] = tuple(o for o in plan.lead_offices
                                        if o.startswith(changes["lead_unit"] + "."))
    if data.get("working_group") not in (None, ""):
        try:
            changes["working_group"] = int(data["working_group"])
        except (TypeError, ValueError):
            raise invalid("working_group must be a number 1–5") from None
        if changes["working_group"] not in orgchart.WORKING_GROUPS:
            raise invalid(f"there is no working group {changes['working_group']}")
    clocks = dict(plan.clocks)
    raw_clocks = data.get("clocks") if isinstance(data.get("clocks"), Mapping) else {}
    for stage in sla.STAGES:
        value = raw_clocks.get(stage, data.get(f"clock_{stage}"))
        if value not in (None, ""):
            try:
                clocks[stage] = str(Clock.parse(str(value)))
            except ValueError as exc:
                raise invalid(f"{stage} clock: {exc}") from None
    basis = raw_clocks.get("basis", data.get("basis"))
    if basis not in (None, ""):
        if basis not in ("natural", "working"):
            raise invalid("basis must be natural or working")
        clocks["basis"] = basis
    changes["clocks"] = clocks
    if data.get("priority") not in (None, ""):
        if data["priority"] not in PRIORITIES:
            raise invalid(f"priority must be one of {', '.join(PRIORITIES)}")
        changes["priority"] = data["priority"]
    for name, limit in (("title", 200), ("description", 4000), ("note", 2000)):
        if name in data and data[name] is not None:
            changes[name] = clean_text(data[name], limit)
    if "emergency" in data:
        changes["emergency"] = as_bool(data["emergency"])
    return replace(plan, **changes)


def _validate_plan(plan: DispatchPlan) -> tuple[Unit, list[Unit], list[Unit], Township | None]:
    lead = unit_by_code(plan.lead_unit)
    if lead.kind == "office":
        raise invalid(f"the lead must be a unit, not the office {plan.lead_unit}; name offices in lead_offices")
    offices = [unit_by_code(code) for code in plan.lead_offices]
    for office in offices:
        if office.parent_id != lead.id:
            raise invalid(f"{office.code} is not an office of {lead.code}")
    cooperating = [u for u in (unit_by_code(code) for code in plan.cooperating) if u.id != lead.id]
    town = None
    if plan.township:
        town = db.session.scalar(select(Township).where(Township.code == plan.township))
        if town is None:
            raise invalid(f"unknown township {plan.township!r}")
    for stage in sla.STAGES:
        if not plan.clocks.get(stage):
            raise invalid(f"the {stage} clock is missing")
    if not plan.title:
        raise invalid("a title is required")
    if plan.emergency and not plan.emergency_allowed:
        raise conflict("this domain does not allow an emergency response", "emergency_not_allowed")
    return lead, offices, cooperating, town


def add_participant(order: WorkOrder, unit: Unit, role: str, start: datetime, *,
                     office_ids: Sequence[int] = (), forwarded_by: OrderParticipant | None = None,
                     dues: Mapping[str, datetime] | None = None, reason: str | None = None) -> OrderParticipant:
    dues = dict(dues or stage_deadlines(start, order))
    p = OrderParticipant(unit=unit, role=role, office_ids=list(office_ids), state=P_TO_ACCEPT,
                         assigned_at=start, accept_due_at=dues.get("accept"),
                         arrive_due_at=dues.get("arrive"), feedback_due_at=dues.get("feedback"),
                         forwarded_by_id=forwarded_by.id if forwarded_by else None,
                         warned={}, overdue={}, return_count=0, round_number=1)
    order.participants.append(p)
    rounds.first(p, reason or ("forward" if forwarded_by else "dispatch"), start)
    return p


def dispatch(alert: Alert, *, actor: User, data: Mapping[str, Any] | None = None,
             plan: DispatchPlan | None = None, commit: bool = True) -> WorkOrder:
    """Dispatch a confirmed alert as a work order. ``data`` (form or JSON)
    corrects the routing rule's plan; missing fields keep the rule's values."""
    if actor.role not in ACTOR_ROLES[DUTY]:
        raise WorkflowError(403, "forbidden", f"{actor.role} may not dispatch work orders")
    if alert.status != "confirmed":
        raise conflict(f"alert #{alert.id} is {alert.status}: confirm it before dispatching", "not_confirmed")
    existing = db.session.scalar(select(WorkOrder).where(WorkOrder.alert_id == alert.id))
    if existing is not None:
        raise conflict(f"alert #{alert.id} was already dispatched as {existing.number}", "already_dispatched")
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
        add_participant(order, lead, "lead", now, office_ids=[o.id for o in offices])
        for unit in cooperating:
            add_participant(order, unit, "cooperating", now)
        try:
            db.session.flush()
        except IntegrityError:
            raise conflict(f"alert #{alert.id} was already dispatched", "already_dispatched") from None
        record(order, "dispatch", actor, from_state=None, note=plan.note or None,
                data={"alert_id": alert.id, "plan": plan.as_json()})
        audit.record("dispatched", "alert", alert.id, actor=actor, from_state=alert.status,
                     to_state=alert.status, note=order.number, data={"order_id": order.id})
        notify_participants(order, f"新工单 {order.number}", f"{order.title}\n{plan.note}".strip(),
                             f"order:{order.id}:dispatch")
        if plan.emergency:
            start_emergency(order, actor, plan.note or None)
        return order
    return run_unit_of_work(work, commit)


def create_maintenance_order(camera: Camera, title: str, description: str = "",
                             actor: User | None = None, *, commit: bool = True) -> WorkOrder:
    """A maintenance order to the operator for a camera fault; an open one for
    the same camera is reused, so a flapping camera raises one order."""
    open_order = db.session.scalar(select(WorkOrder).where(
        WorkOrder.kind == "maintenance", WorkOrder.camera_id == camera.id,
        WorkOrder.state.in_(OPEN_STATES)).order_by(WorkOrder.id))
    if open_order is not None:
        return open_order
    operator = unit_by_code(MAINTENANCE_UNIT)

    def work() -> WorkOrder:
        now = clock.now()
        clocks = dict(current_app.config.get("NRSC_MAINTENANCE_CLOCKS") or DEFAULT_MAINTENANCE_CLOCKS)
        order = WorkOrder(
            number=next_number(now), kind="maintenance", camera_id=camera.id, domain=None,
            title=clean_text(title, 200) or f"摄像头故障 {camera.code}", description=clean_text(description),
            state=TO_ACCEPT, priority="normal", lat=camera.lat, lon=camera.lon, clocks=clocks,
            dispatched_at=now, dispatched_by_id=actor.id if actor else None, version=1)
        db.session.add(order)
        add_participant(order, operator, "lead", now)
        db.session.flush()
        record(order, "dispatch", actor, from_state=None, note=order.title,
                data={"kind": "maintenance", "camera": camera.code})
        notify_participants(order, f"运维工单 {order.number}", order.title, f"order:{order.id}:dispatch")
        return order
    return run_unit_of_work(work, commit)
