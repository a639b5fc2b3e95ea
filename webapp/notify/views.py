"""Notification channel admin: the chat-group robots (WeCom, DingTalk, SMS)
each unit and domain is notified on; secrets are never rendered back."""
from __future__ import annotations

import urllib.parse
import uuid

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import NotificationChannel, OutboxMessage, Unit
from webapp.notify import egress
from webapp.notify import outbox as notify
from webapp.platform import audit
from webapp.platform.jinja import render
from webapp.platform.security import current_user, roles_required

bp = Blueprint("notify", __name__, template_folder="templates")
ADMIN_VIEWERS = ("office_staff", "duty_lead", "leader_viewer")

# -- notification channels: the chat-group robots each unit coordinates in ---------
CHANNEL_EDITORS = ("office_staff",)  # plus admin, always
TARGET_MAX = 500  # NotificationChannel.target
SECRET_MAX = 200  # NotificationChannel.secret


def mask_target(target: str) -> str:
    """scheme://host/path of a webhook URL: the robot's key lives in the query
    (and userinfo), so neither is ever shown."""
    parts = urllib.parse.urlsplit(target or "")
    if not parts.scheme or not parts.hostname:
        return "…"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def _is_webhook_url(target: str) -> bool:
    """http(s) with a host, a valid port if any, and nothing a robot URL never has."""
    if any(c.isspace() or ord(c) < 32 for c in target):
        return False
    try:
        parts = urllib.parse.urlsplit(target)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _channel_audit(row: NotificationChannel, **extra) -> dict:
    # Only the host: a webhook's path or query may carry its token.
    host = urllib.parse.urlsplit(row.target or "").hostname or ""
    return {"unit_id": row.unit_id, "domain": row.domain, "channel": row.channel,
            "target_host": host, "active": bool(row.active), "has_secret": bool(row.secret), **extra}


def _last_deliveries(rows: list[NotificationChannel]) -> dict[tuple[str, str], OutboxMessage]:
    """The newest outbox row per (channel, target) shown: one grouped query."""
    targets = {r.target for r in rows}
    if not targets:
        return {}
    newest = (select(func.max(OutboxMessage.id))
              .where(OutboxMessage.target.in_(targets))
              .group_by(OutboxMessage.channel, OutboxMessage.target))
    found = db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(newest))).all()
    return {(m.channel, m.target): m for m in found}


def _can_edit_channels() -> bool:
    user = current_user()
    return user is not None and user.role in (*CHANNEL_EDITORS, "admin")


def _get_channel(channel_id: int) -> NotificationChannel:
    row = db.session.get(NotificationChannel, channel_id)
    if row is None:
        abort(404)
    return row


@bp.route("/notify/channels")
@roles_required(*ADMIN_VIEWERS)
def channels():
    rows = db.session.scalars(
        select(NotificationChannel).options(selectinload(NotificationChannel.unit).selectinload(Unit.parent))
        .outerjoin(Unit, NotificationChannel.unit_id == Unit.id)
        .order_by(Unit.sort_order, Unit.id, NotificationChannel.domain, NotificationChannel.channel,
                  NotificationChannel.id)).all()
    return render("notify/channels.html", "notify/_channels_table.html", channels=rows,
                  last=_last_deliveries(rows), mask=mask_target, can_edit=_can_edit_channels())


def _channel_choices() -> dict:
    host = current_app.extensions["nrsc.plugins"]
    units = db.session.scalars(
        select(Unit).where(Unit.active.is_(True)).options(selectinload(Unit.parent))
        .order_by(Unit.sort_order, Unit.id)).all()
    return {"units": units, "channel_domains": host.domains, "notifiers": sorted(host.notifiers)}


def _form_values(row: NotificationChannel | None) -> dict:
    if request.method == "POST":
        f = request.form
        return {"unit_id": f.get("unit_id", "").strip(), "domain": f.get("domain", "").strip(),
                "channel": f.get("channel", "").strip(), "target": f.get("target", "").strip(),
                "active": f.get("active") == "1", "clear_secret": f.get("clear_secret") == "1"}
    if row is None:
        return {"unit_id": "", "domain": "", "channel": "", "target": "", "active": True, "clear_secret": False}
    return {"unit_id": str(row.unit_id or ""), "domain": row.domain or "", "channel": row.channel,
            "target": row.target, "active": bool(row.active), "clear_secret": False}


def _validate_channel(values: dict, secret: str, choices: dict) -> list[str]:
    errors = []
    unit_ids = {str(u.id) for u in choices["units"]}
    if values["unit_id"] not in unit_ids:
        errors.append(_("Choose a unit."))
    if values["domain"] and values["domain"] not in choices["channel_domains"]:
        errors.append(_("Choose a domain from the list, or leave it blank for all domains."))
    if values["channel"] not in choices["notifiers"]:
        errors.append(_("Choose a channel from the list."))
    target = values["target"]
    if not target:
        errors.append(_("Enter the robot's webhook URL."))
    elif len(target) > TARGET_MAX:
        errors.append(_("The webhook URL is too long (at most %(max)s characters).", max=TARGET_MAX))
    elif not _is_webhook_url(target):
        errors.append(_("The webhook URL must be a complete http:// or https:// address."))
    else:
        try:
            egress.check_host(target)
        except egress.EgressRefused:
            errors.append(_("This webhook host is not on the allow-list set by the administrator "
                            "(NRSC_WEBHOOK_ALLOW)."))
    if len(secret) > SECRET_MAX:
        errors.append(_("The signing secret is too long (at most %(max)s characters).", max=SECRET_MAX))
    return errors


