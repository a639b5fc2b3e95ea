"""Queries behind the office and field work-order pages: open orders with
filters, order search, per-unit backlog, deadlines per participant, the
order's timeline. Read-only; every change goes through ``webapp.orders.workflow``."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import (
    Alert,
    AuditEvent,
    EvidenceFile,
    Feedback,
    OrderParticipant,
    Township,
    Unit,
    User,
    WorkOrder,
)
from webapp.orders.states import ACTIVE_PARTICIPANT_STATES, OPEN_STATES, ORDER_STATES
from webapp.platform import clock

PAGE_SIZE = 50
# Participant states in which a participant still owes something.
STAGE_FIELDS = {
    # stage -> (due column, done column, on-time flag)
    "accept": ("accept_due_at", "accepted_at", "accept_on_time"),
    "arrive": ("arrive_due_at", "arrived_at", "arrive_on_time"),
    "feedback": ("feedback_due_at", "feedback_at", "feedback_on_time"),
}


# -- deadlines ----------------------------------------------------------------
@dataclass(frozen=True)
class StageStatus:
    stage: str
    due: datetime | None
    done_at: datetime | None
    on_time: bool | None
    overdue: bool  # open and past due now

    @property
    def late(self) -> bool:
        return self.on_time is False or self.overdue


def stages(p: OrderParticipant, now: datetime | None = None) -> list[StageStatus]:
    now = now or clock.now()
    active = p.state in ACTIVE_PARTICIPANT_STATES
    out = []
    for stage, (due_f, done_f, flag_f) in STAGE_FIELDS.items():
        due, done = getattr(p, due_f), getattr(p, done_f)
        out.append(StageStatus(stage, due, done, getattr(p, flag_f),
                               bool(active and done is None and due is not None and due < now)))
    return out


def next_deadline(p: OrderParticipant) -> tuple[str, datetime] | None:
    """The earliest open stage's deadline of a participant still at work."""
    if p.state not in ACTIVE_PARTICIPANT_STATES:
        return None
    pending = [(s.due, s.stage) for s in stages(p) if s.done_at is None and s.due is not None]
    if p.state == "to_accept":
        pending = [x for x in pending if x[1] == "accept"] or pending
    if not pending:
        return None
    due, stage = min(pending)
    return stage, due


def participant_overdue_clause(now: datetime):
    """SQL: a participant still at work with a stage past due."""
    P = OrderParticipant
    return and_(P.state.in_(ACTIVE_PARTICIPANT_STATES), or_(
        and_(P.accepted_at.is_(None), P.accept_due_at < now),
        and_(P.arrived_at.is_(None), P.arrive_due_at < now),
        and_(P.feedback_at.is_(None), P.feedback_due_at < now),
    ))


def order_overdue_clause(now: datetime):
    return exists().where(OrderParticipant.order_id == WorkOrder.id, participant_overdue_clause(now))


def is_overdue(order: WorkOrder, now: datetime | None = None) -> bool:
    now = now or clock.now()
    return any(s.overdue for p in order.participants for s in stages(p, now))


def was_late(order: WorkOrder) -> bool:
    return any(s.late for p in order.participants for s in stages(p))


# -- filters --------------------------------------------------------------------
@dataclass
class OrderFilters:
    q: str = ""
    state: str = ""          # "" = open orders, "all", or one of ORDER_STATES
    domain: str = ""
    township: str = ""       # township code
    unit: int | None = None  # participating unit (or its offices)
    overdue: bool = False
    supervised: bool = False
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1

    @classmethod
    def from_args(cls, args, *, default_state: str = "") -> "OrderFilters":
        def day(name: str) -> date | None:
            try:
                return date.fromisoformat(args.get(name, "").strip()) if args.get(name) else None
            except ValueError:
                return None

        def integer(name: str) -> int | None:
            try:
                return int(args.get(name, ""))
            except (TypeError, ValueError):
                return None

        return cls(q=(args.get("q") or "").strip()[:100], state=args.get("state", default_state) or "",
                   domain=args.get("domain", "") or "", township=args.get("township", "") or "",
                   unit=integer("unit"), overdue=args.get("overdue") in ("1", "on", "true"),
                   supervised=args.get("supervised") in ("1", "on", "true"),
                   date_from=day("from"), date_to=day("to"), page=max(1, integer("page") or 1))

    def args(self, **override: Any) -> dict[str, Any]:
        """Query-string arguments reproducing these filters (for pager links)."""
        raw = {"q": self.q, "state": self.state, "domain": self.domain, "township": self.township,
               "unit": self.unit, "overdue": "1" if self.overdue else "", "supervised": "1" if self.supervised else "",
               "from": self.date_from.isoformat() if self.date_from else "",
               "to": self.date_to.isoformat() if self.date_to else "", "page": self.page}
        raw.update(override)
        return {k: v for k, v in raw.items() if v not in ("", None)}


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=clock.LOCAL_TZ)


