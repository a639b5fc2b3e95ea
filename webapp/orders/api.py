"""The work-order loop as a JSON API under /api/v1 (DESIGN.md §8).

A user-bound token acts with its user's role and unit, under the same rules
as the pages (they all go through :mod:`webapp.orders.workflow`). Each order action
is its own route and its own path in the OpenAPI document."""
from __future__ import annotations

from functools import wraps
from typing import Any, Callable

from flask import Blueprint, g, jsonify
from pydantic import BaseModel
from sqlalchemy import select

from webapp.api.base import api_auth
from webapp.api.schema import operation
from webapp.extensions import csrf, db
from webapp.models import EvidenceFile, OrderParticipant, OrderRound, WorkOrder
from webapp.orders import deadlines, engine, errors, rounds, sla, workflow
from webapp.orders import schemas as S
from webapp.org import visibility
from webapp.platform import clock
from webapp.platform.errors import api_error
from webapp.printing import pdf

bp = Blueprint("orders_api", __name__)
csrf.exempt(bp)
TAGS = ("work orders",)
_ACTION_ERRORS: dict[int, str] = {
    400: "invalid input (missing reason, photo, coordinates…)",
    403: "this user's role or unit may not take this action on this order",
    404: "no such order",
    409: "illegal transition for the order's state, or stale version (`changes` lists what happened since)",
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
        "arrive_far_reason": p.arrive_far_reason,
        "feedback_at": _iso(p.feedback_at),
        "returned_at": _iso(p.returned_at), "return_reason": p.return_reason,
        "return_justified": p.return_justified, "return_count": p.return_count,
        "sla": {stage: deadlines.sla_status(order, p, stage, now, calendar, schedule) for stage in sla.STAGES},
        "round": p.round_number, "rounds": [round_json(r) for r in p.rounds],
    }


def round_json(r: OrderRound) -> dict[str, Any]:
    done = {"accept": r.accepted_at, "arrive": r.arrived_at, "feedback": r.feedback_at}
    return {"number": r.number, "reason": r.reason, "started_at": _iso(r.started_at), "ended_at": _iso(r.ended_at),
            "stages": {s: {"due_at": _iso(getattr(r, f"{s}_due_at")), "done_at": _iso(done[s]),
                           "on_time": getattr(r, f"{s}_on_time"), "overdue": s in (r.overdue or {})}
                       for s in rounds.round_stages(r)}}


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
        body["allowed_actions"] = engine.allowed_actions(order, g.api_user)
    return body


# -- plumbing -------------------------------------------------------------------------
class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _photos() -> list[Any]:
    return list(g.get("api_files") or [])


def _order(order_id: int) -> WorkOrder:
    order = db.session.get(WorkOrder, order_id)
    if order is None:
        raise _Refused(404, "not_found", f"no work order #{order_id}")
    if not engine.can_view(order, g.api_user):
        raise _Refused(403, "forbidden", f"your unit does not take part in order {order.number}")
    return order


def _call(fn: Callable[[], WorkOrder], status: int = 200):
    try:
        order = fn()
    except _Refused as exc:
        return api_error(exc.status, exc.code, exc.message)
    except errors.WorkflowError as exc:
        db.session.rollback()
        return api_error(exc.status, exc.code, exc.message, **exc.extra,
                         **({"changes": exc.changes} if exc.changes else {}))
    return jsonify(order_json(order)), status


# -- orders -----------------------------------------------------------------------------
@bp.route("/orders", methods=["GET"])
@api_auth()
@operation("Work orders visible to the token's user, newest first", query=S.OrderListQuery, tags=TAGS,
           responses={200: ("the orders", S.OrderList)})
