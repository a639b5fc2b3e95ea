"""Who may see an alert and its evidence files (used by the JSON API and the
/files/<id> route)."""
from __future__ import annotations

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Alert, EvidenceFile, OrderParticipant, User, WorkOrder
from webapp.platform.security import ALL_UNITS_ROLES, visible_unit_ids


def can_see_alert(alert: Alert, *, user: User | None, source: str | None) -> bool:
    """Duty, office and leaders see every alert; a unit sees alerts in its
    township or behind its work orders; a source sees what it reported."""
    if source is not None:
        return alert.source == source or any(o.source == source for o in alert.occurrence_rows)
    if user is None:
        return False
    if user.role in ALL_UNITS_ROLES or alert.reporter_id == user.id:
        return True
    ids = visible_unit_ids(user) or set()
    if alert.township is not None and alert.township.unit_id in ids:
        return True
    return db.session.scalar(select(OrderParticipant.id).join(WorkOrder).where(
        WorkOrder.alert_id == alert.id, OrderParticipant.unit_id.in_(ids)).limit(1)) is not None


def can_see_file(row: EvidenceFile, user: User) -> bool:
    if user.role in ALL_UNITS_ROLES or row.uploaded_by_id == user.id:
        return True
    if row.alert_id is not None:
        alert = db.session.get(Alert, row.alert_id)
        if alert is not None and can_see_alert(alert, user=user, source=None):
            return True
    if row.order_id is not None:
        ids = visible_unit_ids(user) or set()
        return db.session.scalar(select(OrderParticipant.id).where(
            OrderParticipant.order_id == row.order_id, OrderParticipant.unit_id.in_(ids)).limit(1)) is not None
    return False
