"""The console's alert list as an Excel workbook: the rows the queue shows
under the same filters, every page of them, in Chinese, audited."""
from __future__ import annotations

import io
import re
from datetime import datetime

from openpyxl import load_workbook
from sqlalchemy import select

from webapp.alerts.views import PAGE_SIZE
from webapp.extensions import db
from webapp.models import AuditEvent, Camera


def _queue_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="alert-(\d+)"', html)]


def _export(officer, url: str):
    resp = officer.get(url)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    rows = [list(r) for r in load_workbook(io.BytesIO(resp.data)).active.iter_rows(values_only=True)]
    return rows[0][0], rows[2], rows[3:]


def test_export_holds_the_rows_of_the_queue_under_its_filters(app, make_alert, login_as):
    officer, user = login_as("duty_officer")
    cam = Camera(code="T-17", name="大河北塔", kind="tower", lat=37.5, lon=106.2)
    db.session.add(cam)
    db.session.commit()
    fire = make_alert("fire", township="dahe", camera_id=cam.id, preset_number=3, label="smoke", score=0.87)
    make_alert("fire", age_minutes=3 * 60)
    make_alert("mining", status="under_review", claimed_by_id=user.id)
    make_alert("mining", status="false_alarm", verdict_reason="weather")
    make_alert("grazing", event_type="grazing", source="manual", manual=True, text="=HYPERLINK(\"x\")")
    make_alert("fire", status="confirmed", township="dahe")

    for query in ({}, {"domain": "fire"}, {"status": "all"}, {"status": "false_alarm"}, {"source": "manual"},
                  {"camera": cam.id}, {"township": fire.township_id, "status": "all"}):
        html = officer.get("/alerts/queue", query_string=query).get_data(as_text=True)
        # The queue's own export link carries the filters the officer chose.
        link = re.search(r'href="(/alerts/export\.xlsx[^"]*)"', html).group(1).replace("&amp;", "&")
        _caption, headers, rows = _export(officer, link)
        assert [r[0] for r in rows] == _queue_ids(html), query

    caption, headers, rows = _export(officer, "/alerts/export.xlsx?domain=fire&township=%d" % fire.township_id)
    assert caption.startswith("预警列表 · 筛选：待处理、森林草原防火、大河乡 · 导出于 2026-11-20 02:13")
    (row,) = rows
    values = dict(zip(headers, row))
    assert len(values) == len(headers)
    assert values["预警编号"] == fire.id and values["业务领域"] == "森林草原防火"
    assert values["摄像机"] == "T-17" and values["预置位"] == 3 and values["乡镇"] == "大河乡"
    assert values["识别结果"] == "烟雾（置信度 87%）"
    assert isinstance(values["上报时间"], datetime) and values["上报时间"].strftime("%H:%M") == "02:13"
    assert values["状态"] == "待研判" and values["来源"] == "box1" and values["预警类型"] == "火情"
    assert values["研判时限"] == datetime(2026, 11, 20, 2, 18)

    _c, headers, rows = _export(officer, "/alerts/export.xlsx?status=false_alarm")
    values = dict(zip(headers, rows[0]))
    assert values["状态"] == "误报" and values["原因"].startswith("天气")
    _c, headers, rows = _export(officer, "/alerts/export.xlsx?source=manual")
    values = dict(zip(headers, rows[0]))
    assert values["来源"] == "人工"
    # Typed text stays text: a formula in a description never runs in Excel.
    assert values["情况描述"] == '=HYPERLINK("x")'

    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "list_exported")).all()
    assert len(events) == 10 and all(e.actor_id == user.id for e in events)
    assert events[-1].data == {"list": "alerts", "rows": 1, "filters": {"status": "open", "source": "manual"}}


def test_export_has_every_page_not_only_the_first(app, make_alert, login_as):
    officer, _user = login_as("duty_lead", "duty")
    for n in range(PAGE_SIZE + 5):
        make_alert("fire", age_minutes=n)
    html = officer.get("/alerts/queue").get_data(as_text=True)
    assert len(_queue_ids(html)) == PAGE_SIZE
    second = officer.get("/alerts/queue?page=2").get_data(as_text=True)
    _c, _h, rows = _export(officer, "/alerts/export.xlsx")
    assert [r[0] for r in rows] == _queue_ids(html) + _queue_ids(second)


def test_export_refused_to_roles_without_the_console(app, make_alert, login_as):
    make_alert("fire")
    for role, unit in (("office_staff", "natural_resources"), ("leader_viewer", None),
                       ("unit_handler", "forestry_grassland")):
        browser, _user = login_as(role, unit)
        assert browser.get("/alerts/export.xlsx").status_code == 403, role
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "list_exported")) is None
