"""The phone pages in real chromium at 360×740 with the phone's location set
near the event: accept → check-in → feedback with camera photos, a dropped
connection retried without a duplicate, and no sideways scrolling."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD
from tests.field.conftest import EVENT, jpeg
from webapp.extensions import db
from webapp.models import EvidenceFile, Feedback, WorkOrder

PHONE = {"width": 360, "height": 740}


def _no_sideways_scroll(pg) -> None:
    width = pg.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"page is {width}px wide at {pg.url}"


@pytest.mark.browser
def test_phone_accept_checkin_feedback(page, live_server, make_order, make_user, tmp_path):
    order = make_order("fire")
    handler = make_user("unit_handler", "forestry_grassland.resources_office")
    photos = []
    for i in range(2):
        path = tmp_path / f"photo{i}.jpg"
        path.write_bytes(jpeg((40 * i, 120, 60), size=(640, 480)))
        photos.append(str(path))

    context = page.context.browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN",
        permissions=["geolocation"], geolocation={"latitude": EVENT[0] + 0.0009, "longitude": EVENT[1]})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    try:
        pg.goto(f"{live_server}/login")
        pg.fill("input[name=login]", handler.login)
        pg.fill("input[name=password]", PASSWORD)
        pg.click("button[type=submit]")
        pg.wait_for_url(f"{live_server}/unit/")
        assert pg.locator(f"[data-order='{order.number}']").is_visible()
        _no_sideways_scroll(pg)

        pg.click(f"[data-order='{order.number}']")
        pg.wait_for_url(f"**/unit/orders/{order.id}")
        _no_sideways_scroll(pg)
        pg.click("form[action$='/accept'] button[type=submit]")
        pg.wait_for_selector("form[action$='/arrive']")

        # The phone's position fills the check-in form and shows the distance.
        status = pg.locator("[data-geo-status]")
        pg.wait_for_function("() => document.querySelector('form[action$=\"/arrive\"] [name=lat]').value !== ''")
        assert " m" in status.inner_text()
        pg.set_input_files("form[action$='/arrive'] input[name=photo]", photos[0])
        _no_sideways_scroll(pg)
        pg.click("form[action$='/arrive'] button[type=submit]")
        pg.wait_for_selector("form[action$='/arrive']", state="detached")
        assert pg.locator("text=/1\\d\\d m/").count() >= 1     # the stored distance is shown
        db.session.expire_all()
        lead = db.session.get(WorkOrder, order.id).lead
        assert lead.arrived_at is not None and 90 < lead.arrive_distance_m < 110

        # Feedback: the first answer is lost on the way; field.js sends again.
        calls = []

        def drop_first_answer(route):
            calls.append(route.request.post_data_buffer and len(route.request.post_data_buffer))
            if len(calls) == 1:
                route.fetch()          # the server gets and stores it…
                route.abort("connectionreset")  # …but the phone never hears back
            else:
                route.continue_()
        pg.route("**/feedback", drop_first_answer)
        pg.check("input[name=result][value=stopped]")
        pg.fill("textarea[name=text]", "已扑灭，过火面积约2亩")
        pg.set_input_files("form[action$='/feedback'] input[name=photos]", photos)
        assert pg.locator("#feedback-previews img").count() == 2
        _no_sideways_scroll(pg)
        pg.click("form[action$='/feedback'] button[type=submit]")
        pg.wait_for_selector("text=已扑灭，过火面积约2亩")
        pg.wait_for_load_state()
        assert len(calls) == 2
        db.session.expire_all()
        assert db.session.scalar(select(func.count(Feedback.id)).where(Feedback.order_id == order.id)) == 1
        fb = db.session.scalar(select(Feedback).where(Feedback.order_id == order.id))
        assert db.session.scalar(select(func.count(EvidenceFile.id)).where(EvidenceFile.feedback_id == fb.id)) == 2
        assert db.session.get(WorkOrder, order.id).state == "to_review"
        _no_sideways_scroll(pg)
    finally:
        context.close()
