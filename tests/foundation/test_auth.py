"""Login, logout, roles, per-unit visibility and language choice."""
from sqlalchemy import select

from tests.conftest import PASSWORD
from webapp.extensions import db
from webapp.models import AuditEvent, Unit, User
from webapp.platform.security import visible_unit_ids


def _unit(code: str) -> Unit:
    return db.session.scalar(select(Unit).where(Unit.code == code))


def test_anonymous_is_sent_to_login(org):
    client = org.test_client()
    for path in ("/", "/admin/cameras", "/admin/users"):
        resp = client.get(path)
        assert resp.status_code == 302
        assert resp.headers["Location"].startswith("/login?next=")
    resp = client.get("/admin/cameras?kind=tower")
    assert "next=/admin/cameras?kind%3Dtower" in resp.headers["Location"]


def test_unit_handler_is_forbidden_admin_users(org, login_as):
    browser, _user = login_as("unit_handler", "town.dahe")
    assert browser.get("/admin/users").status_code == 403
    assert browser.get("/admin/cameras").status_code == 403


def test_duty_officer_sees_cameras_but_not_users(org, login_as):
    browser, _user = login_as("duty_officer", "duty")
    assert browser.get("/admin/cameras").status_code == 200
    assert browser.get("/admin/parcels").status_code == 200
    assert browser.get("/admin/users").status_code == 403


def test_office_staff_and_admin_see_admin_lists(org, login_as):
    for role in ("office_staff", "admin"):
        browser, _user = login_as(role, "natural_resources" if role == "office_staff" else None)
        for path in ("/admin/users", "/admin/units", "/admin/cameras", "/admin/parcels"):
            assert browser.get(path).status_code == 200, (role, path)


def test_visible_units_department_office_township(org, make_user):
    nr = _unit("natural_resources")
    offices = {_unit(c).id for c in ("natural_resources.enforcement", "natural_resources.farmland_office",
                                     "natural_resources.geology_mining_office")}
    department = make_user("unit_handler", "natural_resources")
    assert visible_unit_ids(department) == {nr.id} | offices
    office = make_user("unit_handler", "natural_resources.enforcement")
    assert visible_unit_ids(office) == {_unit("natural_resources.enforcement").id, nr.id}
    town = make_user("unit_leader", "town.dahe")
    assert visible_unit_ids(town) == {_unit("town.dahe").id}
    for role in ("duty_officer", "duty_lead", "office_staff", "leader_viewer", "admin"):
        assert visible_unit_ids(make_user(role)) is None
    assert visible_unit_ids(make_user("unit_handler")) == set()  # no unit: sees nothing


def test_login_logout_round_trip(org, make_user, browser):
    user = make_user("office_staff", "natural_resources")
    resp = browser.login(user.login)
    assert resp.status_code == 302
    assert browser.get("/admin/cameras").status_code == 200
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "login",
                                                      AuditEvent.entity_id == user.id)) is not None
    assert browser.post("/logout").status_code == 302
    assert browser.get("/admin/cameras").status_code == 302


def test_wrong_password_is_401_and_audited(org, make_user, browser):
    user = make_user("duty_officer", "duty")
    resp = browser.login(user.login, "not-the-password")
    assert resp.status_code == 401
    assert browser.get("/").status_code == 302
    assert browser.login("nobody-here", PASSWORD).status_code == 401
    failed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "login_failed")).all()
    assert len(failed) == 2


def test_post_without_csrf_token_is_400(org, make_user, app):
    user = make_user("office_staff")
    client = app.test_client()
    assert client.post("/login", data={"login": user.login, "password": PASSWORD}).status_code == 400
    assert client.post("/lang/en").status_code == 400


def test_inactive_user_cannot_log_in_and_loses_session(org, make_user, browser, app):
    user = make_user("duty_officer", "duty")
    assert browser.login(user.login).status_code == 302
    user.active = False
    db.session.commit()
    assert browser.get("/admin/cameras").status_code == 302  # session no longer valid
    assert browser.login(user.login).status_code == 401


def test_password_is_stored_hashed(org, make_user):
    user = make_user("duty_officer", "duty")
    stored = db.session.get(User, user.id).password_hash
    assert PASSWORD not in stored
    assert stored.split(":")[0] in ("scrypt", "pbkdf2")


def test_chinese_by_default_even_for_english_browsers(org, app):
    client = app.test_client()
    page = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="zh-CN">' in page


def test_english_is_chosen_with_post_lang(org, app):
    from tests.conftest import Browser
    browser = Browser(app.test_client())
    resp = browser.post("/lang/en", data={"next": "/login"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/login"
    assert '<html lang="en">' in browser.get("/login").get_data(as_text=True)
    browser.post("/lang/zh_CN")
    assert '<html lang="zh-CN">' in browser.get("/login").get_data(as_text=True)
    # An unknown language changes nothing; an outside `next` is not followed.
    resp = browser.post("/lang/xx", data={"next": "https://evil.example/"})
    assert resp.headers["Location"] == "/"
    assert '<html lang="zh-CN">' in browser.get("/login").get_data(as_text=True)
