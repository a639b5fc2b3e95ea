"""PDF work orders per second: one order at a time and a 100-order batch,
beside a baseline measured in the same run (a one-line WeasyPrint document
with the same CJK font), so the figures can be compared across machines.

    .venv/bin/python benchmarks/bench_pdf.py [--orders 100] [--reps 10]

Builds a throw-away SQLite database with the synthetic organisation and
orders that carry everything the form prints (snapshot, check-in and
feedback photos, participants with deadlines, timeline, GIS context).
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageDraw  # noqa: E402
from sqlalchemy import select  # noqa: E402

from webapp import create_app  # noqa: E402
from webapp.alerts import evidence
from webapp.demo.data import load_organisation  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import (  # noqa: E402
    Alert,
    Camera,
    Feedback,
    OrderParticipant,
    Township,
    Unit,
    WorkOrder,
)
from webapp.platform import audit, clock, dbtools
from webapp.printing import pdf

NOW = datetime(2026, 11, 19, 18, 13, tzinfo=timezone.utc)


def jpeg(seed: int) -> bytes:
    img = Image.new("RGB", (1280, 720), (40 + seed * 37 % 180, 90, 60 + seed * 11 % 150))
    ImageDraw.Draw(img).rectangle((400, 250, 700, 420), outline=(255, 255, 255), width=6)
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def build_orders(n: int) -> list[WorkOrder]:
    unit = {u.code: u for u in db.session.scalars(select(Unit))}
    town = db.session.scalar(select(Township).where(Township.code == "dahe"))
    camera = Camera(code="T-17", name="大河乡北山塔", kind="tower", lat=37.46, lon=106.19,
                    pan_zero_azimuth_deg=10, fov_table=[{"zoom": 1, "hfov_deg": 60, "vfov_deg": 34}])
    db.session.add(camera)
    db.session.flush()
    orders = []
    for i in range(n):
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
                                feedback_due_at=NOW + timedelta(hours=24), accepted_at=NOW, accept_on_time=True)
        coop = OrderParticipant(order_id=order.id, unit_id=unit["town.dahe"].id, role="cooperating",
                                accept_due_at=NOW + timedelta(minutes=10))
        db.session.add_all([lead, coop])
        db.session.flush()
        fb = Feedback(order_id=order.id, participant_id=lead.id, result="resolved", text="已扑灭，过火约2亩")
        db.session.add(fb)
        db.session.flush()
        # Distinct images per order, so the thumbnail cache does not flatter the figures.
        evidence.store_image(jpeg(3 * i), "snapshot.jpg", alert_id=alert.id)
        evidence.store_image(jpeg(3 * i + 1), "checkin.jpg", kind="checkin", order_id=order.id,
                             participant_id=lead.id)
        evidence.store_image(jpeg(3 * i + 2), "feedback.jpg", kind="feedback", order_id=order.id,
                             participant_id=lead.id, feedback_id=fb.id)
        for action in ("dispatch", "accept", "arrive", "feedback"):
            audit.record(action, "work_order", order.id, actor_label="bench")
        orders.append(order)
    db.session.commit()
    return orders


def timed(fn, reps: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds per run: CPU time is the steadier figure on a
    shared machine, wall time what a user waits."""
    out = []
    for _ in range(reps):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        out.append((time.perf_counter() - wall, time.process_time() - cpu))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100, help="orders in the batch")
    parser.add_argument("--reps", type=int, default=10, help="repetitions of the single-order case")
    args = parser.parse_args()
    clock.set_clock(clock.FrozenClock(NOW))
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"NRSC_DATA_DIR": folder, "SECRET_KEY": "bench", "NRSC_TASKS_EAGER": True})
        with app.app_context():
            dbtools.upgrade()
            load_organisation()
            orders = build_orders(args.orders)
            from weasyprint import HTML
            renderer = pdf._renderer()

            def baseline():
                HTML(string='<p style="font-family: \'Noto Sans CJK SC\'">预警信息处置办理工单</p>').write_pdf(
                    font_config=renderer.font_config)

            pdf.render_order_pdf(orders[0])  # warm up fonts and templates
            rows = []
            t = timed(baseline, args.reps)
            rows.append(("baseline: one-line document", args.reps, t, 1))
            t = timed(lambda: pdf.render_order_pdf(orders[1 % len(orders)]), args.reps)
            rows.append(("single work order", args.reps, t, 1))
            pages = {}

            def batch():
                pages["n"] = len(pdf.render_orders_pdf(orders))
            t = timed(batch, 1)
            rows.append((f"batch of {len(orders)} orders (one PDF, {pages['n'] // 1024} KiB)", 1, t, len(orders)))

    print(f"{'case':48} {'runs':>4} {'wall s':>8} {'CPU s':>8} {'docs/s wall':>11} {'docs/s CPU':>10}")
    medians = []
    for name, runs, times, per_run in rows:
        wall = statistics.median(t[0] for t in times)
        cpu = statistics.median(t[1] for t in times)
        medians.append(cpu)
        print(f"{name:48} {runs:>4} {wall:>8.3f} {cpu:>8.3f} {per_run / wall:>11.2f} {per_run / cpu:>10.2f}")
    print(f"CPU time: a single order costs {medians[1] / medians[0]:.1f}x the baseline document; "
          f"in the batch {medians[2] / len(orders):.3f} s per order")


if __name__ == "__main__":
    main()
