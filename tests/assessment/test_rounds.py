"""Every round of a reworked order counts (issue 12 item 1): a late first
round stays late after an on-time second round, computed by hand."""
from __future__ import annotations

from tests.images import jpeg
from tests.orders.conftest import LIUQUAN, DrillPlugin  # noqa: F401 - the app fixture's plugin
from webapp.assessment import scoring


def test_late_first_round_and_on_time_second_round_both_count(org, make_user, clock):
    from webapp.extensions import db
    from webapp.models import Alert, OrderRound
    from webapp.orders import deadlines, planning, workflow

    duty = make_user("duty_officer", "duty")
    nr = make_user("unit_handler", "natural_resources")
    alert = Alert(domain="drill", event_type="slide", status="confirmed", source="test", source_event_id="r1",
                  occurred_at=clock(), created_at=clock(), last_seen_at=clock(), lat=LIUQUAN[0], lon=LIUQUAN[1],
                  text="测试事件")
    db.session.add(alert)
    db.session.commit()
    order = planning.dispatch(alert, actor=duty)  # drill: accept 10 min, arrive 60 min, feedback 24 h
    clock.advance(minutes=5)
    workflow.accept(order, actor=nr)  # on time
    clock.advance(minutes=30)
    workflow.arrive(order, actor=nr, lat=LIUQUAN[0], lon=LIUQUAN[1], photos=[(jpeg(), "a.jpg")])  # on time
    clock.advance(hours=25)
    deadlines.sla_sweep()  # round 1's feedback overdue
    workflow.feedback(order, actor=nr, result="resolved", text="第一次", photos=[(jpeg(), "f.jpg")])
    workflow.rework(order, actor=duty, reason="照片不清")
    clock.advance(hours=2)
    workflow.feedback(order, actor=nr, result="resolved", text="第二次", photos=[(jpeg(), "g.jpg")])  # on time
    workflow.close(order, actor=duty, confirm_unfinished=True)
    lead_rounds = [r for r in db.session.query(OrderRound).filter_by(order_id=order.id).order_by(OrderRound.id)
                   if r.participant.unit.code == "natural_resources"]
    assert [(r.number, r.feedback_on_time) for r in lead_rounds] == [(1, False), (2, True)]

    for detail in (True, False):
        row = next(r for r in scoring.assess("2026-11", detail=detail)["rows"] if r["code"] == "natural_resources")
        ind = row["indicators"]
        # Round 1 accepted on time; round 2 has no accept stage (the lead did not accept again).
        assert (ind["on_time_accept"]["passed"], ind["on_time_accept"]["counted"]) == (1, 1)
        # Feedback: round 1 late, round 2 on time — 1 of 2, the first lateness kept.
        assert (ind["on_time_closure"]["passed"], ind["on_time_closure"]["counted"]) == (1, 2)
        assert ind["on_time_closure"]["points"] == 12.5
        # Round 1 went overdue, round 2 did not.
        assert (ind["not_overdue"]["passed"], ind["not_overdue"]["counted"]) == (1, 2)
        assert ind["not_overdue"]["points"] == 7.5
        assert ind["closure_rate"]["points"] == 15 and ind["no_rework"]["points"] == 0
        # 10 + 12.5 + 15 + 0 + 7.5 + 5 + 5 + 10 (nothing spot-checked) = 65, minus 1 for the overdue order.
        assert (row["base"], row["deduction"], row["score"], row["grade"]) == (65.0, 1.0, 64.0, "合格")
        assert row["overdue_count"] == 1 and row["due_orders"] == 1
        if detail:
            assert ind["on_time_closure"]["fail"] == [order.id] and ind["on_time_closure"]["ok"] == [order.id]
            assert row["overdue_orders"] == [order.id]
