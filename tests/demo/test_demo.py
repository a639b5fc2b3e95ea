"""The synthetic demo data: complete, consistent, idempotent, all-or-nothing."""
import re
from datetime import date, timedelta
from itertools import combinations

import pytest
from shapely.geometry import Point, shape
from shapely.ops import unary_union
from sqlalchemy import func, select

from tests.conftest import Browser
from webapp import demo
from webapp.geometry import ptz
from webapp.cli import main
from webapp.extensions import db
from webapp.models import (
    PARCEL_LAYERS, CalendarDay, Camera, NotificationChannel, Parcel, Preset, Township, Unit, User,
    WorkingGroup,
)

MODELS = (Unit, Township, WorkingGroup, User, Camera, Preset, Parcel, CalendarDay, NotificationChannel)


def _counts() -> dict[str, int]:
    return {m.__name__: db.session.scalar(select(func.count(m.id))) for m in MODELS}


@pytest.fixture
def loaded(app):
    demo.load_demo(history=False)
    return app


def test_loading_twice_duplicates_nothing(app):
    first = demo.load_demo(history=False)
    counts = _counts()
    assert demo.load_demo(history=False) == first
    assert _counts() == counts
    assert counts["Camera"] == 38 and counts["Township"] == 5 and counts["Unit"] == 18
    assert counts["WorkingGroup"] == 5 and counts["User"] == first["users"]
    assert counts["Preset"] == first["presets"] and counts["Parcel"] == first["parcels"]


def test_reload_keeps_what_people_changed(loaded):
    user = db.session.scalar(select(User).where(User.login == "duty01"))
    user.password_hash = "changed"
    channel = db.session.scalar(select(NotificationChannel))
    channel.active, channel.target = True, "https://qyapi.example/real"
    db.session.commit()
    demo.load_demo(history=False)
    assert db.session.get(User, user.id).password_hash == "changed"
    assert db.session.get(NotificationChannel, channel.id).target == "https://qyapi.example/real"


def test_townships_tile_the_district(loaded):
    district = demo.district_polygon()
    shapes = {t.code: shape(t.geometry) for t in db.session.scalars(select(Township))}
    assert set(shapes) == {"hongsipu", "taiyangshan", "dahe", "xinzhuangji", "liuquan"}
    assert unary_union(list(shapes.values())).symmetric_difference(district).area < 1e-9
    for a, b in combinations(shapes.values(), 2):
        assert a.intersection(b).area < 1e-12


def test_cameras_sit_inside_their_townships(loaded):
    district = demo.district_polygon()
    cameras = db.session.scalars(select(Camera).order_by(Camera.id)).all()
    assert sorted(c.code for c in cameras if c.kind == "tower") == [f"T-{n:02d}" for n in range(1, 32)]
    assert sorted(c.code for c in cameras if c.kind == "checkpoint") == [f"K-{n:02d}" for n in range(1, 8)]
    ports = set()
    for cam in cameras:
        point = Point(cam.lon, cam.lat)
        assert district.contains(point), cam.code
        assert shape(cam.township.geometry).contains(point), cam.code
        assert 1300 <= cam.ground_elevation_m <= 1900
        assert (30 <= cam.mount_height_m <= 80) if cam.kind == "tower" else (5 <= cam.mount_height_m <= 15)
        assert cam.onvif_host == "127.0.0.1" and cam.onvif_user and cam.onvif_password
        ports.add(cam.onvif_port)
        assert cam.fov_table[0]["zoom"] == 1 and ptz.max_zoom_of(cam.fov_table) > 1
        assert "虚构" in cam.name
    assert ports == set(range(18001, 18039))
    t01 = next(c for c in cameras if c.code == "T-01")
    assert t01.onvif_port == 18001
    assert next(c for c in cameras if c.code == "K-01").onvif_port == 18032


def test_presets_aim_where_ptz_says(loaded):
    district = demo.district_polygon()
    for cam in db.session.scalars(select(Camera)):
        assert (3 <= len(cam.presets) <= 6), cam.code
        assert [p.number for p in cam.presets] == list(range(1, len(cam.presets) + 1))
        for p in cam.presets:
            assert p.domains and p.tilt_deg < 0 and 1 <= p.zoom <= ptz.max_zoom_of(cam.fov_table)
            expected = ptz.aim_point_of(cam, p)
            assert ptz.haversine_m(p.aim_lat, p.aim_lon, *expected) < 0.2, (cam.code, p.number)
            assert district.contains(Point(p.aim_lon, p.aim_lat))


