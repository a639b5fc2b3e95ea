"""Readable labels for the codes stored in the database: audit actions,
states, SLA stages, event types.

One mapping per kind of code, translated lazily; each mapping is turned into
plain strings once per app and locale (the office list asks for a state label
about 1,400 times per page, and translating the whole dict each time showed).
Unknown codes come back unchanged, so a new action is never hidden.
"""
from __future__ import annotations

from typing import Any, Mapping

from flask import Flask, current_app, has_app_context
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

# Every code passed to audit.record(...) in webapp/ (grep "audit.record" and
# the workflow's _act/_record calls); workflow actions use the API's spelling.
ACTION_LABELS: dict[str, Any] = {
    # alerts: intake and review
    "alert_created": _l("Alert received"),
    "alert_occurrence_joined": _l("Repeat sighting joined"),
    "alert_intake_replayed": _l("Intake replayed"),
    "review_claim": _l("Claimed for review"),
    "review_release": _l("Released to the queue"),
    "review_takeover": _l("Review taken over"),
    "review_overdue": _l("Review overdue"),
    "alarm_acknowledged": _l("Alarm acknowledged"),
    "review_correct": _l("Domain or event type corrected"),
    "review_confirmed": _l("Confirmed"),
    "review_false_alarm": _l("Marked as false alarm"),
    "review_duplicate": _l("Marked as duplicate"),
    "dispatched": _l("Work order dispatched"),
    # work orders: dispatch, lifecycle, timers
    "dispatch": _l("Dispatched"),
    "accept": _l("Accepted"),
    "return": _l("Returned"),
    "return-decision": _l("Return decided"),
    "redispatch": _l("Redispatched"),
    "arrive": _l("Arrived on site"),
    "forward": _l("Forwarded"),
    "feedback": _l("Feedback submitted"),
    "close": _l("Closed"),
    "rework": _l("Sent back for rework"),
    "extend": _l("Extension requested"),
    "approve-extension": _l("Extension decided"),
    "supervise": _l("Supervised"),
    "emergency": _l("Emergency response started"),
    "reopen": _l("Reopened"),
    "transfer-case": _l("Transferred to a case"),
    "spot-check": _l("Spot check"),
    "sla_warning": _l("Deadline approaching"),
    "sla_overdue": _l("Overdue"),
    # administration
    "login": _l("Logged in"),
    "login_failed": _l("Login failed"),
    "password_changed": _l("Password changed"),
    "user_disabled": _l("User disabled"),
    "secrets_key_rotated": _l("Secrets key rotated"),
    "user_created": _l("User created"),
    "token_created": _l("API token created"),
    "token_revoked": _l("API token revoked"),
    "parcels_imported": _l("Parcels imported"),
    "notification_retry": _l("Notification retried"),
    "demo_loaded": _l("Demo data loaded"),
    "channel_created": _l("Notification channel created"),
    "channel_updated": _l("Notification channel changed"),
    "channel_toggled": _l("Notification channel switched on or off"),
    "channel_test": _l("Test message queued"),
    "assessment_rules.save": _l("Assessment rules saved"),
    "assessment.close": _l("Assessment period closed"),
    "assessment.adjust": _l("Assessment adjustment"),
    "assessment.bulletin": _l("Assessment bulletin made"),
}
# Older spellings (benchmarks, early data) read the same.
ACTION_LABELS.update({
    "approve_extension": ACTION_LABELS["approve-extension"],
    "transfer_case": ACTION_LABELS["transfer-case"],
    "spot_check": ACTION_LABELS["spot-check"],
    "return_decision": ACTION_LABELS["return-decision"],
})

# Order, participant, alert and notification states share one namespace:
# the codes never clash in meaning.
STATE_LABELS: dict[str, Any] = {
    "to_accept": _l("To accept"),
    "in_progress": _l("In progress"),
    "to_review": _l("To review"),
    "closed": _l("Closed"),
    "returned": _l("Returned"),
    "done": _l("Fed back"),
    "withdrawn": _l("Withdrawn"),
    "forwarded": _l("Forwarded"),
    "new": _l("New"),
    "under_review": _l("Under review"),
    "false_alarm": _l("False alarm"),
    "duplicate": _l("Duplicate"),
    "confirmed": _l("Confirmed"),
    "pending": _l("Pending"),
    "sent": _l("Sent"),
    "failed": _l("Failed"),
    "dead": _l("Given up"),
}

STAGE_LABELS: dict[str, Any] = {
    "accept": _l("Accept"),
    "arrive": _l("Arrive on site"),
    "feedback": _l("Feedback"),
}

# Stored notes and notification texts are Chinese data (they outlive the
# reader's language choice), so the SLA timer writes these names.
STAGE_NAMES_ZH = {"accept": "签收", "arrive": "到场", "feedback": "反馈"}


RESULT_NAMES_ZH = {"stopped": "已制止", "rectification_ordered": "已责令整改", "case_filed": "已立案",
                   "not_as_reported": "经核实不属实", "resolved": "已处置完毕", "other": "其他"}
SPOT_CHECK_NAMES_ZH = {"pass": "核查通过", "fail": "核查不通过"}


def stage_name_zh(stage: str) -> str:
    return STAGE_NAMES_ZH.get(stage, stage)


def result_name_zh(result: str) -> str:
    """A feedback or spot-check result, for stored notes."""
    return RESULT_NAMES_ZH.get(result) or SPOT_CHECK_NAMES_ZH.get(result) or result


def _locale_key() -> str:
    try:
        return str(get_locale())
    except RuntimeError:  # an app context without a request: the default locale
        return ""


def _table(name: str, mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    """``mapping`` as plain strings in the current locale, built once per app and locale."""
    if not has_app_context():
        return mapping
    cache = current_app.extensions.setdefault("nrsc.labels", {})
    key = (name, _locale_key())
    table = cache.get(key)
    if table is None:
        table = cache[key] = {code: str(label) for code, label in mapping.items()}
    return table


def _lookup(name: str, mapping: Mapping[str, Any], code: Any) -> str:
    if code is None or code == "":
        return ""
    label = _table(name, mapping).get(code)
    return str(label) if label is not None else str(code)


def action_label(code: str | None) -> str:
    """The audit action ``code`` in words."""
    return _lookup("action", ACTION_LABELS, code)


def state_label(code: str | None) -> str:
    """An order, participant, alert or notification state in words."""
    return _lookup("state", STATE_LABELS, code)


def stage_label(code: str | None) -> str:
    """An SLA stage (accept, arrive, feedback) in words."""
    return _lookup("stage", STAGE_LABELS, code)


def event_type_name(domain: str | None, code: str | None) -> str:
    """The domain plugin's Chinese name of an event type; the code when unknown."""
    if not code:
        return ""
    if not has_app_context():
        return code
    d = current_app.extensions["nrsc.plugins"].domains.get(domain) if domain else None
    event = d.event_type(code) if d else None
    return event.name_zh if event else code


def init_app(app: Flask) -> None:
    """Offer the labels to templates as filters and globals of the same name."""
    for fn in (action_label, state_label, stage_label):
        app.jinja_env.filters[fn.__name__] = fn
        app.jinja_env.globals[fn.__name__] = fn
    app.jinja_env.globals["event_type_name"] = event_type_name
