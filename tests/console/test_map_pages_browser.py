"""The one map module on the duty officer's other maps, in a real chromium:
the camera map shows cameras (names as text) over the district without tiles,
and the manual-alert map picks a place into the form."""
from __future__ import annotations

import pytest

from webapp.extensions import db
from webapp.models import Camera

from tests.conftest import log_in_page


def _login(page, login: str) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    log_in_page(page, login, "**/alerts/")
    return errors


@pytest.mark.browser
def test_camera_map_and_manual_alert_map(page, org, make_user, kit):
    db.session.add(Camera(code="T-90", name="<img src=x onerror=alert(1)>", kind="tower",
                          lat=kit.DAHE[0], lon=kit.DAHE[1], status="online"))
    db.session.commit()
    officer = make_user("duty_officer")
    errors = _login(page, officer.login)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    page.goto(page.base_url + "/cameras/")
    page.wait_for_selector("#camera-map[data-ready='1']", state="attached")
    assert page.locator("#camera-map .township-label").count() >= 1
    marker = page.locator("#camera-map path.leaflet-interactive").first
    marker.hover()
    tooltip = page.locator("#camera-map .leaflet-tooltip")
    tooltip.wait_for()
    assert tooltip.inner_text() == "T-90 <img src=x onerror=alert(1)>"
    assert page.locator("#camera-map img[src='x']").count() == 0

    page.goto(page.base_url + "/alerts/new")
    page.wait_for_selector("#pick-map[data-ready='1']", state="attached")
    assert page.input_value("#lat") == ""
    box = page.locator("#pick-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.6)
    assert page.input_value("#lat") and page.input_value("#lon")
    assert 36 < float(page.input_value("#lat")) < 39 and 105 < float(page.input_value("#lon")) < 108
    # The images picker names itself in Chinese and says what was chosen.
    assert page.locator(".file-pick .file-button").inner_text() == "选择图片"
    page.set_input_files("#manual-images", [
        {"name": "北坡.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8\xff\xd9"},
        {"name": "近景.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8\xff\xd9"}])
    assert page.locator(".file-chosen").inner_text() == "已选择 2 个文件"
    page.set_input_files("#manual-images",
                         [{"name": "北坡.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8\xff\xd9"}])
    assert page.locator(".file-chosen").inner_text() == "北坡.jpg"
    assert dialogs == [] and errors == []
