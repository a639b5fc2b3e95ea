"""Unit staff pages for phones: my unit's orders by urgency, accept, return,
on-site check-in, feedback with photos, extension request.

Every change is made by ``webapp.orders.workflow``; these views only check the form,
call it and show what it answered. Forms posted by ``static/js/field.js``
(header ``X-Field-Fetch``) get JSON back so the page keeps what was typed and
the photos chosen; plain posts get the page again with the same values.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Callable

from flask import Blueprint, Flask, abort, flash, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import exists, select
from sqlalchemy.orm import selectinload

from webapp.alerts import evidence
from webapp.extensions import db
from webapp.models import FEEDBACK_RESULTS, Feedback, OrderParticipant, Unit, WorkOrder
from webapp.orders import engine, errors, messages, navigation, workflow
from webapp.orders import queries as oh
from webapp.orders.states import ACTIVE_PARTICIPANT_STATES
from webapp.org import visibility
from webapp.platform import clock
from webapp.platform.jinja import render
from webapp.platform.security import current_user, roles_required

bp = Blueprint("unit", __name__, template_folder="templates")
UNIT_PAGE_ROLES = ("unit_handler", "unit_leader")
DONE_LIMIT = 50
LIST_PAGE_SIZE = 30


def register(app: Flask) -> None:
    app.register_blueprint(bp, url_prefix="/unit")


# -- reading ----------------------------------------------------------------------
def my_participant(order: WorkOrder, user) -> OrderParticipant | None:
    """The user's unit's part in the order (the most active one if several)."""
    mine = ([p for p in order.participants if p.state != "withdrawn"] if user.role == "admin"
            else visibility.participants_of(order, user))
    if not mine:
        return None
    rank = {"to_accept": 0, "in_progress": 1, "done": 2, "returned": 3}
    return sorted(mine, key=lambda p: (rank.get(p.state, 9), p.id))[0]


def _order_or_403(order_id: int) -> tuple[WorkOrder, OrderParticipant]:
    order = oh.load_order(order_id)
    if order is None:
        abort(404)
    me = my_participant(order, current_user())
    if me is None:
        abort(403)
    return order, me


@bp.route("/")
@roles_required(*UNIT_PAGE_ROLES)
def my_orders():
    user = current_user()
    tab = request.args.get("tab", "open")
    P = OrderParticipant
    clause = visibility.orders_clause(user)
    stmt = (select(WorkOrder).where(clause if clause is not None else WorkOrder.id.is_not(None))
            .options(selectinload(WorkOrder.participants).selectinload(P.unit),
                     selectinload(WorkOrder.township)))
    if tab == "done":
        stmt = stmt.where(WorkOrder.state == "closed").order_by(WorkOrder.closed_at.desc()).limit(DONE_LIMIT)
    else:
        stmt = stmt.where(WorkOrder.state != "closed")
    orders = db.session.scalars(stmt).all()
    now = clock.now()
    items = []
    counts = {"open": 0, "review": 0}
    for order in orders:
        me = my_participant(order, user)
        if me is None:
            continue
        active = me.state in ACTIVE_PARTICIPANT_STATES
        if tab != "done":
            counts["open" if active else "review"] += 1
            if (tab == "open") != active:
                continue
        nxt = oh.next_deadline(me)
        items.append({"order": order, "participant": me, "next": nxt,
                      "overdue": bool(nxt and nxt[1] < now)})
    # Most urgent first: overdue, then the nearest deadline, emergencies on top of equals.
    far = now + timedelta(days=3650)
    items.sort(key=lambda i: (i["next"][1] if i["next"] else far, not i["order"].emergency, i["order"].id))
    if tab == "done":
        items.sort(key=lambda i: i["order"].closed_at or now, reverse=True)
    # Rendering dominates on a phone; a long backlog is shown a page at a time,
    # the most urgent first.
    pages = max(1, -(-len(items) // LIST_PAGE_SIZE))
    try:
        page = min(pages, max(1, int(request.args.get("page", 1))))
    except ValueError:
        page = 1
    items = items[(page - 1) * LIST_PAGE_SIZE:page * LIST_PAGE_SIZE]
    return render("unit/my_orders.html", "unit/_order_list.html", items=items, tab=tab, counts=counts, now=now,
                  page=page, pages=pages)


def _page_context(order: WorkOrder, me: OrderParticipant, **extra: Any) -> dict[str, Any]:
    files = oh.files_of(order)
    ctx = {
        "order": order, "me": me, "alert": oh.alert_of(order), "now": clock.now(),
        "my_stages": oh.stages(me), "snapshots": files["snapshots"], "files": files,
        "my_feedbacks": [f for f in order.feedbacks if f.participant_id == me.id],
        "extensions": [x for x in order.extensions if x.participant_id == me.id],
        "results": FEEDBACK_RESULTS, "client_key": uuid.uuid4().hex,
        "form_version": order.version,
        "form": {}, "errors": {}, "conflict": None, "is_fetch": False, "error_code": None,
        "forward_targets": _forward_targets(order) if me.role == "lead" else [],
        # The extension form's bounds (the workflow checks them again).
        "extension_min": f"{clock.local(clock.now()):%Y-%m-%dT%H:%M}",
        "extension_max": f"{clock.local(clock.now() + timedelta(days=engine.max_extension_days())):%Y-%m-%dT%H:%M}",
        "primary_action": _primary_action(me),
        "nav_links": (navigation.links(order.lat, order.lon, order.title or order.number)
                      if order.lat is not None and order.lon is not None else []),
    }
    ctx.update(extra)
    return ctx


def _primary_action(me: OrderParticipant) -> str | None:
    """The one form the page opens: what this unit has to do next."""
    if me.state == "to_accept":
        return "accept"
    if me.state == "in_progress":
        return "feedback" if me.arrived_at else "arrive"
    return None


def _forward_targets(order: WorkOrder) -> list[Unit]:
    """Townships and departments the lead may hand part of the order to; the
    order's own township comes first, as the plan's flows mostly go there."""
    taking_part = {p.unit_id for p in order.participants if p.state != "withdrawn"}
    units = db.session.scalars(select(Unit).where(Unit.kind.in_(("township", "department")),
                                                  Unit.active.is_(True)).order_by(Unit.sort_order)).all()
    own = order.township.unit_id if order.township else None
    candidates = [u for u in units if u.id not in taking_part]
    return sorted(candidates, key=lambda u: (u.id != own, u.kind != "township", u.sort_order))


@bp.route("/orders/<int:order_id>")
@roles_required(*UNIT_PAGE_ROLES)
def order(order_id: int):
    order, me = _order_or_403(order_id)
    return render("unit/order.html", **_page_context(order, me))


# -- acting -----------------------------------------------------------------------
class FormProblem(Exception):
    """Input the view refuses before calling the workflow (status 400)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message, self.status = message, status


