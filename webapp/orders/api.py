"""The work-order loop as a JSON API under /api/v1 (DESIGN.md §8).

A user-bound token acts with its user's role and unit, under the same rules
as the pages (they all go through :mod:`webapp.orders.workflow`). Each order action
is its own route and its own path in the OpenAPI document."""
from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, abort, g, jsonify, request
from sqlalchemy import select

from webapp.api.base import ERROR_CONTENT, api_auth, documented
from webapp.extensions import csrf, db
from webapp.models import (
    FEEDBACK_RESULTS,
    Alert,
    EvidenceFile,
    OrderParticipant,
    WorkOrder,
)
from webapp.orders import sla, workflow
from webapp.platform import clock
from webapp.platform.errors import api_error
from webapp.platform.security import DUTY_ROLES, visible_unit_ids

bp = Blueprint("orders_api", __name__)
csrf.exempt(bp)

_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
_VERSION = {"type": "integer", "description": "the order version the client saw; a mismatch is 409 "
                                              "with what changed"}
_PARTICIPANT = {"type": "integer", "description": "act as this participant (default: your unit's)"}
_RESPONSES = {
    "200": {"description": "the work order after the action"},
    "400": {"description": "invalid input (missing reason, photo, coordinates…)", "content": ERROR_CONTENT},
    "404": {"description": "no such order", "content": ERROR_CONTENT},
    "409": {"description": "illegal transition for the order's state, or stale version "
                           "(`changes` lists what happened since)", "content": ERROR_CONTENT},
}


# -- serialisation ----------------------------------------------------------------------
def _iso(value) -> str | None:
    return value.isoformat() if value else None


def participant_json(order: WorkOrder, p: OrderParticipant, calendar=None, schedule=None) -> dict[str, Any]:
    now = clock.now()
    return {
        "id": p.id, "unit": p.unit.code, "unit_name": p.unit.name, "role": p.role, "state": p.state,
        "offices": [o for o in p.office_ids or []], "forwarded_by": p.forwarded_by_id,
        "assigned_at": _iso(p.assigned_at),
        "accepted_at": _iso(p.accepted_at), "arrived_at": _iso(p.arrived_at),
        "arrive_lat": p.arrive_lat, "arrive_lon": p.arrive_lon, "arrive_distance_m": p.arrive_distance_m,
        "feedback_at": _iso(p.feedback_at),
        "returned_at": _iso(p.returned_at), "return_reason": p.return_reason,
        "return_justified": p.return_justified, "return_count": p.return_count,
        "sla": {stage: workflow.sla_status(order, p, stage, now, calendar, schedule) for stage in sla.STAGES},
    }


def order_json(order: WorkOrder) -> dict[str, Any]:
    calendar, schedule = sla.calendar_from_db(), sla.schedule_from_config()
    photos = db.session.scalars(select(EvidenceFile).where(EvidenceFile.order_id == order.id)
                                .order_by(EvidenceFile.id)).all()
    body: dict[str, Any] = {
        "id": order.id, "number": order.number, "kind": order.kind, "state": order.state,
        "version": order.version, "alert_id": order.alert_id, "camera_id": order.camera_id,
        "domain": order.domain, "event_type": order.event_type, "title": order.title,
        "description": order.description, "priority": order.priority,
        "working_group": order.working_group,
        "township": order.township.code if order.township else None,
        "lat": order.lat, "lon": order.lon, "clocks": order.clocks,
        "dispatched_at": _iso(order.dispatched_at), "closed_at": _iso(order.closed_at),
        "rework_count": order.rework_count, "reopen_count": order.reopen_count,
        "supervised": order.supervised, "supervise_note": order.supervise_note,
        "emergency": order.emergency, "emergency_at": _iso(order.emergency_at),
        "case_transferred": order.case_transferred, "case_number": order.case_number,
        "spot_check": {"result": order.spot_check_result, "note": order.spot_check_note,
                       "at": _iso(order.spot_checked_at)},
        "participants": [participant_json(order, p, calendar, schedule) for p in order.participants],
        "feedbacks": [{
            "id": f.id, "participant_id": f.participant_id, "result": f.result, "text": f.text,
            "submitted_at": _iso(f.submitted_at), "client_key": f.client_key,
            "review_result": f.review_result, "review_note": f.review_note,
            "photos": [e.id for e in photos if e.feedback_id == f.id],
        } for f in order.feedbacks],
        "extensions": [{
            "id": e.id, "participant_id": e.participant_id, "stage": e.stage, "reason": e.reason,
            "requested_until": _iso(e.requested_until), "decision": e.decision,
            "decided_at": _iso(e.decided_at),
        } for e in order.extensions],
        "checkin_photos": [e.id for e in photos if e.kind == "checkin"],
    }
    if g.get("api_user") is not None:
        body["allowed_actions"] = workflow.allowed_actions(order, g.api_user)
    return body


