"""Synthetic demo data: 合成演示数据, invented for demonstration only.

Coordinates are invented near the district (about 37.0–37.6 N, 105.9–106.6 E),
units and users are named by role, never after real people. Loading is
idempotent: rows are matched by their codes and updated, never duplicated.
"""
from __future__ import annotations

from typing import Any

from shapely.geometry import MultiPoint, Polygon, mapping, shape
from shapely.ops import voronoi_diagram
from sqlalchemy import select

from webapp import orgchart
from webapp.extensions import db
from webapp.models import Township, Unit, WorkingGroup

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


def load_organisation() -> dict[str, int]:
    """Units, townships (with boundaries) and working groups from the plan."""
    units: dict[str, Unit] = {}
    for order, (code, name, kind, parent) in enumerate(orgchart.UNITS):
        units[code] = _upsert(Unit, "code", code, name=name, kind=kind,
                              parent=units[parent] if parent else None, sort_order=order,
                              is_leading_office=(code == orgchart.LEADING_OFFICE_UNIT))
    db.session.flush()
    polygons = township_polygons()
    for code, (name, unit_code) in orgchart.TOWNSHIPS.items():
        geom = polygons[code]
        validate_geometry(mapping(geom), f"township {code}")
        _upsert(Township, "code", code, name=name, geometry=mapping(geom), unit_id=units[unit_code].id)
    for number, (name, lead, domains, duties) in orgchart.WORKING_GROUPS.items():
        _upsert(WorkingGroup, "number", number, name=name, lead_unit_id=units[lead].id,
                domains=list(domains), duties=duties)
    db.session.commit()
    return {"units": len(units), "townships": len(polygons), "working_groups": len(orgchart.WORKING_GROUPS)}


def load_demo() -> dict[str, int]:
    """Everything the demo needs; safe to run again."""
    summary = load_organisation()
    return summary
