"""Every page names the platform's icon, and /favicon.ico (asked for by
browsers where no page names one: a PDF tab, a bookmark) leads to it."""
from __future__ import annotations


def test_pages_name_the_icon_and_favicon_ico_leads_to_it(app, org, login_as):
    browser, _user = login_as("duty_officer", "duty")
    page = browser.get("/alerts/").get_data(as_text=True)
    assert '<link rel="icon" type="image/svg+xml" href="/static/img/favicon.svg">' in page
    anonymous = app.test_client()
    moved = anonymous.get("/favicon.ico")
    assert moved.status_code == 301 and moved.headers["Location"].endswith("/static/img/favicon.svg")
    icon = anonymous.get("/static/img/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml" and icon.data.startswith(b"<svg")
