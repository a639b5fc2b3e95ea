"""Synthetic demo data: 合成演示数据, invented for demonstration only.

Coordinates are invented near the district (about 37.0–37.6 N, 105.9–106.6 E),
units and users are named by role, never after real people. Loading is
idempotent: rows are matched by their codes and updated, never duplicated
(a password, camera credentials or notification target someone changed is kept).

* Logins (``demo_users()``): duty01..duty04, duty_lead, ``<unit>_handler`` and
  ``<unit>_leader`` per department, office, township and the operator (nr_enf_handler,
  town_dahe_leader…), office01/office02, leader, admin — all with DEMO_PASSWORD.
* Cameras: T-01..T-31 (towers) and K-01..K-07 (checkpoints) at seeded random places
  inside the townships; camera k (T-01 = 1 … K-07 = 38) is ONVIF on 127.0.0.1:18000+k.
  Preset aim points come from :func:`webapp.geometry.ptz.aim_point` on flat ground.
* Parcels of every layer around presets' aim points; a holiday calendar for 2026
  and 2027 (an approximation, see HOLIDAYS); one inactive placeholder WeCom
  channel per department, township and the operator.

Everything is validated before anything is written; one transaction.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from shapely.geometry import MultiPoint, Point, Polygon, mapping, shape
from shapely.ops import voronoi_diagram
from sqlalchemy import select

from webapp import audit, orgchart
from webapp.geometry import ptz
from webapp.geometry.dem import synthetic_elevation
from webapp.extensions import db
from webapp.models import (
    PARCEL_LAYERS, CalendarDay, Camera, NotificationChannel, Parcel, Preset, Township, Unit, User,
    WorkingGroup,
)
from webapp.security import hash_password

SYNTHETIC_NOTE = "合成演示数据（虚构，仅供演示）"

# An invented district outline (lon, lat), roughly where the district lies.
DISTRICT_OUTLINE = [
    (105.92, 37.08), (106.10, 37.02), (106.34, 37.04), (106.55, 37.12), (106.58, 37.30),
    (106.52, 37.50), (106.36, 37.58), (106.12, 37.57), (105.96, 37.48), (105.90, 37.28),
]
# One invented seat per township; the Voronoi cells of the seats, clipped to
# the outline, tile the district with no gap and no overlap.
TOWNSHIP_SEATS = {
    "hongsipu": (106.06, 37.40),
    "taiyangshan": (106.45, 37.42),
    "dahe": (106.22, 37.50),
    "xinzhuangji": (106.02, 37.18),
    "liuquan": (106.35, 37.14),
}


class DemoDataError(RuntimeError):
    """Demo or import data that cannot be loaded; the message names the cause."""


def district_polygon() -> Polygon:
    return Polygon(DISTRICT_OUTLINE)


def township_polygons() -> dict[str, Polygon]:
    outline = district_polygon()
    codes = list(TOWNSHIP_SEATS)
    cells = voronoi_diagram(MultiPoint([TOWNSHIP_SEATS[c] for c in codes]), envelope=outline.buffer(1))
    result: dict[str, Polygon] = {}
    for cell in cells.geoms:
        for code in codes:
            if cell.contains(shape({"type": "Point", "coordinates": TOWNSHIP_SEATS[code]})):
                result[code] = cell.intersection(outline)
    if set(result) != set(codes):
        raise DemoDataError("township seats do not give one cell each")
    return result


def validate_geometry(geometry: dict[str, Any], what: str) -> Any:
    """Parse a GeoJSON geometry and refuse one that is malformed or invalid."""
    try:
        geom = shape(geometry)
    except Exception as exc:  # noqa: BLE001 - shapely raises several kinds
        raise DemoDataError(f"{what}: malformed geometry ({exc})") from None
    if geom.is_empty or not geom.is_valid:
        from shapely.validation import explain_validity
        raise DemoDataError(f"{what}: invalid geometry ({explain_validity(geom)})")
    return geom


def _upsert(model, key: str, value: Any, **fields: Any):
    row = db.session.scalar(select(model).where(getattr(model, key) == value))
    if row is None:
        row = model(**{key: value}, **fields)
        db.session.add(row)
    else:
        for name, field_value in fields.items():
            setattr(row, name, field_value)
    return row


def load_organisation(commit: bool = True) -> dict[str, int]:
    """Units, townships (with boundaries) and working groups from the plan."""
    polygons = township_polygons()
    for code, geom in polygons.items():
        validate_geometry(mapping(geom), f"township {code}")
    units: dict[str, Unit] = {}
    for order, (code, name, kind, parent) in enumerate(orgchart.UNITS):
        units[code] = _upsert(Unit, "code", code, name=name, kind=kind,
                              parent=units[parent] if parent else None, sort_order=order,
                              is_leading_office=(code == orgchart.LEADING_OFFICE_UNIT))
    db.session.flush()
    for code, (name, unit_code) in orgchart.TOWNSHIPS.items():
        _upsert(Township, "code", code, name=name, geometry=mapping(polygons[code]), unit_id=units[unit_code].id)
    for number, (name, lead, domains, duties) in orgchart.WORKING_GROUPS.items():
        _upsert(WorkingGroup, "number", number, name=name, lead_unit_id=units[lead].id,
                domains=list(domains), duties=duties)
    if commit:
        db.session.commit()
    return {"units": len(units), "townships": len(polygons), "working_groups": len(orgchart.WORKING_GROUPS)}


# --- users -------------------------------------------------------------------

# One documented password for every demo login; printed by `nrsc demo load`.
DEMO_PASSWORD = "demo-pass-2026"

# Short login prefixes per unit code (logins read like nr_enf_handler).
UNIT_LOGIN_PREFIX = {
    "natural_resources": "nr",
    "natural_resources.enforcement": "nr_enf",
    "natural_resources.farmland_office": "nr_farm",
    "natural_resources.geology_mining_office": "nr_geo",
    "emergency_management": "em",
    "forestry_grassland": "fg",
    "forestry_grassland.resources_office": "fg_res",
    "comprehensive_enforcement": "ce",
    "ecology_environment": "eco",
    "agriculture_rural": "agri",
    "housing_construction": "housing",
    "town.hongsipu": "town_hongsipu",
    "town.taiyangshan": "town_taiyangshan",
    "town.dahe": "town_dahe",
    "town.xinzhuangji": "town_xinzhuangji",
    "town.liuquan": "town_liuquan",
    "operator": "operator",
}


@dataclass(frozen=True)
class UserSpec:
    login: str
    display_name: str
    role: str
    unit_code: str | None


def demo_users() -> list[UserSpec]:
    """Users named by role, never after people."""
    users = [UserSpec(f"duty{n:02d}", f"值守员{n:02d}", "duty_officer", "duty") for n in range(1, 5)]
    users.append(UserSpec("duty_lead", "值守组长", "duty_lead", "duty"))
    names = {code: name for code, name, _kind, _parent in orgchart.UNITS}
    parents = {code: parent for code, _name, _kind, parent in orgchart.UNITS}
    for code, prefix in UNIT_LOGIN_PREFIX.items():
        full = f"{names[parents[code]]}{names[code]}" if parents[code] else names[code]
        users.append(UserSpec(f"{prefix}_handler", f"{full}处置人员", "unit_handler", code))
        users.append(UserSpec(f"{prefix}_leader", f"{full}负责人", "unit_leader", code))
    users += [
        UserSpec("office01", "领导小组办公室01", "office_staff", orgchart.LEADING_OFFICE_UNIT),
        UserSpec("office02", "领导小组办公室02", "office_staff", orgchart.LEADING_OFFICE_UNIT),
        UserSpec("leader", "领导（只读）", "leader_viewer", None),
        UserSpec("admin", "系统管理员", "admin", None),
    ]
    return users


# --- cameras -----------------------------------------------------------------

ONVIF_HOST = "127.0.0.1"
# Camera k (1-based: T-01..T-31 are 1..31, K-01..K-07 are 32..38) answers on
# ONVIF_BASE_PORT + k, as `nrsc simulator --cameras 38 --base-port 18000` serves it.
ONVIF_BASE_PORT = 18000
# Placeholder credentials of the simulator; real cameras get their own in admin.
ONVIF_USER = "demo"
ONVIF_PASSWORD = "demo-onvif-placeholder"
TOWERS_PER_TOWNSHIP = {"hongsipu": 7, "taiyangshan": 6, "dahe": 6, "xinzhuangji": 6, "liuquan": 6}
CHECKPOINTS_PER_TOWNSHIP = {"hongsipu": 2, "taiyangshan": 2, "dahe": 1, "xinzhuangji": 1, "liuquan": 1}
# Two invented tower lenses and one checkpoint lens: (max zoom, hfov, vfov at 1x).
TOWER_LENSES = ((30.0, 60.0, 34.0), (37.0, 58.0, 33.3))
CHECKPOINT_LENS = (4.0, 90.0, 50.0)
TOWER_DOMAIN_SETS: tuple[tuple[str, ...], ...] = (
    ("farmland", "fire"), ("mining", "geohazard"), ("grazing", "fire"), ("farmland", "ecology"),
    ("safety", "ecology"), ("mining",), ("geohazard", "fire"), ("grazing", "ecology"),
)
CHECKPOINT_DOMAIN_SETS: tuple[tuple[str, ...], ...] = (("mining", "ecology"), ("safety",), ("grazing",))
DOMAIN_THEMES = {"farmland": "农田", "mining": "砂石采场", "geohazard": "隐患点", "fire": "林草地",
                 "grazing": "禁牧区", "safety": "重点企业", "ecology": "生态"}
COMPASS = ("北", "东北", "东", "东南", "南", "西南", "西", "西北")
MIN_CAMERA_SPACING_DEG = 0.035


@dataclass
class PresetSpec:
    number: int
    name: str
    pan_deg: float
    tilt_deg: float
    zoom: float
    dwell_seconds: int
    domains: list[str]
    aim: tuple[float, float] | None


@dataclass
class CameraSpec:
    code: str
    name: str
    kind: str
    lat: float
    lon: float
    ground_elevation_m: float
    mount_height_m: float
    pan_zero_azimuth_deg: float
    fov_table: list[dict[str, float]]
    onvif_port: int
    township_code: str
    presets: list[PresetSpec] = field(default_factory=list)


def demo_elevation(lat: float, lon: float) -> float:
    """The synthetic DEM's terrain at the point (the DEM file the simulator renders
    is this function rasterised, so cameras stand on its ground)."""
    return round(float(synthetic_elevation(lat, lon)), 1)


def fov_table(max_zoom: float, hfov: float, vfov: float) -> list[dict[str, float]]:
    """FOV rows of an ideal zoom lens (tan(fov/2) inversely proportional to zoom)."""
    zooms = sorted({z for z in (1.0, 2.0, 5.0, 10.0, 20.0) if z < max_zoom} | {max_zoom})

    def at(fov: float, zoom: float) -> float:
        return round(math.degrees(2 * math.atan(math.tan(math.radians(fov) / 2) / zoom)), 2)
    return [{"zoom": z, "hfov_deg": at(hfov, z), "vfov_deg": at(vfov, z)} for z in zooms]


def _sample_points(rng: random.Random, area, count: int, taken: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """``count`` points inside ``area`` at least MIN_CAMERA_SPACING_DEG from each other."""
    inner = area.buffer(-0.012)
    min_x, min_y, max_x, max_y = inner.bounds
    found: list[tuple[float, float]] = []
    spacing = MIN_CAMERA_SPACING_DEG
    attempts = 0
    while len(found) < count:
        attempts += 1
        if attempts % 500 == 0:
            spacing *= 0.8  # a crowded cell: relax rather than loop forever
        lon, lat = round(rng.uniform(min_x, max_x), 5), round(rng.uniform(min_y, max_y), 5)
        if not inner.contains(Point(lon, lat)):
            continue
        if all(math.hypot(lon - x, lat - y) >= spacing for x, y in taken + found):
            found.append((lon, lat))
    return found


def _compass(azimuth_deg: float) -> str:
    return COMPASS[int(((azimuth_deg % 360) + 22.5) // 45) % 8]


def _make_presets(rng: random.Random, cam: CameraSpec, count: int, domain_sets, first_set: int,
                  district: Polygon) -> list[PresetSpec]:
    checkpoint = cam.kind == "checkpoint"
    max_zoom = ptz.max_zoom_of(cam.fov_table)
    start = rng.uniform(0, 360)
    presets = []
    for i in range(count):
        domains = list(domain_sets[(first_set + i) % len(domain_sets)])
        tilt = round(rng.uniform(-15, -8) if checkpoint else rng.uniform(-8, -1.5), 1)
        zoom = float(rng.choice((1, 1.5, 2)) if checkpoint else rng.choice((1, 2, 4, 8, 12)))
        zoom = min(zoom, max_zoom)
        # Rounded before use: the stored preset must give exactly the stored aim point.
        pan = round(ptz.normalize_pan(start + i * 360 / count + rng.uniform(-10, 10)), 1)
        aim = None
        # Turn until the aim point is inside the district: presets look at the district.
        for _turn in range(12):
            aim = ptz.aim_point(cam.lat, cam.lon, cam.mount_height_m, cam.pan_zero_azimuth_deg, pan, tilt,
                                ground_elevation_m=cam.ground_elevation_m)
            if aim and district.contains(Point(aim[1], aim[0])):
                break
            pan = round(ptz.normalize_pan(pan + 30), 1)
        if aim is None or not district.contains(Point(aim[1], aim[0])):
            raise DemoDataError(f"camera {cam.code} preset {i + 1}: no aim point inside the district")
        aim = (round(aim[0], 6), round(aim[1], 6))
        direction = _compass(ptz.azimuth(cam.pan_zero_azimuth_deg, pan))
        presets.append(PresetSpec(
            number=i + 1, name=f"{i + 1}号位 {direction}向{DOMAIN_THEMES[domains[0]]}", pan_deg=pan,
            tilt_deg=tilt, zoom=zoom, dwell_seconds=rng.choice((20, 30, 40)), domains=domains, aim=aim))
    return presets


def demo_cameras() -> list[CameraSpec]:
    """31 towers and 7 checkpoints at invented places inside the townships."""
    rng = random.Random(20260318)  # fixed: every load places the same cameras
    polygons = township_polygons()
    district = district_polygon()
    names = {code: name for code, (name, _unit) in orgchart.TOWNSHIPS.items()}
    taken: list[tuple[float, float]] = []
    cameras: list[CameraSpec] = []
    for kind, per_township, prefix in (("tower", TOWERS_PER_TOWNSHIP, "T"),
                                       ("checkpoint", CHECKPOINTS_PER_TOWNSHIP, "K")):
        number = 0
        for township, count in per_township.items():
            points = _sample_points(rng, polygons[township], count, taken)
            taken += points
            for lon, lat in points:
                number += 1
                k = len(cameras) + 1
                if kind == "tower":
                    lens = TOWER_LENSES[number % 2]
                    label, mount = "高空瞭望", float(rng.randint(30, 80))
                else:
                    lens = CHECKPOINT_LENS
                    label, mount = "卡口", float(rng.randint(8, 12))
                cam = CameraSpec(
                    code=f"{prefix}-{number:02d}", name=f"{names[township]}{label}{number:02d}（虚构）",
                    kind=kind, lat=lat, lon=lon, ground_elevation_m=demo_elevation(lat, lon),
                    mount_height_m=mount, pan_zero_azimuth_deg=round(rng.uniform(0, 360), 1),
                    fov_table=fov_table(*lens), onvif_port=ONVIF_BASE_PORT + k, township_code=township)
                if kind == "tower":
                    cam.presets = _make_presets(rng, cam, rng.randint(3, 6), TOWER_DOMAIN_SETS, number, district)
                else:
                    cam.presets = _make_presets(rng, cam, 3, CHECKPOINT_DOMAIN_SETS, number, district)
                cameras.append(cam)
    return cameras


# --- parcels -----------------------------------------------------------------

@dataclass
class ParcelSpec:
    layer: str
    code: str
    name: str
    geometry: dict[str, Any]
    attributes: dict[str, Any] = field(default_factory=dict)
    valid_from: date | None = None
    valid_to: date | None = None
    source: str = "demo"


def _ring(lat: float, lon: float, points: list[tuple[float, float]]) -> dict[str, Any]:
    coords = [[round(p[1], 7), round(p[0], 7)] for p in points]
    return {"type": "Polygon", "coordinates": [coords + [coords[0]]]}


def square(lat: float, lon: float, side_m: float, shift_az: float = 0.0, shift_m: float = 0.0) -> dict[str, Any]:
    """A north-aligned square of ``side_m`` around a point (optionally shifted)."""
    if shift_m:
        lat, lon = ptz.destination(lat, lon, shift_az, shift_m)
    half = side_m / 2 * math.sqrt(2)
    return _ring(lat, lon, [ptz.destination(lat, lon, az, half) for az in (315, 45, 135, 225)])


def circle(lat: float, lon: float, radius_m: float, sides: int = 16) -> dict[str, Any]:
    return _ring(lat, lon, [ptz.destination(lat, lon, 360 * i / sides, radius_m) for i in range(sides)])


def _aims_by_domain(cameras: list[CameraSpec]) -> dict[str, list[tuple[float, float]]]:
    """Aim points per domain: presets whose first domain it is come first."""
    result: dict[str, list[tuple[float, float]]] = {}
    for primary in (True, False):
        for cam in cameras:
            for preset in cam.presets:
                domains = preset.domains[:1] if primary else preset.domains[1:]
                for domain in domains:
                    if preset.aim:
                        result.setdefault(domain, []).append(preset.aim)
    return result


def demo_parcels(cameras: list[CameraSpec]) -> list[ParcelSpec]:
    """A few parcels of every layer around presets' aim points, so alerts
    raised there find GIS context."""
    aims = _aims_by_domain(cameras)
    note = {"synthetic": SYNTHETIC_NOTE}
    parcels: list[ParcelSpec] = []

    def add(layer, code, name, geometry, **kw):
        attrs = {**kw.pop("attributes", {}), **note}
        parcels.append(ParcelSpec(layer, code, f"{name}（虚构）", geometry, attrs, **kw))

    for n, (lat, lon) in enumerate(aims["farmland"][:4], 1):
        add("basic_farmland", f"JBNT-{n:03d}", f"永久基本农田图斑{n:03d}", square(lat, lon, 300),
            attributes={"area_ha": 9.0, "grade": "二等", "protection_unit": "所在乡镇"})
        add("cultivated_land", f"GD-{n:03d}", f"耕地图斑{n:03d}", square(lat, lon, 600),
            attributes={"area_ha": 36.0, "land_class": "水浇地"})
        add("land_use_plan", f"LUP-{n:03d}", f"规划分区{n:03d}", square(lat, lon, 1200),
            attributes={"zone": "一般农用地", "plan": "国土空间总体规划（虚构）"})
    mining = aims["mining"]
    permits = (
        # (aim index, valid from, valid to, shift metres: 0 = aim inside the permit)
        (0, date(2024, 4, 1), date(2027, 3, 31), 0.0),
        (1, date(2021, 1, 1), date(2025, 6, 30), 0.0),      # expired
        (2, date(2023, 7, 1), date(2028, 12, 31), 650.0),   # aim point outside the permit
    )
    for n, (index, start, end, shift) in enumerate(permits, 1):
        lat, lon = mining[index]
        permit_no = f"C640303202{n}037120{n:07d}"
        add("mining_permit", permit_no, f"建筑用砂石采矿权{n:03d}", square(lat, lon, 400, 90, shift),
            valid_from=start, valid_to=end,
            attributes={"holder": "XX砂石有限公司(虚构)", "permit_no": permit_no, "mineral": "建筑用砂石",
                        "valid_from": start.isoformat(), "valid_to": end.isoformat(), "area_ha": 16.0})
    construction = [mining[3], *aims["safety"][:2]]
    for n, (lat, lon) in enumerate(construction, 1):
        start, end = date(2025, 3, 1), date(2027, 2, 28)
        add("construction_approval", f"CA-{n:03d}", f"建设用地批复{n:03d}", square(lat, lon, 350),
            valid_from=start, valid_to=end,
            attributes={"approval_no": f"红自然资建〔2025〕{n}号（虚构）", "project": "砂石加工场地（虚构）",
                        "valid_from": start.isoformat(), "valid_to": end.isoformat()})
        add("land_use_plan", f"LUP-{n + 10:03d}", f"规划分区{n + 10:03d}", square(lat, lon, 800),
            attributes={"zone": "建设用地", "plan": "国土空间总体规划（虚构）"})
    for n, (lat, lon) in enumerate(aims["geohazard"][:4], 1):
        kind = ("崩塌", "滑坡", "地面塌陷", "不稳定斜坡")[n - 1]
        add("geohazard_point", f"HP-{n:03d}", f"地质灾害隐患点HP-{n:03d}{kind}", circle(lat, lon, 60),
            attributes={"hazard_type": kind, "scale": "小型", "point": [lat, lon],
                        "threatened": "3户12人（虚构）", "monitor": "乡镇群测群防员"})
    for n, (lat, lon) in enumerate(aims["grazing"][:3], 1):
        start, end = (("01-01", "12-31"), ("03-01", "06-30"), ("03-15", "07-15"))[n - 1]
        add("grazing_ban_zone", f"GB-{n:03d}", f"封山禁牧区{n:03d}", square(lat, lon, 2000),
            attributes={"ban_start": start, "ban_end": end, "scope": "全年禁牧" if n == 1 else "季节性禁牧"})
    for n, (lat, lon) in enumerate(aims["safety"][:3], 1):
        add("key_enterprise", f"KE-{n:03d}", f"重点企业{n:03d}", square(lat, lon, 250, 0, 80),
            attributes={"enterprise": f"XX化工有限公司{n}号厂区(虚构)", "industry": "危险化学品",
                        "risk_level": "较大", "contact": "企业安全负责人"})
    for n, (lat, lon) in enumerate(aims["fire"][:3], 1):
        add("forest_grassland", f"FG-{n:03d}", f"林草地图斑{n:03d}", square(lat, lon, 1000),
            attributes={"cover": ("天然草地", "人工林", "灌木林地")[n - 1], "fire_risk": "高"})
    return parcels


def validate_parcels(parcels: list[ParcelSpec]) -> list[Any]:
    """Check every parcel before anything is written; the first bad one raises
    a DemoDataError naming it. Returns the parsed shapes in order."""
    shapes, seen = [], set()
    for spec in parcels:
        what = f"parcel {spec.layer}/{spec.code or '?'}"
        if spec.layer not in PARCEL_LAYERS:
            raise DemoDataError(f"{what}: unknown layer (expected one of {', '.join(PARCEL_LAYERS)})")
        if not spec.code:
            raise DemoDataError(f"{what}: missing code")
        if (spec.layer, spec.code) in seen:
            raise DemoDataError(f"{what}: code used twice in the layer")
        seen.add((spec.layer, spec.code))
        geom = validate_geometry(spec.geometry, what)
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise DemoDataError(f"{what}: expected a Polygon or MultiPolygon, got {geom.geom_type}")
        if spec.valid_from and spec.valid_to and spec.valid_to < spec.valid_from:
            raise DemoDataError(f"{what}: valid_to is before valid_from")
        shapes.append(geom)
    return shapes


# --- holiday calendar ----------------------------------------------------------

# Synthetic approximations of the State Council's holiday arrangements (法定节假日
# and 调休); check the official notice before relying on them. 2027's is invented.
# (first day, last day, name) of holiday spans, and make-up working days.
HOLIDAYS: tuple[tuple[date, date, str], ...] = (
    (date(2026, 1, 1), date(2026, 1, 3), "元旦"),
    (date(2026, 2, 15), date(2026, 2, 23), "春节"),
    (date(2026, 4, 4), date(2026, 4, 6), "清明节"),
    (date(2026, 5, 1), date(2026, 5, 5), "劳动节"),
    (date(2026, 6, 19), date(2026, 6, 21), "端午节"),
    (date(2026, 9, 25), date(2026, 9, 27), "中秋节"),
    (date(2026, 10, 1), date(2026, 10, 7), "国庆节"),
    (date(2027, 1, 1), date(2027, 1, 3), "元旦"),
    (date(2027, 2, 5), date(2027, 2, 12), "春节"),
    (date(2027, 4, 3), date(2027, 4, 5), "清明节"),
    (date(2027, 5, 1), date(2027, 5, 5), "劳动节"),
    (date(2027, 6, 9), date(2027, 6, 9), "端午节"),
    (date(2027, 9, 15), date(2027, 9, 15), "中秋节"),
    (date(2027, 10, 1), date(2027, 10, 7), "国庆节"),
)
MAKEUP_WORKDAYS: tuple[tuple[date, str], ...] = (
    (date(2026, 1, 4), "元旦调休上班"),
    (date(2026, 2, 14), "春节调休上班"),
    (date(2026, 2, 28), "春节调休上班"),
    (date(2026, 5, 9), "劳动节调休上班"),
    (date(2026, 9, 20), "国庆节调休上班"),
    (date(2026, 10, 10), "国庆节调休上班"),
    (date(2027, 1, 30), "春节调休上班"),
    (date(2027, 2, 20), "春节调休上班"),
    (date(2027, 4, 25), "劳动节调休上班"),
    (date(2027, 5, 8), "劳动节调休上班"),
    (date(2027, 9, 26), "国庆节调休上班"),
    (date(2027, 10, 9), "国庆节调休上班"),
)


def demo_calendar() -> list[tuple[date, str, str]]:
    """``(day, "holiday" | "workday", name)``: every day of each holiday span
    (weekend days in a span carry the holiday's name too) and make-up workdays."""
    days: dict[date, tuple[str, str]] = {}
    for first, last, name in HOLIDAYS:
        day = first
        while day <= last:
            days[day] = ("holiday", f"{name}（合成近似）")
            day += timedelta(days=1)
    for day, name in MAKEUP_WORKDAYS:
        if day.weekday() < 5 or day in days:
            raise DemoDataError(f"calendar {day}: a make-up workday must be a weekend day outside holidays")
        days[day] = ("workday", f"{name}（合成近似）")
    return [(day, kind, name) for day, (kind, name) in sorted(days.items())]


# --- notification channels -------------------------------------------------------

def demo_channels() -> list[tuple[str, str, str]]:
    """``(unit code, channel, target)``: a placeholder WeCom robot per department
    and township, inactive until someone enters a real webhook."""
    return [(code, "wecom", f"http://127.0.0.1:9/wecom-placeholder/{code}")
            for code, _name, kind, _parent in orgchart.UNITS if kind in ("department", "township", "operator")]


# --- loading -----------------------------------------------------------------------

def _check_cameras(cameras: list[CameraSpec]) -> None:
    district = district_polygon()
    codes = set()
    for cam in cameras:
        if cam.code in codes:
            raise DemoDataError(f"camera {cam.code}: code used twice")
        codes.add(cam.code)
        if not district.contains(Point(cam.lon, cam.lat)):
            raise DemoDataError(f"camera {cam.code}: position {cam.lat}, {cam.lon} is outside the district")


def _write_users(users: list[UserSpec], units: dict[str, Unit]) -> None:
    # Hash once: every demo login shares the documented password anyway.
    password_hash = None
    for spec in users:
        row = db.session.scalar(select(User).where(User.login == spec.login))
        unit = units[spec.unit_code] if spec.unit_code else None
        if row is None:
            password_hash = password_hash or hash_password(DEMO_PASSWORD)
            db.session.add(User(login=spec.login, display_name=spec.display_name, role=spec.role,
                                unit=unit, password_hash=password_hash))
        else:  # keep a password someone changed
            row.display_name, row.role, row.unit = spec.display_name, spec.role, unit


def _write_cameras(cameras: list[CameraSpec], townships: dict[str, Township]) -> None:
    for spec in cameras:
        cam = _upsert(Camera, "code", spec.code, name=spec.name, kind=spec.kind, lat=spec.lat, lon=spec.lon,
                      ground_elevation_m=spec.ground_elevation_m, mount_height_m=spec.mount_height_m,
                      pan_zero_azimuth_deg=spec.pan_zero_azimuth_deg, fov_table=spec.fov_table,
                      onvif_host=ONVIF_HOST, onvif_port=spec.onvif_port, township=townships[spec.township_code])
        if cam.onvif_user is None:  # keep credentials someone entered
            cam.onvif_user, cam.onvif_password = ONVIF_USER, ONVIF_PASSWORD
        existing = {p.number: p for p in cam.presets}
        for p in spec.presets:
            values = dict(name=p.name, pan_deg=p.pan_deg, tilt_deg=p.tilt_deg, zoom=p.zoom,
                          dwell_seconds=p.dwell_seconds, domains=p.domains,
                          aim_lat=p.aim[0] if p.aim else None, aim_lon=p.aim[1] if p.aim else None)
            if p.number in existing:
                for key, value in values.items():
                    setattr(existing[p.number], key, value)
            else:
                cam.presets.append(Preset(number=p.number, **values))


def load_parcels(parcels: list[ParcelSpec], commit: bool = True) -> int:
    """Insert or update parcels by (layer, code); all of them or none."""
    shapes = validate_parcels(parcels)
    for spec, geom in zip(parcels, shapes):
        min_lon, min_lat, max_lon, max_lat = geom.bounds
        row = db.session.scalar(select(Parcel).where(Parcel.layer == spec.layer, Parcel.code == spec.code))
        if row is None:
            row = Parcel(layer=spec.layer, code=spec.code)
            db.session.add(row)
        row.name, row.geometry, row.attributes = spec.name, spec.geometry, spec.attributes
        row.min_lon, row.min_lat, row.max_lon, row.max_lat = min_lon, min_lat, max_lon, max_lat
        row.valid_from, row.valid_to, row.source = spec.valid_from, spec.valid_to, spec.source
    if commit:
        db.session.commit()
    return len(parcels)


def _write_calendar(days: list[tuple[date, str, str]]) -> None:
    for day, kind, name in days:
        _upsert(CalendarDay, "day", day, kind=kind, name=name)


def _write_channels(channels: list[tuple[str, str, str]], units: dict[str, Unit]) -> None:
    for unit_code, channel, target in channels:
        unit = units[unit_code]
        row = db.session.scalar(select(NotificationChannel).where(
            NotificationChannel.unit_id == unit.id, NotificationChannel.channel == channel,
            NotificationChannel.domain.is_(None)))
        if row is None:  # an existing channel may hold a real webhook: leave it
            db.session.add(NotificationChannel(unit=unit, channel=channel, target=target, active=False))


def load_demo(extra_parcels: list[ParcelSpec] | None = None, *, history: bool = True) -> dict[str, int]:
    """Everything the demo needs, in one transaction; safe to run again.
    ``history=False`` leaves out the three months of synthetic alerts and orders.

    Every piece is built and validated first; a bad one raises DemoDataError
    naming it and nothing is written. ``extra_parcels`` are loaded with the demo's.
    """
    cameras = demo_cameras()
    _check_cameras(cameras)
    parcels = demo_parcels(cameras) + list(extra_parcels or [])
    validate_parcels(parcels)
    users, calendar, channels = demo_users(), demo_calendar(), demo_channels()
    try:
        summary = load_organisation(commit=False)
        db.session.flush()
        units = {u.code: u for u in db.session.scalars(select(Unit))}
        townships = {t.code: t for t in db.session.scalars(select(Township))}
        _write_users(users, units)
        _write_cameras(cameras, townships)
        load_parcels(parcels, commit=False)
        _write_calendar(calendar)
        _write_channels(channels, units)
        summary.update(users=len(users), cameras=len(cameras),
                       presets=sum(len(c.presets) for c in cameras), parcels=len(parcels),
                       calendar_days=len(calendar), notification_channels=len(channels))
        db.session.flush()
        audit.record("demo_loaded", "demo", None, actor_label="cli", note=SYNTHETIC_NOTE, data=summary)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    # Three months of synthetic alerts and orders, made once (webapp/demo_history.py).
    if history:
        from webapp.demo_history import load_history
        load_history()
    return summary


def demo_logins_text() -> str:
    """The demo logins and their one password, for `nrsc demo load` to print."""
    lines = [f"demo password for every login below: {DEMO_PASSWORD}", "login / role / name:"]
    lines += [f"  {u.login:<22} {u.role:<14} {u.display_name}" for u in demo_users()]
    return "\n".join(lines)
