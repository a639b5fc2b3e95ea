"""Admin pages through real HTTP (CSRF, real DB): create users, disable and
enable them, reset passwords, edit units and cameras. Bad input shows a
Chinese message next to the field with what was typed, and stores nothing;
every change leaves an audit row; only admins may change anything."""
from __future__ import annotations

import html as htmllib
import re

import pytest
from sqlalchemy import func, select, text

from tests.conftest import Browser
from webapp.extensions import db
from webapp.models import AuditEvent, Camera, Unit, User
from webapp.platform.security import create_api_token, verify_password

GEO = "natural_resources.geology_mining_office"


def _field_errors(page: str) -> dict[str, str]:
    return {name: htmllib.unescape(msg) for name, msg in
            re.findall(r'<span class="field-error" id="error-([\w]+)" role="alert">([^<]*)</span>', page)}


def _value(page: str, name: str) -> str:
    found = re.search(rf'<input name="{name}"[^>]*value="([^"]*)"', page)
    return htmllib.unescape(found.group(1)) if found else ""


def _password(page: str) -> str:
    return re.search(r'<code class="one-time-password" data-password>([^<]+)</code>', page).group(1)


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _unit(code: str) -> Unit:
    return db.session.scalar(select(Unit).where(Unit.code == code))


def _count_users() -> int:
    return db.session.scalar(select(func.count(User.id)))


@pytest.fixture
def admin(org, login_as):
    browser, _user = login_as("admin")
    return browser


def test_create_user_refuses_bad_input_in_place_then_creates_with_a_one_time_password(app, admin):
    nr, geo = _unit("natural_resources"), _unit(GEO)
    forestry_office = _unit("forestry_grassland.resources_office")
    form = admin.get("/admin/users/new").get_data(as_text=True)
    assert 'name="csrf_token"' in form and "处置人员" in form and "地质矿产管理室" in form
    before = _count_users()

    bad = {"login": "x y", "display_name": "", "role": "wizard", "unit_id": str(nr.id),
           "office_id": str(forestry_office.id), "phone": "call me"}
    resp = admin.post("/admin/users/new", data=bad)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400
    errors = _field_errors(page)
    assert errors == {
        "login": "登录名为 3 至 80 个字母、数字、点、连字符或下划线。",
        "display_name": "请填写姓名。", "role": "请选择角色。",
        "office_id": "科室必须属于所选单位。",
        "phone": "电话号码只能包含数字（及 + - 或空格）。"}
    assert "未保存" in page
    # What was typed stays in the fields.
    assert _value(page, "login") == "x y" and _value(page, "phone") == "call me"
    assert f'<option value="{nr.id}" selected>' in page

    # A unit role without a unit, and a taken login.
    resp = admin.post("/admin/users/new", data={"login": "duty_x", "display_name": "值守员X",
                                                 "role": "unit_handler", "unit_id": "", "office_id": "", "phone": ""})
    assert resp.status_code == 400 and _field_errors(resp.get_data(as_text=True)) == {"unit_id": "该角色须指定所属单位。"}
    existing = db.session.scalar(select(User.login))
    resp = admin.post("/admin/users/new", data={"login": existing.upper(), "display_name": "重名",
                                                 "role": "leader_viewer", "unit_id": "", "office_id": "", "phone": ""})
    assert _field_errors(resp.get_data(as_text=True)) == {"login": "该登录名已被使用，请另选一个。"}
    assert _count_users() == before and _events("user_created") == []

    # Without the CSRF token nothing happens either.
    resp = admin.client.post("/admin/users/new", data={"login": "nocsrf", "display_name": "x", "role": "admin"})
    assert resp.status_code == 400 and _count_users() == before

    resp = admin.post("/admin/users/new", data={"login": "geo_new", "display_name": "地质科新人",
                                                 "role": "unit_handler", "unit_id": str(nr.id),
                                                 "office_id": str(geo.id), "phone": "138 0000 1234"})
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    password = _password(resp.get_data(as_text=True))
    user = db.session.scalar(select(User).where(User.login == "geo_new"))
    assert user.unit_id == geo.id and user.role == "unit_handler" and user.active and user.phone == "138 0000 1234"
    assert password not in user.password_hash and verify_password(user, password)
    (event,) = _events("user_created")
    assert event.entity_id == user.id and event.data == {"login": "geo_new", "role": "unit_handler", "unit": GEO}
    assert password not in repr(event.data)
    # The new user logs in with the password shown once.
    newcomer = Browser(app.test_client())
    assert newcomer.login("geo_new", password).status_code == 302
    # The list shows the user with the admin's buttons.
    listing = admin.get("/admin/users?q=geo_new").get_data(as_text=True)
    assert 'data-login="geo_new"' in listing and "停用" in listing and "重置密码" in listing


