"""The dispatch form page: prefilled by the routing rule, corrected, sent."""
from __future__ import annotations

import re

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import WorkOrder


def test_form_is_prefilled_and_dispatches(make_alert, login_as):
    alert = make_alert()
    browser, _user = login_as("duty_officer", "duty")
    page = browser.get(f"/orders/dispatch/{alert.id}").get_data(as_text=True)
    assert f'action="/orders/dispatch/{alert.id}"' in page and 'name="csrf_token"' in page
    assert re.search(r'<option value="natural_resources" selected>', page)
    assert re.search(r'value="town.liuquan" checked', page)
    assert re.search(r'value="emergency_management" checked', page)
    assert 'name="clock_arrive" value="1h"' in page
    assert 'name="emergency"' in page  # the drill domain allows it
    resp = browser.post(f"/orders/dispatch/{alert.id}", data={
        "title": "演练 · 滑坡", "lead_unit": "natural_resources",
        "lead_offices": ["natural_resources.geology_mining_office"],
        "cooperating": ["town.liuquan"], "township": "liuquan", "working_group": "1", "priority": "urgent",
        "clock_accept": "15m", "clock_arrive": "1h", "clock_feedback": "24h", "basis": "natural",
        "note": "注意安全"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    order = db.session.scalar(select(WorkOrder).where(WorkOrder.alert_id == alert.id))
    assert resp.headers["Location"].endswith(f"/orders/{order.id}")
    assert order.clocks["accept"] == "15m" and order.priority == "urgent"
    assert [p.unit.code for p in order.participants] == ["natural_resources", "town.liuquan"]
    # Coming back to the form of a dispatched alert leads to the order.
    again = browser.get(f"/orders/dispatch/{alert.id}")
    assert again.status_code == 302 and again.headers["Location"].endswith(f"/orders/{order.id}")


def test_form_shows_errors_and_keeps_input(make_alert, login_as):
    alert = make_alert()
    browser, _user = login_as("duty_officer", "duty")
    resp = browser.post(f"/orders/dispatch/{alert.id}", data={"title": "x", "clock_accept": "soon"},
                        headers={"HX-Request": "true"})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "请输入大于零的时长" in html and 'value="soon"' in html and "<html" not in html and 'id="dispatch-form"' in html
    assert db.session.scalar(select(WorkOrder)) is None


def test_form_needs_a_duty_role(make_alert, login_as):
    alert = make_alert()
    browser, _user = login_as("unit_handler", "natural_resources")
    assert browser.get(f"/orders/dispatch/{alert.id}").status_code == 403
    assert browser.post(f"/orders/dispatch/{alert.id}", data={}).status_code == 403
