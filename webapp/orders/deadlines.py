"""SLA clocks of work orders: stage starts and deadlines, on-time status, and
the sweep that warns at 75% and marks overdue at 100% (DESIGN.md §6)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import (
    OrderParticipant,
    Unit,
    User,
    WorkOrder,
)
from webapp.orders import rounds, sla
from webapp.orders.engine import display_name, record, take
from webapp.orders.errors import WorkflowError
from webapp.orders.messaging import notify_leaders, notify_unit
from webapp.orders.states import OPEN_STATES, P_RETURNED, active_participants
from webapp.platform import clock
from webapp.platform.labels import stage_name_zh
from webapp.plugin_api import Clock

SLA_JOB = "sla_sweep"
SLA_EVERY_SECONDS = 30


def calendar_and_schedule() -> tuple[sla.WorkCalendar, sla.Schedule]:
    return sla.calendar_from_db(), sla.schedule_from_config()


def clocks_of(order: WorkOrder) -> tuple[dict[str, Clock], str]:
    """The order's stage clocks and time basis."""
    stored = order.clocks or {}
    basis = stored.get("basis", "working")
    return {s: Clock.parse(stored[s]) for s in sla.STAGES if stored.get(s)}, basis


def stage_deadlines(start: datetime, order: WorkOrder, stages: Iterable[str] = sla.STAGES) -> dict[str, datetime]:
    clocks, basis = clocks_of(order)
    calendar, schedule = calendar_and_schedule()
    return {s: sla.deadline(start, clocks[s], basis, calendar, schedule) for s in stages if s in clocks}


def stage_start(order: WorkOrder, p: OrderParticipant, stage: str) -> datetime:
    """When ``p``'s clock for ``stage`` started: a forwarded participant shares
    its forwarder's arrive and feedback clocks (while their deadlines are the
    same); a stage restarted by a later round (rework, reopen) starts with
    that round; otherwise the participant's assignment."""
    if p.role == "forwarded" and stage != "accept" and p.forwarded_by_id:
        forwarder = db.session.get(OrderParticipant, p.forwarded_by_id)
        if forwarder is not None and getattr(forwarder, f"{stage}_due_at") == getattr(p, f"{stage}_due_at"):
            return stage_start(order, forwarder, stage)
    current = rounds.current(p)
    if current is not None and current.number > 1 and getattr(current, f"{stage}_due_at") is not None:
        return current.started_at
    return p.assigned_at or order.dispatched_at or order.created_at


def stage_done_at(p: OrderParticipant, stage: str) -> datetime | None:
    return {"accept": p.accepted_at, "arrive": p.arrived_at, "feedback": p.feedback_at}[stage]


# -- emergency response: natural time from then on ------------------------------------------
def to_natural_time(order: WorkOrder) -> list[dict[str, Any]]:
    """Switch the order's clocks to natural time and recompute every running
    (not yet done) deadline from its own start, as if it had counted natural
    time all along: a clock started on a Friday night runs through the
    weekend. An approved extension keeps its later deadline. Returns what
    moved, for the audit event."""
    clocks, basis = clocks_of(order)
    if basis == "natural":
        return []
    order.clocks = {**(order.clocks or {}), "basis": "natural"}
    calendar, schedule = calendar_and_schedule()
    extended = {(e.participant_id, e.stage): e.requested_until for e in order.extensions
                if e.decision == "approved"}
    running = [(p, stage, stage_start(order, p, stage)) for p in active_participants(order)
               for stage in sla.STAGES
               if stage in clocks and getattr(p, f"{stage}_due_at") is not None and stage_done_at(p, stage) is None]
    moved = []
    for p, stage, start in running:
        old = getattr(p, f"{stage}_due_at")
        new = sla.deadline(start, clocks[stage], "natural", calendar, schedule)
        if (p.id, stage) in extended:
            new = max(new, extended[(p.id, stage)])
        if new == old:
            continue
        setattr(p, f"{stage}_due_at", new)
        if stage not in (p.overdue or {}):
            # Warned against the old deadline: the sweep warns again against the new one.
            p.warned = {k: v for k, v in (p.warned or {}).items() if k != stage}
        moved.append({"participant_id": p.id, "unit": p.unit.code, "stage": stage,
                      "from": old.isoformat(), "to": new.isoformat()})
    return moved


