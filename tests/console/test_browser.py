"""In a real chromium: an alert posted through the API appears in an open
console within 3 seconds, without a reload; keys and help work."""
from __future__ import annotations

import json
import urllib.request

import pytest

from tests.conftest import log_in_page


def _post_alert(base_url: str, token: str, body: dict) -> dict:
    request = urllib.request.Request(
        base_url + "/api/v1/alerts", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 201
        return json.loads(resp.read())


@pytest.mark.browser
def test_posted_alert_appears_in_open_console_within_3s(page, org, make_user, token_for, kit):
    officer = make_user("duty_officer")
    source = token_for(source="box1")
    log_in_page(page, officer.login, "**/alerts/")
    page.wait_for_selector("#queue table.queue")
    page.evaluate("window.__notReloaded = true")
    assert page.locator("tr.alert-row").count() == 0

    created = _post_alert(page.base_url, source, {
        "domain": "fire", "event_type": "smoke", "source_event_id": "cam17-0001",
        "occurred_at": "2026-11-20T02:13:00+08:00", "lat": kit.DAHE[0], "lon": kit.DAHE[1],
        "label": "smoke", "score": 0.91})
    row = page.locator(f"#alert-{created['id']}")
    row.wait_for(state="visible", timeout=3000)
    assert page.evaluate("window.__notReloaded") is True
    assert "urgent" in row.get_attribute("class")
    # Urgent and unacknowledged: the console is alarming.
    page.wait_for_function("() => window.nrscConsole && window.nrscConsole.alarming === true", timeout=3000)

    # Keyboard: help overlay, j selects, acknowledge with the button stops the alarm.
    page.keyboard.press("?")
    assert page.locator("#help-overlay").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#help-overlay").is_visible()
    page.keyboard.press("j")
    assert "selected" in row.get_attribute("class")
    row.locator("form.ack-form button").click()
    page.wait_for_function("() => window.nrscConsole.alarming === false", timeout=3000)

    # c claims the selected alert and opens it.
    page.locator(f"#alert-{created['id']}").wait_for()
    page.keyboard.press("j")
    page.keyboard.press("c")
    page.wait_for_url(f"**/alerts/{created['id']}")
    assert page.locator("#claimed-by").is_visible()
    page.wait_for_selector("#alert-map .leaflet-interactive")  # the map drew the point
