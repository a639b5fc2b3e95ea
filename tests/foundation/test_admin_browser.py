"""In a real chromium: an admin's camera, user and API token forms with a wrong value fail in
place — the Chinese message next to the field, the typed values kept, the
stored password never in the page — and nothing is stored."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import AuditEvent, Camera, User

from tests.conftest import log_in_page


@pytest.mark.browser
def test_camera_form_fails_in_place_and_stores_nothing(page, org, make_user):
    admin = make_user("admin")
    cam = Camera(code="T-88", name="东山塔", kind="tower", lat=37.3, lon=106.1, mount_height_m=30,
                 onvif_host="10.0.0.8", onvif_port=80, onvif_user="cam", onvif_password="STORED-SECRET")
    db.session.add(cam)
    db.session.commit()
    log_in_page(page, admin.login, lambda url: "/login" not in url)

    page.goto(page.base_url + "/admin/cameras")
    page.click(f"a[href='/admin/cameras/{cam.id}/edit']")
    page.wait_for_selector("#camera-form")
    assert "STORED-SECRET" not in page.content()
    page.fill("input[name=name]", "东山一号塔")
    page.fill("input[name=mount_height_m]", "九十")
    page.fill("input[name=onvif_password]", "NEW-SECRET")
    page.click("#camera-form button[type=submit]")

    error = page.locator("#error-mount_height_m")
    error.wait_for(state="visible")
    assert error.inner_text() == "安装高度须为 0 到 500 之间的米数。"
    assert page.locator("input[name=mount_height_m]").get_attribute("aria-invalid") == "true"
    # The message sits with its field, the typed values are still there.
    assert page.locator("label", has=page.locator("input[name=mount_height_m]")).locator(
        ".field-error").count() == 1
    assert page.input_value("input[name=name]") == "东山一号塔"
    assert page.input_value("input[name=mount_height_m]") == "九十"
    assert page.input_value("input[name=onvif_password]") == ""
    assert page.locator(".flash.error").inner_text() == "未保存：请修改下面标出的字段。"
    assert "STORED-SECRET" not in page.content() and "NEW-SECRET" not in page.content()

    db.session.expire_all()
    stored = db.session.get(Camera, cam.id)
    assert (stored.name, stored.mount_height_m, stored.onvif_password) == ("东山塔", 30, "STORED-SECRET")
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "camera_updated")) == 0

    # Corrected, it saves and says so.
    page.fill("input[name=mount_height_m]", "90")
    page.click("#camera-form button[type=submit]")
    page.wait_for_url("**/admin/cameras")
    assert "摄像头 T-88 已保存。" in page.locator(".flash").first.inner_text()
    db.session.expire_all()
    assert db.session.get(Camera, cam.id).mount_height_m == 90
    assert db.session.scalar(select(User.id).where(User.login == admin.login)) == admin.id


@pytest.mark.browser
def test_user_edit_fails_in_place_and_disabling_asks_first(page, org, make_user):
    admin = make_user("admin")
    target = make_user("unit_handler", "natural_resources", login="field_one")
    page.set_viewport_size({"width": 360, "height": 740})  # an admin on a phone
    log_in_page(page, admin.login, lambda url: "/login" not in url)

    page.goto(page.base_url + "/admin/users?q=field_one")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 360
    page.click(f"a[href='/admin/users/{target.id}/edit']")
    page.wait_for_selector("#user-form")
    page.fill("input[name=display_name]", "一号处置员")
    page.fill("input[name=phone]", "打电话")
    page.click("#user-form button[type=submit]")

    error = page.locator("#error-phone")
    error.wait_for(state="visible")
    assert error.inner_text() == "电话号码只能包含数字（及 + - 或空格）。"
    assert page.input_value("input[name=display_name]") == "一号处置员"
    assert page.input_value("input[name=phone]") == "打电话"
    assert page.locator(".flash.error").inner_text() == "未保存：请修改下面标出的字段。"
    db.session.expire_all()
    assert db.session.get(User, target.id).display_name != "一号处置员"
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "user_updated")) == 0

    page.fill("input[name=phone]", "0953 1234567")
    page.click("#user-form button[type=submit]")
    page.wait_for_url("**/admin/users?q=field_one")
    assert "一号处置员 已保存。" in page.locator(".flash").first.inner_text()

    # Disabling: the button leads to a question, Cancel changes nothing, Yes disables.
    page.click(f"form[action='/admin/users/{target.id}/active'] button[type=submit]")
    page.wait_for_selector("text=确定停用")
    page.click("text=取消")
    page.wait_for_url("**/admin/users?q=field_one")
    db.session.expire_all()
    assert db.session.get(User, target.id).active
    page.click(f"form[action='/admin/users/{target.id}/active'] button[type=submit]")
    page.click("text=确定停用")
    page.wait_for_url("**/admin/users")
    db.session.expire_all()
    assert not db.session.get(User, target.id).active


@pytest.mark.browser
def test_token_form_fails_in_place_and_stores_nothing(page, org, make_user):
    from webapp.models import ApiToken
    admin = make_user("admin")
    log_in_page(page, admin.login, lambda url: "/login" not in url)
    page.goto(page.base_url + "/admin/users")
    page.click("a[href='/admin/tokens']")
    page.wait_for_selector("#token-form")
    page.fill("input[name=source]", "北山 盒子")
    page.fill("input[name=label]", "北山智能分析盒子")
    page.click("#token-form button[type=submit]")

    error = page.locator("#error-source")
    error.wait_for(state="visible")
    assert error.inner_text().startswith("接入源名称为 2 到 80 个")
    assert page.input_value("input[name=source]") == "北山 盒子"
    assert page.input_value("input[name=label]") == "北山智能分析盒子"
    assert db.session.scalar(select(func.count(ApiToken.id))) == 0

    page.fill("input[name=source]", "beishan-box")
    page.click("#token-form button[type=submit]")
    token = page.locator("[data-token]").inner_text()
    assert token.startswith("nrsc_") and db.session.scalar(select(func.count(ApiToken.id))) == 1
