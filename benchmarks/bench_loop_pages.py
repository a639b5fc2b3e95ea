"""Benchmark: the work-order loop's pages and API actions on a database with
the demo plus a few thousand extra orders (SQLite).

For each page it prints p50/p95 of the whole request (Flask test client,
logged in as the role that uses the page, template rendered), the SQL
statements one request runs, and a baseline measured in the same run:

* list pages: the bare SQL behind the list (the same statements the view's
  query helpers run, replayed on a raw connection: no ORM objects, no template);
* one-order pages: the bare SQL of the helpers the view loads the order with;
* every row also shows a trivial Flask route returning a constant string
  (session cookie, before/after-request hooks: the framework's floor).

Columns: p50/p95 of the page, ``stmts`` the SQL statements of one request,
the baseline's p50 and statements, ``ratio`` = page p50 / baseline p50, and
page p50 / trivial route p50. ``--show-sql`` prints each page's statements
(a count that grows with the rows shown would be an N+1 load).

The loop (accept → arrive → feedback → close) runs through the JSON API with
user-bound tokens, one order per run, and each action's request is timed.

    .venv/bin/python benchmarks/bench_loop_pages.py [--orders 3000] [--requests 50]

The extra orders are copies of the demo history's orders written straight
into the tables (work_orders + order_participants, no audit trail, no
evidence), for this benchmark only: copies of closed orders are moved back in
time by whole 90-day periods (older history), ``--open-share`` of the copies
are copies of open orders at their own times (a bigger live backlog).
"""
from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402
from sqlalchemy import event, func, insert, select, text  # noqa: E402
from sqlalchemy.orm import selectinload  # noqa: E402

from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import (  # noqa: E402
    AuditEvent,
    OrderParticipant,
    Unit,
    User,
    WorkOrder,
)
from webapp.models._common import UTCDateTime  # noqa: E402
from webapp.platform import clock, dbtools

WARMUP = 3
PERIOD = timedelta(days=90)  # the demo history's length


# -- measuring ------------------------------------------------------------------
class StatementCounter:
    """Counts (and optionally keeps) the SQL statements sent to the database."""

    def __init__(self, engine):
        self.count = 0
        self.kept: list[tuple[str, Any]] | None = None
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        self.count += 1
        if self.kept is not None:
            self.kept.append((statement, parameters))

    def capture(self, fn: Callable[[], Any]) -> list[tuple[str, Any]]:
        self.kept = []
        try:
            fn()
            return self.kept
        finally:
            self.kept = None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def timed(fn: Callable[[], Any], runs: int, counter: StatementCounter) -> tuple[list[float], int]:
    """Milliseconds of ``runs`` calls after WARMUP, and the statements of the last."""
    for _ in range(WARMUP):
        fn()
    out = []
    for _ in range(runs):
        before = counter.count
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
        statements = counter.count - before
    return out, statements


def replay(statements: list[tuple[str, Any]]) -> Callable[[], None]:
    """Run captured statements again on a raw connection: the bare SQL."""
    def run() -> None:
        with db.engine.connect() as conn:
            for sql, params in statements:
                conn.exec_driver_sql(sql, params).fetchall()
    return run


# -- data -----------------------------------------------------------------------
def _rows(model) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in db.session.execute(select(*model.__table__.columns)
                                                          .order_by(model.__table__.c.id))]


def _shift(row: dict[str, Any], table, delta: timedelta) -> None:
    for col in table.columns:
        if isinstance(col.type, UTCDateTime) and row.get(col.name) is not None:
            row[col.name] = row[col.name] - delta


