"""The assessment rules: the DESIGN.md §7 default shipped as JSON, validated,
versioned in the database (each save is a new row, never an edit) and audited."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import AssessmentRules, User
from webapp.platform import audit

DEFAULT_RULES_FILE = Path(__file__).with_name("default_rules.json")

# Indicator code -> Chinese name. The formulas live in webapp/assessment/scoring.py.
INDICATORS: dict[str, str] = {
    "on_time_accept": "按时签收",
    "on_time_closure": "按时办结",
    "closure_rate": "办结率",
    "no_rework": "无返工",
    "not_overdue": "无超期",
    "no_extension": "无延期",
    "no_unjustified_return": "无无理退单",
    "spot_check_pass": "核查通过",
}
# Indicator code -> how it counts, as the rules page shows it (same as
# webapp/assessment/scoring.py and docs/assessment.md).
INDICATOR_DEFINITIONS: dict[str, str] = {
    "on_time_accept": "每一轮签收阶段已到期或已完成的记录，在签收时限内签收为达标；牵头、配合、转派单位各计本单位。",
    "on_time_closure": "牵头单位每一轮在反馈时限内反馈为达标（办结由值守中心操作，以牵头单位的反馈时限计）。",
    "closure_rate": "本单位牵头工单中已办结的比例。",
    "no_rework": "本单位牵头工单未被退回重办（退回重办计入牵头单位）。",
    "not_overdue": "每一轮签收、到场、反馈均未超时为达标；每件超时工单另按规则扣分，扣分有上限。",
    "no_extension": "参与记录没有获批的延期申请。",
    "no_unjustified_return": "退单经值守负责人认定理由不成立的，计入退单单位；认定成立或未认定的不扣。",
    "spot_check_pass": "牵头单位被核查的工单中核查通过的比例。",
}
ROUNDS_RULE = ("退回重办、重新打开或重新派发的工单，每一轮单独计入：前一轮的迟延或超时不因后一轮按时完成而消除，"
               "后一轮的超时同样计入。")
TOP_KEYS = {"indicators", "overdue_deduction", "grades", "small_sample", "hotspots"}


class RulesError(ValueError):
    """A rules file that cannot be used; the message says what is wrong."""


def default_rules() -> dict[str, Any]:
    return json.loads(DEFAULT_RULES_FILE.read_text(encoding="utf-8"))


def _number(value: Any, what: str, *, low: float = 0, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RulesError(f"{what} must be a number")
    if value < low or (high is not None and value > high):
        raise RulesError(f"{what} must be between {low} and {high}" if high is not None
                         else f"{what} must be at least {low}")
    return float(value)


def validate(content: Any) -> dict[str, Any]:
    """Return the rules normalised, or raise RulesError naming the first problem."""
    if not isinstance(content, dict):
        raise RulesError("the rules must be a JSON object")
    unknown = set(content) - TOP_KEYS
    if unknown:
        raise RulesError(f"unknown keys: {', '.join(sorted(unknown))}")
    indicators = content.get("indicators")
    if not isinstance(indicators, dict) or not indicators:
        raise RulesError("indicators must be an object of indicator: weight")
    bad = sorted(set(indicators) - set(INDICATORS))
    if bad:
        raise RulesError(f"unknown indicators: {', '.join(bad)} (known: {', '.join(INDICATORS)})")
    weights = {k: _number(v, f"weight of {k}") for k, v in indicators.items()}
    total = sum(weights.values())
    if abs(total - 100) > 1e-9:
        raise RulesError(f"weights add up to {total:g}, not 100")
    ded = content.get("overdue_deduction", {"per_order": 0, "cap": 0})
    if not isinstance(ded, dict) or set(ded) - {"per_order", "cap"}:
        raise RulesError("overdue_deduction must be {\"per_order\": N, \"cap\": M}")
    per_order = _number(ded.get("per_order", 0), "overdue_deduction.per_order", high=100)
    cap = _number(ded.get("cap", 0), "overdue_deduction.cap", high=100)
    grades = content.get("grades")
    if not isinstance(grades, list) or not grades:
        raise RulesError("grades must be a list of {name, min}")
    bands = []
    for band in grades:
        if not isinstance(band, dict) or not isinstance(band.get("name"), str) or not band["name"].strip():
            raise RulesError("each grade needs a name and a min")
        bands.append({"name": band["name"].strip(), "min": _number(band.get("min"), f"min of grade {band['name']}",
                                                                   high=100)})
    mins = [b["min"] for b in bands]
    if mins != sorted(mins, reverse=True) or len(set(mins)) != len(mins):
        raise RulesError("grade minimums must go strictly down (highest grade first)")
    if mins[-1] != 0:
        raise RulesError("the last grade must start at 0 so that every score has a grade")
    small = content.get("small_sample", 3)
    if isinstance(small, bool) or not isinstance(small, int) or small < 0:
        raise RulesError("small_sample must be a whole number of due orders, 0 or more")
    hot = content.get("hotspots", {"min_alerts": 3, "radius_m": 300, "days": 30})
    if not isinstance(hot, dict) or set(hot) - {"min_alerts", "radius_m", "days"}:
        raise RulesError("hotspots must be {\"min_alerts\", \"radius_m\", \"days\"}")
    hotspots = {"min_alerts": int(_number(hot.get("min_alerts", 3), "hotspots.min_alerts", low=2)),
                "radius_m": _number(hot.get("radius_m", 300), "hotspots.radius_m", low=1),
                "days": int(_number(hot.get("days", 30), "hotspots.days", low=1))}
    return {"indicators": weights, "overdue_deduction": {"per_order": per_order, "cap": cap},
            "grades": bands, "small_sample": small, "hotspots": hotspots}


def parse(text: str | bytes) -> dict[str, Any]:
    """A rules file's text -> validated rules."""
    try:
        content = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RulesError(f"not valid JSON: {exc}") from None
    return validate(content)


def current() -> tuple[int, dict[str, Any]]:
    """(version, rules) in force; version 0 is the shipped default."""
    row = db.session.scalar(select(AssessmentRules).order_by(AssessmentRules.version.desc()).limit(1))
    if row is None:
        return 0, validate(default_rules())
    return row.version, row.content


def version(number: int) -> dict[str, Any]:
    if number == 0:
        return validate(default_rules())
    row = db.session.scalar(select(AssessmentRules).where(AssessmentRules.version == number))
    if row is None:
        raise LookupError(f"no rules version {number}")
    return row.content


def save(content: Any, *, actor: User | None, note: str | None = None) -> AssessmentRules:
    """Validate and store a new version (nothing is written when invalid)."""
    rules = validate(content)
    latest = db.session.scalar(select(func.max(AssessmentRules.version))) or 0
    row = AssessmentRules(version=latest + 1, content=rules, note=(note or "").strip() or None,
                          created_by_id=actor.id if actor else None)
    db.session.add(row)
    db.session.flush()
    audit.record("assessment_rules.save", "assessment_rules", row.id, actor=actor,
                 note=row.note, data={"version": row.version, "rules": rules})
    db.session.commit()
    return row


def export_text(rules: dict[str, Any]) -> str:
    return json.dumps(rules, ensure_ascii=False, indent=2) + "\n"
