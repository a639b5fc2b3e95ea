"""One map for every page and for the PDF.

:func:`payload` describes what a map shows (district outline, townships with
their names, GIS parcels by layer colour with a legend, cameras with their
viewing direction, points such as the event and the check-ins, base tiles when
``NRSC_TILE_URL`` is set) as plain JSON. The browser draws it with
``static/js/map.js`` (one module, configured by data attributes, names put in
as text); the PDF draws the same payload with :func:`svg` (names escaped).
"""
from __future__ import annotations

import math
import threading
from typing import Any, Iterable

from flask import current_app
from markupsafe import Markup, escape
from shapely.geometry import mapping, shape
from shapely.ops import unary_union
from sqlalchemy import select

from webapp.extensions import db
from webapp.geometry import ptz
from webapp.gis import layers
from webapp.gis.context import get_index
from webapp.models import Camera, Parcel, Township
from webapp.platform.formats import translate as _

PARCEL_MARGIN_DEG = 0.03
PARCEL_LIMIT = 300
DEFAULT_CENTRE = (37.3, 106.2)
# The PDF's reduced font (webapp/printing/fonts.py) first, then the full system font.
FONT_FAMILY = "NRSC Sans GB, Noto Sans CJK SC, sans-serif"
_outline_cache: dict[tuple, dict[str, Any]] = {}
_outline_lock = threading.Lock()


# -- what a map shows -----------------------------------------------------------------
def outlines() -> dict[str, Any]:
    """District outline and townships (with a label point each), cached per
    state of the township table (the GIS index's signature)."""
    signature = (db.engine.url.render_as_string(hide_password=True),) + tuple(get_index().signature[3:])
    cached = _outline_cache.get(signature)
    if cached is not None:
        return cached
    towns = db.session.scalars(select(Township).order_by(Township.id)).all()
    shapes = [shape(t.geometry) for t in towns]
    district = mapping(unary_union(shapes).buffer(0)) if shapes else None
    result = {
        "district": district,
        "townships": [{"name": t.name, "geometry": t.geometry,
                       "label": _latlon(s.representative_point())} for t, s in zip(towns, shapes)],
    }
    with _outline_lock:
        _outline_cache.clear()
        _outline_cache[signature] = result
    return result


def _latlon(point: Any) -> list[float]:
    return [round(point.y, 6), round(point.x, 6)]


def parcels_near(lat: float | None, lon: float | None, margin_deg: float = PARCEL_MARGIN_DEG) -> list[dict[str, Any]]:
    """GIS parcels whose bounding box comes within ``margin_deg`` of the point."""
    if lat is None or lon is None:
        return []
    rows = db.session.scalars(
        select(Parcel).where(Parcel.min_lon <= lon + margin_deg, Parcel.max_lon >= lon - margin_deg,
                             Parcel.min_lat <= lat + margin_deg, Parcel.max_lat >= lat - margin_deg)
        .order_by(Parcel.layer, Parcel.id).limit(PARCEL_LIMIT)).all()
    return [parcel(p) for p in rows]


def parcel(p: Parcel) -> dict[str, Any]:
    shp = shape(p.geometry)
    return {"layer": p.layer, "layer_name": layers.name(p.layer), "colour": layers.colour(p.layer),
            "code": p.code, "name": p.name, "geometry": p.geometry,
            "label": _latlon(shp.representative_point()) if not shp.is_empty else None}


def camera(cam: Camera, *, pan: float | None = None, zoom: float | None = None,
           preset_number: int | None = None, target: tuple[float, float] | None = None,
           **extra: Any) -> dict[str, Any]:
    """A camera and the direction it looks: its pan (or its preset's), else
    towards ``target``, else none."""
    preset = next((p for p in cam.presets if p.number == preset_number), None) if preset_number else None
    if pan is None and preset is not None:
        pan, zoom = preset.pan_deg, preset.zoom
    azimuth = hfov = None
    if pan is not None:
        azimuth = round(ptz.azimuth(cam.pan_zero_azimuth_deg or 0.0, pan), 2)
        hfov = round(ptz.fov_at_zoom(cam.fov_table, zoom or 1.0).hfov_deg, 2)
    elif target is not None:
        azimuth = round(ptz.bearing_deg(cam.lat, cam.lon, target[0], target[1]), 2)
    return {"code": cam.code, "name": cam.name, "kind": cam.kind, "lat": cam.lat, "lon": cam.lon,
            "azimuth": azimuth, "hfov": hfov, **extra}


def point(lat: float, lon: float, kind: str, label: str = "", estimated: bool = False) -> dict[str, Any]:
    """kind: event, checkin or place."""
    return {"lat": lat, "lon": lon, "kind": kind, "label": label, "estimated": estimated}


