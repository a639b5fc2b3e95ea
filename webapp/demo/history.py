"""A plausible, clearly synthetic three-month history (合成演示数据) so every
page shows real-looking data on a fresh install.

Everything is made through the real code paths — ``intake.ingest``,
``review.decide`` and the ``webapp.orders.workflow`` actions — while an injected
:class:`~webapp.platform.clock.FrozenClock` steps through time, so audit events,
deadlines and on-time flags are exactly what the live system would record.
The history ends at the load time as a live shift would: a few alerts of the
last hours still wait at the duty console, the open orders mostly keep their
clocks, and only OVERDUE_ORDERS are overdue and supervised.
Loading is idempotent: alerts from source ``demo-history`` mark it as done.
"""
from __future__ import annotations

import io
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from PIL import Image, ImageDraw
from shapely.geometry import Point
from sqlalchemy import exists, func, select

from webapp.alerts import intake, review
from webapp.extensions import db
from webapp.models import Alert, Camera, OutboxMessage, Township, Unit, User, WorkOrder
from webapp.orders import deadlines, planning, states, workflow
from webapp.platform import clock

log = logging.getLogger(__name__)
SOURCE = "demo-history"
DAYS = 90
ALERTS = 300
# Orders dispatched this close to the present may still be open when it
# arrives; they keep to their clocks, except a few that are left overdue.
RECENT_DAYS = 6
OVERDUE_ORDERS = 3
# Stuck orders come from this window (hours before the present): old enough
# to have missed a clock, young enough to still be open.
STUCK_WINDOW_H = (30, 130)
# Orders of the last hours (minutes ago, domain, pace): dispatched, some
# accepted or on site, none late yet. A pace below 1 takes each step at that
# share of the usual time: the fire order (natural-time clocks, whatever the
# weekday) has reported back and waits for the duty office's review.
PRESENT_ORDERS = ((420, "farmland", 1.0), (300, "fire", 0.2), (170, "mining", 1.0),
                  (95, "safety", 1.0), (40, "grazing", 1.0))
# Alerts of the last hours still waiting at the duty console: (minutes ago,
# domain, claimed by). The first available domain stands in for a missing one.
# The older ones are past their review clock (5–30 min) and escalated; the
# newest are not yet.
PRESENT_ALERTS = (
    (150, "ecology", None), (118, "safety", None), (96, "grazing", "duty02"),
    (64, "geohazard", None), (22, "mining", None), (14, "farmland", None),
    (9, "grazing", None), (3, "fire", None),
)
RESULT_TEXT = {
    "stopped": "已责令停止，现场恢复原状（合成演示数据）",
    "rectification_ordered": "已下达整改通知书，限期整改（合成演示数据）",
    "case_filed": "已立案查处（合成演示数据）",
    "not_as_reported": "现场核实与预警不符（合成演示数据）",
    "resolved": "已处置完毕（合成演示数据）",
}
FALSE_ALARM_REASONS = ("permitted_area", "known_object", "weather", "animal", "equipment_fault")


@dataclass
class Cast:
    """Who acts in the history: existing demo users, or stand-ins created once."""

    duty: User
    duty_lead: User
    office: User
    handlers: dict[int, User]

    def handler(self, unit: Unit) -> User:
        top = unit.parent_id or unit.id
        return self.handlers.get(unit.id) or self.handlers[top]


def history_loaded() -> bool:
    return bool(db.session.scalar(select(exists().where(Alert.source == SOURCE))))


