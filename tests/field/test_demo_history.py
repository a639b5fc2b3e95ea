"""The synthetic three-month history: made through the real workflow, covers
every domain and township and every kind of case, loads once."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import (
    Alert,
    AuditEvent,
    OrderParticipant,
    OutboxMessage,
    Township,
    WorkOrder,
)
from webapp.platform import clock as clock_module


def test_history_covers_every_case_loads_once_and_fills_the_pages(org, clock, login_as, make_user):
    from webapp.demo import history as demo_history

    now = clock()
    duty02 = make_user("duty_officer", "duty", login="duty02")
    counts = demo_history.load_history(seed=2026)
    made = demo_history.ALERTS + len(demo_history.PRESENT_ALERTS) + len(demo_history.PRESENT_ORDERS)
    assert counts["alerts"] == made and 150 <= counts["orders"] < counts["alerts"]
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

    # The present is live: the last hours' alerts wait at the console...
    waiting = db.session.scalars(select(Alert).where(Alert.status.in_(("new", "under_review")))).all()
    assert 6 <= len(waiting) <= 10
    assert all(now - timedelta(hours=3) <= a.created_at <= now for a in waiting)
    assert len({a.domain for a in waiting}) >= 4
    assert any(a.domain == "fire" and a.status == "new" for a in waiting)
    assert [a.claimed_by_id for a in waiting if a.status == "under_review"] == [duty02.id]
    # ...and the open orders mostly keep their clocks: a few are overdue and supervised.
    from webapp.orders import deadlines, states
    open_orders = [o for o in orders if o.state in states.OPEN_STATES]

    def overdue(o):
        return any(getattr(p, f"{s}_due_at") is not None and deadlines.stage_done_at(p, s) is None
                   and getattr(p, f"{s}_due_at") < now
                   for p in states.active_participants(o) if p.state != "returned"
                   for s in ("accept", "arrive", "feedback"))
    late_open = [o for o in open_orders if overdue(o)]
    assert len(open_orders) >= 8 and 1 <= len(late_open) <= demo_history.OVERDUE_ORDERS
    assert all(o.supervised and any(p.overdue for p in o.participants) for o in late_open)
    assert {o.state for o in open_orders} >= {"to_accept", "in_progress"}
    assert any(o.dispatched_at > now - timedelta(hours=8) for o in open_orders)


    # The office, backlog, detail, review and phone pages show the history.
    office, _ = login_as("office_staff", "natural_resources")
    for url in ("/orders/", "/orders/?overdue=1", "/orders/?supervised=1", "/orders/backlog", "/orders/search?state=all"):
        assert office.get(url).status_code == 200, url
    order = db.session.scalar(select(WorkOrder).where(WorkOrder.state == "closed").order_by(WorkOrder.id))
    page = office.get(f"/orders/{order.id}").get_data(as_text=True)
    assert order.number in page and 'data-action="close"' in page
    assert office.get(f"/orders/{order.id}/review").status_code == 200
    # The phone's done tab lists the unit's latest closed orders, newest first,
    # a page at a time: expect exactly its first page, whatever the history's
    # size (the oldest closed order is usually on a later page or past the limit).
    from webapp.orders import unit_views
    from webapp.org import visibility
    handler, handler_user = login_as("unit_handler", order.lead.unit.code)
    closed = sorted((o for o in orders if o.state == "closed" and visibility.participants_of(o, handler_user)),
                    key=lambda o: o.closed_at, reverse=True)
    size = min(unit_views.LIST_PAGE_SIZE, unit_views.DONE_LIMIT)
    first = closed[:size]
    if len(closed) > size:  # orders closed in the same minute as the last shown may go either way
        first = [o for o in first if o.closed_at > closed[size].closed_at]
    assert first
    done_page = handler.get("/unit/?tab=done").get_data(as_text=True)
    assert all(o.number in done_page for o in first)
    by_position = sorted(first, key=lambda o: done_page.index(o.number))
    assert [o.closed_at for o in by_position] == sorted((o.closed_at for o in first), reverse=True)
    # The duty console opens on the waiting alerts.
    console, _ = login_as("duty_officer", "duty")
    html = console.get("/alerts/").get_data(as_text=True)
    assert all(f'id="alert-{a.id}"' in html for a in waiting)