def test_only_admins_change_anything(app, org, login_as, make_user):
    target = make_user("duty_officer", "duty")
    cam = Camera(code="T-90", name="测试塔", kind="tower", lat=37.3, lon=106.1)
    db.session.add(cam)
    db.session.commit()
    nr = _unit("natural_resources")
    for role, unit in (("office_staff", "natural_resources"), ("duty_lead", "duty"), ("leader_viewer", None),
                       ("unit_leader", "natural_resources")):
        browser, _user = login_as(role, unit)
        for url in ("/admin/users/new", f"/admin/units/{nr.id}/edit", f"/admin/cameras/{cam.id}/edit"):
            assert browser.get(url).status_code == 403, (role, url)
            assert browser.post(url, data={"name": "改名", "login": "zz"}).status_code == 403, (role, url)
        assert browser.post(f"/admin/users/{target.id}/active", data={"active": "0", "confirm": "1"}).status_code == 403
        assert browser.post(f"/admin/users/{target.id}/password", data={"confirm": "1"}).status_code == 403
        assert browser.get(f"/admin/users/{target.id}/edit").status_code == 403
        assert browser.post(f"/admin/users/{target.id}/edit", data={"display_name": "改名", "role": "admin"}
                            ).status_code == 403
        # Viewers of the lists see no edit controls.
        listing = browser.get("/admin/users").get_data(as_text=True) if role != "unit_leader" else ""
        assert "重置密码" not in listing
    db.session.expire_all()
    assert db.session.get(User, target.id).active and db.session.get(Unit, nr.id).name == "自然资源局"
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action.in_(
        ("user_created", "user_disabled", "password_reset", "unit_updated", "camera_updated", "user_updated")))) == 0


