"""PDF work orders 预警信息处置办理工单 (seed attachment 2) with WeasyPrint.

Each order renders through its domain plugin's template, which extends
``orders/pdf/base.html`` and fills ``{% block domain_details %}``. Images are
embedded as data URIs (print-size copies, never the originals) and the fetcher
refuses every other URL, so a template can never make the renderer read a
local file or call the network. :func:`cached_order_pdf` keeps each order's
PDF on disk per version of the order (any change to it, its participants,
feedback, files or history, or a deadline passing, makes a new one).
"""
from __future__ import annotations

import atexit
import gc
import hashlib
import json
import os
import re
import threading
import uuid
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Sequence

from flask import current_app, has_request_context, render_template
from flask_babel import get_locale
from sqlalchemy import func, or_, select

from webapp.extensions import db
from webapp.gis import maps
from webapp.gis.context import context_from_json
from webapp.models import AuditEvent, EvidenceFile, Unit, WorkOrder
from webapp.orders import queries as oh
from webapp.platform import clock, imaging
from webapp.platform.tasks import get_runner
from webapp.printing import fonts

FORM_TITLE = "预警信息处置办理工单"  # the form's official name (seed attachment 2)
PRINT_CSS = Path(__file__).resolve().parents[1] / "static" / "css" / "print.css"
# The reduced font built at set-up (webapp/printing/fonts.py) first, the full
# system font for any character it lacks (print.css and the map name both).
FONT_FAMILY = f"{fonts.FAMILY}, Noto Sans CJK SC"
BASE_TEMPLATE = "orders/pdf/base.html"
MAX_GIS_FEATURES = 12
_local = threading.local()


# -- images -----------------------------------------------------------------
# Photos reach the renderer as ``nrsc-print:<sha256>`` URLs that the fetcher
# answers with the print-size copy's file: no megabytes of base64 in the HTML
# to parse, and still no other file or network access for a template.
PRINT_SCHEME = "nrsc-print"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _files_root() -> Path:
    return (Path(current_app.config["NRSC_DATA_DIR"]) / "files").resolve()


def print_copy_file(url: str) -> Path | None:
    """The print copy a ``nrsc-print:`` URL names, if it exists."""
    sha = url.removeprefix(PRINT_SCHEME + ":")
    if not _SHA256.fullmatch(sha):
        return None
    path = imaging.print_copy_path(_files_root(), sha)
    return path if path.is_file() else None


@dataclass
class Photo:
    uri: str | None
    caption: str


def photo(row: EvidenceFile) -> Photo:
    """The photo's print-size copy (webapp/platform/imaging.py), made once
    if the photo was stored before copies existed; never the original."""
    root = _files_root()
    caption = row.original_name or row.kind
    original = (root / row.path).resolve()
    if not original.is_relative_to(root) or not original.is_file():
        return Photo(None, caption)
    if imaging.ensure_print_copy(root, row.sha256, original) is None:
        return Photo(None, caption)
    return Photo(f"{PRINT_SCHEME}:{row.sha256}", caption)


# -- the context ------------------------------------------------------------
def order_context(order: WorkOrder) -> dict[str, Any]:
    """Everything the template prints, prepared once per order."""

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
        "map_svg": maps.svg(maps.order_payload(order)),
        "printed_at": clock.now(), "font_family": FONT_FAMILY,
    }


def render_order_html(order: WorkOrder) -> str:
    # The template recorded at dispatch, else the domain's, else the base
    # (a plugin removed since dispatch must not make the order unprintable).
    names = [order.template] if order.template else []
    names += [current_app.extensions["nrsc.plugins"].workorder_template(order.domain or ""), BASE_TEMPLATE]
    return render_template(names, **order_context(order))


# -- rendering --------------------------------------------------------------
FONT_SCHEME = "nrsc-font"


