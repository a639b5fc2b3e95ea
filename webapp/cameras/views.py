"""Camera pages (one blueprint, ``/cameras``) and the camera JSON API.

* ``/cameras/`` — map and list with live status (the list refreshes itself);
* ``/cameras/<code>`` — live view: MJPEG proxied through the app with the
  user's rights, PTZ buttons, take/release control, record a clip;
* ``/cameras/<code>/presets`` — preset editor: go to, save, reference image, masks;
* ``/cameras/passages`` — the checkpoint passage log, searchable;
* ``/cameras/coverage`` — viewsheds over the DEM and the district's covered share;
* ``/api/v1/cameras`` — cameras with status (never credentials).

Viewing needs a duty, office or leader role; driving a camera needs a duty
role and takes control (one controller at a time, the duty lead overrides).
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any, Iterator

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from webapp.alerts import evidence
from webapp.api.base import api_auth
from webapp.api.schema import operation
from webapp.cameras import control, health
from webapp.cameras import coverage as coverage_mod
from webapp.cameras import passages as passages_mod
from webapp.cameras.adapter import CameraError
from webapp.cameras.capture import LINKS, mjpeg_parts
from webapp.extensions import db
from webapp.gis import maps
from webapp.models import (
    Alert,
    Camera,
    CameraClipNote,
    CameraRuntime,
    EvidenceFile,
    PatrolVisit,
    Preset,
)
from webapp.platform import audit, clock
from webapp.platform.errors import api_error
from webapp.platform.jinja import render
from webapp.platform.security import current_user, roles_required

bp = Blueprint("cameras", __name__, static_folder="static",
               static_url_path="/static")
api_bp = Blueprint("cameras_api", __name__)
VIEW_ROLES = ("duty_officer", "duty_lead", "office_staff", "leader_viewer")
DRIVE_ROLES = ("duty_officer", "duty_lead")
STEP_DEG = {"left": (-5.0, 0.0, 0.0), "right": (5.0, 0.0, 0.0), "up": (0.0, 3.0, 0.0), "down": (0.0, -3.0, 0.0),
            "zoom_in": (0.0, 0.0, 1.0), "zoom_out": (0.0, 0.0, -1.0)}
LIVE_MAX_SECONDS = 600


STATUS_NAMES = {"unknown": _l("Unknown"), "online": _l("Online"), "offline": _l("Offline"),
                "stuck": _l("PTZ stuck"), "frozen": _l("Frozen picture"), "recovered": _l("Recovered"),
                "error": _l("Error")}
DIRECTION_NAMES = {"in": _l("In"), "out": _l("Out"), "unknown": _l("Unknown")}
PROFILE_NAMES = {"smoke": _l("Smoke and fire"), "machinery": _l("Machinery"), "people": _l("People and livestock")}


@bp.app_template_filter("camera_status")
def camera_status_name(value: str) -> str:
    return str(STATUS_NAMES.get(value, value))


@bp.app_template_filter("passage_direction")
def passage_direction_name(value: str) -> str:
    return str(DIRECTION_NAMES.get(value, value))


@bp.app_template_filter("coverage_profile")
def coverage_profile_name(value: str) -> str:
    return str(PROFILE_NAMES.get(value, value))


@bp.app_template_filter("camera_dt")
def camera_dt(value: Any) -> str:
    if not value:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return clock.local(value).strftime("%Y-%m-%d %H:%M:%S")


def register(app: Flask) -> None:
    app.register_blueprint(bp, url_prefix="/cameras")
    app.register_blueprint(api_bp, url_prefix="/api/v1")


def _camera(code: str) -> Camera:
    cam = db.session.scalar(select(Camera).where(Camera.code == code))
    if cam is None:
        abort(404)
    return cam


def camera_public(cam: Camera) -> dict[str, Any]:
    """What pages and the API may show of a camera: never credentials or URIs
    (a URI may carry a user name)."""
    rt = db.session.get(CameraRuntime, cam.id)
    ctrl = control.controller_of(cam)
    return {"code": cam.code, "name": cam.name, "kind": cam.kind, "lat": cam.lat, "lon": cam.lon,
            "status": cam.status, "failure_count": cam.failure_count,
            "last_seen_at": cam.last_seen_at.isoformat() if cam.last_seen_at else None,
            "controller": (ctrl.display_name or ctrl.login) if ctrl else None,
            "last_error": rt.last_error if rt else None, "presets": len(cam.presets),
            # The detection pipeline's counters: stops examined, dropped while it
            # was behind, skipped or failed (their reasons are on the visits).
            "detection": {"examined": rt.stops_detected if rt else 0, "dropped": rt.stops_dropped if rt else 0,
                          "failed": rt.stops_failed if rt else 0},
            "township": cam.township.name if cam.township else None}


# -- map and list ------------------------------------------------------------------------
@bp.route("/")
@roles_required(*VIEW_ROLES)
def index():
    cams = db.session.scalars(select(Camera).order_by(Camera.kind.desc(), Camera.code)).all()
    rows = [camera_public(c) for c in cams]
    # A callable: the 10-second htmx refresh of the rows needs no map.
    return render("cameras/index.html", "cameras/_rows.html", cameras=rows, counts=health.status_counts(),
                  profiles=coverage_mod.profiles(), map_data=lambda: camera_map(cams))


def camera_map(cams: list[Camera], **extra: Any) -> dict[str, Any]:
    """Cameras by status, each looking along its first preset."""
    return maps.payload(cameras=[maps.camera(c, preset_number=c.presets[0].number if c.presets else None,
                                             status=c.status) for c in cams], **extra)


@bp.route("/status.json")
@roles_required(*VIEW_ROLES)
def status_json():
    cams = db.session.scalars(select(Camera).order_by(Camera.code)).all()
    return jsonify({"cameras": [camera_public(c) for c in cams], "counts": health.status_counts()})


# -- live view -------------------------------------------------------------------------------
@bp.route("/<code>")
@roles_required(*VIEW_ROLES)
def live(code: str):
    cam = _camera(code)
    clips = db.session.scalars(select(CameraClipNote).where(CameraClipNote.camera_id == cam.id)
                               .order_by(CameraClipNote.id.desc()).limit(10)).all()
    noted = db.session.scalars(select(PatrolVisit).where(
        PatrolVisit.camera_id == cam.id, PatrolVisit.detection_note.is_not(None))
        .order_by(PatrolVisit.id.desc()).limit(5)).all()
    return render("cameras/live.html", camera=cam, info=camera_public(cam), presets=cam.presets,
                  events=health.health_events(cam, 10), clips=clips, detection_notes=noted,
                  can_drive=current_user().role in (*DRIVE_ROLES, "admin"))


def _stream_source(cam: Camera) -> str:
    link = LINKS.get(cam)
    uri = cam.stream_uri if cam.stream_uri and cam.stream_uri.startswith("http") else None
    if uri is None and link.adapter is not None:
        uri = link.adapter.stream_uri("HTTP")
    if not uri or not uri.startswith("http"):
        raise CameraError("no_stream", "no HTTP stream")
    return uri


@bp.route("/<code>/live.mjpg")
@roles_required(*VIEW_ROLES)
def live_stream(code: str):
    """The camera's MJPEG re-framed through the app (the browser never sees
    the camera's address or credentials); RTSP-only cameras are read with
    OpenCV and re-encoded."""
    import requests
    from requests.auth import HTTPBasicAuth, HTTPDigestAuth

    from webapp.cameras.credentials import credentials_for
    cam = _camera(code)
    creds = credentials_for(cam)
    # A malformed value falls back to the default (never a 500).
    max_s = request.args.get("max_s", LIVE_MAX_SECONDS, type=float)
    try:
        uri = _stream_source(cam)
    except CameraError:
        uri = None
    link = LINKS.get(cam)
    # A stream lasts minutes: hold no database connection or transaction meanwhile.
    db.session.close()

    def parts() -> Iterator[bytes]:
        deadline = time.monotonic() + min(max_s, LIVE_MAX_SECONDS)
        if uri is None:  # RTSP through OpenCV: this viewer's own subscription to the shared capture
            with link.stream() as sub:
                while time.monotonic() < deadline:
                    yield sub.read().data
            return
        session = requests.Session()
        session.trust_env = False
        resp = session.get(uri, stream=True, timeout=5)
        if resp.status_code == 401 and creds:
            challenge = resp.headers.get("WWW-Authenticate", "").lower()
            resp.close()
            auth = (HTTPDigestAuth if challenge.startswith("digest") else HTTPBasicAuth)(creds.user, creds.password)
            resp = session.get(uri, stream=True, timeout=5, auth=auth)
        try:
            for part in mjpeg_parts(resp):
                yield part
                if time.monotonic() > deadline:
                    break
        finally:
            resp.close()
            session.close()

    def body() -> Iterator[bytes]:
        try:
            for jpeg in parts():
                yield (b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: " + str(len(jpeg)).encode()
                       + b"\r\n\r\n" + jpeg + b"\r\n")
        except Exception:  # noqa: BLE001 - the camera went away: end the stream
            return

    response = Response(stream_with_context(body()), mimetype="multipart/x-mixed-replace; boundary=frame")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response


@bp.route("/<code>/snapshot.jpg")
@roles_required(*VIEW_ROLES)
def snapshot(code: str):
    cam = _camera(code)
    try:
        frame = LINKS.get(cam).snapshot()
    except CameraError as exc:
        health.record_failure(cam, str(exc))
        return Response(_("The camera did not answer."), status=502, mimetype="text/plain")
    health.record_success(cam, frame.data, frame.sha256)
    return Response(frame.data, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})


def _back(cam: Camera, endpoint: str = "cameras.live"):
    if request.headers.get("HX-Request") == "true":
        return render("cameras/live.html", "cameras/_control.html", camera=cam, info=camera_public(cam),
                      presets=cam.presets, can_drive=True)
    return redirect(url_for(endpoint, code=cam.code))


def _drive(cam: Camera) -> None:
    try:
        control.touch_control(cam, current_user())
    except control.ControlError as exc:
        abort(exc.status, exc.message)


@bp.route("/<code>/control", methods=["POST"])
@roles_required(*DRIVE_ROLES)
def take(code: str):
    cam = _camera(code)
    try:
        control.take_control(cam, current_user())
        flash(_("You control %(code)s; patrol resumes after you stop.", code=cam.code), "success")
    except control.ControlError as exc:
        flash(_("%(code)s is controlled by someone else.", code=cam.code), "error")
        if request.headers.get("HX-Request") != "true":
            return redirect(url_for("cameras.live", code=cam.code))
        return Response(exc.message, status=exc.status)
    return _back(cam)


@bp.route("/<code>/release", methods=["POST"])
@roles_required(*DRIVE_ROLES)
def release(code: str):
    cam = _camera(code)
    try:
        control.release_control(cam, current_user())
    except control.ControlError as exc:
        abort(exc.status, exc.message)
    return _back(cam)


@bp.route("/<code>/ptz", methods=["POST"])
@roles_required(*DRIVE_ROLES)
def ptz_action(code: str):
    cam = _camera(code)
    action = request.form.get("action", "")
    link = LINKS.get(cam)
    if link.adapter is None or cam.kind != "tower":
        abort(400, "this camera has no PTZ")
    _drive(cam)
    try:
        with link.lock:
            if action in STEP_DEG:
                dp, dt, dz = STEP_DEG[action]
                link.adapter.relative_move(dp, dt, dz)
            elif action == "goto":
                number = request.form.get("preset", 0, type=int)
                link.adapter.goto_preset(number)
            elif action == "stop":
                link.adapter.stop()
            else:
                abort(400, "unknown action")
    except CameraError as exc:
        flash(_("The camera refused: %(kind)s", kind=exc.kind), "error")
        return _back(cam)
    audit.record("camera_ptz", "camera", cam.id, data={"action": action, "preset": request.form.get("preset")})
    db.session.commit()
    return _back(cam)


@bp.route("/<code>/record", methods=["POST"])
@roles_required(*DRIVE_ROLES)
def record(code: str):
    from webapp.cameras.clips import CLIP_JOB
    from webapp.platform.tasks import get_runner
    cam = _camera(code)
    seconds = max(2, min(request.form.get("seconds", 15, type=int), 120))
    alert_id = request.form.get("alert_id", type=int)
    get_runner().submit(CLIP_JOB, camera_id=cam.id, seconds=seconds, reason="live", alert_id=alert_id,
                        user_id=current_user().id)
    flash(_("Recording %(n)s seconds; the clip appears below when done.", n=seconds), "success")
    return redirect(url_for("cameras.live", code=cam.code))


# -- preset editor ---------------------------------------------------------------------------
@bp.route("/<code>/presets")
@roles_required(*DRIVE_ROLES)
def presets(code: str):
    cam = _camera(code)
    refs = {}
    for p in cam.presets:
        if p.reference_sha256:
            refs[p.number] = db.session.scalar(select(EvidenceFile.id).where(
                EvidenceFile.sha256 == p.reference_sha256, EvidenceFile.kind == "reference").limit(1))
    return render("cameras/presets.html", camera=cam, presets=cam.presets, refs=refs, info=camera_public(cam))


@bp.route("/<code>/presets/save", methods=["POST"])
@roles_required(*DRIVE_ROLES)
def preset_save(code: str):
    """Save the camera's current position as preset ``number`` (new or overwritten)."""
    cam = _camera(code)
    number = request.form.get("number", type=int)
    name = (request.form.get("name") or "").strip()[:120]
    if not number or number < 1 or number > 999:
        abort(400, "number must be 1..999")
    _drive(cam)
    link = LINKS.get(cam)
    try:
        with link.lock:
            token = link.adapter.set_preset(number, name)
            pos = link.adapter.status()
    except CameraError as exc:
        flash(_("The camera refused: %(kind)s", kind=exc.kind), "error")
        return redirect(url_for("cameras.presets", code=cam.code))
    if token.isdigit():
        number = int(token)
    preset = next((p for p in cam.presets if p.number == number), None)
    created = preset is None
    if created:
        preset = Preset(camera_id=cam.id, number=number, domains=[], masks=[], dwell_seconds=20)
        db.session.add(preset)
    preset.name = name or preset.name or str(number)
    preset.pan_deg, preset.tilt_deg, preset.zoom = pos.pan_deg, pos.tilt_deg, pos.zoom
    audit.record("preset_saved", "camera", cam.id, data={"preset": number, "created": created,
                                                          "pan": pos.pan_deg, "tilt": pos.tilt_deg, "zoom": pos.zoom})
    db.session.commit()
    flash(_("Preset %(n)s saved.", n=number), "success")
    return redirect(url_for("cameras.presets", code=cam.code))


