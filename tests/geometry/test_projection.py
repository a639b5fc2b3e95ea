"""Pixel ↔ ray ↔ ground round trips on flat ground, on the curved Earth with
refraction, and over a DEM, against independent references."""
from __future__ import annotations

import math

import numpy as np
import pytest

from webapp.geometry import dem as dem_mod
from webapp.geometry import ptz
from webapp.geometry.enu import enu_to_geodetic, geodetic_to_enu
from webapp.geometry.projection import CURVED, FLAT, GEOD, CameraModel, EarthModel

LAT, LON = 37.31, 106.21
TABLE = [{"zoom": 1.0, "hfov_deg": 60.0, "vfov_deg": 34.0}, {"zoom": 30.0, "hfov_deg": 2.2, "vfov_deg": 1.24}]


def camera(earth=CURVED, **kw):
    base = dict(lat=LAT, lon=LON, ground_elevation_m=1500.0, mount_height_m=50.0, pan_zero_azimuth_deg=37.0,
                fov_table=TABLE, width=1920, height=1080, pan=100.0, tilt=-3.0, zoom=1.0, earth=earth)
    base.update(kw)
    return CameraModel(**base)


def test_principal_point_is_the_optical_axis():
    cam = camera(tilt=-7.5)
    az, el = cam.pixel_to_ray(960, 540)
    assert float(az) == pytest.approx(ptz.azimuth(37.0, 100.0), abs=1e-9)
    assert float(el) == pytest.approx(-7.5, abs=1e-9)
    # The image edges are half the FOV away at the centre row of an untilted camera.
    flat = camera(tilt=0.0)
    az, el = flat.pixel_to_ray(np.array([0.0, 1920.0]), np.array([540.0, 540.0]))
    assert (az - flat.heading) % 360 == pytest.approx([330.0, 30.0], abs=1e-9)
    _az, el = flat.pixel_to_ray(np.array([960.0, 960.0]), np.array([0.0, 1080.0]))
    assert el == pytest.approx([17.0, -17.0], abs=1e-9)


def test_pixel_ray_round_trip_at_any_pose():
    rng = np.random.default_rng(1)
    for pan, tilt, zoom in [(0, 0, 1), (359.9, -89, 1), (123.4, -5, 7.3), (250, 25, 30)]:
        cam = camera(pan=pan, tilt=tilt, zoom=zoom)
        u, v = rng.uniform(0, 1920, 200), rng.uniform(0, 1080, 200)
        uu, vv, front = cam.ray_to_pixel(*cam.pixel_to_ray(u, v))
        assert front.all()
        assert np.abs(uu - u).max() < 1e-6 and np.abs(vv - v).max() < 1e-6


def test_flat_ground_agrees_with_trigonometry_and_the_geodesic():
    cam = camera(earth=FLAT, tilt=-5.0)
    lat, lon, h, s = cam.pixel_to_ground(960, 540)
    assert s == pytest.approx(50.0 / math.tan(math.radians(5.0)), abs=1e-6)
    # The reference: the WGS84 geodesic from the camera along the heading.
    ref_lon, ref_lat, _ = GEOD.fwd(LON, LAT, cam.heading, s)
    assert GEOD.inv(lon, lat, ref_lon, ref_lat)[2] < 1e-6
    assert h == 1500.0
    # Same as the flat-earth aim point of ptz (spherical, metres apart at most).
    aim = ptz.aim_point(LAT, LON, 50.0, 37.0, 100.0, -5.0, ground_elevation_m=1500.0)
    assert ptz.haversine_m(lat, lon, *aim) < 2.0


@pytest.mark.parametrize("earth", [FLAT, CURVED, EarthModel(k=0.0)])
def test_point_pixel_point_round_trip_without_dem(earth):
    cam = camera(earth=earth, pan=0.0, pan_zero_azimuth_deg=0.0, tilt=-1.0, zoom=4.0)
    for az_off in (-6.0, 0.0, 5.0):
        for dist in (300.0, 2000.0, 5000.0, 9000.0):
            lon, lat, _ = GEOD.fwd(LON, LAT, cam.heading + az_off, dist)
            u, v, front = cam.ground_to_pixel(lat, lon, 1500.0)
            assert front
            hit = cam.pixel_to_ground(float(u), float(v))
            if hit is None:  # beyond the horizon of that surface / above the image
                continue
            assert GEOD.inv(lon, lat, hit[1], hit[0])[2] < 0.5, (earth, az_off, dist)