# -- plumbing -------------------------------------------------------------------------
def _body() -> dict[str, Any]:
    if request.is_json:
        data = request.get_json(silent=True)
        if data is None and request.get_data():
            abort(400, description="the body is not valid JSON")
        if data is not None and not isinstance(data, dict):
            abort(400, description="the JSON body must be an object")
        return data or {}
    return request.form.to_dict()


def _int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        abort(400, description=f"{name} must be an integer")


def _photos() -> list[Any]:
    return [f for key in ("photos", "photo") for f in request.files.getlist(key)]


def _order(order_id: int) -> WorkOrder:
    order = db.session.get(WorkOrder, order_id)
    if order is None:
        abort(404, description=f"no work order #{order_id}")
    if not workflow.can_view(order, g.api_user):
        abort(403, description=f"your unit does not take part in order {order.number}")
    return order


def _call(fn: Callable[[], WorkOrder], status: int = 200):
    try:
        order = fn()
    except workflow.WorkflowError as exc:
        db.session.rollback()
        return api_error(exc.status, exc.code, exc.message,
                         **({"changes": exc.changes} if exc.changes else {}))
    return jsonify(order_json(order)), status


def _schema(properties: dict[str, Any], required: tuple[str, ...] = (), *, multipart: bool = False):
    props = {**properties, "version": _VERSION}
    schema = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    content = {"application/json": {"schema": schema}}
    if multipart:
        mp_props = {**props, "photos": {"type": "array", "items": {"type": "string", "format": "binary"}}}
        content = {"multipart/form-data": {"schema": {**schema, "properties": mp_props}}, **content}
    return {"required": bool(required), "content": content}


# -- dispatch ---------------------------------------------------------------------------
_PLAN = {
    "lead_unit": {"type": "string", "description": "unit code (webapp/orgchart.py)"},
    "lead_offices": {"type": "array", "items": {"type": "string"}},
    "cooperating": {"type": "array", "items": {"type": "string"}},
    "township": {"type": "string"}, "working_group": {"type": "integer"},
    "clocks": {"type": "object", "properties": {s: {"type": "string", "example": "4h"} for s in sla.STAGES}
               | {"basis": {"type": "string", "enum": ["natural", "working"]}}},
    "priority": {"type": "string", "enum": list(workflow.PRIORITIES)},
    "title": {"type": "string"}, "description": {"type": "string"}, "note": {"type": "string"},
    "as_case": {"type": "boolean", "description": "raise straight to a case (立案查处, working group 5)"},
    "emergency": {"type": "boolean", "description": "start an emergency response at once"},
}


def _alert(alert_id: int) -> Alert:
    alert = db.session.get(Alert, alert_id)
    if alert is None:
        abort(404, description=f"no alert #{alert_id}")
    return alert


@bp.route("/alerts/<int:alert_id>/dispatch", methods=["GET"])
@api_auth(roles=DUTY_ROLES)
@documented("/alerts/{id}/dispatch", "get", {
    "summary": "The dispatch plan the domain's routing rule proposes for a confirmed alert",
    "parameters": _ID,
    "responses": {"200": {"description": "the prefilled plan"},
                  "404": {"description": "no such alert", "content": ERROR_CONTENT}},
})
def dispatch_plan(alert_id: int):
    return jsonify(workflow.prefill(_alert(alert_id)).as_json())


@bp.route("/alerts/<int:alert_id>/dispatch", methods=["POST"])
@api_auth(roles=DUTY_ROLES)
@documented("/alerts/{id}/dispatch", "post", {
    "summary": "Dispatch a confirmed alert as a work order (派发); the routing rule fills what is left out",
    "parameters": _ID,
    "requestBody": {"required": False, "content": {"application/json": {"schema": {
        "type": "object", "properties": _PLAN}}}},
    "responses": {"201": {"description": "the new work order"},
                  "400": {"description": "unknown unit, township or clock", "content": ERROR_CONTENT},
                  "404": {"description": "no such alert", "content": ERROR_CONTENT},
                  "409": {"description": "alert not confirmed or already dispatched", "content": ERROR_CONTENT}},
})
def dispatch(alert_id: int):
    alert = _alert(alert_id)
    body = _body()
    return _call(lambda: workflow.dispatch(alert, actor=g.api_user, data=body), 201)


