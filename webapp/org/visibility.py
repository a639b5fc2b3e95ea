"""Who may see and act on what: the one rule for work orders, their evidence
files, alerts and notifications. Pages, the API, PDFs, ``/files/<id>`` and the
notifier all ask this module; nothing else decides.

The rule:

* Duty, office, read-only leaders and admins see every order.
* A unit sees an order while one of its participants is active (not
  withdrawn). A participant acts for its own unit's staff and
  - when it is a department that named handling offices (承办科室) at dispatch,
    for those offices' staff only: the staff of another office of the same
    department neither see nor act on it; with no office named the department
    handles it at department level (no office sees it);
  - when it is an office, for its department's staff too (the department's
    leader sees all its offices' orders).
  Department-level staff (users attached to the department itself) see and act
  on everything their department and its offices take part in.
* A unit taken off an order (withdrawn at re-dispatch) keeps only its own
  records: the files it uploaded, its check-in and feedback photos. It no longer
  sees the order, its later records or the new unit's photos.
"""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import (
    Alert,
    EvidenceFile,
    Feedback,
    OrderParticipant,
    Unit,
    User,
    WorkOrder,
)

DUTY_ROLES = frozenset({"duty_officer", "duty_lead"})
OFFICE_ROLES = frozenset({"office_staff", "admin"})
UNIT_ROLES = frozenset({"unit_handler", "unit_leader"})
# Roles that see every unit's records.
ALL_UNITS_ROLES = DUTY_ROLES | OFFICE_ROLES | {"leader_viewer"}
WITHDRAWN = "withdrawn"


def sees_everything(user: User | None) -> bool:
    return user is not None and user.role in ALL_UNITS_ROLES


def _unit_of(p: OrderParticipant) -> Unit | None:
    return p.unit if p.unit is not None else db.session.get(Unit, p.unit_id)


def acts_for(user: User | None, p: OrderParticipant) -> bool:
    """Whether ``user``'s unit answers for participant ``p`` (whatever its state)."""
    if user is None or user.role not in UNIT_ROLES or user.unit_id is None:
        return False
    if user.unit_id == p.unit_id:
        return True
    unit = user.unit
    if unit is not None and unit.parent_id is not None and unit.parent_id == p.unit_id:
        # An office of the participating department: only the offices named at dispatch.
        return user.unit_id in (p.office_ids or [])
    p_unit = _unit_of(p)
    # The participant is an office of the user's department.
    return p_unit is not None and p_unit.parent_id == user.unit_id


def participants_of(order: WorkOrder, user: User | None, *, include_withdrawn: bool = False) -> list[OrderParticipant]:
    """The participants ``user`` acts for, active ones only unless asked."""
    return [p for p in order.participants
            if (include_withdrawn or p.state != WITHDRAWN) and acts_for(user, p)]


def can_view_order(user: User | None, order: WorkOrder) -> bool:
    if user is None:
        return False
    if sees_everything(user):
        return True
    return bool(participants_of(order, user))


def candidate_unit_ids(user: User) -> set[int]:
    """Units whose participations may concern ``user`` (own, parent, offices)."""
    unit = user.unit
    if unit is None:
        return set()
    ids = {unit.id} | {c.id for c in unit.children}
    if unit.parent_id:
        ids.add(unit.parent_id)
    return ids


def visible_order_ids(user: User, *, include_withdrawn: bool = False) -> set[int] | None:
    """Ids of the orders ``user`` sees; None means every order."""
    if sees_everything(user):
        return None
    if user.role not in UNIT_ROLES:
        return set()
    units = candidate_unit_ids(user)
    if not units:
        return set()
    P = OrderParticipant
    stmt = select(P).where(P.unit_id.in_(units))
    if not include_withdrawn:
        stmt = stmt.where(P.state != WITHDRAWN)
    return {p.order_id for p in db.session.scalars(stmt) if acts_for(user, p)}


def orders_clause(user: User):
    """A WHERE clause on WorkOrder for lists; None means no restriction."""
    ids = visible_order_ids(user)
    if ids is None:
        return None
    return WorkOrder.id.in_(ids or [-1])


# -- evidence files ---------------------------------------------------------------------
def can_see_file(user: User | None, row: EvidenceFile) -> bool:
    if user is None:
        return False
    if sees_everything(user) or (row.uploaded_by_id is not None and row.uploaded_by_id == user.id):
        return True
    participant_id = row.participant_id
    if participant_id is None and row.feedback_id is not None:
        participant_id = db.session.scalar(select(Feedback.participant_id).where(Feedback.id == row.feedback_id))
    if participant_id is not None:
        p = db.session.get(OrderParticipant, participant_id)
        if p is None:
            return False
        if acts_for(user, p):
            # One's own records stay readable after being taken off the order.
            return True
        order = db.session.get(WorkOrder, p.order_id)
        return order is not None and _current_viewer_of_record(user, order, p)
    if row.order_id is not None:
        order = db.session.get(WorkOrder, row.order_id)
        return order is not None and can_view_order(user, order)
    if row.alert_id is not None:
        alert = db.session.get(Alert, row.alert_id)
        return alert is not None and can_see_alert(user, alert)
    return False


def _current_viewer_of_record(user: User, order: WorkOrder, p: OrderParticipant) -> bool:
    # Another participant's record: visible to whoever currently sees the order.
    return can_view_order(user, order)


# -- alerts ------------------------------------------------------------------------------
def can_see_alert(user: User | None, alert: Alert, *, source: str | None = None) -> bool:
    """Duty, office and leaders see every alert; a unit sees alerts in its
    township and those behind an order it currently sees; a source token sees
    what it reported."""
    if source is not None:
        return alert.source == source or any(o.source == source for o in alert.occurrence_rows)
    if user is None:
        return False
    if sees_everything(user) or alert.reporter_id == user.id:
        return True
    if user.role not in UNIT_ROLES or user.unit is None:
        return False
    if alert.township is not None and alert.township.unit_id is not None \
            and alert.township.unit_id in ({user.unit_id} | {c.id for c in user.unit.children}):
        return True
    order = db.session.scalar(select(WorkOrder).where(WorkOrder.alert_id == alert.id))
    return order is not None and can_view_order(user, order)


# -- notifications ------------------------------------------------------------------------
def notified_units(p: OrderParticipant) -> list[Unit]:
    """Who is told about participant ``p``'s work: its unit and, inside a
    department, the handling offices named at dispatch."""
    units = [u for u in [_unit_of(p)] if u is not None]
    if p.office_ids:
        units += list(db.session.scalars(select(Unit).where(Unit.id.in_(p.office_ids)).order_by(Unit.id)))
    return units


def unit_ids_of(users: Iterable[User]) -> set[int]:
    return {u.unit_id for u in users if u.unit_id}