def start_emergency(order: WorkOrder, actor: User, note: str | None) -> None:
    """启动应急响应: priority raised, natural time from now on, the leading
    group and 应急管理局 notified, who and when recorded."""
    order.emergency, order.emergency_at, order.emergency_by_id = True, clock.now(), actor.id
    order.priority = "urgent"
    _, basis_before = clocks_of(order)
    moved = to_natural_time(order)
    text = f"{order.title}\n启动人: {display_name(actor)} {clock.local(order.emergency_at):%Y-%m-%d %H:%M}"
    if note:
        text += f"\n{note}"
    targets = db.session.scalars(select(Unit).where(
        (Unit.is_leading_office.is_(True)) | (Unit.code == "emergency_management"))).all()
    for unit in targets:
        notify_leaders(unit, f"启动应急响应 {order.number}", text, f"order:{order.id}:emergency:{unit.id}", order)
    record(order, "emergency", actor, from_state=order.state, note=note,
           data={"notified": [u.code for u in targets], "basis_before": basis_before, "recomputed": moved})




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
            calendar, schedule = calendar_and_schedule()
        info["fraction"] = round(sla.elapsed_fraction(stage_start(order, p, stage), due, now, basis,
                                                      calendar, schedule), 3)
        info["remaining_s"] = int(sla.remaining(due, now, basis, calendar, schedule).total_seconds())
    return info


def _stages_due(order: WorkOrder, now: datetime, calendar: sla.WorkCalendar,
                schedule: sla.Schedule) -> list[tuple[OrderParticipant, str, str, datetime]]:
    """(participant, stage, "overdue" | "warn", due) for every running clock
    that crossed 100% or, not yet warned, 75%."""
    _, basis = clocks_of(order)
    found = []
    for p in active_participants(order):
        if p.state == P_RETURNED:
            continue
        for stage in sla.STAGES:
            due = getattr(p, f"{stage}_due_at")
            if due is None or stage_done_at(p, stage) is not None or stage in (p.overdue or {}):
                continue
            fraction = sla.elapsed_fraction(stage_start(order, p, stage), due, now, basis, calendar, schedule)
            if fraction >= 1.0:
                found.append((p, stage, "overdue", due))
            elif fraction >= sla.WARN_FRACTION and stage not in (p.warned or {}):
                found.append((p, stage, "warn", due))
    return found


def sla_sweep() -> dict[str, int]:
    """Warn at 75% of a clock; at 100% mark overdue, freeze the on-time flag
    false, flag the order for supervision and notify the unit's leaders.

    An order is changed through the same compare-and-swap on its version as
    every action, so a concurrent accept or feedback is never overwritten
    (its on-time flag kept): a changed order is left to the next sweep."""
    now = clock.now()
    calendar, schedule = calendar_and_schedule()
    counts = {"warned": 0, "overdue": 0, "skipped": 0}
    order_ids = db.session.scalars(select(WorkOrder.id).where(WorkOrder.state.in_(OPEN_STATES))
                                   .order_by(WorkOrder.id)).all()
    for order_id in order_ids:
        order = db.session.get(WorkOrder, order_id)
        if order is None or order.state not in OPEN_STATES or not _stages_due(order, now, calendar, schedule):
            continue
        try:
            take(order, order.version)
        except WorkflowError:
            counts["skipped"] += 1
            continue
        for p in order.participants:
            db.session.refresh(p)
        for p, stage, kind, due in _stages_due(order, now, calendar, schedule):
            if kind == "overdue":
                _mark_overdue(order, p, stage, now)
                counts["overdue"] += 1
                continue
            p.warned = {**(p.warned or {}), stage: now.isoformat()}
            notify_unit(p.unit, f"工单即将超时 {order.number}",
                        f"{order.title}\n{stage_name_zh(stage)} 截止 {clock.local(due):%Y-%m-%d %H:%M}",
                        f"order:{order.id}:warn:{p.id}:{stage}:{due.isoformat()}", order)
            record(order, "sla_warning", None, from_state=order.state,
                   note=f"{p.unit.name} {stage_name_zh(stage)}即将超时", data={"stage": stage}, participant=p)
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
        record(order, "supervise", None, from_state=order.state, note=order.supervise_note,
                data={"automatic": True, "stage": stage}, participant=p)
    notify_leaders(p.unit, f"工单超时督办 {order.number}", f"{order.title}\n{note}",
                   f"order:{order.id}:overdue:{p.id}:{stage}", order)
    record(order, "sla_overdue", None, from_state=order.state, note=note, data={"stage": stage}, participant=p)
