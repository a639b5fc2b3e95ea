"""The work-order closed loop (DESIGN.md §6): dispatch, the lifecycle state
machine, SLA clocks and their sweep.

Pages and the JSON API both call the functions here, so the rules live in one
place. Every action:

1. finds who acts (a duty role, the office, or a participating unit — 403 otherwise),
2. takes the order with a compare-and-swap on ``WorkOrder.version`` (a stale
   form, or a concurrent action, gets 409 with what changed),
3. checks the move against :data:`TRANSITIONS` (409 when illegal),
4. validates its input (400), changes rows, records one audit event and
   commits — or rolls everything back, staged photo files included.

Design choices worth knowing (also in docs/workflow.md):

* Order state moves on the **lead**'s steps: the lead's accept makes it
  ``in_progress``, the lead's feedback ``to_review``. Cooperating and
  forwarded participants keep their own records and clocks.
* A return (退单) by any participant who has not accepted puts the whole
  order into ``returned`` until the duty office re-dispatches; re-dispatched
  participants get fresh clocks from the re-dispatch. A unit that returns
  again after the duty lead ruled its return unjustified is refused.
* A forwarded participant (转派) gets an accept clock from the forward time
  and inherits the forwarding participant's arrive and feedback deadlines
  (clocks start at dispatch, DESIGN.md §6)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.alerts.evidence import EvidenceError, check_image, store_image
from webapp.extensions import db
from webapp.geometry import ptz
from webapp.models import (
    FEEDBACK_RESULTS,
    EvidenceFile,
    ExtensionRequest,
    Feedback,
    OrderParticipant,
    Unit,
    User,
    WorkOrder,
)
from webapp.orders import rounds
from webapp.orders.deadlines import stage_deadlines, stage_done_at, start_emergency
from webapp.orders.engine import (
    act,
    authorise,
    check_state,
    clean_text,
    freeze_on_time,
    host,
    max_extension_days,
    reopen_days,
    run_unit_of_work,
    set_supervised,
    take,
    unit_by_code,
)
from webapp.orders.errors import WorkflowError, conflict, invalid
from webapp.orders.messaging import notify_participants, notify_unit
from webapp.orders.planning import add_participant, as_bool
from webapp.orders.states import (
    EXTENSION_STAGES,
    P_DONE,
    P_IN_PROGRESS,
    P_RETURNED,
    P_TO_ACCEPT,
    P_WITHDRAWN,
    SPOT_CHECK_RESULTS,
    TRANSITIONS,
    active_participants,
)
from webapp.platform import clock, formats
from webapp.platform.formats import translate as _t
from webapp.platform.labels import result_name_zh, stage_name_zh

DEFAULT_CHECKIN_FAR_M = 500.0


# -- lifecycle actions --------------------------------------------------------------------
def accept(order: WorkOrder, *, actor: User, version: int | None = None,
           participant_id: int | None = None, note: str | None = None) -> WorkOrder:
    """签收: the participant takes the order on."""
    def body(p: OrderParticipant) -> None:
        now = clock.now()
        p.state, p.accepted_at, p.accepted_by_id = P_IN_PROGRESS, now, actor.id
        freeze_on_time(p, "accept", now)
    return act(order, "accept", actor, version=version, participant_id=participant_id, body=body,
                note=clean_text(note) or None)


def return_order(order: WorkOrder, *, actor: User, reason: str, version: int | None = None,
                 participant_id: int | None = None) -> WorkOrder:
    """退单: "not ours", with a reason; the order waits as returned."""
    reason = clean_text(reason)

    def body(p: OrderParticipant) -> str:
        if not reason:
            raise invalid("a return needs a reason")
        if p.return_count >= 2 and p.return_justified is False:
            raise conflict(f"the duty lead ruled {p.unit.name}'s return unjustified; "
                            "the order must be handled", "return_refused")
        p.state, p.returned_at, p.return_reason = P_RETURNED, clock.now(), reason
        p.return_count += 1
        p.return_justified = None
        # The duty office re-dispatches: tell it at once.
        for duty in db.session.scalars(select(Unit).where(Unit.kind == "duty")):
            notify_unit(duty, f"工单被退单 {order.number}", f"{p.unit.name}: {reason}",
                        f"order:{order.id}:return:{p.id}:{p.return_count}", order)
        return reason
    return act(order, "return", actor, version=version, participant_id=participant_id, body=body)


def decide_return(order: WorkOrder, *, actor: User, justified: Any, note: str | None = None,
                  participant_id: int | None = None, version: int | None = None) -> WorkOrder:
    """The duty lead records whether a return was justified (and, on a second
    return by the same unit, decides the dispute)."""
    if justified in (None, ""):
        raise invalid("justified (true or false) is required")
    verdict = as_bool(justified)

    def body(_p: None) -> str:
        returned = [p for p in order.participants if p.returned_at is not None
                    and (participant_id is None or p.id == participant_id)]
        returned.sort(key=lambda p: p.returned_at, reverse=True)
        if not returned:
            raise conflict(f"order {order.number} has no return to decide", "nothing_to_decide")
        p = returned[0]
        p.return_justified = verdict
        return f"{p.unit.name}：{'退单理由成立' if verdict else '退单理由不成立'}" + (f" — {note}" if note else "")
    return act(order, "return-decision", actor, version=version, participant_id=None, body=body,
                data={"justified": verdict})


def redispatch(order: WorkOrder, *, actor: User, units: Mapping[int, str] | None = None,
               note: str | None = None, version: int | None = None) -> WorkOrder:
    """Send a returned order out again. ``units`` maps returned participant
    ids to the unit that replaces them (default: the same unit)."""
    units = {int(k): v for k, v in (units or {}).items() if v}

    def body(_p: None) -> str:
        now = clock.now()
        returned = [p for p in order.participants if p.state == P_RETURNED]
        for p in returned:
            if p.return_count >= 2 and p.return_justified is None:
                raise conflict(f"{p.unit.name} returned the order a second time: the duty lead "
                                "must decide the dispute first", "dispute_pending")
        sent = []
        for p in returned:
            new_code = units.get(p.id)
            if new_code and new_code != p.unit.code:
                unit = unit_by_code(new_code)
                p.state = P_WITHDRAWN
                rounds.end(p, now)
                sent.append(add_participant(order, unit, p.role, now, office_ids=[], reason="redispatch"))
            else:
                # A new round with fresh clocks; the returned round keeps its records.
                p.state = P_TO_ACCEPT
                rounds.start(p, "redispatch", now, stage_deadlines(now, order))
                p.assigned_at, p.accepted_by_id = now, None
                p.warned, p.overdue = {}, {}
                sent.append(p)
        db.session.flush()
        notify_participants(order, f"工单重新派发 {order.number}", order.title,
                             f"order:{order.id}:redispatch:{order.version}", sent)
        return clean_text(note) or None
    return act(order, "redispatch", actor, version=version, participant_id=None, body=body)


def _coordinate(value: Any, name: str, low: float, high: float) -> float:
    if value in (None, ""):
        raise invalid(f"check-in needs {name} (the phone's GPS position)")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise invalid(f"{name} must be a number") from None
    if not (low <= number <= high):
        raise invalid(f"{name} must be between {low} and {high}")
    return number




def _read_photos(photos: Sequence[Any] | None) -> list[Any]:
    """Validate every photo before anything is written (400/413 otherwise)."""

    checked = []
    for item in photos or ():
        if isinstance(item, tuple):
            data, name = item
        elif isinstance(item, (bytes, bytearray)):
            data, name = bytes(item), None
        else:  # a werkzeug FileStorage
            name = getattr(item, "filename", None)
            data = item.read()
            if not data and not name:
                continue  # an empty file input sent by a form
        try:
            checked.append(check_image(data, name))
        except EvidenceError as exc:
            raise WorkflowError(exc.status, exc.code, exc.message) from None
    return checked


def _store_photos(checked: Sequence[Any], kind: str, actor: User, **fks: Any) -> list[EvidenceFile]:
    return [store_image(c, kind=kind, uploaded_by=actor, **fks) for c in checked]


def far_checkin_limit_m() -> float:
    """Farther than this from the event, a check-in needs a reason (NRSC_CHECKIN_FAR_M)."""
    return float(current_app.config.get("NRSC_CHECKIN_FAR_M") or DEFAULT_CHECKIN_FAR_M)


def arrive(order: WorkOrder, *, actor: User, lat: Any, lon: Any, accuracy_m: Any = None,
           photos: Sequence[Any] | None = None, note: str | None = None, version: int | None = None,
           participant_id: int | None = None, far_reason: str | None = None) -> WorkOrder:
    """到场: on-site check-in with the phone's GPS (and photos). Farther than
    :func:`far_checkin_limit_m` from the event it needs ``far_reason``; the
    distance and the reason are kept on the participant and in the audit row."""
    checked_lat = _coordinate(lat, "lat", -90, 90)
    checked_lon = _coordinate(lon, "lon", -180, 180)
    accuracy = None
    if accuracy_m not in (None, ""):
        try:
            accuracy = float(accuracy_m)
        except (TypeError, ValueError):
            raise invalid("accuracy_m must be a number") from None
    reason = clean_text(far_reason or "") or None
    distance = None
    if order.lat is not None and order.lon is not None:
        distance = round(ptz.haversine_m(order.lat, order.lon, checked_lat, checked_lon), 1)
    checked = _read_photos(photos)
    data: dict[str, Any] = {"lat": checked_lat, "lon": checked_lon, "photos": len(checked),
                            "distance_m": distance,
                            # In the hash-chained audit row: the photos' content is bound to it.
                            "photo_sha256": [c.sha256 for c in checked]}
    if reason is not None:
        data["far_reason"] = reason

    def body(p: OrderParticipant) -> str | None:
        if p.arrived_at is not None:
            raise conflict(f"{p.unit.name} already checked in at {p.arrived_at.isoformat()}", "already_arrived")
        limit = far_checkin_limit_m()
        if distance is not None and distance > limit and reason is None:
            raise WorkflowError(400, "far_checkin_needs_reason", _t(
                "You are %(distance)s from the event, farther than %(limit)s: give the reason.",
                distance=formats.distance(distance), limit=formats.distance(limit)))
        now = clock.now()
        p.arrived_at, p.arrived_by_id = now, actor.id
        p.arrive_lat, p.arrive_lon, p.arrive_accuracy_m = checked_lat, checked_lon, accuracy
        p.arrive_distance_m, p.arrive_far_reason = distance, reason
        freeze_on_time(p, "arrive", now)
        _store_photos(checked, "checkin", actor, order_id=order.id, participant_id=p.id)
        return clean_text(note) or None
    return act(order, "arrive", actor, version=version, participant_id=participant_id, body=body, data=data)


def forward(order: WorkOrder, *, actor: User, unit: str, note: str | None = None,
            version: int | None = None) -> WorkOrder:
    """转派: the lead hands part of the order to a township or 综合执法局."""
    target = unit_by_code(clean_text(unit)) if clean_text(unit) else None
    if target is None:
        raise invalid("forward needs the unit to forward to")
    if target.kind not in ("township", "department"):
        raise invalid(f"cannot forward to {target.name}: choose a township or a department")

    def body(lead: OrderParticipant) -> str:
        if any(p.unit_id == target.id for p in active_participants(order)):
            raise conflict(f"{target.name} already takes part in order {order.number}", "already_participant")
        now = clock.now()
        accept_due = stage_deadlines(now, order, ("accept",)).get("accept")
        new = add_participant(order, target, "forwarded", now, forwarded_by=lead, dues={
            "accept": accept_due, "arrive": lead.arrive_due_at, "feedback": lead.feedback_due_at})
        db.session.flush()
        notify_unit(target, f"转派工单 {order.number}", f"{order.title}\n{note or ''}".strip(),
                    f"order:{order.id}:forward:{new.id}", order)
        return f"→ {target.name}" + (f": {clean_text(note)}" if note else "")
    return act(order, "forward", actor, version=version, participant_id=None, body=body,
                data={"to": target.code})


def feedback(order: WorkOrder, *, actor: User, result: str, text: str = "",
             photos: Sequence[Any] | None = None, client_key: str | None = None,
             case_number: str | None = None, version: int | None = None,
             participant_id: int | None = None) -> WorkOrder:
    """反馈: the handling result with at least one photo. A retried upload with
    the same ``client_key`` is kept once."""
    client_key = clean_text(client_key, 80) or None
    if client_key:
        earlier = db.session.scalar(select(Feedback).where(Feedback.client_key == client_key))
        if earlier is not None:
            if earlier.order_id != order.id:
                raise conflict("client_key was already used for another order", "client_key_reused")
            return order
    if result not in FEEDBACK_RESULTS:
        raise invalid(f"result must be one of {', '.join(FEEDBACK_RESULTS)}")
    checked = _read_photos(photos)
    if not checked:
        raise invalid("feedback needs at least one photo")
    case_number = clean_text(case_number, 80) or None

    def body(p: OrderParticipant) -> str:
        now = clock.now()
        fb = Feedback(order_id=order.id, participant_id=p.id, result=result, text=clean_text(text),
                      submitted_by_id=actor.id, submitted_at=now, client_key=client_key)
        db.session.add(fb)
        db.session.flush()
        _store_photos(checked, "feedback", actor, order_id=order.id, participant_id=p.id, feedback_id=fb.id)
        p.feedback_at = now
        freeze_on_time(p, "feedback", now)
        p.state = P_DONE
        if case_number and not order.case_transferred:
            order.case_transferred, order.case_number = True, case_number
        return f"{result_name_zh(result)}：{clean_text(text)}"[:4000]
    try:
        return act(order, "feedback", actor, version=version, participant_id=participant_id, body=body,
                    data={"result": result, "photos": len(checked), "client_key": client_key,
                          "case_number": case_number, "photo_sha256": [c.sha256 for c in checked]})
    except IntegrityError:
        # A concurrent retry of the same upload won the race: that one counts.
        if client_key and db.session.scalar(select(Feedback.id).where(Feedback.client_key == client_key)):
            db.session.refresh(order)
            return order
        raise


def _latest_lead_feedback(order: WorkOrder) -> Feedback | None:
    lead = order.lead
    items = [f for f in order.feedbacks if lead is not None and f.participant_id == lead.id]
    return items[-1] if items else None


def unfinished_participants(order: WorkOrder) -> list[OrderParticipant]:
    """Units that still owe a step (never accepted, or no feedback): closing
    leaves them so, and the closer must say that is intended."""
    return [p for p in active_participants(order) if p.state in (P_TO_ACCEPT, P_IN_PROGRESS)]


def close(order: WorkOrder, *, actor: User, note: str | None = None, version: int | None = None,
          confirm_unfinished: Any = None, data: dict[str, Any] | None = None) -> WorkOrder:
    """办结: the duty office accepts the feedback. When some units never
    accepted or fed back, closing needs ``confirm_unfinished`` true (the
    page's tick box, the API's field; a Python caller that closes such an
    order on purpose says so too): anything else is refused (409
    ``unfinished_confirmation_required``). The audit event lists those units
    and the confirmation; ``data`` goes into it too."""
    confirmed = as_bool(confirm_unfinished) if confirm_unfinished not in (None, "") else False
    audit_data = dict(data or {})

    def body(_p: None) -> str | None:
        unfinished = unfinished_participants(order)
        if unfinished and not confirmed:
            listed = [{"participant_id": p.id, "unit": p.unit.code, "unit_name": p.unit.name, "role": p.role,
                       "state": p.state} for p in unfinished]
            raise WorkflowError(409, "unfinished_confirmation_required", _t(
                "These units never accepted or fed back: %(units)s. Confirm that the order is closed "
                "without them (confirm_unfinished).", units="、".join(p.unit.name for p in unfinished)),
                extra={"unfinished": listed})
        if unfinished:
            audit_data["closed_unfinished"] = [{"unit": p.unit.code, "role": p.role, "state": p.state}
                                               for p in unfinished]
            audit_data["unfinished_confirmed"] = confirmed
        order.closed_at, order.closed_by_id = clock.now(), actor.id
        fb = _latest_lead_feedback(order)
        if fb is not None:
            fb.review_result, fb.review_note = "closed", clean_text(note) or None
        return clean_text(note) or None
    return act(order, "close", actor, version=version, participant_id=None, body=body, data=audit_data)


def rework(order: WorkOrder, *, actor: User, reason: str, version: int | None = None) -> WorkOrder:
    """退回重办: feedback not accepted; counts against the unit."""
    reason = clean_text(reason)

    def body(_p: None) -> str:
        if not reason:
            raise invalid("rework needs a reason")
        order.rework_count += 1
        fb = _latest_lead_feedback(order)
        if fb is not None:
            fb.review_result, fb.review_note = "rework", reason
        if order.lead is not None:
            order.lead.state = P_IN_PROGRESS
            _new_feedback_round(order, order.lead, "rework")
            notify_unit(order.lead.unit, f"工单退回重办 {order.number}", reason,
                        f"order:{order.id}:rework:{order.rework_count}", order)
        return reason
    return act(order, "rework", actor, version=version, participant_id=None, body=body)


def _new_feedback_round(order: WorkOrder, p: OrderParticipant, reason: str) -> None:
    """Rework and reopening: the lead owes a new feedback, on a new clock from
    now; its earlier rounds keep their feedback times and on-time flags."""
    now = clock.now()
    rounds.start(p, reason, now, stage_deadlines(now, order, ("feedback",)))


def _parse_until(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise invalid("until must be an ISO 8601 date-time, e.g. 2026-11-22T18:00+08:00") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=clock.LOCAL_TZ)
    return parsed


def check_extension_bounds(new_due: datetime) -> None:
    """A requested deadline lies after now and at most the configured number
    of days ahead (NRSC_MAX_EXTENSION_DAYS, default 30); 400 otherwise, with
    the message the user reads on the page and in the API."""
    now = clock.now()
    if new_due <= now:
        raise WorkflowError(400, "extension_in_past", _("The new deadline must be later than now."))
    days = max_extension_days()
    limit = now + timedelta(days=days)
    if new_due > limit:
        raise WorkflowError(400, "extension_too_long", _(
            "The new deadline may be at most %(days)s days from now (no later than %(limit)s).",
            days=days, limit=f"{clock.local(limit):%Y-%m-%d %H:%M}"))


def extend(order: WorkOrder, *, actor: User, reason: str, until: Any = None, hours: Any = None,
           stage: str = "feedback", version: int | None = None, participant_id: int | None = None) -> WorkOrder:
    """延期: ask for a later deadline, with a reason."""
    reason = clean_text(reason)
    if not reason:
        raise invalid("an extension needs a reason")
    stage = stage or "feedback"
    if stage not in EXTENSION_STAGES:
        raise invalid(f"stage must be one of {', '.join(EXTENSION_STAGES)}")
    if until in (None, "") and hours in (None, ""):
        raise invalid("an extension needs until (a date-time) or hours")

    def body(p: OrderParticipant) -> str:
        if stage_done_at(p, stage) is not None:
            raise conflict(f"the {stage} stage is already done", "stage_done")
        if any(e.participant_id == p.id and e.decision is None for e in order.extensions):
            raise conflict("an extension request is already waiting for a decision", "extension_pending")
        due = getattr(p, f"{stage}_due_at") or clock.now()
        if until not in (None, ""):
            new_due = _parse_until(until)
        else:
            try:
                new_due = due + timedelta(hours=float(hours))
            except (TypeError, ValueError):
                raise invalid("hours must be a number") from None
        check_extension_bounds(new_due)
        if new_due <= due:
            raise invalid(f"the new deadline must be after the current one ({due.isoformat()})")
        db.session.add(ExtensionRequest(order_id=order.id, participant_id=p.id, stage=stage, reason=reason,
                                        requested_until=new_due, requested_by_id=actor.id,
                                        requested_at=clock.now()))
        return f"{stage_name_zh(stage)} → {clock.local(new_due):%Y-%m-%d %H:%M}：{reason}"
    return act(order, "extend", actor, version=version, participant_id=participant_id, body=body)


def approve_extension(order: WorkOrder, *, actor: User, approve: Any = True, request_id: int | None = None,
                      note: str | None = None, version: int | None = None) -> WorkOrder:
    """延期审批: approve (the deadline moves) or reject a pending request."""
    approved = as_bool(approve) if approve not in (None, "") else True

    def body(_p: None) -> str:
        pending = [e for e in order.extensions if e.decision is None
                   and (request_id is None or e.id == int(request_id))]
        if not pending:
            raise conflict(f"order {order.number} has no pending extension request", "nothing_to_decide")
        req = pending[-1]
        req.decision, req.decided_by_id, req.decided_at = (
            "approved" if approved else "rejected"), actor.id, clock.now()
        if approved:
            p = db.session.get(OrderParticipant, req.participant_id)
            setattr(p, f"{req.stage}_due_at", req.requested_until)
            if req.stage not in (p.overdue or {}):
                p.warned = {k: v for k, v in (p.warned or {}).items() if k != req.stage}
        decision = "同意" if req.decision == "approved" else "不同意"
        return (f"{decision}：{stage_name_zh(req.stage)} → {clock.local(req.requested_until):%Y-%m-%d %H:%M}"
                + (f" — {note}" if note else ""))
    return act(order, "approve-extension", actor, version=version, participant_id=None, body=body,
                data={"approved": approved})


def supervise(order: WorkOrder, *, actor: User, note: str, version: int | None = None) -> WorkOrder:
    """督办: a flag with a note; the units' leaders are told."""
    note = clean_text(note)

    def body(_p: None) -> str:
        if not note:
            raise invalid("supervision needs a note")
        set_supervised(order, note, actor)
        return note
    return act(order, "supervise", actor, version=version, participant_id=None, body=body)


