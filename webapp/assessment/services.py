"""State changes of the assessment: closing a period, adjustments. Each is audited."""
from __future__ import annotations

import math
from typing import Any

from webapp.assessment import scoring
from webapp.assessment.periods import parse_period
from webapp.extensions import db
from webapp.models import AssessmentAdjustment, AssessmentPeriod, Unit, User, WorkOrder
from webapp.platform import audit, clock

ADJUSTMENT_KINDS = {"reduction": "核减", "appeal": "申诉"}


class AssessmentError(ValueError):
    pass


def close_period(period_text: str, *, actor: User | None) -> AssessmentPeriod:
    """Freeze the period: its scores, the order ids behind every number and the rules version."""
    period = parse_period(period_text)
    if scoring.closed(period.label) is not None:
        raise AssessmentError(f"period {period.label} is already closed")
    snapshot = scoring.compute(period)
    row = AssessmentPeriod(period=period.label, rules_version=snapshot["rules_version"], snapshot=snapshot,
                           closed_by_id=actor.id if actor else None, closed_at=clock.now())
    db.session.add(row)
    db.session.flush()
    audit.record("assessment.close", "assessment_period", row.id, actor=actor,
                 data={"period": period.label, "rules_version": row.rules_version,
                       "units": len(snapshot["rows"])})
    db.session.commit()
    return row


def add_adjustment(period_text: str, *, unit_id: Any, points: Any, reason: str, kind: str = "reduction",
                   order_id: Any = None, actor: User) -> AssessmentAdjustment:
    """核减/申诉: points back (or off) for a unit, with a required reason; the actor approves."""
    period = parse_period(period_text)
    reason = (reason or "").strip()
    if not reason:
        raise AssessmentError("an adjustment needs a reason")
    if kind not in ADJUSTMENT_KINDS:
        raise AssessmentError(f"kind must be one of {', '.join(ADJUSTMENT_KINDS)}")
    try:
        value = float(points)
    except (TypeError, ValueError):
        raise AssessmentError("points must be a number") from None
    if not math.isfinite(value) or value == 0 or abs(value) > 100:
        raise AssessmentError("points must be a non-zero number between -100 and 100")
    unit = db.session.get(Unit, int(unit_id)) if str(unit_id or "").isdigit() else None
    if unit is None:
        raise AssessmentError("unknown unit")
    oid = int(order_id) if str(order_id or "").isdigit() else None
    if order_id not in (None, "") and (oid is None or db.session.get(WorkOrder, oid) is None):
        raise AssessmentError("unknown work order")
    row = AssessmentAdjustment(period=period.label, unit_id=unit.id, kind=kind, points=value, order_id=oid,
                               reason=reason[:2000], approved_by_id=actor.id, created_at=clock.now())
    db.session.add(row)
    db.session.flush()
    audit.record("assessment.adjust", "assessment_adjustment", row.id, actor=actor, note=reason,
                 data={"period": period.label, "unit": unit.code, "kind": kind, "points": value,
                       "order_id": oid})
    db.session.commit()
    return row