def filtered_orders(f: OrderFilters) -> Select:
    """Orders matching the filters, most urgent first (overdue, supervised,
    emergency, then newest)."""

    now = clock.now()
    stmt = select(WorkOrder)
    # "all" means no state condition; an unknown state falls back to the open ones.
    if f.state in ORDER_STATES:
        stmt = stmt.where(WorkOrder.state == f.state)
    elif f.state != "all":
        stmt = stmt.where(WorkOrder.state.in_(OPEN_STATES))
    if f.domain:
        stmt = stmt.where(WorkOrder.domain == f.domain)
    if f.township:
        stmt = stmt.where(WorkOrder.township_id.in_(select(Township.id).where(Township.code == f.township)))
    if f.unit:
        unit = db.session.get(Unit, f.unit)
        ids = unit.subtree_ids() if unit else {f.unit}
        stmt = stmt.where(exists().where(OrderParticipant.order_id == WorkOrder.id,
                                         OrderParticipant.unit_id.in_(ids)))
    if f.overdue:
        stmt = stmt.where(order_overdue_clause(now))
    if f.supervised:
        stmt = stmt.where(WorkOrder.supervised.is_(True))
    if f.date_from:
        stmt = stmt.where(WorkOrder.dispatched_at >= _local_midnight(f.date_from))
    if f.date_to:
        stmt = stmt.where(WorkOrder.dispatched_at < _local_midnight(f.date_to + timedelta(days=1)))
    if f.q:
        like = f"%{f.q}%"
        stmt = stmt.where(or_(
            WorkOrder.number.ilike(like), WorkOrder.title.ilike(like), WorkOrder.description.ilike(like),
            WorkOrder.case_number.ilike(like),
            exists().where(Feedback.order_id == WorkOrder.id, Feedback.text.ilike(like)),
        ))
    overdue_first = order_overdue_clause(now)
    return stmt.order_by(overdue_first.desc(), WorkOrder.supervised.desc(), WorkOrder.emergency.desc(),
                         WorkOrder.dispatched_at.desc(), WorkOrder.id.desc())


def page_of(stmt: Select, page: int, size: int = PAGE_SIZE) -> tuple[list[WorkOrder], int]:
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = db.session.scalars(
        stmt.options(selectinload(WorkOrder.participants).selectinload(OrderParticipant.unit),
                     selectinload(WorkOrder.township))
        .limit(size).offset((page - 1) * size)).all()
    return list(rows), total


# -- backlog --------------------------------------------------------------------
@dataclass
class BacklogRow:
    unit: Unit
    counts: dict[str, int]
    overdue: int
    late_total: int

    @property
    def open_total(self) -> int:
        return sum(n for s, n in self.counts.items() if s in ACTIVE_PARTICIPANT_STATES)


