"""Admin lists: units, users, cameras, parcels; notification channels."""
from __future__ import annotations

from flask import Blueprint, request
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.gis import layers as gis_layers
from webapp.models import (
    Camera,
    Parcel,
    Township,
    Unit,
    User,
    WorkingGroup,
)
from webapp.platform.jinja import render
from webapp.platform.security import roles_required

bp = Blueprint("admin", __name__, template_folder="templates")
PAGE_SIZE = 50
ADMIN_VIEWERS = ("office_staff", "duty_lead", "leader_viewer")


def _page() -> int:
    try:
        return max(1, int(request.args.get("page", 1)))
    except ValueError:
        return 1


@bp.route("/units")
@roles_required(*ADMIN_VIEWERS)
def units():
    roots = db.session.scalars(
        select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.sort_order, Unit.id)
        .options(selectinload(Unit.children))).all()
    groups = db.session.scalars(select(WorkingGroup).order_by(WorkingGroup.number)).all()
    townships = db.session.scalars(select(Township).order_by(Township.id)).all()
    return render("admin/units.html", roots=roots, groups=groups, townships=townships)


@bp.route("/users")
@roles_required(*ADMIN_VIEWERS)
def users():
    q = (request.args.get("q") or "").strip()
    stmt = select(User).options(selectinload(User.unit)).order_by(User.role, User.login)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(User.login.ilike(like), User.display_name.ilike(like)))
    rows = db.session.scalars(stmt).all()
    return render("admin/users.html", "admin/_users_table.html", users=rows, q=q)


@bp.route("/cameras")
@roles_required(*ADMIN_VIEWERS, "duty_officer")
def cameras():
    kind = request.args.get("kind") or ""
    stmt = select(Camera).options(selectinload(Camera.presets), selectinload(Camera.township)).order_by(Camera.code)
    if kind in ("tower", "checkpoint"):
        stmt = stmt.where(Camera.kind == kind)
    rows = db.session.scalars(stmt).all()
    return render("admin/cameras.html", "admin/_cameras_table.html", cameras=rows, kind=kind)


@bp.route("/parcels")
@roles_required(*ADMIN_VIEWERS, "duty_officer")
def parcels():
    layer = request.args.get("layer") or ""
    page = _page()
    stmt = select(Parcel).order_by(Parcel.layer, Parcel.code)
    count_stmt = select(func.count(Parcel.id))
    if layer in gis_layers.declared():
        stmt = stmt.where(Parcel.layer == layer)
        count_stmt = count_stmt.where(Parcel.layer == layer)
    total = db.session.scalar(count_stmt) or 0
    rows = db.session.scalars(stmt.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    per_layer = dict(db.session.execute(select(Parcel.layer, func.count(Parcel.id)).group_by(Parcel.layer)).all())
    return render("admin/parcels.html", "admin/_parcels_table.html", parcels=rows, layer=layer,
                  layers=gis_layers.codes(), per_layer=per_layer, page=page, total=total,
                  pages=max(1, -(-total // PAGE_SIZE)))
