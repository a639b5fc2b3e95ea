"""Scores computed by hand for the seeded history (tests/assessment/conftest.py)."""
from __future__ import annotations

import pytest

from webapp.assessment import rules, scoring, services


def row_of(result, code):
    return next(r for r in result["rows"] if r["code"] == code)


def test_scores_match_hand_computation(history):
    result = scoring.assess("2026-11")
    nr = row_of(result, "natural_resources")
    o1, o2, o3 = (o.id for o in history.orders)
    ind = nr["indicators"]
    # Lead in all three: accept on time in O1 and O3, late in O2.
    assert (ind["on_time_accept"]["passed"], ind["on_time_accept"]["counted"]) == (2, 3)
    assert ind["on_time_accept"]["fail"] == [o2]
    assert ind["on_time_accept"]["points"] == 6.67
    # Every round counts: O1's feedback, O2's first feedback and O2's feedback after the
    # rework (its own round, on a new clock) were all within their clocks; O3's is not due yet.
    assert (ind["on_time_closure"]["passed"], ind["on_time_closure"]["counted"]) == (3, 3)
    assert ind["on_time_closure"]["ok"] == [o1, o2, o2]
    assert ind["closure_rate"]["ok"] == [o1, o2] and ind["closure_rate"]["fail"] == [o3]
    assert ind["closure_rate"]["points"] == 10.0
    assert ind["no_rework"]["fail"] == [o2] and ind["no_rework"]["points"] == 10.0
    # Four rounds (O2 has two); O2's first round went overdue (accept) and stays so.
    assert ind["not_overdue"]["fail"] == [o2] and ind["not_overdue"]["counted"] == 4
    assert ind["not_overdue"]["points"] == 11.25
    assert ind["no_extension"]["fail"] == [o3] and ind["no_extension"]["points"] == 3.33
    assert ind["no_unjustified_return"]["points"] == 5.0
    assert (ind["spot_check_pass"]["ok"], ind["spot_check_pass"]["fail"]) == ([o1], [o2])
    assert ind["spot_check_pass"]["points"] == 5.0
    # 6.667 + 25 + 10 + 10 + 11.25 + 3.333 + 5 + 5 = 76.25, minus 1 for one overdue order.
    assert (nr["base"], nr["deduction"], nr["score"], nr["grade"]) == (76.25, 1.0, 75.25, "合格")
    assert nr["overdue_orders"] == [o2]

    lq = row_of(result, "town.liuquan")
    # Cooperating: lead-only indicators give full weight; O2 accept overdue.
    assert lq["indicators"]["on_time_accept"]["fail"] == [o2]
    assert lq["indicators"]["on_time_closure"]["counted"] == 0
    assert (lq["base"], lq["deduction"], lq["score"], lq["grade"]) == (91.67, 1.0, 90.67, "优秀")

    em = row_of(result, "emergency_management")
    assert (em["score"], em["grade"], em["small_sample"]) == (100.0, "优秀", False)
    assert [r["code"] for r in result["rows"][:3]] == ["emergency_management", "town.liuquan", "natural_resources"]
    assert [r["rank"] for r in result["rows"][:3]] == [1, 2, 3]
    # Every other unit had no due orders: listed apart, not scored.
    apart = {a["code"] for a in result["apart"]}
    assert "forestry_grassland" in apart and "natural_resources" not in apart


def test_deduction_cap_and_small_sample(history):
    custom = rules.default_rules()
    custom["overdue_deduction"] = {"per_order": 5, "cap": 3}
    custom["small_sample"] = 4
    rules.save(custom, actor=history.office, note="cap test")
    result = scoring.assess("2026-11")
    nr = row_of(result, "natural_resources")
    assert (nr["deduction"], nr["score"], nr["small_sample"]) == (3.0, 73.25, True)
    assert result["rules_version"] == 1


def test_grade_bands():
    bands = rules.validate(rules.default_rules())["grades"]
    assert [scoring.grade_of(s, bands) for s in (100, 90, 89.99, 80, 79.5, 60, 59.99, 0)] == [
        "优秀", "优秀", "良好", "良好", "合格", "合格", "不合格", "不合格"]


def test_period_without_due_orders_reports_so(history):
    result = scoring.assess("2026-10")
    assert result["rows"] == [] and len(result["apart"]) > 5


def test_closed_period_ignores_later_edits(history, clock):
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import AuditEvent

    services.close_period("2026-11", actor=history.office)
    before = row_of(scoring.assess("2026-11"), "natural_resources")["score"]
    # A later rules change and a late record change leave the closed score alone.
    custom = rules.default_rules()
    custom["overdue_deduction"] = {"per_order": 20, "cap": 20}
    rules.save(custom, actor=history.office)
    o3 = history.orders[2]
    o3.participants[0].accept_on_time = False
    db.session.commit()
    after = scoring.assess("2026-11")
    assert after["closed"] and row_of(after, "natural_resources")["score"] == before == 75.25
    assert after["rules_version"] == 0
    with pytest.raises(services.AssessmentError):
        services.close_period("2026-11", actor=history.office)
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "assessment.close")) is not None


