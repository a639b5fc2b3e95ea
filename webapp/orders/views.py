"""Office and duty pages of the work-order loop (the ``orders`` blueprint): open orders with filters (``orders.office``), search, per-unit
backlog, the order detail with its timeline and the actions the user may
take, the duty review of feedback beside the original evidence.

Changes go through ``webapp.orders.workflow``; a refused action shows its reason on
the page, a stale form (409) shows what changed since it was loaded."""
from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, Flask, abort, flash, redirect, request, send_file, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.alerts import evidence
from webapp.extensions import db
from webapp.models import Alert, EvidenceFile, OrderParticipant, Township, Unit, WorkOrder
from webapp.orders import errors, messages, planning, states, workflow
from webapp.orders import queries as oh
from webapp.orders.unit_views import describe_changes
from webapp.org import chart as orgchart
from webapp.org import visibility
from webapp.platform import clock, exports, formats, labels
from webapp.platform.jinja import render
from webapp.platform.security import (
    ALL_UNITS_ROLES,
    current_user,
    login_required,
    roles_required,
)
from webapp.plugin_api import Clock
from webapp.printing import pdf

OFFICE_LIST_ROLES = ("duty_officer", "duty_lead", "office_staff", "leader_viewer")
# Page action -> workflow action; who sees each form comes from the workflow's
# own transition table, so the page and the rule cannot drift apart.
PAGE_ACTIONS = {
    "close": "close", "rework": "rework", "redispatch": "redispatch", "supervise": "supervise",
    "spot_check": "spot-check", "emergency": "emergency", "transfer_case": "transfer-case",
    "decide_extension": "approve-extension", "reopen": "reopen", "justify_return": "return-decision",
}
ACTION_ROLES: dict[str, frozenset[str]] = {page: states.staff_roles(action) for page, action in PAGE_ACTIONS.items()}
bp = Blueprint("orders", __name__, template_folder="templates")


def register(app: Flask) -> None:
    app.register_blueprint(bp, url_prefix="/orders")



def allowed_actions(order: WorkOrder, user) -> set[str]:
    """The actions whose forms the detail page shows to ``user`` now: the
    transition table's states and roles, plus what each form needs to exist."""
    possible = {page for page, action in PAGE_ACTIONS.items()
                if order.state in states.TRANSITIONS[action].sources
                and (user.role in ACTION_ROLES[page] or user.role == "admin")}
    domain = _domain(order.domain)
    if order.case_transferred:
        possible.discard("transfer_case")
    if order.emergency or domain is None or not domain.emergency_allowed:
        possible.discard("emergency")
    if not any(p.returned_at and p.return_justified is None for p in order.participants):
        possible.discard("justify_return")
    if not any(x.decision is None for x in order.extensions):
        possible.discard("decide_extension")
    return possible


def _domain(code: str | None):
    from flask import current_app
    return current_app.extensions["nrsc.plugins"].domain(code) if code else None


def _can_view(order: WorkOrder, user) -> bool:
    return visibility.can_view_order(user, order)


def _order_for_view(order_id: int) -> WorkOrder:
    order = oh.load_order(order_id)
    if order is None:
        abort(404)
    if not _can_view(order, current_user()):
        abort(403)
    return order


def _filter_choices() -> dict[str, Any]:
    return {
        "townships": db.session.scalars(select(Township).order_by(Township.id)).all(),
        "units": db.session.scalars(select(Unit).where(Unit.parent_id.is_(None), Unit.kind != "duty")
                                    .order_by(Unit.sort_order)).all(),
    }


# -- lists ----------------------------------------------------------------------
@bp.route("/")
@roles_required(*OFFICE_LIST_ROLES)
def office():
    return _list_page("office")


@bp.route("/search")
@roles_required(*OFFICE_LIST_ROLES)
def search():
    return _list_page("search")


