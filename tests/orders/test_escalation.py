"""SLA timers with the frozen clock: warn at 75%, overdue at 100%, automatic
supervision, the unit's leader notified, on-time flags frozen."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import AuditEvent, OrderParticipant, OutboxMessage
from webapp.orders import deadlines, engine, planning
from webapp.platform.clock import LOCAL_TZ
from webapp.platform.tasks import get_runner


def _p(order_id, unit_code) -> OrderParticipant:
    db.session.expire_all()
    return next(p for p in engine.get_order(order_id).participants if p.unit.code == unit_code)


def _leader_messages(login):
    return db.session.scalars(select(OutboxMessage).where(OutboxMessage.target == f"user:{login}")).all()


def test_sla_job_is_registered_and_scheduled(app):
    runner = get_runner(app)
    assert runner.jobs[deadlines.SLA_JOB] is deadlines.sla_sweep
    assert runner.recurring[deadlines.SLA_JOB].every.total_seconds() == 30


def test_warning_overdue_supervision_and_frozen_flag(app, dispatched, people, make_user, clock):
    leader = make_user("unit_leader", "natural_resources")
    town_leader = make_user("unit_leader", "town.liuquan")
    order = dispatched()  # drill: accept 10 min, natural time
    runner = get_runner(app)
    assert "sla_sweep" in runner.tick()
    clock.advance(minutes=7)  # 70%
    runner.tick()
    assert _p(order["id"], "natural_resources").warned == {}
    clock.advance(seconds=30)  # 75%
    runner.tick()
    lead = _p(order["id"], "natural_resources")
    assert "accept" in lead.warned and lead.overdue == {}
    warnings = db.session.scalars(select(OutboxMessage).where(OutboxMessage.title.like("工单即将超时%"))).all()
    assert len(warnings) == 3  # one per participant, once
    runner.tick()
    clock.advance(seconds=30)
    runner.tick()
    assert len(db.session.scalars(select(OutboxMessage).where(OutboxMessage.title.like("工单即将超时%"))).all()) == 3
    # The township accepts in time; the lead does not.
    people.liuquan.post(f"/api/v1/orders/{order['id']}/accept")
    clock.advance(minutes=2, seconds=1)  # past 10 minutes
    runner.tick()
    lead = _p(order["id"], "natural_resources")
    assert "accept" in lead.overdue and lead.accept_on_time is False
    assert _p(order["id"], "town.liuquan").accept_on_time is True
    fresh = engine.get_order(order["id"])
    assert fresh.supervised is True and "超时" in fresh.supervise_note
    assert _leader_messages(leader.login), "the lead unit's leader is notified"
    assert not _leader_messages(town_leader.login)
    events = [e.action for e in db.session.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "work_order", AuditEvent.entity_id == order["id"]))]
    assert "sla_overdue" in events and "supervise" in events
    # A late accept keeps the frozen flag.
    r = people.nr.post(f"/api/v1/orders/{order['id']}/accept")
    assert r.status_code == 200
    lead_json = next(p for p in r.get_json()["participants"] if p["unit"] == "natural_resources")
    assert lead_json["sla"]["accept"]["on_time"] is False and lead_json["sla"]["accept"]["overdue"] is True


def test_working_time_clock_waits_for_office_hours(app, dispatched, people, clock):
    order = dispatched("paper", "form")  # accept 2h working time, dispatched Friday 02:13
    lead = _p(order["id"], "natural_resources")
    assert lead.accept_due_at == datetime(2026, 11, 20, 10, 30, tzinfo=LOCAL_TZ)
    clock.set(datetime(2026, 11, 20, 8, 29, tzinfo=LOCAL_TZ))
    deadlines.sla_sweep()
    assert _p(order["id"], "natural_resources").warned == {}
    clock.set(datetime(2026, 11, 20, 10, 0, tzinfo=LOCAL_TZ))  # 90 of 120 working minutes
    deadlines.sla_sweep()
    assert "accept" in _p(order["id"], "natural_resources").warned
    clock.set(datetime(2026, 11, 20, 10, 31, tzinfo=LOCAL_TZ))
    deadlines.sla_sweep()
    assert "accept" in _p(order["id"], "natural_resources").overdue


def test_holiday_moves_a_working_time_deadline(app, make_alert, people, clock):
    from datetime import date

    from webapp.models import CalendarDay

    db.session.add(CalendarDay(day=date(2026, 11, 20), kind="holiday", name="test"))
    db.session.add(CalendarDay(day=date(2026, 11, 21), kind="workday", name="调休"))
    db.session.commit()
    alert = make_alert("paper", "form")
    order = planning.dispatch(alert, actor=people.duty.user)
    # Friday is off, Saturday is worked.
    assert order.lead.accept_due_at == datetime(2026, 11, 21, 10, 30, tzinfo=LOCAL_TZ)
    assert order.lead.arrive_due_at == datetime(2026, 11, 21, 18, 0, tzinfo=LOCAL_TZ)


def test_geohazard_style_arrival_within_the_hour(app, dispatched, people, make_user, clock):
    """Scenario 3 with the drill domain (arrive 60 min natural): the township
    checks in at +45 min, the lead at +67 min — late, frozen, supervised."""
    leader = make_user("unit_leader", "natural_resources")
    order = dispatched()
    oid = order["id"]
    people.nr.post(f"/api/v1/orders/{oid}/accept")
    people.liuquan.post(f"/api/v1/orders/{oid}/accept")
    clock.advance(minutes=45)
    r = people.liuquan.post(f"/api/v1/orders/{oid}/arrive", json={"lat": 37.1405, "lon": 106.35})
    assert r.status_code == 200
    clock.advance(minutes=16)
    deadlines.sla_sweep()
    assert _p(oid, "natural_resources").arrive_on_time is False
    assert _p(oid, "emergency_management").arrive_on_time is False
    assert _leader_messages(leader.login)
    clock.advance(minutes=6)
    people.nr.post(f"/api/v1/orders/{oid}/arrive", json={"lat": 37.14, "lon": 106.35})
    assert _p(oid, "town.liuquan").arrive_on_time is True
    assert _p(oid, "natural_resources").arrive_on_time is False
    assert engine.get_order(oid).supervised is True


def test_sweep_never_overwrites_a_concurrent_accept(app, dispatched, clock):
    """The sweep read the order, then the unit accepted (another worker) before
    the sweep wrote: the sweep's compare-and-swap on the version fails, it
    leaves the order to its next run, and the on-time accept stays on time."""
    from sqlalchemy.orm import Session

    from webapp.models import WorkOrder

    order = dispatched()  # drill: accept 10 min, natural time
    clock.advance(minutes=9, seconds=59)
    stale = db.session.get(WorkOrder, order["id"])
    lead = next(p for p in stale.participants if p.role == "lead")
    assert lead.accepted_at is None

    with Session(db.engine) as other_worker:  # the accept, committed in between
        p = other_worker.get(OrderParticipant, lead.id)
        p.accepted_at, p.accept_on_time, p.state = clock(), True, "in_progress"
        other_worker.get(WorkOrder, order["id"]).version += 1
        other_worker.commit()
    clock.advance(seconds=2)  # the sweep runs past the deadline, still holding the old reading

    counts = deadlines.sla_sweep()
    assert counts["skipped"] == 1 and counts["overdue"] == 0
    db.session.expire_all()
    p = _p(order["id"], "natural_resources")
    assert p.accept_on_time is True and "accept" not in (p.overdue or {})
    deadlines.sla_sweep()  # the next run sees the accept: only the cooperating units are late
    assert "accept" not in (_p(order["id"], "natural_resources").overdue or {})
    assert "accept" in _p(order["id"], "town.liuquan").overdue