def payload(*, points: Iterable[dict[str, Any]] = (), cameras: Iterable[dict[str, Any]] = (),
            parcels: Iterable[dict[str, Any]] = (), fit: str = "auto", **extra: Any) -> dict[str, Any]:
    """Everything one map draws. ``fit``: auto (points, else cameras, else
    the district) or district."""
    parcels = list(parcels)
    legend, seen = [], set()
    for p in parcels:
        if p["layer"] not in seen:
            seen.add(p["layer"])
            legend.append({"layer": p["layer"], "name": p["layer_name"], "colour": p["colour"]})
    return {
        **outlines(),
        "tiles": {"url": current_app.config.get("NRSC_TILE_URL") or "",
                  "attribution": current_app.config.get("NRSC_TILE_ATTRIBUTION") or ""},
        "parcels": parcels, "legend": legend, "cameras": list(cameras), "points": list(points),
        "fit": fit, **extra,
    }


# -- on paper -------------------------------------------------------------------------------
def _rings(geometry: dict[str, Any] | None) -> list[list[tuple[float, float]]]:
    if not geometry:
        return []
    kind, coords = geometry.get("type"), geometry.get("coordinates") or []
    polygons = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else []
    return [[(float(x), float(y)) for x, y, *_ in ring] for polygon in polygons for ring in polygon]