def list_orders(query: S.OrderListQuery):
    stmt = select(WorkOrder).order_by(WorkOrder.id.desc())
    if query.state:
        stmt = stmt.where(WorkOrder.state == query.state)
    clause = visibility.orders_clause(g.api_user)
    if clause is not None:
        stmt = stmt.where(clause)
    orders = db.session.scalars(stmt.limit(query.limit)).all()
    return jsonify(orders=[{"id": o.id, "number": o.number, "state": o.state, "title": o.title,
                            "domain": o.domain, "priority": o.priority, "version": o.version,
                            "dispatched_at": _iso(o.dispatched_at)} for o in orders])


@bp.route("/orders/<int:order_id>", methods=["GET"])
@api_auth()
@operation("A work order with its participants, clocks, feedback and extension requests", tags=TAGS,
           responses={200: ("the work order", S.OrderOut), 403: _ACTION_ERRORS[403], 404: "no such order"})
def get_order(order_id: int):
    return _call(lambda: _order(order_id))


# (action, summary, request schema, handler(order, body) -> order)
def _h_accept(o, b):
    return workflow.accept(o, actor=g.api_user, version=b.version,
                           participant_id=b.participant_id, note=b.note)


def _h_return(o, b):
    return workflow.return_order(o, actor=g.api_user, reason=b.reason,
                                 version=b.version, participant_id=b.participant_id)


def _h_arrive(o, b):
    return workflow.arrive(o, actor=g.api_user, lat=b.lat, lon=b.lon,
                           accuracy_m=b.accuracy_m, photos=_photos(), note=b.note,
                           far_reason=b.far_reason, version=b.version, participant_id=b.participant_id)


def _h_forward(o, b):
    return workflow.forward(o, actor=g.api_user, unit=b.unit, note=b.note,
                            version=b.version)


def _h_feedback(o, b):
    return workflow.feedback(o, actor=g.api_user, result=b.result, text=b.text,
                             photos=_photos(), client_key=b.client_key, case_number=b.case_number,
                             version=b.version, participant_id=b.participant_id)


def _h_close(o, b):
    closed = workflow.close(o, actor=g.api_user, note=b.note, version=b.version,
                            confirm_unfinished=b.confirm_unfinished)
    pdf.prerender_later(closed)
    return closed


def _h_rework(o, b):
    return workflow.rework(o, actor=g.api_user, reason=b.reason, version=b.version)


def _h_extend(o, b):
    return workflow.extend(o, actor=g.api_user, reason=b.reason, until=b.until,
                           hours=b.hours, stage=b.stage,
                           version=b.version, participant_id=b.participant_id)


def _h_approve_extension(o, b):
    return workflow.approve_extension(o, actor=g.api_user, approve=b.approve,
                                      request_id=b.request_id, note=b.note,
                                      version=b.version)


def _h_supervise(o, b):
    return workflow.supervise(o, actor=g.api_user, note=b.note or "", version=b.version)


def _h_emergency(o, b):
    return workflow.emergency(o, actor=g.api_user, note=b.note, version=b.version)


def _h_reopen(o, b):
    return workflow.reopen(o, actor=g.api_user, reason=b.reason, version=b.version)


def _h_transfer_case(o, b):
    return workflow.transfer_case(o, actor=g.api_user, case_number=b.case_number or "",
                                  note=b.note, version=b.version,
                                  participant_id=b.participant_id)


def _h_spot_check(o, b):
    return workflow.spot_check(o, actor=g.api_user, result=b.result, note=b.note,
                               version=b.version)


def _h_return_decision(o, b):
    return workflow.decide_return(o, actor=g.api_user, justified=b.justified, note=b.note,
                                  participant_id=b.participant_id, version=b.version)


def _h_redispatch(o, b):
    units = {int(k): v for k, v in (b.units or {}).items()}
    return workflow.redispatch(o, actor=g.api_user, units=units, note=b.note, version=b.version)