def test_disabled_user_is_refused_at_login_by_session_and_by_token_until_enabled(app, admin, make_user):
    from tests.conftest import PASSWORD
    user = make_user("duty_officer", "duty", login="night_shift")
    session = Browser(app.test_client())
    assert session.login("night_shift").status_code == 302
    assert session.get("/alerts/").status_code == 200
    _row, token = create_api_token(user=user)
    db.session.commit()
    bearer = {"Authorization": f"Bearer {token}"}
    api = app.test_client()
    assert api.get("/api/v1/me", headers=bearer).status_code == 200

    # The button asks first: nothing happens until the admin confirms.
    ask = admin.post(f"/admin/users/{user.id}/active", data={"active": "0"})
    page = ask.get_data(as_text=True)
    assert ask.status_code == 200 and "确定停用" in page and "API 令牌全部吊销" in page and 'name="confirm"' in page
    db.session.expire_all()
    assert db.session.get(User, user.id).active and not _events("user_disabled")
    assert session.get("/alerts/").status_code == 200

    resp = admin.post(f"/admin/users/{user.id}/active", data={"active": "0", "confirm": "1"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert not db.session.get(User, user.id).active
    # The open session is over, the token answers 401, a new login is refused.
    assert session.get("/alerts/").status_code == 302
    assert api.get("/api/v1/me", headers=bearer).status_code == 401
    again = Browser(app.test_client())
    resp = again.login("night_shift", PASSWORD)
    assert resp.status_code == 401 and "账号或密码错误" in resp.get_data(as_text=True)
    (event,) = _events("user_disabled")
    assert event.entity_id == user.id and event.from_state == "active" and event.to_state == "disabled"
    assert event.data["sessions_ended"] == 1 and event.data["tokens_revoked"] == 1
    assert event.actor_label != "system"
    assert "已停用" in admin.get("/admin/users?q=night_shift").get_data(as_text=True)

    # Enabling needs no confirmation; the person logs in again, but the
    # revoked token stays revoked: a new one is issued.
    assert admin.post(f"/admin/users/{user.id}/active", data={"active": "1"}).status_code == 302
    assert again.login("night_shift", PASSWORD).status_code == 302
    assert api.get("/api/v1/me", headers=bearer).status_code == 401
    _row, fresh = create_api_token(user=db.session.get(User, user.id))
    db.session.commit()
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    assert len(_events("user_enabled")) == 1
    # An admin cannot lock themselves out.
    me = db.session.scalar(select(User).where(User.role == "admin"))
    assert admin.post(f"/admin/users/{me.id}/active", data={"active": "0", "confirm": "1"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, me.id).active


def test_password_reset_shows_a_new_password_once_and_ends_sessions(app, admin, make_user):
    from tests.conftest import PASSWORD
    user = make_user("office_staff", "natural_resources", login="clerk")
    session = Browser(app.test_client())
    assert session.login("clerk").status_code == 302
    ask = admin.post(f"/admin/users/{user.id}/password")
    assert ask.status_code == 200 and "确定重置密码" in ask.get_data(as_text=True)
    assert 'class="one-time-password"' not in ask.get_data(as_text=True) and not _events("password_reset")
    db.session.expire_all()
    assert verify_password(db.session.get(User, user.id), PASSWORD)
    assert session.get("/orders/").status_code == 200        # still logged in
    resp = admin.post(f"/admin/users/{user.id}/password", data={"confirm": "1"})
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    page = resp.get_data(as_text=True)
    password = _password(page)
    assert len(password) == 12 and "密码已重置" in page
    db.session.expire_all()
    assert verify_password(db.session.get(User, user.id), password)
    assert session.get("/orders/").status_code == 302       # logged out
    assert Browser(app.test_client()).login("clerk", PASSWORD).status_code == 401
    assert Browser(app.test_client()).login("clerk", password).status_code == 302
    (event,) = _events("password_reset")
    assert event.entity_id == user.id and password not in repr(event.data)
    # Shown once: the password is in no other page.
    assert password not in admin.get("/admin/users").get_data(as_text=True)


def test_unit_edit_refuses_bad_input_then_saves_name_contacts_and_offices(admin):
    nr = _unit("natural_resources")
    offices = sorted(nr.children, key=lambda o: o.id)
    first_name, first_code = offices[0].name, offices[0].code
    form = admin.get(f"/admin/units/{nr.id}/edit").get_data(as_text=True)
    assert _value(form, "name") == "自然资源局" and _value(form, f"office_{offices[0].id}") == offices[0].name

    bad = {"name": "", "contact_name": "王科长", "contact_phone": "ring ring",
           f"office_{offices[0].id}": offices[1].name, f"office_{offices[1].id}": offices[1].name,
           f"office_{offices[2].id}": offices[2].name, "new_office": ""}
    resp = admin.post(f"/admin/units/{nr.id}/edit", data=bad)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert _field_errors(page) == {"name": "请填写名称。", "contact_phone": "电话号码只能包含数字（及 + - 或空格）。",
                                   f"office_{offices[1].id}": "同一单位的两个科室不能同名。"}
    assert _value(page, "contact_name") == "王科长" and _value(page, "contact_phone") == "ring ring"
    db.session.expire_all()
    assert nr.contact_name is None and _events("unit_updated") == []

    good = {"name": "自然资源局", "contact_name": "王科长", "contact_phone": "0953-5011234",
            **{f"office_{o.id}": o.name for o in offices}, "new_office": "测绘地理信息室"}
    good[f"office_{offices[0].id}"] = "执法监察大队"
    resp = admin.post(f"/admin/units/{nr.id}/edit", data=good)
    assert resp.status_code == 302
    db.session.expire_all()
    nr = _unit("natural_resources")
    assert (nr.contact_name, nr.contact_phone) == ("王科长", "0953-5011234")
    names = [o.name for o in nr.children]
    assert "执法监察大队" in names and "测绘地理信息室" in names and len(names) == 4
    (event,) = _events("unit_updated")
    assert event.data["changes"]["contact_name"] == [None, "王科长"]
    assert event.data["changes"][f"office:{first_code}"] == [first_name, "执法监察大队"]
    assert len(_events("office_created")) == 1
    units_page = admin.get("/admin/units").get_data(as_text=True)
    assert "王科长" in units_page and "测绘地理信息室" in units_page


def test_camera_edit_keeps_credentials_encrypted_and_never_shows_them(admin):
    cam = Camera(code="T-91", name="北山塔", kind="tower", lat=37.3, lon=106.1, mount_height_m=30,
                 pan_zero_azimuth_deg=10, onvif_host="10.0.0.9", onvif_port=80, onvif_user="cam",
                 onvif_password="OLD-SECRET-PW")
    db.session.add(cam)
    db.session.commit()
    form = admin.get(f"/admin/cameras/{cam.id}/edit").get_data(as_text=True)
    assert "OLD-SECRET-PW" not in form and _value(form, "onvif_host") == "10.0.0.9"
    assert "已存有密码" in form

    bad = {"name": "北山塔", "lat": "abc", "lon": "200", "mount_height_m": "-3", "pan_zero_azimuth_deg": "361",
           "onvif_host": "http://10.0.0.9/onvif", "onvif_port": "70000", "onvif_user": "cam",
           "onvif_password": "NEW-SECRET-PW"}
    resp = admin.post(f"/admin/cameras/{cam.id}/edit", data=bad)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert set(_field_errors(page)) == {"lat", "lon", "mount_height_m", "pan_zero_azimuth_deg", "onvif_host",
                                        "onvif_port"}
    assert _field_errors(page)["lat"] == "纬度须为 -90 到 90 之间的数字。"
    assert _value(page, "lat") == "abc" and _value(page, "onvif_port") == "70000"
    # The typed password is not echoed back either.
    assert "NEW-SECRET-PW" not in page and "OLD-SECRET-PW" not in page
    db.session.expire_all()
    assert db.session.get(Camera, cam.id).lat == 37.3 and _events("camera_updated") == []

    good = {"name": "北山一号塔", "lat": "37.31", "lon": "106.12", "mount_height_m": "42.5",
            "pan_zero_azimuth_deg": "187.5", "onvif_host": "10.0.0.10", "onvif_port": "8000", "onvif_user": "ops",
            "onvif_password": "NEW-SECRET-PW"}
    assert admin.post(f"/admin/cameras/{cam.id}/edit", data=good).status_code == 302
    db.session.expire_all()
    cam = db.session.get(Camera, cam.id)
    assert (cam.name, cam.lat, cam.lon, cam.mount_height_m, cam.pan_zero_azimuth_deg) == \
        ("北山一号塔", 37.31, 106.12, 42.5, 187.5)
    assert (cam.onvif_host, cam.onvif_port, cam.onvif_user, cam.onvif_password) == \
        ("10.0.0.10", 8000, "ops", "NEW-SECRET-PW")
    stored = db.session.execute(text("SELECT onvif_password FROM cameras WHERE id = :id"), {"id": cam.id}).scalar()
    assert stored.startswith("enc1:") and "NEW-SECRET-PW" not in stored
    (event,) = _events("camera_updated")
    assert event.data["password"] == "changed" and "SECRET" not in repr(event.data)
    assert event.data["changes"]["mount_height_m"] == [30.0, 42.5]
    assert "NEW-SECRET-PW" not in admin.get(f"/admin/cameras/{cam.id}/edit").get_data(as_text=True)

    # A blank password keeps the stored one.
    good["onvif_password"] = ""
    good["name"] = "北山塔"
    assert admin.post(f"/admin/cameras/{cam.id}/edit", data=good).status_code == 302
    db.session.expire_all()
    assert db.session.get(Camera, cam.id).onvif_password == "NEW-SECRET-PW"
    assert _events("camera_updated")[-1].data["password"] is None


def test_user_edit_refuses_bad_input_then_changes_role_and_office_audited(app, admin, make_user):
    user = make_user("unit_handler", "natural_resources", login="field_geo")
    geo, nr, forestry = _unit(GEO), _unit("natural_resources"), _unit("forestry_grassland")
    session = Browser(app.test_client())
    assert session.login("field_geo").status_code == 302
    assert session.get("/admin/users").status_code == 403
    form = admin.get(f"/admin/users/{user.id}/edit").get_data(as_text=True)
    assert "编辑用户" in form and "field_geo" in form and 'name="login"' not in form
    assert re.search(rf'<option value="{nr.id}" selected>', form)

    bad = {"display_name": "", "role": "wizard", "unit_id": str(forestry.id), "office_id": str(geo.id),
           "phone": "call me"}
    resp = admin.post(f"/admin/users/{user.id}/edit", data=bad)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "未保存" in page
    errors = _field_errors(page)
    assert set(errors) == {"display_name", "role", "office_id", "phone"}
    assert _value(page, "phone") == "call me"              # what was typed is kept
    db.session.expire_all()
    assert db.session.get(User, user.id).role == "unit_handler" and not _events("user_updated")

    good = {"display_name": "地矿室内勤", "role": "office_staff", "unit_id": str(nr.id), "office_id": str(geo.id),
            "phone": "0953-1234567"}
    assert admin.post(f"/admin/users/{user.id}/edit", data=good).status_code == 302
    db.session.expire_all()
    changed = db.session.get(User, user.id)
    assert (changed.role, changed.unit_id, changed.display_name, changed.phone) == (
        "office_staff", geo.id, "地矿室内勤", "0953-1234567")
    (event,) = _events("user_updated")
    assert event.entity_id == user.id and event.data["changes"]["role"] == ["unit_handler", "office_staff"]
    assert event.data["changes"]["unit"] == ["natural_resources", GEO]
    # The new role applies at once, without logging in again.
    assert session.get("/admin/users").status_code == 200
    # Saving again without changes records nothing.
    assert admin.post(f"/admin/users/{user.id}/edit", data=good).status_code == 302
    assert len(_events("user_updated")) == 1
    # An admin cannot change their own role (no lock-out by mistake).
    me = db.session.scalar(select(User).where(User.role == "admin"))
    resp = admin.post(f"/admin/users/{me.id}/edit", data={"display_name": me.display_name, "role": "leader_viewer"})
    assert resp.status_code == 400 and "不能修改自己的角色" in resp.get_data(as_text=True)


def test_moving_a_camera_moves_it_to_the_township_of_its_new_position(admin):
    from webapp.demo.data import township_polygons
    from webapp.gis import context as gis
    from webapp.models import Township
    towns = {t.code: t for t in db.session.scalars(select(Township))}
    first, second = sorted(towns)[:2]
    a, b = (township_polygons()[c].representative_point() for c in (first, second))
    cam = Camera(code="T-92", name="移动塔", kind="tower", lat=a.y, lon=a.x, township_id=towns[first].id)
    db.session.add(cam)
    db.session.commit()
    gis.invalidate()
    form = {"name": "移动塔", "lat": f"{b.y:.6f}", "lon": f"{b.x:.6f}", "mount_height_m": "", "pan_zero_azimuth_deg": "0",
            "onvif_host": "", "onvif_port": "", "onvif_user": ""}
    form["mount_height_m"] = "30"
    assert admin.post(f"/admin/cameras/{cam.id}/edit", data=form).status_code == 302
    db.session.expire_all()
    assert db.session.get(Camera, cam.id).township_id == towns[second].id
    (event,) = _events("camera_updated")
    assert event.data["changes"]["township"] == [first, second]
    # Outside the district: no township, and the admin is told so.
    resp = admin.post(f"/admin/cameras/{cam.id}/edit", data={**form, "lat": "30.0", "lon": "100.0"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Camera, cam.id).township_id is None
    assert "不属于任何乡镇" in admin.get("/admin/cameras").get_data(as_text=True)