def test_every_layer_has_parcels_with_gis_context_at_aim_points(loaded):
    parcels = db.session.scalars(select(Parcel)).all()
    assert {p.layer for p in parcels} == set(PARCEL_LAYERS)
    aims = [Point(p.aim_lon, p.aim_lat) for p in db.session.scalars(select(Preset))]
    for parcel in parcels:
        geom = shape(parcel.geometry)
        assert geom.is_valid and parcel.attributes["synthetic"] == demo.SYNTHETIC_NOTE
        assert (parcel.min_lon, parcel.min_lat, parcel.max_lon, parcel.max_lat) == pytest.approx(geom.bounds)
    for layer in PARCEL_LAYERS:
        shapes = [shape(p.geometry) for p in parcels if p.layer == layer]
        assert any(s.contains(a) for s in shapes for a in aims), layer


def test_mining_permits_valid_expired_and_outside(loaded):
    permits = db.session.scalars(select(Parcel).where(Parcel.layer == "mining_permit").order_by(Parcel.code)).all()
    assert all(p.attributes["holder"] == "XX砂石有限公司(虚构)" for p in permits)
    assert all(p.attributes["permit_no"].startswith("C6403") and p.code == p.attributes["permit_no"]
               for p in permits)
    ends = {p.valid_to for p in permits}
    assert date(2027, 3, 31) in ends
    assert any(end < date(2026, 1, 1) for end in ends)  # one expired
    # Every permit but the shifted one contains a mining preset's aim point.
    mining_aims = [Point(p.aim_lon, p.aim_lat) for p in db.session.scalars(select(Preset))
                   if "mining" in p.domains]
    covering = [p for p in permits if any(shape(p.geometry).contains(a) for a in mining_aims)]
    assert len(covering) == len(permits) - 1


def test_layer_attributes(loaded):
    def layer(name):
        return db.session.scalars(select(Parcel).where(Parcel.layer == name).order_by(Parcel.code)).all()
    assert {p.attributes["zone"] for p in layer("land_use_plan")} == {"一般农用地", "建设用地"}
    hazards = layer("geohazard_point")
    assert hazards[0].code == "HP-001"
    for hp in hazards:  # a small polygon around its point
        assert shape(hp.geometry).contains(Point(hp.attributes["point"][1], hp.attributes["point"][0]))
        assert ptz.haversine_m(hp.min_lat, hp.min_lon, hp.max_lat, hp.max_lon) < 200
    for zone in layer("grazing_ban_zone"):
        assert re.fullmatch(r"\d\d-\d\d", zone.attributes["ban_start"])
        assert re.fullmatch(r"\d\d-\d\d", zone.attributes["ban_end"])
    assert all(p.valid_from and p.valid_to for p in layer("construction_approval"))


def test_holiday_calendar_2026_and_2027(loaded):
    days = {d.day: d for d in db.session.scalars(select(CalendarDay))}
    assert days[date(2026, 2, 17)].kind == "holiday" and "春节" in days[date(2026, 2, 17)].name
    assert days[date(2026, 10, 1)].kind == "holiday"
    assert days[date(2026, 2, 14)].kind == "workday"  # a Saturday worked for Spring Festival
    assert any(d.year == 2027 for d in days)
    assert {d.year for d in days} == {2026, 2027}
    for day, row in days.items():
        if row.kind == "workday":
            assert day.weekday() >= 5
        assert "合成" in row.name
    # A week with a holiday has fewer working days than an ordinary one.
    assert date(2026, 2, 16) in days and date(2026, 3, 2) not in days


def test_one_inactive_placeholder_channel_per_department(loaded):
    channels = db.session.scalars(select(NotificationChannel)).all()
    departments = db.session.scalars(select(Unit).where(Unit.kind == "department")).all()
    assert {d.id for d in departments} <= {c.unit_id for c in channels}
    for c in channels:
        assert c.channel == "wecom" and not c.active and c.target.startswith("http://127.0.0.1:9/")


