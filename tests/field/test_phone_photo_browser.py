"""The handler's phone at 360×740 in real chromium: a 20 MB camera photo is
made smaller on the phone before it is sent (the bytes on the wire are
measured), keeps its capture time and GPS, a photo still over the server's
limit is stopped with a Chinese message before anything is sent, a check-in
far from the site asks for a reason, and the controls are thumb-sized."""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from tests.conftest import PASSWORD
from tests.field.conftest import EVENT
from webapp.alerts import evidence
from webapp.extensions import db
from webapp.models import EvidenceFile, WorkOrder

PHONE = {"width": 360, "height": 740}
TAKEN = "2026:11:29 09:41:07"
GPS = {1: "N", 2: (37.0, 30.0, 3.6), 3: "E", 4: (106.0, 13.0, 12.0)}


@pytest.fixture(scope="session")
def camera_photo(tmp_path_factory) -> Path:
    """A noisy 6000×4000 JPEG of about 20 MB with EXIF capture time and GPS, as a phone writes."""
    rng = np.random.default_rng(7)
    h, w = 4000, 6000
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    base = np.stack([np.broadcast_to(y, (h, w)), np.broadcast_to(x, (h, w)), np.broadcast_to((x + y) / 2, (h, w))], -1)
    pixels = np.clip(base + rng.normal(0, 40, (h, w, 3)).astype(np.float32), 0, 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112], exif[0x0132] = "NRSC test", "Phone", 1, TAKEN
    exif.get_ifd(0x8769).update({0x9003: TAKEN, 0x9004: TAKEN})
    exif.get_ifd(0x8825).update(GPS)
    path = tmp_path_factory.mktemp("camera") / "IMG_20261129_094107.jpg"
    Image.fromarray(pixels).save(path, "JPEG", quality=95, exif=exif)
    return path


