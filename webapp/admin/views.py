"""Admin pages: units, users, cameras, parcels (lists for the office and
leaders; changes for admins only: create, disable/enable and reset users,
edit units and cameras)."""
from __future__ import annotations

import re
import secrets

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.gis import context as gis_context
from webapp.gis import layers as gis_layers
from webapp.models import (
    ApiToken,
    Camera,
    Parcel,
    Township,
    Unit,
    User,
    WorkingGroup,
)
from webapp.platform import audit, clock, labels, sessions
from webapp.platform.jinja import render
from webapp.platform.security import (
    create_api_token,
    current_user,
    disable_user,
    hash_password,
    roles_required,
)

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
    from webapp.platform import auditchain
    return render("admin/users.html", "admin/_users_table.html", users=rows, q=q, audit_head=auditchain.head())


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


# -- changes (admin only; issue 9 item 10) ----------------------------------------
# Every form below: CSRF (global), the admin role, a Chinese message next to
# the wrong field with what was typed kept, nothing stored on failure, and an
# audit event for every change.
LOGIN_RE = re.compile(r"^[A-Za-z0-9_.\-]{3,80}$")
PHONE_RE = re.compile(r"^[0-9+\-() ]{3,40}$")
UNIT_ROLES_NEEDING_UNIT = ("unit_handler", "unit_leader", "duty_officer", "duty_lead", "office_staff")
ONE_TIME_PASSWORD_LENGTH = 12
# Letters and digits that cannot be mistaken for each other when read aloud or copied by hand.
OTP_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def one_time_password() -> str:
    return "".join(secrets.choice(OTP_ALPHABET) for _i in range(ONE_TIME_PASSWORD_LENGTH))


def _no_store(response):
    # A page carrying a password must not stay in any cache.
    response.headers["Cache-Control"] = "no-store"
    return response


def _top_units() -> list[Unit]:
    return db.session.scalars(select(Unit).where(Unit.parent_id.is_(None), Unit.active.is_(True))
                              .order_by(Unit.sort_order, Unit.id).options(selectinload(Unit.children))).all()


def _user_form_context(values: dict[str, str], errors: dict[str, str]) -> dict:
    return {"values": values, "errors": errors, "roles": list(labels.USER_ROLE_LABELS), "units": _top_units()}


def _check_user(values: dict[str, str], existing: User | None = None) -> tuple[dict[str, str], Unit | None]:
    """Field -> message for what is wrong, and the unit (or office) the user
    belongs to. ``existing``: the user being edited (the login is not)."""
    errors: dict[str, str] = {}
    if existing is None:
        if not LOGIN_RE.match(values["login"]):
            errors["login"] = _("The login has 3 to 80 letters, digits, dots, hyphens or underscores.")
        elif db.session.scalar(select(User.id).where(func.lower(User.login) == values["login"].lower())):
            errors["login"] = _("This login is taken; choose another.")
    elif existing.id == current_user().id and values["role"] != existing.role:
        errors["role"] = _("You cannot change your own role; another administrator can.")
    if not values["display_name"]:
        errors["display_name"] = _("Enter the person's name.")
    elif len(values["display_name"]) > 80:
        errors["display_name"] = _("The name has at most 80 characters.")
    if values["role"] not in labels.USER_ROLE_LABELS:
        errors["role"] = _("Choose a role.")
    if values["phone"] and not PHONE_RE.match(values["phone"]):
        errors["phone"] = _("The phone number has digits only (and + - or spaces).")
    unit = office = None
    if values["unit_id"]:
        unit = db.session.get(Unit, _int(values["unit_id"]))
        if unit is None or unit.parent_id is not None:
            errors["unit_id"] = _("Choose a unit from the list.")
            unit = None
    if values["office_id"]:
        office = db.session.get(Unit, _int(values["office_id"]))
        if office is None or unit is None or office.parent_id != unit.id:
            errors["office_id"] = _("The office must belong to the chosen unit.")
            office = None
    if values["role"] in UNIT_ROLES_NEEDING_UNIT and unit is None and "unit_id" not in errors:
        errors["unit_id"] = _("This role needs a unit.")
    return errors, office or unit


