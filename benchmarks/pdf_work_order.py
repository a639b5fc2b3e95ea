"""PDF work orders as a user meets them, over HTTP (Flask test client):

* the first PDF of an order with four 12-megapixel phone photos and a
  2,000-character feedback, made after the server has warmed up (target
  <= 0.5 s), and the same PDF again from the cache (target <= 20 ms);
* a 100-order batch as a background job, from the POST to the finished ZIP
  (target <= 15 s);

each beside a baseline measured in the same run: the old path, which decoded
the original photos at print time (no print-size copies, no cache) and printed
batches synchronously in one request. The same order is also laid out alone,
alternately as before the reduced font (the full Noto Sans CJK SC, the garbage
collector running) and as now (the reduced font built at set-up,
webapp/printing/fonts.py, and the collector paused while rendering).
``--baseline`` runs everything as before the reduced font, for a before/after
of the whole benchmark (the batch included).

    .venv/bin/python benchmarks/pdf_work_order.py [--orders 100] [--reps 5] [--baseline]
"""
from __future__ import annotations

import argparse
import base64
import io
import os
import statistics
import sys
import tempfile
import time
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from sqlalchemy import select  # noqa: E402

from webapp import create_app  # noqa: E402
from webapp.alerts import evidence  # noqa: E402
from webapp.demo.data import load_organisation  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import (  # noqa: E402
    Alert,
    Camera,
    EvidenceFile,
    Feedback,
    OrderParticipant,
    PrintJob,
    Township,
    Unit,
    User,
    WorkOrder,
)
from webapp.platform import audit, clock, dbtools  # noqa: E402
from webapp.platform.security import hash_password  # noqa: E402
from webapp.printing import fonts, pdf  # noqa: E402

NOW = datetime(2026, 11, 19, 18, 13, tzinfo=timezone.utc)
PASSWORD = "bench-password-1"
FEEDBACK = ("现场核查：火点位于北山坡天然草地，已组织扑救，明火于十七时二十分扑灭，过火面积约两亩，"
            "无人员伤亡，起火原因为村民烧荒引燃，已责令当事人停止违法行为并移交森林公安调查处理。") * 30