def _preset(cam: Camera, number: int) -> Preset:
    preset = next((p for p in cam.presets if p.number == number), None)
    if preset is None:
        abort(404)
    return preset


@bp.route("/<code>/presets/<int:number>/goto", methods=["POST"])
@roles_required(*DRIVE_ROLES)
def preset_goto(code: str, number: int):
    cam = _camera(code)
    _preset(cam, number)
    _drive(cam)
    try:
        LINKS.get(cam).adapter.goto_preset(number)
    except CameraError as exc:
        flash(_("The camera refused: %(kind)s", kind=exc.kind), "error")
    else:
        audit.record("camera_ptz", "camera", cam.id, data={"action": "goto", "preset": number})
        db.session.commit()
    return redirect(url_for("cameras.presets", code=cam.code))


@bp.route("/<code>/presets/<int:number>/reference", methods=["POST"])
@roles_required(*DRIVE_ROLES)
def preset_reference(code: str, number: int):
    """Capture the reference image of a preset (the camera should be at it)."""
    cam = _camera(code)
    preset = _preset(cam, number)
    _drive(cam)
    try:
        frame = LINKS.get(cam).snapshot()
    except CameraError as exc:
        flash(_("The camera refused: %(kind)s", kind=exc.kind), "error")
        return redirect(url_for("cameras.presets", code=cam.code))
    row = evidence.store_image(frame.data, f"{cam.code}-p{number}-ref.jpg", kind="reference",
                               uploaded_by=current_user())
    preset.reference_sha256 = row.sha256
    db.session.flush()
    audit.record("preset_reference", "camera", cam.id, data={"preset": number, "evidence_id": row.id})
    db.session.commit()
    flash(_("Reference image of preset %(n)s captured.", n=number), "success")
    return redirect(url_for("cameras.presets", code=cam.code))