def add_copies(n: int, open_share: float, seed: int = 11) -> Counter:
    """n copies of the demo's orders with their participants, written in bulk."""
    rng = random.Random(seed)
    orders = _rows(WorkOrder)
    parts: dict[int, list[dict[str, Any]]] = {}
    for p in _rows(OrderParticipant):
        parts.setdefault(p["order_id"], []).append(p)
    closed = [o for o in orders if o["state"] == "closed"]
    live = [o for o in orders if o["state"] != "closed"]
    next_order = (db.session.scalar(select(func.max(WorkOrder.id))) or 0) + 1
    next_part = (db.session.scalar(select(func.max(OrderParticipant.id))) or 0) + 1
    order_rows, part_rows, states = [], [], Counter()
    for i in range(n):
        if live and rng.random() < open_share:
            src, delta = rng.choice(live), timedelta(0)
        else:
            src, delta = closed[i % len(closed)], PERIOD * (1 + i // len(closed))
        row = dict(src, id=next_order, number=f"BENCH-{i:07d}", alert_id=None)
        _shift(row, WorkOrder.__table__, delta)
        order_rows.append(row)
        states[row["state"]] += 1
        new_ids = {}
        for p in parts.get(src["id"], []):
            new_ids[p["id"]] = next_part
            next_part += 1
        for p in parts.get(src["id"], []):
            prow = dict(p, id=new_ids[p["id"]], order_id=next_order,
                        forwarded_by_id=new_ids.get(p["forwarded_by_id"]))
            _shift(prow, OrderParticipant.__table__, delta)
            part_rows.append(prow)
        next_order += 1
    for start in range(0, len(order_rows), 2000):
        db.session.execute(insert(WorkOrder.__table__), order_rows[start:start + 2000])
    for start in range(0, len(part_rows), 2000):
        db.session.execute(insert(OrderParticipant.__table__), part_rows[start:start + 2000])
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    return states


def loop_orders(n: int, unit: Unit, template: WorkOrder) -> list[int]:
    """Fresh to_accept orders with one lead participant, for the API loop."""
    now = clock.now()
    ids = []
    for i in range(n):
        order = WorkOrder(number=f"LOOP-{i:05d}", kind="alert", domain=template.domain,
                          event_type=template.event_type, title=f"基准测试工单 {i}（合成）",
                          description="benchmark", state="to_accept", township_id=template.township_id,
                          lat=template.lat, lon=template.lon, clocks=dict(template.clocks or {}),
                          dispatched_at=now, created_at=now, updated_at=now, version=1)
        order.participants.append(OrderParticipant(
            unit_id=unit.id, role="lead", state="to_accept", assigned_at=now,
            accept_due_at=now + timedelta(hours=2), arrive_due_at=now + timedelta(days=1),
            feedback_due_at=now + timedelta(days=3)))
        db.session.add(order)
        db.session.flush()
        ids.append(order.id)
    db.session.commit()
    return ids


def jpeg() -> bytes:
    img = Image.new("RGB", (1280, 960), (90, 120, 60))
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


# -- the run -----------------------------------------------------------------------
def pick_cast() -> dict[str, Any]:
    """The handler whose unit leads the most orders, and sample orders to show."""
    handlers = {u.unit_id: u for u in db.session.scalars(
        select(User).where(User.role == "unit_handler", User.login.like("%_handler")))}
    P = OrderParticipant
    busiest = db.session.execute(
        select(P.unit_id, func.count(P.id)).where(P.unit_id.in_(handlers), P.role == "lead")
        .group_by(P.unit_id).order_by(func.count(P.id).desc())).first()
    unit_id = busiest[0]
    demo = select(WorkOrder.id).where(~WorkOrder.number.like("BENCH-%"))
    in_progress = db.session.scalar(
        select(P.order_id).where(P.unit_id == unit_id, P.role == "lead", P.state == "in_progress",
                                 P.order_id.in_(demo)).order_by(P.order_id.desc()))
    # The demo order with the longest timeline: the heaviest detail page.
    richest = db.session.execute(
        select(AuditEvent.entity_id, func.count(AuditEvent.id))
        .where(AuditEvent.entity_type.in_(("work_order", "order")), AuditEvent.entity_id.in_(demo))
        .group_by(AuditEvent.entity_id).order_by(func.count(AuditEvent.id).desc())).first()
    to_review = db.session.scalar(select(WorkOrder.id).where(WorkOrder.state == "to_review",
                                                             WorkOrder.id.in_(demo)).order_by(WorkOrder.id))
    # The demo history leaves open orders in every state (webapp/demo_history.py OPEN_TAIL_DAYS).
    assert in_progress and to_review and richest, "the demo history has no open orders to show"
    return {"handler": handlers[unit_id], "unit": db.session.get(Unit, unit_id),
            "unit_order": in_progress, "detail_order": richest[0], "detail_events": richest[1],
            "review_order": to_review}


def login(app, name: str, password: str):
    client = app.test_client()
    resp = client.post("/login", data={"login": name, "password": password})
    assert resp.status_code == 302, (name, resp.status_code)
    return client


def get(client, url: str, status: int = 200) -> Callable[[], None]:
    def run() -> None:
        resp = client.get(url)
        assert resp.status_code == status, (url, resp.status_code, resp.get_data(as_text=True)[:300])
    return run


def unit_list_statement(user: User):
    """The select of webapp/views/unit.py my_orders (open tab), rebuilt here."""
    from webapp.org import visibility
    P = OrderParticipant
    clause = visibility.orders_clause(user)
    return (select(WorkOrder).where(clause if clause is not None else True)
            .options(selectinload(WorkOrder.participants).selectinload(P.unit),
                     selectinload(WorkOrder.township))
            .where(WorkOrder.state != "closed"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=3000, help="extra orders copied in (default 3000)")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page (default 50)")
    parser.add_argument("--open-share", type=float, default=0.1,
                        help="share of the copies that are open orders (default 0.1)")
    parser.add_argument("--show-sql", action="store_true",
                        help="print the statements one request of each page runs (to spot N+1 loads)")
    args = parser.parse_args()

    # One instant for the whole run: overdue sets and deadlines stay put.
    now = datetime.now(timezone.utc).replace(microsecond=0)
    clock.set_clock(clock.FrozenClock(now))
    data_dir = Path(tempfile.mkdtemp(prefix="nrsc-bench-loop-"))
    app = create_app({"NRSC_DATA_DIR": str(data_dir), "DATABASE_URL": f"sqlite:///{data_dir / 'bench.sqlite3'}",
                      "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False, "NRSC_TASKS_EAGER": True})
    app.add_url_rule("/bench-trivial", "bench_trivial", lambda: "ok")
    from webapp.demo.data import DEMO_PASSWORD, load_demo
    from webapp.orders import queries as oh
    from webapp.platform.security import create_api_token

    started = time.perf_counter()
    with app.app_context():
        dbtools.upgrade()
        t0 = time.perf_counter()
        load_demo()
        demo_orders = db.session.scalar(select(func.count(WorkOrder.id)))
        print(f"demo loaded: {demo_orders} orders in {time.perf_counter() - t0:.1f}s ({data_dir})")
        t0 = time.perf_counter()
        states = add_copies(args.orders, args.open_share)
        total = db.session.scalar(select(func.count(WorkOrder.id)))
        print(f"copied {args.orders} orders in {time.perf_counter() - t0:.1f}s: {dict(states)}; "
              f"{total} orders, {db.session.scalar(select(func.count(OrderParticipant.id)))} participants")
        cast = pick_cast()
        handler, unit = cast["handler"], cast["unit"]
        duty = db.session.scalar(select(User).where(User.login == "duty01"))
        open_of_unit = db.session.scalar(select(func.count()).select_from(
            unit_list_statement(handler).order_by(None).subquery()))
        print(f"unit pages as {handler.login} ({unit.name}): {open_of_unit} orders not closed; "
              f"detail order #{cast['detail_order']} has {cast['detail_events']} audit events")
        loop_ids = loop_orders(args.requests + WARMUP, unit, db.session.get(WorkOrder, cast["unit_order"]))
        _, handler_token = create_api_token(user=handler, label="bench")
        _, duty_token = create_api_token(user=duty, label="bench")
        db.session.commit()
        # Plain values: the rows are expired by the commits and the context ends here.
        handler_login, handler_id = handler.login, handler.id
        counter = StatementCounter(db.engine)

    unit_client = login(app, handler_login, DEMO_PASSWORD)
    office_client = login(app, "office01", DEMO_PASSWORD)
    duty_client = login(app, "duty01", DEMO_PASSWORD)
    with app.test_request_context():
        overdue_count = db.session.scalar(select(func.count()).select_from(
            oh.filtered_orders(oh.OrderFilters(overdue=True)).order_by(None).subquery()))

    # The bare SQL of each page, captured from the same helpers the views call.
    def captured(fn: Callable[[], Any]) -> list[tuple[str, Any]]:
        with app.test_request_context():
            user = db.session.get(User, handler_id)
            return counter.capture(lambda: fn(user))

    office_sql = captured(lambda u: oh.page_of(oh.filtered_orders(oh.OrderFilters()), 1))
    overdue_sql = captured(lambda u: oh.page_of(oh.filtered_orders(oh.OrderFilters(overdue=True)), 1))
    backlog_sql = captured(lambda u: oh.backlog())
    unit_sql = captured(lambda u: db.session.scalars(unit_list_statement(u)).all())

    def one_order_sql(order_id: int, with_timeline: bool):
        def load(u):
            order = oh.load_order(order_id)
            oh.files_of(order)
            oh.alert_of(order)
            if with_timeline:
                oh.timeline(order)
        return captured(load)

    pages = [
        # (label, request, baseline label, baseline)
        ("unit: phone list /unit/", get(unit_client, "/unit/"), "bare SQL", replay(unit_sql)),
        ("unit: phone order page", get(unit_client, f"/unit/orders/{cast['unit_order']}"),
         "bare SQL", replay(one_order_sql(cast["unit_order"], False))),
        ("office list /orders/", get(office_client, "/orders/"), "bare SQL", replay(office_sql)),
        (f"office list overdue ({overdue_count})", get(office_client, "/orders/?overdue=1"),
         "bare SQL", replay(overdue_sql)),
        ("backlog /orders/backlog", get(office_client, "/orders/backlog"), "bare SQL", replay(backlog_sql)),
        (f"order detail ({cast['detail_events']} events)", get(duty_client, f"/orders/{cast['detail_order']}"),
         "bare SQL", replay(one_order_sql(cast["detail_order"], True))),
        ("duty review (to_review)", get(duty_client, f"/orders/{cast['review_order']}/review"),
         "bare SQL", replay(one_order_sql(cast["review_order"], True))),
    ]
    trivial = get(duty_client, "/bench-trivial")

    # Requests run with no app context pushed: each gets its own, as in a
    # server, so nothing (session identity map, g) carries over between them.
    n = args.requests
    results = []
    if args.show_sql:
        for label, page, _b, _f in pages:
            print(f"\n-- {label}")
            for sql, _params in counter.capture(page):
                print("   ", " ".join(sql.split())[:150])
    trivial_ms, trivial_stmts = timed(trivial, n, counter)
    for label, page, base_label, base in pages:
        ms, stmts = timed(page, n, counter)
        with app.app_context():
            base_ms, base_stmts = timed(base, n, counter)
        results.append((label, ms, stmts, base_label, base_ms, base_stmts))
    loop = run_loop(app, loop_ids, handler_token, duty_token, counter, n, handler_login, args.show_sql)

    trivial_p50 = statistics.median(trivial_ms)
    print(f"\n{'page':34} {'p50 ms':>7} {'p95 ms':>7} {'stmts':>5}   {'baseline':9} {'p50 ms':>7} "
          f"{'stmts':>5} {'ratio':>6}   (vs trivial)   {n} requests each after {WARMUP} warm-ups")
    print(f"{'trivial Flask route':34} {trivial_p50:7.2f} {percentile(trivial_ms, 0.95):7.2f} "
          f"{trivial_stmts:5d}")
    worst = 0.0
    for label, ms, stmts, base_label, base_ms, base_stmts in results:
        p50, p95, b50 = statistics.median(ms), percentile(ms, 0.95), statistics.median(base_ms)
        worst = max(worst, p95)
        print(f"{label:34} {p50:7.1f} {p95:7.1f} {stmts:5d}   {base_label:9} {b50:7.2f} {base_stmts:5d} "
              f"{p50 / b50:6.1f}   {p50 / trivial_p50:6.1f}x")
    print(f"\n{'API loop action':34} {'p50 ms':>7} {'p95 ms':>7} {'stmts':>5}   {'baseline':9} {'p50 ms':>7} "
          f"{'':5} {'ratio':>6}   ({n} orders, each accept → arrive → feedback → close)")
    for label, ms, stmts in loop:
        p50 = statistics.median(ms)
        worst = max(worst, percentile(ms, 0.95))
        print(f"{label:34} {p50:7.1f} {percentile(ms, 0.95):7.1f} {stmts:5d}   {'trivial':9} "
              f"{trivial_p50:7.2f} {'':5} {p50 / trivial_p50:6.1f}")
    print(f"\nworst p95: {worst:.1f} ms; total run {time.perf_counter() - started:.0f}s")
    return 0


def run_loop(app, order_ids: list[int], handler_token: str, duty_token: str, counter: StatementCounter,
             runs: int, handler_login: str, show_sql: bool = False) -> list[tuple[str, list[float], int]]:
    """accept → arrive → feedback → close through /api/v1, one order each run."""
    client = app.test_client()
    photo = jpeg()
    unit_auth = {"Authorization": f"Bearer {handler_token}"}
    duty_auth = {"Authorization": f"Bearer {duty_token}"}
    actions: list[tuple[str, Callable[[int], Any]]] = [
        ("accept", lambda oid: client.post(f"/api/v1/orders/{oid}/accept", json={}, headers=unit_auth)),
        ("arrive", lambda oid: client.post(f"/api/v1/orders/{oid}/arrive", headers=unit_auth, data={
            "lat": "37.3", "lon": "106.2", "accuracy_m": "8",
            "photos": (io.BytesIO(photo), "arrive.jpg", "image/jpeg")})),
        ("feedback", lambda oid: client.post(f"/api/v1/orders/{oid}/feedback", headers=unit_auth, data={
            "result": "resolved", "text": "已处置完毕（基准测试）",
            "photos": (io.BytesIO(photo), "fb.jpg", "image/jpeg")})),
        ("close", lambda oid: client.post(f"/api/v1/orders/{oid}/close", json={"note": "ok"}, headers=duty_auth)),
    ]
    times: dict[str, list[float]] = {a: [] for a, _ in actions}
    stmts: dict[str, int] = {}
    for k, oid in enumerate(order_ids):
        for action, call in actions:
            if show_sql and k == 0:  # a warm-up order: its time is not kept
                print(f"\n-- api: {action}")
                out: list[Any] = []
                for sql, _params in counter.capture(lambda: out.append(call(oid))):
                    print("   ", " ".join(sql.split())[:150])
                resp, elapsed = out[0], 0.0
            else:
                before = counter.count
                t0 = time.perf_counter()
                resp = call(oid)
                elapsed = (time.perf_counter() - t0) * 1000
            assert resp.status_code == 200, (action, oid, resp.status_code, resp.get_data(as_text=True)[:300])
            if k >= len(order_ids) - runs:  # the first WARMUP orders warm up
                times[action].append(elapsed)
                stmts[action] = counter.count - before
    with app.app_context():
        closed = db.session.scalar(select(func.count(WorkOrder.id)).where(
            WorkOrder.id.in_(order_ids), WorkOrder.state == "closed"))
    assert closed == len(order_ids), closed
    return [(f"api: {a} (as {'duty01' if a == 'close' else handler_login})", times[a], stmts[a])
            for a, _ in actions]


if __name__ == "__main__":
    raise SystemExit(main())
