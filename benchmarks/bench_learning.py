"""Benchmark: learning from verdicts over N synthetic alerts (default 100,000;
38 cameras × 4 presets, 6 detectors, verdicts mixed, a year of history) on a
temporary SQLite database (or DATABASE_URL's PostgreSQL with --pg URL).

Printed, each with a baseline measured in the same run:
* learning.precision_report() over 90 days and over all time (five grouped
  queries: detector, camera, preset, preset × detector, week), against one
  bare ``GROUP BY detector, status`` of the same rows (the floor for any
  report that reads every verdict);
* the precision page (/detection/precision, logged in as duty lead), against
  the login page;
* the threshold job as scheduled (pairs with verdicts in the last two
  periods) and over all (preset, detector) pairs (`nrsc detection
  raise-thresholds`), against the same bare GROUP BY; reading the last N
  verdicts of every pair in one pass against one query per pair.

    .venv/bin/python benchmarks/bench_learning.py [--alerts 100000] [--requests 5] [--pg URL]
"""
from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select, text  # noqa: E402

from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import Alert, Camera, Preset, User  # noqa: E402
from webapp.platform import clock, dbtools  # noqa: E402

DETECTORS = ("fire_colour", "smoke_motion", "fire_yolov8", "coco_nanodet", "scene_change", "machinery")
NOW = datetime(2027, 1, 5, 2, tzinfo=timezone.utc)


def timed(fn, n: int = 1) -> tuple[float, object]:
    times, result = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def seed(n: int) -> None:
    cams = [Camera(code=f"BL{i:02d}", name=f"合成摄像机 {i}", kind="tower", lat=37.3, lon=106.2) for i in range(38)]
    db.session.add_all(cams)
    db.session.flush()
    for cam in cams:
        db.session.add_all(Preset(camera_id=cam.id, number=k, name=str(k), domains=["fire"], masks=[])
                           for k in range(1, 5))
    rnd = random.Random(17)
    rows = []
    for i in range(1, n + 1):
        t = NOW - timedelta(seconds=rnd.randrange(0, 365 * 86400))
        status = rnd.choice(("confirmed", "false_alarm", "false_alarm", "duplicate", "confirmed", "new"))
        rows.append({"domain": "fire", "event_type": "fire", "status": status, "source": "patrol",
                     "source_event_id": f"bl{i}", "occurred_at": t, "created_at": t, "last_seen_at": t,
                     "lat": 37.3, "lon": 106.2, "camera_id": rnd.choice(cams).id, "preset_number": rnd.randint(1, 4),
                     "detector": rnd.choice(DETECTORS), "boxes": [[0.1, 0.1, 0.2, 0.2]],
                     "verdict_at": t + timedelta(minutes=rnd.randrange(1, 40)) if status != "new" else None})
    for chunk in range(0, n, 5000):
        db.session.execute(insert(Alert), rows[chunk:chunk + 5000])
    db.session.commit()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=5)
    ap.add_argument("--pg", default=None, help="a PostgreSQL URL of an empty database")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-learning-"))
    app = create_app({"DATABASE_URL": args.pg or f"sqlite:///{tmp / 'bench.db'}", "NRSC_DATA_DIR": str(tmp / "data"),
                      "SECRET_KEY": "bench", "NRSC_TASKS_EAGER": True}, load_entrypoints=True)
    clock.set_clock(clock.FrozenClock(NOW))
    from webapp.detection import learning
    with app.app_context():
        dbtools.upgrade()
        t0 = time.perf_counter()
        seed(args.alerts)
        print(f"seeded {args.alerts:,} alerts in {time.perf_counter() - t0:.1f} s "
              f"({db.engine.dialect.name}, {tmp})")
        bare = "SELECT detector, status, count(*) FROM alerts GROUP BY detector, status"
        b, _ = timed(lambda: db.session.execute(text(bare)).all(), 3)
        rows = []
        for label, days in (("90 days", 90), ("all time", None)):
            s, _ = timed(lambda d=days: learning.precision_report(since=learning.since_days(d)), 3)
            rows.append((f"precision_report {label}", s, b))
        s, raised = timed(learning.raise_thresholds)
        rows.append((f"threshold job, scheduled ({raised} raised)", s, b))
        # Every (preset, detector): last N verdicts read per pair, or in one pass.
        window = int(app.config["NRSC_LEARN_WINDOW"])
        presets = {(p.camera_id, p.number): p for p in db.session.scalars(select(Preset))}
        pairs = {t.key for t in learning.tallies(Alert.camera_id, Alert.preset_number, Alert.detector,
                                                  where=[Alert.camera_id.is_not(None)])}
        per_pair, _ = timed(lambda: [learning.recent_precision(presets[(c, n)], d, window, None)
                                     for c, n, d in pairs])
        one_pass, _ = timed(lambda: learning._recent_in_one_pass(pairs, presets, {}, window))
        rows.append((f"last {window} verdicts of {len(pairs)} pairs, one pass", one_pass, per_pair))
        s, raised = timed(lambda: learning.raise_thresholds(full=True))
        rows.append((f"threshold job, all pairs ({raised} raised)", s, b))

        from webapp.platform.security import hash_password
        db.session.add(User(login="bench_lead", display_name="bench", role="duty_lead",
                            password_hash=hash_password("bench-password-1")))
        db.session.commit()
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        assert client.post("/login", data={"login": "bench_lead", "password": "bench-password-1",
                                           "csrf_token": csrf}).status_code == 302

        def get(url):
            r = client.get(url)
            assert r.status_code == 200, (url, r.status_code)
            return r
        trivial, _ = timed(lambda: client.get("/login"), args.requests)
        for q in ("days=90", "days=0&period=month"):
            s, _ = timed(lambda q=q: get(f"/detection/precision?{q}"), args.requests)
            rows.append((f"precision page {q}", s, trivial))
    print(f"{'measure':<40} {'ms':>9} {'baseline ms':>12} {'ratio':>7}")
    for name, s, base in rows:
        ratio = f"{s / base:.1f}×" if base else ""
        print(f"{name:<40} {1000 * s:>9.1f} {1000 * base:>12.1f} {ratio:>7}")


if __name__ == "__main__":
    main()
