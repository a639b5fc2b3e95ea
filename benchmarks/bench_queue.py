"""Benchmark: the duty console's queue page with 100,000 alerts (SQLite).

For each console view it prints p50/p95 of the whole page (logged in,
template rendered), measured in-process through the Flask test client and over
real HTTP from gunicorn as ``nrsc web`` runs it, beside a baseline measured in
the same run: the bare SQL of the same page (the same rows, no ORM, no
template). The gap is what the page adds; the baseline shows the indexes work.

    .venv/bin/python benchmarks/bench_queue.py [--alerts 100000] [--runs 60] [--drop-indexes]

``--drop-indexes`` drops the console's indexes (migration 0003) first, to see
what they buy.
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select, text  # noqa: E402

from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import Alert, Camera, Township, User  # noqa: E402
from webapp.platform import clock, dbtools  # noqa: E402
from webapp.platform.security import hash_password  # noqa: E402

NOW = datetime(2026, 11, 19, 18, 13, tzinfo=timezone.utc)
CONSOLE_INDEXES = ("ix_alerts_created_at", "ix_alerts_status_review_due", "ix_alerts_domain_created",
                   "ix_alerts_domain_status", "ix_alerts_township_status", "ix_alerts_camera_status",
                   "ix_alerts_source_status",
                   "ix_alerts_camera_created", "ix_alerts_source_created")
DOMAINS = {"fire": ("fire", 5), "geohazard": ("landslide", 5), "safety": ("hot_work", 15),
           "ecology": ("straw_burning", 15), "farmland": ("farmland_damage", 30),
           "mining": ("excavator", 30), "grazing": ("grazing", 30)}
PASSWORD = "bench-password-1"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def fill(n: int, seed: int = 7) -> None:
    """n alerts over a year; about 0.3 % still open, like a working duty room."""
    rng = random.Random(seed)
    towns = db.session.scalars(select(Township.id)).all()
    cams = []
    for k in range(38):
        cam = Camera(code=f"T-{k:02d}", name=f"塔{k}", kind="tower" if k < 31 else "checkpoint",
                     lat=37.3, lon=106.2)
        db.session.add(cam)
        cams.append(cam)
    db.session.flush()
    cam_ids = [c.id for c in cams]
    sources = ["box1", "box2", "nvr-a", "frigate", "manual"]
    codes = list(DOMAINS)
    rows = []
    for i in range(n):
        created = NOW - timedelta(seconds=rng.uniform(0, 365 * 86400))
        domain = rng.choice(codes)
        event_type, review_min = DOMAINS[domain]
        roll = rng.random()
        status = ("new" if roll < 0.002 else "under_review" if roll < 0.003 else
                  "false_alarm" if roll < 0.6 else "duplicate" if roll < 0.7 else "confirmed")
        source = rng.choice(sources)
        rows.append({
            "domain": domain, "event_type": event_type, "status": status, "source": source,
            "source_event_id": f"e{i}", "manual": source == "manual", "occurred_at": created,
            "created_at": created, "last_seen_at": created, "occurrences": 1,
            "lat": 37.3 + rng.uniform(-0.2, 0.2), "lon": 106.2 + rng.uniform(-0.3, 0.3),
            "location_estimated": False, "camera_id": rng.choice(cam_ids), "boxes": [],
            "township_id": rng.choice(towns), "gis_context": {}, "prejudgement_reasons": [],
            "review_due_at": created + timedelta(minutes=review_min), "review_overdue": False,
            "version": 1,
        })
        if len(rows) == 5000:
            db.session.execute(insert(Alert), rows)
            rows = []
    if rows:
        db.session.execute(insert(Alert), rows)
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()


def bench_config(data_dir: str) -> dict:
    return {"NRSC_DATA_DIR": data_dir, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False,
            "NRSC_TASKS_EAGER": True}


def gunicorn_app():
    """Built in each gunicorn worker: the same app, the same frozen clock."""
    clock.set_clock(lambda: NOW)
    return create_app(bench_config(os.environ["BENCH_DATA_DIR"]))


def serve_gunicorn(data_dir: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from webapp.config import load_config\n"
            "from webapp.platform.web import WebServer, gunicorn_options\n"
            "cfg = load_config({'NRSC_DATA_DIR': %r})\n"
            "WebServer('bench_queue:gunicorn_app()', gunicorn_options(cfg, '127.0.0.1', %d)).run()\n") % (
        str(Path(__file__).resolve().parent), str(data_dir / "gunicorn"), port)
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "BENCH_DATA_DIR": str(data_dir)})
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.2)

    def stop():
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return f"http://127.0.0.1:{port}", stop


def timed(fn, runs: int) -> list[float]:
    fn()  # warm caches once
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--drop-indexes", action="store_true")
    args = parser.parse_args()

    clock.set_clock(lambda: NOW)
    data_dir = Path(tempfile.mkdtemp(prefix="nrsc-bench-"))
    app = create_app(bench_config(str(data_dir)))
    from webapp.demo.data import load_organisation

    with app.app_context():
        dbtools.upgrade()
        load_organisation()
        db.session.add(User(login="bench", display_name="值守员", role="duty_officer",
                            password_hash=hash_password(PASSWORD)))
        db.session.commit()
        t0 = time.perf_counter()
        fill(args.alerts)
        print(f"filled {args.alerts} alerts in {time.perf_counter() - t0:.1f}s ({data_dir})")
        if args.drop_indexes:
            for name in CONSOLE_INDEXES:
                db.session.execute(text(f"DROP INDEX IF EXISTS {name}"))
            db.session.commit()
            print("console indexes dropped")
        town = db.session.scalar(select(Township.id).order_by(Township.id))
        cam = db.session.scalar(select(Camera.id).order_by(Camera.id))

    # Timed outside any app context: each request pushes its own, as in a
    # real server, so nothing is cached from one request to the next.
    client = app.test_client()
    resp = client.post("/login", data={"login": "bench", "password": PASSWORD})
    assert resp.status_code == 302, resp.status_code
    views = {
        "open (default)": {},
        "all, newest first": {"status": "all"},
        "fire, all": {"domain": "fire", "status": "all"},
        "township, all": {"township": str(town), "status": "all"},
        "camera, all": {"camera": str(cam), "status": "all"},
        "manual, last 7 days": {"source": "manual", "since": "7d", "status": "all"},
        "false alarms, page 3": {"status": "false_alarm", "page": "3"},
    }
    import requests
    url, stop_gunicorn = serve_gunicorn(data_dir)
    try:
        return _compare(args, app, client, views, town, cam, url, requests.Session())
    finally:
        stop_gunicorn()


def _compare(args, app, client, views, town, cam, url, http) -> int:
    from webapp.alerts.views import queue_statement, read_filters
    resp = http.post(f"{url}/login", data={"login": "bench", "password": PASSWORD}, allow_redirects=False)
    assert resp.status_code == 302, resp.status_code
    for _ in range(8):  # every worker's first request (imports, caches) outside the timing
        http.get(f"{url}/alerts/queue")
    print(f"\n{'':24} {'in-process':>19} {'gunicorn (HTTP)':>19} {'bare SQL':>19}")
    print(f"{'view':24} {'p50':>9} {'p95':>9} {'p50':>9} {'p95':>9} {'p50':>9} {'p95':>9}   (ms, {args.runs} runs)")
    worst = worst_gunicorn = 0.0
    for label, params in views.items():
        def page():
            r = client.get("/alerts/queue", query_string=params)
            assert r.status_code == 200

        def served():
            r = http.get(f"{url}/alerts/queue", params=params)
            assert r.status_code == 200 and "queue-counts" in r.text, (r.status_code, r.url)
        with app.test_request_context("/alerts/queue", query_string=params):
            sql = queue_statement(read_filters(params)).compile(
                db.engine, compile_kwargs={"literal_binds": True}).string
            engine = db.engine

        def bare():
            with engine.connect() as conn:
                conn.exec_driver_sql(sql).fetchall()
        p = timed(page, args.runs)
        g = timed(served, args.runs)
        b = timed(bare, args.runs)
        worst = max(worst, percentile(p, 0.95))
        worst_gunicorn = max(worst_gunicorn, percentile(g, 0.95))
        print(f"{label:24} {statistics.median(p):9.1f} {percentile(p, 0.95):9.1f} "
              f"{statistics.median(g):9.1f} {percentile(g, 0.95):9.1f} "
              f"{statistics.median(b):9.2f} {percentile(b, 0.95):9.2f}")
    print(f"\nworst page p95: in-process {worst:.1f} ms, gunicorn {worst_gunicorn:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
