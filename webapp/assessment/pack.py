"""The dispatch-meeting pack (调度会): open orders per unit, supervised orders and
repeated hotspots (places with ``min_alerts`` or more confirmed alerts within
``radius_m`` metres in the last ``days`` days; defaults 3 / 300 m / 30 days,
set in the assessment rules)."""
from __future__ import annotations

import io
import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from webapp.assessment import rules as rules_mod
from webapp.extensions import db
from webapp.models import Alert, OrderParticipant, Unit, WorkOrder
from webapp.orders.states import ACTIVE_PARTICIPANT_STATES, OPEN_STATES
from webapp.platform import clock


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def open_orders_per_unit() -> list[dict[str, Any]]:
    q = (select(OrderParticipant.unit_id, WorkOrder.id, WorkOrder.dispatched_at, WorkOrder.supervised)
         .join(WorkOrder, WorkOrder.id == OrderParticipant.order_id)
         .where(WorkOrder.state.in_(OPEN_STATES), OrderParticipant.state.in_(ACTIVE_PARTICIPANT_STATES)))
    units = {u.id: u for u in db.session.scalars(select(Unit))}
    per: dict[int, dict[str, Any]] = {}
    now = clock.now()
    for unit_id, _oid, dispatched_at, supervised in db.session.execute(q):
        unit = units[unit_id]
        row = per.setdefault(unit_id, {"unit_id": unit_id, "unit": unit.name, "open": 0, "supervised": 0,
                                       "older_than_7d": 0})
        row["open"] += 1
        row["supervised"] += int(bool(supervised))
        if dispatched_at is not None and now - dispatched_at.replace(tzinfo=dispatched_at.tzinfo or now.tzinfo) > \
                timedelta(days=7):
            row["older_than_7d"] += 1
    return sorted(per.values(), key=lambda r: (-r["open"], r["unit"]))


def supervised_orders() -> list[WorkOrder]:
    return list(db.session.scalars(select(WorkOrder).where(WorkOrder.supervised, WorkOrder.state.in_(OPEN_STATES))
                                   .order_by(WorkOrder.supervised_at)))


def hotspots(*, now: datetime | None = None, min_alerts: int | None = None, radius_m: float | None = None,
             days: int | None = None) -> list[dict[str, Any]]:
    """Greedy clusters of confirmed alerts: the alert with most neighbours first,
    its neighbours taken out, and so on (a grid of radius-sized cells keeps it linear)."""
    settings = rules_mod.current()[1]["hotspots"]
    min_alerts = min_alerts or settings["min_alerts"]
    radius_m = radius_m or settings["radius_m"]
    days = days or settings["days"]
    now = now or clock.now()
    rows = db.session.execute(select(Alert.id, Alert.lat, Alert.lon, Alert.domain, Alert.occurred_at)
                              .where(Alert.status == "confirmed", Alert.lat.is_not(None), Alert.lon.is_not(None),
                                     Alert.occurred_at >= now - timedelta(days=days))).all()
    cell_lat = radius_m / 111_000
    grid: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for r in rows:
        cell_lon = cell_lat / max(0.01, math.cos(math.radians(r.lat)))
        grid[(int(r.lat // cell_lat), int(r.lon // cell_lon))].append(r)

    def neighbours(r) -> list[Any]:
        cell_lon = cell_lat / max(0.01, math.cos(math.radians(r.lat)))
        ci, cj = int(r.lat // cell_lat), int(r.lon // cell_lon)
        return [o for di in (-1, 0, 1) for dj in (-1, 0, 1) for o in grid.get((ci + di, cj + dj), ())
                if _distance_m((r.lat, r.lon), (o.lat, o.lon)) <= radius_m]

    near = {r.id: neighbours(r) for r in rows}
    taken: set[int] = set()
    spots = []
    for r in sorted(rows, key=lambda r: (-len(near[r.id]), r.id)):
        if r.id in taken:
            continue
        members = [o for o in near[r.id] if o.id not in taken]
        if len(members) < min_alerts:
            continue
        taken.update(o.id for o in members)
        spots.append({"lat": round(sum(o.lat for o in members) / len(members), 6),
                      "lon": round(sum(o.lon for o in members) / len(members), 6),
                      "alerts": len(members), "alert_ids": sorted(o.id for o in members),
                      "domains": sorted({o.domain for o in members if o.domain}),
                      "last": max(o.occurred_at for o in members).isoformat()})
    return spots


def build() -> dict[str, Any]:
    return {"open": open_orders_per_unit(), "supervised": supervised_orders(), "hotspots": hotspots(),
            "made_at": clock.local(clock.now()), "settings": rules_mod.current()[1]["hotspots"]}


def render_xlsx(pack: dict[str, Any]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "各单位在办工单"
    ws.append(["单位", "在办工单", "其中督办", "超过7天"])
    for r in pack["open"]:
        ws.append([r["unit"], r["open"], r["supervised"], r["older_than_7d"]])
    ws2 = wb.create_sheet("督办工单")
    ws2.append(["工单编号", "标题", "状态", "督办说明", "督办时间"])
    for o in pack["supervised"]:
        ws2.append([o.number, o.title, o.state, o.supervise_note or "",
                    f"{clock.local(o.supervised_at):%Y-%m-%d %H:%M}" if o.supervised_at else ""])
    ws3 = wb.create_sheet("重复报警点位")
    s = pack["settings"]
    ws3.append([f"{s['days']} 天内 {s['radius_m']:g} 米范围内 {s['min_alerts']} 次及以上确认报警"])
    ws3.append(["纬度", "经度", "报警次数", "领域", "最近一次", "报警编号"])
    for h in pack["hotspots"]:
        ws3.append([h["lat"], h["lon"], h["alerts"], "、".join(h["domains"]), h["last"],
                    ",".join(map(str, h["alert_ids"]))])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