class _Renderer:
    """One font configuration and one parsed print stylesheet, reused for
    every document this thread renders, with the reduced fonts when set-up
    built them."""

    def __init__(self, reduced: dict[str, Path] | None) -> None:
        from weasyprint import CSS
        from weasyprint.text.fonts import FontConfiguration
        from weasyprint.urls import URLFetcher, URLFetcherResponse

        class Fetcher(URLFetcher):
            def fetch(self, url, headers=None):
                if url.startswith(PRINT_SCHEME + ":"):
                    path = print_copy_file(url)
                    if path is None:
                        raise ValueError(f"no print copy {url}")
                    return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": "image/jpeg"})
                if reduced and url.startswith(FONT_SCHEME + ":") and url[len(FONT_SCHEME) + 1:] in reduced:
                    return URLFetcherResponse(url, reduced[url[len(FONT_SCHEME) + 1:]].read_bytes(),
                                              {"Content-Type": "font/otf"})
                return super().fetch(url, headers)

        self.font_config = FontConfiguration()
        self.fetcher = Fetcher(allowed_protocols=("data",), timeout=1)
        self.stylesheets = []
        if reduced and not _add_font_files(self.font_config, reduced.values()):
            faces = "".join(
                f'@font-face {{ font-family: "{fonts.FAMILY}"; font-weight: {fonts.WEIGHTS[weight][0]}; '
                f'src: url("{FONT_SCHEME}:{weight}"); }}\n' for weight in reduced)
            self.stylesheets.append(CSS(string=faces, font_config=self.font_config, url_fetcher=self.fetcher))
        self.stylesheets.append(CSS(filename=str(PRINT_CSS), font_config=self.font_config,
                                    url_fetcher=self.fetcher))

    def document(self, html: str):
        from weasyprint import HTML
        return HTML(string=html, base_url="data:,", url_fetcher=self.fetcher).render(
            font_config=self.font_config, stylesheets=self.stylesheets)


def _add_font_files(font_config, paths) -> bool:
    """Register font files with a WeasyPrint font configuration where they lie.
    ``@font-face`` (the fallback, when WeasyPrint's internals differ) copies each
    font into a temporary folder per configuration: 7 MB per rendering thread."""
    try:
        from weasyprint.text.ffi import ffi, fontconfig, pangoft2
        config, font_map = font_config._config, font_config.font_map
        for path in paths:
            if not fontconfig.FcConfigAppFontAddFile(config, os.fsencode(path)):
                return False
        pangoft2.pango_fc_font_map_config_changed(ffi.cast("PangoFcFontMap *", font_map))
    except (ImportError, AttributeError):
        return False
    return True


_all_renderers: list[_Renderer] = []


@atexit.register
def _remove_font_folders() -> None:
    # WeasyPrint copies @font-face fonts into a temporary folder that its font
    # configuration removes when collected; at interpreter exit that comes too
    # late (modules torn down), so remove the folders here.
    import shutil
    for renderer in _all_renderers:
        folder, renderer.font_config._folder = getattr(renderer.font_config, "_folder", None), None
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


def _renderer() -> _Renderer:
    # One per thread and per set of reduced fonts (present or not).
    reduced = fonts.reduced_fonts(current_app.config.get("NRSC_PDF_FONT_DIR") or fonts.pdf_font_dir())
    key = tuple(sorted((w, str(p)) for w, p in reduced.items())) if reduced else ()
    renderers = getattr(_local, "renderers", None)
    if renderers is None:
        renderers = _local.renderers = {}
    if key not in renderers:
        renderers[key] = _Renderer(reduced)
        _all_renderers.append(renderers[key])
    return renderers[key]


_gc_lock = threading.Lock()
_gc_state = {"holders": 0, "was_enabled": True}


@contextmanager
def _gc_paused():
    """No cyclic garbage collection while PDFs are laid out and written: a
    render allocates hundreds of thousands of objects, and the full collections
    they set off walk the whole application's heap each time (about a quarter
    of a render's time). What the render leaves is collected after it. Shared
    by the threads rendering at the same time; the last one out re-enables
    the collector (unless it was off before the first came in)."""
    with _gc_lock:
        if _gc_state["holders"] == 0:
            _gc_state["was_enabled"] = gc.isenabled()
            gc.disable()
        _gc_state["holders"] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_state["holders"] -= 1
            if _gc_state["holders"] == 0 and _gc_state["was_enabled"]:
                gc.enable()


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
    with _gc_paused() if current_app.config.get("NRSC_PDF_GC_PAUSE", True) else nullcontext():
        documents = [renderer.document(_in_request(render_order_html, order)) for order in orders]
        if not documents:
            raise ValueError("no work orders to print")
        pages = [page for document in documents for page in document.pages]
        return documents[0].copy(pages).write_pdf()