def test_demo_users_by_role_log_in_with_the_demo_password(loaded):
    by_login = {u.login: u for u in db.session.scalars(select(User))}
    assert {f"duty0{n}" for n in range(1, 5)} <= set(by_login)
    assert by_login["duty01"].display_name == "值守员01" and by_login["duty01"].role == "duty_officer"
    assert by_login["duty_lead"].role == "duty_lead"
    assert by_login["nr_enf_handler"].unit.code == "natural_resources.enforcement"
    assert by_login["town_dahe_handler"].role == "unit_handler"
    assert by_login["town_dahe_leader"].role == "unit_leader"
    assert {"office01", "leader", "admin"} <= set(by_login)
    assert by_login["office01"].unit.is_leading_office
    assert all(demo.DEMO_PASSWORD not in u.password_hash for u in by_login.values())
    units_with_handlers = {u.unit.code for u in by_login.values() if u.role == "unit_handler"}
    assert {code for code, _n, kind, _p in demo.orgchart.UNITS if kind in ("department", "office", "township")} \
        <= units_with_handlers
    browser = Browser(loaded.test_client())
    assert browser.login("town_dahe_handler", "wrong-password").status_code == 401
    assert browser.login("town_dahe_handler", demo.DEMO_PASSWORD).status_code == 302


def test_office_user_sees_38_cameras_in_admin(loaded):
    browser = Browser(loaded.test_client())
    assert browser.login("office01", demo.DEMO_PASSWORD).status_code == 302
    page = browser.get("/admin/cameras").get_data(as_text=True)
    assert len(re.findall(r"<code>[TK]-\d\d</code>", page)) == 38
    towers = browser.get("/admin/cameras?kind=tower").get_data(as_text=True)
    assert len(re.findall(r"<code>T-\d\d</code>", towers)) == 31
    assert "红寺堡镇" in browser.get("/admin/units").get_data(as_text=True)
    assert browser.get("/admin/parcels?layer=mining_permit").status_code == 200


def test_malformed_polygon_names_the_feature_and_writes_nothing(app):
    bowtie = {"type": "Polygon", "coordinates": [[[106.1, 37.3], [106.2, 37.4], [106.2, 37.3],
                                                  [106.1, 37.4], [106.1, 37.3]]]}
    bad = demo.ParcelSpec("basic_farmland", "BAD-007", "自相交图斑", bowtie)
    with pytest.raises(demo.DemoDataError, match=r"parcel basic_farmland/BAD-007: invalid geometry"):
        demo.load_demo(extra_parcels=[bad], history=False)
    assert set(_counts().values()) == {0}
    broken = demo.ParcelSpec("mining_permit", "C6403-X", "", {"type": "Polygon", "coordinates": [[[1, 2]]]})
    with pytest.raises(demo.DemoDataError, match=r"parcel mining_permit/C6403-X: malformed geometry"):
        demo.load_demo(extra_parcels=[broken], history=False)
    assert set(_counts().values()) == {0}


def test_load_parcels_is_all_or_nothing(org):
    good = demo.ParcelSpec("key_enterprise", "KE-900", "好", demo.square(37.3, 106.2, 100))
    point = demo.ParcelSpec("key_enterprise", "KE-901", "点", {"type": "Point", "coordinates": [106.2, 37.3]})
    with pytest.raises(demo.DemoDataError, match="KE-901: expected a Polygon"):
        demo.load_parcels([good, point])
    unknown = demo.ParcelSpec("moon_rocks", "M-1", "", demo.square(37.3, 106.2, 100))
    with pytest.raises(demo.DemoDataError, match="moon_rocks/M-1: unknown layer"):
        demo.load_parcels([good, unknown])
    assert db.session.scalar(select(func.count(Parcel.id))) == 0
    assert demo.load_parcels([good]) == 1


def test_cli_demo_load_prints_summary_and_logins(app):
    result = app.test_cli_runner().invoke(main, ["demo", "load", "--no-history"])
    assert result.exit_code == 0, result.output
    assert "cameras 38" in result.output and "townships 5" in result.output
    assert demo.DEMO_PASSWORD in result.output
    for login in ("duty01", "duty_lead", "nr_enf_handler", "town_dahe_handler", "office01", "admin"):
        assert re.search(rf"^\s+{login}\s", result.output, re.M), login
    assert db.session.scalar(select(func.count(Camera.id))) == 38


def test_calendar_spans_are_consistent():
    rows = demo.demo_calendar()
    assert len({d for d, _k, _n in rows}) == len(rows)
    for first, last, _name in demo.HOLIDAYS:
        assert first.year in (2026, 2027) and first <= last <= first + timedelta(days=9)