def phone_photo(seed: int) -> bytes:
    """A 12-megapixel (4000 x 3000) JPEG with texture, about as heavy as a phone's."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:3000, 0:4000]
    base = np.stack([(x / 16 + seed * 40) % 256, (y / 12) % 256, ((x + y) / 28) % 256], axis=-1)
    noise = rng.normal(0, 18, (3000, 4000, 1))
    img = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


def small_photo(seed: int) -> bytes:
    img = Image.new("RGB", (1280, 720), (40 + seed * 37 % 180, 90, 60 + seed * 11 % 150))
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def make_orders(n: int, first: int = 0) -> list[WorkOrder]:
    unit = {u.code: u for u in db.session.scalars(select(Unit))}
    town = db.session.scalar(select(Township).where(Township.code == "dahe"))
    camera = db.session.scalar(select(Camera).where(Camera.code == "T-17"))
    if camera is None:
        camera = Camera(code="T-17", name="大河乡北山塔", kind="tower", lat=37.46, lon=106.19,
                        pan_zero_azimuth_deg=10, fov_table=[{"zoom": 1, "hfov_deg": 60, "vfov_deg": 34}])
        db.session.add(camera)
        db.session.flush()
    orders = []
    for i in range(first, first + n):
        alert = Alert(domain="fire", event_type="fire", status="confirmed", source="bench",
                      source_event_id=f"b{i}", occurred_at=NOW, lat=37.49, lon=106.23 + i * 1e-4,
                      camera_id=camera.id, pan_deg=30, zoom=2, township_id=town.id,
                      gis_context={"township_code": "dahe", "township_name": town.name, "features": [
                          {"layer": "forest_grassland", "code": "LC-1", "name": "北山天然草地",
                           "inside": True, "distance_m": 0}]})
        db.session.add(alert)
        db.session.flush()
        order = WorkOrder(number=f"HSB-2026-{i + 1:06d}", alert_id=alert.id, camera_id=camera.id,
                          domain="fire", event_type="fire", title="大河乡 草原火情", state="to_review",
                          township_id=town.id, lat=alert.lat, lon=alert.lon, dispatched_at=NOW)
        db.session.add(order)
        db.session.flush()
        lead = OrderParticipant(order_id=order.id, unit_id=unit["forestry_grassland"].id, role="lead",
                                office_ids=[unit["forestry_grassland.resources_office"].id], state="in_progress",
                                accept_due_at=NOW + timedelta(minutes=10), arrive_due_at=NOW + timedelta(hours=1),
                                feedback_due_at=NOW + timedelta(hours=24), accepted_at=NOW, accept_on_time=True,
                                arrive_lat=37.4905, arrive_lon=106.2305, arrive_distance_m=70)
        db.session.add(lead)
        db.session.flush()
        evidence.store_image(small_photo(i), "snapshot.jpg", alert_id=alert.id)
        for action in ("dispatch", "accept", "arrive"):
            audit.record(action, "work_order", order.id, actor_label="bench")
        orders.append(order)
    db.session.commit()
    return orders


def add_phone_feedback(order: WorkOrder, seed: int) -> float:
    """Four 12 MP photos and a 2,000-character feedback; returns the seconds
    the upload spent storing the photos (print-size copies included)."""
    lead = order.participants[0]
    fb = Feedback(order_id=order.id, participant_id=lead.id, result="resolved", text=FEEDBACK[:2000])
    db.session.add(fb)
    db.session.flush()
    photos = [phone_photo(seed * 4 + k) for k in range(4)]
    started = time.perf_counter()
    for k, data in enumerate(photos):
        evidence.store_image(data, f"IMG_{seed}_{k}.jpg", kind="feedback", order_id=order.id,
                             participant_id=lead.id, feedback_id=fb.id)
    took = time.perf_counter() - started
    audit.record("feedback", "work_order", order.id, actor_label="bench")
    db.session.commit()
    return took


def old_photo(row: EvidenceFile) -> pdf.Photo:
    """The baseline: the original decoded and shrunk at print time (as before
    print-size copies), every time the PDF is made."""
    path = evidence.files_root() / row.path
    with Image.open(path) as img:
        img.thumbnail((900, 900))
        buffer = io.BytesIO()
        img.convert("RGB").save(buffer, "JPEG", quality=80)
    return pdf.Photo("data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode(),
                     row.original_name or row.kind)


CPU: dict[str, list[float]] = {}


def timed(fn, case: str = "") -> float:
    """Wall seconds; the CPU seconds of this process go to CPU[case] (work
    done in print processes is not counted there)."""
    started, cpu = time.perf_counter(), time.process_time()
    fn()
    CPU.setdefault(case, []).append(time.process_time() - cpu)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100, help="orders in the batch")
    parser.add_argument("--reps", type=int, default=5, help="orders measured for the first-PDF case")
    parser.add_argument("--baseline", action="store_true",
                        help="as before the reduced font: full Noto CJK, garbage collector not paused")
    args = parser.parse_args()
    started = time.perf_counter()
    reduced = fonts.ensure_reduced_fonts()  # once (about a minute); then a few stats
    if reduced is None:
        sys.exit("Noto Sans CJK SC is not installed (scripts/setup installs fonts-noto-cjk)")
    print(f"reduced fonts in {reduced['regular'].parent} ({time.perf_counter() - started:.1f} s to check or build)")
    clock.set_clock(clock.FrozenClock(NOW))
    rows: list[tuple[str, list[float], str]] = []
    with tempfile.TemporaryDirectory() as folder:
        no_fonts = str(Path(folder) / "no-fonts")  # an empty folder: the full system font
        before = {"NRSC_PDF_FONT_DIR": no_fonts, "NRSC_PDF_GC_PAUSE": False}
        now = {"NRSC_PDF_FONT_DIR": str(reduced["regular"].parent), "NRSC_PDF_GC_PAUSE": True}
        app = create_app({"NRSC_DATA_DIR": folder, "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
                          "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False, "NRSC_TASKS_EAGER": False,
                          "NRSC_PDF_BATCH_MAX": max(200, args.orders), **(before if args.baseline else now)})
        with app.app_context():
            dbtools.upgrade()
            load_organisation()
            db.session.add(User(login="office01", display_name="办公室", role="office_staff",
                                password_hash=hash_password(PASSWORD)))
            db.session.commit()
            heavy = make_orders(2 * args.reps + 1)
            make_orders(args.orders, first=1000)
            make_orders(10, first=5000)  # the warm-up batch
            uploads = [add_phone_feedback(o, i) for i, o in enumerate(heavy)]
            heavy_ids = [o.id for o in heavy]
            db.session.remove()

        client = app.test_client()
        assert client.post("/login", data={"login": "office01", "password": PASSWORD}).status_code == 302

        def get_pdf(order_id: int) -> bytes:
            resp = client.get(f"/orders/{order_id}/pdf")
            assert resp.status_code == 200 and resp.data.startswith(b"%PDF-"), resp.status_code
            return resp.data

        get_pdf(heavy_ids[0])  # warm-up: fonts, templates, the GIS index
        new_ids, old_ids = heavy_ids[1:1 + args.reps], heavy_ids[1 + args.reps:]

        # Baseline first PDFs: originals decoded at print time, no cache.
        with app.app_context():
            new_photo, pdf.photo = pdf.photo, old_photo
            try:
                old_first = []
                for oid in old_ids:
                    with app.test_request_context("/"):
                        order = db.session.get(WorkOrder, oid)
                        old_first.append(timed(lambda: pdf.render_order_pdf(order), "old"))
            finally:
                pdf.photo = new_photo
            db.session.remove()
        rows.append(("baseline: first PDF, originals decoded at print", old_first, "no cache"))
        first = [timed(lambda: get_pdf(oid), "first") for oid in new_ids]
        rows.append(("first PDF (4 x 12 MP photos, 2,000 chars)", first, "target <= 0.5 s"))
        cached = [timed(lambda: get_pdf(oid), "cached") for oid in new_ids for _ in range(3)]
        rows.append(("same PDF again, from the cache", cached, "target <= 20 ms"))
        rows.append(("upload: storing 4 photos + print copies", uploads, "once, at upload"))

        # The same orders laid out alone (no cache, no HTTP), alternately as
        # before the reduced font and as now, so that both meet the same load.
        with app.app_context():
            with app.test_request_context("/"):
                saved = {k: app.config[k] for k in now}
                layout: dict[str, list[float]] = {"before": [], "now": []}
                try:
                    for settings in (before, now):  # each sets up its fonts once
                        app.config.update(settings)
                        pdf.render_order_pdf(db.session.get(WorkOrder, heavy_ids[0]))
                    for oid in new_ids:
                        order = db.session.get(WorkOrder, oid)
                        for label, settings in (("before", before), ("now", now)):
                            app.config.update(settings)
                            layout[label].append(timed(lambda o=order: pdf.render_order_pdf(o), f"render {label}"))
                finally:
                    app.config.update(saved)
            db.session.remove()
        rows.append(("render only, before: full Noto CJK, GC running", layout["before"], "same run, alternating"))
        rows.append(("render only, now: reduced font, GC paused", layout["now"], ""))

        # Batch: old synchronous one-request print vs. the background job.
        with app.app_context():
            with app.test_request_context("/"):
                orders = db.session.scalars(select(WorkOrder).where(WorkOrder.number >= "HSB-2026-001001")).all()
                old_batch = timed(lambda: pdf.render_orders_pdf(orders), "old batch")
            db.session.remove()
        rows.append((f"baseline: {args.orders} orders in one request (sync)", [old_batch], "blocks a web worker"))

        def batch_job(q: str = "HSB-2026-001", expected: int = args.orders) -> None:
            resp = client.post("/orders/pdf/batch", data={"state": "all", "q": q})
            assert resp.status_code == 302, resp.status_code
            job_id = int(resp.headers["Location"].rstrip("/").split("/")[-1])
            while True:
                with app.app_context():
                    job = db.session.get(PrintJob, job_id)
                    state, total = job.state, job.total
                    db.session.remove()
                if state in ("done", "failed"):
                    break
                client.get(f"/print-jobs/{job_id}", headers={"HX-Request": "true"})  # what the page polls
                time.sleep(0.2)
            assert state == "done" and total == expected, (state, total)
            download = client.get(f"/print-jobs/{job_id}/download")
            assert download.status_code == 200 and download.data[:2] == b"PK"
            with zipfile.ZipFile(io.BytesIO(download.data)) as archive:
                names = archive.namelist()
                assert len(names) == expected and all(archive.read(n)[:5] == b"%PDF-" for n in names)
        # Warm-up: the worker's print processes start with its first batch.
        rows.append(("warm-up batch job: 10 other orders", [timed(lambda: batch_job("HSB-2026-005", 10))],
                     "starts the print processes"))
        rows.append((f"batch job: {args.orders} orders -> ZIP (first time)", [timed(batch_job)], "target <= 15 s"))
        rows.append((f"batch job: {args.orders} orders again (cached)", [timed(batch_job)], ""))

    print(f"{os.cpu_count()} cores; load average at the end {os.getloadavg()[0]:.1f} "
          f"(a busy machine stretches every wall time)")
    print(f"{'case':52} {'runs':>4} {'median s':>9} {'max s':>8}  note")
    for name, times, note in rows:
        print(f"{name:52} {len(times):>4} {statistics.median(times):>9.3f} {max(times):>8.3f}  {note}")
    print(("BASELINE RUN (--baseline): full Noto CJK font, garbage collector not paused\n" if args.baseline else "")
          + f"first PDF: {statistics.median(old_first) / statistics.median(first):.1f}x faster than the baseline; "
          f"cached: {statistics.median(cached) * 1000:.1f} ms; render only: "
          f"{statistics.median(layout['before']) / statistics.median(layout['now']):.2f}x faster than before "
          "the reduced font")
    print("CPU seconds of this process (median): " + "; ".join(
        f"{case} {statistics.median(values):.3f}" for case, values in CPU.items() if case))


if __name__ == "__main__":
    main()
