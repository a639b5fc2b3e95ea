"""Admin pages for notification channels: real HTTP with CSRF, real DB,
delivery through the outbox to a local webhook receiver."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from tests.notify.conftest import (
    receiver,  # noqa: F401 - the shared webhook receiver fixture
)
from webapp.extensions import db
from webapp.models import AuditEvent, NotificationChannel, OutboxMessage, Unit
from webapp.notify import outbox as notify

FORESTRY = "forestry_grassland"
SECRET = "SECdeadbeefTOPSECRET"
TOKEN = "ROBOTKEY123"


def _unit(code: str = FORESTRY) -> Unit:
    return db.session.scalar(select(Unit).where(Unit.code == code))


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _form(unit: Unit, **over) -> dict:
    data = {"unit_id": str(unit.id), "domain": "fire", "channel": "dingtalk",
            "target": f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}",
            "secret": SECRET, "active": "1"}
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def _channel_events() -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "notification_channel")
                                   .order_by(AuditEvent.id)))


def _alert(html: str) -> str:
    """The form's error box (the UI speaks Chinese by default)."""
    found = re.search(r'<div class="flash error" role="alert">(.*?)</div>', html, re.S)
    return found.group(1) if found else ""


def _audit_text() -> str:
    return " ".join(repr((e.action, e.note, e.data)) for e in _channel_events())


def test_create_edit_toggle_and_test_send(org, login_as):
    office, _user = login_as("office_staff")
    unit = _unit()
    form = office.get("/notify/channels/new").get_data(as_text=True)
    assert 'name="csrf_token"' in form and "dingtalk" in form and "wecom" in form

    resp = office.post("/notify/channels/new", data=_form(unit))
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/notify/channels")
    row = db.session.scalar(select(NotificationChannel))
    assert (row.unit_id, row.domain, row.channel, row.secret, row.active) == (
        unit.id, "fire", "dingtalk", SECRET, True)

    listing = office.get("/notify/channels").get_data(as_text=True)
    assert "https://oapi.dingtalk.com/robot/send" in listing and "林业和草原局" in listing
    assert TOKEN not in listing and SECRET not in listing and "access_token" not in listing

    # Edit: a blank secret keeps the stored one, which is never sent back.
    edit = office.get(f"/notify/channels/{row.id}/edit").get_data(as_text=True)
    assert SECRET not in edit
    resp = office.post(f"/notify/channels/{row.id}/edit", data=_form(unit, domain="", secret=""))
    assert resp.status_code == 302
    db.session.expire_all()
    row = db.session.get(NotificationChannel, row.id)
    assert row.domain is None and row.secret == SECRET
    listing = office.get("/notify/channels").get_data(as_text=True)
    assert "<td>全部</td>" in listing

    assert office.post(f"/notify/channels/{row.id}/toggle").status_code == 302
    db.session.expire_all()
    assert db.session.get(NotificationChannel, row.id).active is False
    toggled = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "channel_toggled"))
    assert (toggled.from_state, toggled.to_state) == ("active", "inactive")

    resp = office.post(f"/notify/channels/{row.id}/test", follow_redirects=True)
    assert resp.status_code == 200 and 'class="flash success"' in resp.get_data(as_text=True)
    messages = db.session.scalars(select(OutboxMessage)).all()
    assert len(messages) == 1
    m = messages[0]
    assert (m.channel, m.target, m.unit_id, m.status) == ("dingtalk", row.target, unit.id, "pending")
    assert m.idempotency_key.startswith(f"channel-test:{row.id}:")
    # A second press is a second message (unique key), not deduplicated.
    office.post(f"/notify/channels/{row.id}/test")
    assert _count(OutboxMessage) == 2

    actions = [e.action for e in _channel_events()]
    assert actions == ["channel_created", "channel_updated", "channel_toggled", "channel_test", "channel_test"]
    audit_text = _audit_text()
    assert SECRET not in audit_text and TOKEN not in audit_text and "/robot/send" not in audit_text
    assert "oapi.dingtalk.com" in audit_text
    # The last delivery shows in the list, still without the token.
    listing = office.get("/notify/channels").get_data(as_text=True)
    assert TOKEN not in listing and SECRET not in listing


def test_roles(org, login_as):
    unit = _unit()
    row = NotificationChannel(unit_id=unit.id, channel="wecom", target="https://qyapi.weixin.qq.com/x?key=K",
                              active=True)
    db.session.add(row)
    db.session.commit()

    handler, _user = login_as("unit_handler", FORESTRY)
    assert handler.get("/notify/channels").status_code == 403
    assert handler.get("/notify/channels/new").status_code == 403

    for role in ("duty_lead", "leader_viewer"):
        viewer, _user = login_as(role)
        page = viewer.get("/notify/channels")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "qyapi.weixin.qq.com/x" in html and "key=K" not in html
        assert f"/notify/channels/{row.id}/edit" not in html and 'href="/notify/channels"' in html
        assert viewer.get("/notify/channels/new").status_code == 403
        assert viewer.get(f"/notify/channels/{row.id}/edit").status_code == 403
        assert viewer.post("/notify/channels/new", data=_form(unit)).status_code == 403
        assert viewer.post(f"/notify/channels/{row.id}/edit", data=_form(unit)).status_code == 403
        assert viewer.post(f"/notify/channels/{row.id}/toggle").status_code == 403
        assert viewer.post(f"/notify/channels/{row.id}/test").status_code == 403
    db.session.expire_all()
    assert _count(NotificationChannel) == 1 and db.session.get(NotificationChannel, row.id).active
    assert _count(OutboxMessage) == 0 and _channel_events() == []

    admin, _user = login_as("admin")
    assert admin.post(f"/notify/channels/{row.id}/toggle").status_code == 302
    office, _user = login_as("office_staff")
    assert office.post("/notify/channels/999999/toggle").status_code == 404
    # The form needs CSRF like any other.
    assert office.client.post(f"/notify/channels/{row.id}/toggle").status_code == 400


