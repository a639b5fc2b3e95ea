"""Closing an order (办结): cooperating units that never accepted or fed back
need an explicit confirmation, recorded in the close event; the pages say
who may close; one consistent message after closing."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.field.conftest import jpeg, version_of
from webapp.extensions import db
from webapp.models import AuditEvent, WorkOrder

PASSWORD = "test-password-1"


def _to_review(order, login_as, everyone: bool = False):
    from webapp.orders import workflow
    if everyone:
        for p in [p for p in order.participants if p.role != "lead"]:
            user = login_as("unit_handler", p.unit.code)[1]
            workflow.accept(order, actor=user, participant_id=p.id)
            workflow.feedback(order, actor=user, participant_id=p.id, result="resolved", text="已协助",
                              photos=[(jpeg(), "co.jpg")])
    handler = login_as("unit_handler", order.lead.unit.code)[1]
    workflow.accept(order, actor=handler, participant_id=order.lead.id)
    workflow.feedback(order, actor=handler, participant_id=order.lead.id, result="resolved",
                      text="火已扑灭", photos=[(jpeg(), "fb.jpg")])
    assert order.state == "to_review"
    unfinished = [p for p in order.participants if p.state in ("to_accept", "in_progress")]
    assert bool(unfinished) != everyone, "the fire routing names a cooperating township"
    return unfinished


def _state(order) -> str:
    db.session.expire_all()
    return db.session.get(WorkOrder, order.id).state


def _closes(order) -> list[AuditEvent]:
    return db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "close", AuditEvent.entity_id == order.id)).all()


def test_close_with_unfinished_units_asks_and_records_the_confirmation(make_order, login_as):
    order = make_order("fire")
    unfinished = _to_review(order, login_as)
    duty, _ = login_as("duty_officer", "duty")
    url = f"/orders/{order.id}/act/close"
    page = duty.get(f"/orders/{order.id}/review").get_data(as_text=True)
    assert "data-unfinished" in page and unfinished[0].unit.full_name in page and "未签收（已办结）" in page

    refused = duty.post(url, data={"version": version_of(page, url), "back": "review", "note": "先关了"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    close_form = html[html.index('data-action="close"'):]
    close_form = close_form[:close_form.index("</form>")]
    assert "请勾选确认" in close_form and "先关了" in close_form
    assert _state(order) == "to_review" and _closes(order) == []

    done = duty.post(url, data={"version": version_of(page, url), "back": "review", "confirm_unfinished": "1"})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/orders/{order.id}")
    assert _state(order) == "closed"
    [event] = _closes(order)
    assert event.data["unfinished_confirmed"] is True
    assert {u["unit"] for u in event.data["closed_unfinished"]} == {p.unit.code for p in unfinished}
    # One message, and the units read as never accepted rather than 「待签收」.
    after = duty.get(done.headers["Location"]).get_data(as_text=True)
    assert "工单已办结" in after and "不在待审核状态" not in after
    row = after[after.index(f'data-participant="{unfinished[0].unit.code}"'):]
    row = row[:row.index("</tr>")]
    assert "未签收（已办结）" in row and "待签收" not in row and "countdown" not in row


def test_close_with_everyone_done_needs_no_confirmation(make_order, login_as):
    order = make_order("fire")
    _to_review(order, login_as, everyone=True)
    duty, _ = login_as("duty_officer", "duty")
    page = duty.get(f"/orders/{order.id}/review").get_data(as_text=True)
    assert "data-unfinished" not in page
    url = f"/orders/{order.id}/act/close"
    assert duty.post(url, data={"version": version_of(page, url), "back": "review"}).status_code == 302
    [event] = _closes(order)
    assert "closed_unfinished" not in event.data


def test_review_page_says_who_may_close(make_order, login_as):
    order = make_order("fire")
    _to_review(order, login_as)
    office, _ = login_as("office_staff", "natural_resources")
    for url in (f"/orders/{order.id}/review", f"/orders/{order.id}"):
        page = office.get(url).get_data(as_text=True)
        assert 'data-action="close"' not in page
        assert "data-who-decides" in page and "只有值守人员、值班长可以办结" in page and "办公室工作人员" in page
    duty, _ = login_as("duty_officer", "duty")
    assert "data-who-decides" not in duty.get(f"/orders/{order.id}/review").get_data(as_text=True)


@pytest.mark.browser
def test_close_form_in_chromium_refuses_without_the_box(page, make_order, login_as, make_user):
    order = make_order("fire")
    _to_review(order, login_as)
    officer = make_user("duty_officer", "duty")
    page.goto(page.base_url + "/login")
    page.fill("input[name=login]", officer.login)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/alerts/")
    page.goto(f"{page.base_url}/orders/{order.id}/review")
    page.fill("form[data-action=close] textarea[name=note]", "不等乡镇")
    page.click("form[data-action=close] button[type=submit]")
    message = page.locator("form[data-action=close] .form-error")
    message.wait_for(state="visible")
    assert "请勾选确认" in message.inner_text()
    assert page.input_value("form[data-action=close] textarea[name=note]") == "不等乡镇"
    assert _state(order) == "to_review" and _closes(order) == []
    page.check("form[data-action=close] input[name=confirm_unfinished]")
    page.click("form[data-action=close] button[type=submit]")
    page.wait_for_url(f"**/orders/{order.id}")
    assert page.locator(".flash.success").count() == 1
    assert _state(order) == "closed"
