"""Messages about work orders: to a unit's channels and inbox, to its leaders."""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import (
    OrderParticipant,
    Unit,
    User,
    WorkOrder,
)
from webapp.notify import outbox as notify
from webapp.orders.states import active_participants


# -- notifications ---------------------------------------------------------------------
def order_link(order: WorkOrder) -> str:
    return notify.order_link(order.id)


def notify_unit(unit: Unit, title: str, body: str, key: str, order: WorkOrder | None = None) -> None:
    """Queue a message to a unit's channels and its in-platform inbox."""
    notify.notify_unit(unit, title, body, link=order_link(order) if order is not None else None, key=key, order=order)


def notify_leaders(unit: Unit, title: str, body: str, key: str, order: WorkOrder | None = None) -> list[User]:
    """Message the unit's leaders (role unit_leader; the department's when an
    office has none) in their personal inbox, plus the unit's channels."""
    leaders = leaders_of(unit)
    link = order_link(order) if order is not None else None
    for leader in leaders:
        notify.enqueue(notify.INTERNAL, notify.user_target(leader), title, body, link, f"{key}:user:{leader.id}",
                       unit_id=unit.id, order_id=order.id if order else None,
                       alert_id=order.alert_id if order else None)
    notify_unit(unit, title, body, f"{key}:unit", order)
    return leaders


def leaders_of(unit: Unit) -> list[User]:
    leaders = list(db.session.scalars(select(User).where(
        User.unit_id == unit.id, User.role == "unit_leader", User.active.is_(True)).order_by(User.id)))
    if not leaders and unit.parent_id:
        leaders = list(db.session.scalars(select(User).where(
            User.unit_id == unit.parent_id, User.role == "unit_leader", User.active.is_(True)).order_by(User.id)))
    return leaders


def notify_participants(order: WorkOrder, title: str, body: str, key: str,
                         participants: Iterable[OrderParticipant] | None = None) -> None:
    for p in participants if participants is not None else active_participants(order):
        notify_unit(p.unit, title, body, f"{key}:{p.id}", order)
