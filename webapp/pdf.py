"""PDF work orders 预警信息处置办理工单 (seed attachment 2) with WeasyPrint.

Each order renders through its domain plugin's template, which extends
``orders/pdf/base.html`` and fills ``{% block domain_details %}``. Images are
embedded as data URIs and the fetcher refuses every other URL, so a template
can never make the renderer read a local file or call the network.
"""
from __future__ import annotations

import base64
import io
import math
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

from flask import current_app, has_request_context, render_template
from markupsafe import Markup, escape
from PIL import Image
from sqlalchemy import select

from webapp import clock
from webapp.geometry import ptz
from webapp.extensions import db
from webapp.models import EvidenceFile, Unit, WorkOrder

FORM_TITLE = "预警信息处置办理工单"  # the form's official name (seed attachment 2)
PRINT_CSS = Path(__file__).resolve().parent / "static" / "css" / "print.css"
FONT_FAMILY = "Noto Sans CJK SC"
BASE_TEMPLATE = "orders/pdf/base.html"
IMAGE_MAX_PX = 900
MAX_GIS_FEATURES = 12
_local = threading.local()


# -- images -----------------------------------------------------------------
@lru_cache(maxsize=128)
def _thumbnail_uri(path: str, sha256: str) -> str | None:
    """A JPEG data URI no larger than IMAGE_MAX_PX (cached by content hash)."""
    try:
        with Image.open(path) as img:
            img.thumbnail((IMAGE_MAX_PX, IMAGE_MAX_PX))
            buffer = io.BytesIO()
            img.convert("RGB").save(buffer, "JPEG", quality=80)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


@dataclass
class Photo:
    uri: str | None
    caption: str


def photo(row: EvidenceFile) -> Photo:
    root = (Path(current_app.config["NRSC_DATA_DIR"]) / "files").resolve()
    path = (root / row.path).resolve()
    caption = row.original_name or row.kind
    if not path.is_relative_to(root) or not path.is_file():
        return Photo(None, caption)
    return Photo(_thumbnail_uri(str(path), row.sha256), caption)


# -- the map ----------------------------------------------------------------
def _rings(geometry: dict[str, Any] | None) -> list[list[tuple[float, float]]]:
    if not geometry:
        return []
    kind, coords = geometry.get("type"), geometry.get("coordinates") or []
    polygons = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else []
    return [[(float(x), float(y)) for x, y, *_ in ring] for polygon in polygons for ring in polygon[:1]]


@dataclass
class MapInput:
    lat: float | None
    lon: float | None
    township_name: str = ""
    township_geometry: dict[str, Any] | None = None
    camera_label: str = ""
    camera_lat: float | None = None
    camera_lon: float | None = None
    view_azimuth_deg: float | None = None
    view_hfov_deg: float | None = None
    extra_points: list[tuple[float, float]] = field(default_factory=list)


