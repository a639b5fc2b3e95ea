"""The notification outbox against a real local webhook receiver."""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    NotificationChannel,
    OutboxMessage,
    Unit,
    WorkOrder,
)
from webapp.notify import outbox as notify
from webapp.platform import audit
from webapp.platform.tasks import get_runner

FORESTRY = "forestry_grassland"


def _unit(code: str = FORESTRY) -> Unit:
    return db.session.scalar(select(Unit).where(Unit.code == code))


def _channel(unit: Unit, channel: str, target: str, *, domain=None, secret=None, active=True):
    row = NotificationChannel(unit_id=unit.id, channel=channel, target=target, domain=domain,
                              secret=secret, active=active)
    db.session.add(row)
    db.session.commit()
    return row


def _order(number: str = "HSB-2026-000731", domain: str = "fire") -> WorkOrder:
    order = WorkOrder(number=number, title="草原火情", domain=domain, event_type="fire")
    db.session.add(order)
    db.session.commit()
    return order


def test_notify_unit_fans_out_domain_channels_first_then_unit_wide_and_internal(org, receiver, app):
    app.config["NRSC_BASE_URL"] = "https://nrsc.example.gov.cn/"
    unit = _unit()
    wide = _channel(unit, "wecom", receiver.url + "/wecom/send?key=K1")
    fire = _channel(unit, "dingtalk", receiver.url + "/dingtalk/robot/send?access_token=T1", domain="fire")
    _channel(unit, "wecom", receiver.url + "/wecom/send?key=K2", domain="grazing")
    _channel(unit, "wecom", receiver.url + "/wecom/send?key=K3", active=False)
    _channel(_unit("town.dahe"), "wecom", receiver.url + "/wecom/send?key=K4")
    order = _order()

    link = notify.order_link(order.id)
    rows = notify.notify_unit(unit, "新工单 HSB-2026-000731", "大河乡 草原火情，请10分钟内签收",
                              link=link, key=f"order:{order.id}:dispatch", order=order)
    db.session.commit()

    assert link == f"https://nrsc.example.gov.cn/orders/{order.id}"
    assert [(r.channel, r.target) for r in rows] == [
        ("dingtalk", fire.target), ("wecom", wide.target), ("internal", FORESTRY)]
    assert {r.status for r in rows} == {"pending", "sent"} and rows[-1].status == "sent"
    assert all(r.order_id == order.id and r.unit_id == unit.id and r.link == link for r in rows)

    again = notify.notify_unit(unit, "新工单 HSB-2026-000731", "重复调用",
                               link=link, key=f"order:{order.id}:dispatch", order=order)
    db.session.commit()
    assert [r.id for r in again] == [r.id for r in rows]
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 3


def test_failures_back_off_then_recover_without_loss_or_duplicates(org, receiver, clock):
    unit = _unit()
    _channel(unit, "wecom", receiver.url + "/wecom/send?key=ROBOTKEY")
    first = _order("HSB-2026-000001")
    second = _order("HSB-2026-000002")
    for order in (first, second):
        notify.notify_unit(unit, f"新工单 {order.number}", "请签收", link=notify.order_link(order.id),
                           key=f"order:{order.id}:dispatch", order=order)
    db.session.commit()
    receiver.fail_then_recover((500, {}), (200, {"errcode": 45009, "errmsg": "api freq out of limit"}))
    start = clock.current

    assert notify.deliver_due(clock()) == {"sent": 0, "retry": 2, "dead": 0}
    pending = db.session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "wecom")
                                 .order_by(OutboxMessage.id)).all()
    assert [m.last_error for m in pending] == ["HTTP 500", "errcode 45009: api freq out of limit"]
    assert all(m.status == "pending" and m.attempts == 1 for m in pending)
    assert all(m.next_attempt_at == start + timedelta(seconds=30) for m in pending)

    # Not due yet: nothing is sent again.
    assert notify.deliver_due(clock()) == {"sent": 0, "retry": 0, "dead": 0}
    clock.advance(seconds=29)
    assert notify.deliver_due(clock()) == {"sent": 0, "retry": 0, "dead": 0}
    assert len(receiver.requests) == 2

    clock.advance(seconds=1)
    assert notify.deliver_due(clock()) == {"sent": 2, "retry": 0, "dead": 0}
    clock.advance(hours=2)
    assert notify.deliver_due(clock()) == {"sent": 0, "retry": 0, "dead": 0}

    assert len(receiver.requests) == 4
    assert sorted(receiver.accepted.values()) == [1, 1]
    contents = list(receiver.accepted)
    assert any("HSB-2026-000001" in c for c in contents) and any("HSB-2026-000002" in c for c in contents)
    assert all(f"/orders/{o.id})" in "".join(contents) for o in (first, second))
    sent = db.session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "wecom")).all()
    assert all(m.status == "sent" and m.attempts == 2 and m.last_error is None for m in sent)
    assert all(m.sent_at == start + timedelta(seconds=30) for m in sent)