def load_history(seed: int = 2026) -> dict[str, int]:
    """Create the history once; a second call adds nothing."""
    if history_loaded():
        return {"alerts": 0, "orders": 0}
    townships = db.session.scalars(select(Township).order_by(Township.id)).all()
    domains = current_app.extensions["nrsc.plugins"].domains
    if not townships or not domains:
        log.warning("demo history skipped: load the organisation and the domain plugins first")
        return {"alerts": 0, "orders": 0}
    rng = random.Random(seed)
    cast = _cast()
    photos = [_photo(rng, i) for i in range(6)]
    cameras = db.session.scalars(select(Camera).order_by(Camera.id)).all()
    previous = clock._source  # restored afterwards: loading never leaves time frozen
    end = clock.now()
    frozen = clock.FrozenClock(end - timedelta(days=DAYS))
    clock.set_clock(frozen)
    counts = {"alerts": 0, "orders": 0}
    fast = _fast_commits(True)
    # Reported history, not events happening now: no camera clip is recorded
    # for it (the frozen clock makes each alert look fresh to the clip rule).
    clip_setting = current_app.config.get("NRSC_ALERT_CLIP_SECONDS")
    current_app.config["NRSC_ALERT_CLIP_SECONDS"] = 0
    try:
        plan = _timeline(rng, end, townships, sorted(domains))
        stuck = 0
        for n, (at, domain_code, township) in enumerate(plan):
            frozen.set(at)
            alert = _alert(rng, n, domain_code, domains[domain_code], township, photos, cameras)
            counts["alerts"] += 1
            order = _review(rng, alert, cast, frozen)
            if order is None:
                continue
            counts["orders"] += 1
            age_h = (end - frozen.current).total_seconds() / 3600
            stop = _stuck_stage(rng, order, end) if (
                stuck < OVERDUE_ORDERS and STUCK_WINDOW_H[0] <= age_h <= STUCK_WINDOW_H[1]) else None
            stuck += stop is not None
            _live(rng, order, cast, frozen, photos, end=end, stop=stop, recent=age_h < RECENT_DAYS * 24)
            if stop is not None:
                _miss_clocks(order, frozen, end)
        # The present: fresh orders under way, the timers catch up, and the
        # last hours' alerts wait at the console.
        for k, (minutes_ago, wanted, pace) in enumerate(PRESENT_ORDERS):
            code = wanted if wanted in domains else sorted(domains)[k % len(domains)]
            frozen.set(end - timedelta(minutes=minutes_ago))
            alert = _alert(rng, ALERTS + len(PRESENT_ALERTS) + k, code, domains[code],
                           townships[(k * 5 + 2) % len(townships)], photos, cameras)
            counts["alerts"] += 1
            order = _review(rng, alert, cast, frozen, confirm=True)
            if order is not None:
                counts["orders"] += 1
                _live(rng, order, cast, frozen, photos, end=end, recent=True, pace=pace)
        frozen.set(end)
        deadlines.sla_sweep()
        counts["alerts"] += _present_alerts(rng, end, townships, domains, photos, cameras, cast, frozen)
        _quiet_outbox(end)
    finally:
        clock.set_clock(previous)
        if clip_setting is None:
            current_app.config.pop("NRSC_ALERT_CLIP_SECONDS", None)
        else:
            current_app.config["NRSC_ALERT_CLIP_SECONDS"] = clip_setting
        if fast:
            _fast_commits(False)
    return counts


def _quiet_outbox(end: datetime) -> None:
    """History messages to outside channels are never delivered: the live
    sender must not post three months of old news to anyone."""
    from sqlalchemy import update

    history_orders = select(WorkOrder.id).join(Alert, WorkOrder.alert_id == Alert.id).where(Alert.source == SOURCE)
    db.session.execute(update(OutboxMessage).where(
        OutboxMessage.status == "pending", OutboxMessage.order_id.in_(history_orders)).values(
        status="dead", last_error="合成演示历史，未实际发送 (synthetic history, never sent)"))
    db.session.commit()


def _fast_commits(on: bool) -> bool:
    """SQLite: skip the fsync per commit while loading (WAL keeps the file
    consistent; only a power cut could lose the demo data). Thousands of small
    commits otherwise take most of the load time."""
    from sqlalchemy import text
    if db.session.get_bind().dialect.name != "sqlite":
        return False
    db.session.commit()
    db.session.execute(text(f"PRAGMA synchronous={'NORMAL' if on else 'FULL'}"))
    db.session.commit()
    return True


