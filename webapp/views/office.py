"""Office and duty pages of the work-order loop, added to the ``orders``
blueprint: open orders with filters (``orders.office``), search, per-unit
backlog, the order detail with its timeline and the actions the user may
take, the duty review of feedback beside the original evidence.

Changes go through ``webapp.workflow``; a refused action shows its reason on
the page, a stale form (409) shows what changed since it was loaded."""
from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, abort, flash, redirect, request, send_file, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from webapp import clock, evidence, workflow
from webapp.extensions import db
from webapp.jinja import render
from webapp.models import EvidenceFile, Township, Unit, WorkOrder
from webapp.security import ALL_UNITS_ROLES, current_user, login_required, roles_required, visible_unit_ids
from webapp.views import office_helpers as oh

OFFICE_LIST_ROLES = ("duty_officer", "duty_lead", "office_staff", "leader_viewer")
# Page action -> workflow action; who sees each form comes from the workflow's
# own transition table, so the page and the rule cannot drift apart.
PAGE_ACTIONS = {
    "close": "close", "rework": "rework", "redispatch": "redispatch", "supervise": "supervise",
    "spot_check": "spot-check", "emergency": "emergency", "transfer_case": "transfer-case",
    "decide_extension": "approve-extension", "reopen": "reopen", "justify_return": "return-decision",
}
ACTION_ROLES: dict[str, frozenset[str]] = {page: workflow.staff_roles(action) for page, action in PAGE_ACTIONS.items()}


def allowed_actions(order: WorkOrder, user) -> set[str]:
    """The actions whose forms the detail page shows to ``user`` now."""
    role_ok = {a for a, roles in ACTION_ROLES.items() if user.role in roles or user.role == "admin"}
    state = order.state
    domain = _domain(order.domain)
    possible = set()
    if state == "to_review":
        possible |= {"close", "rework"}
    if state != "closed":
        possible.add("supervise")
    if state == "closed":
        possible |= {"spot_check", "reopen"}
    if state in ("in_progress", "to_review", "closed") and not order.case_transferred:
        possible.add("transfer_case")
    if state != "closed" and not order.emergency and domain is not None and domain.emergency_allowed:
        possible.add("emergency")
    if state == "returned":
        possible.add("redispatch")
    if any(p.returned_at and p.return_justified is None for p in order.participants):
        possible.add("justify_return")
    if any(x.decision is None for x in order.extensions):
        possible.add("decide_extension")
    return possible & role_ok


def _domain(code: str | None):
    from flask import current_app
    return current_app.extensions["nrsc.plugins"].domain(code) if code else None


def _can_view(order: WorkOrder, user) -> bool:
    ids = visible_unit_ids(user)
    return ids is None or bool(oh.order_unit_ids(order) & ids)


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
@roles_required(*OFFICE_LIST_ROLES)
def office():
    return _list_page("office")


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


@roles_required(*OFFICE_LIST_ROLES)
def backlog():
    rows = oh.backlog()
    states = ("to_accept", "in_progress", "returned")
    return render("orders/office_backlog.html", rows=rows, states=states, now=clock.now())


# -- one order ------------------------------------------------------------------
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


@roles_required("duty_officer", "duty_lead", "office_staff", "leader_viewer")
def review(order_id: int):
    order = _order_for_view(order_id)
    return render("orders/review.html", **_detail_context(order, current_user()))


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


def _run_close(order, user):
    workflow.close(order, actor=user, note=_text("note") or None, version=_version())
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
    except workflow.WorkflowError as exc:
        return _refused(order_id, action, back, exc.status, exc.message, exc.changes)
    flash(message, "success")
    return redirect(url_for(f"orders.{back}", order_id=order_id))


def _refused(order_id: int, action: str, back: str, status: int, message: str,
             changes: list[dict[str, Any]] | None = None):
    db.session.rollback()
    order = _order_for_view(order_id)
    conflict = None
    if status == 409:
        from webapp.views.unit import describe_changes
        conflict = {"message": message, "changes": describe_changes(changes or [])}
    form = {k: v for k, v in request.form.items() if k not in ("csrf_token", "version")}
    ctx = _detail_context(order, current_user(), form=form, error=message, error_action=action, conflict=conflict)
    response = render("orders/review.html" if back == "review" else "orders/detail.html", **ctx)
    response.status_code = status
    return response


def attach(bp: Blueprint) -> None:
    """Add the office pages to the ``orders`` blueprint."""
    bp.add_url_rule("/", "office", office)
    bp.add_url_rule("/search", "search", search)
    bp.add_url_rule("/backlog", "backlog", backlog)
    bp.add_url_rule("/<int:order_id>", "detail", detail)
    bp.add_url_rule("/<int:order_id>/review", "review", review)
    bp.add_url_rule("/<int:order_id>/files/<int:file_id>", "evidence_file", evidence_file)
    bp.add_url_rule("/<int:order_id>/act/<action>", "act", act, methods=["POST"])