def parse_masks(raw: str) -> list[list[list[float]]]:
    """Polygons in normalised image coordinates; anything else is refused."""
    try:
        data = json.loads(raw or "[]")
    except ValueError:
        abort(400, "masks must be JSON")
    if not isinstance(data, list) or len(data) > 50:
        abort(400, "masks must be a list of at most 50 polygons")
    out = []
    for poly in data:
        if not isinstance(poly, list) or not 3 <= len(poly) <= 200:
            abort(400, "each mask needs 3 to 200 points")
        pts = []
        for pt in poly:
            if not (isinstance(pt, list) and len(pt) == 2 and all(isinstance(v, (int, float)) for v in pt)):
                abort(400, "a point is [x, y]")
            x, y = float(pt[0]), float(pt[1])
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                abort(400, "mask points are normalised to 0..1")
            pts.append([round(x, 4), round(y, 4)])
        out.append(pts)
    return out


@bp.route("/<code>/presets/<int:number>/masks", methods=["POST"])
@roles_required(*DRIVE_ROLES)
def preset_masks(code: str, number: int):
    cam = _camera(code)
    preset = _preset(cam, number)
    masks = parse_masks(request.form.get("masks", "[]"))
    before = len(preset.masks or [])
    preset.masks = masks
    audit.record("preset_masks", "camera", cam.id, data={"preset": number, "before": before, "after": len(masks)})
    db.session.commit()
    flash(_("Masks of preset %(n)s saved (%(k)s).", n=number, k=len(masks)), "success")
    return redirect(url_for("cameras.presets", code=cam.code))


