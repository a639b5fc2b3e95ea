"""Notifications through an outbox: written in the caller's transaction,
delivered later by the ``deliver_notifications`` job with retries.

* :func:`enqueue` adds one message, idempotent on its key (a second enqueue
  with the same key is a no-op, even from a racing worker).
* :func:`notify_unit` fans a message out to a unit's active channels
  (per-domain first, then unit-wide) plus an ``internal`` row shown in the UI.
* :func:`deliver_due` sends what is due through the notifier registered for
  the channel (plugins: WeCom, DingTalk, an SMS gateway package…), backing off
  30 s, 1 min, 2 min… capped at 1 h, and gives up (``dead``) after
  ``NRSC_NOTIFY_MAX_ATTEMPTS`` attempts (default 10).
"""
from __future__ import annotations

import hashlib
import logging
import urllib.parse
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _
from sqlalchemy import case, select, update
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import NotificationChannel, OutboxMessage, Unit, WorkOrder
from webapp.notify.notifiers import redact
from webapp.platform import clock
from webapp.plugin_api import Delivery, Message

log = logging.getLogger(__name__)

INTERNAL = "internal"
STATUSES = ("pending", "sent", "dead")
BACKOFF_BASE_S = 30
BACKOFF_CAP_S = 3600
DEFAULT_MAX_ATTEMPTS = 10
# A claimed message is invisible to other workers this long; a worker that
# dies mid-send leaves it to be retried after the lease.
CLAIM_LEASE = timedelta(minutes=5)
JOB_NAME = "deliver_notifications"
JOB_EVERY_S = 10
KEY_MAX = 200


def backoff(attempts: int) -> timedelta:
    """Wait before the next try after ``attempts`` failed tries."""
    return timedelta(seconds=min(BACKOFF_BASE_S * 2 ** max(attempts - 1, 0), BACKOFF_CAP_S))


def max_attempts() -> int:
    raw = current_app.config.get("NRSC_NOTIFY_MAX_ATTEMPTS")
    return max(int(raw or DEFAULT_MAX_ATTEMPTS), 1)


def _link(path: str) -> str:
    # Messages leave the platform (WeCom, DingTalk, SMS): links are absolute
    # when NRSC_BASE_URL is set, so a phone outside the browser can open them.
    base = (current_app.config.get("NRSC_BASE_URL") or "").rstrip("/")
    return f"{base}{path}"


def order_link(order_id: int) -> str:
    """The link to a work order in a message: the one builder of it."""
    return _link(f"/orders/{order_id}")


def alert_link(alert_id: int) -> str:
    """The link to an alert's review page in a message."""
    return _link(f"/alerts/{alert_id}")


def user_target(user: Any) -> str:
    """The ``internal`` channel's target for one person's inbox: ``user:<login>``
    (a unit's inbox is the unit's code). The one format, used by every sender."""
    return f"user:{user.login}"


def _fit_key(key: str) -> str:
    # Long keys keep a readable head and a hash of the whole, still unique.
    if len(key) <= KEY_MAX:
        return key
    return key[: KEY_MAX - 65] + ":" + hashlib.sha256(key.encode()).hexdigest()


def enqueue(
    channel: str,
    target: str,
    title: str,
    body: str,
    link: str | None,
    key: str,
    unit_id: int | None = None,
    order_id: int | None = None,
    alert_id: int | None = None,
) -> OutboxMessage:
    """Add a message to the outbox in the current transaction (the caller
    commits). Returns the new row, or the existing one for a known key."""
    if not key:
        raise ValueError("a notification needs an idempotency key")
    key = _fit_key(key)
    now = clock.now()
    row = OutboxMessage(
        idempotency_key=key, channel=channel, target=target[:500], title=title[:200], body=body,
        link=link, unit_id=unit_id, order_id=order_id, alert_id=alert_id,
        status="pending", attempts=0, next_attempt_at=now, created_at=now)
    if channel == INTERNAL:
        # Shown in the platform itself: nothing left to deliver.
        row.status, row.sent_at = "sent", now
    try:
        # A savepoint, so a duplicate key undoes only this insert and keeps
        # the caller's own changes in its transaction.
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        existing = db.session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
        if existing is None:  # the conflict was something else
            raise
        return existing
    return row


def _unit(unit: Unit | int | str) -> Unit:
    if isinstance(unit, Unit):
        return unit
    found = (db.session.get(Unit, unit) if isinstance(unit, int)
             else db.session.scalar(select(Unit).where(Unit.code == unit)))
    if found is None:
        raise LookupError(f"no unit {unit!r}")
    return found


def unit_channels(unit: Unit, domain: str | None) -> list[NotificationChannel]:
    """A unit's active channels for a domain: the domain's own first."""
    query = select(NotificationChannel).where(
        NotificationChannel.unit_id == unit.id, NotificationChannel.active.is_(True))
    if domain:
        query = query.where((NotificationChannel.domain == domain) | NotificationChannel.domain.is_(None))
    else:
        query = query.where(NotificationChannel.domain.is_(None))
    query = query.order_by(case((NotificationChannel.domain.is_(None), 1), else_=0), NotificationChannel.id)
    return list(db.session.scalars(query))


