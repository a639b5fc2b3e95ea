"""The leaders' overview dashboard: figures of one period counted in SQL.

Alerts belong to the period in which they were created, orders to the one in
which they were dispatched, participant records to the one in which their
clocks started (``assigned_at``), as in scoring. Every figure is one GROUP BY
(or one column of durations for a median), never a loop over a year of rows.

"Detector" is the sender (``alerts.source``: an AI box, a platform detector's
source name, ``manual``) together with the label it reported; the false-alarm
rate is false_alarm / (false_alarm + confirmed) — duplicates and open alerts
have no verdict on the detector and are left out.
"""
from __future__ import annotations

import statistics
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, select

from webapp.assessment.periods import Period
from webapp.extensions import db
from webapp.models import Alert, Camera, OrderParticipant, Township, WorkOrder
from webapp.orders import queries
from webapp.orders.states import CLOSED, OPEN_STATES, P_WITHDRAWN
from webapp.platform import clock

# A period longer than this many days is drawn per week, shorter ones per day.
DAILY_UP_TO_DAYS = 62
# Heat-map grid: cell size in degrees (~0.01° ≈ 1.1 km north-south here).
GRID_DEG = 0.01
UNKNOWN = "—"


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _bucket(column, weekly: bool):
    """SQL expression: the local (UTC+8, no daylight saving) day or the
    Monday of the local week of a UTC timestamp, as 'YYYY-MM-DD' text."""
    if _dialect() == "postgresql":
        local = func.timezone(clock.LOCAL_TZ.key, column)
        day = func.date_trunc("week" if weekly else "day", local)
        return func.to_char(day, "YYYY-MM-DD")
    if weekly:
        # SQLite: 'weekday 0' moves forward to Sunday; six days back is Monday.
        return func.date(column, "+8 hours", "weekday 0", "-6 days")
    return func.date(column, "+8 hours")


def _seconds(start, end):
    """SQL expression: seconds from start to end."""
    if _dialect() == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _median_minutes(start, end, *where) -> dict[str, Any]:
    values = db.session.scalars(select(_seconds(start, end)).where(start.is_not(None), end.is_not(None),
                                                                     *where)).all()
    # PostgreSQL's extract() answers Decimal.
    values = [float(v) for v in values if v is not None and v >= 0]
    return {"n": len(values), "minutes": round(statistics.median(values) / 60.0, 1) if values else None}


def _rate(false: int, confirmed: int) -> float | None:
    decided = false + confirmed
    return round(100.0 * false / decided, 1) if decided else None