# -- the cache ----------------------------------------------------------------
CACHE_FORMAT = 3  # bump when the printed form changes


def _row_values(row: Any, now: Any) -> list[Any]:
    values = []
    for column in row.__table__.columns:
        value = getattr(row, column.key)
        # A deadline passing changes what the form prints (on time / overdue).
        values.append([value.isoformat(), value <= now]
                      if isinstance(value, datetime) and value.tzinfo else value)
    return values


def cache_key(order: WorkOrder) -> str:
    """A digest of everything the order's PDF prints."""
    now = clock.now()
    rows: list[Any] = [order, *order.participants, *order.feedbacks, *order.extensions]
    rows += [r for r in (order.alert, order.camera, order.township) if r is not None]
    rows += [p.unit for p in order.participants if p.unit is not None]
    files = db.session.execute(select(func.count(EvidenceFile.id), func.max(EvidenceFile.id)).where(or_(
        EvidenceFile.order_id == order.id,
        EvidenceFile.alert_id == order.alert_id if order.alert_id else False))).one()
    clauses = [(AuditEvent.entity_type.in_(("work_order", "order"))) & (AuditEvent.entity_id == order.id)]
    if order.alert_id:
        clauses.append((AuditEvent.entity_type == "alert") & (AuditEvent.entity_id == order.alert_id))
    history = db.session.scalar(select(func.max(AuditEvent.id)).where(or_(*clauses)))
    try:
        stat = PRINT_CSS.stat().st_mtime_ns
    except OSError:
        stat = 0
    parts = [CACHE_FORMAT, stat, str(get_locale() if has_request_context() else ""),
             [[type(r).__name__, _row_values(r, now)] for r in rows], list(files), history]
    return hashlib.sha256(json.dumps(parts, default=str, ensure_ascii=False).encode()).hexdigest()[:32]


def _cache_dir(order_id: int) -> Path:
    return Path(current_app.config["NRSC_DATA_DIR"]) / "cache" / "pdf" / str(order_id)


def _cache_path(order: WorkOrder) -> Path:
    return _cache_dir(order.id) / f"{_in_request(cache_key, order)}.pdf"


def cached_pdf_if_any(order: WorkOrder) -> bytes | None:
    """The order's PDF if this version of it was made already."""
    try:
        return _cache_path(order).read_bytes()
    except FileNotFoundError:
        return None


def cached_order_pdf(order: WorkOrder) -> tuple[bytes, bool]:
    """The order's PDF and whether it came from the cache. A new version
    replaces the order's older files."""
    path = _cache_path(order)
    try:
        return path.read_bytes(), True
    except FileNotFoundError:
        pass
    data = render_order_pdf(order)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{path.stem}.{uuid.uuid4().hex}.tmp"
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    for old in folder.glob("*.pdf"):
        if old.name != path.name:
            old.unlink(missing_ok=True)
    return data, False


# -- made ahead ---------------------------------------------------------------------
PRERENDER_JOB = "print_prerender"


def prerender_later(order: WorkOrder) -> None:
    """Have the worker make the order's PDF now (a closed order: the office
    prints it next), unless NRSC_PDF_PRERENDER is off. The caller has committed."""
    if current_app.config.get("NRSC_PDF_PRERENDER", True):
        get_runner().submit(PRERENDER_JOB, order_id=order.id)


def prerender(order_id: int) -> bool:
    """The worker's part: put this version of the order's PDF in the cache.
    Whether it was made now (False: cached already, or the order is gone)."""
    order = db.session.get(WorkOrder, order_id)
    if order is None:
        return False
    return not cached_order_pdf(order)[1]
