"""Excel exports of the office lists: the workbook opened with openpyxl holds
the rows the page shows under the same filters, in Chinese, with local
times; each export is audited; roles without the list are refused."""
from __future__ import annotations

import io
import re
from datetime import datetime

from openpyxl import load_workbook
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import AuditEvent
from webapp.platform.clock import local

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _page_numbers(html: str) -> list[str]:
    return re.findall(r'data-order="(HSB-\d{4}-\d{6})"', html)


def _sheet(resp):
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == XLSX
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    ws = load_workbook(io.BytesIO(resp.data)).active
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    # Caption, blank line, then the header row.
    return rows[0][0], rows[2], rows[3:]


def test_order_export_matches_the_page_under_each_filter(make_order, login_as, clock):
    late = make_order("fire")
    clock.advance(minutes=12)
    fresh = make_order("farmland", lat=37.20, lon=106.05)
    office, _ = login_as("office_staff", "natural_resources")
    for query in ("", "?overdue=1", "?domain=farmland", "?state=all&q=" + fresh.number):
        html = office.get("/orders/" + query).get_data(as_text=True)
        shown = _page_numbers(html)
        assert shown, query
        # The page's own export link carries its filters.
        link = re.search(r'href="([^"]*/orders/export\.xlsx[^"]*)"', html).group(1).replace("&amp;", "&")
        caption, headers, rows = _sheet(office.get(link))
        assert [r[0] for r in rows] == shown, query
        assert headers[:3] == ["工单编号", "标题", "业务领域"]
    caption, headers, rows = _sheet(office.get("/orders/export.xlsx?overdue=1"))
    assert caption.startswith("工单 · 筛选：全部未办结、超时 · 导出于 2026-11-20 02:2")
    (row,) = rows
    values = dict(zip(headers, row))
    assert len(values) == len(headers)
    assert values["工单编号"] == late.number and values["业务领域"] == "森林草原防火"
    assert values["状态"] == "待签收" and values["超时"] == "是" and values["督办"] in ("", None)
    assert values["下一环节"] == "签收" and values["紧急程度"] in ("紧急", "高", "普通")
    # Dates are real Excel dates in local time (UTC+8).
    assert isinstance(values["派发时间"], datetime)
    assert abs((values["派发时间"] - local(late.dispatched_at).replace(tzinfo=None)).total_seconds()) < 1
    assert values["派发时间"].hour == 2  # 02:13 in Hongsipu, 18:13 UTC
    assert "已超时" in values["剩余时间"]
    assert not any(isinstance(v, str) and re.search(r"\b(fire|to_accept|normal)\b", v) for v in row)

    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "list_exported")).all()
    assert len(events) == 5
    assert events[-1].data["list"] == "orders" and events[-1].data["rows"] == 1
    assert events[-1].data["filters"] == {"overdue": "1"}


def test_backlog_export_matches_the_page(make_order, login_as, clock):
    make_order("fire")
    make_order("farmland", lat=37.20, lon=106.05)
    clock.advance(minutes=15)
    office, _ = login_as("office_staff", "natural_resources")
    html = office.get("/orders/backlog").get_data(as_text=True)
    assert "/orders/backlog.xlsx" in html
    units = re.findall(r'<tr data-unit="[^"]+">\s*<td[^>]*><a [^>]*>([^<]+)</a>', html)
    caption, headers, rows = _sheet(office.get("/orders/backlog.xlsx"))
    assert [r[0] for r in rows] == units and len(units) >= 2
    assert headers == ["单位", "待签收", "处置中", "已退单", "已反馈", "当前超时", "累计超时环节"]
    forestry = next(r for r in rows if r[0] == "林业和草原局")
    assert forestry[1] == 1 and forestry[5] == 1  # one to accept, overdue now
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "list_exported"))
    assert audit.data["list"] == "backlog" and audit.actor_id is not None


def test_roles_without_the_list_cannot_export(make_order, login_as):
    make_order("fire")
    handler, _ = login_as("unit_handler", "forestry_grassland")
    for url in ("/orders/export.xlsx", "/orders/backlog.xlsx", "/alerts/export.xlsx"):
        assert handler.get(url).status_code == 403, url
    office, _ = login_as("office_staff", "natural_resources")
    assert office.get("/alerts/export.xlsx").status_code == 403
    anon = office.client.application.test_client()
    assert anon.get("/orders/export.xlsx").status_code == 302
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "list_exported")) is None
