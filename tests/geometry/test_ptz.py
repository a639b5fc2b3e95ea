"""PTZ conventions with numbers worked out by hand."""
import math

import pytest

from webapp.geometry import ptz


def close(a, b, tol=1e-6):
    return abs(a - b) <= tol


@pytest.mark.parametrize("x, pan", [(-1.0, 0.0), (-0.5, 90.0), (0.0, 180.0), (0.5, 270.0), (1.0, 0.0)])
def test_onvif_pan_maps_to_degrees(x, pan):
    assert close(ptz.pan_from_onvif(x), pan)


@pytest.mark.parametrize("pan, x", [(0.0, -1.0), (90.0, -0.5), (180.0, 0.0), (270.0, 0.5), (360.0, -1.0), (-90.0, 0.5)])
def test_degrees_map_to_onvif_pan(pan, x):
    assert close(ptz.pan_to_onvif(pan), x)


@pytest.mark.parametrize("y, tilt", [(-1.0, -90.0), (0.0, -30.0), (1.0, 30.0), (0.5, 0.0), (-2.0, -90.0)])
def test_onvif_tilt_is_linear_over_the_tilt_range(y, tilt):
    assert close(ptz.tilt_from_onvif(y), tilt)
    if -1 <= y <= 1:
        assert close(ptz.tilt_to_onvif(tilt), y)


def test_onvif_zoom_maps_to_optical_multiplier():
    assert close(ptz.zoom_from_onvif(0.0, 30), 1.0)
    assert close(ptz.zoom_from_onvif(1.0, 30), 30.0)
    assert close(ptz.zoom_from_onvif(0.5, 21), 11.0)
    assert close(ptz.zoom_to_onvif(11.0, 21), 0.5)
    assert close(ptz.zoom_to_onvif(50.0, 21), 1.0)  # clamped to the lens


def test_round_trip_through_onvif():
    for pan, tilt, zoom in [(12.5, -7.25, 3.0), (359.0, 20.0, 1.0), (181.0, -89.0, 25.5)]:
        back = ptz.from_onvif(*ptz.to_onvif(pan, tilt, zoom, 30), 30)
        assert all(close(a, b, 1e-9) for a, b in zip(back, (pan, tilt, zoom)))


def test_azimuth_adds_pan_to_pan_zero_clockwise():
    assert ptz.azimuth(0, 90) == 90
    assert ptz.azimuth(300, 90) == 30
    assert ptz.azimuth(45, 315) == 0
    assert ptz.azimuth(10, -20) == 350
    assert ptz.pan_for_azimuth(300, 30) == 90


def test_haversine_known_distances():
    # One degree of latitude on the mean sphere: pi * R / 180.
    assert close(ptz.haversine_m(37.0, 106.0, 38.0, 106.0), math.pi * ptz.EARTH_RADIUS_M / 180, 1e-6)
    # One degree of longitude at 60 N is half a degree of latitude (to 0.1%).
    assert ptz.haversine_m(60.0, 10.0, 60.0, 11.0) == pytest.approx(55_597, rel=1e-3)
    assert ptz.haversine_m(37.3, 106.2, 37.3, 106.2) == 0.0


def test_destination_goes_the_right_way_and_distance():
    lat, lon = 37.3, 106.2
    north = ptz.destination(lat, lon, 0, 1000)
    east = ptz.destination(lat, lon, 90, 1000)
    assert north[0] > lat and close(north[1], lon)
    assert east[1] > lon and abs(east[0] - lat) < 1e-4
    for az in (0, 37, 90, 180, 271):
        dest = ptz.destination(lat, lon, az, 2500)
        assert ptz.haversine_m(lat, lon, *dest) == pytest.approx(2500, abs=1e-3)
        assert ptz.bearing_deg(lat, lon, *dest) == pytest.approx(az, abs=1e-6)


def test_aim_point_flat_earth():
    # 45 degrees down from 50 m: the axis meets the ground 50 m away.
    lat, lon = 37.3, 106.2
    point = ptz.aim_point(lat, lon, 50, pan_zero_azimuth_deg=30, pan_deg=60, tilt_deg=-45)
    assert ptz.haversine_m(lat, lon, *point) == pytest.approx(50, abs=1e-6)
    assert ptz.bearing_deg(lat, lon, *point) == pytest.approx(90, abs=1e-4)  # east
    # tan(5 deg) = 0.0874887: 60 m up, 5 deg down → 685.8 m.
    point = ptz.aim_point(lat, lon, 60, 0, 0, -5)
    assert ptz.haversine_m(lat, lon, *point) == pytest.approx(685.81, abs=0.01)
    # Straight down: the foot of the tower.
    assert ptz.aim_point(lat, lon, 60, 0, 0, -90) == pytest.approx((lat, lon))


def test_aim_point_none_at_or_above_horizon():
    assert ptz.aim_point(37.3, 106.2, 60, 0, 0, 0) is None
    assert ptz.aim_point(37.3, 106.2, 60, 0, 0, 10) is None