def _shots_dir(tmp_path) -> Path:
    path = Path(os.environ.get("NRSC_SCREENSHOTS") or tmp_path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _no_sideways_scroll(pg) -> None:
    width = pg.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"], f"page is {width}px wide at {pg.url}"


def _small_targets(pg, selector: str) -> list[str]:
    """Visible controls under ``selector`` shorter than 44 px or with text under 16 px."""
    return pg.evaluate("""(sel) => Array.from(document.querySelectorAll(sel)).filter(e => e.offsetParent)
        .filter(e => e.getBoundingClientRect().height < 44 || parseFloat(getComputedStyle(e).fontSize) < 16)
        .map(e => e.outerHTML.slice(0, 80))""", selector)


@pytest.mark.browser
def test_phone_photo_compressed_before_upload_keeps_exif(page, app, live_server, make_order, make_user,
                                                         camera_photo, tmp_path):
    order = make_order("fire")
    handler = make_user("unit_handler", "forestry_grassland.resources_office")
    original = camera_photo.stat().st_size
    assert original > 18 * 1024 * 1024
    shots = _shots_dir(tmp_path)

    far = {"latitude": EVENT[0] + 0.043, "longitude": EVENT[1]}        # about 4.8 km away
    context = page.context.browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN",
        permissions=["geolocation"], geolocation=far)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    sent: list[int] = []

    def measure(route):
        sent.append(len(route.request.post_data_buffer or b""))
        route.continue_()
    try:
        pg.goto(f"{live_server}/login")
        pg.fill("input[name=login]", handler.login)
        pg.fill("input[name=password]", PASSWORD)
        pg.click("button[type=submit]")
        pg.wait_for_url(f"{live_server}/unit/")
        pg.goto(f"{live_server}/unit/orders/{order.id}")
        # The primary action first; return folded.
        assert pg.locator("details[data-fold=return]").get_attribute("open") is None
        assert not pg.locator("form[action$='/return']").is_visible()
        pg.click("form[action$='/accept'] button[type=submit]")
        pg.wait_for_selector("form[action$='/arrive']")
        form = "form[action$='/arrive']"

        # The site on a small map (Leaflet fetched once it scrolls into view), with navigation links.
        pg.reload()  # a fresh visit in this state (resource timings outlive htmx swaps)
        pg.wait_for_load_state("load")
        pg.wait_for_timeout(300)
        fetched = "() => performance.getEntriesByType('resource').some(e => e.name.includes('leaflet.js'))"
        top, height = pg.evaluate("() => [document.querySelector('.order-map').getBoundingClientRect().top, innerHeight]")
        assert top > height  # below the fold: static/js/map-lazy.js waits until it scrolls into view
        assert not pg.evaluate(fetched), "Leaflet was fetched before the map came near the screen"
        pg.locator(".site").scroll_into_view_if_needed()
        pg.wait_for_selector(".order-map.leaflet-container")
        assert pg.locator(".order-map path.leaflet-interactive").count() >= 1      # the event point
        assert pg.evaluate(fetched)
        pg.evaluate("() => window.scrollTo(0, 0)")
        assert pg.locator("[data-nav=amap]").get_attribute("href").startswith("amapuri://")
        assert pg.locator("[data-nav=geo]").get_attribute("href").startswith("geo:")
        # Secondary forms folded, opened by their summary.
        assert not pg.locator("form[action$='/extension']").is_visible()
        pg.click("details[data-fold=extension] > summary")
        assert pg.locator("form[action$='/extension']").is_visible()
        pg.click("details[data-fold=extension] > summary")

        # Thumb-sized: 44 px targets, 16 px text in fields (no iOS zoom).
        assert _small_targets(pg, f"{form} input:not([type=hidden]), {form} textarea, {form} button") == []
        pg.click("details[data-fold=feedback] > summary")
        labels = pg.evaluate("() => Array.from(document.querySelectorAll('.choices label'))"
                             ".map(l => l.getBoundingClientRect().height)")
        assert labels and min(labels) >= 44
        assert pg.evaluate("() => getComputedStyle(document.querySelector('input[type=radio]')).width") == "24px"
        pg.click("details[data-fold=feedback] > summary")
        assert pg.locator(f"{form} input[name=photo][required]").count() == 1
        assert "（必填）" in pg.locator("label[for^=checkin-photo]").inner_text()

        # Far from the site: the reason is asked for and required; the browser sends nothing without it.
        pg.wait_for_selector(f"{form} [data-far-reason]:not([hidden])")
        assert pg.locator(f"{form} textarea[name=far_reason][required]").count() == 1
        pg.route("**/arrive", measure)
        # The picker names itself in Chinese whatever the browser's language; a tap on it opens the input.
        assert pg.locator(f"{form} .file-button").inner_text() == "拍照或选择照片"
        pg.locator(f"{form} .file-pick").scroll_into_view_if_needed()
        box = pg.locator(f"{form} .file-pick").bounding_box()  # viewport coordinates
        assert box["height"] >= 44 and pg.evaluate(
            f"() => document.elementFromPoint({box['x'] + box['width'] / 2}, {box['y'] + box['height'] / 2}).name"
        ) == "photo"
        pg.set_input_files(f"{form} input[name=photo]", str(camera_photo))
        assert pg.locator(f"{form} .previews .chosen").inner_text() == "已选择 1 张照片"
        _no_sideways_scroll(pg)
        pg.screenshot(path=str(shots / "phone-checkin-far-360.png"), full_page=True)
        pg.click(f"{form} button[type=submit]")
        pg.wait_for_timeout(500)
        assert sent == []
        assert pg.evaluate("() => document.querySelector('textarea[name=far_reason]').validity.valueMissing")

        # Back near the site: the reason goes away.
        context.set_geolocation({"latitude": EVENT[0] + 0.0009, "longitude": EVENT[1]})
        pg.click(f"{form} [data-geo-retry]")
        pg.wait_for_selector(f"{form} [data-far-reason][hidden]", state="attached")
        assert pg.locator(f"{form} textarea[name=far_reason][required]").count() == 0

        # A server limit below the compressed size: stopped on the phone, in Chinese, nothing sent.
        app.config["NRSC_MAX_IMAGE_BYTES"] = 200 * 1024
        pg.reload()
        pg.wait_for_function("() => document.querySelector('form[action$=\"/arrive\"] [name=lat]').value !== ''")
        pg.set_input_files(f"{form} input[name=photo]", str(camera_photo))
        pg.click(f"{form} button[type=submit]")
        error = pg.locator(f"{form} [data-form-error]")
        error.wait_for(state="visible")
        assert "超过 200 KB 上限" in error.inner_text() and camera_photo.name in error.inner_text()
        assert sent == []

        # Within the limit: compressed on the phone, then sent once.
        app.config["NRSC_MAX_IMAGE_BYTES"] = 10 * 1024 * 1024
        pg.reload()
        pg.wait_for_function("() => document.querySelector('form[action$=\"/arrive\"] [name=lat]').value !== ''")
        pg.set_input_files(f"{form} input[name=photo]", str(camera_photo))
        pg.click(f"{form} button[type=submit]")
        pg.wait_for_selector(form, state="detached")
        assert len(sent) == 1
        assert sent[0] < original / 4, (sent[0], original)
        assert sent[0] < 10 * 1024 * 1024
        pg.screenshot(path=str(shots / "phone-after-checkin-360.png"), full_page=True)
        _no_sideways_scroll(pg)

        db.session.expire_all()
        lead = db.session.get(WorkOrder, order.id).lead
        assert lead.arrived_at is not None and lead.arrive_far_reason is None
        row = db.session.scalar(select(EvidenceFile).where(EvidenceFile.participant_id == lead.id,
                                                           EvidenceFile.kind == "checkin"))
        assert row.size <= sent[0] and max(row.width, row.height) == 2560
        with app.app_context():
            stored = evidence.absolute_path(row).read_bytes()
        with Image.open(io.BytesIO(stored)) as img:
            exif = img.getexif()
            assert img.size == (2560, 1707)
            assert exif.get(0x0112) == 1
            assert exif.get_ifd(0x8769).get(0x9003) == TAKEN
            gps = exif.get_ifd(0x8825)
            assert gps[1] == "N" and tuple(float(v) for v in gps[2]) == GPS[2]
            assert gps[3] == "E" and tuple(float(v) for v in gps[4]) == GPS[4]
    finally:
        context.close()