# (action, summary, request body model, handler(order, body) -> order); photos: multipart
_PHOTOS = {"photos": "photos (JPEG, PNG or WebP); `photo` is read too"}
ACTIONS: list[tuple[str, str, type[BaseModel], Callable]] = [
    ("accept", "Accept the order for your unit (签收)", S.AcceptBody, _h_accept),
    ("return", "Return the order as not yours (退单), with a reason", S.ReturnBody, _h_return),
    ("arrive", "Check in on site with GPS (到场); photos optional", S.ArriveBody, _h_arrive),
    ("forward", "The lead forwards part of the order to a township or 综合执法局 (转派)", S.ForwardBody,
     _h_forward),
    ("feedback", "Feed back the handling result with at least one photo (反馈)", S.FeedbackBody, _h_feedback),
    ("close", "Close the order after reviewing the feedback (办结)", S.CloseBody, _h_close),
    ("rework", "Send the order back for rework (退回重办)", S.ReworkBody, _h_rework),
    ("extend", "Ask for an extension (延期), with a reason and until or hours", S.ExtendBody, _h_extend),
    ("approve-extension", "Approve (or, with approve=false, reject) a pending extension request",
     S.ApproveExtensionBody, _h_approve_extension),
    ("supervise", "Flag the order for supervision (督办), with a note", S.SuperviseBody, _h_supervise),
    ("emergency", "Start an emergency response (启动应急响应); fire, geohazard and safety domains",
     S.EmergencyBody, _h_emergency),
    ("reopen", "Reopen a closed order within the reopen window", S.ReopenBody, _h_reopen),
    ("transfer-case", "Flag the order as transferred to a case (立案), with the case number",
     S.TransferCaseBody, _h_transfer_case),
    ("spot-check", "The office spot-checks a closed order's feedback (核查)", S.SpotCheckBody, _h_spot_check),
    ("return-decision", "The duty lead records whether a return was justified", S.ReturnDecisionBody,
     _h_return_decision),
    ("redispatch", "Send a returned order out again, optionally to other units", S.RedispatchBody,
     _h_redispatch),
]
PHOTO_ACTIONS = frozenset({"arrive", "feedback"})
_EXTRA_RESPONSES: dict[str, dict[int, Any]] = {
    "close": {409: "illegal transition, stale version, or `unfinished_confirmation_required`: some units "
                   "never accepted or fed back and confirm_unfinished was not true; `unfinished` lists them "
                   "({participant_id, unit, unit_name, role, state})"},
    "extend": {400: "invalid input; `extension_in_past` or `extension_too_long` when the requested "
                    "deadline is not after now or beyond the configured maximum (NRSC_MAX_EXTENSION_DAYS)"},
}


def _make_view(action: str, model: type[BaseModel], handler: Callable) -> Callable:
    def view(order_id: int, body: BaseModel):
        return _call(lambda: handler(_order(order_id), body))
    view.__name__ = "order_" + action.replace("-", "_")
    photos = action in PHOTO_ACTIONS
    # Both names are read (older phone builds send `photo`); the document names `photos`.
    view = operation(
        dict((a, s) for a, s, _m, _h in ACTIONS)[action], body=model, form=photos,
        files={"photos": _PHOTOS["photos"], "photo": "one photo (older clients)"} if photos else None,
        tags=TAGS, responses={200: ("the work order after the action", S.OrderOut), **_ACTION_ERRORS,
                              **_EXTRA_RESPONSES.get(action, {})},
    )(view)
    return api_auth()(_visible_order_first(view))


def _visible_order_first(view: Callable) -> Callable:
    """Answer 404/403 for an order the token may not see before the body is
    read: a unit off the order learns nothing from validation messages."""
    @wraps(view)
    def wrapped(order_id: int, **kwargs):
        try:
            _order(order_id)
        except _Refused as exc:
            return api_error(exc.status, exc.code, exc.message)
        return view(order_id=order_id, **kwargs)
    return wrapped


# Routes attached here, where the blueprint is defined: one per action.
for _action, _summary, _model, _handler in ACTIONS:
    _view = _make_view(_action, _model, _handler)
    bp.add_url_rule(f"/orders/<int:order_id>/{_action}", endpoint=_view.__name__, view_func=_view,
                    methods=["POST"])
