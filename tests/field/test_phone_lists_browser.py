"""A leader on the move: the duty console and the office lists on a 360 px
phone in real chromium — rows become labelled cards, nothing scrolls
sideways; the same pages at 1440 px keep their tables. Screenshots of each
go to $NRSC_SCREENSHOTS when set (else the test's temporary folder)."""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from tests.field.conftest import jpeg

PAGES = [("console", "/alerts/"), ("orders", "/orders/"), ("overdue", "/orders/?overdue=1"),
         ("backlog", "/orders/backlog"), ("search", "/orders/search?state=all")]


@pytest.fixture
def busy_day(org, make_order, clock):
    """Open alerts in the console and dispatched orders in the office lists."""
    from webapp.alerts import intake
    for n in range(4):
        intake.ingest({"domain": "fire", "event_type": "smoke", "source_event_id": f"phone-list-{n}",
                       "occurred_at": (clock() - timedelta(minutes=3)).isoformat(),
                       "lat": 37.40 + n * 0.05, "lon": 106.10 + n * 0.04,
                       "text": "烟雾，疑似秸秆焚烧蔓延至林地边缘，需核实"}, [("s.jpg", jpeg((n * 50, 90, 90)))],
                      source="camera-sim")
    return [make_order("fire"), make_order("farmland", lat=37.20, lon=106.05), make_order("ecology")]


@pytest.mark.browser
@pytest.mark.parametrize("role", ["duty_lead"])
def test_console_and_office_lists_fit_a_360_px_phone(page, live_server, busy_day, make_user, role, tmp_path):
    user = make_user(role, "duty")
    shots = Path(os.environ.get("NRSC_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    browser = page.context.browser
    for width, height, mobile in ((360, 740, True), (1440, 900, False)):
        context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=mobile,
                                      has_touch=mobile, locale="zh-CN")
        pg = context.new_page()
        pg.set_default_timeout(15_000)
        try:
            pg.goto(f"{live_server}/login")
            pg.fill("input[name=login]", user.login)
            pg.fill("input[name=password]", PASSWORD)
            pg.click("button[type=submit]")
            pg.wait_for_load_state()
            for name, path in PAGES:
                pg.goto(live_server + path)
                table = pg.locator("table.cards").first
                table.wait_for()
                if name == "console":
                    assert pg.locator("tr.alert-row").count() == 4
                elif name != "backlog":
                    assert pg.locator("tr[data-order]").count() >= 1 or name == "overdue"
                pg.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
                scroll = pg.evaluate("document.scrollingElement.scrollWidth")
                display = pg.evaluate("() => getComputedStyle(document.querySelector('table.cards tbody tr')).display")
                if width == 360:
                    assert scroll <= 360, f"{path} is {scroll}px wide at 360 px"
                    assert display in ("block", "grid")          # a card per row
                    if not pg.locator("table.cards tbody td[data-label]").count():
                        continue                       # "no orders match"
                    # Each cell says which column it is.
                    label = pg.evaluate("""() => {
                        const td = document.querySelector('table.cards tbody td[data-label]');
                        return td ? getComputedStyle(td, '::before').content : null; }""")
                    assert label and label not in ("none", '""')
                    # Text is not squeezed to a character per line: cards are nearly the screen wide.
                    card = pg.evaluate(
                        "() => document.querySelector('table.cards tbody tr').getBoundingClientRect().width")
                    assert card >= 300
                else:
                    assert scroll <= 1440 and display == "table-row"
        finally:
            context.close()