def test_aim_point_is_capped_and_accounts_for_terrain():
    lat, lon = 37.3, 106.2
    far = ptz.aim_point(lat, lon, 60, 0, 0, -0.01)
    assert ptz.haversine_m(lat, lon, *far) == pytest.approx(ptz.MAX_AIM_DISTANCE_M, abs=1e-3)
    # Camera foot at 1400 m; target ground 20 m lower → 80 m drop at 45 deg → 80 m.
    lower = ptz.aim_point(lat, lon, 60, 0, 0, -45, ground_elevation_m=1400, target_elevation_m=1380)
    assert ptz.haversine_m(lat, lon, *lower) == pytest.approx(80, abs=1e-6)
    # Passing the camera's own elevation alone changes nothing (flat ground).
    same = ptz.aim_point(lat, lon, 60, 0, 0, -45, ground_elevation_m=1400)
    assert ptz.haversine_m(lat, lon, *same) == pytest.approx(60, abs=1e-6)
    # Target ground above the lens: no hit.
    assert ptz.aim_point(lat, lon, 60, 0, 0, -10, ground_elevation_m=1400, target_elevation_m=1500) is None


TABLE = [{"zoom": 1, "hfov_deg": 60.0, "vfov_deg": 34.0}, {"zoom": 4, "hfov_deg": 0, "vfov_deg": 0}]
# Row at zoom 4 of an ideal lens: tan(fov/2) divided by 4.
TABLE[1]["hfov_deg"] = math.degrees(2 * math.atan(math.tan(math.radians(30)) / 4))
TABLE[1]["vfov_deg"] = math.degrees(2 * math.atan(math.tan(math.radians(17)) / 4))


def test_fov_at_zoom_matches_rows_and_an_ideal_lens_between():
    assert ptz.fov_at_zoom(TABLE, 1) == pytest.approx((60.0, 34.0))
    assert ptz.fov_at_zoom(TABLE, 4) == pytest.approx((TABLE[1]["hfov_deg"], TABLE[1]["vfov_deg"]))
    h2 = math.degrees(2 * math.atan(math.tan(math.radians(30)) / 2))
    v2 = math.degrees(2 * math.atan(math.tan(math.radians(17)) / 2))
    assert ptz.fov_at_zoom(TABLE, 2) == pytest.approx((h2, v2))
    # Outside the table: clamped to the nearest row.
    assert ptz.fov_at_zoom(TABLE, 0.5) == pytest.approx((60.0, 34.0))
    assert ptz.fov_at_zoom(TABLE, 10)[0] == pytest.approx(TABLE[1]["hfov_deg"])
    # Unordered rows and an empty table work.
    assert ptz.fov_at_zoom(list(reversed(TABLE)), 2) == pytest.approx((h2, v2))
    assert ptz.fov_at_zoom([], 1) == (60.0, 34.0)
    assert ptz.max_zoom_of(TABLE) == 4
    assert ptz.max_zoom_of(None) == ptz.DEFAULT_MAX_ZOOM


def test_view_cone_spans_the_fov_between_near_and_far_edges():
    camera = {"lat": 37.3, "lon": 106.2, "mount_height_m": 50, "pan_zero_azimuth_deg": 90, "fov_table": TABLE}
    preset = {"pan_deg": 0, "tilt_deg": -30, "zoom": 1}  # looking east, vfov 34 → edges at -13 and -47
    cone = ptz.view_cone(camera, preset, arc_points=4)
    assert len(cone) == 10
    far_edge = 50 / math.tan(math.radians(13))
    near_edge = 50 / math.tan(math.radians(47))
    distances = [ptz.haversine_m(37.3, 106.2, *p) for p in cone]
    assert distances[:5] == pytest.approx([far_edge] * 5, abs=1e-3)
    assert distances[5:] == pytest.approx([near_edge] * 5, abs=1e-3)
    bearings = [ptz.bearing_deg(37.3, 106.2, *p) for p in cone[:5]]
    assert bearings == pytest.approx([60, 75, 90, 105, 120], abs=1e-4)


def test_view_cone_reaching_the_horizon_is_capped_and_starts_at_the_camera():
    camera = {"lat": 37.3, "lon": 106.2, "mount_height_m": 50, "pan_zero_azimuth_deg": 0, "fov_table": TABLE}
    cone = ptz.view_cone(camera, {"pan_deg": 0, "tilt_deg": 20, "zoom": 1}, arc_points=2)
    assert cone[0] == (37.3, 106.2)
    assert [ptz.haversine_m(37.3, 106.2, *p) for p in cone[1:]] == pytest.approx([ptz.MAX_AIM_DISTANCE_M] * 3)


def test_aim_point_of_a_camera_and_preset():
    camera = {"lat": 37.3, "lon": 106.2, "mount_height_m": 50, "pan_zero_azimuth_deg": 180,
              "ground_elevation_m": 1450}
    point = ptz.aim_point_of(camera, {"pan_deg": 90, "tilt_deg": -45})
    assert ptz.haversine_m(37.3, 106.2, *point) == pytest.approx(50, abs=1e-6)
    assert ptz.bearing_deg(37.3, 106.2, *point) == pytest.approx(270, abs=1e-4)  # west
    assert ptz.aim_point_of(camera, {"pan_deg": 90, "tilt_deg": 5}) is None
