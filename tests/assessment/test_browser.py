"""The leaderboard in a real chromium: grades shown, the ECharts chart drawn
from data-chart (no inline script under the CSP), a click drills down."""
from __future__ import annotations

import pytest

PASSWORD = "test-password-1"


@pytest.mark.browser
def test_leaderboard_in_chromium(page, history, make_user):
    viewer = make_user("leader_viewer")
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(page.base_url + "/login")
    page.fill("input[name=login]", viewer.login)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.goto(page.base_url + "/assessment/?period=2026-11")
    rows = page.locator("#leaderboard tbody tr")
    assert rows.count() == 3
    assert rows.nth(0).locator("td").nth(1).inner_text().startswith("应急管理局")
    assert [rows.nth(i).locator("td.grade").inner_text() for i in range(3)] == ["优秀", "优秀", "合格"]
    page.wait_for_selector(".chart[data-ready='1'] canvas")
    assert not [e for e in errors if "Content Security Policy" in e], errors
    page.click("#leaderboard a:has-text('自然资源局')")
    page.wait_for_selector("#indicators")
    page.click("#indicators a >> nth=3")  # no_rework: 2 / 3
    page.wait_for_selector("#drilldown")
    assert history.orders[1].number in page.inner_text("#drilldown")
