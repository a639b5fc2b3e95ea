"""The synthetic three-month history: made through the real workflow, covers
every domain and township and every kind of case, loads once."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from webapp import clock as clock_module
from webapp.extensions import db
from webapp.models import Alert, AuditEvent, OrderParticipant, OutboxMessage, Township, WorkOrder


def test_history_covers_every_case_loads_once_and_fills_the_pages(org, clock, login_as):
    from webapp import demo_history

    now = clock()
    counts = demo_history.load_history(seed=2026)
    assert counts["alerts"] == demo_history.ALERTS and 150 <= counts["orders"] < counts["alerts"]
    # The clock is given back where it was.
    assert clock_module.now() == now

    alerts = db.session.scalars(select(Alert).where(Alert.source == demo_history.SOURCE)).all()
    assert min(a.created_at for a in alerts) < now - timedelta(days=80)
    assert max(a.created_at for a in alerts) <= now
    assert {a.status for a in alerts} >= {"confirmed", "false_alarm"}
    orders = db.session.scalars(select(WorkOrder)).all()
    # Every installed domain (the seven, plus any extra plugin) has orders.
    assert {o.domain for o in orders} >= {"farmland", "mining", "geohazard", "fire", "grazing", "safety", "ecology"}
    assert {o.township_id for o in orders} == set(db.session.scalars(select(Township.id)))
    assert all(o.title for o in orders)

    late = db.session.scalar(select(func.count(OrderParticipant.id)).where(
        (OrderParticipant.accept_on_time.is_(False)) | (OrderParticipant.arrive_on_time.is_(False))
        | (OrderParticipant.feedback_on_time.is_(False))))
    on_time = db.session.scalar(select(func.count(OrderParticipant.id)).where(
        OrderParticipant.feedback_on_time.is_(True)))
    assert late >= 10 and on_time >= 100
    assert db.session.scalar(select(func.count(OrderParticipant.id)).where(OrderParticipant.returned_at.is_not(None))) >= 5
    assert sum(1 for o in orders if o.rework_count) >= 5
    assert sum(1 for o in orders if o.supervised) >= 10
    assert sum(1 for o in orders if o.spot_check_result) >= 5
    assert any(o.case_transferred for o in orders) and any(o.emergency for o in orders)
    states = {o.state for o in orders}
    assert "closed" in states and states & {"to_accept", "in_progress", "to_review"}
    # Every change left its audit event, at the time it happened.
    closes = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "close")).all()
    assert len(closes) == sum(1 for o in orders if o.state == "closed") + sum(1 for o in orders if o.reopen_count)
    assert min(e.at for e in closes) < now - timedelta(days=60)
    # Nothing old waits to be sent to the outside world.
    assert db.session.scalar(select(func.count(OutboxMessage.id)).where(
        OutboxMessage.status == "pending", OutboxMessage.created_at < now - timedelta(days=10))) == 0

    before = (db.session.scalar(select(func.count(Alert.id))), db.session.scalar(select(func.count(WorkOrder.id))),
              db.session.scalar(select(func.count(AuditEvent.id))))
    assert demo_history.load_history(seed=2026) == {"alerts": 0, "orders": 0}
    after = (db.session.scalar(select(func.count(Alert.id))), db.session.scalar(select(func.count(WorkOrder.id))),
             db.session.scalar(select(func.count(AuditEvent.id))))
    assert before == after


    # The office, backlog, detail, review and phone pages show the history.
    office, _ = login_as("office_staff", "natural_resources")
    for url in ("/orders/", "/orders/?overdue=1", "/orders/?supervised=1", "/orders/backlog", "/orders/search?state=all"):
        assert office.get(url).status_code == 200, url
    order = db.session.scalar(select(WorkOrder).where(WorkOrder.state == "closed").order_by(WorkOrder.id))
    page = office.get(f"/orders/{order.id}").get_data(as_text=True)
    assert order.number in page and 'data-action="close"' in page
    assert office.get(f"/orders/{order.id}/review").status_code == 200
    handler, _ = login_as("unit_handler", order.lead.unit.code)
    assert order.number in handler.get("/unit/?tab=done").get_data(as_text=True)
