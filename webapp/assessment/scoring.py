"""Scores per unit per period, computed from the work-order records only.

How each record counts (also in docs/assessment.md):

* Two kinds of records count for a unit: its **participant records** (lead,
  cooperating or forwarded; one per unit per order) and their **rounds** —
  the first assignment, then each re-dispatch, rework (退回重办) or reopening
  (``order_rounds``). Every round counts, so a reworked or reopened order
  counts its first round's lateness and its later rounds' alike: a late first
  round stays late. A participant record belongs to the period in which its
  clocks started (``assigned_at``), a round to the period in which it started.
  Each counts for its own unit; an office's records count for its department
  and are also shown per office.
* on_time_accept (per round): every round whose accept stage is due or done;
  passes when it accepted within its clock.
* on_time_closure (per lead round): the lead's feedback within its feedback
  clock (the duty office closes, so the lead's clock is what the unit controls).
* not_overdue (per round): rounds with no overdue stage (accept, arrive or
  feedback); each order with an overdue round also takes
  ``overdue_deduction.per_order`` points, at most ``cap`` in all.
* A round ended by the next one (a return and re-dispatch) counts only the
  stages it finished or that went overdue in it.
* closure_rate (per lead record): share of the unit's lead orders that are closed.
* no_rework (per lead record): lead orders never sent back for rework (rework
  counts against the lead).
* no_extension (per record): participant records without an approved extension.
* no_unjustified_return (per record): records not returned, or returned with
  the duty lead ruling the return justified (undecided returns do not count against).
* spot_check_pass (per lead record): the lead's spot-checked orders that passed.

An indicator with nothing to count gives its full weight: there was nothing to fail."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    String,
    and_,
    case,
    cast,
    distinct,
    func,
    literal,
    not_,
    or_,
    select,
)

from webapp.assessment import rules as rules_mod
from webapp.assessment.periods import Period, parse_period
from webapp.extensions import db
from webapp.models import (
    AssessmentAdjustment,
    AssessmentPeriod,
    ExtensionRequest,
    OrderParticipant,
    OrderRound,
    Unit,
    WorkOrder,
)
from webapp.platform import clock

SCORED_KINDS = ("department", "township", "operator")
LEAD_ONLY = {"on_time_closure", "closure_rate", "no_rework", "spot_check_pass"}


@dataclass
class Tally:
    """One unit's (or office's) counts: indicator -> order ids that pass / fail."""
    ok: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    fail: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    orders: set[int] = field(default_factory=set)
    overdue: list[int] = field(default_factory=list)
    # Counts only (summary mode: the SQL aggregates, no order ids).
    ok_n: dict[str, int] = field(default_factory=dict)
    fail_n: dict[str, int] = field(default_factory=dict)
    orders_n: int | None = None
    overdue_n: int | None = None


def _lead():
    P = OrderParticipant
    return and_(P.role == "lead", P.state != "withdrawn")


def _nonempty(column):
    return and_(column.is_not(None), cast(column, String).not_in(("{}", "null")))


def _stage_counted(R, stage: str, as_of: datetime):
    """A round's stage counts once its flag is frozen (done, or marked
    overdue), or while the round runs and its deadline has passed."""
    return or_(getattr(R, f"{stage}_on_time").is_not(None),
               and_(R.ended_at.is_(None), getattr(R, f"{stage}_due_at") <= as_of))


def _in(column, period: Period):
    return and_(column >= period.start, column < period.end)


def _records(period: Period):
    """One row per participant record of the period (the per-record indicators)."""
    P, W = OrderParticipant, WorkOrder
    q = (select(P.id, P.order_id, P.unit_id, _lead().label("lead"),
                W.closed_at.is_not(None).label("closed"), W.rework_count, W.spot_check_result,
                and_(P.returned_at.is_not(None), P.return_justified.is_(False)).label("unjustified"))
         .join(W, W.id == P.order_id)
         .where(_in(P.assigned_at, period)))
    return db.session.connection().execute(q)


def _rounds(period: Period, as_of: datetime):
    """One row per round of the period (the per-round indicators), the tests
    done in SQL (a year holds hundreds of thousands of records)."""
    P, R = OrderParticipant, OrderRound
    q = (select(R.id, R.order_id, P.unit_id, _lead().label("lead"),
                _stage_counted(R, "accept", as_of).label("accept_counted"), R.accept_on_time,
                _stage_counted(R, "feedback", as_of).label("feedback_counted"), R.feedback_on_time,
                _nonempty(R.overdue).label("overdue"))
         .join(P, P.id == R.participant_id)
         .where(_in(R.started_at, period)))
    return db.session.connection().execute(q)


def _extended(period: Period) -> set[int]:
    q = (select(ExtensionRequest.participant_id)
         .join(OrderParticipant, OrderParticipant.id == ExtensionRequest.participant_id)
         .where(ExtensionRequest.decision == "approved", _in(OrderParticipant.assigned_at, period)))
    return set(db.session.scalars(q))


def _true(value) -> bool:
    return value is True or value == 1


def _judge(r, extended: set[int]) -> list[tuple[str, bool]]:
    """(indicator, passed) for each per-record indicator the record counts in."""
    out = [("no_extension", r.id not in extended), ("no_unjustified_return", not r.unjustified)]
    if r.lead:
        out.append(("closure_rate", bool(r.closed)))
        out.append(("no_rework", not r.rework_count))
        if r.spot_check_result:
            out.append(("spot_check_pass", r.spot_check_result == "pass"))
    return out


def _judge_round(r) -> list[tuple[str, bool]]:
    """(indicator, passed) for each per-round indicator the round counts in."""
    out = [("not_overdue", not r.overdue)]
    if r.accept_counted:
        out.append(("on_time_accept", _true(r.accept_on_time)))
    if r.lead and r.feedback_counted:
        out.append(("on_time_closure", _true(r.feedback_on_time)))
    return out


def _conditions(as_of: datetime) -> tuple[dict[str, tuple[Any, Any]], dict[str, tuple[Any, Any]]]:
    """indicator -> (counted, passed) as SQL conditions, per record and per
    round: the same tests as :func:`_judge` and :func:`_judge_round`, for the
    GROUP BY of the summary mode."""
    P, W, E, R = OrderParticipant, WorkOrder, ExtensionRequest, OrderRound
    lead = _lead()
    always = literal(True)
    extended = select(E.id).where(E.participant_id == P.id, E.decision == "approved").exists()
    per_record = {
        "closure_rate": (lead, W.closed_at.is_not(None)),
        "no_rework": (lead, func.coalesce(W.rework_count, 0) == 0),
        "no_extension": (always, not_(extended)),
        "no_unjustified_return": (always, not_(and_(P.returned_at.is_not(None), P.return_justified.is_(False)))),
        "spot_check_pass": (and_(lead, W.spot_check_result.is_not(None)), W.spot_check_result == "pass"),
    }
    per_round = {
        "on_time_accept": (_stage_counted(R, "accept", as_of), R.accept_on_time.is_(True)),
        "on_time_closure": (and_(lead, _stage_counted(R, "feedback", as_of)), R.feedback_on_time.is_(True)),
        "not_overdue": (always, not_(_nonempty(R.overdue))),
    }
    return per_record, per_round


def _summary(period: Period, as_of: datetime, owner_of: dict[int, int]) -> tuple[dict[int, Tally], dict[int, Tally]]:
    """Counts per unit (offices rolled into their department) and per office, in SQL."""
    P, W, R = OrderParticipant, WorkOrder, OrderRound
    per_record, per_round = _conditions(as_of)
    one = lambda cond: func.sum(case((cond, 1), else_=0))  # noqa: E731

    def sums(conds):
        columns = []
        for code, (counted, passed) in conds.items():
            columns += [one(and_(counted, passed)).label(f"{code}__ok"),
                        one(and_(counted, not_(passed))).label(f"{code}__fail")]
        return columns
    remap = {uid: owner for uid, owner in owner_of.items() if uid != owner}
    owner_expr = case(remap, value=P.unit_id, else_=P.unit_id) if remap else P.unit_id
    overdue_order = case((_nonempty(R.overdue), R.order_id), else_=None)
    conn = db.session.connection()

    def tallies(by_owner: bool) -> dict[int, Tally]:
        out: dict[int, Tally] = {}
        key = owner_expr if by_owner else P.unit_id
        record_q = (select(key.label("g"), *sums(per_record)).join(W, W.id == P.order_id)
                    .where(_in(P.assigned_at, period)))
        # A participant record's assignment (dispatch, forward, re-dispatch) is
        # one of its rounds and starts with it, so the rounds of the period
        # name every order of the period: the distinct orders come from them.
        round_q = (select(key.label("g"), func.count(distinct(R.order_id)).label("orders"),
                          func.count(distinct(overdue_order)).label("overdue"), *sums(per_round))
                   .join(P, P.id == R.participant_id).where(_in(R.started_at, period)))
        for q, conds in ((record_q, per_record), (round_q, per_round)):
            if not by_owner:
                q = q.where(P.unit_id.in_(remap))
            for r in conn.execute(q.group_by(key)).mappings():
                t = out.setdefault(r["g"], Tally(ok_n={}, fail_n={}, orders_n=0, overdue_n=0))
                if "overdue" in r:
                    t.overdue_n, t.orders_n = int(r["overdue"] or 0), int(r["orders"] or 0)
                for code in conds:
                    t.ok_n[code], t.fail_n[code] = int(r[f"{code}__ok"] or 0), int(r[f"{code}__fail"] or 0)
        return out
    rows = tallies(True)
    offices = tallies(False) if remap else {}
    return rows, offices


def grade_of(score: float, bands: list[dict[str, Any]]) -> str:
    for band in bands:
        if score >= band["min"]:
            return band["name"]
    return bands[-1]["name"]


def _score_tally(t: Tally, rules: dict[str, Any]) -> dict[str, Any]:
    indicators = {}
    total = 0.0
    for code, weight in rules["indicators"].items():
        ok, fail = t.ok_n.get(code, len(t.ok.get(code, ()))), t.fail_n.get(code, len(t.fail.get(code, ())))
        den = ok + fail
        points = weight * ok / den if den else weight
        total += points
        indicators[code] = {"weight": weight, "passed": ok, "counted": den,
                            "rate": round(ok / den, 4) if den else None, "points": round(points, 2),
                            "ok": sorted(t.ok.get(code, ())), "fail": sorted(t.fail.get(code, ()))}
    ded = rules["overdue_deduction"]
    # Per overdue order, however many of its rounds went overdue.
    overdue_n = t.overdue_n if t.overdue_n is not None else len(set(t.overdue))
    deduction = min(ded["cap"], ded["per_order"] * overdue_n)
    return {"indicators": indicators, "base": round(total, 2), "deduction": round(deduction, 2),
            "due_orders": t.orders_n if t.orders_n is not None else len(t.orders),
            "overdue_count": overdue_n, "overdue_orders": sorted(set(t.overdue))}


def compute(period: Period | str, *, rules_version: int | None = None, now: datetime | None = None,
            detail: bool = True) -> dict[str, Any]:
    """The period's scores before adjustments (a JSON-able dict). ``detail``
    keeps the order ids behind every number (drill-down, snapshot, bulletin);
    without it the counts come from SQL aggregates (leaderboard, trend)."""
    period = parse_period(period) if isinstance(period, str) else period
    version, rules = (rules_version, rules_mod.version(rules_version)) if rules_version is not None \
        else rules_mod.current()
    now = now or clock.now()
    as_of = min(now, period.end)
    units = {u.id: u for u in db.session.scalars(select(Unit))}
    owner_of = {u.id: (u.parent_id if u.kind == "office" and u.parent_id else u.id) for u in units.values()}
    tallies: dict[int, Tally] = defaultdict(Tally)
    offices: dict[int, Tally] = defaultdict(Tally)
    if not detail:
        summary_rows, summary_offices = _summary(period, as_of, owner_of)
        tallies.update(summary_rows)
        offices.update(summary_offices)
    extended = _extended(period) if detail else set()
    if detail:
        for rows_of, judge in ((_records(period), lambda r: _judge(r, extended)), (_rounds(period, as_of), _judge_round)):
            for r in rows_of:
                owner = owner_of.get(r.unit_id, r.unit_id)
                targets = (tallies[owner], offices[r.unit_id]) if owner != r.unit_id else (tallies[owner],)
                verdicts = judge(r)
                oid = r.order_id
                overdue = getattr(r, "overdue", False)
                for t in targets:
                    t.orders.add(oid)
                    ok, fail = t.ok, t.fail
                    for code, passed in verdicts:
                        (ok if passed else fail)[code].append(oid)
                    if overdue:
                        t.overdue.append(oid)
    rows, apart = [], []
    for unit in sorted((u for u in units.values() if u.kind in SCORED_KINDS and u.active),
                       key=lambda u: (u.kind, u.sort_order, u.id)):
        t = tallies.get(unit.id)
        if t is None or not (t.orders_n if t.orders_n is not None else t.orders):
            apart.append({"unit_id": unit.id, "unit": unit.name, "code": unit.code})
            continue
        row = {"unit_id": unit.id, "unit": unit.name, "code": unit.code, **_score_tally(t, rules)}
        row["small_sample"] = row["due_orders"] < rules["small_sample"]
        rows.append(row)
    office_rows = []
    for office_id, t in offices.items():
        office = units[office_id]
        office_rows.append({"unit_id": office_id, "unit": office.name, "code": office.code,
                            "department_id": office.parent_id, **_score_tally(t, rules)})
    return {"period": period.label, "rules_version": version, "rules": rules, "detail": detail,
            "computed_at": now.isoformat(), "rows": rows, "apart": apart, "offices": office_rows}


def _finish(result: dict[str, Any], adjustments: list[AssessmentAdjustment]) -> dict[str, Any]:
    """Apply adjustments, clamp, grade and rank (on a copy's rows)."""
    rules = result["rules"]
    by_unit: dict[int, list[AssessmentAdjustment]] = defaultdict(list)
    for a in adjustments:
        by_unit[a.unit_id].append(a)
    for row in result["rows"] + result["offices"]:
        adj = by_unit.get(row["unit_id"], []) if "department_id" not in row else []
        row["adjustment"] = round(sum(a.points for a in adj), 2)
        row["adjustments"] = [{"id": a.id, "kind": a.kind, "points": a.points, "reason": a.reason,
                               "order_id": a.order_id} for a in adj]
        score = row["base"] - row["deduction"] + row["adjustment"]
        row["score"] = round(min(100.0, max(0.0, score)), 2)
        row["grade"] = grade_of(row["score"], rules["grades"])
    result["rows"].sort(key=lambda r: (-r["score"], r["code"]))
    rank, previous = 0, None
    for i, row in enumerate(result["rows"], 1):
        if row["score"] != previous:
            rank, previous = i, row["score"]
        row["rank"] = rank
    return result


def closed(period_label: str) -> AssessmentPeriod | None:
    return db.session.scalar(select(AssessmentPeriod).where(AssessmentPeriod.period == period_label))


def assess(period: Period | str, *, detail: bool = True) -> dict[str, Any]:
    """The period's scores as shown: the frozen snapshot of a closed period, else
    computed now; adjustments applied either way."""
    period = parse_period(period) if isinstance(period, str) else period
    row = closed(period.label)
    if row is not None:
        # _finish only sets keys on the rows and sorts them: shallow copies keep
        # the loaded snapshot itself untouched.
        result = dict(row.snapshot, rows=[dict(r) for r in row.snapshot["rows"]],
                      offices=[dict(r) for r in row.snapshot["offices"]])
    else:
        result = compute(period, detail=detail)
    result["closed"] = row is not None
    result["closed_at"] = row.closed_at.isoformat() if row is not None else None
    adjustments = list(db.session.scalars(select(AssessmentAdjustment)
                                          .where(AssessmentAdjustment.period == period.label)
                                          .order_by(AssessmentAdjustment.id)))
    return _finish(result, adjustments)


def unit_row(result: dict[str, Any], unit_id: int) -> dict[str, Any] | None:
    return next((r for r in result["rows"] + result["offices"] if r["unit_id"] == unit_id), None)