def _int(value: str | None) -> int | None:
    try:
        return int(value or "")
    except ValueError:
        return None


@bp.route("/users/new", methods=["GET", "POST"])
@roles_required("admin")
def user_new():
    """Create a user; the first password is made here and shown once."""
    fields = ("login", "display_name", "role", "unit_id", "office_id", "phone")
    if request.method == "GET":
        return render("admin/user_new.html", **_user_form_context({k: "" for k in fields}, {}))
    values = {k: (request.form.get(k) or "").strip() for k in fields}
    errors, unit = _check_user(values)
    if errors:
        return render("admin/user_new.html", **_user_form_context(values, errors)), 400
    password = one_time_password()
    user = User(login=values["login"], display_name=values["display_name"], role=values["role"], unit=unit,
                phone=values["phone"] or None, password_hash=hash_password(password), active=True)
    db.session.add(user)
    db.session.flush()
    audit.record("user_created", "user", user.id, to_state="active",
                 data={"login": user.login, "role": user.role, "unit": unit.code if unit else None})
    db.session.commit()
    return _no_store(render("admin/password_once.html", user=user, password=password, created=True))


def _get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


USER_FIELDS = ("display_name", "role", "unit_id", "office_id", "phone")


def _user_values(user: User) -> dict[str, str]:
    unit = user.unit
    top, office = (unit.parent, unit) if unit is not None and unit.parent_id is not None else (unit, None)
    return {"login": user.login, "display_name": user.display_name, "role": user.role,
            "unit_id": str(top.id) if top else "", "office_id": str(office.id) if office else "",
            "phone": user.phone or ""}


@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
@roles_required("admin")
def user_edit(user_id: int):
    """A user's name, role, unit or office and phone (the login stays). A
    change of role or unit applies at the user's next request."""
    user = _get_user(user_id)
    if request.method == "GET":
        return render("admin/user_edit.html", user=user, **_user_form_context(_user_values(user), {}))
    values = {"login": user.login, **{k: (request.form.get(k) or "").strip() for k in USER_FIELDS}}
    errors, unit = _check_user(values, existing=user)
    if errors:
        return render("admin/user_edit.html", user=user, **_user_form_context(values, errors)), 400
    new = {"display_name": values["display_name"], "role": values["role"], "unit_id": unit.id if unit else None,
           "phone": values["phone"] or None}
    changes = {k: [getattr(user, k), v] for k, v in new.items() if getattr(user, k) != v}
    if not changes:
        flash(_("Nothing changed."), "info")
        return redirect(url_for("admin.users"))
    if "unit_id" in changes:  # codes read better in the trail than ids
        old = db.session.get(Unit, changes["unit_id"][0]) if changes["unit_id"][0] else None
        changes["unit"] = [old.code if old else None, unit.code if unit else None]
        del changes["unit_id"]
    for key, value in new.items():
        setattr(user, key, value)
    audit.record("user_updated", "user", user.id, data={"login": user.login, "changes": changes})
    db.session.commit()
    flash(_("%(name)s saved.", name=user.display_name), "success")
    return redirect(url_for("admin.users", q=user.login))