# -- orders -----------------------------------------------------------------------------
@bp.route("/orders", methods=["GET"])
@api_auth()
@documented("/orders", "get", {
    "summary": "Work orders visible to the token's user, newest first",
    "parameters": [
        {"name": "state", "in": "query", "schema": {"type": "string", "enum": sorted(workflow.ALL_STATES)}},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 50, "maximum": 200}}],
    "responses": {"200": {"description": "{orders: [...]}"}},
})
def list_orders():
    query = select(WorkOrder).order_by(WorkOrder.id.desc())
    state = request.args.get("state")
    if state:
        if state not in workflow.ALL_STATES:
            abort(400, description=f"state must be one of {', '.join(sorted(workflow.ALL_STATES))}")
        query = query.where(WorkOrder.state == state)
    ids = visible_unit_ids(g.api_user)
    if ids is not None:
        query = query.where(WorkOrder.id.in_(
            select(OrderParticipant.order_id).where(OrderParticipant.unit_id.in_(ids | _parents(ids)))))
    try:
        limit = max(1, min(200, int(request.args.get("limit", 50))))
    except ValueError:
        abort(400, description="limit must be an integer")
    orders = db.session.scalars(query.limit(limit)).all()
    return jsonify(orders=[{"id": o.id, "number": o.number, "state": o.state, "title": o.title,
                            "domain": o.domain, "priority": o.priority, "version": o.version,
                            "dispatched_at": _iso(o.dispatched_at)} for o in orders])


def _parents(ids: set[int]) -> set[int]:
    from webapp.models import Unit
    return {pid for pid in db.session.scalars(select(Unit.parent_id).where(Unit.id.in_(ids))) if pid}


@bp.route("/orders/<int:order_id>", methods=["GET"])
@api_auth()
@documented("/orders/{id}", "get", {
    "summary": "A work order with its participants, clocks, feedback and extension requests",
    "parameters": _ID,
    "responses": {"200": {"description": "the work order"},
                  "404": {"description": "no such order", "content": ERROR_CONTENT}},
})
def get_order(order_id: int):
    return jsonify(order_json(_order(order_id)))


# (action, summary, request schema, handler(order, body) -> order)
def _h_accept(o, b):
    return workflow.accept(o, actor=g.api_user, version=_int(b, "version"),
                           participant_id=_int(b, "participant_id"), note=b.get("note"))


def _h_return(o, b):
    return workflow.return_order(o, actor=g.api_user, reason=b.get("reason") or "",
                                 version=_int(b, "version"), participant_id=_int(b, "participant_id"))


def _h_arrive(o, b):
    return workflow.arrive(o, actor=g.api_user, lat=b.get("lat"), lon=b.get("lon"),
                           accuracy_m=b.get("accuracy_m"), photos=_photos(), note=b.get("note"),
                           version=_int(b, "version"), participant_id=_int(b, "participant_id"))


def _h_forward(o, b):
    return workflow.forward(o, actor=g.api_user, unit=b.get("unit") or "", note=b.get("note"),
                            version=_int(b, "version"))


def _h_feedback(o, b):
    return workflow.feedback(o, actor=g.api_user, result=b.get("result") or "", text=b.get("text") or "",
                             photos=_photos(), client_key=b.get("client_key"), case_number=b.get("case_number"),
                             version=_int(b, "version"), participant_id=_int(b, "participant_id"))


def _h_close(o, b):
    return workflow.close(o, actor=g.api_user, note=b.get("note"), version=_int(b, "version"))


def _h_rework(o, b):
    return workflow.rework(o, actor=g.api_user, reason=b.get("reason") or "", version=_int(b, "version"))


def _h_extend(o, b):
    return workflow.extend(o, actor=g.api_user, reason=b.get("reason") or "", until=b.get("until"),
                           hours=b.get("hours"), stage=b.get("stage") or "feedback",
                           version=_int(b, "version"), participant_id=_int(b, "participant_id"))


def _h_approve_extension(o, b):
    return workflow.approve_extension(o, actor=g.api_user, approve=b.get("approve", True),
                                      request_id=_int(b, "request_id"), note=b.get("note"),
                                      version=_int(b, "version"))


def _h_supervise(o, b):
    return workflow.supervise(o, actor=g.api_user, note=b.get("note") or "", version=_int(b, "version"))


def _h_emergency(o, b):
    return workflow.emergency(o, actor=g.api_user, note=b.get("note"), version=_int(b, "version"))


def _h_reopen(o, b):
    return workflow.reopen(o, actor=g.api_user, reason=b.get("reason") or "", version=_int(b, "version"))


def _h_transfer_case(o, b):
    return workflow.transfer_case(o, actor=g.api_user, case_number=b.get("case_number") or "",
                                  note=b.get("note"), version=_int(b, "version"),
                                  participant_id=_int(b, "participant_id"))


def _h_spot_check(o, b):
    return workflow.spot_check(o, actor=g.api_user, result=b.get("result") or "", note=b.get("note"),
                               version=_int(b, "version"))


