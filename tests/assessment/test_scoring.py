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
    # O3's feedback is not due yet; O2's first feedback was within its clock.
    assert (ind["on_time_closure"]["passed"], ind["on_time_closure"]["counted"]) == (2, 2)
    assert ind["closure_rate"]["ok"] == [o1, o2] and ind["closure_rate"]["fail"] == [o3]
    assert ind["closure_rate"]["points"] == 10.0
    assert ind["no_rework"]["fail"] == [o2] and ind["no_rework"]["points"] == 10.0
    assert ind["not_overdue"]["fail"] == [o2] and ind["not_overdue"]["points"] == 10.0
    assert ind["no_extension"]["fail"] == [o3] and ind["no_extension"]["points"] == 3.33
    assert ind["no_unjustified_return"]["points"] == 5.0
    assert (ind["spot_check_pass"]["ok"], ind["spot_check_pass"]["fail"]) == ([o1], [o2])
    assert ind["spot_check_pass"]["points"] == 5.0
    # 6.667 + 25 + 10 + 10 + 10 + 3.333 + 5 + 5 = 75, minus 1 for one overdue order.
    assert (nr["base"], nr["deduction"], nr["score"], nr["grade"]) == (75.0, 1.0, 74.0, "合格")
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
    assert (nr["deduction"], nr["score"], nr["small_sample"]) == (3.0, 72.0, True)
    assert result["rules_version"] == 1


def test_grade_bands():
    bands = rules.validate(rules.default_rules())["grades"]
    assert [scoring.grade_of(s, bands) for s in (100, 90, 89.99, 80, 79.5, 60, 59.99, 0)] == [
        "优秀", "优秀", "良好", "良好", "合格", "合格", "不合格", "不合格"]


def test_period_without_due_orders_reports_so(history):
    result = scoring.assess("2026-10")
    assert result["rows"] == [] and len(result["apart"]) > 5


def test_closed_period_ignores_later_edits(history, clock):
    from webapp.extensions import db
    from webapp.models import AuditEvent
    from sqlalchemy import select

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
    assert after["closed"] and row_of(after, "natural_resources")["score"] == before == 74.0
    assert after["rules_version"] == 0
    with pytest.raises(services.AssessmentError):
        services.close_period("2026-11", actor=history.office)
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "assessment.close")) is not None


def test_adjustment_requires_reason_and_is_audited(history):
    from webapp.extensions import db
    from webapp.models import AssessmentAdjustment, AuditEvent
    from sqlalchemy import func, select

    unit = history.units["natural_resources"]
    with pytest.raises(services.AssessmentError, match="reason"):
        services.add_adjustment("2026-11", unit_id=unit.id, points=2, reason="  ", actor=history.office)
    assert db.session.scalar(select(func.count()).select_from(AssessmentAdjustment)) == 0
    services.add_adjustment("2026-11", unit_id=unit.id, points=2, reason="道路封闭，迟到有因",
                            order_id=history.orders[1].id, actor=history.office)
    nr = row_of(scoring.assess("2026-11"), "natural_resources")
    assert (nr["adjustment"], nr["score"]) == (2.0, 76.0)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "assessment.adjust"))
    assert event.note == "道路封闭，迟到有因" and event.actor_id == history.office.id
