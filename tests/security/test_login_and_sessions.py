"""Login throttling (frozen clock), same-site redirects, server-side sessions:
a copied cookie is refused after logout, password change and disabling."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD, Browser
from webapp.cli import main
from webapp.extensions import db
from webapp.models import AuditEvent


def _login(browser: Browser, login: str, password: str, next_: str | None = None):
    url = "/login" + (f"?next={next_}" if next_ is not None else "")
    resp = browser.client.post(url, data={"login": login, "password": password, "csrf_token": browser.csrf()})
    browser._csrf = None
    return resp


# -- redirects ----------------------------------------------------------------------
@pytest.mark.parametrize("target", ["/%09/evil.com", "//evil.com", "/\\evil.com", "https://evil.com",
                                    "/%0a/evil.com", "%2F%2Fevil.com", "/%5Cevil.com", "javascript:alert(1)"])
def test_login_never_redirects_off_site(org, make_user, browser, target):
    user = make_user("duty_officer", "duty")
    resp = _login(browser, user.login, PASSWORD, next_=target)
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith("/") and not location.startswith("//") and "evil" not in location.split("?")[0][:12]
    assert "\t" not in location and "\\" not in location


def test_login_follows_a_same_site_path(org, make_user, browser):
    user = make_user("duty_officer", "duty")
    resp = _login(browser, user.login, PASSWORD, next_="/orders/?state=closed")
    assert resp.headers["Location"] == "/orders/?state=closed"


@pytest.mark.parametrize("target", ["/\t/evil.com", "//evil.com", "/\\evil.com", "http://evil.com"])
def test_language_switch_never_redirects_off_site(org, browser, target):
    resp = browser.post("/lang/en", data={"next": target})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"


# -- throttling ----------------------------------------------------------------------
def test_failures_slow_down_growing_delay_then_a_right_password_works(org, make_user, browser, clock):
    user = make_user("duty_officer", "duty")
    for _ in range(5):
        assert _login(browser, user.login, "wrong-password").status_code == 401
    # The sixth attempt waits: even the right password is not checked yet.
    refused = _login(browser, user.login, PASSWORD)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert "登录失败次数过多" in refused.get_data(as_text=True)
    clock.advance(seconds=1)
    assert _login(browser, user.login, "wrong-password").status_code == 401  # 6th failure: 2 s
    assert _login(browser, user.login, PASSWORD).status_code == 429
    clock.advance(seconds=1)
    assert _login(browser, user.login, PASSWORD).status_code == 429
    clock.advance(seconds=1)
    assert _login(browser, user.login, PASSWORD).status_code == 302
    # Refused attempts are not audited; past the free ones only each doubling is.
    failed = db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "login_failed"))
    assert failed == 5


def test_delay_is_capped_at_fifteen_minutes(org, make_user, browser, clock):
    user = make_user("duty_officer", "duty")
    for _ in range(20):
        r = _login(browser, user.login, "wrong-password")
        if r.status_code == 429:
            assert int(r.headers["Retry-After"]) <= 900
            clock.advance(seconds=int(r.headers["Retry-After"]))
            r = _login(browser, user.login, "wrong-password")
        assert r.status_code == 401
    r = _login(browser, user.login, PASSWORD)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) == 900
    clock.advance(minutes=15)
    assert _login(browser, user.login, PASSWORD).status_code == 302


def test_unknown_login_answers_like_a_known_one(org, make_user, browser, clock):
    user = make_user("duty_officer", "duty")
    answers = {}
    for login in (user.login, "nobody-at-all"):
        seen = []
        for _ in range(6):
            r = _login(browser, login, "wrong-password")
            seen.append((r.status_code, r.headers.get("Retry-After")))
        answers[login] = seen
        clock.advance(hours=1)
    assert answers[user.login] == answers["nobody-at-all"]
    assert answers[user.login][-1] == (429, "1")


def test_one_address_guessing_many_logins_is_slowed(org, make_user, browser, clock):
    for n in range(5):
        assert _login(browser, f"guess{n}", "wrong-password").status_code == 401
    user = make_user("duty_officer", "duty")
    assert _login(browser, user.login, PASSWORD).status_code == 429
    clock.advance(seconds=1)
    assert _login(browser, user.login, PASSWORD).status_code == 302


def test_failures_older_than_the_window_are_forgotten(org, make_user, browser, clock):
    user = make_user("duty_officer", "duty")
    for _ in range(4):
        _login(browser, user.login, "wrong-password")
    clock.advance(minutes=16)
    assert _login(browser, user.login, "wrong-password").status_code == 401
    assert _login(browser, user.login, "wrong-password").status_code == 401  # 2 in this window


# -- sessions ------------------------------------------------------------------------
def _copied(app, browser: Browser) -> Browser:
    cookie = browser.client.get_cookie("session")
    assert cookie is not None
    other = Browser(app.test_client())
    other.client.set_cookie("session", cookie.value)
    return other


def test_copied_cookie_is_refused_after_logout(app, org, make_user, browser):
    user = make_user("office_staff", "natural_resources")
    assert browser.login(user.login).status_code == 302
    thief = _copied(app, browser)
    assert thief.get("/admin/cameras").status_code == 200
    assert browser.post("/logout").status_code == 302
    assert thief.get("/admin/cameras").status_code == 302


@pytest.mark.parametrize("command", [["user", "passwd", "--password", "another-password-1"], ["user", "disable"]])
def test_copied_cookie_is_refused_after_password_change_or_disable(app, org, make_user, browser, command):
    user = make_user("office_staff", "natural_resources")
    assert browser.login(user.login).status_code == 302
    thief = _copied(app, browser)
    assert thief.get("/admin/cameras").status_code == 200
    args = command[:2] + [user.login] + command[2:]
    result = app.test_cli_runner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "1 session(s) ended" in result.output
    assert thief.get("/admin/cameras").status_code == 302
    assert browser.get("/admin/cameras").status_code == 302


def test_idle_timeout_and_absolute_lifetime(app, org, make_user, browser, clock):
    user = make_user("office_staff", "natural_resources")
    browser.login(user.login)
    clock.advance(hours=11)
    assert browser.get("/admin/cameras").status_code == 200  # used within 12 h: still on
    clock.advance(hours=11)
    assert browser.get("/admin/cameras").status_code == 200
    clock.advance(hours=3)  # 25 h after login
    assert browser.get("/admin/cameras").status_code == 302
    browser.login(user.login)
    clock.advance(hours=12, minutes=1)
    assert browser.get("/admin/cameras").status_code == 302


def test_cookie_is_secure_over_https_only_through_trusted_proxies(app_config, clock, org):
    from webapp import create_app
    for hops, secure in ((0, False), (1, True)):
        application = create_app({**app_config, "NRSC_TRUSTED_PROXIES": hops}, load_entrypoints=False)
        resp = application.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
        cookie = resp.headers["Set-Cookie"]
        assert ("Secure" in cookie) is secure and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    direct = create_app(app_config, load_entrypoints=False).test_client()
    assert "Secure" in direct.get("/login", base_url="https://localhost").headers["Set-Cookie"]
    plain = create_app(app_config, load_entrypoints=False).test_client()
    assert "Secure" not in plain.get("/login").headers["Set-Cookie"]