def _list_page(mode: str):
    filters = oh.OrderFilters.from_args(request.args, default_state="all" if mode == "search" else "")
    rows, total = oh.page_of(oh.filtered_orders(filters), filters.page)
    now = clock.now()
    return render("orders/office.html", "orders/_office_table.html", mode=mode, f=filters, orders=rows,
                  total=total, pages=max(1, -(-total // oh.PAGE_SIZE)), now=now, next_deadline=oh.next_deadline,
                  overdue_ids={o.id for o in rows if oh.is_overdue(o, now)}, **_filter_choices())


BACKLOG_STATES = ("to_accept", "in_progress", "returned")


@bp.route("/backlog")
@roles_required(*OFFICE_LIST_ROLES)
def backlog():
    rows = oh.backlog()
    return render("orders/office_backlog.html", rows=rows, states=BACKLOG_STATES, now=clock.now())


# -- Excel exports (issue 9 item 10) -------------------------------------------------
def _filter_words(f: oh.OrderFilters) -> list[str]:
    """The office list's filters in words, for the export's caption."""
    words = [_("All states") if f.state == "all" else labels.state_label(f.state) if f.state in states.ORDER_STATES
             else _("All open")]
    if f.domain:
        domain = _domain(f.domain)
        words.append(domain.name_zh if domain else f.domain)
    if f.township:
        township = db.session.scalar(select(Township).where(Township.code == f.township))
        words.append(township.name if township else f.township)
    if f.unit:
        unit = db.session.get(Unit, f.unit)
        words.append(unit.full_name if unit else str(f.unit))
    if f.overdue:
        words.append(_("Overdue"))
    if f.supervised:
        words.append(_("Supervised"))
    if f.date_from or f.date_to:
        words.append(_("Dispatched %(start)s to %(end)s", start=f.date_from.isoformat() if f.date_from else "…",
                       end=f.date_to.isoformat() if f.date_to else "…"))
    if f.q:
        words.append(_("Search: %(q)s", q=f.q))
    return words


def _order_export_rows(orders: list[WorkOrder], now):
    for o in orders:
        people = [p for p in o.participants if p.state != "withdrawn"]
        best = None
        if o.state != states.CLOSED:
            for p in people:
                d = oh.next_deadline(p)
                if d and (best is None or d[1] < best[1]):
                    best = d
        lead = o.lead
        domain = _domain(o.domain)
        yield [o.number, o.title, domain.name_zh if domain else (o.domain or _("Maintenance")),
               labels.event_type_name(o.domain, o.event_type), o.township.name if o.township else "",
               lead.unit.full_name if lead else "",
               "；".join(f"{p.unit.full_name}（{labels.participant_state_label(p.state, o.state)}）" for p in people),
               labels.state_label(o.state), labels.priority_label(o.priority), o.dispatched_at,
               labels.stage_label(best[0]) if best else "", best[1] if best else None,
               formats.time_left(best[1], now) if best else "", o.closed_at,
               _("Yes") if oh.is_overdue(o, now) else "", _("Yes") if o.supervised else "",
               _("Yes") if o.emergency else "", o.case_number or "", o.rework_count or 0]


@bp.route("/export.xlsx")
@roles_required(*OFFICE_LIST_ROLES)
def export_orders():
    """The office list (open, overdue, supervised, search) as an Excel
    workbook: every order its filters select, all pages, in the list's order."""
    f = oh.OrderFilters.from_args(request.args)
    stmt = oh.filtered_orders(f)
    clause = visibility.orders_clause(current_user())
    if clause is not None:
        stmt = stmt.where(clause)
    orders = db.session.scalars(stmt.limit(exports.MAX_ROWS + 1).options(
        selectinload(WorkOrder.participants).selectinload(OrderParticipant.unit).selectinload(Unit.parent),
        selectinload(WorkOrder.township))).all()
    headers = [_("Work order number"), _("Title"), _("Domain"), _("Event type"), _("Township"), _("Lead unit"),
               _("Participating units (state)"), _("State"), _("Priority"), _("Dispatched at"), _("Next step"),
               _("Due"), _("Time left"), _("Closed at"), _("Overdue"), _("Supervised"), _("Emergency"),
               _("Case number"), _("Reworks")]
    return exports.export("orders", _("Work orders"), headers, _order_export_rows(orders, clock.now()),
                          filters=_filter_words(f), query=f.args(page=None), filename="work-orders")


@bp.route("/backlog.xlsx")
@roles_required(*OFFICE_LIST_ROLES)
def export_backlog():
    """The backlog by unit as an Excel workbook, the same rows as the page."""
    rows = oh.backlog()
    headers = [_("Unit"), *(labels.state_label(s) for s in BACKLOG_STATES), _("Feedback given"),
               _("Overdue now"), _("Late stages (all time)")]
    data = ([r.unit.name, *(r.counts.get(s, 0) for s in BACKLOG_STATES), r.counts.get("done", 0), r.overdue,
             r.late_total] for r in rows)
    return exports.export("backlog", _("Backlog by unit"), headers, data, filters=[], query={},
                          filename="backlog")


# -- one order ------------------------------------------------------------------
@bp.route("/<int:order_id>")
@login_required
def detail(order_id: int):
    user = current_user()
    if user.role not in ALL_UNITS_ROLES and user.role != "admin":
        # Unit staff have their own page for the order.
        order = _order_for_view(order_id)
        return redirect(url_for("unit.order", order_id=order.id))
    order = _order_for_view(order_id)
    return render("orders/detail.html", **_detail_context(order, user))


def _detail_context(order: WorkOrder, user, **extra: Any) -> dict[str, Any]:
    from flask import current_app

    files = oh.files_of(order)
    events = oh.timeline(order)
    names = oh.user_names({e.actor_id for e in events} | {f.submitted_by_id for f in order.feedbacks})
    ctx = {
        "order": order, "alert": oh.alert_of(order), "events": events, "files": files, "names": names,
        "stages_of": oh.stages, "now": clock.now(), "actions": allowed_actions(order, user),
        "overdue": oh.is_overdue(order),
        "units": db.session.scalars(select(Unit).where(Unit.kind.in_(("department", "office", "township")))
                                    .order_by(Unit.sort_order)).all(),
        "has_pdf": "print.order_pdf" in current_app.view_functions,
        "has_deliveries": _template_exists("orders/_deliveries.html"),
        "has_dispatch": "orders.dispatch" in current_app.view_functions,
        "form": {}, "error": None, "error_action": None, "conflict": None,
        "unfinished": unfinished_participants(order) if order.state == states.TO_REVIEW else [],
        # Admin may do anything; naming it here would only confuse.
        "deciders": [r for r in labels.USER_ROLE_LABELS if r in ACTION_ROLES["close"] and r != "admin"],
    }
    ctx.update(extra)
    return ctx


def _template_exists(name: str) -> bool:
    from flask import current_app
    from jinja2 import TemplateNotFound
    try:
        current_app.jinja_env.get_template(name)
    except TemplateNotFound:
        return False
    return True


@bp.route("/<int:order_id>/review")
@roles_required("duty_officer", "duty_lead", "office_staff", "leader_viewer")
def review(order_id: int):
    order = _order_for_view(order_id)
    return render("orders/review.html", **_detail_context(order, current_user()))


@bp.route("/<int:order_id>/files/<int:file_id>")
def evidence_file(order_id: int, file_id: int):
    """A photo or snapshot of the order, to anyone who may see the order."""
    if current_user() is None:
        abort(401)
    order = _order_for_view(order_id)
    row = db.session.get(EvidenceFile, file_id)
    if row is None or not oh.file_belongs(order, row):
        abort(404)
    path = evidence.absolute_path(row)
    if not path.exists():
        abort(404)
    response = send_file(path, mimetype=row.content_type, max_age=3600, conditional=True)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


# -- actions ----------------------------------------------------------------------
class FormProblem(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _text(name: str, message: str | None = None) -> str:
    value = (request.form.get(name) or "").strip()
    if message and not value:
        raise FormProblem(message)
    return value


def _version() -> int | None:
    try:
        return int(request.form.get("version", ""))
    except ValueError:
        return None


unfinished_participants = workflow.unfinished_participants


def _run_close(order, user):
    # The workflow checks again inside the order's compare-and-swap (and the
    # API asks the same); here the page's own wording, next to its tick box.
    confirmed = request.form.get("confirm_unfinished") == "1"
    if unfinished_participants(order) and not confirmed:
        raise FormProblem(_("Some units never accepted or fed back: tick the box to close the order without them."))
    pdf.prerender_later(workflow.close(order, actor=user, note=_text("note") or None, version=_version(),
                                       confirm_unfinished=confirmed))
    return _("Order closed.")


def _run_rework(order, user):
    workflow.rework(order, actor=user, reason=_text("reason", _("Give the reason for rework.")),
                    version=_version())
    return _("Order sent back for rework.")


def _run_supervise(order, user):
    workflow.supervise(order, actor=user, note=_text("note", _("Write a supervision note.")),
                       version=_version())
    return _("Order is now supervised.")


def _run_spot_check(order, user):
    result = request.form.get("result")
    if result not in ("pass", "fail"):
        raise FormProblem(_("Choose pass or fail."))
    note = _text("note", _("Write a note on the spot check.") if result == "fail" else None)
    workflow.spot_check(order, actor=user, result=result, note=note or None, version=_version())
    return _("Spot check recorded.")


def _run_emergency(order, user):
    workflow.emergency(order, actor=user, note=_text("note") or None, version=_version())
    return _("Emergency response started.")


def _run_transfer_case(order, user):
    workflow.transfer_case(order, actor=user, case_number=_text("case_number", _("Enter the case number.")),
                           note=_text("note") or None, version=_version())
    return _("Case transfer recorded.")


def _run_justify_return(order, user):
    verdict = request.form.get("justified")
    if verdict not in ("yes", "no"):
        raise FormProblem(_("Choose whether the return was justified."))
    pid = _int("participant_id")
    workflow.decide_return(order, actor=user, participant_id=pid, justified=verdict == "yes",
                           note=_text("note") or None, version=_version())
    return _("Return judgement recorded.")


def _run_redispatch(order, user):
    # One select per returned participant: the same unit again, or another.
    units = {p.id: request.form.get(f"unit_{p.id}") for p in order.participants if p.state == "returned"}
    workflow.redispatch(order, actor=user, units={k: v for k, v in units.items() if v},
                        note=_text("note") or None, version=_version())
    return _("Order dispatched again.")


def _run_decide_extension(order, user):
    decision = request.form.get("decision")
    if decision not in ("approved", "rejected"):
        raise FormProblem(_("Choose approve or reject."))
    workflow.approve_extension(order, actor=user, request_id=_int("extension_id"),
                               approve=decision == "approved", note=_text("note") or None, version=_version())
    return _("Extension decided.")


def _run_reopen(order, user):
    workflow.reopen(order, actor=user, reason=_text("reason", _("Give the reason for reopening.")),
                    version=_version())
    return _("Order reopened.")


def _int(name: str) -> int | None:
    try:
        return int(request.form.get(name, ""))
    except ValueError:
        return None


RUNNERS: dict[str, Callable[[WorkOrder, Any], str]] = {
    "close": _run_close, "rework": _run_rework, "supervise": _run_supervise,
    "spot_check": _run_spot_check, "emergency": _run_emergency, "transfer_case": _run_transfer_case,
    "justify_return": _run_justify_return, "redispatch": _run_redispatch,
    "decide_extension": _run_decide_extension, "reopen": _run_reopen,
}


@bp.route("/<int:order_id>/act/<action>", methods=["POST"])
@login_required
def act(order_id: int, action: str):

    runner = RUNNERS.get(action)
    if runner is None:
        abort(404)
    user = current_user()
    if user.role not in ACTION_ROLES[action] and user.role != "admin":
        abort(403)
    order = _order_for_view(order_id)
    back = request.form.get("back") if request.form.get("back") in ("review", "detail") else "detail"
    try:
        message = runner(order, user)
    except FormProblem as exc:
        return _refused(order_id, action, back, 400, exc.message)
    except errors.WorkflowError as exc:
        return _refused(order_id, action, back, exc.status, messages.page_text(exc), exc.changes)
    flash(message, "success")
    if back == "review" and order.state != states.TO_REVIEW:
        # Decided: the review page would only say there is nothing to review.
        back = "detail"
    return redirect(url_for(f"orders.{back}", order_id=order_id))


def _refused(order_id: int, action: str, back: str, status: int, message: str,
             changes: list[dict[str, Any]] | None = None):
    db.session.rollback()
    order = _order_for_view(order_id)
    conflict = None
    if status == 409:
        conflict = {"message": message, "changes": describe_changes(changes or [])}
    form = {k: v for k, v in request.form.items() if k not in ("csrf_token", "version")}
    ctx = _detail_context(order, current_user(), form=form, error=message, error_action=action, conflict=conflict)
    response = render("orders/review.html" if back == "review" else "orders/detail.html", **ctx)
    response.status_code = status
    return response


# -- the dispatch form (issue 4 item 1) ----------------------------------------------
def _dispatch_choices() -> dict:
    units = db.session.scalars(select(Unit).where(Unit.active.is_(True)).order_by(Unit.sort_order, Unit.id)).all()
    return {
        "departments": [u for u in units if u.kind in ("department", "township", "operator")],
        "offices": [u for u in units if u.kind == "office"],
        "cooperating_units": [u for u in units if u.kind in ("department", "township")],
        "townships": db.session.scalars(select(Township).order_by(Township.id)).all(),
        "working_groups": orgchart.WORKING_GROUPS,
    }


CLOCK_FIELDS = ("clock_accept", "clock_arrive", "clock_feedback")


def dispatch_field_errors(data: dict) -> dict[str, str]:
    """Field name -> message for the inputs the form sent wrong; checked here
    so each message can sit next to its field (the workflow's own checks
    still run on dispatch)."""
    found: dict[str, str] = {}
    if "title" in data and not str(data.get("title") or "").strip():
        found["title"] = _("Enter a title.")
    for name in CLOCK_FIELDS:
        if name not in data:
            continue
        try:
            Clock.parse(str(data.get(name) or ""))
        except ValueError:
            found[name] = _("Enter a time longer than zero, e.g. 10m, 4h or 3wd.")
    return found


DISPATCH_ERRORS = {
    "not_confirmed": lambda: _("Confirm the alert before dispatching it."),
    "already_dispatched": lambda: _("This alert was already dispatched."),
    "emergency_not_allowed": lambda: _("This domain does not allow an emergency response."),
    "forbidden": lambda: _("Your role may not dispatch work orders."),
}


def dispatch_error_text(exc: errors.WorkflowError) -> str:
    known = DISPATCH_ERRORS.get(exc.code)
    return known() if known else _("The dispatch was refused: %(reason)s", reason=messages.page_text(exc))


def _form_data() -> dict:
    data = request.form.to_dict()
    data["lead_offices"] = request.form.getlist("lead_offices")
    data["cooperating"] = request.form.getlist("cooperating")
    for name in ("as_case", "emergency"):
        data[name] = name in request.form
    return data


@bp.route("/dispatch/<int:alert_id>", methods=["GET", "POST"])
@roles_required("duty_officer", "duty_lead")
def dispatch_form(alert_id: int):
    """The dispatch form, prefilled by the domain's routing rule."""
    alert = db.session.get(Alert, alert_id)
    if alert is None:
        abort(404)
    existing = db.session.scalar(select(WorkOrder).where(WorkOrder.alert_id == alert.id))
    if existing is not None and request.method == "GET":
        flash(_("This alert was already dispatched as %(number)s.", number=existing.number), "info")
        return redirect(url_for("orders.detail", order_id=existing.id))
    plan = planning.prefill(alert)
    error = None
    if request.method == "POST":
        data = _form_data()
        field_errors = dispatch_field_errors(data)
        try:
            if field_errors:
                raise errors.invalid("; ".join(field_errors))
            order = planning.dispatch(alert, actor=current_user(), data=data)
        except errors.WorkflowError as exc:
            db.session.rollback()
            try:
                plan = planning.plan_from_input(plan, {k: v for k, v in data.items() if k not in field_errors})
            except errors.WorkflowError:
                pass
            # What the officer typed goes back into the fields, wrong values included.
            response = render("orders/dispatch.html", "orders/_dispatch_form.html", alert=alert, plan=plan,
                              error=None if field_errors else dispatch_error_text(exc),
                              field_errors=field_errors, typed=data, **_dispatch_choices())
            response.status_code = exc.status
            return response
        flash(_("Work order %(number)s dispatched.", number=order.number), "success")
        # An htmx request gets 204 + HX-Redirect from webapp.platform.htmx.
        return redirect(url_for("orders.detail", order_id=order.id))
    return render("orders/dispatch.html", "orders/_dispatch_form.html", alert=alert, plan=plan, error=error,
                  **_dispatch_choices())
