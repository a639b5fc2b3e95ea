"""Alerts accepted per second through POST /api/v1/alerts, each with a
~200 KB JPEG, beside a baseline measured in the same run: a bare Flask
endpoint that reads the same multipart body, writes the same file and one row.

    .venv/bin/python benchmarks/bench_intake.py [--n 200] [--threads 4] [--parcels 5000] [--profile]

Each is measured twice over real HTTP: in-process (a threaded werkzeug server
inside this script) and under gunicorn as ``nrsc web`` runs it (gthread workers,
NRSC_WEB_WORKERS x NRSC_WEB_THREADS), each server on its own temporary SQLite
database. ``--profile`` then profiles intake requests through the Flask test
client and prints the top entries (where the time goes).
"""
from __future__ import annotations

import argparse
import io
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402
from PIL import Image  # noqa: E402

from webapp.plugin_api import Clock, Domain, EventType, SlaClocks, hookimpl  # noqa: E402


def make_jpeg(target: int = 200_000) -> bytes:
    rnd = random.Random(42)
    side = 300
    while True:
        img = Image.frombytes("RGB", (side, side), rnd.randbytes(side * side * 3))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=80)
        if buf.tell() >= target:
            return buf.getvalue()
        side += 20


def unique(jpeg: bytes, i: int) -> bytes:
    """The same picture with a COM segment, so no two uploads share content."""
    comment = f"bench {i} {uuid.uuid4()}".encode()
    return jpeg[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + jpeg[2:]


def serve(app) -> tuple[str, callable]:
    import logging

    from werkzeug.serving import make_server
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{server.server_port}", server.shutdown


def run_load(url: str, n: int, threads: int, make_request) -> float:
    session_local = threading.local()

    def one(i: int) -> None:
        s = getattr(session_local, "s", None) or requests.Session()
        session_local.s = s
        resp = make_request(s, url, i)
        if resp.status_code not in (200, 201):
            raise RuntimeError(f"request {i}: {resp.status_code} {resp.text[:200]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(n)))
    return n / (time.perf_counter() - started)


def baseline_app(folder: Path):
    """The least a server must do: parse, write the file, insert a row."""
    from flask import Flask, request
    from sqlalchemy import (
        JSON,
        Column,
        Integer,
        MetaData,
        String,
        Table,
        create_engine,
        event,
    )

    engine = create_engine(f"sqlite:///{folder / 'baseline.sqlite3'}")
    event.listen(engine, "connect", lambda c, _r: c.execute("PRAGMA journal_mode=WAL"))
    meta = MetaData()
    table = Table("alerts", meta, Column("id", Integer, primary_key=True), Column("path", String(200)),
                  Column("payload", JSON))
    meta.create_all(engine)
    files = folder / "baseline_files"
    files.mkdir(exist_ok=True)
    app = Flask("baseline")

    @app.post("/alerts")
    def alerts():
        storage = request.files["images"]
        path = files / uuid.uuid4().hex
        storage.save(path)
        with engine.begin() as conn:
            new_id = conn.execute(table.insert().values(path=str(path), payload=dict(request.form))).inserted_primary_key[0]
        return {"id": new_id}, 201
    return app


class BenchDomains:
    """One domain (fire/smoke), so the benchmark needs no plugin package."""

    @hookimpl
    def register_domains(self):
        clocks = SlaClocks(Clock(5), Clock(10), Clock(60), Clock(1440), basis="natural")
        return [Domain("fire", "森林草原防火", "Fire", "#d62728", "fire", 3,
                       (EventType("smoke", "烟雾", "Smoke"),), clocks)]


def intake_config(folder: Path) -> dict:
    config = {"NRSC_DATA_DIR": str(folder / "data"), "SECRET_KEY": "bench"}
    if os.environ.get("DATABASE_URL"):
        # Each server (and the profile) needs a fresh database of its own; one
        # scratch PostgreSQL URL cannot be shared between them.
        raise SystemExit("bench_intake builds its own SQLite databases; unset DATABASE_URL")
    return config


def make_intake_app(folder: Path):
    from webapp import create_app
    return create_app(intake_config(folder), plugins=[BenchDomains()], load_entrypoints=False)


def prepare(folder: Path, parcels: int) -> str:
    """Migrate, load the organisation and parcels, return an intake token."""
    from shapely.geometry import box, mapping
    from sqlalchemy import insert

    from webapp.demo.data import load_organisation
    from webapp.extensions import db
    from webapp.models import Parcel
    from webapp.platform import dbtools
    from webapp.platform.security import create_api_token

    app = make_intake_app(folder)
    with app.app_context():
        dbtools.upgrade()
        load_organisation()
        rows = []
        for i in range(parcels):
            lon, lat = 105.95 + (i % 200) * 0.003, 37.1 + (i // 200) * 0.004
            rows.append({"layer": "cultivated_land", "code": f"B{i}", "name": "", "revision": 1,
                         "geometry": mapping(box(lon, lat, lon + 0.002, lat + 0.003)), "min_lon": lon,
                         "min_lat": lat, "max_lon": lon + 0.002, "max_lat": lat + 0.003, "attributes": {},
                         "source": "bench"})
        if rows:
            db.session.execute(insert(Parcel), rows)
        _row, token = create_api_token(source="bench")
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return token


# -- gunicorn: apps built in each worker from BENCH_FOLDER ---------------------
def gunicorn_intake():
    from webapp.gis import context as gis
    app = make_intake_app(Path(os.environ["BENCH_FOLDER"]))
    with app.app_context():
        gis.get_index()  # built once per process, as after the first request
    return app


def gunicorn_baseline():
    return baseline_app(Path(os.environ["BENCH_FOLDER"]))


def serve_gunicorn(factory: str, folder: Path) -> tuple[str, callable, str]:
    """Run ``factory`` under gunicorn with the options ``nrsc web`` uses."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    here = str(Path(__file__).resolve().parent)
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from webapp.config import load_config\n"
            "from webapp.platform.web import WebServer, gunicorn_options\n"
            "cfg = load_config({'NRSC_DATA_DIR': %r})\n"
            "WebServer(%r, gunicorn_options(cfg, '127.0.0.1', %d)).run()\n") % (
        here, str(folder / "gunicorn-data"), f"bench_intake:{factory}()", port)
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "BENCH_FOLDER": str(folder)})
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn for {factory} did not start")
            time.sleep(0.2)

    def stop() -> None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    from webapp.config import load_config
    from webapp.platform.web import gunicorn_options
    opts = gunicorn_options(load_config({"NRSC_DATA_DIR": str(folder / "gunicorn-data")}), "", 0)
    return f"http://127.0.0.1:{port}", stop, f"gunicorn {opts['workers']}x{opts['threads']} gthread"


def count_alerts(folder: Path) -> int:
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import Alert
    app = make_intake_app(folder)
    with app.app_context():
        n = db.session.scalar(select(func.count()).select_from(Alert))
        db.engine.dispose()
    return n


def profile_intake(folder: Path, token: str, bodies: list[bytes], point, count: int = 40) -> None:
    import cProfile
    import pstats

    app = make_intake_app(folder)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def post(i: int):
        lat, lon = point(i)
        resp = client.post("/api/v1/alerts", headers=headers, data={
            "domain": "fire", "event_type": "smoke", "lat": str(lat), "lon": str(lon),
            "source_event_id": f"p{i}", "occurred_at": "2026-11-20T02:00:00+08:00",
            "images": (io.BytesIO(bodies[i]), "snap.jpg", "image/jpeg")})
        assert resp.status_code in (200, 201), resp.get_data(as_text=True)[:200]
    post(0)  # first request: GIS index, caches
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for i in range(1, count + 1):
        post(i)
    profiler.disable()
    per = (time.perf_counter() - started) / count * 1000
    print(f"\nprofile: {count} intake requests through the test client, {per:.1f} ms each "
          "(cProfile overhead included)")
    stats = pstats.Stats(profiler)
    print("-- the platform's own functions, by cumulative time --")
    stats.sort_stats("cumulative").print_stats(r"[/\\]webapp[/\\]", 25)
    print("-- everything, by own time --")
    stats.strip_dirs().sort_stats("tottime").print_stats(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--parcels", type=int, default=5000, help="parcels in the GIS index")
    parser.add_argument("--profile", action="store_true", help="profile intake requests afterwards")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="nrsc-bench-"))
    folders = {"inproc": root / "inproc", "gunicorn": root / "gunicorn", "profile": root / "profile"}
    for f in folders.values():
        f.mkdir()
    tokens = {name: prepare(f, args.parcels) for name, f in folders.items()
              if name != "profile" or args.profile}

    warm = 8
    jpeg = make_jpeg()
    bodies = [unique(jpeg, i) for i in range(args.n + warm + 50)]

    def point(i: int) -> tuple[float, float]:
        # A grid 0.005° apart (> the 300 m dedupe radius) inside 红寺堡镇/大河乡.
        return 37.30 + (i // 40) * 0.005, 105.98 + (i % 40) * 0.005

    def intake_request(token):
        headers = {"Authorization": f"Bearer {token}"}

        def send(s, url, i):
            lat, lon = point(i)
            return s.post(f"{url}/api/v1/alerts", headers=headers, data={
                "domain": "fire", "event_type": "smoke", "lat": lat, "lon": lon, "source_event_id": f"b{i}",
                "occurred_at": "2026-11-20T02:00:00+08:00"},
                files=[("images", ("snap.jpg", bodies[i], "image/jpeg"))])
        return send

    def baseline_request(s, url, i):
        lat, lon = point(i)
        return s.post(f"{url}/alerts", data={"domain": "fire", "event_type": "smoke", "lat": lat, "lon": lon,
                                             "source_event_id": f"b{i}"},
                      files=[("images", ("snap.jpg", bodies[i], "image/jpeg"))])

    def measure(base_url, intake_url, send_intake) -> tuple[float, float]:
        # Warm both (connections, each worker's first request) outside the timing;
        # warm-up alerts sit outside the timed grid (indices n..n+warm).
        run_load(base_url, warm, args.threads, lambda s, u, i: baseline_request(s, u, args.n + i))
        run_load(intake_url, warm, args.threads, lambda s, u, i: send_intake(s, u, args.n + i))
        baseline = run_load(base_url, args.n, args.threads, baseline_request)
        intake = run_load(intake_url, args.n, args.threads, send_intake)
        return baseline, intake

    results = {}
    # In-process: threaded werkzeug servers inside this script.
    app = make_intake_app(folders["inproc"])
    with app.app_context():
        from webapp.gis import context as gis
        gis.get_index()
    base_url, stop_base = serve(baseline_app(folders["inproc"]))
    intake_url, stop_intake = serve(app)
    try:
        results["in-process (werkzeug threaded)"] = measure(base_url, intake_url, intake_request(tokens["inproc"]))
    finally:
        stop_base()
        stop_intake()
    # gunicorn: the same apps, each in its own gunicorn, as nrsc web serves.
    baseline_app(folders["gunicorn"])  # create the baseline table before the workers race to
    base_url, stop_base, label = serve_gunicorn("gunicorn_baseline", folders["gunicorn"])
    try:
        intake_url, stop_intake, label = serve_gunicorn("gunicorn_intake", folders["gunicorn"])
        try:
            results[label] = measure(base_url, intake_url, intake_request(tokens["gunicorn"]))
        finally:
            stop_intake()
    finally:
        stop_base()

    print(f"image {len(jpeg) / 1000:.0f} KB, {args.n} alerts per run, {args.threads} client threads, "
          f"{args.parcels} parcels, database {app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}, "
          f"{os.cpu_count()} CPUs")
    print(f"{'server':32} {'baseline req/s':>15} {'intake alerts/s':>16} {'intake/baseline':>16}")
    for label, (baseline, intake) in results.items():
        print(f"{label:32} {baseline:15.1f} {intake:16.1f} {intake / baseline:16.0%}")
    stored = {name: count_alerts(folders[name]) for name in ("inproc", "gunicorn")}
    expected = args.n + warm
    print(f"alerts stored: in-process {stored['inproc']}, gunicorn {stored['gunicorn']} (expected {expected} each)")
    if args.profile:
        profile_intake(folders["profile"], tokens["profile"], bodies, point)


if __name__ == "__main__":
    main()
