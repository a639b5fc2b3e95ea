"""A small seeded history built through the real workflow functions, with the
frozen clock: three drill orders in November 2026 (lead 自然资源局, cooperating
柳泉乡 and 应急管理局)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.images import jpeg
from tests.orders.conftest import LIUQUAN, DrillPlugin


@pytest.fixture
def app(app_config, clock):
    from webapp import create_app

    application = create_app(app_config, plugins=[DrillPlugin()], load_entrypoints=True)
    with application.app_context():
        yield application
        from webapp.extensions import db
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def history(org, make_user, clock):
    from webapp.extensions import db
    from webapp.models import Alert
    from webapp.orders import deadlines, planning, workflow

    duty = make_user("duty_officer", "duty")
    office = make_user("office_staff", "natural_resources")
    nr = make_user("unit_handler", "natural_resources")
    lq = make_user("unit_handler", "town.liuquan")
    em = make_user("unit_handler", "emergency_management")
    counter = iter(range(1, 1000))

    def new_order():
        alert = Alert(domain="drill", event_type="slide", status="confirmed", source="test",
                      source_event_id=f"h{next(counter)}", occurred_at=clock(), created_at=clock(),
                      last_seen_at=clock(), lat=LIUQUAN[0], lon=LIUQUAN[1], text="测试事件")
        db.session.add(alert)
        db.session.commit()
        return planning.dispatch(alert, actor=duty)

    def part(order, unit_code):
        return next(p for p in order.participants if p.unit.code == unit_code)

    photo = [(jpeg(), "site.jpg")]
    step = lambda minutes: clock.advance(minutes=minutes)  # noqa: E731

    # O1: everyone on time, closed, spot check passed.
    o1 = new_order()
    step(5)
    workflow.accept(o1, actor=nr)
    workflow.accept(o1, actor=lq)
    workflow.accept(o1, actor=em)
    step(55)
    workflow.feedback(o1, actor=nr, result="resolved", text="已处置", photos=photo)
    workflow.close(o1, actor=duty, confirm_unfinished=True)
    workflow.spot_check(o1, actor=office, result="pass")

    # O2: lead accepts late (overdue), 柳泉乡 never accepts, reworked once, spot check failed.
    step(60)
    o2 = new_order()
    step(5)
    workflow.accept(o2, actor=em)
    step(7)
    deadlines.sla_sweep()
    step(18)
    workflow.accept(o2, actor=nr)
    step(60)
    workflow.feedback(o2, actor=nr, result="resolved", text="第一次", photos=photo)
    workflow.rework(o2, actor=duty, reason="照片不清")
    step(30)
    workflow.feedback(o2, actor=nr, result="resolved", text="第二次", photos=photo)
    workflow.close(o2, actor=duty, confirm_unfinished=True)
    workflow.spot_check(o2, actor=office, result="fail", note="现场未恢复")

    # O3: on-time accepts, an approved extension, not closed yet.
    step(10)
    o3 = new_order()
    step(3)
    for user in (nr, lq, em):
        workflow.accept(o3, actor=user)
    workflow.extend(o3, actor=nr, reason="道路封闭", hours=24)
    workflow.approve_extension(o3, actor=duty)
    step(30)
    deadlines.sla_sweep()
    return SimpleNamespace(orders=[o1, o2, o3], duty=duty, office=office, nr=nr, lq=lq, em=em,
                           units={c: part(o1, c).unit for c in
                                  ("natural_resources", "town.liuquan", "emergency_management")})