def test_backoff_doubles_to_a_one_hour_cap_and_dead_after_max_attempts(org, receiver, clock, app):
    assert notify.max_attempts() == 10
    assert [notify.backoff(n).total_seconds() for n in range(1, 10)] == [
        30, 60, 120, 240, 480, 960, 1920, 3600, 3600]

    app.config["NRSC_NOTIFY_MAX_ATTEMPTS"] = 4
    _channel(_unit(), "wecom", receiver.url + "/wecom/send?key=K")
    notify.enqueue("wecom", receiver.url + "/wecom/send?key=K", "t", "b", None, "k1")
    db.session.commit()
    receiver.fail_then_recover(*[(500, {})] * 10)

    waits = []
    for _ in range(4):
        before = clock()
        notify.deliver_due(before)
        row = db.session.scalar(select(OutboxMessage))
        waits.append((row.next_attempt_at - before).total_seconds() if row.status == "pending" else row.status)
        clock.set(row.next_attempt_at)
    assert waits == [30, 60, 120, "dead"]
    assert row.attempts == 4 and row.last_error == "HTTP 500"
    clock.advance(days=1)
    assert notify.deliver_due(clock()) == {"sent": 0, "retry": 0, "dead": 0}
    assert len(receiver.requests) == 4


def test_dingtalk_signature_verified_by_receiver(org, receiver, clock):
    receiver.dingtalk_secret = "SECa1b2c3"
    unit = _unit()
    good = _channel(unit, "dingtalk", receiver.url + "/dingtalk/robot/send?access_token=TOKEN1",
                    secret="SECa1b2c3")
    bad = _channel(unit, "dingtalk", receiver.url + "/dingtalk/robot/send?access_token=TOKEN2",
                   secret="SECwrongsecret", domain="fire")
    order = _order()
    notify.notify_unit(unit, "地质灾害预警", "柳泉乡 隐患点 HP-014", link=notify.order_link(order.id),
                       key="order:1:emergency", order=order)
    db.session.commit()

    notify.deliver_due(clock())

    rows = {r.target: r for r in db.session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "dingtalk"))}
    assert rows[good.target].status == "sent"
    assert rows[bad.target].status == "pending"
    assert rows[bad.target].last_error == "errcode 310000: sign not match"
    signed = next(r for r in receiver.requests if r["query"].get("access_token") == "TOKEN1")
    assert signed["query"]["timestamp"] == str(int(clock().timestamp() * 1000))
    assert signed["payload"]["msgtype"] == "markdown"
    assert signed["payload"]["markdown"]["title"] == "地质灾害预警"
    assert "柳泉乡 隐患点 HP-014" in signed["payload"]["markdown"]["text"]


def test_wecom_payload_shape(org, receiver, clock):
    _channel(_unit(), "wecom", receiver.url + "/wecom/send?key=K")
    notify.enqueue("wecom", receiver.url + "/wecom/send?key=K", "标题", "正文", "https://x/orders/5", "k")
    db.session.commit()
    notify.deliver_due(clock())
    payload = receiver.requests[0]["payload"]
    assert payload == {"msgtype": "markdown", "markdown": {
        "content": "**标题**\n\n正文\n\n[查看详情](https://x/orders/5)"}}