def emergency(order: WorkOrder, *, actor: User, note: str | None = None, version: int | None = None) -> WorkOrder:
    """启动应急响应: priority raised, the leading group and 应急管理局 notified."""
    t = TRANSITIONS["emergency"]
    authorise(order, t, actor, None)
    domain = host().domain(order.domain) if order.domain else None
    if domain is None or not domain.emergency_allowed:
        raise conflict(f"domain {order.domain} does not allow an emergency response", "emergency_not_allowed")
    if order.emergency:
        raise conflict(f"order {order.number} is already under emergency response", "already_emergency")

    def work() -> WorkOrder:
        take(order, version)
        check_state(order, t, None)
        if order.emergency:
            raise conflict(f"order {order.number} is already under emergency response", "already_emergency")
        start_emergency(order, actor, clean_text(note) or None)
        return order
    return run_unit_of_work(work)


def reopen(order: WorkOrder, *, actor: User, reason: str, version: int | None = None) -> WorkOrder:
    """Reopen a closed order within N days when the violation recurs."""
    reason = clean_text(reason)

    def body(_p: None) -> str:
        if not reason:
            raise invalid("reopening needs a reason")
        limit = timedelta(days=reopen_days())
        if order.closed_at is None or clock.now() - order.closed_at > limit:
            raise conflict(f"order {order.number} was closed more than {reopen_days()} days ago; "
                            "raise a new alert instead", "reopen_too_late")
        order.reopen_count += 1
        order.closed_at = order.closed_by_id = None
        if order.lead is not None:
            order.lead.state = P_IN_PROGRESS
            _new_feedback_round(order, order.lead, "reopen")
            notify_unit(order.lead.unit, f"工单重新打开 {order.number}", reason,
                        f"order:{order.id}:reopen:{order.reopen_count}", order)
        return reason
    return act(order, "reopen", actor, version=version, participant_id=None, body=body)


