"""Printing work orders (single and batch PDF) and the per-order delivery
status of notifications."""
from __future__ import annotations

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import exists, func, select
from sqlalchemy.orm import selectinload

from webapp.api.base import api_auth
from webapp.api.schema import Response as ApiResponse
from webapp.api.schema import operation
from webapp.extensions import db, htmx
from webapp.models import OrderParticipant, OutboxMessage, User, WorkOrder
from webapp.notify import outbox as notify
from webapp.orders.queries import (
    OrderFilters,
    filtered_orders,
    load_order,
    order_unit_ids,
)
from webapp.platform import audit
from webapp.platform.errors import api_error
from webapp.platform.security import (
    current_user,
    login_required,
    roles_required,
    visible_unit_ids,
)
from webapp.printing import pdf

bp = Blueprint("print", __name__, template_folder="templates")
DEFAULT_BATCH_MAX = 200


def can_see_order(user: User, order: WorkOrder) -> bool:
    """Duty, office and leaders see every order; unit staff only those their
    unit (or its offices, or its department) takes part in."""
    ids = visible_unit_ids(user)
    return ids is None or bool(order_unit_ids(order) & ids)


def _visible_order(order_id: int, user: User) -> WorkOrder | None:
    order = load_order(order_id)
    # Someone else's order answers like a missing one: its number is no business of theirs.
    return order if order is not None and can_see_order(user, order) else None


def _pdf_response(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/orders/<int:order_id>/pdf")
@login_required
def order_pdf(order_id: int):
    order = _visible_order(order_id, current_user())
    if order is None:
        abort(404)
    return _pdf_response(pdf.render_order_pdf(order), f"{order.number}.pdf")


@bp.route("/orders/pdf")
@login_required
def orders_pdf():
    """One PDF for the office list's filters (state, domain, township, unit,
    overdue, supervised, from, to, q); unit staff get only their orders."""
    filters = OrderFilters.from_args(request.args)
    stmt = filtered_orders(filters)
    ids = visible_unit_ids(current_user())
    if ids is not None:
        stmt = stmt.where(exists().where(OrderParticipant.order_id == WorkOrder.id,
                                         OrderParticipant.unit_id.in_(ids)))
    limit = int(current_app.config.get("NRSC_PDF_BATCH_MAX", DEFAULT_BATCH_MAX))
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    if total == 0:
        abort(404, _("No work orders match these filters."))
    if total > limit:
        abort(400, _("%(n)s work orders match; print at most %(limit)s at once: narrow the filters.",
                     n=total, limit=limit))
    orders = db.session.scalars(stmt.options(
        selectinload(WorkOrder.participants).selectinload(OrderParticipant.unit),
        selectinload(WorkOrder.feedbacks))).all()
    return _pdf_response(pdf.render_orders_pdf(orders), f"work-orders-{len(orders)}.pdf")


@bp.route("/api/v1/orders/<int:order_id>/pdf")
@api_auth()
@operation("The work order as a printable PDF (预警信息处置办理工单)", tags=("work orders",), responses={
    200: ApiResponse("the PDF", content={"application/pdf": {"schema": {"type": "string", "format": "binary"}}}),
    404: "no such order, or not one this user's unit takes part in"})
def api_order_pdf(order_id: int):
    order = _visible_order(order_id, g.api_user)
    if order is None:
        return api_error(404, "not_found", f"no work order {order_id}")
    return _pdf_response(pdf.render_order_pdf(order), f"{order.number}.pdf")


@bp.route("/orders/<int:order_id>/deliveries")
@login_required
def deliveries(order_id: int):
    order = _visible_order(order_id, current_user())
    if order is None:
        abort(404)
    response = Response(render_template("orders/_deliveries.html", order=order))
    response.headers["Vary"] = "HX-Request"
    return response


@bp.route("/orders/<int:order_id>/deliveries/<int:message_id>/retry", methods=["POST"])
@roles_required("duty_lead", "office_staff")
def retry_delivery(order_id: int, message_id: int):
    """Send a message again now (after fixing a channel's URL or secret)."""
    order = _visible_order(order_id, current_user())
    row = db.session.get(OutboxMessage, message_id)
    if order is None or row is None or row.order_id != order.id or row.channel == notify.INTERNAL:
        abort(404)
    if row.status == "sent":
        abort(409, _("This message was delivered already."))
    previous = row.status
    notify.retry_now(row)
    audit.record("notification_retry", "notification", row.id, from_state=previous, to_state="pending",
                 data={"order_id": order.id, "channel": row.channel})
    db.session.commit()
    if htmx:
        return deliveries(order_id)
    return redirect(url_for(".deliveries", order_id=order.id))


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["order_delivery_rows"] = notify.delivery_rows