# -- passages -----------------------------------------------------------------------------------
def _parse_local(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        abort(400, "times are ISO 8601, e.g. 2026-11-20T08:00")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=clock.LOCAL_TZ)


@bp.route("/passages")
@roles_required(*VIEW_ROLES)
def passages():
    checkpoints = db.session.scalars(select(Camera).where(Camera.kind == "checkpoint").order_by(Camera.code)).all()
    code = request.args.get("camera") or ""
    start = _parse_local(request.args.get("start")) or clock.now() - timedelta(days=1)
    end = _parse_local(request.args.get("end"))
    direction = request.args.get("direction") or None
    ids = [c.id for c in checkpoints if c.code == code] if code else None
    rows = passages_mod.search(ids, start, end, direction if direction in ("in", "out", "unknown") else None)
    return render("cameras/passages.html", "cameras/_passages_table.html", rows=rows, checkpoints=checkpoints,
                  camera=code, start=clock.local(start), end=clock.local(end) if end else None, direction=direction)


# -- the alert page's camera media ------------------------------------------------------------------
@bp.app_template_global("camera_media_for")
def camera_media_for(alert: Alert) -> dict[str, Any]:
    """Clips of an alert and checkpoint passages near it, for the alert page."""
    from webapp.cameras.clips import clips_of_alert
    try:
        near = passages_mod.near_alert(alert)
    except Exception:  # noqa: BLE001 - never break the alert page
        near = []
    return {"clips": clips_of_alert(alert.id), "passages": near}


