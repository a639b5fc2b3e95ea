"""Benchmark: the handler's phone page at 360×740 in real chromium (Debian's).

One order dispatched and accepted (the page then shows the check-in form, the
site map and navigation links, and the folded forms), served over real HTTP
by werkzeug on a temporary SQLite database. Each run is a cold visit (new
browser context, empty cache), optionally over an emulated 4G link.

Printed, median of ``--runs``:
* bytes over the wire until interactive (every response as this server
  sends them: no compression) and a gzip estimate of
  the same responses (what nginx with gzip on would send), requests, the HTML
  alone; then the bytes once the site map is drawn (Leaflet is fetched when the
  map scrolls into view, after the page's load event);
* time to interactive: navigation start → the load event has ended (all
  deferred scripts ran: countdowns, geolocation, the forms' handlers) with
  the primary button there and enabled; DOMContentLoaded too (Navigation
  and Resource Timing in the page; bytes are transferSize, headers included);
* the page's height at 360 px and where the primary button is.

Baselines measured in the same run: the same page with every folded form
unfolded (the height the handler scrolled through before: five open forms),
and the phone's photo upload: a 20 MB, 6000×4000 camera JPEG, its bytes sent
after the in-browser compression against the original.
To compare with another tree (e.g. the commit before), run this script from
that tree: ``NRSC_BENCH_ROOT=/path/to/tree python benchmarks/phone_page.py``.

    .venv/bin/python benchmarks/phone_page.py [--runs 5] [--no-4g] [--screenshots DIR]
"""
from __future__ import annotations

