"""The dispatch-meeting pack and the worker's monthly bulletin."""
from __future__ import annotations

from datetime import datetime, timezone

from openpyxl import load_workbook
from sqlalchemy import select

from webapp.assessment import jobs, pack
from webapp.extensions import db
from webapp.models import Alert, AuditEvent, OutboxMessage

# ~100 m apart around a point in 柳泉乡; a fourth 2 km away.
NEAR = [(37.1400, 106.3500), (37.1409, 106.3500), (37.1400, 106.3511)]
FAR = (37.1600, 106.3700)


def _alert(clock, at, n, days_ago=0, status="confirmed"):
    from datetime import timedelta
    when = clock() - timedelta(days=days_ago)
    db.session.add(Alert(domain="drill", event_type="slide", status=status, source="test",
                         source_event_id=f"hot{n}", occurred_at=when, created_at=when, last_seen_at=when,
                         lat=at[0], lon=at[1], text="重复"))


def test_hotspots_default_three_within_300m_in_30_days(org, clock):
    for i, at in enumerate(NEAR):
        _alert(clock, at, i)
    _alert(clock, FAR, 10)
    _alert(clock, NEAR[0], 11, status="false_alarm")
    _alert(clock, NEAR[0], 12, days_ago=40)
    db.session.commit()
    spots = pack.hotspots()
    assert len(spots) == 1 and spots[0]["alerts"] == 3
    assert pack.hotspots(min_alerts=4) == []
    assert len(pack.hotspots(days=60, min_alerts=4)) == 1


def test_pack_page_and_export(history, login_as, clock):
    from webapp.orders import workflow
    workflow.supervise(history.orders[2], actor=history.office, note="尽快办结")
    for i, at in enumerate(NEAR):
        _alert(clock, at, i)
    db.session.commit()
    b, _user = login_as("leader_viewer", None)
    page = b.get("/assessment/dispatch-pack").get_data(as_text=True)
    assert history.orders[2].number in page and "尽快办结" in page
    xlsx = b.get("/assessment/dispatch-pack.xlsx")
    assert xlsx.status_code == 200
    import io
    wb = load_workbook(io.BytesIO(xlsx.data))
    assert [r[0] for r in wb["督办工单"].iter_rows(min_row=2, values_only=True)] == [history.orders[2].number]
    # The three history alerts sit on NEAR[0] too: one hotspot of six.
    assert [r[2] for r in wb["重复报警点位"].iter_rows(min_row=3, values_only=True)] == [6]
    units = {r[0]: r[1] for r in wb["各单位在办工单"].iter_rows(min_row=2, values_only=True)}
    assert any("自然资源局" in name and n == 1 for name, n in units.items())
    unit_user, _u = login_as("unit_handler", "town.liuquan")
    assert unit_user.get("/assessment/dispatch-pack").status_code == 403


def test_monthly_bulletin_on_the_first_only_once(history, clock, app):
    assert jobs.monthly_bulletin()["made"] is False  # 2026-11-20 local
    clock.set(datetime(2026, 11, 30, 17, 0, tzinfo=timezone.utc))  # 2026-12-01 01:00 local
    made = jobs.monthly_bulletin()
    assert made["made"] and made["period"] == "2026-11"
    assert (jobs.bulletin_dir() / "bulletin-2026-11.xlsx").exists()
    messages = db.session.scalars(select(OutboxMessage).where(OutboxMessage.title.like("%考核通报%"))).all()
    assert messages and "应急管理局" in messages[0].body
    assert jobs.monthly_bulletin() == {"made": False, "reason": "exists", "path": made["path"]}
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "assessment.bulletin")) is not None
    assert any(name == jobs.BULLETIN_JOB for name, *_ in __import__("webapp.jobs", fromlist=["JOBS"]).JOBS)