# -- coverage ------------------------------------------------------------------------------------------
@bp.route("/coverage")
@roles_required(*VIEW_ROLES)
def coverage():
    profile = request.args.get("profile", "smoke")
    if profile not in coverage_mod.profiles():
        abort(404)
    result = coverage_mod.compute(profile)
    cams = db.session.scalars(select(Camera).order_by(Camera.code)).all()
    overlay = {"url": url_for("cameras.coverage_png", profile=profile), "bounds": list(result.bounds)}
    return render("cameras/coverage.html", result=result, profile=profile, profiles=coverage_mod.profiles(),
                  map_data=camera_map(cams, overlay=overlay),
                  target=float(current_app.config.get("NRSC_COVERAGE_TARGET", 0.75)))


@bp.route("/coverage.png")
@roles_required(*VIEW_ROLES)
def coverage_png():
    profile = request.args.get("profile", "smoke")
    if profile not in coverage_mod.profiles():
        abort(404)
    result = coverage_mod.compute(profile)
    camera = request.args.get("camera") or None
    if camera is not None and camera not in result.viewsheds:
        abort(404)
    return Response(result.png(camera), mimetype="image/png", headers={"Cache-Control": "private, max-age=300"})


@bp.route("/coverage.json")
@roles_required(*VIEW_ROLES)
def coverage_json():
    profile = request.args.get("profile", "smoke")
    if profile not in coverage_mod.profiles():
        abort(404)
    r = coverage_mod.compute(profile)
    return jsonify({"profile": r.profile, "range_m": r.range_m, "share": round(r.share, 4),
                    "covered_km2": r.covered_km2, "district_km2": r.district_km2, "bounds": r.bounds,
                    "per_camera_km2": r.per_camera, "seconds": round(r.seconds, 3),
                    "png": url_for("cameras.coverage_png", profile=profile)})


