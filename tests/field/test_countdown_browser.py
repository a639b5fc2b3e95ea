"""Live countdowns in Chromium use the same words as the server's formatter
(webapp/platform/formats.py): 剩余 X小时Y分 / 已超时 X天Y小时, never 8:51:04."""
from __future__ import annotations

import time

import re

import pytest

PASSWORD = "test-password-1"
PHRASE = re.compile(r"^(剩余|已超时) \d+(天|小时|分|秒)(\d+(小时|分|秒))?$")


@pytest.mark.browser
def test_order_countdowns_read_in_chinese_words(page, make_order, make_user):
    order = make_order("fire")
    officer = make_user("duty_officer", "duty")
    page.goto(page.base_url + "/login")
    page.fill("input[name=login]", officer.login)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/alerts/")
    page.goto(f"{page.base_url}/orders/{order.id}")
    first = page.locator(".countdown[data-due]").first
    first.wait_for()
    server_text = first.inner_text()
    # Blank them; the page's ticker writes them again within a second.
    page.evaluate("document.querySelectorAll('.countdown[data-due]').forEach(e => { e.textContent = ''; })")
    # Poll from the test (a wait_for_function predicate would be eval'd, which the CSP forbids).
    deadline = time.monotonic() + 3
    while not all(page.locator(".countdown[data-due]").all_inner_texts()) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    texts = page.locator(".countdown[data-due]").all_inner_texts()
    assert texts and all(PHRASE.match(t.strip()) for t in texts), texts
    assert PHRASE.match(server_text.strip()), server_text
