"""htmx forms: redirects htmx understands (204 + HX-Redirect, never a 302
the browser follows behind htmx's back), refusals shown in place next to
the field, the user's input kept and nothing stored."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import WorkOrder

from tests.conftest import log_in_page

HX = {"HX-Request": "true"}
GOOD = {"title": "演练 · 滑坡", "lead_unit": "natural_resources", "cooperating": ["town.liuquan"],
        "township": "liuquan", "working_group": "1", "priority": "urgent",
        "clock_accept": "15m", "clock_arrive": "1h", "clock_feedback": "24h", "basis": "natural"}


def _orders() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(WorkOrder))


def test_dispatch_from_htmx_answers_204_with_hx_redirect(make_alert, login_as):
    alert = make_alert()
    browser, _user = login_as("duty_officer", "duty")
    resp = browser.post(f"/orders/dispatch/{alert.id}", data=GOOD, headers=HX)
    order = db.session.scalar(select(WorkOrder).where(WorkOrder.alert_id == alert.id))
    assert resp.status_code == 204 and "Location" not in resp.headers
    assert resp.headers["HX-Redirect"] == f"/orders/{order.id}"
    assert resp.get_data() == b""
    # The flash survives for the page htmx then loads.
    assert "HSB-" in browser.get(f"/orders/{order.id}").get_data(as_text=True)


def test_dispatch_without_js_still_redirects(make_alert, login_as):
    alert = make_alert()
    browser, _user = login_as("duty_officer", "duty")
    resp = browser.post(f"/orders/dispatch/{alert.id}", data=GOOD)
    assert resp.status_code == 302 and "HX-Redirect" not in resp.headers


def test_polling_after_logout_leads_to_login_not_into_the_list(org, login_as):
    browser, _user = login_as("unit_handler", "natural_resources")
    browser.client.delete_cookie("session")
    resp = browser.get("/unit/", headers=HX)
    assert resp.status_code == 204 and "/login" in resp.headers["HX-Redirect"]


@pytest.mark.parametrize("field,value", [("clock_accept", "0m"), ("clock_feedback", "soon"), ("title", " ")])
def test_refused_field_shows_its_message_next_to_it(make_alert, login_as, field, value):
    alert = make_alert()
    browser, _user = login_as("duty_officer", "duty")
    data = dict(GOOD, **{field: value, "note": "记下的说明"})
    resp = browser.post(f"/orders/dispatch/{alert.id}", data=data, headers=dict(HX, **{"Accept-Language": "zh-CN"}))
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "<html" not in html and 'id="dispatch-form"' in html
    assert f'id="error-{field}"' in html and f'aria-describedby="error-{field}"' in html
    assert ("请输入" in html)  # the message is in Chinese
    assert f'name="{field}" value="{value}"' in html  # what was typed stays
    assert "记下的说明" in html
    assert _orders() == 0
    # Without JavaScript the same form comes back as a whole page.
    page = browser.post(f"/orders/dispatch/{alert.id}", data=data).get_data(as_text=True)
    assert "<html" in page and f'id="error-{field}"' in page
    assert _orders() == 0


def test_refusal_without_field_is_a_chinese_sentence(make_alert, login_as):
    alert = make_alert(status="new")
    browser, _user = login_as("duty_officer", "duty")
    resp = browser.post(f"/orders/dispatch/{alert.id}", data=GOOD,
                        headers=dict(HX, **{"Accept-Language": "zh-CN"}))
    assert resp.status_code == 409
    assert "请先确认报警属实" in resp.get_data(as_text=True)
    assert _orders() == 0


@pytest.mark.browser
def test_dispatch_form_in_chromium_errors_in_place_then_one_page(page, make_alert, make_user):
    alert = make_alert()
    officer = make_user("duty_officer", "duty")
    log_in_page(page, officer.login, "**/alerts/")
    page.goto(f"{page.base_url}/orders/dispatch/{alert.id}")
    page.wait_for_function("window.htmx !== undefined")
    page.fill("input[name=clock_accept]", "0m")
    page.fill("textarea[name=note]", "带上无人机")
    page.click("#dispatch-form button[type=submit]")
    message = page.locator("#dispatch-form #error-clock_accept")
    message.wait_for(state="visible", timeout=5000)
    assert "请输入" in message.inner_text()
    # Next to its field, inside the same label; the rest of the form kept.
    assert page.locator("label:has(input[name=clock_accept]) #error-clock_accept").count() == 1
    assert page.input_value("input[name=clock_accept]") == "0m"
    assert page.input_value("textarea[name=note]") == "带上无人机"
    assert page.url.endswith(f"/orders/dispatch/{alert.id}")
    assert page.locator("header.topbar").count() == 1
    assert _orders() == 0

    page.fill("input[name=clock_accept]", "15m")
    page.click("#dispatch-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/orders/\d+$"))
    order = db.session.scalar(select(WorkOrder).where(WorkOrder.alert_id == alert.id))
    assert page.url.endswith(f"/orders/{order.id}")
    # A whole page, not a page inside the form.
    assert page.locator("header.topbar").count() == 1
    assert page.locator("footer.footer").count() == 1
    assert page.locator("#dispatch-form").count() == 0
