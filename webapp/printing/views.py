"""Printing work orders (single PDF with progress, batches as background
jobs) and the per-order delivery status of notifications."""
from __future__ import annotations

import time

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _

from webapp.api.base import api_auth
from webapp.api.schema import Response as ApiResponse
from webapp.api.schema import operation
from webapp.extensions import db, htmx
from webapp.models import OutboxMessage, PrintJob, User, WorkOrder
from webapp.notify import outbox as notify
from webapp.orders.queries import OrderFilters, load_order
from webapp.org import visibility
from webapp.platform import audit
from webapp.platform.errors import api_error
from webapp.platform.security import (
    current_user,
    login_required,
    roles_required,
)
from webapp.printing import batch, pdf

bp = Blueprint("print", __name__, template_folder="templates")


def can_see_order(user: User, order: WorkOrder) -> bool:
    """See webapp.org.visibility (the one rule)."""
    return visibility.can_view_order(user, order)


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
    data, _cached = pdf.cached_order_pdf(order)
    return _pdf_response(data, f"{order.number}.pdf")


@bp.route("/orders/<int:order_id>/pdf/prepare")
@login_required
def prepare_pdf(order_id: int):
    """Make (or find) the order's PDF, for the page that shows progress
    meanwhile (htmx); answers the link to open it."""
    order = _visible_order(order_id, current_user())
    if order is None:
        abort(404)
    started = time.perf_counter()
    data, cached = pdf.cached_order_pdf(order)
    response = Response(render_template("orders/_pdf_ready.html", order=order, size=len(data), cached=cached,
                                        seconds=time.perf_counter() - started))
    response.headers["Vary"] = "HX-Request"
    return response


# -- batches ------------------------------------------------------------------------
@bp.route("/orders/pdf/batch", methods=["POST"])
@roles_required(*batch.PRINT_ROLES)
def batch_create():
    """Print the office list's filters (state, domain, township, unit,
    overdue, supervised, from, to, q) as a background job; each user gets
    only the orders they may see."""
    filters = OrderFilters.from_args(request.form)
    try:
        job = batch.create(current_user(), filters)
    except batch.BatchRefused as exc:
        flash(str(exc), "error")
        return redirect(url_for("orders.search", **filters.args(page=None)))
    return redirect(url_for(".batch_status", job_id=job.id))


def _own_job(job_id: int) -> PrintJob:
    job = db.session.get(PrintJob, job_id)
    # Someone else's job answers like a missing one.
    if job is None or job.requested_by_id != current_user().id:
        abort(404)
    return job


@bp.route("/print-jobs/<int:job_id>")
@roles_required(*batch.PRINT_ROLES)
def batch_status(job_id: int):
    job = _own_job(job_id)
    partial = "orders/_print_job.html"
    response = Response(render_template(partial if htmx else "orders/print_job.html", job=job))
    response.headers["Vary"] = "HX-Request"
    return response


@bp.route("/print-jobs/<int:job_id>/download")
@roles_required(*batch.PRINT_ROLES)
def batch_download(job_id: int):
    job = _own_job(job_id)
    path = batch.file_of(job)
    if path is None:
        abort(404)
    audit.record("print_batch_download", "print_job", job.id, data={"bytes": job.size})
    db.session.commit()
    response = send_file(path, mimetype="application/zip", as_attachment=True,
                         download_name=f"work-orders-{job.id}.zip")
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/api/v1/orders/<int:order_id>/pdf")
@api_auth()
@operation("The work order as a printable PDF (预警信息处置办理工单)", tags=("work orders",), responses={
    200: ApiResponse("the PDF", content={"application/pdf": {"schema": {"type": "string", "format": "binary"}}}),
    404: "no such order, or not one this user's unit takes part in"})
def api_order_pdf(order_id: int):
    order = _visible_order(order_id, g.api_user)
    if order is None:
        return api_error(404, "not_found", f"no work order {order_id}")
    data, _cached = pdf.cached_order_pdf(order)
    return _pdf_response(data, f"{order.number}.pdf")


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
    app.jinja_env.globals["may_print_batches"] = batch.may_print_batches