def _duplicate(row: NotificationChannel) -> bool:
    # Checked here as well as by the UniqueConstraint: SQL treats two NULL
    # domains ("all domains") as different, so the constraint alone misses them.
    domain = (NotificationChannel.domain.is_(None) if row.domain is None
              else NotificationChannel.domain == row.domain)
    stmt = select(NotificationChannel.id).where(
        NotificationChannel.unit_id == row.unit_id, domain, NotificationChannel.channel == row.channel,
        NotificationChannel.target == row.target)
    if row.id is not None:
        stmt = stmt.where(NotificationChannel.id != row.id)
    return db.session.scalar(stmt.limit(1)) is not None


def _channel_form(row: NotificationChannel | None):
    """The create/edit form: GET shows it, POST validates, saves and audits."""
    choices = _channel_choices()
    values = _form_values(row)
    errors: list[str] = []
    if request.method == "POST":
        secret = (request.form.get("secret") or "").strip()
        errors = _validate_channel(values, secret, choices)
        if not errors:
            saved = _save_channel(row, values, secret)
            if saved is not None:
                flash(_("Notification channel saved."), "success")
                return redirect(url_for("notify.channels"))
            errors.append(_("This unit already has this channel with the same webhook URL for this domain."))
    status = 400 if errors else 200
    return render("notify/channel_form.html", channel=row, values=values, errors=errors,
                  **choices), status


def _save_channel(row: NotificationChannel | None, values: dict, secret: str) -> NotificationChannel | None:
    """Write the row and its audit event together; None for a duplicate."""
    creating = row is None
    before = None if creating else _channel_audit(row)
    target = row if row is not None else NotificationChannel()
    target.unit_id = int(values["unit_id"])
    target.domain = values["domain"] or None
    target.channel = values["channel"]
    target.target = values["target"]
    target.active = values["active"]
    secret_changed = False
    if secret:
        secret_changed = secret != (target.secret or "")
        target.secret = secret
    elif values["clear_secret"] and target.secret:
        target.secret, secret_changed = None, True
    with db.session.no_autoflush:
        duplicate = _duplicate(target)
    if duplicate:
        db.session.rollback()
        return None
    try:
        with db.session.begin_nested():
            db.session.add(target)
            db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return None
    audit.record("channel_created" if creating else "channel_updated", "notification_channel", target.id,
                 data={"before": before, "after": _channel_audit(target), "secret_changed": secret_changed}
                 if not creating else _channel_audit(target))
    db.session.commit()
    return target


@bp.route("/notify/channels/new", methods=["GET", "POST"])
@roles_required(*CHANNEL_EDITORS)
def channel_new():
    return _channel_form(None)


@bp.route("/notify/channels/<int:channel_id>/edit", methods=["GET", "POST"])
@roles_required(*CHANNEL_EDITORS)
def channel_edit(channel_id: int):
    return _channel_form(_get_channel(channel_id))


@bp.route("/notify/channels/<int:channel_id>/toggle", methods=["POST"])
@roles_required(*CHANNEL_EDITORS)
def channel_toggle(channel_id: int):
    row = _get_channel(channel_id)
    before = "active" if row.active else "inactive"
    row.active = not row.active
    after = "active" if row.active else "inactive"
    audit.record("channel_toggled", "notification_channel", row.id, from_state=before, to_state=after,
                 data=_channel_audit(row))
    db.session.commit()
    flash(_("Channel switched on.") if row.active else _("Channel switched off."), "success")
    return redirect(url_for("notify.channels"))


@bp.route("/notify/channels/<int:channel_id>/test", methods=["POST"])
@roles_required(*CHANNEL_EDITORS)
def channel_test(channel_id: int):
    row = _get_channel(channel_id)
    user = current_user()
    # A fresh key per press: each test is its own message, never deduplicated.
    key = f"channel-test:{row.id}:{uuid.uuid4().hex}"
    message = notify.enqueue(
        row.channel, row.target, _("NRSC test message"),
        _("Test message from the Hongsipu command centre, sent by %(name)s. No action needed.",
          name=user.display_name or user.login),
        None, key, unit_id=row.unit_id)
    audit.record("channel_test", "notification_channel", row.id,
                 data={**_channel_audit(row), "outbox_id": message.id})
    db.session.commit()
    flash(_("Test message queued; the delivery job sends it within a few seconds."), "success")
    return redirect(url_for("notify.channels"))
