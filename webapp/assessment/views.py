"""Assessment pages: leaderboard, unit detail with drill-down, trend, rules
admin, adjustments, closing a period, bulletin downloads.

Who sees what: leaders, the office, the duty lead and admins see every unit; a
unit's staff see their own unit's scores, indicators and rank, and drill down
only into orders they may see (webapp/org/visibility.py)."""
from __future__ import annotations

import json

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select

from webapp.assessment import bulletin, dashboard_views, pack, rules, scoring, services
from webapp.assessment.periods import PeriodError, months_of_year, parse_period
from webapp.assessment.rules import INDICATOR_DEFINITIONS, INDICATORS, ROUNDS_RULE
from webapp.extensions import db
from webapp.models import AssessmentAdjustment, AssessmentRules, Unit, User, WorkOrder
from webapp.org import visibility
from webapp.platform import clock
from webapp.platform.security import current_user, roles_required

bp = Blueprint("assessment", __name__, template_folder="templates")
# The leaders' overview lives in its own module (dashboard_views.py).
bp.add_url_rule("/assessment/overview", view_func=dashboard_views.overview)

ALL_UNITS = ("leader_viewer", "office_staff", "duty_lead", "admin")
EDITORS = ("office_staff", "admin")
VIEWERS = ALL_UNITS + ("unit_handler", "unit_leader")


def sees_all(user: User) -> bool:
    return user.role in ALL_UNITS


def own_unit_ids(user: User) -> set[int]:
    """A unit user's own unit, and its department when the unit is an office."""
    if user.unit_id is None:
        return set()
    ids = {user.unit_id}
    unit = user.unit
    if unit is not None and unit.kind == "office" and unit.parent_id:
        ids.add(unit.parent_id)
    return ids


def _period(text: str | None):
    try:
        return parse_period(text or f"{clock.local(clock.now()):%Y-%m}")
    except PeriodError as exc:
        abort(400, str(exc))


def _may_see_unit(user: User, unit_id: int) -> bool:
    return sees_all(user) or unit_id in own_unit_ids(user)


@bp.route("/assessment/")
@roles_required(*VIEWERS)
def leaderboard():
    user = current_user()
    period = _period(request.args.get("period"))
    result = scoring.assess(period, detail=False)
    rows = result["rows"]
    if not sees_all(user):
        mine = own_unit_ids(user)
        rows = [r for r in rows if r["unit_id"] in mine]
    chart = {"labels": [r["unit"] for r in rows], "values": [r["score"] for r in rows]}
    return render_template("assessment/leaderboard.html", result=result, rows=rows, period=period,
                           total=len(result["rows"]), sees_all=sees_all(user), chart=json.dumps(chart),
                           can_edit=user.role in EDITORS, indicators=INDICATORS)


@bp.route("/assessment/<period>/unit/<int:unit_id>")
@roles_required(*VIEWERS)
def unit_detail(period: str, unit_id: int):
    user = current_user()
    if not _may_see_unit(user, unit_id):
        abort(403)
    p = _period(period)
    result = scoring.assess(p)
    row = scoring.unit_row(result, unit_id)
    unit = db.session.get(Unit, unit_id) or abort(404)
    offices = [o for o in result["offices"] if o.get("department_id") == unit_id]
    adjustments = db.session.scalars(select(AssessmentAdjustment).where(
        AssessmentAdjustment.period == p.label, AssessmentAdjustment.unit_id == unit_id)
        .order_by(AssessmentAdjustment.id)).all()
    return render_template("assessment/unit.html", result=result, row=row, unit=unit, period=p,
                           offices=offices, indicators=INDICATORS, adjustments=adjustments,
                           can_edit=user.role in EDITORS, kinds=services.ADJUSTMENT_KINDS,
                           total=len(result["rows"]))


@bp.route("/assessment/<period>/unit/<int:unit_id>/<indicator>")
@roles_required(*VIEWERS)
def drilldown(period: str, unit_id: int, indicator: str):
    user = current_user()
    if not _may_see_unit(user, unit_id):
        abort(403)
    if indicator not in INDICATORS and indicator != "overdue":
        abort(404)
    p = _period(period)
    result = scoring.assess(p)
    row = scoring.unit_row(result, unit_id) or abort(404)
    if indicator == "overdue":
        passed, failed = [], row["overdue_orders"]
    else:
        ind = row["indicators"].get(indicator) or abort(404)
        passed, failed = ind["ok"], ind["fail"]
    ids = sorted(set(passed) | set(failed))
    if not sees_all(user):
        visible = visibility.visible_order_ids(user, include_withdrawn=True)
        if visible is not None:
            ids = [i for i in ids if i in visible]
    orders = {o.id: o for o in db.session.scalars(select(WorkOrder).where(WorkOrder.id.in_(ids[:2000])))}
    failed_set = set(failed)
    lines = [(orders[i], i in failed_set) for i in ids[:2000] if i in orders]
    lines.sort(key=lambda x: (not x[1], x[0].number))
    return render_template("assessment/drilldown.html", row=row, period=p, indicator=indicator,
                           name=INDICATORS.get(indicator, _("Overdue orders")), lines=lines,
                           unit_id=unit_id, hidden=len(set(passed) | set(failed)) - len(ids))