def _confirm(user: User, action: str, **hidden: str):
    """The confirmation step of an action that cannot be undone quietly
    (disabling, a password reset): what it does, and the same POST with
    ``confirm=1``."""
    return render("admin/user_confirm.html", user=user, action=action, hidden=hidden)


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@roles_required("admin")
def user_active(user_id: int):
    """Disable (every session ends, API tokens are revoked) or enable a user.
    Disabling asks for a confirmation first."""
    user = _get_user(user_id)
    wanted = request.form.get("active")
    if wanted not in ("0", "1"):
        abort(400)
    if user.id == current_user().id and wanted == "0":
        flash(_("You cannot disable your own account."), "error")
        return redirect(url_for("admin.users"))
    if user.active == (wanted == "1"):
        return redirect(url_for("admin.users"))
    if wanted == "0" and request.form.get("confirm") != "1":
        return _confirm(user, "disable", active="0")
    if wanted == "1":
        user.active = True
        audit.record("user_enabled", "user", user.id, from_state="disabled", to_state="active")
        flash(_("%(name)s can log in again.", name=user.display_name), "success")
    else:
        audit.record("user_disabled", "user", user.id, from_state="active", to_state="disabled",
                     data=disable_user(user))
        flash(_("%(name)s is disabled: logged out everywhere, API tokens revoked.", name=user.display_name),
              "success")
    db.session.commit()
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@roles_required("admin")
def user_password(user_id: int):
    """A new one-time password, shown once; every session of the user ends.
    Asks for a confirmation first."""
    user = _get_user(user_id)
    if request.form.get("confirm") != "1":
        return _confirm(user, "reset")
    password = one_time_password()
    user.password_hash = hash_password(password)
    ended = sessions.revoke_all(user)
    audit.record("password_reset", "user", user.id, data={"sessions_ended": ended})
    db.session.commit()
    return _no_store(render("admin/password_once.html", user=user, password=password, created=False))


# -- units --------------------------------------------------------------------------
def _unit_values(unit: Unit) -> dict[str, str]:
    values = {"name": unit.name, "contact_name": unit.contact_name or "", "contact_phone": unit.contact_phone or "",
              "new_office": ""}
    for office in unit.children:
        values[f"office_{office.id}"] = office.name
    return values


@bp.route("/units/<int:unit_id>/edit", methods=["GET", "POST"])
@roles_required("admin")
def unit_edit(unit_id: int):
    """A unit's name, its contact and its offices (rename, add)."""
    unit = db.session.get(Unit, unit_id)
    if unit is None:
        abort(404)
    if request.method == "GET":
        return render("admin/unit_form.html", unit=unit, values=_unit_values(unit), errors={})
    values = {k: (request.form.get(k) or "").strip() for k in _unit_values(unit)}
    errors: dict[str, str] = {}
    for key in ("name", *(f"office_{o.id}" for o in unit.children)):
        if not values[key]:
            errors[key] = _("Enter a name.")
        elif len(values[key]) > 120:
            errors[key] = _("The name has at most 120 characters.")
    if len(values["new_office"]) > 120:
        errors["new_office"] = _("The name has at most 120 characters.")
    seen: set[str] = set()
    for key in (*(f"office_{o.id}" for o in unit.children), "new_office"):
        if values[key] and values[key] in seen:
            errors.setdefault(key, _("Two offices of a unit cannot have the same name."))
        seen.add(values[key])
    if len(values["contact_name"]) > 80:
        errors["contact_name"] = _("The name has at most 80 characters.")
    if values["contact_phone"] and not PHONE_RE.match(values["contact_phone"]):
        errors["contact_phone"] = _("The phone number has digits only (and + - or spaces).")
    if errors:
        return render("admin/unit_form.html", unit=unit, values=values, errors=errors), 400
    changes: dict[str, list] = {}
    for attr, key in (("name", "name"), ("contact_name", "contact_name"), ("contact_phone", "contact_phone")):
        new = values[key] or (None if attr != "name" else values[key])
        if getattr(unit, attr) != new:
            changes[attr] = [getattr(unit, attr), new]
            setattr(unit, attr, new)
    for office in unit.children:
        new = values[f"office_{office.id}"]
        if office.name != new:
            changes[f"office:{office.code}"] = [office.name, new]
            office.name = new
    if values["new_office"]:
        n = len(unit.children) + 1
        while db.session.scalar(select(Unit.id).where(Unit.code == f"{unit.code}.office{n}")):
            n += 1
        office = Unit(code=f"{unit.code}.office{n}", name=values["new_office"], kind="office", parent=unit,
                      sort_order=unit.sort_order * 100 + n, active=True)
        db.session.add(office)
        db.session.flush()
        changes[f"office:{office.code}"] = [None, office.name]
        audit.record("office_created", "unit", office.id, data={"parent": unit.code, "name": office.name})
    if changes:
        audit.record("unit_updated", "unit", unit.id, data={"changes": changes})
        db.session.commit()
        flash(_("%(name)s saved.", name=unit.name), "success")
    else:
        flash(_("Nothing changed."), "info")
    return redirect(url_for("admin.units"))


