"""No 500 from huge ids in page URLs; Allow on 405; security headers."""
from __future__ import annotations

import pytest

HUGE = "99999999999999999999"


@pytest.mark.parametrize("path", [f"/orders/{HUGE}", f"/files/{HUGE}", f"/unit/orders/{HUGE}",
                                  f"/orders/{HUGE}/pdf", f"/orders/{2**63}", f"/api/v1/orders/{HUGE}",
                                  f"/alerts/{HUGE}"])
def test_ids_past_bigint_are_404(org, login_as, path):
    browser, _user = login_as("admin")
    resp = browser.get(path)
    assert resp.status_code == 404


def test_405_names_the_allowed_methods(org, browser):
    resp = browser.client.get("/logout")
    assert resp.status_code == 405
    assert "POST" in resp.headers["Allow"]


def test_security_headers(org, browser):
    resp = browser.client.get("/login")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] in ("DENY", "SAMEORIGIN")
    assert resp.headers["Referrer-Policy"] == "same-origin"


def test_csp_forbids_inline_script_and_style(org, browser):
    csp = browser.client.get("/login").headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp


def test_csp_allows_the_configured_tile_server():
    from webapp.platform.hardening import content_security_policy
    csp = content_security_policy("https://{s}.tile.example.org/{z}/{x}/{y}.png")
    assert "img-src 'self' data: blob: https://*.tile.example.org" in csp
    assert "http://tiles.local:8080" in content_security_policy("http://tiles.local:8080/{z}/{x}/{y}.png")


def test_pages_carry_no_inline_style_or_script(org, login_as, app):
    """Every page a role sees renders without style= attributes or inline scripts
    (what the CSP would block)."""
    import re
    browser, _user = login_as("admin")
    for path in ("/", "/admin/units", "/admin/users", "/alerts/", "/orders/", "/notify/channels", "/login"):
        html = browser.get(path).get_data(as_text=True)
        assert not re.search(r'\sstyle=', html), path
        assert not re.search(r'<script(?![^>]*\b(src=|type="application/json"))[^>]*>', html), path
        assert not re.search(r'\son(click|load|change|submit)=', html), path