def is_fetch() -> bool:
    return request.headers.get("X-Field-Fetch") == "1"


def _version() -> int | None:
    try:
        return int(request.form.get("version", ""))
    except ValueError:
        return None


def describe_changes(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Readable lines for the workflow's list of changes since a version."""
    out = []
    for c in changes:
        try:
            when = f"{clock.local(datetime.fromisoformat(c['at'])):%m-%d %H:%M} "
        except (KeyError, TypeError, ValueError):
            when = ""
        text = f"{when}{c.get('by') or ''}: {c.get('action')}"
        if c.get("to"):
            text += f" → {c['to']}"
        if c.get("note"):
            text += f" ({c['note']})"
        out.append({**c, "text": text})
    return out


def _fail(order_id: int, form_name: str, status: int, message: str, *, conflict: bool = False,
          changes: list[dict[str, Any]] | None = None, code: str | None = None):
    """Answer a refused action without losing what was typed."""
    db.session.rollback()
    order, me = _order_or_403(order_id)
    changes = describe_changes(changes or [])
    if is_fetch():
        body = {"error": "conflict" if conflict else "invalid", "message": message,
                "version": order.version, "changes": changes}
        if code:
            body["code"] = code
        return jsonify(body), status
    form = {k: v for k, v in request.form.items() if k not in ("csrf_token", "version")}
    ctx = _page_context(order, me, form=form, errors={form_name: [message]}, is_fetch=False, error_code=code,
                        conflict={"message": message, "changes": changes} if conflict else None)
    # A stale form becomes current once the user has seen what changed.
    response = render("unit/order.html", **ctx)
    response.status_code = status
    return response


def _done(order: WorkOrder, message: str):
    target = url_for("unit.order", order_id=order.id)
    if is_fetch():
        return jsonify({"ok": True, "redirect": target, "message": message})
    flash(message, "success")
    return redirect(target)


def _act(order_id: int, form_name: str, action: Callable[[WorkOrder, OrderParticipant], Any], message: str):
    order, me = _order_or_403(order_id)
    try:
        action(order, me)
    except FormProblem as exc:
        return _fail(order_id, form_name, exc.status, exc.message)
    except evidence.EvidenceError as exc:
        return _fail(order_id, form_name, exc.status, exc.message)
    except errors.WorkflowError as exc:
        return _fail(order_id, form_name, exc.status, messages.page_text(exc), conflict=exc.status == 409,
                     changes=exc.changes, code=exc.code)
    return _done(order, message)


def _photo(name: str) -> list[tuple[str | None, bytes]]:
    files = [f for f in request.files.getlist(name) if f and f.filename]
    return [(f.read(), f.filename) for f in files]


def _float(name: str) -> float | None:
    try:
        value = float(request.form.get(name, ""))
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


@bp.route("/orders/<int:order_id>/accept", methods=["POST"])
@roles_required(*UNIT_PAGE_ROLES)
def accept(order_id: int):
    def run(order, me):
        workflow.accept(order, actor=current_user(), version=_version(), participant_id=me.id)
    return _act(order_id, "accept", run, _("Order accepted."))


@bp.route("/orders/<int:order_id>/return", methods=["POST"])
@roles_required(*UNIT_PAGE_ROLES)
def return_order(order_id: int):
    def run(order, me):
        reason = (request.form.get("reason") or "").strip()
        if not reason:
            raise FormProblem(_("Give the reason for returning the order."))
        workflow.return_order(order, actor=current_user(), reason=reason, version=_version(),
                              participant_id=me.id)
    return _act(order_id, "return", run, _("Order returned to the duty office."))


@bp.route("/orders/<int:order_id>/arrive", methods=["POST"])
@roles_required(*UNIT_PAGE_ROLES)
def arrive(order_id: int):
    def run(order, me):
        lat, lon = _float("lat"), _float("lon")
        if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise FormProblem(_("Your location is missing: allow location access and press “Locate again”."))
        photos = _photo("photo")
        if not photos:
            raise FormProblem(_("Take a photo on site."))
        workflow.arrive(order, actor=current_user(), lat=lat, lon=lon, accuracy_m=_float("accuracy"),
                        photos=photos, note=(request.form.get("note") or "").strip() or None,
                        far_reason=(request.form.get("far_reason") or "").strip() or None,
                        version=_version(), participant_id=me.id)
    return _act(order_id, "arrive", run, _("Checked in on site."))


@bp.route("/orders/<int:order_id>/feedback", methods=["POST"])
@roles_required(*UNIT_PAGE_ROLES)
def feedback(order_id: int):
    def run(order, me):
        result = request.form.get("result") or ""
        text = (request.form.get("text") or "").strip()
        key = (request.form.get("client_key") or "").strip()[:80] or None
        problems = []
        if result not in FEEDBACK_RESULTS:
            problems.append(_("Choose a result."))
        if not text:
            problems.append(_("Describe what was found and done."))
        photos = _photo("photos")
        if not photos and not _already_sent(key):
            problems.append(_("Add at least one photo."))
        if problems:
            raise FormProblem(" ".join(problems))
        workflow.feedback(order, actor=current_user(), result=result, text=text, photos=photos,
                          client_key=key, version=_version(), participant_id=me.id)
    return _act(order_id, "feedback", run, _("Feedback sent."))


def _already_sent(key: str | None) -> bool:
    return bool(key) and db.session.scalar(select(exists().where(Feedback.client_key == key)))


@bp.route("/orders/<int:order_id>/extension", methods=["POST"])
@roles_required(*UNIT_PAGE_ROLES)
def extension(order_id: int):
    def run(order, me):
        reason = (request.form.get("reason") or "").strip()
        raw = request.form.get("until") or ""
        problems = []
        if not reason:
            problems.append(_("Give the reason for more time."))
        try:
            until = datetime.fromisoformat(raw)
            if until.tzinfo is None:
                until = until.replace(tzinfo=clock.LOCAL_TZ)
        except ValueError:
            until = None
            problems.append(_("Choose the new due date and time."))
        if until is not None and until <= clock.now():
            problems.append(_("The new due time must be in the future."))
        if problems:
            raise FormProblem(" ".join(problems))
        workflow.extend(order, actor=current_user(), until=until, reason=reason, stage="feedback",
                        version=_version(), participant_id=me.id)
    return _act(order_id, "extension", run, _("Extension requested."))


@bp.route("/orders/<int:order_id>/forward", methods=["POST"])
@roles_required(*UNIT_PAGE_ROLES)
def forward(order_id: int):
    def run(order, me):
        code = (request.form.get("unit") or "").strip()
        if not code:
            raise FormProblem(_("Choose the unit to hand the order to."))
        workflow.forward(order, actor=current_user(), unit=code,
                         note=(request.form.get("note") or "").strip() or None, version=_version())
    return _act(order_id, "forward", run, _("Order forwarded."))


@bp.route("/orders/<int:order_id>/transfer-case", methods=["POST"])
@roles_required(*UNIT_PAGE_ROLES)
def transfer_case(order_id: int):
    def run(order, me):
        case_number = (request.form.get("case_number") or "").strip()
        if not case_number:
            raise FormProblem(_("Enter the case number."))
        workflow.transfer_case(order, actor=current_user(), case_number=case_number,
                               note=(request.form.get("note") or "").strip() or None,
                               version=_version(), participant_id=me.id)
    return _act(order_id, "transfer_case", run, _("Case transfer recorded."))
