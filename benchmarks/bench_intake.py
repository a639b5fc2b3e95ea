"""Alerts accepted per second through POST /api/v1/alerts, each with a
~200 KB JPEG, beside a baseline measured in the same run: a bare Flask
endpoint that reads the same multipart body, writes the same file and one row.

    .venv/bin/python benchmarks/bench_intake.py [--n 200] [--threads 4] [--parcels 5000]

Runs on a temporary SQLite database (or DATABASE_URL if set, which must be an
empty scratch database). Requests go over real HTTP to a threaded werkzeug
server, as in production behind gunicorn.
"""
from __future__ import annotations

import argparse
import io
import os
import random
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
    files.mkdir()
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--parcels", type=int, default=5000, help="parcels in the GIS index")
    args = parser.parse_args()

    from shapely.geometry import box, mapping
    from sqlalchemy import insert

    from webapp import create_app
    from webapp.demo.data import load_organisation
    from webapp.extensions import db
    from webapp.gis import context as gis
    from webapp.models import Parcel
    from webapp.platform import dbtools
    from webapp.plugin_api import Clock, Domain, EventType, SlaClocks, hookimpl

    class BenchDomains:
        @hookimpl
        def register_domains(self):
            clocks = SlaClocks(Clock(5), Clock(10), Clock(60), Clock(1440), basis="natural")
            return [Domain("fire", "森林草原防火", "Fire", "#d62728", "fire", 3,
                           (EventType("smoke", "烟雾", "Smoke"),), clocks)]

    folder = Path(tempfile.mkdtemp(prefix="nrsc-bench-"))
    config = {"NRSC_DATA_DIR": str(folder / "data"), "SECRET_KEY": "bench", "NRSC_INPROCESS_WORKER": False}
    if os.environ.get("DATABASE_URL"):
        config["DATABASE_URL"] = os.environ["DATABASE_URL"]
    app = create_app(config, plugins=[BenchDomains()], load_entrypoints=False)
    with app.app_context():
        dbtools.upgrade()
        load_organisation()
        rows = []
        for i in range(args.parcels):
            lon, lat = 105.95 + (i % 200) * 0.003, 37.1 + (i // 200) * 0.004
            rows.append({"layer": "cultivated_land", "code": f"B{i}", "name": "", "revision": 1,
                         "geometry": mapping(box(lon, lat, lon + 0.002, lat + 0.003)), "min_lon": lon,
                         "min_lat": lat, "max_lon": lon + 0.002, "max_lat": lat + 0.003, "attributes": {},
                         "source": "bench"})
        if rows:
            db.session.execute(insert(Parcel), rows)
        from webapp.platform.security import create_api_token
        _row, token = create_api_token(source="bench")
        db.session.commit()
        gis.get_index()  # built once per process, as after start-up
        db.session.remove()

    jpeg = make_jpeg()
    bodies = [unique(jpeg, i) for i in range(args.n)]
    headers = {"Authorization": f"Bearer {token}"}

    def point(i: int) -> tuple[float, float]:
        # A grid 0.005° apart (> the 300 m dedupe radius) inside 红寺堡镇/大河乡.
        return 37.30 + (i // 40) * 0.005, 105.98 + (i % 40) * 0.005

    def intake_request(s, url, i):
        lat, lon = point(i)
        return s.post(f"{url}/api/v1/alerts", headers=headers, data={
            "domain": "fire", "event_type": "smoke", "lat": lat, "lon": lon, "source_event_id": f"b{i}",
            "occurred_at": "2026-11-20T02:00:00+08:00"}, files=[("images", ("snap.jpg", bodies[i], "image/jpeg"))])

    def baseline_request(s, url, i):
        lat, lon = point(i)
        return s.post(f"{url}/alerts", data={"domain": "fire", "event_type": "smoke", "lat": lat, "lon": lon,
                                             "source_event_id": f"b{i}"},
                      files=[("images", ("snap.jpg", bodies[i], "image/jpeg"))])

    base_url, stop_base = serve(baseline_app(folder))
    intake_url, stop_intake = serve(app)
    try:
        # Warm both (connection set-up, first-request work) outside the timing.
        run_load(base_url, 1, 1, lambda s, u, i: baseline_request(s, u, args.n - 1))
        baseline = run_load(base_url, args.n, args.threads, baseline_request)
        intake = run_load(intake_url, args.n, args.threads, intake_request)
    finally:
        stop_base()
        stop_intake()
    with app.app_context():
        from sqlalchemy import func, select

        from webapp.models import Alert
        created = db.session.scalar(select(func.count()).select_from(Alert))
    print(f"image {len(jpeg) / 1000:.0f} KB, {args.n} alerts, {args.threads} client threads, "
          f"{args.parcels} parcels, database {app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}")
    print(f"baseline (bare Flask: file + row): {baseline:8.1f} requests/s")
    print(f"intake   (POST /api/v1/alerts):    {intake:8.1f} alerts/s  "
          f"({intake / baseline:.0%} of baseline; {created} alerts stored)")


if __name__ == "__main__":
    main()