def test_validation_errors_save_nothing_and_keep_input(org, login_as):
    office, _user = login_as("office_staff")
    unit = _unit()
    bad = [
        ({"target": "ftp://example.com/hook"}, "http"),
        ({"target": "javascript:alert(1)"}, "http"),
        ({"target": "https://"}, "http"),
        ({"target": "https://example.com:99999/x"}, "http"),
        ({"target": "https://exa mple.com/x"}, "http"),
        ({"target": "https://example.com/" + "a" * 500}, "500"),
        ({"target": ""}, "请填写"),
        ({"channel": "carrier-pigeon"}, "渠道"),
        ({"domain": "nosuchdomain"}, "业务领域"),
        ({"unit_id": "999999"}, "单位"),
        ({"unit_id": "abc"}, "单位"),
        ({"secret": "s" * 201}, "200"),
    ]
    for override, hint in bad:
        resp = office.post("/notify/channels/new", data=_form(unit, **override))
        html = resp.get_data(as_text=True)
        assert resp.status_code == 400, override
        assert hint in _alert(html), override
        assert SECRET not in html
    resp = office.post("/notify/channels/new", data=_form(unit, channel="carrier-pigeon"))
    assert f"access_token={TOKEN}" in resp.get_data(as_text=True)  # what was typed is kept
    assert _count(NotificationChannel) == 0 and _channel_events() == []


def test_duplicate_is_refused_with_a_message(org, login_as):
    office, _user = login_as("office_staff")
    unit = _unit()
    for domain in ("fire", ""):
        assert office.post("/notify/channels/new", data=_form(unit, domain=domain)).status_code == 302
        resp = office.post("/notify/channels/new", data=_form(unit, domain=domain, secret="other"))
        assert resp.status_code == 400 and "已有相同渠道" in _alert(resp.get_data(as_text=True))
    assert _count(NotificationChannel) == 2
    # Editing one into the other's place is refused too, and nothing changes.
    fire = db.session.scalar(select(NotificationChannel).where(NotificationChannel.domain == "fire"))
    resp = office.post(f"/notify/channels/{fire.id}/edit", data=_form(unit, domain="", secret="new-secret"))
    assert resp.status_code == 400 and "已有相同渠道" in _alert(resp.get_data(as_text=True))
    db.session.expire_all()
    fire = db.session.get(NotificationChannel, fire.id)
    assert fire.domain == "fire" and fire.secret == SECRET
    assert [e.action for e in _channel_events()] == ["channel_created"] * 2


def test_demo_placeholders_are_listed_and_editable(org, login_as):
    from webapp.demo.data import load_demo
    load_demo(history=False)
    placeholders = db.session.scalars(select(NotificationChannel)).all()
    assert placeholders and not any(c.active for c in placeholders)
    office, _user = login_as("office_staff")
    html = office.get("/notify/channels").get_data(as_text=True)
    for ch in placeholders:
        assert f"/notify/channels/{ch.id}/edit" in html
        assert ch.target not in html or "?" not in ch.target
    nav = office.get("/admin/units").get_data(as_text=True)
    assert 'href="/notify/channels"' in nav


def test_configured_channel_is_delivered_to_the_receiver(org, login_as, receiver, clock):  # noqa: F811
    office, _user = login_as("office_staff")
    unit = _unit()
    target = receiver.url + f"/dingtalk/robot/send?access_token={TOKEN}"
    receiver.dingtalk_secret = SECRET
    resp = office.post("/notify/channels/new", data=_form(unit, target=target))
    assert resp.status_code == 302
    channel = db.session.scalar(select(NotificationChannel))

    assert office.post(f"/notify/channels/{channel.id}/test").status_code == 302
    notify.enqueue(channel.channel, channel.target, "新工单", "大河乡 草原火情", None, "order:1:dispatch",
                   unit_id=unit.id)
    db.session.commit()
    counts = notify.deliver_due(clock())
    assert counts == {"sent": 2, "retry": 0, "dead": 0}
    assert receiver.accepted["**新工单**\n\n大河乡 草原火情"] == 1
    assert sum(receiver.accepted.values()) == 2  # signed with the secret from the form
    assert all(r["query"].get("access_token") == TOKEN for r in receiver.requests)

    listing = office.get("/notify/channels").get_data(as_text=True)
    assert "已发送 · " in listing
    assert TOKEN not in listing and SECRET not in listing
