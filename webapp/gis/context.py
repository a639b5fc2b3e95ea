"""GIS lookups for alerts: township by boundary, parcels and zones at or near a
point, the district outline.

Geometries are loaded once per process into Shapely STRtrees, in a local
metric projection so that "near" is measured in metres. The cache is keyed by
a cheap signature of the tables (row count, max id, max parcel revision),
checked on every lookup, so an import in another process is seen at once.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import shapely
from shapely.geometry import Point, mapping, shape
from shapely.ops import unary_union
from shapely.strtree import STRtree
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.gis import layers
from webapp.models import Parcel, Township
from webapp.platform import clock
from webapp.plugin_api import GisContext, GisFeature

# Origin of the local projection: the middle of the district. Within ±1° the
# equirectangular error stays well under 1 %, plenty for "within 200 m".
ORIGIN_LAT = 37.3
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(ORIGIN_LAT))
DEFAULT_NEAR_M = 200.0
BORDER_TOLERANCE_M = 1.0


def setting(name: str, default: float) -> float:
    """A numeric setting from the app config (read by webapp/config.py), else ``default``."""
    from flask import current_app
    value = current_app.config.get(name) if current_app else None
    return float(value) if value not in (None, "") else default


def to_metric(geom: Any) -> Any:
    """Lon/lat geometry → metres in the local projection."""
    return shapely.transform(geom, lambda xy: xy * (M_PER_DEG_LON, M_PER_DEG_LAT))


def metric_point(lat: float, lon: float) -> Point:
    return Point(lon * M_PER_DEG_LON, lat * M_PER_DEG_LAT)


@dataclass
class _Township:
    id: int
    code: str
    name: str
    unit_id: int | None


@dataclass
class _ParcelInfo:
    id: int
    layer: str
    code: str
    name: str
    attributes: dict[str, Any]
    valid_from: date | None
    valid_to: date | None


@dataclass
class GisIndex:
    """Everything a lookup needs, built from one snapshot of the tables."""

    signature: tuple
    townships: list[_Township] = field(default_factory=list)
    township_tree: STRtree | None = None
    township_geoms: list[Any] = field(default_factory=list)
    district: Any = None            # union of township polygons (metric), None if none
    parcels: list[_ParcelInfo] = field(default_factory=list)
    parcel_tree: STRtree | None = None
    parcel_geoms: list[Any] = field(default_factory=list)


_cache: dict[str, GisIndex] = {}
_lock = threading.Lock()


def _signature() -> tuple:
    # Separate scalar subqueries: SQLite answers each from an index (min/max
    # optimisation), while one combined aggregate would scan the table.
    def q(expr, model):
        return select(expr).select_from(model).scalar_subquery()
    row = db.session.execute(select(
        q(func.count(), Parcel), q(func.max(Parcel.id), Parcel), q(func.max(Parcel.revision), Parcel),
        q(func.count(), Township), q(func.max(Township.id), Township))).one()
    return tuple(row)


def _build(signature: tuple) -> GisIndex:
    index = GisIndex(signature)
    rows = db.session.execute(select(Township.id, Township.code, Township.name, Township.unit_id,
                                     Township.geometry).order_by(Township.id)).all()
    for tid, code, name, unit_id, geometry in rows:
        index.townships.append(_Township(tid, code, name, unit_id))
        index.township_geoms.append(to_metric(shape(geometry)))
    if index.township_geoms:
        index.township_tree = STRtree(index.township_geoms)
        # A hair of tolerance so points on a shared border are inside the district.
        index.district = unary_union(index.township_geoms).buffer(BORDER_TOLERANCE_M)
        shapely.prepare(index.district)
    prow = db.session.execute(select(
        Parcel.id, Parcel.layer, Parcel.code, Parcel.name, Parcel.attributes,
        Parcel.valid_from, Parcel.valid_to, Parcel.geometry).order_by(Parcel.id)).all()
    for pid, layer, code, name, attributes, valid_from, valid_to, geometry in prow:
        index.parcels.append(_ParcelInfo(pid, layer, code, name, attributes or {}, valid_from, valid_to))
        index.parcel_geoms.append(to_metric(shape(geometry)))
    if index.parcel_geoms:
        index.parcel_tree = STRtree(index.parcel_geoms)
    return index


def get_index() -> GisIndex:
    """The process's index for the current database, rebuilt when stale."""
    key = db.engine.url.render_as_string(hide_password=True)
    signature = _signature()
    current = _cache.get(key)
    if current is not None and current.signature == signature:
        return current
    with _lock:
        current = _cache.get(key)
        if current is None or current.signature != signature:
            current = _build(signature)
            _cache[key] = current
    return current