# -- the cast ---------------------------------------------------------------------
def _cast() -> Cast:
    def find(role: str, unit: Unit | None) -> User | None:
        stmt = select(User).where(User.role == role, User.active.is_(True))
        if unit is not None:
            stmt = stmt.where(User.unit_id == unit.id)
        return db.session.scalar(stmt.order_by(User.id))

    def stand_in(login: str, name: str, role: str, unit: Unit | None) -> User:
        import secrets

        from werkzeug.security import generate_password_hash
        user = db.session.scalar(select(User).where(User.login == login))
        if user is None:
            # Nobody logs in as a stand-in: the password is random and never
            # shown, so a quick hash of it is enough.
            user = User(login=login, display_name=name, role=role, unit_id=unit.id if unit else None,
                        password_hash=generate_password_hash(secrets.token_urlsafe(24), "pbkdf2:sha256:1000"))
            db.session.add(user)
            db.session.flush()
        return user

    units = db.session.scalars(select(Unit).order_by(Unit.sort_order)).all()
    duty_unit = next((u for u in units if u.kind == "duty"), None)
    leading = next((u for u in units if u.is_leading_office), None)
    cast = Cast(
        duty=find("duty_officer", duty_unit) or stand_in("history_duty", "值守员（历史）", "duty_officer", duty_unit),
        duty_lead=find("duty_lead", duty_unit) or stand_in("history_duty_lead", "值守组长（历史）", "duty_lead", duty_unit),
        office=find("office_staff", leading) or stand_in("history_office", "领导小组办公室（历史）", "office_staff", leading),
        handlers={})
    for unit in units:
        if unit.kind in ("department", "township", "operator", "office"):
            cast.handlers[unit.id] = find("unit_handler", unit) or (
                stand_in(f"history_{unit.code}", f"{unit.name}处置人员（历史）", "unit_handler", unit)
                if unit.parent_id is None else None)
    cast.handlers = {k: v for k, v in cast.handlers.items() if v is not None}
    db.session.commit()
    return cast


# -- the material ---------------------------------------------------------------------
def _photo(rng: random.Random, i: int) -> bytes:
    """A small invented picture: sky, ground, a coloured mark. Clearly not a photo."""
    img = Image.new("RGB", (320, 240), (150 + 10 * i % 80, 190, 220))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 140, 320, 240), fill=(150 - 8 * i, 130, 90))
    x, y = rng.randint(60, 260), rng.randint(120, 200)
    draw.ellipse((x - 18, y - 18, x + 18, y + 18), outline=(200, 30, 30), width=4)
    draw.text((8, 8), f"SYNTHETIC DEMO {i + 1}", fill=(20, 20, 20))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=70)
    return buf.getvalue()


