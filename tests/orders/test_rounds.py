"""Rounds of a work order (issue 9 items 4–6) through real HTTP, with the
frozen clock: rework and reopen start a new feedback round that goes overdue
while the first round's lateness is kept; bounded extensions; an emergency
switching to natural time; safety accidents and straw burning counting
natural time from dispatch; closing over the API asks for a confirmation."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import AuditEvent, ExtensionRequest, OrderRound, WorkOrder
from webapp.orders import deadlines
from webapp.platform.clock import LOCAL_TZ


def part(order_json, unit_code):
    return next(p for p in order_json["participants"] if p["unit"] == unit_code)


def due(p_json, stage) -> datetime:
    return datetime.fromisoformat(p_json["sla"][stage]["due_at"])


def rounds_of(order_id, unit_code):
    db.session.expire_all()
    order = db.session.get(WorkOrder, order_id)
    p = next(p for p in order.participants if p.unit.code == unit_code)
    return p, list(p.rounds)


def events(order_id, action):
    return db.session.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "work_order", AuditEvent.entity_id == order_id,
        AuditEvent.action == action).order_by(AuditEvent.id)).all()


def iso(dt: datetime) -> str:
    return dt.astimezone(LOCAL_TZ).isoformat()


def late_first_feedback(dispatched, people, with_photo, clock):
    """A drill order (feedback 24 h, natural time) whose lead feeds back late:
    the sweep marks the feedback overdue before it arrives."""
    order = dispatched()
    oid = order["id"]
    assert people.nr.post(f"/api/v1/orders/{oid}/accept").status_code == 200
    clock.advance(hours=25)
    assert deadlines.sla_sweep()["overdue"] >= 1
    r = people.nr.post(f"/api/v1/orders/{oid}/feedback", data=with_photo(result="resolved", text="迟到的反馈"))
    assert r.status_code == 200 and r.get_json()["state"] == "to_review", r.get_json()
    return oid


# -- rework and reopen -------------------------------------------------------------------
def test_rework_starts_a_new_feedback_round_that_goes_overdue(dispatched, people, with_photo, clock, login_as):
    oid = late_first_feedback(dispatched, people, with_photo, clock)
    r = people.duty.post(f"/api/v1/orders/{oid}/rework", json={"reason": "照片不清"})
    assert r.status_code == 200, r.get_json()
    reworked_at = clock.current
    lead = part(r.get_json(), "natural_resources")
    # A new feedback deadline from the rework, running again.
    assert lead["round"] == 2 and lead["feedback_at"] is None
    assert due(lead, "feedback") == (reworked_at + timedelta(hours=24))
    assert lead["sla"]["feedback"]["overdue"] is False and lead["sla"]["feedback"]["on_time"] is None
    assert [x["reason"] for x in lead["rounds"]] == ["dispatch", "rework"]
    late = lead["rounds"][0]["stages"]["feedback"]
    assert (late["on_time"], late["overdue"], late["done_at"] is not None) == (False, True, True)
    assert set(lead["rounds"][1]["stages"]) == {"feedback"}  # accept and arrive are not redone
    # The new round's clock runs out: the sweep marks it overdue (it used to be skipped forever).
    clock.advance(hours=23)
    assert deadlines.sla_sweep()["overdue"] == 0
    clock.advance(hours=1, seconds=1)
    assert deadlines.sla_sweep()["overdue"] == 1
    p, rounds = rounds_of(oid, "natural_resources")
    assert p.round_number == 2 and p.feedback_on_time is False and "feedback" in p.overdue
    first, second = rounds
    assert (first.number, first.reason, first.feedback_on_time, "feedback" in first.overdue) == (1, "dispatch", False, True)
    assert first.ended_at == reworked_at and first.feedback_at is not None and first.accept_on_time is True
    assert (second.number, second.reason, second.feedback_on_time, second.overdue.keys() == {"feedback"}) == (
        2, "rework", False, True)
    assert second.started_at == reworked_at and second.accept_due_at is None and second.ended_at is None
    lead_feedback_overdue = [e for e in events(oid, "sla_overdue")
                             if e.data["stage"] == "feedback" and e.data["unit"] == "natural_resources"]
    assert len(lead_feedback_overdue) == 2  # once per round
    # A late feedback in round 2 keeps round 1's flags as they were.
    r = people.nr.post(f"/api/v1/orders/{oid}/feedback", data=with_photo(result="resolved", text="补充"))
    assert r.status_code == 200
    _p, (first, second) = rounds_of(oid, "natural_resources")
    assert first.feedback_on_time is False and second.feedback_on_time is False and second.feedback_at is not None
    # The order page lists the earlier round with its lateness.
    b, _user = login_as("duty_officer", "duty")
    page = b.get(f"/orders/{oid}").get_data(as_text=True)
    assert 'data-rounds="2"' in page and "当前第 2 轮" in page and "第 1 轮 · 派发" in page


def test_reopen_starts_a_new_feedback_round_that_goes_overdue(dispatched, people, with_photo, clock):
    order = dispatched()
    oid = order["id"]
    people.nr.post(f"/api/v1/orders/{oid}/accept")
    clock.advance(hours=2)
    people.nr.post(f"/api/v1/orders/{oid}/feedback", data=with_photo(result="stopped", text="已制止"))
    r = people.duty.post(f"/api/v1/orders/{oid}/close", json={"confirm_unfinished": True})
    assert r.get_json()["state"] == "closed"
    clock.advance(days=2)
    r = people.office.post(f"/api/v1/orders/{oid}/reopen", json={"reason": "违法行为复发"})
    assert r.status_code == 200 and r.get_json()["state"] == "in_progress", r.get_json()
    reopened_at = clock.current
    lead = part(r.get_json(), "natural_resources")
    assert lead["round"] == 2 and lead["rounds"][1]["reason"] == "reopen"
    assert due(lead, "feedback") == (reopened_at + timedelta(hours=24))
    clock.advance(hours=18, seconds=1)  # 75%
    assert deadlines.sla_sweep()["warned"] >= 1
    clock.advance(hours=6)
    assert deadlines.sla_sweep()["overdue"] == 1
    _p, (first, second) = rounds_of(oid, "natural_resources")
    # Round 1 was on time and stays so; round 2 went overdue.
    assert first.feedback_on_time is True and first.overdue == {} and first.ended_at == reopened_at
    assert second.feedback_on_time is False and "feedback" in second.overdue
    assert db.session.get(WorkOrder, oid).supervised is True


def test_redispatch_keeps_the_returned_round(dispatched, people, clock):
    order = dispatched()
    oid = order["id"]
    clock.advance(minutes=11)
    deadlines.sla_sweep()  # everyone's accept overdue
    r = people.nr.post(f"/api/v1/orders/{oid}/return", json={"reason": "不属于本单位"})
    assert r.get_json()["state"] == "returned"
    r = people.duty.post(f"/api/v1/orders/{oid}/redispatch", json={})
    assert r.status_code == 200, r.get_json()
    lead = part(r.get_json(), "natural_resources")
    assert lead["round"] == 2 and lead["sla"]["accept"]["overdue"] is False
    _p, (first, second) = rounds_of(oid, "natural_resources")
    assert first.accept_on_time is False and "accept" in first.overdue and first.ended_at is not None
    assert second.reason == "redispatch" and second.accept_on_time is None


# -- extensions are bounded ---------------------------------------------------------------
def test_extension_in_the_past_or_beyond_the_maximum_is_refused_over_the_api(dispatched, people, clock, app):
    oid = dispatched()["id"]
    people.nr.post(f"/api/v1/orders/{oid}/accept")
    clock.advance(hours=30)  # the feedback deadline (24 h) has passed
    past = clock.current - timedelta(hours=1)
    r = people.nr.post(f"/api/v1/orders/{oid}/extend", json={"reason": "道路中断", "until": iso(past)})
    assert r.status_code == 400 and r.get_json()["error"] == "extension_in_past"
    assert r.get_json()["message"] == "新的截止时间必须晚于当前时间。"
    far = clock.current + timedelta(days=30, minutes=1)
    r = people.nr.post(f"/api/v1/orders/{oid}/extend", json={"reason": "道路中断", "until": iso(far)})
    assert r.status_code == 400 and r.get_json()["error"] == "extension_too_long"
    assert "30" in r.get_json()["message"] and "天" in r.get_json()["message"]
    r = people.nr.post(f"/api/v1/orders/{oid}/extend", json={"reason": "道路中断", "hours": 24 * 40})
    assert r.status_code == 400 and r.get_json()["error"] == "extension_too_long"
    assert db.session.scalar(select(func.count()).select_from(ExtensionRequest)) == 0
    # The maximum is configured.
    app.config["NRSC_MAX_EXTENSION_DAYS"] = 2
    r = people.nr.post(f"/api/v1/orders/{oid}/extend",
                       json={"reason": "道路中断", "until": iso(clock.current + timedelta(days=3))})
    assert r.status_code == 400 and "2 天" in r.get_json()["message"]
    assert db.session.scalar(select(func.count()).select_from(ExtensionRequest)) == 0
    ok_until = clock.current + timedelta(days=1)
    r = people.nr.post(f"/api/v1/orders/{oid}/extend", json={"reason": "道路中断", "until": iso(ok_until)})
    assert r.status_code == 200, r.get_json()
    assert db.session.scalar(select(ExtensionRequest.requested_until)) == ok_until


def test_extension_beyond_the_maximum_is_refused_on_the_page(dispatched, people, login_as, clock):
    oid = dispatched()["id"]
    b, _user = login_as("unit_handler", "natural_resources.geology_mining_office")
    people.nr.post(f"/api/v1/orders/{oid}/accept")
    limit = (clock.current + timedelta(days=30)).astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M")
    assert f'max="{limit}"' in b.get(f"/unit/orders/{oid}").get_data(as_text=True)
    version = db.session.get(WorkOrder, oid).version
    typed = (clock.current + timedelta(days=45)).astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M")
    r = b.post(f"/unit/orders/{oid}/extension", data={"version": version, "until": typed, "reason": "山路塌方"})
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert "新的截止时间最多只能延至 30 天后" in page
    assert f'value="{typed}"' in page and "山路塌方" in page  # what was typed is kept
    assert db.session.scalar(select(func.count()).select_from(ExtensionRequest)) == 0
    # Within the maximum it is asked for, and waits for the duty office's decision: 待审批.
    fine = (clock.current + timedelta(days=2)).astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M")
    r = b.post(f"/unit/orders/{oid}/extension", data={"version": version, "until": fine, "reason": "山路塌方"})
    assert r.status_code in (200, 302, 303)
    assert db.session.scalar(select(func.count()).select_from(ExtensionRequest)) == 1
    assert "待审批" in b.get(f"/unit/orders/{oid}").get_data(as_text=True)


# -- emergencies and event types count natural time ------------------------------------------
FRIDAY_NIGHT = datetime(2026, 11, 20, 21, 0, tzinfo=LOCAL_TZ)
MONDAY = datetime(2026, 11, 23, tzinfo=LOCAL_TZ)


def test_emergency_switches_to_natural_time_and_recomputes_deadlines(make_alert, people, places, clock):
    clock.set(FRIDAY_NIGHT)
    alert = make_alert("safety", "unsafe_operation", at=places.hongsipu)
    r = people.duty.post(f"/api/v1/alerts/{alert.id}/dispatch", json={})
    order = r.get_json()
    assert order["clocks"]["basis"] == "working"
    lead = part(order, "emergency_management")
    # Office time: 30 min accept first runs on Monday morning.
    assert due(lead, "accept") == MONDAY.replace(hour=9)
    clock.advance(minutes=10)
    r = people.duty.post(f"/api/v1/orders/{order['id']}/emergency", json={"note": "发生事故"})
    assert r.status_code == 200, r.get_json()
    order = r.get_json()
    assert order["emergency"] is True and order["clocks"]["basis"] == "natural"
    lead = part(order, "emergency_management")
    # Recomputed from dispatch in natural time: 30 min, 4 h, 1 day of 24 h.
    assert due(lead, "accept") == (FRIDAY_NIGHT + timedelta(minutes=30))
    assert due(lead, "arrive") == (FRIDAY_NIGHT + timedelta(hours=4))
    assert due(lead, "feedback") == (FRIDAY_NIGHT + timedelta(hours=24))
    event = events(order["id"], "emergency")[-1]
    assert event.data["basis_before"] == "working"
    moved = {(m["unit"], m["stage"]) for m in event.data["recomputed"]}
    assert ("emergency_management", "accept") in moved and ("town.hongsipu", "feedback") in moved
    _p, (first,) = rounds_of(order["id"], "emergency_management")
    assert first.accept_due_at == FRIDAY_NIGHT + timedelta(minutes=30)
    # And the clock now runs on a Friday night.
    clock.advance(minutes=21)
    assert deadlines.sla_sweep()["overdue"] >= 1
    p, _rounds = rounds_of(order["id"], "emergency_management")
    assert "accept" in p.overdue and p.accept_on_time is False


def test_emergency_keeps_met_deadlines_and_approved_extensions(make_alert, people, places, clock, api_as):
    clock.set(FRIDAY_NIGHT)
    alert = make_alert("safety", "hot_work", at=places.hongsipu)
    oid = people.duty.post(f"/api/v1/alerts/{alert.id}/dispatch", json={}).get_json()["id"]
    em = api_as("unit_handler", "emergency_management")
    em.post(f"/api/v1/orders/{oid}/accept")
    accepted = rounds_of(oid, "emergency_management")[0].accept_due_at
    until = FRIDAY_NIGHT + timedelta(days=5)
    assert em.post(f"/api/v1/orders/{oid}/extend", json={"reason": "等待检测", "until": iso(until)}).status_code == 200
    assert people.duty.post(f"/api/v1/orders/{oid}/approve-extension", json={}).status_code == 200
    r = people.duty.post(f"/api/v1/orders/{oid}/emergency", json={})
    lead = part(r.get_json(), "emergency_management")
    p, _rounds = rounds_of(oid, "emergency_management")
    assert p.accept_due_at == accepted  # done: not recomputed
    assert due(lead, "arrive") == (FRIDAY_NIGHT + timedelta(hours=4))
    assert p.feedback_due_at == until  # the approved extension is kept


def _dispatch_at_friday_night(make_alert, people, places, domain, event_type):
    clock_at = FRIDAY_NIGHT
    alert = make_alert(domain, event_type, at=places.hongsipu)
    plan = people.duty.get(f"/api/v1/alerts/{alert.id}/dispatch").get_json()
    order = people.duty.post(f"/api/v1/alerts/{alert.id}/dispatch", json={}).get_json()
    return plan, order, clock_at


def test_accidents_and_straw_burning_count_natural_time_from_dispatch(make_alert, people, places, clock):
    clock.set(FRIDAY_NIGHT)
    for domain, event_type in (("safety", "accident"), ("ecology", "straw_burning")):
        plan, order, start = _dispatch_at_friday_night(make_alert, people, places, domain, event_type)
        assert plan["clocks"]["basis"] == "natural" and order["clocks"]["basis"] == "natural", event_type
        lead = next(p for p in order["participants"] if p["role"] == "lead")
        assert due(lead, "accept") == (start + timedelta(minutes=30)), event_type
        assert due(lead, "feedback") == (start + timedelta(hours=24)), event_type
    for domain, event_type in (("safety", "hot_work"), ("ecology", "dust")):
        plan, order, start = _dispatch_at_friday_night(make_alert, people, places, domain, event_type)
        assert order["clocks"]["basis"] == "working", event_type
        lead = next(p for p in order["participants"] if p["role"] == "lead")
        assert due(lead, "accept") == MONDAY.replace(hour=9), event_type


def test_event_type_basis_in_the_plugin_api():
    from plugins.ecology import DOMAIN as ECOLOGY
    from plugins.safety import DOMAIN as SAFETY

    assert SAFETY.sla.basis == "working" and SAFETY.clocks_for("accident").basis == "natural"
    assert SAFETY.clocks_for("hot_work") is SAFETY.sla and SAFETY.clocks_for(None) is SAFETY.sla
    assert ECOLOGY.clocks_for("straw_burning").basis == "natural" and ECOLOGY.clocks_for("garbage").basis == "working"
    assert SAFETY.clocks_for("accident").accept == SAFETY.sla.accept


# -- closing over the API asks for a confirmation ------------------------------------------------
def test_api_close_without_confirmation_is_refused_and_with_it_recorded(dispatched, people, with_photo):
    order = dispatched()
    oid = order["id"]
    people.nr.post(f"/api/v1/orders/{oid}/accept")
    people.em.post(f"/api/v1/orders/{oid}/accept")  # accepts, never feeds back; 柳泉乡 never accepts
    r = people.nr.post(f"/api/v1/orders/{oid}/feedback", data=with_photo(result="stopped", text="已制止"))
    version = r.get_json()["version"]
    for body in ({}, {"confirm_unfinished": False}):
        r = people.duty.post(f"/api/v1/orders/{oid}/close", json={**body, "version": version})
        assert r.status_code == 409
        err = r.get_json()
        assert err["error"] == "unfinished_confirmation_required"
        assert "柳泉乡" in err["message"] and "应急管理局" in err["message"] and "确认" in err["message"]
        assert {(u["unit"], u["state"]) for u in err["unfinished"]} == {
            ("town.liuquan", "to_accept"), ("emergency_management", "in_progress")}
    db.session.expire_all()
    assert db.session.get(WorkOrder, oid).state == "to_review" and not events(oid, "close")
    r = people.duty.post(f"/api/v1/orders/{oid}/close", json={"confirm_unfinished": True, "version": version})
    assert r.status_code == 200 and r.get_json()["state"] == "closed", r.get_json()
    (event,) = events(oid, "close")
    assert event.data["unfinished_confirmed"] is True
    assert {u["unit"] for u in event.data["closed_unfinished"]} == {"town.liuquan", "emergency_management"}


def test_closing_from_python_needs_the_same_confirmation(dispatched, people, with_photo):
    """No caller closes an order over unfinished units without saying so."""
    from webapp.orders import workflow
    from webapp.orders.errors import WorkflowError
    order = dispatched()
    oid = order["id"]
    people.nr.post(f"/api/v1/orders/{oid}/accept")
    people.nr.post(f"/api/v1/orders/{oid}/feedback", data=with_photo(result="stopped", text="已制止"))
    db.session.expire_all()
    row = db.session.get(WorkOrder, oid)
    for answer in (None, False, ""):
        with pytest.raises(WorkflowError) as refused:
            workflow.close(row, actor=people.duty.user, confirm_unfinished=answer)
        assert refused.value.status == 409 and refused.value.code == "unfinished_confirmation_required"
        assert "柳泉乡" in str(refused.value)
        db.session.rollback()
    db.session.expire_all()
    assert db.session.get(WorkOrder, oid).state == "to_review" and not events(oid, "close")
    workflow.close(db.session.get(WorkOrder, oid), actor=people.duty.user, confirm_unfinished=True)
    assert db.session.get(WorkOrder, oid).state == "closed"


def test_api_close_needs_no_confirmation_when_everyone_finished(dispatched, people, with_photo):
    order = dispatched()
    oid = order["id"]
    for api in (people.nr, people.liuquan, people.em):
        api.post(f"/api/v1/orders/{oid}/accept")
    for api in (people.liuquan, people.em, people.nr):
        assert api.post(f"/api/v1/orders/{oid}/feedback",
                        data=with_photo(result="stopped", text="完成")).status_code == 200
    r = people.duty.post(f"/api/v1/orders/{oid}/close", json={})
    assert r.status_code == 200 and r.get_json()["state"] == "closed"
    (event,) = events(oid, "close")
    assert "closed_unfinished" not in event.data


def test_rounds_are_kept_by_the_migration_backfill_shape(app, dispatched):
    """Every participant has its round 1 from dispatch on."""
    oid = dispatched()["id"]
    n = db.session.scalar(select(func.count()).select_from(OrderRound).where(OrderRound.order_id == oid))
    order = db.session.get(WorkOrder, oid)
    assert n == len(order.participants) and all(p.round_number == 1 for p in order.participants)
