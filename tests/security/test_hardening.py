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