def backlog() -> list[BacklogRow]:
    """Per unit (offices folded into their department): participants by state
    on orders not closed, and how many are overdue now."""
    now = clock.now()
    P = OrderParticipant
    units = {u.id: u for u in db.session.scalars(select(Unit).order_by(Unit.sort_order, Unit.id))}

    def top(unit_id: int) -> int:
        unit = units.get(unit_id)
        return unit.parent_id if unit is not None and unit.parent_id else unit_id

    rows: dict[int, BacklogRow] = {}

    def row(unit_id: int) -> BacklogRow:
        uid = top(unit_id)
        if uid not in rows:
            rows[uid] = BacklogRow(units[uid], {}, 0, 0)
        return rows[uid]

    open_orders = select(WorkOrder.id).where(WorkOrder.state != "closed")
    for unit_id, state, n in db.session.execute(
            select(P.unit_id, P.state, func.count(P.id)).where(P.order_id.in_(open_orders))
            .group_by(P.unit_id, P.state)):
        r = row(unit_id)
        r.counts[state] = r.counts.get(state, 0) + n
    for unit_id, n in db.session.execute(
            select(P.unit_id, func.count(P.id)).where(P.order_id.in_(open_orders), participant_overdue_clause(now))
            .group_by(P.unit_id)):
        row(unit_id).overdue += n
    late = or_(P.accept_on_time.is_(False), P.arrive_on_time.is_(False), P.feedback_on_time.is_(False))
    for unit_id, n in db.session.execute(select(P.unit_id, func.count(P.id)).where(late).group_by(P.unit_id)):
        row(unit_id).late_total += n
    return sorted(rows.values(), key=lambda r: (-r.overdue, -r.open_total, r.unit.sort_order))


# -- one order --------------------------------------------------------------------
def load_order(order_id: int) -> WorkOrder | None:
    return db.session.scalar(
        select(WorkOrder).where(WorkOrder.id == order_id).options(
            selectinload(WorkOrder.participants).selectinload(OrderParticipant.unit),
            selectinload(WorkOrder.feedbacks), selectinload(WorkOrder.extensions)))


def order_unit_ids(order: WorkOrder) -> set[int]:
    """Units taking part, with the offices named inside the lead."""
    ids = set()
    for p in order.participants:
        ids.add(p.unit_id)
        ids.update(p.office_ids or [])
    return ids


def timeline(order: WorkOrder) -> list[AuditEvent]:
    """Audit events of the order and of its alert, oldest first."""
    clauses = [and_(AuditEvent.entity_type.in_(("work_order", "order")), AuditEvent.entity_id == order.id)]
    if order.alert_id:
        clauses.append(and_(AuditEvent.entity_type == "alert", AuditEvent.entity_id == order.alert_id))
    return list(db.session.scalars(
        select(AuditEvent).where(or_(*clauses)).options(selectinload(AuditEvent.actor))
        .order_by(AuditEvent.at, AuditEvent.id)))


def files_of(order: WorkOrder) -> dict[str, Any]:
    """Evidence grouped for the review: alert snapshots, check-in photos per
    participant, photos per feedback."""
    rows = list(db.session.scalars(select(EvidenceFile).where(or_(
        EvidenceFile.order_id == order.id,
        EvidenceFile.alert_id == order.alert_id if order.alert_id else False,
        EvidenceFile.feedback_id.in_([f.id for f in order.feedbacks] or [-1]),
    )).order_by(EvidenceFile.id)))
    snapshots = [r for r in rows if r.feedback_id is None and r.alert_id is not None
                 and r.kind not in ("checkin", "arrive", "feedback")]
    checkins: dict[int, list[EvidenceFile]] = {}
    feedback: dict[int, list[EvidenceFile]] = {}
    for r in rows:
        if r.feedback_id is not None:
            feedback.setdefault(r.feedback_id, []).append(r)
        elif r.kind in ("checkin", "arrive", "arrival") and r.participant_id is not None:
            checkins.setdefault(r.participant_id, []).append(r)
    return {"snapshots": snapshots, "checkins": checkins, "feedback": feedback}


def file_belongs(order: WorkOrder, row: EvidenceFile) -> bool:
    if row.order_id == order.id:
        return True
    if order.alert_id and row.alert_id == order.alert_id:
        return True
    return row.feedback_id is not None and any(f.id == row.feedback_id for f in order.feedbacks)


def user_names(ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return {u.id: u.display_name for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


def alert_of(order: WorkOrder) -> Alert | None:
    return db.session.get(Alert, order.alert_id) if order.alert_id else None