def test_enqueue_is_idempotent_even_when_another_worker_won_the_race(org):
    first = notify.enqueue("wecom", "https://qyapi.example/send?key=K", "t", "b", None, "order:9:dispatch:wecom:1")
    same = notify.enqueue("wecom", "https://qyapi.example/send?key=K", "t2", "b2", None, "order:9:dispatch:wecom:1")
    db.session.commit()
    assert same.id == first.id and same.title == "t"

    # Another worker commits the key between our check and our insert: the
    # unique constraint decides, and our transaction's own work survives.
    with Session(db.engine) as other:
        other.add(OutboxMessage(idempotency_key="race-key", channel="wecom", target="https://a/b",
                                title="theirs", body="", status="pending", attempts=0,
                                next_attempt_at=notify.clock.now()))
        other.commit()
    event = audit.record("supervise", "work_order", 9, actor_label="test")
    mine = notify.enqueue("wecom", "https://a/b", "mine", "", None, "race-key")
    db.session.commit()
    assert mine.title == "theirs"
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.idempotency_key == "race-key")) == 1
    assert db.session.get(AuditEvent, event.id) is not None


def test_secrets_never_reach_the_log_or_last_error(org, clock, caplog):
    import socket
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = f"http://127.0.0.1:{port}/robot/send?access_token=TOPSECRETTOKEN"
    _channel(_unit(), "dingtalk", target, secret="SECtopsecret")
    notify.enqueue("dingtalk", target, "t", "b", None, "k")
    db.session.commit()
    with caplog.at_level(logging.DEBUG):
        assert notify.deliver_due(clock())["retry"] == 1
    row = db.session.scalar(select(OutboxMessage))
    assert row.last_error.startswith("ConnectionError")
    for text in (row.last_error, caplog.text):
        assert "TOPSECRETTOKEN" not in text and "SECtopsecret" not in text


def test_channel_without_notifier_waits_for_its_plugin(org, clock):
    notify.enqueue("sms", "13800000000", "t", "b", None, "k")
    db.session.commit()
    notify.deliver_due(clock())
    row = db.session.scalar(select(OutboxMessage))
    assert row.status == "pending" and row.last_error == "no notifier for channel 'sms'"


def test_background_job_delivers_on_tick(org, receiver, app, clock):
    runner = get_runner(app)  # the app registers every job of webapp.jobs
    assert runner.recurring[notify.JOB_NAME].every == timedelta(seconds=10)
    notify.enqueue("wecom", receiver.url + "/wecom/send?key=K", "t", "tick body", None, "k")
    db.session.commit()
    assert notify.JOB_NAME in runner.tick()
    db.session.expire_all()
    assert db.session.scalar(select(OutboxMessage.status)) == "sent"
    assert receiver.accepted["**t**\n\ntick body"] == 1


def test_delivery_status_partial_and_retry(org, receiver, login_as, clock, app):
    unit = _unit()
    _channel(unit, "wecom", receiver.url + "/wecom/send?key=PARTIALKEY")
    order = _order()
    from webapp.models import OrderParticipant
    db.session.add(OrderParticipant(order_id=order.id, unit_id=unit.id, role="lead"))
    notify.notify_unit(unit, "新工单 HSB-2026-000731", "请签收", link=notify.order_link(order.id),
                       key=f"order:{order.id}:dispatch", order=order)
    db.session.commit()
    app.config["NRSC_NOTIFY_MAX_ATTEMPTS"] = 1
    receiver.fail_then_recover((500, {}))
    notify.deliver_due(clock())

    lead, _user = login_as("duty_lead")
    page = lead.get(f"/orders/{order.id}/deliveries").get_data(as_text=True)
    assert "新工单 HSB-2026-000731" in page and "HTTP 500" in page
    assert "PARTIALKEY" not in page and "/wecom/send" in page
    assert "林业和草原局" in page and "retry" in page

    dead = db.session.scalar(select(OutboxMessage).where(OutboxMessage.channel == "wecom"))
    assert dead.status == "dead"
    handler, _user = login_as("unit_handler", FORESTRY)
    assert handler.get(f"/orders/{order.id}/deliveries").status_code == 200
    assert handler.post(f"/orders/{order.id}/deliveries/{dead.id}/retry").status_code == 403
    other, _user = login_as("unit_handler", "town.dahe")
    assert other.get(f"/orders/{order.id}/deliveries").status_code == 404

    assert lead.post(f"/orders/{order.id}/deliveries/{dead.id}/retry").status_code == 302
    db.session.expire_all()
    assert db.session.get(OutboxMessage, dead.id).status == "pending"
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "notification_retry")) is not None
    notify.deliver_due(clock())
    db.session.expire_all()
    assert db.session.get(OutboxMessage, dead.id).status == "sent"
    assert sum(receiver.accepted.values()) == 1