import argparse
import gzip
import io
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(os.environ.get("NRSC_BENCH_ROOT") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import Unit, User  # noqa: E402
from webapp.platform import clock, dbtools  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "bench-password-1"
EVENT = (37.50, 106.22)
PHONE = {"width": 360, "height": 740}
# Chrome DevTools' "Fast 4G" preset-ish: 9 Mbit/s down, 1.5 Mbit/s up, 60 ms.
FOUR_G = {"offline": False, "latency": 60, "downloadThroughput": 9_000_000 / 8, "uploadThroughput": 1_500_000 / 8}


def setup(data_dir: Path):
    app = create_app({"NRSC_DATA_DIR": str(data_dir), "DATABASE_URL": f"sqlite:///{data_dir / 'bench.sqlite3'}",
                      "SECRET_KEY": "bench", "NRSC_TASKS_EAGER": True})
    from webapp.alerts import intake, review
    from webapp.demo.data import load_organisation
    from webapp.orders import planning, workflow
    from webapp.platform.security import hash_password

    with app.app_context():
        dbtools.upgrade()
        load_organisation()

        def user(role: str, unit_code: str, login: str) -> User:
            unit = db.session.query(Unit).filter_by(code=unit_code).one()
            u = User(login=login, display_name=login, role=role, unit=unit, password_hash=hash_password(PASSWORD))
            db.session.add(u)
            db.session.commit()
            return u
        duty = user("duty_officer", "duty", "bench-duty")
        handler = user("unit_handler", "forestry_grassland.resources_office", "bench-handler")
        snap = io.BytesIO()
        Image.new("RGB", (640, 480), (90, 60, 40)).save(snap, "JPEG")
        alert, _ = intake.ingest({"domain": "fire", "event_type": "fire", "source_event_id": "bench-phone-1",
                                  "occurred_at": (clock.now() - timedelta(minutes=2)).isoformat(),
                                  "lat": EVENT[0], "lon": EVENT[1], "text": "山林起火，烟雾较大"},
                                 [("snap.jpg", snap.getvalue())], source="bench")
        review.decide(alert, duty, verdict="confirmed")
        order = planning.dispatch(alert, actor=duty, data={})
        workflow.accept(order, actor=handler, participant_id=order.lead.id)
        return app, order.id, handler.login


def serve(app) -> tuple[str, callable]:
    from werkzeug.serving import make_server
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server.shutdown


def camera_photo(path: Path) -> Path:
    rng = np.random.default_rng(7)
    h, w = 4000, 6000
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    base = np.stack([np.broadcast_to(y, (h, w)), np.broadcast_to(x, (h, w)), np.broadcast_to((x + y) / 2, (h, w))], -1)
    pixels = np.clip(base + rng.normal(0, 40, (h, w, 3)).astype(np.float32), 0, 255).astype(np.uint8)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2026:11:29 09:41:07"
    exif.get_ifd(0x8825).update({1: "N", 2: (37.0, 30.0, 0.0), 3: "E", 4: (106.0, 13.0, 12.0)})
    Image.fromarray(pixels).save(path, "JPEG", quality=95, exif=exif)
    return path


def login(context, base: str, login_name: str) -> None:
    pg = context.new_page()
    pg.goto(base + "/login")
    pg.fill("input[name=login]", login_name)
    pg.fill("input[name=password]", PASSWORD)
    pg.click("button[type=submit]")
    pg.wait_for_load_state()
    pg.close()


def visit(browser, base: str, login_name: str, url: str, four_g: bool, unfold: bool,
          shot: Path | None = None, width: int = PHONE["width"]) -> dict:
    context = browser.new_context(viewport={"width": width, "height": PHONE["height"]}, is_mobile=width < 600,
                                  has_touch=width < 600, locale="zh-CN", permissions=["geolocation"],
                                  geolocation={"latitude": EVENT[0] + 0.0009, "longitude": EVENT[1]})
    try:
        login(context, base, login_name)   # the session cookie; the cache is dropped below
        pg = context.new_page()
        cdp = context.new_cdp_session(pg)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        if four_g:
            cdp.send("Network.emulateNetworkConditions", FOUR_G)
        responses = []
        pg.on("response", lambda r: responses.append(r))
        pg.goto(url, wait_until="load")
        pg.wait_for_function("() => performance.getEntriesByType('navigation')[0].loadEventEnd > 0")
        # Interactive: the load event has ended (deferred scripts ran) and the primary button can be pressed.
        assert pg.evaluate("() => { const b = document.querySelector('form button[type=submit].primary');"
                           " return !!b && !b.disabled; }")
        timing = """() => { const n = performance.getEntriesByType('navigation')[0];
            const rs = performance.getEntriesByType('resource');
            const early = rs.filter(r => r.responseEnd <= n.loadEventEnd);
            const sum = list => list.reduce((a, r) => a + r.transferSize, 0);
            return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd, html: n.encodedBodySize,
                    bytes: n.transferSize + sum(early), requests: 1 + early.length,
                    bytes_all: n.transferSize + sum(rs), early: [n.name].concat(early.map(r => r.name))}; }"""
        first = pg.evaluate(timing)
        # Then the site map, fetched once it scrolls into view (static/js/map-lazy.js).
        if pg.locator(".order-map").count():
            pg.locator(".order-map").first.scroll_into_view_if_needed()
            pg.wait_for_selector(".leaflet-container")
            pg.wait_for_load_state("networkidle")
            pg.evaluate("() => window.scrollTo(0, 0)")
        after = pg.evaluate(timing)
        bodies: dict[str, bytes] = {}
        for r in responses:
            try:
                bodies[r.url] = r.body()
            except Exception:  # noqa: BLE001 - a redirect or an aborted response has no body
                bodies[r.url] = b""
        if unfold:
            pg.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
        geometry = pg.evaluate("""() => {
            const b = document.querySelector('form button[type=submit].primary');
            return {height: document.scrollingElement.scrollHeight, width: document.scrollingElement.scrollWidth,
                    primary: b ? b.getBoundingClientRect().top + scrollY : -1}; }""")
        if shot:
            pg.screenshot(path=str(shot), full_page=True)
        early = set(first["early"])
        return {"bytes": first["bytes"], "requests": first["requests"], "html": first["html"],
                "gzip": sum(len(gzip.compress(b, 6)) for u, b in bodies.items() if u in early),
                "bytes_map": after["bytes_all"], "gzip_map": sum(len(gzip.compress(b, 6)) for b in bodies.values()),
                "dcl_ms": first["dcl"], "tti_ms": first["load"], **geometry}
    finally:
        context.close()


def upload(browser, base: str, login_name: str, url: str, photo: Path, four_g: bool) -> dict:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN",
                                  permissions=["geolocation"],
                                  geolocation={"latitude": EVENT[0] + 0.0009, "longitude": EVENT[1]})
    try:
        login(context, base, login_name)
        pg = context.new_page()
        pg.set_default_timeout(120_000)
        if four_g:
            cdp = context.new_cdp_session(pg)
            cdp.send("Network.enable")
            cdp.send("Network.emulateNetworkConditions", FOUR_G)
        sent: list[int] = []

        def measure(route):
            sent.append(len(route.request.post_data_buffer or b""))
            route.continue_()
        pg.route("**/arrive", measure)
        pg.goto(url)
        pg.wait_for_function("() => document.querySelector('form[action$=\"/arrive\"] [name=lat]').value !== ''")
        pg.set_input_files("form[action$='/arrive'] input[name=photo]", str(photo))
        t0 = time.perf_counter()
        pg.click("form[action$='/arrive'] button[type=submit]")
        pg.wait_for_selector("form[action$='/arrive']", state="detached")
        return {"sent": sent[0] if sent else 0, "seconds": time.perf_counter() - t0}
    finally:
        context.close()


