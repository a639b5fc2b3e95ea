"""Benchmark: assessment of one year with N synthetic work orders (default
100,000), and the leaderboard page, on a temporary SQLite database.

The orders are written straight into work_orders + order_participants +
order_rounds (a lead and a cooperating unit each, round 1 each plus a feedback
round for reworked leads, random on-time flags, overdue marks, reworks,
spot checks; no audit trail, no evidence): synthetic rows for this benchmark only.

Printed, each with a baseline measured in the same run:
* scoring.compute("2026") (the whole year) and a month, against the bare SQL
  aggregate of the same participant rows (GROUP BY unit: the floor for any
  scorer that reads every record);
* closing the year (the snapshot), then assess() of the closed year;
* the leaderboard page (Flask test client, logged in as leader_viewer), open
  and closed periods, against a trivial route (/healthz or the login page);
* the leaders' overview page (/assessment/overview) over N synthetic alerts
  (default 100,000, a tenth with a camera, verdicts mixed) for the year (per
  week) and a month (per day), against the trivial route, and
  dashboard.build() alone against a bare GROUP BY domain of the same alerts.

    .venv/bin/python benchmarks/bench_assessment.py [--orders 100000] [--alerts 100000] [--requests 5]
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
from webapp.models import OrderParticipant, OrderRound, Unit, User, WorkOrder  # noqa: E402
from webapp.platform import clock, dbtools  # noqa: E402


def timed(fn, n: int = 1) -> tuple[float, object]:
    times, result = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def seed(n: int) -> None:
    from webapp.demo.data import load_organisation
    load_organisation()
    units = db.session.scalars(select(Unit).where(Unit.kind.in_(("department", "township")))).all()
    rnd = random.Random(12)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    orders, parts, rounds = [], [], []
    for i in range(1, n + 1):
        t = start + timedelta(seconds=rnd.randrange(0, 364 * 86400))
        closed = rnd.random() < 0.9
        orders.append({"id": i, "number": f"BEN-2026-{i:06d}", "kind": "alert", "domain": "bench",
                       "title": f"合成工单 {i}", "description": "", "state": "closed" if closed else "in_progress",
                       "priority": "normal", "clocks": {}, "dispatched_at": t,
                       "closed_at": t + timedelta(hours=20) if closed else None,
                       "rework_count": int(rnd.random() < 0.05), "reopen_count": 0,
                       "supervised": False, "emergency": False, "case_transferred": False,
                       "spot_check_result": rnd.choice((None, None, None, "pass", "pass", "fail")),
                       "created_at": t, "updated_at": t, "version": 1})
        lead, coop = rnd.sample(units, 2)
        for k, (unit, role) in enumerate(((lead, "lead"), (coop, "cooperating"))):
            late = rnd.random() < 0.08
            reworked = role == "lead" and orders[-1]["rework_count"]
            pid = 2 * i - 1 + k
            stage = {"accept_due_at": t + timedelta(minutes=30),
                     "accepted_at": t + timedelta(minutes=50 if late else 10), "accept_on_time": not late,
                     "arrive_due_at": None, "arrived_at": None, "arrive_on_time": None,
                     "feedback_due_at": t + timedelta(hours=24),
                     "feedback_at": t + timedelta(hours=19), "feedback_on_time": rnd.random() > 0.05,
                     "overdue": {"accept": t.isoformat()} if late else {}}
            parts.append({"id": pid, "order_id": i, "unit_id": unit.id, "role": role, "office_ids": [],
                          "state": "done", "assigned_at": t, "return_count": 0, "warned": {},
                          "round_number": 2 if reworked else 1, **stage})
            # Every participant's round 1; a reworked lead's feedback round 2 (on time).
            rounds.append({"order_id": i, "participant_id": pid, "number": 1, "reason": "dispatch",
                           "started_at": t, "ended_at": t + timedelta(hours=20) if reworked else None, **stage})
            if reworked:
                rounds.append({"order_id": i, "participant_id": pid, "number": 2, "reason": "rework",
                               "started_at": t + timedelta(hours=20), "ended_at": None,
                               "accept_due_at": None, "accepted_at": None, "accept_on_time": None,
                               "arrive_due_at": None, "arrived_at": None, "arrive_on_time": None,
                               "feedback_due_at": t + timedelta(hours=44), "feedback_at": t + timedelta(hours=22),
                               "feedback_on_time": True, "overdue": {}})
    for chunk in range(0, n, 5000):
        db.session.execute(insert(WorkOrder), orders[chunk:chunk + 5000])
    for chunk in range(0, len(parts), 10000):
        db.session.execute(insert(OrderParticipant), parts[chunk:chunk + 10000])
    for chunk in range(0, len(rounds), 10000):
        db.session.execute(insert(OrderRound), rounds[chunk:chunk + 10000])
    db.session.commit()


def seed_alerts(n: int) -> None:
    from webapp.models import Alert, Camera, Township
    townships = db.session.scalars(select(Township.id)).all()
    cams = [Camera(code=f"BEN{i:02d}", name=f"合成摄像机 {i}", kind="tower", lat=37.3, lon=106.2) for i in range(10)]
    db.session.add_all(cams)
    db.session.flush()
    rnd = random.Random(13)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    domains = ("farmland", "mining", "geohazard", "fire", "grazing", "safety", "ecology")
    rows = []
    for i in range(1, n + 1):
        t = start + timedelta(seconds=rnd.randrange(0, 364 * 86400))
        status = rnd.choice(("confirmed", "false_alarm", "false_alarm", "duplicate", "confirmed", "new"))
        rows.append({"domain": rnd.choice(domains), "event_type": "bench", "status": status,
                     "source": f"box{rnd.randrange(8)}", "source_event_id": f"ben{i}", "label": "smoke",
                     "occurred_at": t, "created_at": t, "last_seen_at": t,
                     "lat": 37.1 + rnd.random() * 0.4, "lon": 105.95 + rnd.random() * 0.5,
                     "camera_id": rnd.choice(cams).id if rnd.random() < 0.1 else None,
                     "township_id": rnd.choice(townships) if townships else None,
                     "verdict_at": t + timedelta(minutes=rnd.randrange(1, 40)) if status != "new" else None})
    for chunk in range(0, n, 5000):
        db.session.execute(insert(Alert), rows[chunk:chunk + 5000])
    db.session.commit()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--alerts", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-assess-"))
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}", "NRSC_DATA_DIR": str(tmp / "data"),
                      "SECRET_KEY": "bench", "NRSC_TASKS_EAGER": True}, load_entrypoints=True)
    clock.set_clock(clock.FrozenClock(datetime(2027, 1, 5, 2, tzinfo=timezone.utc)))
    from webapp.assessment import scoring, services
    with app.app_context():
        dbtools.upgrade()
        t0 = time.perf_counter()
        seed(args.orders)
        print(f"seeded {args.orders:,} orders / {2 * args.orders:,} participant rows in "
              f"{time.perf_counter() - t0:.1f} s (SQLite, {tmp})")
        base_sql = ("SELECT unit_id, count(*), sum(accept_on_time), sum(feedback_on_time) FROM order_participants "
                    "JOIN work_orders ON work_orders.id = order_participants.order_id "
                    "WHERE assigned_at >= :a AND assigned_at < :b GROUP BY unit_id")
        from webapp.assessment.periods import parse_period
        rows = []
        for label in ("2026", "2026-11"):
            p = parse_period(label)
            b, _ = timed(lambda: db.session.execute(text(base_sql), {"a": p.start, "b": p.end}).all(), 3)
            s, result = timed(lambda: scoring.compute(label), 3)
            rows.append((f"compute {label}", s, b))
            db.session.rollback()
        user = User(login="bench_leader", display_name="bench", role="leader_viewer", password_hash="x")
        from webapp.platform.security import hash_password
        user.password_hash = hash_password("bench-password-1")
        db.session.add(user)
        db.session.commit()
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        assert client.post("/login", data={"login": "bench_leader", "password": "bench-password-1",
                                           "csrf_token": csrf}).status_code == 302

        def get(url):
            r = client.get(url)
            assert r.status_code == 200, (url, r.status_code)
            return r
        trivial, _ = timed(lambda: client.get("/login"), args.requests)
        for label in ("2026", "2026-11"):
            s, _ = timed(lambda: get(f"/assessment/?period={label}"), args.requests)
            rows.append((f"leaderboard {label} (open)", s, trivial))
        c, _ = timed(lambda: services.close_period("2026", actor=user))
        rows.append(("close 2026 (snapshot)", c, None))
        s, _ = timed(lambda: scoring.assess("2026"), 3)
        rows.append(("assess 2026 (closed)", s, None))
        s, _ = timed(lambda: get("/assessment/?period=2026"), args.requests)
        rows.append(("leaderboard 2026 (closed)", s, trivial))
        n_units = len(result["rows"])
        t0 = time.perf_counter()
        seed_alerts(args.alerts)
        print(f"seeded {args.alerts:,} alerts in {time.perf_counter() - t0:.1f} s")
        from webapp.assessment import dashboard
        for label in ("2026", "2026-11"):
            p = parse_period(label)
            bare = ("SELECT domain, count(*) FROM alerts WHERE created_at >= :a AND created_at < :b GROUP BY domain")
            b, _ = timed(lambda: db.session.execute(text(bare), {"a": p.start, "b": p.end}).all(), 3)
            s, _ = timed(lambda: dashboard.build(p, {}), 3)
            rows.append((f"overview figures {label}", s, b))
            s, _ = timed(lambda: get(f"/assessment/overview?period={label}"), args.requests)
            rows.append((f"overview page {label}", s, trivial))
    print(f"{'what':32} {'median s':>10} {'baseline s':>11} {'ratio':>7}")
    for what, s, b in rows:
        print(f"{what:32} {s:10.3f} {b if b is not None else float('nan'):11.4f} "
              f"{(s / b if b else float('nan')):7.1f}")
    print(f"units scored: {n_units}; baselines: bare GROUP BY for compute and overview figures "
          f"(GROUP BY domain of the alerts), GET /login for pages")


if __name__ == "__main__":
    main()