def invalidate() -> None:
    """Drop every cached index (the signature check makes this rarely needed)."""
    with _lock:
        _cache.clear()


# -- lookups ------------------------------------------------------------------
def has_district(index: GisIndex | None = None) -> bool:
    return (index or get_index()).district is not None


def in_district(lat: float, lon: float, index: GisIndex | None = None) -> bool:
    """Inside the union of township polygons; True when no boundary is loaded."""
    index = index or get_index()
    if index.district is None:
        return True
    return bool(index.district.covers(metric_point(lat, lon)))


def township_at(lat: float, lon: float, index: GisIndex | None = None) -> _Township | None:
    """The township whose boundary holds the point (the lowest id on a border)."""
    index = index or get_index()
    if index.township_tree is None:
        return None
    point = metric_point(lat, lon)
    hits = index.township_tree.query(point, predicate="intersects")
    if len(hits) == 0:
        # The same metre of tolerance as in_district, so the two always agree.
        hits = index.township_tree.query(point, predicate="dwithin", distance=BORDER_TOLERANCE_M)
    if len(hits) == 0:
        return None
    return index.townships[int(min(hits))]


def _validity(info: _ParcelInfo, on: date) -> dict[str, Any]:
    if info.valid_from is None and info.valid_to is None:
        return {}
    valid = (info.valid_from is None or info.valid_from <= on) and (info.valid_to is None or on <= info.valid_to)
    return {
        "valid_from": info.valid_from.isoformat() if info.valid_from else None,
        "valid_to": info.valid_to.isoformat() if info.valid_to else None,
        "valid_on_date": valid,
    }


def features_at(lat: float, lon: float, when: datetime | None = None,
                near_m: float | None = None, index: GisIndex | None = None) -> list[GisFeature]:
    """Parcels and zones containing the point or within ``near_m`` metres of it,
    inside ones first, then by distance."""
    index = index or get_index()
    if index.parcel_tree is None:
        return []
    near_m = setting("NRSC_GIS_NEAR_M", DEFAULT_NEAR_M) if near_m is None else near_m
    on = clock.local(when or clock.now()).date()
    point = metric_point(lat, lon)
    hits = index.parcel_tree.query(point, predicate="dwithin", distance=near_m)
    features = []
    for i in hits:
        info, geom = index.parcels[int(i)], index.parcel_geoms[int(i)]
        distance = float(geom.distance(point))
        inside = distance == 0.0
        attributes = {**info.attributes, **_validity(info, on)}
        features.append(GisFeature(layer=info.layer, code=info.code, name=info.name, inside=inside,
                                   distance_m=round(distance, 1), attributes=attributes))
    features.sort(key=lambda f: (not f.inside, f.distance_m, f.layer, f.code))
    return features


def context_at(lat: float, lon: float, when: datetime | None = None,
               index: GisIndex | None = None) -> GisContext:
    index = index or get_index()
    town = township_at(lat, lon, index)
    return GisContext(
        township_code=town.code if town else None,
        township_name=town.name if town else None,
        features=tuple(features_at(lat, lon, when, index=index)),
    )