def mb(n: float) -> str:
    return f"{n / 1048576:.2f} MB" if n >= 1048576 else f"{n / 1024:.1f} KB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-4g", action="store_true", help="no network emulation (loopback speed)")
    parser.add_argument("--no-photo", action="store_true", help="skip the 20 MB photo upload")
    parser.add_argument("--screenshots", type=Path, help="save the page at 360 and 1440 px here")
    args = parser.parse_args()
    four_g = not args.no_4g

    from playwright.sync_api import sync_playwright

    data_dir = Path(tempfile.mkdtemp(prefix="nrsc-bench-phone-"))
    app, order_id, handler = setup(data_dir)
    base, stop = serve(app)
    url = f"{base}/unit/orders/{order_id}"
    print(f"phone page {url} at {PHONE['width']}×{PHONE['height']}, "
          f"{'emulated 4G (9/1.5 Mbit/s, 60 ms)' if four_g else 'loopback'}, {args.runs} cold visits; tree {ROOT}")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
            visit(browser, base, handler, url, four_g, False)      # warm the server (templates, first queries)
            runs = [visit(browser, base, handler, url, four_g, False) for _ in range(args.runs)]
            unfolded = visit(browser, base, handler, url, four_g, True)
            if args.screenshots:
                args.screenshots.mkdir(parents=True, exist_ok=True)
                visit(browser, base, handler, url, False, False, args.screenshots / "phone-page-360.png")
                visit(browser, base, handler, url, False, True, args.screenshots / "phone-page-360-unfolded.png")
                visit(browser, base, handler, url, False, False, args.screenshots / "phone-page-1440.png", width=1440)
            photo_result = None
            if not args.no_photo:
                photo = camera_photo(data_dir / "IMG_camera.jpg")
                photo_result = (photo.stat().st_size, upload(browser, base, handler, url, photo, four_g))
            browser.close()
    finally:
        stop()

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)
    print(f"{'':34}{'median':>12}{'min':>12}{'max':>12}")
    for key, label, fmt in (("bytes", "bytes until interactive (as served)", mb),
                            ("gzip", "  gzip estimate (nginx gzip on)", mb),
                            ("html", "  the HTML alone", mb),
                            ("requests", "requests until interactive", lambda v: f"{v:.0f}"),
                            ("bytes_map", "bytes with the site map drawn", mb), ("gzip_map", "  gzip estimate", mb),
                            ("dcl_ms", "DOMContentLoaded", lambda v: f"{v:.0f} ms"),
                            ("tti_ms", "time to interactive", lambda v: f"{v:.0f} ms")):
        values = [r[key] for r in runs]
        print(f"{label:34}{fmt(statistics.median(values)):>12}{fmt(min(values)):>12}{fmt(max(values)):>12}")
    print(f"page height at 360 px: {med('height'):.0f} px (primary button at {med('primary'):.0f} px), "
          f"width {med('width'):.0f} px")
    print(f"baseline, every form unfolded: {unfolded['height']:.0f} px high "
          f"({unfolded['height'] / med('height'):.1f}× the folded page)")
    if photo_result:
        original, res = photo_result
        print(f"photo upload: original {mb(original)} → sent {mb(res['sent'])} "
              f"({res['sent'] / original:.1%}), compress + send + reload {res['seconds']:.1f} s"
              f"{' over 4G' if four_g else ''} (the original alone would take "
              f"{original / FOUR_G['uploadThroughput']:.0f} s at 1.5 Mbit/s)")


if __name__ == "__main__":
    main()
