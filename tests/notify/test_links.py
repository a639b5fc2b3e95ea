"""One builder for links in messages and one format for a person's inbox,
used by the work-order engine and the review escalation alike."""
from __future__ import annotations

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import OutboxMessage, Unit, User, WorkOrder
from webapp.notify import outbox as notify
from webapp.orders import messaging
from webapp.platform.security import hash_password


def test_links_honour_the_base_url_everywhere(org, app):
    order = WorkOrder(number="HSB-2026-000900", title="测试", domain="fire", event_type="fire")
    db.session.add(order)
    db.session.commit()
    assert notify.order_link(order.id) == f"/orders/{order.id}"
    app.config["NRSC_BASE_URL"] = "https://nrsc.example.gov.cn/"
    assert notify.order_link(order.id) == f"https://nrsc.example.gov.cn/orders/{order.id}"
    assert notify.alert_link(7) == "https://nrsc.example.gov.cn/alerts/7"

    # The engine's leader notice: the same link, the one inbox target format.
    unit = db.session.scalar(select(Unit).where(Unit.code == "forestry_grassland"))
    leader = User(login="lin_leader", display_name="林", role="unit_leader", unit_id=unit.id,
                  password_hash=hash_password("x" * 12), active=True)
    db.session.add(leader)
    db.session.commit()
    assert notify.user_target(leader) == "user:lin_leader"
    messaging.notify_leaders(unit, "超时", "请处理", f"order:{order.id}:test", order)
    db.session.commit()
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.target == "user:lin_leader"))
    assert row.link == f"https://nrsc.example.gov.cn/orders/{order.id}" and row.channel == notify.INTERNAL
