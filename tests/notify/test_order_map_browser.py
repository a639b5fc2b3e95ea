"""The one map module in a real chromium: an order's map without a tile server
shows the district, townships, parcels, camera and points, and every name from
data is text, never HTML."""
from __future__ import annotations

import pytest

from webapp.extensions import db
from webapp.models import Camera, Parcel, Township

PASSWORD = "test-password-1"  # the conftest's password for every made user
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.mark.browser
def test_order_map_draws_names_as_text_without_tiles(page, make_order, make_user):
    order = make_order()
    town = db.session.get(Township, order.township_id)
    town.name = "<b>大河乡</b>"
    db.session.get(Camera, order.camera_id).name = "<script>window.__owned = 1</script>"
    db.session.add(Parcel(layer="forest_grassland", code="LC-9", name=HOSTILE,
                          geometry={"type": "Polygon", "coordinates": [[[106.2295, 37.4895], [106.2310, 37.4895],
                                                                        [106.2310, 37.4910], [106.2295, 37.4895]]]},
                          min_lon=106.2295, max_lon=106.2310, min_lat=37.4895, max_lat=37.4910))
    db.session.commit()
    office = make_user("office_staff")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(page.base_url + "/login")
    page.fill("input[name=login]", office.login)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.goto(page.base_url + f"/orders/{order.id}")
    box = f"#order-map-{order.id}"
    page.locator(box).scroll_into_view_if_needed()  # the order map loads Leaflet when it comes near
    page.wait_for_selector(f"{box}[data-ready='1']", state="attached")

    # Something to see without tiles: district, townships, parcel, view cone, points.
    assert page.locator(f"{box} .leaflet-tile").count() == 0
    assert page.locator(f"{box} path").count() >= 5
    assert page.locator(f"{box} .township-label", has_text="<b>大河乡</b>").count() == 1
    assert page.locator(f"{box} .map-legend").inner_text().strip() == "林地／草地"
    attribution = page.locator(f"{box} .map-attribution")
    assert attribution.inner_text() == "Leaflet" and attribution.locator("svg, img, a").count() == 0

    # Zoomed in, the parcel's label shows its hostile name as text.
    page.evaluate(f"() => window.nrscMaps['order-map-{order.id}'].setView([37.4902, 106.2303], 17)")
    label = page.locator(f"{box} .parcel-label")
    label.wait_for()
    assert label.inner_text() == HOSTILE
    assert page.locator(f"{box} img[src='x']").count() == 0
    # The camera's tooltip: text too.
    page.locator(f"{box} .leaflet-marker-pane, {box} path.leaflet-interactive").first.wait_for(state="attached")
    assert page.evaluate("() => window.__owned === undefined")
    assert dialogs == [] and errors == []
    # The check-in point's permanent label.
    assert page.locator(f"{box} .leaflet-tooltip", has_text="签到点").count() == 1
