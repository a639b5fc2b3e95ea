"""One formatter for durations and sizes; image errors, error pages and raw
codes in Chinese; the alarm and confirm buttons that cannot be confused."""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from flask_babel import force_locale
from PIL import Image

from tests.conftest import DEFAULT_NOW
from tests.images import jpeg
from webapp.platform import formats, labels


@pytest.mark.parametrize("seconds,zh,en", [
    (3 * 86400 + 15 * 3600 + 59, "3天15小时", "3 d 15 h"),
    (8 * 3600 + 16 * 60 + 30, "8小时16分", "8 h 16 min"),
    (2 * 86400, "2天", "2 d"),
    (11 * 60 + 5, "11分5秒", "11 min 5 s"),
    (3600, "1小时", "1 h"),
    (42, "42秒", "42 s"),
    (-11 * 60, "11分", "11 min"),
])
def test_durations_in_both_languages(app, seconds, zh, en):
    with app.test_request_context("/"):
        assert formats.duration(seconds) == zh
        assert formats.duration(timedelta(seconds=seconds)) == zh
        with force_locale("en"):
            assert formats.duration(seconds) == en


def test_time_left_and_overdue(app):
    with app.test_request_context("/"):
        assert formats.time_left(DEFAULT_NOW + timedelta(hours=8, minutes=16), DEFAULT_NOW) == "剩余 8小时16分"
        assert formats.time_left(DEFAULT_NOW - timedelta(days=3, hours=15), DEFAULT_NOW) == "已超时 3天15小时"
    # Outside a request (jobs, MQTT) the default language is used.
    assert formats.translate("%(span)s left", span="1分") == "剩余 1分"


@pytest.mark.parametrize("n,text", [(31589886, "30.1 MB"), (10485760, "10 MB"), (524288, "512 KB"),
                                    (900, "900 B"), (3 << 30, "3 GB")])
def test_sizes(n, text):
    assert formats.filesize(n) == text


def test_image_errors_are_chinese_without_python_internals(app):
    from webapp.alerts.evidence import EvidenceError, check_image

    app.config["NRSC_MAX_IMAGE_BYTES"] = 10 * 1024 * 1024
    with pytest.raises(EvidenceError) as big:
        check_image(b"\xff\xd8" + b"0" * 31589884, "huge.jpg")
    assert big.value.code == "image_too_large"
    assert big.value.message == "照片 huge.jpg 为 30.1 MB，超过 10 MB 上限。"
    with pytest.raises(EvidenceError) as junk:
        check_image(b"%PDF-1.4 not a photo", "notes.pdf.jpg")
    assert junk.value.code == "not_an_image"
    assert junk.value.message.startswith("notes.pdf.jpg 不是可以打开的照片")
    assert not re.search(r"BytesIO|0x[0-9a-f]+|cannot identify", junk.value.message)
    png = io.BytesIO()
    Image.new("RGB", (4000, 3000)).save(png, "PNG")
    app.config["NRSC_MAX_IMAGE_PIXELS"] = 1_000_000
    with pytest.raises(EvidenceError) as many:
        check_image(png.getvalue(), "wide.png")
    assert many.value.code == "image_too_many_pixels" and "12 百万像素" in many.value.message
    with pytest.raises(EvidenceError) as empty:
        check_image(b"", None)
    assert empty.value.message == "文件 是空文件。"


def test_error_pages_speak_chinese(org, login_as, app):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def boom():
        raise RuntimeError("secret internals")
    app.add_url_rule("/_boom", "boom", boom)
    browser, _ = login_as("unit_handler", "natural_resources")
    missing = browser.get("/orders/999999")
    assert missing.status_code in (403, 404)
    page = browser.get("/no/such/page")
    html = page.get_data(as_text=True)
    assert page.status_code == 404 and "该页面不存在" in html and "The requested URL" not in html
    forbidden = browser.get("/admin/users").get_data(as_text=True)
    assert "无权" in forbidden and "You don't have the permission" not in forbidden
    crashed = browser.get("/_boom")
    html = crashed.get_data(as_text=True)
    assert crashed.status_code == 500 and "服务器出错了" in html and "secret internals" not in html
    # A view's own reason (already translated) is kept.
    assert "Internal Server Error" not in html


def test_labels_for_codes(app):
    with app.test_request_context("/"):
        assert labels.priority_label("urgent") == "紧急"
        assert labels.actor_text("system") == "系统"
        assert labels.actor_text("source:probe-ux") == "接入源 probe-ux"
        assert labels.actor_text("duty01") == "duty01"
        assert labels.source_label("manual") == "人工"
        assert labels.note_text("manual") == "人工报警"
        assert labels.channel_label("wecom") == "企业微信群机器人"
        assert labels.detection_text("landslide", 0.87) == "滑坡（置信度 87%）"
        assert labels.detection_text("smoke") == "烟雾"
        assert labels.detection_text("some_new_thing", 0.5) == "some_new_thing（置信度 50%）"


def test_pages_show_labels_not_codes(org, make_user, login_as, app):
    """The alert page of a hand-raised alert and the channels page."""
    from webapp.alerts import intake
    from webapp.extensions import db
    from webapp.models import NotificationChannel, Unit
    from sqlalchemy import select

    officer = make_user("duty_officer", "duty")
    alert, _ = intake.ingest({"domain": "geohazard", "event_type": "landslide", "lat": 37.14, "lon": 106.35,
                              "text": "山体滑落", "label": "landslide", "score": 0.87},
                             [("s.jpg", jpeg())], source="manual", actor=officer, manual=True)
    duty, _ = login_as("duty_officer", "duty")
    html = duty.get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert "滑坡（置信度 87%）" in html and "(0.87)" not in html
    assert "— manual" not in html and "<td>manual</td>" not in html
    assert "确认为真实事件" in html and "确认报警" not in html
    unit = db.session.scalar(select(Unit).where(Unit.code == "natural_resources"))
    db.session.add(NotificationChannel(unit_id=unit.id, channel="wecom", target="https://example.invalid/k",
                                       active=True))
    db.session.commit()
    office, _ = login_as("office_staff", "natural_resources")
    channels = office.get("/notify/channels").get_data(as_text=True)
    assert "企业微信群机器人" in channels and "<td>wecom</td>" not in channels
