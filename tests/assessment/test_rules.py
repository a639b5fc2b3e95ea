"""The rules: the shipped default is valid; bad files are refused with nothing written."""
from __future__ import annotations

import json

import pytest

from webapp.assessment import rules


def test_default_rules_are_design_7():
    r = rules.validate(rules.default_rules())
    assert r["indicators"] == {"on_time_accept": 10, "on_time_closure": 25, "closure_rate": 15, "no_rework": 15,
                               "not_overdue": 15, "no_extension": 5, "no_unjustified_return": 5,
                               "spot_check_pass": 10}
    assert [(b["name"], b["min"]) for b in r["grades"]] == [("优秀", 90), ("良好", 80), ("合格", 60), ("不合格", 0)]


def _with(**changes):
    r = rules.default_rules()
    r.update(changes)
    return r


@pytest.mark.parametrize("content, message", [
    (_with(indicators={**rules.default_rules()["indicators"], "smiles": 0}), "unknown indicators: smiles"),
    (_with(indicators={**rules.default_rules()["indicators"], "no_extension": 6}), "add up to 101"),
    (_with(grades=[{"name": "A", "min": 60}, {"name": "B", "min": 80}, {"name": "C", "min": 0}]), "strictly down"),
    (_with(grades=[{"name": "A", "min": 60}]), "start at 0"),
    (_with(overdue_deduction={"per_order": -1, "cap": 5}), "per_order"),
    (_with(colour="red"), "unknown keys"),
])
def test_bad_rules_refused(content, message):
    with pytest.raises(rules.RulesError, match=message):
        rules.parse(json.dumps(content))


def test_bad_rules_not_saved(org, make_user):
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import AssessmentRules, AuditEvent

    user = make_user("office_staff", "natural_resources")
    with pytest.raises(rules.RulesError):
        rules.save(_with(indicators={"on_time_accept": 50}), actor=user)
    assert db.session.scalar(select(func.count()).select_from(AssessmentRules)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.entity_type == "assessment_rules")) == 0
    row = rules.save(rules.default_rules(), actor=user, note="v1")
    assert row.version == 1 and rules.current()[0] == 1
    assert rules.parse(rules.export_text(rules.current()[1])) == rules.current()[1]
