"""In a real chromium: the officer masks a false alarm's region with one
click on the alert page; the duty lead's precision page draws its chart."""
from __future__ import annotations

import pytest

from tests.conftest import log_in_page
from tests.detection.test_learning import cams, make_alert, preset_of  # noqa: F401 - fixture and helpers


@pytest.mark.browser
def test_mask_button_and_precision_chart_in_a_browser(page, cams, make_user):  # noqa: F811
    a, _b = cams
    alert = make_alert(a, 1, "fire_colour", "false_alarm", age_days=0, boxes=[[0.4, 0.5, 0.5, 0.7]])
    make_alert(a, 1, "fire_colour", "confirmed", age_days=8)
    officer = make_user("duty_officer")
    log_in_page(page, officer.login, "**/alerts/")
    page.goto(f"{page.base_url}/alerts/{alert.id}")
    page.click("#mask-button")
    page.wait_for_selector("#mask-done")
    assert "已将 1 个区域加入预置位 1 的屏蔽" in page.content()
    assert len(preset_of(a, 1).masks) == 1

    page.context.clear_cookies()
    lead = make_user("duty_lead")
    log_in_page(page, lead.login, "**/*")
    page.goto(page.base_url + "/detection/precision")
    page.wait_for_selector(".chart[data-ready='1']")
    assert page.locator("#detector-table tr[data-key='fire_colour'] td.precision").inner_text() == "50.0%"
