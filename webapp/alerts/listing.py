"""``GET /api/v1/alerts``: the alerts a token may see, filtered, in pages.

Pages are keyset pages on the alert id, so an alert taken in while a client
pages through never shifts, repeats or hides a row of the pages still to
come. The cursor is opaque: the last id, the order and a digest of the
filters, signed with the app's secret, so a forged or edited cursor, or one
reused with other filters, is refused (400) rather than silently paging
something else.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from flask import current_app, url_for
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import Select, false, or_, select
from sqlalchemy.orm import selectinload

from webapp.alerts.schemas import AlertListQuery
from webapp.extensions import db
from webapp.models import (
    OPEN_ALERT_STATUSES,
    Alert,
    AlertOccurrence,
    Camera,
    Township,
    User,
    WorkOrder,
)
from webapp.org import visibility

CURSOR_SALT = "nrsc.alerts.cursor"


class ListError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = 400, code, message


# -- who sees what -------------------------------------------------------------------
def visible_clause(user: User | None, source: str | None):
    """A WHERE clause on Alert matching :func:`visibility.can_see_alert`
    row for row; None means every alert."""
    if source is not None:
        return or_(Alert.source == source, Alert.id.in_(
            select(AlertOccurrence.alert_id).where(AlertOccurrence.source == source)))
    if user is None:
        return false()
    if visibility.sees_everything(user):
        return None
    conditions = [Alert.reporter_id == user.id]
    if user.role in visibility.UNIT_ROLES and user.unit is not None:
        units = {user.unit_id} | {c.id for c in user.unit.children}
        conditions.append(Alert.township_id.in_(select(Township.id).where(Township.unit_id.in_(units))))
        orders = visibility.visible_order_ids(user)
        if orders:
            conditions.append(Alert.id.in_(select(WorkOrder.alert_id).where(
                WorkOrder.id.in_(orders), WorkOrder.alert_id.is_not(None))))
    return or_(*conditions)


# -- the cursor ----------------------------------------------------------------------------
def _filters_digest(query: AlertListQuery) -> str:
    filters = query.model_dump(mode="json", exclude={"limit", "cursor"})
    return hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:16]


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=CURSOR_SALT)


def encode_cursor(last_id: int, query: AlertListQuery) -> str:
    return _serializer().dumps({"after": last_id, "q": _filters_digest(query)})


def decode_cursor(cursor: str, query: AlertListQuery) -> int:
    try:
        data = _serializer().loads(cursor)
    except (BadData, ValueError, UnicodeError):
        raise ListError("invalid_cursor", "the cursor is not one this server gave out; "
                        "start again without a cursor") from None
    if not isinstance(data, dict) or not isinstance(data.get("after"), int) or isinstance(data["after"], bool):
        raise ListError("invalid_cursor", "the cursor is not one this server gave out")
    if data.get("q") != _filters_digest(query):
        raise ListError("cursor_mismatch", "the cursor belongs to a query with other filters or order; "
                        "send the same filters as for the first page")
    return data["after"]


# -- the query -------------------------------------------------------------------------------
@dataclass
class Page:
    alerts: list[Alert]
    next_cursor: str | None


def _filtered(query: AlertListQuery) -> Select:
    stmt = select(Alert)
    if query.status == "open":
        stmt = stmt.where(Alert.status.in_(OPEN_ALERT_STATUSES))
    elif query.status not in (None, "all"):
        stmt = stmt.where(Alert.status == query.status)
    if query.domain is not None:
        host = current_app.extensions["nrsc.plugins"]
        if host.domain(query.domain) is None:
            raise ListError("unknown_domain", f"unknown domain {query.domain!r}; known: "
                            f"{', '.join(sorted(host.domains)) or 'none'}")
        stmt = stmt.where(Alert.domain == query.domain)
    if query.township is not None:
        township_id = db.session.scalar(select(Township.id).where(Township.code == query.township))
        if township_id is None:
            raise ListError("unknown_township", f"no township with code {query.township!r}")
        stmt = stmt.where(Alert.township_id == township_id)
    if query.camera is not None:
        camera_id = db.session.scalar(select(Camera.id).where(Camera.code == query.camera))
        if camera_id is None:
            raise ListError("unknown_camera", f"no camera with code {query.camera!r}")
        stmt = stmt.where(Alert.camera_id == camera_id)
    if query.source is not None:
        stmt = stmt.where(Alert.source == query.source)
    if query.since is not None and query.until is not None and query.since >= query.until:
        raise ListError("invalid", "since must be before until")
    if query.since is not None:
        stmt = stmt.where(Alert.created_at >= query.since)
    if query.until is not None:
        stmt = stmt.where(Alert.created_at < query.until)
    return stmt


def page(query: AlertListQuery, user: User | None, source: str | None) -> Page:
    """One page of the alerts ``user`` (or ``source``) may see."""
    stmt = _filtered(query)
    clause = visible_clause(user, source)
    if clause is not None:
        stmt = stmt.where(clause)
    oldest_first = query.order == "oldest"
    if query.cursor is not None:
        after = decode_cursor(query.cursor, query)
        stmt = stmt.where(Alert.id > after if oldest_first else Alert.id < after)
    stmt = stmt.order_by(Alert.id.asc() if oldest_first else Alert.id.desc()).limit(query.limit + 1)
    rows = db.session.scalars(stmt.options(
        selectinload(Alert.camera), selectinload(Alert.township), selectinload(Alert.claimed_by),
        selectinload(Alert.verdict_by))).all()
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    return Page(rows, encode_cursor(rows[-1].id, query) if more else None)


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def summary_json(alert: Alert, source: str | None) -> dict[str, Any]:
    """The alert as a list row (schema: AlertSummary). A source token whose
    report joined another source's alert sees no more of it than
    :func:`webapp.alerts.api.alert_json_for` shows."""
    foreign = source is not None and alert.source != source
    return {
        "id": alert.id, "url": url_for("alerts_api.get_alert", alert_id=alert.id),
        "status": alert.status, "domain": alert.domain, "event_type": alert.event_type,
        "version": alert.version, "source": source if foreign else alert.source, "manual": bool(alert.manual),
        "occurred_at": _iso(alert.occurred_at), "created_at": _iso(alert.created_at),
        "last_seen_at": _iso(alert.last_seen_at), "occurrences": alert.occurrences,
        "lat": alert.lat, "lon": alert.lon, "location_estimated": bool(alert.location_estimated),
        "camera_code": None if foreign or alert.camera is None else alert.camera.code,
        "preset": None if foreign else alert.preset_number,
        "label": None if foreign else alert.label, "score": None if foreign else alert.score,
        "township": ({"code": alert.township.code, "name": alert.township.name} if alert.township else None),
        "prejudgement_level": alert.prejudgement_level,
        "review_due_at": _iso(alert.review_due_at), "review_overdue": bool(alert.review_overdue),
        "claimed_by": alert.claimed_by.login if alert.claimed_by else None,
        "claimed_at": _iso(alert.claimed_at),
        "verdict_by": alert.verdict_by.login if alert.verdict_by else None,
        "verdict_at": _iso(alert.verdict_at),
        "verdict_reason": None if foreign else alert.verdict_reason,
        "duplicate_of": alert.duplicate_of_id,
    }