def build(period: Period, domain_names: dict[str, str]) -> dict[str, Any]:
    start, end = period.start, period.end
    in_period = and_(Alert.created_at >= start, Alert.created_at < end)
    weekly = (period.last - period.first).days + 1 > DAILY_UP_TO_DAYS
    bucket = _bucket(Alert.created_at, weekly).label("bucket")

    # -- alerts over time, by domain / township / source -------------------------------
    def over_time(key, names) -> dict[str, Any]:
        rows = db.session.execute(select(bucket, key.label("key"), func.count(Alert.id))
                                  .where(in_period).group_by(bucket, key)).all()
        buckets = sorted({r[0] for r in rows})
        totals: dict[Any, int] = {}
        cells: dict[tuple[Any, str], int] = {}
        for b, k, n in rows:
            totals[k] = totals.get(k, 0) + n
            cells[(k, b)] = n
        keys = sorted(totals, key=lambda k: (-totals[k], str(k)))
        series = [{"key": k, "name": names(k), "total": totals[k],
                   "values": [cells.get((k, b), 0) for b in buckets]} for k in keys]
        return {"buckets": buckets, "series": series, "total": sum(totals.values())}

    townships = dict(db.session.execute(select(Township.id, Township.name)).all())
    by_domain = over_time(Alert.domain, lambda k: domain_names.get(k, k))
    by_township = over_time(Alert.township_id, lambda k: townships.get(k, UNKNOWN) if k else UNKNOWN)
    by_source = over_time(Alert.source, lambda k: k)

    # -- false alarms per detector and per camera -------------------------------------
    false_n = func.sum(case((Alert.status == "false_alarm", 1), else_=0))
    confirmed_n = func.sum(case((Alert.status == "confirmed", 1), else_=0))
    # The platform's own pipeline names its detector; an AI box its label.
    label = func.coalesce(Alert.detector, Alert.label, literal(""))
    detectors = []
    for source, lab, total, f, c in db.session.execute(
            select(Alert.source, label, func.count(Alert.id), false_n, confirmed_n)
            .where(in_period).group_by(Alert.source, label)).all():
        detectors.append({"source": source, "label": lab, "total": total, "false": int(f or 0),
                          "confirmed": int(c or 0), "rate": _rate(int(f or 0), int(c or 0))})
    detectors.sort(key=lambda r: (-(r["rate"] or 0), -r["total"], r["source"], r["label"]))
    cameras = []
    for code, name, total, f, c in db.session.execute(
            select(Camera.code, Camera.name, func.count(Alert.id), false_n, confirmed_n)
            .join(Camera, Camera.id == Alert.camera_id).where(in_period)
            .group_by(Camera.id, Camera.code, Camera.name)).all():
        cameras.append({"code": code, "name": name, "total": total, "false": int(f or 0),
                        "confirmed": int(c or 0), "rate": _rate(int(f or 0), int(c or 0))})
    cameras.sort(key=lambda r: (-(r["rate"] or 0), -r["total"], r["code"]))

    # -- median stage times --------------------------------------------------------
    P, WO = OrderParticipant, WorkOrder
    lead = and_(P.role == "lead", P.state != P_WITHDRAWN, P.assigned_at >= start, P.assigned_at < end)
    medians = [
        {"stage": "review", **_median_minutes(Alert.created_at, Alert.verdict_at, in_period)},
        {"stage": "accept", **_median_minutes(P.assigned_at, P.accepted_at, lead)},
        {"stage": "arrive", **_median_minutes(P.assigned_at, P.arrived_at, lead)},
        {"stage": "close", **_median_minutes(WO.dispatched_at, WO.closed_at, WO.state == CLOSED,
                                             WO.dispatched_at >= start, WO.dispatched_at < end)},
    ]

    # -- overdue and supervised orders ----------------------------------------------
    now = clock.now()
    open_ = WO.state.in_(OPEN_STATES)
    orders = {
        "dispatched": db.session.scalar(select(func.count(WO.id)).where(WO.dispatched_at >= start,
                                                                      WO.dispatched_at < end)) or 0,
        "overdue_now": db.session.scalar(select(func.count(WO.id)).where(open_,
                                                                        queries.order_overdue_clause(now))) or 0,
        "supervised_now": db.session.scalar(select(func.count(WO.id)).where(open_, WO.supervised.is_(True))) or 0,
        "supervised_period": db.session.scalar(select(func.count(WO.id)).where(
            WO.supervised.is_(True), WO.dispatched_at >= start, WO.dispatched_at < end)) or 0,
    }

    # -- heat map: confirmed alerts per grid cell -----------------------------------------
    gy = func.floor(Alert.lat / GRID_DEG).label("gy")
    gx = func.floor(Alert.lon / GRID_DEG).label("gx")
    cells = [{"lat": round((float(y) + 0.5) * GRID_DEG, 5), "lon": round((float(x) + 0.5) * GRID_DEG, 5),
              "count": n, "township": townships.get(t, UNKNOWN) if t else UNKNOWN}
             for y, x, n, t in db.session.execute(
                 select(gy, gx, func.count(Alert.id), func.min(Alert.township_id))
                 .where(in_period, Alert.status == "confirmed").group_by(gy, gx)).all()]
    cells.sort(key=lambda c: (-c["count"], c["lat"], c["lon"]))

    return {"period": period, "weekly": weekly, "by_domain": by_domain, "by_township": by_township,
            "by_source": by_source, "detectors": detectors, "cameras": cameras, "medians": medians,
            "orders": orders, "heat": cells, "generated_at": now}


def chart_data(series_block: dict[str, Any], limit: int = 8) -> dict[str, Any]:
    """The JSON an ECharts stacked bar needs: the largest ``limit`` series and
    the rest summed as one."""
    series = series_block["series"]
    top, rest = series[:limit], series[limit:]
    out = [{"name": s["name"], "values": s["values"]} for s in top]
    if rest:
        out.append({"name": "…", "values": [sum(v) for v in zip(*(s["values"] for s in rest))]})
    return {"labels": series_block["buckets"], "series": out}


def as_of(value: datetime) -> str:
    return f"{clock.local(value):%Y-%m-%d %H:%M}"
