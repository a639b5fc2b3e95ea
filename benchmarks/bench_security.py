"""Security costs, each beside a baseline measured in the same run:

1. login p50 with throttling on, beside the same login with throttling
   switched off (a normal login must not get slower);
2. the hash chain's cost per audited action: audit.record + commit with the
   chain, beside the same without it;
3. ``nrsc audit verify`` over --rows rows (default 1,000,000, written with
   bulk inserts).

    .venv/bin/python benchmarks/bench_security.py [--logins 60] [--actions 2000] [--rows 1000000]

Runs on a temporary SQLite database (or DATABASE_URL, an empty scratch database).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event, insert, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

PASSWORD = "bench-password-1"


def make_app(data_dir: str):
    from webapp import create_app
    from webapp.platform import dbtools
    config = {"NRSC_DATA_DIR": data_dir, "TESTING": True, "NRSC_INPROCESS_WORKER": False}
    if os.environ.get("DATABASE_URL"):
        config["DATABASE_URL"] = os.environ["DATABASE_URL"]
    app = create_app(config, load_entrypoints=False)
    with app.app_context():
        dbtools.upgrade()
    return app


def bench_login(app, n: int) -> tuple[float, float]:
    import re

    from webapp.auth import throttle
    from webapp.extensions import db
    from webapp.models import User
    from webapp.platform.security import hash_password
    with app.app_context():
        db.session.add(User(login="bench", display_name="bench", role="duty_officer",
                            password_hash=hash_password(PASSWORD)))
        db.session.commit()

    def one() -> float:
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        t0 = time.perf_counter()
        resp = client.post("/login", data={"login": "bench", "password": PASSWORD, "csrf_token": token})
        took = time.perf_counter() - t0
        assert resp.status_code == 302, resp.status_code
        return took

    saved = throttle.check, throttle.failed, throttle.succeeded

    def off() -> None:
        throttle.check = lambda *a, **k: throttle.Verdict(True)
        throttle.failed = lambda *a, **k: 0
        throttle.succeeded = lambda *a, **k: None

    def on() -> None:
        throttle.check, throttle.failed, throttle.succeeded = saved

    # Interleaved, so load from anything else on the machine hits both alike.
    with_t, without_t = [], []
    try:
        for _ in range(n):
            on()
            with_t.append(one())
            off()
            without_t.append(one())
    finally:
        on()
    return statistics.median(with_t) * 1000, statistics.median(without_t) * 1000


def bench_throttle_bookkeeping(app, n: int = 500) -> float:
    """The throttle's own work per successful login (its queries), in ms:
    the login p50s above are dominated by the password hash and its noise."""
    from webapp.auth import throttle
    with app.test_request_context("/login", method="POST"):
        t0 = time.perf_counter()
        for _ in range(n):
            throttle.check("bench", "127.0.0.1")
            throttle.succeeded("bench", "127.0.0.1")
        return (time.perf_counter() - t0) / n * 1000


def bench_chain(app, n: int) -> tuple[float, float]:
    from webapp.extensions import db
    from webapp.platform import audit, auditchain

    def run(label: str, k: int) -> float:
        with app.app_context():
            t0 = time.perf_counter()
            for i in range(k):
                audit.record("bench", "thing", i, actor_label=label, data={"i": i, "note": "x" * 40})
                db.session.commit()
            return time.perf_counter() - t0

    # Interleaved rounds of 50, chain on and off.
    chained = plain = 0.0
    rounds = max(1, n // 50)
    for _ in range(rounds):
        chained += run("chained", 50)
        event.remove(Session, "before_flush", auditchain._chain_new_events)
        try:
            plain += run("plain", 50)
        finally:
            event.listen(Session, "before_flush", auditchain._chain_new_events)
    with app.app_context():
        # The unchained rows above break the chain on purpose; start the verify table afresh.
        with db.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_events"))
            conn.execute(text("DELETE FROM audit_head"))
    return chained / (rounds * 50) * 1e6, plain / (rounds * 50) * 1e6


def bench_verify(app, rows: int) -> tuple[float, float, bool]:
    from webapp.extensions import db
    from webapp.models import AuditEvent, AuditHead
    from webapp.platform import auditchain
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    prev = auditchain.GENESIS
    batch: list[dict] = []
    t0 = time.perf_counter()
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_events"))
            conn.execute(text("DELETE FROM audit_head"))
            for i in range(rows):
                row = {"at": start + timedelta(seconds=i), "actor_id": None, "actor_label": "bench",
                       "entity_type": "work_order", "entity_id": i % 5000, "action": "accept",
                       "from_state": "to_accept", "to_state": "in_progress", "note": None,
                       "data": {"version": i % 7, "i": i}, "ip": "127.0.0.1"}
                row["prev_hash"] = prev
                row["hash"] = prev = auditchain.link_hash(prev, row)
                batch.append(row)
                if len(batch) == 20_000:
                    conn.execute(insert(AuditEvent.__table__), batch)
                    batch = []
            if batch:
                conn.execute(insert(AuditEvent.__table__), batch)
            conn.execute(insert(AuditHead.__table__), [{"id": 1, "last_id": None, "last_hash": prev,
                                                        "count": rows}])
        written = time.perf_counter() - t0
        with db.engine.connect() as conn:
            t1 = time.perf_counter()
            result = auditchain.verify(conn)
            took = time.perf_counter() - t1
    return written, took, result.ok and result.checked == rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=60)
    parser.add_argument("--actions", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(tmp)
        throttled, unthrottled = bench_login(app, args.logins)
        print(f"login p50: {throttled:.1f} ms with throttling, {unthrottled:.1f} ms without "
              f"({throttled - unthrottled:+.1f} ms; n={args.logins})")
        print(f"throttle bookkeeping per login: {bench_throttle_bookkeeping(app):.2f} ms")
        chained, plain = bench_chain(app, args.actions)
        print(f"audited action (record + commit): {chained:.0f} µs with the hash chain, {plain:.0f} µs without "
              f"({chained - plain:+.0f} µs per action; n={args.actions})")
        written, took, ok = bench_verify(app, args.rows)
        print(f"nrsc audit verify over {args.rows:,} rows: {took:.1f} s ({args.rows / took:,.0f} rows/s; "
              f"{'intact' if ok else 'BROKEN'}); writing them took {written:.1f} s")


if __name__ == "__main__":
    main()