@bp.route("/assessment/trend")
@roles_required(*VIEWERS)
def trend():
    user = current_user()
    now = clock.local(clock.now())
    try:
        year = int(request.args.get("year") or now.year)
    except ValueError:
        abort(400)
    units = db.session.scalars(select(Unit).where(Unit.kind.in_(scoring.SCORED_KINDS), Unit.active)
                               .order_by(Unit.kind, Unit.sort_order, Unit.id)).all()
    if not sees_all(user):
        units = [u for u in units if u.id in own_unit_ids(user)]
    unit_id = request.args.get("unit", type=int) or (units[0].id if units else None)
    if unit_id is None or not _may_see_unit(user, unit_id):
        abort(403)
    points = []
    for period in months_of_year(year):
        if period.start > clock.now():
            break
        row = scoring.unit_row(scoring.assess(period, detail=False), unit_id)
        points.append({"period": period.label, "score": row["score"] if row else None,
                       "grade": row["grade"] if row else None, "rank": row.get("rank") if row else None})
    chart = {"labels": [p["period"] for p in points], "values": [p["score"] for p in points]}
    return render_template("assessment/trend.html", units=units, unit_id=unit_id, year=year, points=points,
                           chart=json.dumps(chart))


@bp.route("/assessment/<period>/close", methods=["POST"])
@roles_required(*EDITORS)
def close(period: str):
    try:
        services.close_period(period, actor=current_user())
        flash(_("The period is closed; its scores are frozen."), "ok")
    except (services.AssessmentError, PeriodError) as exc:
        flash(str(exc), "error")
    return redirect(url_for("assessment.leaderboard", period=period))


@bp.route("/assessment/<period>/adjust", methods=["POST"])
@roles_required(*EDITORS)
def adjust(period: str):
    unit_id = request.form.get("unit_id", "")
    try:
        services.add_adjustment(period, unit_id=unit_id, points=request.form.get("points"),
                                reason=request.form.get("reason", ""), kind=request.form.get("kind", "reduction"),
                                order_id=request.form.get("order_id") or None, actor=current_user())
        flash(_("Adjustment recorded."), "ok")
    except (services.AssessmentError, PeriodError) as exc:
        flash(str(exc), "error")
    if unit_id.isdigit():
        return redirect(url_for("assessment.unit_detail", period=period, unit_id=int(unit_id)))
    return redirect(url_for("assessment.leaderboard", period=period))


@bp.route("/assessment/<period>/bulletin.<fmt>")
@roles_required(*ALL_UNITS)
def bulletin_file(period: str, fmt: str):
    p = _period(period)
    result = scoring.assess(p)
    stem = bulletin.file_stem(p.label)
    if fmt == "pdf":
        data, mime = bulletin.render_pdf(result), "application/pdf"
    elif fmt == "xlsx":
        data, mime = bulletin.render_xlsx(result), \
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        abort(404)
    resp = Response(data, mimetype=mime)
    resp.headers["Content-Disposition"] = f'attachment; filename="{stem}.{fmt}"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.route("/assessment/rules", methods=["GET", "POST"])
@roles_required(*EDITORS)
def rules_page():
    version, current = rules.current()
    text = rules.export_text(current)
    error = None
    if request.method == "POST":
        upload = request.files.get("file")
        text = upload.read().decode("utf-8", "replace") if upload and upload.filename else request.form.get("content", "")
        try:
            row = rules.save(rules.parse(text), actor=current_user(), note=request.form.get("note"))
            flash(_("Rules saved as version %(v)s.", v=row.version), "ok")
            return redirect(url_for("assessment.rules_page"))
        except rules.RulesError as exc:
            error = str(exc)
    history = db.session.scalars(select(AssessmentRules).order_by(AssessmentRules.version.desc()).limit(50)).all()
    ids = {r.created_by_id for r in history if r.created_by_id}
    authors = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    return render_template("assessment/rules.html", version=version, text=text, error=error, history=history,
                           authors=authors, indicators=INDICATORS, definitions=INDICATOR_DEFINITIONS,
                           rounds_rule=ROUNDS_RULE), (400 if error else 200)


@bp.route("/assessment/rules/export")
@roles_required(*EDITORS)
def rules_export():
    version = request.args.get("version", type=int)
    try:
        content = rules.version(version) if version is not None else rules.current()[1]
    except LookupError:
        abort(404)
    resp = Response(rules.export_text(content), mimetype="application/json")
    resp.headers["Content-Disposition"] = 'attachment; filename="assessment-rules.json"'
    return resp


@bp.route("/assessment/dispatch-pack")
@roles_required(*ALL_UNITS)
def dispatch_pack():
    return render_template("assessment/pack.html", pack=pack.build())


@bp.route("/assessment/dispatch-pack.xlsx")
@roles_required(*ALL_UNITS)
def dispatch_pack_xlsx():
    resp = Response(pack.render_xlsx(pack.build()),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    stamp = f"{clock.local(clock.now()):%Y%m%d}"
    resp.headers["Content-Disposition"] = f'attachment; filename="dispatch-pack-{stamp}.xlsx"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def register(app: Flask) -> None:
    app.register_blueprint(bp)
