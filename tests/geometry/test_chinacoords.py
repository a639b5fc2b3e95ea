"""WGS-84 → GCJ-02 / BD-09 against published reference pairs (to < 1 m)."""
from __future__ import annotations

import math

import pytest

from webapp.geometry import chinacoords as cc


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lat1, lon1), (lat2, lon2) = a, b
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6371008.8 * math.asin(math.sqrt(h))


# (WGS-84, GCJ-02) pairs: googollee/eviltransform's test table (Shanghai,
# Shenzhen, Beijing), Amap's own coordinate-convert API for Tiananmen (as
# quoted by the R package "geoChina"), and the geotool test point near Shanghai.
GCJ_PAIRS = [
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),
    ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),
    ((39.90734, 116.39089), (39.90874539, 116.39713623)),
    ((30.6107779, 121.0917077), (30.608604331756705, 121.09626935575027)),
    ((39.915, 116.404), (39.91640428150164, 116.41024449916938)),  # wandergis/coordtransform
]

# (WGS-84, BD-09): the geotool point (a forward WGS → GCJ → BD chain).
BD_PAIRS = [
    ((30.6107779, 121.0917077), (30.61484572185035, 121.10271732371203)),
]


@pytest.mark.parametrize("wgs, gcj", GCJ_PAIRS)
def test_wgs84_to_gcj02_matches_published_pairs(wgs, gcj):
    got = cc.wgs84_to_gcj02(*wgs)
    assert metres(got, gcj) < 1.0
    # The offset itself is hundreds of metres: unconverted links land that far off.
    assert metres(wgs, gcj) > 100


@pytest.mark.parametrize("wgs, bd", BD_PAIRS)
def test_wgs84_to_bd09_matches_published_pairs(wgs, bd):
    got = cc.wgs84_to_bd09(*wgs)
    assert metres(got, bd) < 1.0
    assert metres(wgs, bd) > 500


@pytest.mark.parametrize("gcj, bd", [
    ((30.608604331756705, 121.09626935575027), (30.61484572185035, 121.10271732371203)),  # geotool
    ((39.915, 116.404), (39.92133699351021, 116.41036949371029)),  # wandergis/coordtransform
])
def test_gcj02_to_bd09_matches_published_pairs(gcj, bd):
    assert metres(cc.gcj02_to_bd09(*gcj), bd) < 0.1


def test_the_district_is_offset_by_hundreds_of_metres():
    # 红寺堡 (the demo district, Ningxia): both datums move the point visibly.
    site = (37.50, 106.22)
    assert 100 < metres(site, cc.wgs84_to_gcj02(*site)) < 1000
    assert 500 < metres(site, cc.wgs84_to_bd09(*site)) < 2000


@pytest.mark.parametrize("point", [(48.8584, 2.2945), (40.6892, -74.0445), (-33.8568, 151.2153),
                                   (35.6586, 139.7454 + 0.1)])
def test_outside_china_no_offset(point):
    assert cc.out_of_china(*point)
    assert cc.wgs84_to_gcj02(*point) == point
    assert cc.wgs84_to_bd09(*point) == point