def context_to_json(context: GisContext) -> dict[str, Any]:
    """The stored form of a context (Alert.gis_context)."""
    return {
        "township_code": context.township_code,
        "township_name": context.township_name,
        "features": [
            {"layer": f.layer, "code": f.code, "name": f.name, "inside": f.inside,
             "distance_m": f.distance_m, "attributes": dict(f.attributes)}
            for f in context.features
        ],
    }


def context_from_json(data: dict[str, Any] | None) -> GisContext:
    data = data or {}
    return GisContext(
        township_code=data.get("township_code"), township_name=data.get("township_name"),
        features=tuple(GisFeature(layer=f["layer"], code=f["code"], name=f.get("name", ""),
                                  inside=bool(f.get("inside")), distance_m=float(f.get("distance_m", 0)),
                                  attributes=f.get("attributes") or {})
                       for f in data.get("features", [])))


# -- import ---------------------------------------------------------------------
class ImportFatal(RuntimeError):
    """An import that cannot go on; nothing of it is written."""


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (index, code, reason)


def _parse_date(value: Any, what: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a date (YYYY-MM-DD)") from None


def read_feature_collection(path: str) -> list[Any]:
    import json
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise ImportFatal(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ImportFatal(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" \
            or not isinstance(data.get("features"), list):
        raise ImportFatal(f"{path} is not a GeoJSON FeatureCollection")
    return data["features"]


def import_parcels(features: list[Any], layer: str, *, source: str = "", code_field: str = "code",
                   name_field: str = "name", progress=None) -> ImportReport:
    """Upsert features into ``layer`` by (layer, code) in the current
    transaction (the caller commits). Bad features are skipped and reported."""
    from shapely.validation import explain_validity

    try:
        layers.require(layer)
    except layers.UnknownLayer as exc:
        raise ImportFatal(str(exc)) from None
    existing = {p.code: p for p in db.session.scalars(select(Parcel).where(Parcel.layer == layer))}
    seen: set[str] = set()
    report = ImportReport()
    for index, feature in enumerate(features):
        if progress is not None:
            progress.update(1)
        props = feature.get("properties") if isinstance(feature, dict) else None
        props = props if isinstance(props, dict) else {}
        code = str(props.get(code_field) or "").strip()
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            report.rejected.append((index, code, "not a GeoJSON Feature"))
            continue
        if not code:
            report.rejected.append((index, "", f"missing {code_field!r} property"))
            continue
        if len(code) > 80:
            report.rejected.append((index, code[:20], "code longer than 80 characters"))
            continue
        if code in seen:
            report.rejected.append((index, code, "code repeated in this file"))
            continue
        try:
            geom = shape(feature.get("geometry"))
        except Exception as exc:  # noqa: BLE001 - shapely raises several kinds
            report.rejected.append((index, code, f"malformed geometry ({exc or type(exc).__name__})"))
            continue
        if geom.is_empty or not geom.is_valid:
            reason = "empty geometry" if geom.is_empty else f"invalid geometry ({explain_validity(geom)})"
            report.rejected.append((index, code, reason))
            continue
        try:
            valid_from = _parse_date(props.get("valid_from"), "valid_from")
            valid_to = _parse_date(props.get("valid_to"), "valid_to")
        except ValueError as exc:
            report.rejected.append((index, code, str(exc)))
            continue
        seen.add(code)
        minx, miny, maxx, maxy = geom.bounds
        attributes = {k: v for k, v in props.items()
                      if k not in (code_field, name_field, "valid_from", "valid_to")}
        values = dict(name=str(props.get(name_field) or "")[:200], geometry=mapping(geom),
                      min_lon=minx, min_lat=miny, max_lon=maxx, max_lat=maxy, attributes=attributes,
                      valid_from=valid_from, valid_to=valid_to, source=source[:200])
        row = existing.get(code)
        if row is None:
            db.session.add(Parcel(layer=layer, code=code, **values))
            report.created += 1
        else:
            for key, value in values.items():
                setattr(row, key, value)
            report.updated += 1
    db.session.flush()
    return report