def _timeline(rng: random.Random, end: datetime, townships, domain_codes) -> list[tuple[datetime, str, Township]]:
    """Alert times over the period, cycling so every domain meets every township."""
    start = end - timedelta(days=DAYS)
    step = (end - start - timedelta(hours=6)) / ALERTS
    plan = []
    for n in range(ALERTS):
        at = start + step * n + timedelta(minutes=rng.randint(0, max(1, int(step.total_seconds() // 120))))
        domain = domain_codes[n % len(domain_codes)]
        township = townships[(n // len(domain_codes) + n) % len(townships)]
        plan.append((at, domain, township))
    return plan


def _point_in(rng: random.Random, township: Township) -> tuple[float, float]:
    from shapely.geometry import shape
    poly = shape(township.geometry)
    minx, miny, maxx, maxy = poly.bounds
    for _ in range(200):
        lon, lat = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if poly.contains(Point(lon, lat)):
            return round(lat, 6), round(lon, 6)
    c = poly.representative_point()
    return c.y, c.x


def _alert(rng, n, domain_code, domain, township, photos, cameras) -> Alert:
    lat, lon = _point_in(rng, township)
    event = rng.choice(domain.event_types) if domain.event_types else None
    payload = {
        "domain": domain_code, "event_type": event.code if event else domain_code,
        "source_event_id": f"history-{n:04d}", "occurred_at": (clock.now() - timedelta(minutes=1)).isoformat(),
        "lat": lat, "lon": lon, "score": round(rng.uniform(0.55, 0.97), 2),
        # The detector's label, in the words the duty officers read (not the code).
        "label": event.name_zh if event else domain.name_zh,
        "text": f"合成演示数据：{domain.name_zh}{'·' + event.name_zh if event else ''}（{township.name}）",
    }
    near = [c for c in cameras if c.township_id == township.id]
    if near:
        payload["camera_code"] = rng.choice(near).code
    alert, _created = intake.ingest(payload, [(f"history-{n}.jpg", rng.choice(photos))], source=SOURCE)
    return alert


def _review(rng: random.Random, alert: Alert, cast: Cast, frozen: clock.FrozenClock,
            confirm: bool = False) -> WorkOrder | None:
    """Review within the clock; about a quarter are false alarms (none when ``confirm``)."""
    frozen.advance(minutes=rng.randint(1, 12))
    if alert.status not in ("new", "under_review"):
        return None  # joined an earlier alert as a duplicate
    if not confirm and rng.random() < 0.25:
        review.decide(alert, cast.duty, verdict="false_alarm", reason=rng.choice(FALSE_ALARM_REASONS),
                      note="合成演示数据")
        return None
    review.decide(alert, cast.duty, verdict="confirmed", note="合成演示数据")
    frozen.advance(minutes=rng.randint(1, 4))
    return planning.dispatch(alert, actor=cast.duty, data={"note": "合成演示数据"})


# -- an order's life ---------------------------------------------------------------------
def _fraction_of(p, stage: str, fraction: float, now: datetime) -> datetime:
    due = getattr(p, f"{stage}_due_at")
    start = p.assigned_at or now
    if due is None:
        return now + timedelta(minutes=30)
    return max(now + timedelta(minutes=1), start + (due - start) * fraction)


def _step_to(frozen: clock.FrozenClock, when: datetime, end: datetime) -> bool:
    """Move the clock forward to ``when``; False if that is past the present."""
    if when >= end:
        return False
    if when > frozen.current:
        frozen.set(when)
    return True


def _stuck_stage(rng: random.Random, order: WorkOrder, end: datetime) -> str | None:
    """A stage whose clock the lead will have missed by the present, if any."""
    lead = order.lead
    missed = [s for s in ("accept", "arrive", "feedback")
              if getattr(lead, f"{s}_due_at") is not None
              and getattr(lead, f"{s}_due_at") < end - timedelta(hours=1)]
    return rng.choice(missed[-2:]) if missed else None


def _miss_clocks(order: WorkOrder, frozen: clock.FrozenClock, end: datetime) -> None:
    """A stuck order's clocks run out one by one, and the timer notices each
    a minute later, as it would live (not all at once when the demo loads)."""
    dues = sorted({due for p in states.active_participants(order) for s in ("accept", "arrive", "feedback")
                   if (due := getattr(p, f"{s}_due_at")) is not None and deadlines.stage_done_at(p, s) is None})
    for due in dues:
        if due + timedelta(minutes=1) >= end:
            break
        frozen.set(max(frozen.current, due + timedelta(minutes=1)))
        deadlines.sla_sweep()


def _wait(frozen: clock.FrozenClock, minutes: int, end: datetime) -> bool:
    """Let ``minutes`` pass; False (and no change) if that reaches the present."""
    return _step_to(frozen, frozen.current + timedelta(minutes=minutes), end)


def _live(rng: random.Random, order: WorkOrder, cast: Cast, frozen: clock.FrozenClock,
          photos: list[bytes], *, end: datetime, recent: bool = False, stop: str | None = None,
          pace: float = 1.0) -> None:
    """Play one order through: accept, arrive, feedback, review — with returns,
    lateness, rework, supervision, case transfers and emergencies mixed in.

    Every step is taken at a fraction of its clock, so an order the present
    interrupts is still within its clocks — unless it is late (old orders
    only) or stuck: ``stop`` names the stage a few orders never reach, so they
    miss its clock and the timer supervises them."""
    stuck = stop is not None
    roll = rng.random()
    late = roll < 0.18 and not recent
    reworked = 0.18 <= roll < 0.30
    returned = 0.30 <= roll < 0.38 and not stuck
    supervised = 0.38 <= roll < 0.45
    domain = current_app.extensions["nrsc.plugins"].domain(order.domain)
    if domain is not None and domain.emergency_allowed and rng.random() < 0.15:
        workflow.emergency(order, actor=cast.duty, note="合成演示数据：现场情况紧急")
    if returned:
        returner = next((p for p in order.participants if p.role != "lead"), order.lead)
        if not _step_to(frozen, _fraction_of(returner, "accept", rng.uniform(0.2, 0.6), frozen.current), end):
            return
        workflow.return_order(order, actor=cast.handler(returner.unit), participant_id=returner.id,
                              reason="合成演示数据：不属于本单位辖区")
        if not _wait(frozen, rng.randint(10, 90), end):
            return  # the duty lead has yet to decide
        workflow.decide_return(order, actor=cast.duty_lead, justified=rng.random() < 0.4,
                               participant_id=returner.id, note="合成演示数据")
        if not _wait(frozen, rng.randint(2, 20), end):
            return
        workflow.redispatch(order, actor=cast.duty, note="合成演示数据：重新派发")

    if stop == "accept":
        return
    # Every participant accepts; late ones past the accept clock.
    for p in list(states.active_participants(order)):
        fraction = rng.uniform(1.1, 1.8) if late and p.role == "lead" else rng.uniform(0.1, 0.7) * pace
        if not _step_to(frozen, _fraction_of(p, "accept", fraction, frozen.current), end):
            return
        if late and p.role == "lead" and rng.random() < 0.6:
            deadlines.sla_sweep()  # marks it overdue and supervises it, as the live timer would
        workflow.accept(order, actor=cast.handler(p.unit), participant_id=p.id)
    lead = order.lead
    if supervised and _wait(frozen, rng.randint(20, 240), end) and not order.supervised:
        workflow.supervise(order, actor=cast.office, note="合成演示数据：请加快处置进度")
    if rng.random() < 0.08 and not stuck:
        _extend(rng, order, lead, cast, frozen, end)

    if stop == "arrive":
        return
    # Cooperating units arrive too (in old orders only about half bother);
    # in recent ones they also report, so the open order owes them nothing.
    helpers = []
    for p in list(states.active_participants(order)):
        if p.role != "lead" and not recent and rng.random() < 0.5:
            continue
        fraction = (rng.uniform(1.05, 1.5) if late and p.role == "lead" and rng.random() < 0.5
                    else rng.uniform(0.2, 0.8) * pace)
        if not _step_to(frozen, _fraction_of(p, "arrive", fraction, frozen.current), end):
            return
        lat = (order.lat or 37.3) + rng.uniform(-0.002, 0.002)
        lon = (order.lon or 106.2) + rng.uniform(-0.002, 0.002)
        workflow.arrive(order, actor=cast.handler(p.unit), participant_id=p.id, lat=lat, lon=lon,
                        accuracy_m=rng.randint(5, 40), photos=[(rng.choice(photos), "checkin.jpg")],
                        note="合成演示数据：已到达现场")
        if p.role != "lead" and recent:
            helpers.append(p)
    for p in helpers:
        if not _step_to(frozen, _fraction_of(p, "feedback", rng.uniform(0.2, 0.6) * pace, frozen.current), end):
            return
        workflow.feedback(order, actor=cast.handler(p.unit), participant_id=p.id, result="resolved",
                          text="协办单位已配合完成现场处置（合成演示数据）",
                          photos=[(rng.choice(photos), "coop.jpg")])

    if stop == "feedback":
        return
    for attempt in range(2 if reworked else 1):
        fraction = rng.uniform(1.05, 1.4) if late and rng.random() < 0.5 else rng.uniform(0.3, 0.9) * pace
        target = _fraction_of(lead, "feedback", fraction, frozen.current) if attempt == 0 else \
            frozen.current + timedelta(hours=rng.randint(2, 20))
        if not _step_to(frozen, target, end):
            return
        result = rng.choice(tuple(RESULT_TEXT))
        workflow.feedback(order, actor=cast.handler(lead.unit), participant_id=lead.id, result=result,
                          text=RESULT_TEXT[result], photos=[(rng.choice(photos), f"fb{k}.jpg") for k in range(rng.randint(1, 3))],
                          case_number=f"HSB-AJ-{order.id:05d}" if result == "case_filed" else None)
        if not _wait(frozen, rng.randint(20, 600), end):
            return  # waits for the duty office's review
        if attempt == 0 and reworked:
            workflow.rework(order, actor=cast.duty, reason="合成演示数据：反馈照片不能反映处置结果，请补充")
            continue
        workflow.close(order, actor=cast.duty, note="合成演示数据：处置到位，同意办结", confirm_unfinished=True)

    if order.state == "closed":
        if order.domain in ("mining", "farmland") and not order.case_transferred and rng.random() < 0.2:
            workflow.transfer_case(order, actor=cast.office, case_number=f"HSB-AJ-{order.id:05d}",
                                   note="合成演示数据")
        if rng.random() < 0.2 and _wait(frozen, rng.randint(1, 5) * 1440, end):
            passed = rng.random() < 0.85
            workflow.spot_check(order, actor=cast.office, result="pass" if passed else "fail",
                                note=None if passed else "合成演示数据：现场仍有违法行为")


def _extend(rng, order, lead, cast, frozen, end) -> None:
    if lead.feedback_due_at is None:
        return
    workflow.extend(order, actor=cast.handler(lead.unit), participant_id=lead.id, stage="feedback",
                    until=lead.feedback_due_at + timedelta(days=2), reason="合成演示数据：道路封闭，需延期")
    if _wait(frozen, rng.randint(10, 120), end):
        workflow.approve_extension(order, actor=cast.duty, approve=rng.random() < 0.8, note="合成演示数据")


def _present_alerts(rng, end, townships, domains, photos, cameras, cast, frozen) -> int:
    """The alerts of the last hours, still undecided: most new, one claimed by
    a duty officer (duty02 when the demo users exist) — the console has work."""
    codes = sorted(domains)
    made = 0
    for k, (minutes_ago, wanted, claimer) in enumerate(PRESENT_ALERTS):
        code = wanted if wanted in domains else codes[k % len(codes)]
        frozen.set(end - timedelta(minutes=minutes_ago))
        # Townships in turn, starting away from the last history alerts.
        township = townships[(k * 3 + 1) % len(townships)]
        alert = _alert(rng, ALERTS + k, code, domains[code], township, photos, cameras)
        made += 1
        if claimer and alert.status == "new":
            user = db.session.scalar(select(User).where(User.login == claimer, User.active.is_(True)))
            frozen.advance(minutes=rng.randint(2, min(8, minutes_ago - 1)))
            review.claim(alert, user or cast.duty)
    return made


def summary() -> dict[str, int]:
    """Counts for the CLI: history alerts and orders."""
    alerts = db.session.scalar(select(func.count(Alert.id)).where(Alert.source == SOURCE)) or 0
    orders = db.session.scalar(select(func.count(WorkOrder.id)).join(Alert, WorkOrder.alert_id == Alert.id)
                               .where(Alert.source == SOURCE)) or 0
    return {"alerts": alerts, "orders": orders}