def _h_return_decision(o, b):
    return workflow.decide_return(o, actor=g.api_user, justified=b.get("justified"), note=b.get("note"),
                                  participant_id=_int(b, "participant_id"), version=_int(b, "version"))


def _h_redispatch(o, b):
    units = b.get("units") or {}
    if not isinstance(units, dict):
        abort(400, description="units must map returned participant ids to unit codes")
    try:
        units = {int(k): str(v) for k, v in units.items()}
    except ValueError:
        abort(400, description="units must map returned participant ids to unit codes")
    return workflow.redispatch(o, actor=g.api_user, units=units, note=b.get("note"),
                               version=_int(b, "version"))


_S = {"type": "string"}
ACTIONS: list[tuple[str, str, dict[str, Any], Callable]] = [
    ("accept", "Accept the order for your unit (签收)",
     _schema({"note": _S, "participant_id": _PARTICIPANT}), _h_accept),
    ("return", "Return the order as not yours (退单), with a reason",
     _schema({"reason": _S, "participant_id": _PARTICIPANT}, ("reason",)), _h_return),
    ("arrive", "Check in on site with GPS (到场); photos optional",
     _schema({"lat": {"type": "number"}, "lon": {"type": "number"}, "accuracy_m": {"type": "number"},
              "note": _S, "participant_id": _PARTICIPANT}, ("lat", "lon"), multipart=True), _h_arrive),
    ("forward", "The lead forwards part of the order to a township or 综合执法局 (转派)",
     _schema({"unit": {"type": "string", "description": "unit code"}, "note": _S}, ("unit",)), _h_forward),
    ("feedback", "Feed back the handling result with at least one photo (反馈)",
     _schema({"result": {"type": "string", "enum": list(FEEDBACK_RESULTS)}, "text": _S,
              "client_key": {"type": "string", "description": "retrying with the same key is kept once"},
              "case_number": _S, "participant_id": _PARTICIPANT}, ("result", "photos"), multipart=True),
     _h_feedback),
    ("close", "Close the order after reviewing the feedback (办结)", _schema({"note": _S}), _h_close),
    ("rework", "Send the order back for rework (退回重办)", _schema({"reason": _S}, ("reason",)), _h_rework),
    ("extend", "Ask for an extension (延期), with a reason",
     _schema({"reason": _S, "until": {"type": "string", "format": "date-time"}, "hours": {"type": "number"},
              "stage": {"type": "string", "enum": list(workflow.EXTENSION_STAGES)},
              "participant_id": _PARTICIPANT}, ("reason",)), _h_extend),
    ("approve-extension", "Approve (or, with approve=false, reject) a pending extension request",
     _schema({"approve": {"type": "boolean", "default": True}, "request_id": {"type": "integer"},
              "note": _S}), _h_approve_extension),
    ("supervise", "Flag the order for supervision (督办), with a note", _schema({"note": _S}, ("note",)),
     _h_supervise),
    ("emergency", "Start an emergency response (启动应急响应); fire, geohazard and safety domains",
     _schema({"note": _S}), _h_emergency),
    ("reopen", "Reopen a closed order within the reopen window", _schema({"reason": _S}, ("reason",)),
     _h_reopen),
    ("transfer-case", "Flag the order as transferred to a case (立案), with the case number",
     _schema({"case_number": _S, "note": _S}, ("case_number",)), _h_transfer_case),
    ("spot-check", "The office spot-checks a closed order's feedback (核查)",
     _schema({"result": {"type": "string", "enum": list(workflow.SPOT_CHECK_RESULTS)}, "note": _S},
             ("result",)), _h_spot_check),
    ("return-decision", "The duty lead records whether a return was justified",
     _schema({"justified": {"type": "boolean"}, "note": _S, "participant_id": _PARTICIPANT},
             ("justified",)), _h_return_decision),
    ("redispatch", "Send a returned order out again, optionally to other units",
     _schema({"units": {"type": "object", "additionalProperties": {"type": "string"},
                        "description": "returned participant id → unit code"}, "note": _S}), _h_redispatch),
]


def _make_view(action: str, handler: Callable) -> Callable:
    def view(order_id: int):
        order = _order(order_id)
        body = _body()
        return _call(lambda: handler(order, body))
    view.__name__ = "order_" + action.replace("-", "_")
    return view


for _action, _summary, _request, _handler in ACTIONS:
    _spec = {"summary": _summary, "parameters": _ID, "requestBody": _request, "responses": dict(_RESPONSES),
             "tags": ["work orders"]}
    _view = documented(f"/orders/{{id}}/{_action}", "post", _spec)(api_auth()(_make_view(_action, _handler)))
    bp.add_url_rule(f"/orders/<int:order_id>/{_action}", endpoint=_view.__name__, view_func=_view,
                    methods=["POST"])
