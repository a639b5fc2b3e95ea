"""The app starts on a migrated database and serves its health check and login page."""


def test_healthz_reports_current_schema(app):
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 200
    assert resp.json["status"] == "ok"
    assert resp.json["schema"]["current"] == resp.json["schema"]["head"]


def test_login_page_and_login(org, make_user, browser):
    assert browser.get("/login").status_code == 200
    user = make_user("office_staff")
    assert browser.login(user.login, "wrong-password").status_code == 401
    resp = browser.login(user.login)
    assert resp.status_code == 302
    # The home page sends each role to where its day starts.
    home = browser.get("/", follow_redirects=True)
    assert home.status_code == 200
    assert user.display_name in home.get_data(as_text=True)


def test_post_without_csrf_is_refused(org, make_user, app):
    user = make_user("office_staff")
    resp = app.test_client().post("/login", data={"login": user.login, "password": "test-password-1"})
    assert resp.status_code == 400