def test_adjustment_requires_reason_and_is_audited(history):
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import AssessmentAdjustment, AuditEvent

    unit = history.units["natural_resources"]
    with pytest.raises(services.AssessmentError, match="reason"):
        services.add_adjustment("2026-11", unit_id=unit.id, points=2, reason="  ", actor=history.office)
    assert db.session.scalar(select(func.count()).select_from(AssessmentAdjustment)) == 0
    services.add_adjustment("2026-11", unit_id=unit.id, points=2, reason="道路封闭，迟到有因",
                            order_id=history.orders[1].id, actor=history.office)
    nr = row_of(scoring.assess("2026-11"), "natural_resources")
    assert (nr["adjustment"], nr["score"]) == (2.0, 77.25)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "assessment.adjust"))
    assert event.note == "道路封闭，迟到有因" and event.actor_id == history.office.id


def test_unjustified_return_counts_for_the_returning_unit_and_offices_for_their_department(
        org, make_user, clock):
    from datetime import datetime, timezone

    from tests.orders.conftest import LIUQUAN
    from webapp.extensions import db
    from webapp.models import Alert
    from webapp.orders import planning, workflow

    clock.set(datetime(2026, 12, 3, 2, 0, tzinfo=timezone.utc))
    duty, duty_lead = make_user("duty_officer", "duty"), make_user("duty_lead", "duty")
    nr = make_user("unit_handler", "natural_resources")
    farm = make_user("unit_handler", "natural_resources.farmland_office")
    lq = make_user("unit_handler", "town.liuquan")
    alert = Alert(domain="drill", event_type="slide", status="confirmed", source="test", source_event_id="ret1",
                  occurred_at=clock(), created_at=clock(), last_seen_at=clock(), lat=LIUQUAN[0], lon=LIUQUAN[1],
                  text="退单")
    db.session.add(alert)
    db.session.commit()
    order = planning.dispatch(alert, actor=duty,
                              data={"cooperating": ["town.liuquan", "natural_resources.farmland_office"]})
    by_code = {p.unit.code: p for p in order.participants}
    clock.advance(minutes=5)
    workflow.accept(order, actor=nr, participant_id=by_code["natural_resources"].id)
    workflow.accept(order, actor=farm, participant_id=by_code["natural_resources.farmland_office"].id)
    clock.advance(minutes=10)
    workflow.return_order(order, actor=lq, reason="不属于本乡")
    workflow.decide_return(order, actor=duty_lead, justified=False)

    result = scoring.assess("2026-12")
    lq_row = row_of(result, "town.liuquan")
    # Accept due (10 min) and not done: fails; the return ruled unjustified: fails.
    assert lq_row["indicators"]["no_unjustified_return"]["fail"] == [order.id]
    assert lq_row["indicators"]["on_time_accept"]["fail"] == [order.id]
    assert (lq_row["score"], lq_row["grade"], lq_row["small_sample"]) == (85.0, "良好", True)
    nr_row = row_of(result, "natural_resources")
    # The office's record counts for its department (same order: one due order)...
    assert nr_row["due_orders"] == 1 and nr_row["indicators"]["on_time_accept"]["ok"] == [order.id, order.id]
    # ...and is shown per office too.
    office = next(o for o in result["offices"] if o["code"] == "natural_resources.farmland_office")
    assert office["department_id"] == nr_row["unit_id"] and office["indicators"]["on_time_accept"]["passed"] == 1
    assert "natural_resources.farmland_office" not in {r["code"] for r in result["rows"]}
    assert _without_ids(scoring.compute("2026-12", detail=False)) == _without_ids(scoring.compute("2026-12"))


def _without_ids(result):
    rows = []
    for row in result["rows"] + result["offices"]:
        row = dict(row, overdue_orders=None, indicators={
            code: {k: v for k, v in ind.items() if k not in ("ok", "fail")} for code, ind in row["indicators"].items()})
        rows.append(row)
    return rows, result["apart"]


def test_summary_mode_counts_match_the_per_record_mode(history, clock):
    """The leaderboard's SQL aggregates and the drill-down's per-record tests agree."""
    for period in ("2026-11", "2026", "2026-11-20..2026-11-20", "2026-10"):
        full = scoring.compute(period)
        summary = scoring.compute(period, detail=False)
        assert _without_ids(summary) == _without_ids(full), period
    clock.advance(days=3)  # every clock now due: counted records change
    assert _without_ids(scoring.compute("2026-11", detail=False)) == _without_ids(scoring.compute("2026-11"))
