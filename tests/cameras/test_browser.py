"""In a real chromium: the live view shows the proxied MJPEG and its PTZ
buttons move the camera; the preset editor saves a preset and draws a mask."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Preset

from tests.conftest import log_in_page


@pytest.mark.browser
def test_live_view_and_preset_editor(page, fakecams, make_camera, make_user):
    fake = fakecams()
    cam = make_camera(fake)
    officer = make_user("duty_officer")
    log_in_page(page, officer.login)

    page.goto(f"{page.base_url}/cameras/{cam.code}")
    # The <img> is fed by the app's MJPEG proxy: it has decoded a real frame.
    page.wait_for_function("() => document.getElementById('live-img').naturalWidth === 160", timeout=10_000)
    page.click("button[data-ptz=right]")
    page.wait_for_function("() => document.querySelector('.controller').textContent.includes(%s)"
                           % json.dumps(officer.display_name), timeout=5000)
    assert "RelativeMove" in fake.calls
    page.select_option("select[name=preset]", "2")
    page.click("#goto-preset")
    page.wait_for_timeout(300)
    assert fake.pan == pytest.approx(90 / 180 - 1)

    page.goto(f"{page.base_url}/cameras/{cam.code}/presets")
    page.fill("#save-preset input[name=number]", "12")
    page.fill("#save-preset input[name=name]", "沟口")
    page.click("#save-preset button[type=submit]")
    page.wait_for_selector("#preset-12")
    page.click("#preset-12 form[action$='/reference'] button")
    canvas = page.wait_for_selector("#preset-12 .mask-editor canvas")
    page.wait_for_function("() => document.querySelector('#preset-12 .mask-editor img').naturalWidth > 0")
    box = canvas.bounding_box()
    for fx, fy in ((0.1, 0.1), (0.6, 0.1), (0.6, 0.5)):
        page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
    page.click("#preset-12 .mask-close")
    page.click("#preset-12 .mask-form button[type=submit]")
    page.wait_for_selector("#preset-12 .mask-editor")
    db.session.expire_all()
    preset = db.session.scalar(select(Preset).where(Preset.camera_id == cam.id, Preset.number == 12))
    assert preset.name == "沟口" and len(preset.masks) == 1 and len(preset.masks[0]) == 3
    x0, y0 = preset.masks[0][0]
    assert x0 == pytest.approx(0.1, abs=0.02) and y0 == pytest.approx(0.1, abs=0.02)