def notify_unit(
    unit: Unit | int | str,
    title: str,
    body: str,
    *,
    link: str | None,
    key: str,
    order: WorkOrder | None = None,
    domain: str | None = None,
) -> list[OutboxMessage]:
    """Queue a message to every active channel of ``unit`` (and the UI).

    ``key`` names the event (e.g. ``order:12:dispatch``); each channel's row
    gets its own key derived from it, so repeating the call adds nothing."""
    unit = _unit(unit)
    domain = domain or (order.domain if order is not None else None)
    refs = {"unit_id": unit.id,
            "order_id": order.id if order is not None else None,
            "alert_id": order.alert_id if order is not None else None}
    rows = [enqueue(ch.channel, ch.target, title, body, link, f"{key}:{ch.channel}:{ch.id}", **refs)
            for ch in unit_channels(unit, domain)]
    rows.append(enqueue(INTERNAL, unit.code, title, body, link, f"{key}:{INTERNAL}:{unit.id}", **refs))
    return rows


def _secret(row: OutboxMessage) -> str | None:
    # The secret belongs to the robot (its URL), so it is read at send time
    # from the channel rather than copied into the outbox.
    return db.session.scalar(
        select(NotificationChannel.secret)
        .where(NotificationChannel.channel == row.channel, NotificationChannel.target == row.target,
               NotificationChannel.secret.is_not(None))
        .order_by(NotificationChannel.active.desc(), NotificationChannel.id).limit(1))


def _claim(now: datetime, limit: int) -> list[int]:
    """Take up to ``limit`` due messages; a conditional update per row makes
    two workers never send the same message at once."""
    due = db.session.scalars(
        select(OutboxMessage.id)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)).all()
    claimed = []
    for message_id in due:
        # Another worker's claim has moved next_attempt_at past now.
        result = db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status == "pending",
                   OutboxMessage.next_attempt_at <= now)
            .values(next_attempt_at=now + CLAIM_LEASE)
            .execution_options(synchronize_session=False))
        if result.rowcount == 1:
            claimed.append(message_id)
    db.session.commit()
    return claimed


def _send(row: OutboxMessage) -> Delivery:
    notifier = current_app.extensions["nrsc.plugins"].notifiers.get(row.channel)
    if notifier is None:
        # Kept pending: the package providing the channel may be installed later.
        return Delivery(ok=False, detail=f"no notifier for channel {row.channel!r}")
    secret = _secret(row)
    message = Message(channel=row.channel, target=row.target, title=row.title, body=row.body,
                      link=row.link, idempotency_key=row.idempotency_key, secret=secret)
    try:
        return notifier.send(message)
    except Exception as exc:  # noqa: BLE001 - a plugin's bug must not stop the outbox
        return Delivery(ok=False, detail=redact(f"{type(exc).__name__}: {exc}", secret, row.target))


def deliver_due(now: datetime | None = None, *, limit: int = 100) -> dict[str, int]:
    """Send every pending message due by ``now``; returns counts by outcome."""
    now = now or clock.now()
    counts = {"sent": 0, "retry": 0, "dead": 0}
    limit_attempts = max_attempts()
    for message_id in _claim(now, limit):
        row = db.session.get(OutboxMessage, message_id)
        if row is None or row.status != "pending":
            continue
        delivery = _send(row)
        row.attempts += 1
        if delivery.ok:
            row.status, row.sent_at, row.last_error = "sent", now, None
            outcome = "sent"
        else:
            row.last_error = delivery.detail or "failed"
            if not delivery.retry or row.attempts >= limit_attempts:
                row.status, outcome = "dead", "dead"
            else:
                row.next_attempt_at, outcome = now + backoff(row.attempts), "retry"
        counts[outcome] += 1
        # Never the target: a webhook URL carries the robot's token.
        log.log(logging.WARNING if outcome == "dead" else logging.INFO,
                "notification %s via %s: %s (attempt %s)%s", row.id, row.channel, outcome,
                row.attempts, "" if delivery.ok else f": {row.last_error}")
        db.session.commit()
    return counts


def retry_now(row: OutboxMessage) -> None:
    """Put a dead or waiting message back at the head of the queue."""
    row.status, row.attempts, row.next_attempt_at = "pending", 0, clock.now()


def deliveries_for_order(order: WorkOrder | int) -> list[OutboxMessage]:
    order_id = order if isinstance(order, int) else order.id
    return list(db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.order_id == order_id)
        .order_by(OutboxMessage.created_at, OutboxMessage.id)))


def delivery_rows(order: WorkOrder | int) -> list[dict[str, Any]]:
    """An order's messages with their unit's name and a display-safe target."""
    rows = deliveries_for_order(order)
    unit_ids = {r.unit_id for r in rows if r.unit_id}
    units = ({u.id: u for u in db.session.scalars(select(Unit).where(Unit.id.in_(unit_ids)))}
             if unit_ids else {})
    out = []
    for r in rows:
        unit = units.get(r.unit_id)
        target = (_("in the platform") if r.channel == INTERNAL else display_target(r))
        out.append({"m": r, "unit": unit.full_name if unit else "", "target": target})
    return out


def display_target(row: OutboxMessage | Any) -> str:
    """Where a message went, without the robot's token or a full phone number."""
    target = getattr(row, "target", row) or ""
    if row is not None and getattr(row, "channel", None) == INTERNAL:
        unit = db.session.scalar(select(Unit).where(Unit.code == target))
        return unit.full_name if unit else target
    if target.startswith(("http://", "https://")):
        parts = urllib.parse.urlsplit(target)
        return f"{parts.hostname or ''}{parts.path}"
    if len(target) > 7 and target.replace("+", "").isdigit():
        return target[:3] + "****" + target[-4:]
    return target


def deliver_notifications() -> dict[str, int]:
    """The background job."""
    return deliver_due(clock.now())