# -- JSON API ---------------------------------------------------------------------------------------------
def _api_list():
    cams = db.session.scalars(select(Camera).order_by(Camera.code)).all()
    return jsonify({"cameras": [camera_public(c) for c in cams]})


class CameraOut(BaseModel):
    """A camera as the API shows it: never its credentials."""
    model_config = ConfigDict(extra="allow")
    code: str
    name: str
    kind: str
    status: str


class CameraList(BaseModel):
    cameras: list[CameraOut]


@api_bp.route("/cameras")
@api_auth(roles=frozenset(VIEW_ROLES))
@operation("Cameras with live status (no credentials)", tags=("cameras",),
           responses={200: ("each camera's code, name, kind, position, status and controller", CameraList)})
def api_cameras():
    return _api_list()


@api_bp.route("/cameras/<code>")
@api_auth(roles=frozenset(VIEW_ROLES))
@operation("One camera with status, controller and presets", tags=("cameras",),
           responses={200: ("the camera (no credentials)", CameraOut), 404: "no such camera"})
def api_camera(code: str):
    cam = db.session.scalar(select(Camera).where(Camera.code == code))
    if cam is None:
        return api_error(404, "not_found", f"no camera {code}")
    data = camera_public(cam)
    data["presets"] = [{"number": p.number, "name": p.name, "pan": p.pan_deg, "tilt": p.tilt_deg,
                        "zoom": p.zoom, "masks": len(p.masks or [])} for p in cam.presets]
    return jsonify(data)