def transfer_case(order: WorkOrder, *, actor: User, case_number: str, note: str | None = None,
                  version: int | None = None, participant_id: int | None = None) -> WorkOrder:
    """立案: flag the order as transferred to a case, with its case number."""
    case_number = clean_text(case_number, 80)

    def body(_p: OrderParticipant | None) -> str:
        if not case_number:
            raise invalid("case transfer needs the case number")
        if order.case_transferred:
            raise conflict(f"order {order.number} was already transferred as case {order.case_number}",
                            "already_transferred")
        order.case_transferred, order.case_number = True, case_number
        return case_number + (f" — {clean_text(note)}" if note else "")
    return act(order, "transfer-case", actor, version=version, participant_id=participant_id, body=body,
                data={"case_number": case_number})


def spot_check(order: WorkOrder, *, actor: User, result: str, note: str | None = None,
               version: int | None = None) -> WorkOrder:
    """核查: the office checks a closed order's feedback: pass or fail."""
    note = clean_text(note)
    if result not in SPOT_CHECK_RESULTS:
        raise invalid("result must be pass or fail")
    if result == "fail" and not note:
        raise invalid("a failed spot check needs a note")

    def body(_p: None) -> str:
        if order.spot_check_result is not None:
            raise conflict(f"order {order.number} was already spot-checked ({order.spot_check_result})",
                            "already_checked")
        order.spot_check_result, order.spot_check_note, order.spot_checked_at = result, note or None, clock.now()
        return result_name_zh(result) + (f"：{note}" if note else "")
    return act(order, "spot-check", actor, version=version, participant_id=None, body=body,
                data={"result": result})