def _extent(data: dict[str, Any], min_span_m: float) -> tuple[float, float, float, float]:
    """lon/lat box around the points (event and check-ins), at least
    ``min_span_m`` across so the parcels around read; the cameras when there
    is no point (a far camera's view wedge still reaches in); else the district."""
    pts = [(p["lon"], p["lat"]) for p in data["points"]]
    if not pts:
        pts = [(c["lon"], c["lat"]) for c in data["cameras"]]
    if not pts:
        pts = [xy for t in data["townships"] for ring in _rings(t["geometry"]) for xy in ring]
    if not pts:
        pts = [(DEFAULT_CENTRE[1], DEFAULT_CENTRE[0])]
    xs, ys = [x for x, _ in pts], [y for _, y in pts]
    lat0 = (min(ys) + max(ys)) / 2
    half_lat = min_span_m / 2 / 110_574
    half_lon = min_span_m / 2 / (111_320 * math.cos(math.radians(lat0)))
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    w = max(max(xs) - min(xs), 2 * half_lon) * 1.25
    h = max(max(ys) - min(ys), 2 * half_lat) * 1.25
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def svg(data: dict[str, Any], width: int = 360, height: int = 250, min_span_m: float = 1500) -> Markup:
    """The payload as an SVG for print: district and townships with names,
    parcels in their layer colours with labels and a legend, cameras with their
    view, the points, a north arrow and a scale bar; zoomed to the points."""
    x0, y0, x1, y1 = _extent(data, min_span_m)
    lat0 = (y0 + y1) / 2
    kx = math.cos(math.radians(lat0))
    scale = min(width / ((x1 - x0) * kx), height / (y1 - y0))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return (width / 2 + (lon - cx) * kx * scale, height / 2 - (lat - cy) * scale)

    def path(geometry: dict[str, Any] | None) -> str:
        return " ".join("M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in (xy(*p) for p in ring)) + " Z"
                        for ring in _rings(geometry))

    def inside(x: float, y: float) -> bool:
        return 4 <= x <= width - 4 and 10 <= y <= height - 4

    def text(x: float, y: float, value: str, size: int = 9, fill: str = "#333", anchor: str = "start") -> str:
        return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{fill}" text-anchor="{anchor}" '
                f'stroke="#fff" stroke-width="2.5" paint-order="stroke">{escape(value)}</text>')

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="map" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" font-family="{FONT_FAMILY}">',
           f'<defs><clipPath id="map-clip"><rect x="0" y="0" width="{width}" height="{height}"/></clipPath></defs>',
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fbfbf8"/>',
           '<g clip-path="url(#map-clip)">']
    if data.get("district"):
        out.append(f'<path d="{path(data["district"])}" fill="#f1f4ea" stroke="#4a6b2a" stroke-width="2"/>')
    for t in data["townships"]:
        out.append(f'<path d="{path(t["geometry"])}" fill="none" stroke="#78909c" stroke-width="1" '
                   f'stroke-dasharray="6 4"/>')
    for p in data["parcels"]:
        out.append(f'<path d="{path(p["geometry"])}" fill="{escape(p["colour"])}" fill-opacity="0.25" '
                   f'stroke="{escape(p["colour"])}" stroke-width="1" fill-rule="evenodd"/>')
    for t in data["townships"]:
        lx, ly = xy(t["label"][1], t["label"][0])
        if inside(lx, ly):
            out.append(text(lx, ly, t["name"], 11, "#4a6b2a", "middle"))
    for p in data["parcels"]:
        if p.get("label"):
            lx, ly = xy(p["label"][1], p["label"][0])
            if inside(lx, ly):
                out.append(text(lx, ly, p["name"] or p["code"], 8, "#333", "middle"))
    event = next((p for p in data["points"] if p["kind"] == "event"), None)
    for c in data["cameras"]:
        camx, camy = xy(c["lon"], c["lat"])
        if c.get("azimuth") is not None:
            reach = 0.3 * min(width, height)
            if event is not None:
                ex, ey = xy(event["lon"], event["lat"])
                reach = max(math.hypot(ex - camx, ey - camy) * 1.4, reach)
            half = max(min((c.get("hfov") or 20) / 2, 60), 1.5)
            wedge = [f"{camx:.1f},{camy:.1f}"]
            for a in (c["azimuth"] - half, c["azimuth"] + half):
                r = math.radians(a)
                wedge.append(f"{camx + reach * math.sin(r):.1f},{camy - reach * math.cos(r):.1f}")
            out.append(f'<polygon points="{" ".join(wedge)}" fill="#2b6cb0" fill-opacity="0.18" '
                       f'stroke="#2b6cb0" stroke-width="0.8"/>')
        out.append(f'<rect x="{camx - 4:.1f}" y="{camy - 4:.1f}" width="8" height="8" fill="#2b6cb0"/>')
        out.append(text(camx + 7, camy + 4, c["code"], 10, "#1a4480"))
    for p in data["points"]:
        px, py = xy(p["lon"], p["lat"])
        if p["kind"] == "event":
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="6" fill="#c53030" stroke="#fff" stroke-width="1.5"/>')
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="11" fill="none" stroke="#c53030" stroke-width="1"/>')
        else:
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="#2f855a" stroke="#fff" stroke-width="1"/>')
            if p.get("label"):
                out.append(text(px + 6, py - 5, p["label"], 8, "#2f855a"))
    out.append("</g>")
    out.append(f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" fill="none" stroke="#888"/>')
    for i, item in enumerate(data["legend"]):
        y = 10 + 13 * i
        out.append(f'<rect x="6" y="{y}" width="10" height="8" fill="{escape(item["colour"])}" fill-opacity="0.5" '
                   f'stroke="{escape(item["colour"])}"/>')
        out.append(text(20, y + 8, item["name"], 9))
    out.append(f'<g transform="translate({width - 18},22)"><polygon points="0,-12 5,4 0,0 -5,4" fill="#333"/>'
               f'<text x="0" y="15" font-size="9" text-anchor="middle">N</text></g>')
    metres_per_px = 110_574 / scale
    target = metres_per_px * width / 4
    nice = next((n for n in (50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000) if n >= target), 50_000)
    bar = nice / metres_per_px
    label = f"{nice // 1000} km" if nice >= 1000 else f"{nice} m"
    out.append(f'<g transform="translate(10,{height - 12})"><line x1="0" y1="0" x2="{bar:.1f}" y2="0" '
               f'stroke="#333" stroke-width="2"/><line x1="0" y1="-4" x2="0" y2="0" stroke="#333"/>'
               f'<line x1="{bar:.1f}" y1="-4" x2="{bar:.1f}" y2="0" stroke="#333"/>'
               f'<text x="{bar + 4:.1f}" y="3" font-size="9">{label}</text></g>')
    out.append("</svg>")
    return Markup("".join(out))


# -- the maps of the core's pages -------------------------------------------------------------
def alert_payload(alert: Any) -> dict[str, Any]:
    """The alert's point (dashed when estimated), its camera's view and the parcels around."""
    cams = []
    if alert.camera is not None:
        cams.append(camera(alert.camera, pan=alert.pan_deg, zoom=alert.zoom, preset_number=alert.preset_number,
                           target=(alert.lat, alert.lon)))
    return payload(points=[point(alert.lat, alert.lon, "event", _("Event"), bool(alert.location_estimated))],
                   cameras=cams, parcels=parcels_near(alert.lat, alert.lon))


def order_payload(order: Any) -> dict[str, Any]:
    """The order's event point, every check-in point (with its distance), the
    camera that saw it and the parcels around the event."""
    alert = order.alert
    lat = order.lat if order.lat is not None else getattr(alert, "lat", None)
    lon = order.lon if order.lon is not None else getattr(alert, "lon", None)
    pts = [point(lat, lon, "event", _("Event"))] if lat is not None and lon is not None else []
    for p in order.participants:
        if p.arrive_lat is None or p.arrive_lon is None:
            continue
        label = f"{p.unit.name if p.unit else ''} {_('check-in')}"
        if p.arrive_distance_m is not None:
            label += f" {round(p.arrive_distance_m)} m"
        pts.append(point(p.arrive_lat, p.arrive_lon, "checkin", label))
    cam = order.camera or (alert.camera if alert is not None else None)
    cams = []
    if cam is not None:
        cams.append(camera(cam, pan=getattr(alert, "pan_deg", None), zoom=getattr(alert, "zoom", None),
                           preset_number=getattr(alert, "preset_number", None),
                           target=(lat, lon) if lat is not None else None))
    return payload(points=pts, cameras=cams, parcels=parcels_near(lat, lon))


def _assets_once(kind: str = "eager") -> bool:
    """True the first time a page asks for a kind of map assets: Leaflet and
    map.js (``eager``) or the lazy loader (``lazy``) load once per page."""
    from flask import g, has_request_context
    if not has_request_context():
        return True
    asked = g.setdefault("nrsc_map_assets", set())
    if kind in asked:
        return False
    asked.add(kind)
    return True


def init_app(app: Any) -> None:
    """Offer ``order_map_data`` and ``map_assets_once`` to templates."""
    app.jinja_env.globals["order_map_data"] = order_payload
    app.jinja_env.globals["map_assets_once"] = _assets_once
