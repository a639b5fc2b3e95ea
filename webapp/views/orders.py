"""Work-order pages: the dispatch form (duty office); the office and phone
pages add their routes to the same blueprint."""
from __future__ import annotations

from flask import Blueprint, Flask, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from webapp.extensions import db
from webapp.jinja import render
from webapp.models import Alert, Township, Unit, WorkOrder
from webapp.security import current_user, roles_required

bp = Blueprint("orders", __name__)


def register(app: Flask) -> None:
    from webapp.views import orders_api

    app.register_blueprint(bp, url_prefix="/orders")
    app.register_blueprint(orders_api.bp, url_prefix="/api/v1")


# The office list, search, backlog, order detail and review pages live in
# webapp/views/office.py; attached once, at import, before any registration.
from webapp.views import office as _office  # noqa: E402

_office.attach(bp)


# -- the dispatch form (issue 4 item 1) ----------------------------------------------
def _dispatch_choices() -> dict:
    units = db.session.scalars(select(Unit).where(Unit.active.is_(True)).order_by(Unit.sort_order, Unit.id)).all()
    from webapp import orgchart
    return {
        "departments": [u for u in units if u.kind in ("department", "township", "operator")],
        "offices": [u for u in units if u.kind == "office"],
        "cooperating_units": [u for u in units if u.kind in ("department", "township")],
        "townships": db.session.scalars(select(Township).order_by(Township.id)).all(),
        "working_groups": orgchart.WORKING_GROUPS,
    }


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
    from webapp import workflow

    alert = db.session.get(Alert, alert_id)
    if alert is None:
        abort(404)
    existing = db.session.scalar(select(WorkOrder).where(WorkOrder.alert_id == alert.id))
    if existing is not None and request.method == "GET":
        flash(_("This alert was already dispatched as %(number)s.", number=existing.number), "info")
        return redirect(url_for("orders.detail", order_id=existing.id))
    plan = workflow.prefill(alert)
    error = None
    if request.method == "POST":
        data = _form_data()
        try:
            order = workflow.dispatch(alert, actor=current_user(), data=data)
        except workflow.WorkflowError as exc:
            db.session.rollback()
            error = exc.message
            try:
                plan = workflow.plan_from_input(plan, data)
            except workflow.WorkflowError:
                pass
            response = render("orders/dispatch.html", "orders/_dispatch_form.html", alert=alert, plan=plan,
                              error=error, **_dispatch_choices())
            response.status_code = exc.status
            return response
        flash(_("Work order %(number)s dispatched.", number=order.number), "success")
        target = url_for("orders.detail", order_id=order.id)
        if request.headers.get("HX-Request") == "true":
            response = redirect(target)
            response.headers["HX-Redirect"] = target
            return response
        return redirect(target)
    return render("orders/dispatch.html", "orders/_dispatch_form.html", alert=alert, plan=plan, error=error,
                  **_dispatch_choices())