# -- cameras --------------------------------------------------------------------------
CAMERA_FIELDS = ("name", "lat", "lon", "mount_height_m", "pan_zero_azimuth_deg", "onvif_host", "onvif_port",
                 "onvif_user")
HOST_RE = re.compile(r"^[A-Za-z0-9.\-:\[\]]{1,200}$")


def _camera_values(camera: Camera) -> dict[str, str]:
    def text(value) -> str:
        return "" if value is None else str(value)
    return {k: text(getattr(camera, k)) for k in CAMERA_FIELDS}


def _number(values, errors, key, low, high, message) -> float | None:
    try:
        value = float(values[key])
    except ValueError:
        errors[key] = message
        return None
    if not low <= value <= high or value != value:
        errors[key] = message
        return None
    return value


def _place_in_township(camera: Camera, changes: dict[str, list]) -> None:
    """A moved camera belongs to the township its new position lies in (none
    outside the district); unchanged where no boundaries are loaded."""
    if not gis_context.has_district():
        return
    found = gis_context.township_at(camera.lat, camera.lon)
    new_id = found.id if found else None
    if camera.township_id != new_id:
        old = db.session.get(Township, camera.township_id) if camera.township_id else None
        new = db.session.get(Township, new_id) if new_id else None
        changes["township"] = [old.code if old else None, new.code if new else None]
        camera.township_id = new_id
        if new is None:
            flash(_("The new position lies outside the district: the camera belongs to no township."), "info")


@bp.route("/cameras/<int:camera_id>/edit", methods=["GET", "POST"])
@roles_required("admin")
def camera_edit(camera_id: int):
    """Name, position, mount height, north offset, network address and
    credentials. The stored password is never sent back to the browser."""
    camera = db.session.get(Camera, camera_id)
    if camera is None:
        abort(404)
    if request.method == "GET":
        return render("admin/camera_form.html", camera=camera, values=_camera_values(camera), errors={})
    values = {k: (request.form.get(k) or "").strip() for k in CAMERA_FIELDS}
    password = request.form.get("onvif_password") or ""
    clear_password = request.form.get("clear_password") == "1"
    errors: dict[str, str] = {}
    if not values["name"] or len(values["name"]) > 120:
        errors["name"] = _("Enter a name of at most 120 characters.")
    parsed = {
        "lat": _number(values, errors, "lat", -90, 90, _("The latitude is a number between -90 and 90.")),
        "lon": _number(values, errors, "lon", -180, 180, _("The longitude is a number between -180 and 180.")),
        "mount_height_m": _number(values, errors, "mount_height_m", 0, 500,
                                  _("The mount height is a number of metres between 0 and 500.")),
        "pan_zero_azimuth_deg": _number(values, errors, "pan_zero_azimuth_deg", 0, 360,
                                        _("The north offset is a number of degrees from 0 to 360.")),
    }
    if values["onvif_host"] and not HOST_RE.match(values["onvif_host"]):
        errors["onvif_host"] = _("Enter an IP address or host name, without http:// or a path.")
    port = None
    if values["onvif_port"]:
        port = _int(values["onvif_port"])
        if port is None or not 1 <= port <= 65535:
            errors["onvif_port"] = _("The port is a whole number from 1 to 65535.")
    if len(values["onvif_user"]) > 80:
        errors["onvif_user"] = _("The user name has at most 80 characters.")
    if len(password) > 200:
        errors["onvif_password"] = _("The password has at most 200 characters.")
    if errors:
        return render("admin/camera_form.html", camera=camera, values=values, errors=errors), 400
    new = {"name": values["name"], **parsed, "onvif_host": values["onvif_host"] or None, "onvif_port": port,
           "onvif_user": values["onvif_user"] or None}
    changes = {k: [getattr(camera, k), v] for k, v in new.items() if getattr(camera, k) != v}
    for key, value in new.items():
        setattr(camera, key, value)
    if "lat" in changes or "lon" in changes:
        _place_in_township(camera, changes)
    credentials = None
    if password:
        camera.onvif_password = password  # encrypted by the column type
        credentials = "changed"
    elif clear_password and camera.onvif_password:
        camera.onvif_password = None
        credentials = "removed"
    if changes or credentials:
        # The password itself never enters the audit trail.
        audit.record("camera_updated", "camera", camera.id,
                     data={"code": camera.code, "changes": changes, "password": credentials})
        db.session.commit()
        flash(_("Camera %(code)s saved.", code=camera.code), "success")
    else:
        flash(_("Nothing changed."), "info")
    return redirect(url_for("admin.cameras"))