def map_svg(m: MapInput, width: int = 360, height: int = 250) -> Markup:
    """A small map drawn as SVG: township outline, event point, camera and its
    view direction, a north arrow and a scale bar. No tiles."""
    rings = _rings(m.township_geometry)
    points = [p for ring in rings for p in ring]
    if m.lon is not None and m.lat is not None:
        points.append((m.lon, m.lat))
    if m.camera_lon is not None and m.camera_lat is not None:
        points.append((m.camera_lon, m.camera_lat))
    if not points:
        return Markup("")
    lat0 = sum(y for _, y in points) / len(points)
    kx = math.cos(math.radians(lat0))
    xs, ys = [x * kx for x, _ in points], [y for _, y in points]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 0.01)
    pad = 18
    scale = min((width - 2 * pad) / max(max(xs) - min(xs), span * 0.3),
                (height - 2 * pad) / max(max(ys) - min(ys), span * 0.3))
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return (width / 2 + (lon * kx - cx) * scale, height / 2 - (lat - cy) * scale)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="map" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" font-family="{FONT_FAMILY}">',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fbfbf8" stroke="#888"/>']
    for ring in rings:
        d = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(*p) for p in ring))
        parts.append(f'<polygon points="{d}" fill="#eef3e6" stroke="#4a6b2a" stroke-width="1.2"/>')
    if m.township_name:
        # In the corner: the event and the camera usually sit near the centre.
        parts.append(f'<text x="8" y="16" font-size="11" fill="#4a6b2a">{escape(m.township_name)}</text>')
    if m.camera_lon is not None and m.camera_lat is not None:
        camx, camy = xy(m.camera_lon, m.camera_lat)
        if m.view_azimuth_deg is not None:
            # Past the event point, and long enough to read the direction.
            reach = 0.3 * min(width, height)
            if m.lon is not None and m.lat is not None:
                ex, ey = xy(m.lon, m.lat)
                reach = max(math.hypot(ex - camx, ey - camy) * 1.4, reach)
            half = max(min((m.view_hfov_deg or 20) / 2, 60), 1.5)
            wedge = [f"{camx:.1f},{camy:.1f}"]
            for a in (m.view_azimuth_deg - half, m.view_azimuth_deg + half):
                r = math.radians(a)
                wedge.append(f"{camx + reach * math.sin(r):.1f},{camy - reach * math.cos(r):.1f}")
            parts.append(f'<polygon points="{" ".join(wedge)}" fill="#2b6cb0" fill-opacity="0.18" '
                         f'stroke="#2b6cb0" stroke-width="0.8"/>')
        parts.append(f'<rect x="{camx - 4:.1f}" y="{camy - 4:.1f}" width="8" height="8" fill="#2b6cb0"/>')
        parts.append(f'<text x="{camx + 7:.1f}" y="{camy + 4:.1f}" font-size="10" fill="#1a4480">'
                     f'{escape(m.camera_label)}</text>')
    for lon, lat in m.extra_points:
        px, py = xy(lon, lat)
        parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="#2f855a"/>')
    if m.lon is not None and m.lat is not None:
        ex, ey = xy(m.lon, m.lat)
        parts.append(f'<circle cx="{ex:.1f}" cy="{ey:.1f}" r="6" fill="#c53030" stroke="#fff" stroke-width="1.5"/>')
        parts.append(f'<circle cx="{ex:.1f}" cy="{ey:.1f}" r="11" fill="none" stroke="#c53030" stroke-width="1"/>')
    # North arrow.
    parts.append(f'<g transform="translate({width - 18},{22})"><polygon points="0,-12 5,4 0,0 -5,4" fill="#333"/>'
                 f'<text x="0" y="15" font-size="9" text-anchor="middle">N</text></g>')
    # Scale bar of a round length near a quarter of the width.
    metres_per_px = 111_320 / scale
    target = metres_per_px * width / 4
    nice = next((n for n in (100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000) if n >= target), 50_000)
    bar = nice / metres_per_px
    label = f"{nice // 1000} km" if nice >= 1000 else f"{nice} m"
    parts.append(f'<g transform="translate(10,{height - 12})"><line x1="0" y1="0" x2="{bar:.1f}" y2="0" '
                 f'stroke="#333" stroke-width="2"/><line x1="0" y1="-4" x2="0" y2="0" stroke="#333"/>'
                 f'<line x1="{bar:.1f}" y1="-4" x2="{bar:.1f}" y2="0" stroke="#333"/>'
                 f'<text x="{bar + 4:.1f}" y="3" font-size="9">{label}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))


def order_map(order: WorkOrder, alert: Any, camera: Any, township: Any) -> Markup:
    lat = order.lat if order.lat is not None else getattr(alert, "lat", None)
    lon = order.lon if order.lon is not None else getattr(alert, "lon", None)
    m = MapInput(lat=lat, lon=lon, township_name=township.name if township else "",
                 township_geometry=township.geometry if township else None)
    if camera is not None:
        m.camera_label, m.camera_lat, m.camera_lon = camera.code, camera.lat, camera.lon
        pan = getattr(alert, "pan_deg", None)
        zoom = getattr(alert, "zoom", None)
        preset_no = getattr(alert, "preset_number", None)
        preset = next((p for p in camera.presets if p.number == preset_no), None) if preset_no else None
        if pan is None and preset is not None:
            pan, zoom = preset.pan_deg, preset.zoom
        if pan is not None:
            m.view_azimuth_deg = ptz.azimuth(camera.pan_zero_azimuth_deg or 0.0, pan)
            m.view_hfov_deg = ptz.fov_at_zoom(camera.fov_table, zoom or 1.0).hfov_deg
        elif lat is not None:
            m.view_azimuth_deg = ptz.bearing_deg(camera.lat, camera.lon, lat, lon)
    for p in order.participants:
        if p.arrive_lat is not None and p.arrive_lon is not None:
            m.extra_points.append((p.arrive_lon, p.arrive_lat))
    return map_svg(m)


# -- the context ------------------------------------------------------------
def order_context(order: WorkOrder) -> dict[str, Any]:
    """Everything the template prints, prepared once per order."""
    from webapp.gis import context_from_json
    from webapp.views import office_helpers as oh

    host = current_app.extensions["nrsc.plugins"]
    alert = order.alert
    camera = order.camera or (alert.camera if alert is not None else None)
    township = order.township or (alert.township if alert is not None else None)
    domain = host.domain(order.domain) if order.domain else None
    event_type = domain.event_type(order.event_type) if domain and order.event_type else None
    files = oh.files_of(order)
    office_ids = {i for p in order.participants for i in (p.office_ids or [])}
    offices = ({u.id: u.name for u in db.session.scalars(select(Unit).where(Unit.id.in_(office_ids)))}
               if office_ids else {})
    participants = [{
        "p": p, "unit": p.unit.full_name if p.unit else "",
        "offices": [offices[i] for i in (p.office_ids or []) if i in offices],
        "stages": oh.stages(p), "checkins": [photo(f) for f in files["checkins"].get(p.id, [])],
    } for p in order.participants]
    feedbacks = [{"f": f, "unit": f.participant.unit.full_name if f.participant and f.participant.unit else "",
                  "photos": [photo(r) for r in files["feedback"].get(f.id, [])]} for f in order.feedbacks]
    gis = context_from_json(alert.gis_context) if alert is not None and alert.gis_context else None
    return {
        "form_title": FORM_TITLE, "order": order, "alert": alert, "camera": camera,
        "township": township, "domain": domain, "event_type": event_type,
        "snapshots": [photo(r) for r in files["snapshots"]],
        "participants": participants, "feedbacks": feedbacks,
        "timeline": oh.timeline(order), "gis": gis,
        "gis_features": list(gis.features[:MAX_GIS_FEATURES]) if gis else [],
        "map_svg": order_map(order, alert, camera, township),
        "printed_at": clock.now(), "font_family": FONT_FAMILY,
    }


def render_order_html(order: WorkOrder) -> str:
    # The template recorded at dispatch, else the domain's, else the base
    # (a plugin removed since dispatch must not make the order unprintable).
    names = [order.template] if order.template else []
    names += [current_app.extensions["nrsc.plugins"].workorder_template(order.domain or ""), BASE_TEMPLATE]
    return render_template(names, **order_context(order))


# -- rendering --------------------------------------------------------------
class _Renderer:
    """One font configuration and one parsed print stylesheet, reused for
    every document this thread renders."""

    def __init__(self) -> None:
        from weasyprint import CSS
        from weasyprint.text.fonts import FontConfiguration
        from weasyprint.urls import URLFetcher

        self.font_config = FontConfiguration()
        self.fetcher = URLFetcher(allowed_protocols=("data",), timeout=1)
        self.stylesheet = CSS(filename=str(PRINT_CSS), font_config=self.font_config,
                              url_fetcher=self.fetcher)

    def document(self, html: str):
        from weasyprint import HTML
        return HTML(string=html, base_url="data:,", url_fetcher=self.fetcher).render(
            font_config=self.font_config, stylesheets=[self.stylesheet])


def _renderer() -> _Renderer:
    renderer = getattr(_local, "renderer", None)
    if renderer is None:
        renderer = _local.renderer = _Renderer()
    return renderer


def _in_request(fn, *args):
    # Outside a request (CLI, worker, benchmark) a bare request context gives
    # the templates' context processors what they read, and the default locale.
    if has_request_context():
        return fn(*args)
    with current_app.test_request_context("/"):
        return fn(*args)


def render_order_pdf(order: WorkOrder) -> bytes:
    """One work order as a PDF."""
    return render_orders_pdf([order])


def render_orders_pdf(orders: Iterable[WorkOrder] | Sequence[WorkOrder]) -> bytes:
    """Several work orders in one PDF, each starting on a new page."""
    renderer = _renderer()
    documents = [renderer.document(_in_request(render_order_html, order)) for order in orders]
    if not documents:
        raise ValueError("no work orders to print")
    pages = [page for document in documents for page in document.pages]
    return documents[0].copy(pages).write_pdf()
