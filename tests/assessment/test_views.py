"""Assessment pages over the real app: who sees what, rules admin, adjustments, close."""
from __future__ import annotations

import io
import json

from sqlalchemy import func, select

from webapp.assessment import rules
from webapp.extensions import db
from webapp.models import AssessmentAdjustment, AssessmentPeriod, AssessmentRules


def test_office_sees_every_unit(history, login_as):
    b, _user = login_as("leader_viewer", None)
    page = b.get("/assessment/?period=2026-11").get_data(as_text=True)
    assert "应急管理局" in page and "柳泉乡" in page and "75.25" in page and "合格" in page
    assert 'id="apart"' in page and "林业和草原局" in page
    # A unit's score reads 得分 (置信度 is a detector's confidence, on the alert page).
    assert "<th>得分</th>" in page and "置信度" not in page
    assert "<script>" not in page and "style=" not in page
    nr = history.units["natural_resources"]
    detail = b.get(f"/assessment/2026-11/unit/{nr.id}")
    assert detail.status_code == 200 and "6.67" in detail.get_data(as_text=True)
    drill = b.get(f"/assessment/2026-11/unit/{nr.id}/no_rework").get_data(as_text=True)
    assert history.orders[1].number in drill and history.orders[0].number in drill


def test_unit_sees_only_its_own(history, login_as):
    b, _user = login_as("unit_handler", "town.liuquan")
    page = b.get("/assessment/?period=2026-11").get_data(as_text=True)
    assert "柳泉乡" in page and "90.67" in page and "75.25" not in page and "应急管理局" not in page
    assert "2 / 3" not in page and ("第 2 名" in page or "Rank 2 of 3" in page)
    nr = history.units["natural_resources"]
    assert b.get(f"/assessment/2026-11/unit/{nr.id}").status_code == 403
    assert b.get(f"/assessment/2026-11/unit/{nr.id}/no_rework").status_code == 403
    lq = history.units["town.liuquan"]
    drill = b.get(f"/assessment/2026-11/unit/{lq.id}/on_time_accept")
    assert drill.status_code == 200 and history.orders[1].number in drill.get_data(as_text=True)
    assert b.get("/assessment/rules").status_code == 403
    assert b.get("/assessment/2026-11/bulletin.pdf").status_code == 403
    assert b.post("/assessment/2026-11/close").status_code == 403


def test_rules_admin_refuses_bad_file_and_saves_good(org, login_as):
    b, _user = login_as("office_staff", "natural_resources")
    bad = rules.default_rules()
    bad["indicators"]["no_extension"] = 50
    resp = b.post("/assessment/rules", data={"content": json.dumps(bad)})
    assert resp.status_code == 400 and "add up to 145" in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(AssessmentRules)) == 0
    good = rules.default_rules()
    good["small_sample"] = 5
    resp = b.post("/assessment/rules", data={"content": "", "note": "导入",
                                             "file": (io.BytesIO(json.dumps(good).encode()), "r.json")},
                  content_type="multipart/form-data")
    assert resp.status_code == 302
    assert rules.current() == (1, rules.validate(good))
    page = b.get("/assessment/rules").get_data(as_text=True)
    assert "导入" in page and _user.login in page
    exported = b.get("/assessment/rules/export")
    assert json.loads(exported.get_data(as_text=True))["small_sample"] == 5


def test_adjustment_and_close_through_pages(history, login_as):
    b, _user = login_as("office_staff", "natural_resources")
    nr = history.units["natural_resources"]
    b.post("/assessment/2026-11/adjust", data={"unit_id": nr.id, "points": "3", "reason": ""})
    assert db.session.scalar(select(func.count()).select_from(AssessmentAdjustment)) == 0
    resp = b.post("/assessment/2026-11/adjust", data={"unit_id": nr.id, "points": "3", "kind": "appeal",
                                                       "reason": "道路封闭"})
    assert resp.status_code == 302
    assert "78.25" in b.get(f"/assessment/2026-11/unit/{nr.id}").get_data(as_text=True)
    assert b.post("/assessment/2026-11/close").status_code == 302
    assert db.session.scalar(select(AssessmentPeriod.period)) == "2026-11"
    xlsx = b.get("/assessment/2026-11/bulletin.xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"


def test_trend_page(history, login_as):
    b, _user = login_as("duty_lead", "duty")
    nr = history.units["natural_resources"]
    page = b.get(f"/assessment/trend?unit={nr.id}&year=2026").get_data(as_text=True)
    assert "2026-11" in page and "75.25" in page and "2026-10" in page