# -- API tokens ------------------------------------------------------------------------
# A token acts either as a user (their role and unit: an integrator's account)
# or as an intake source (an AI box, an NVR: it reports alerts and sees those it
# reported). Only its SHA-256 is stored; the token is shown once.
SOURCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{1,79}$")
TOKEN_FIELDS = ("kind", "login", "source", "label")


def _tokens_page(values: dict[str, str], errors: dict[str, str]):
    rows = db.session.scalars(select(ApiToken).options(selectinload(ApiToken.user))
                              .order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())).all()
    users = db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.login)).all()
    return render("admin/tokens.html", tokens=rows, users=users, values=values, errors=errors)


@bp.route("/tokens")
@roles_required("admin")
def tokens():
    """Every API token: what it acts as, when it was made and last used, and
    whether it still works; a new one for a user or an intake source."""
    return _tokens_page({k: "" for k in TOKEN_FIELDS} | {"kind": "source"}, {})


@bp.route("/tokens/new", methods=["POST"])
@roles_required("admin")
def token_new():
    values = {k: (request.form.get(k) or "").strip() for k in TOKEN_FIELDS}
    errors: dict[str, str] = {}
    user = None
    if values["kind"] not in ("user", "source"):
        errors["kind"] = _("Choose what the token acts as.")
    elif values["kind"] == "user":
        user = db.session.scalar(select(User).where(User.login == values["login"], User.active.is_(True)))
        if user is None:
            errors["login"] = _("Choose an active user from the list.")
    elif not SOURCE_RE.match(values["source"]):
        errors["source"] = _("The source name has 2 to 80 letters, digits, dots, hyphens or underscores, "
                             "starting with a letter or digit.")
    elif values["source"].lower() in labels.SOURCE_LABELS:
        errors["source"] = _("This name is reserved; choose another.")
    if len(values["label"]) > 120:
        errors["label"] = _("The note has at most 120 characters.")
    if errors:
        return _tokens_page(values, errors), 400
    source = values["source"] if values["kind"] == "source" else None
    row, plain = create_api_token(source=source, user=user, label=values["label"])
    db.session.flush()
    audit.record("token_created", "api_token", row.id,
                 data={"source": source, "user": user.login if user else None, "prefix": row.prefix})
    db.session.commit()
    return _no_store(render("admin/token_once.html", token=row, plain=plain))


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@roles_required("admin")
def token_revoke(token_id: int):
    """Revoke a token (after a confirmation): it answers 401 from now on, for good."""
    row = db.session.get(ApiToken, token_id)
    if row is None:
        abort(404)
    if row.revoked_at is not None:
        return redirect(url_for("admin.tokens"))
    if request.form.get("confirm") != "1":
        return render("admin/token_confirm.html", token=row)
    row.revoked_at = clock.now()
    audit.record("token_revoked", "api_token", row.id,
                 data={"prefix": row.prefix, "source": row.source_name, "user": row.user.login if row.user else None})
    db.session.commit()
    flash(_("Token %(prefix)s… is revoked.", prefix=row.prefix), "success")
    return redirect(url_for("admin.tokens"))