def test_curvature_and_refraction_drop():
    """The classic surveying drop: a point at distance s on the surface appears
    s²(1-k)/(2R) lower than on flat ground (R the radius of curvature)."""
    s = 5000.0
    lon, lat, _ = GEOD.fwd(LON, LAT, 0.0, s)
    flat = camera(earth=FLAT, pan=0.0, pan_zero_azimuth_deg=0.0)
    curved = camera(earth=CURVED, pan=0.0, pan_zero_azimuth_deg=0.0)
    _, el_flat, _ = flat.ground_to_ray(lat, lon, 1500.0)
    _, el_curved, _ = curved.ground_to_ray(lat, lon, 1500.0)
    radius = float(EarthModel(k=0.0).effective_radius(LAT, 0.0))
    drop = s * s * (1 - 0.13) / (2 * radius)
    assert drop == pytest.approx(1.70, abs=0.02)
    # The angle difference seen from 50 m up is that drop over s (small angles).
    assert math.radians(float(el_flat - el_curved)) * s == pytest.approx(drop, rel=0.02)
    # At 5 km from a 50 m tower at tilt -0.7°, flat ground puts the hit far short.
    cam = camera(earth=CURVED, tilt=-0.7)
    flat_s = camera(earth=FLAT, tilt=-0.7).pixel_to_ground(960, 540)[3]
    curved_s = cam.pixel_to_ground(960, 540)[3]
    assert curved_s - flat_s > 90.0


def test_round_trip_over_a_dem():
    d = dem_mod.synthetic_dem(resolution_arcsec=3.0, bounds=(37.2, 106.1, 37.42, 106.33))
    ground = float(d.elevation(LAT, LON))
    cam = camera(ground_elevation_m=ground, tilt=-2.0, zoom=2.0)
    checked = 0
    for u in (200, 960, 1700):
        for v in (600, 800, 1000):
            hit = cam.pixel_to_ground(u, v, d)
            if hit is None:
                continue
            lat, lon, h, s = hit
            assert h == pytest.approx(float(d.sample(lat, lon)), abs=1e-3)
            uu, vv, front = cam.ground_to_pixel(lat, lon, h)
            assert front and abs(float(uu) - u) < 0.05 and abs(float(vv) - v) < 0.05
            # Ground → pixel → ground lands within a metre of where it started.
            back = cam.pixel_to_ground(float(uu), float(vv), d)
            assert GEOD.inv(lon, lat, back[1], back[0])[2] < 1.0
            assert cam.visible(lat, lon, h, d)
            checked += 1
    assert checked >= 5


def test_ray_leaving_the_dem_is_not_a_hit():
    d = dem_mod.synthetic_dem(resolution_arcsec=6.0, bounds=(37.30, 106.20, 37.32, 106.22))
    cam = camera(ground_elevation_m=float(d.elevation(LAT, LON)), tilt=5.0)
    assert cam.pixel_to_ground(960, 540, d) is None  # sky
    cam = cam.at(tilt=-0.2)
    assert cam.pixel_to_ground(960, 540, d) is None  # would land beyond the raster


def test_enu_round_trip():
    enu = geodetic_to_enu(37.32, 106.25, 1600.0, LAT, LON, 1550.0)
    assert enu[2] < 100  # ~3.9 km away: the Earth curves ~1.2 m down
    lat, lon, h = enu_to_geodetic(enu, LAT, LON, 1550.0)
    assert float(lat) == pytest.approx(37.32, abs=1e-9) and float(h) == pytest.approx(1600.0, abs=1e-6)
    north = geodetic_to_enu(LAT + 0.01, LON, 1550.0, LAT, LON, 1550.0)
    assert abs(north[0]) < 1e-6 and north[1] == pytest.approx(1109.7, abs=1.0)
