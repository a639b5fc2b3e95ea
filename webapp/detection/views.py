"""Detection pages (one blueprint, ``/detection``):

* ``/detection/precision`` — precision per detector, camera, preset and over
  time, the presets' raised thresholds (duty lead, admin);
* ``/detection/alerts/<id>/mask`` — a false alarm's region becomes a preset mask (duty roles);
* ``/detection/presets/<id>/masks/delete`` — one mask removed (from the preset editor);
* ``/detection/presets/<id>/thresholds/reset`` — a raised threshold back to its default (admin);
* ``/detection/export.zip`` — confirmed and false-alarm frames as a YOLO data set;
* ``/detection/models`` — the installed models' manifests, switched on and off (admin).
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, abort, current_app, flash, redirect, request, send_file, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from webapp.detection import learning
from webapp.detection.learning import LearningError
from webapp.extensions import db
from webapp.models import Alert, Preset
from webapp.platform import audit, clock
from webapp.platform.jinja import render
from webapp.platform.labels import detector_name
from webapp.platform.security import DUTY_ROLES, current_user, roles_required

bp = Blueprint("detection", __name__, template_folder="templates")
LEAD_ROLES = ("duty_lead",)
DRIVE_ROLES = ("duty_officer", "duty_lead")  # who edits presets (webapp/cameras/views.py)
DAY_CHOICES = (30, 90, 365, 0)
PERIODS = ("week", "month")


def register(app: Flask) -> None:
    app.register_blueprint(bp, url_prefix="/detection")


@bp.app_template_global("learning_for")
def learning_for(alert: Alert) -> dict[str, Any]:
    """What the alert page offers: mask the false alarm's region."""
    user = current_user()
    offer = learning.mask_offer(alert)
    offer["can_mask"] = user is not None and (user.role in DUTY_ROLES or user.role == "admin")
    return offer


# -- precision ---------------------------------------------------------------------
def _int_arg(name: str, default: int) -> int:
    try:
        return int(request.args.get(name, default))
    except ValueError:
        return default


PRESET_DETECTOR_ROWS = 100  # the worst first; ?all=1 shows every pair


def _pct(t: learning.Tally) -> str:
    return f"{100 * t.precision:.1f}%" if t.precision is not None else "—"


@bp.route("/precision")
@roles_required(*LEAD_ROLES)
def precision():
    days = _int_arg("days", 90)
    days = days if days in DAY_CHOICES else 90
    period = request.args.get("period") if request.args.get("period") in PERIODS else "week"
    detector = (request.args.get("detector") or "").strip()[:80] or None
    show_all = request.args.get("all") == "1"
    report = learning.precision_report(since=learning.since_days(days), period=period, detector=detector)
    chart = {"labels": [t.key[0] for t in report["over_time"]],
             "values": [round(100 * t.precision, 1) if t.precision is not None else None
                        for t in report["over_time"]]}
    defaults = {d: learning.default_threshold(d) for d in report["detectors"]}
    cameras, presets = report["cameras"], report["presets"]

    def camera_name(cid: int | None) -> str:
        cam = cameras.get(cid)
        return f"{cam.code} {cam.name}" if cam else f"#{cid}"

    external = _("(external sender)")
    raised_word, default_word = _("(raised)"), _("(default)")

    def threshold_text(key: tuple) -> tuple[str, bool]:
        cid, number, det = key
        preset = presets.get((cid, number))
        if det and preset is not None and det in (preset.thresholds or {}):
            return f"{preset.thresholds[det]:g} {raised_word}", True
        return (f"{defaults.get(det, 0):g} {default_word}", False) if det else ("—", False)

    def row(t: learning.Tally, data_key: str, *cells: str, **extra: Any) -> dict[str, Any]:
        return {"key": data_key, "cells": cells, "confirmed": t.confirmed, "false_alarm": t.false_alarm,
                "pct": _pct(t), **extra}

    pairs = sorted(report["by_preset_detector"], key=lambda t: (t.precision if t.precision is not None else 2,
                                                                -t.decided))
    hidden = 0 if show_all else max(0, len(pairs) - PRESET_DETECTOR_ROWS)
    tables = {
        "detector": [row(t, t.key[0] or "", detector_name(t.key[0]) if t.key[0] else external)
                     for t in report["by_detector"]],
        "time": [row(t, t.key[0], t.key[0]) for t in report["over_time"]],
        "camera": [row(t, str(t.key[0]), camera_name(t.key[0])) for t in report["by_camera"]],
        "preset": [row(t, f"{t.key[0]}-{t.key[1]}", camera_name(t.key[0]),
                       "—" if t.key[1] is None else str(t.key[1])) for t in report["by_preset"]],
        "preset_detector": [row(t, f"{t.key[0]}-{t.key[1]}-{t.key[2] or ''}", camera_name(t.key[0]),
                                "—" if t.key[1] is None else str(t.key[1]),
                                detector_name(t.key[2]) if t.key[2] else external,
                                threshold=threshold_text(t.key))
                            for t in pairs[:len(pairs) - hidden]],
    }
    history = learning.threshold_history()
    return render("detection/precision.html", report=report, days=days, period=period, detector=detector,
                  day_choices=DAY_CHOICES, chart=chart, defaults=defaults, tables=tables, hidden=hidden,
                  history=history, camera_name=camera_name,
                  raised=[p for p in presets.values() if p.thresholds],
                  is_admin=current_user().role == "admin", settings=_learning_settings())


def _learning_settings() -> dict[str, Any]:
    cfg = current_app.config
    return {k: cfg[k] for k in ("NRSC_LEARN_WINDOW", "NRSC_LEARN_MIN_PRECISION", "NRSC_LEARN_STEP",
                                 "NRSC_LEARN_MAX_THRESHOLD", "NRSC_LEARN_MASK_MARGIN")}


# -- masks ------------------------------------------------------------------------------
@bp.route("/alerts/<int:alert_id>/mask", methods=["POST"])
@roles_required(*DUTY_ROLES)
def mask_alert(alert_id: int):
    alert = db.session.get(Alert, alert_id) or abort(404)
    try:
        added = learning.mask_alert_region(alert, current_user())
    except LearningError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash(_("%(n)s region(s) added to the masks of preset %(p)s; that area is ignored from now on.",
                n=len(added), p=alert.preset_number), "success")
    return redirect(url_for("alerts.detail", alert_id=alert.id))


def _preset(preset_id: int) -> Preset:
    return db.session.get(Preset, preset_id) or abort(404)


@bp.route("/presets/<int:preset_id>/masks/delete", methods=["POST"])
@roles_required(*DRIVE_ROLES)
def delete_mask(preset_id: int):
    preset = _preset(preset_id)
    try:
        index = int(request.form.get("index", ""))
        expected = json.loads(request.form.get("polygon") or "null")
    except ValueError:
        abort(400, "index and polygon are required")
    try:
        learning.delete_mask(preset, index, expected, current_user())
    except LearningError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash(_("Mask deleted from preset %(n)s.", n=preset.number), "success")
    return redirect(url_for("cameras.presets", code=preset.camera.code) + f"#preset-{preset.number}")


@bp.route("/presets/<int:preset_id>/thresholds/reset", methods=["POST"])
@roles_required()  # admin only
def reset_threshold(preset_id: int):
    preset = _preset(preset_id)
    detector = (request.form.get("detector") or "").strip()[:80]
    try:
        old = learning.reset_threshold(preset, detector, current_user())
    except LearningError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        was = "%g" % old
        flash(_("Threshold of %(d)s on %(c)s preset %(p)s restored to its default (was %(old)s).",
                d=detector, c=preset.camera.code, p=preset.number, old=was), "success")
    return redirect(url_for("detection.precision") + "#thresholds")


# -- export ----------------------------------------------------------------------------------
@bp.route("/export.zip")
@roles_required(*LEAD_ROLES)
def export_zip():
    filters = {"detector": (request.args.get("detector") or "").strip()[:80] or None,
               "domain": (request.args.get("domain") or "").strip()[:40] or None}
    spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
    summary = learning.export_zip(spool, **filters)
    audit.record("dataset_exported", "detection", None,
                 data={**filters, "format": "yolo", "positives": summary.positives,
                       "negatives": summary.negatives, "skipped": summary.skipped})
    db.session.commit()
    spool.seek(0)
    stamp = clock.local(clock.now()).strftime("%Y%m%d-%H%M")
    return send_file(spool, mimetype="application/zip", as_attachment=True,
                     download_name=f"nrsc-verdicts-yolo-{stamp}.zip")


# -- models --------------------------------------------------------------------------------------
def models_root() -> Path:
    settings = current_app.config.get("NRSC_DETECTORS") or {}
    from webapp.detection.models import models_dir
    return Path(settings.get("models_dir") or models_dir())


def model_cards(root: Path) -> list[dict[str, Any]]:
    """What each installed model's manifest says, for the admin page."""
    settings = current_app.config.get("NRSC_DETECTORS") or {}
    cards = []
    for path in sorted(root.glob("*/manifest.json")) if root.is_dir() else ():
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            name = str(raw["name"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            cards.append({"name": path.parent.name, "error": str(exc), "dir": path.parent.name})
            continue
        inp = raw.get("input") or {}
        sha = raw.get("sha256")
        licence = str(raw.get("licence") or "")
        cards.append({
            "name": name, "dir": path.parent.name, "description": raw.get("description", ""),
            "enabled": bool(raw.get("enabled", True)),
            "config_off": (settings.get(name) or {}).get("enabled") is False,
            "source": raw.get("source") or {}, "licence": licence,
            "copyleft": any(k in licence.upper() for k in ("AGPL", "GPL")),
            "classes": list(raw.get("classes") or []), "kind": raw.get("kind", "detector"),
            "format": raw.get("format", ""), "layout": (raw.get("output") or {}).get("layout", ""),
            "input": f"{inp['width']}×{inp['height']}" if inp.get("width") else "",
            "letterbox": inp.get("letterbox"), "thresholds": raw.get("thresholds") or {},
            "sha256": sha if isinstance(sha, dict) else ({raw.get("file", name): sha} if sha else {}),
            "verified": raw.get("verified") or {},
            "mapping": sorted({t.get("domain", "") for ts in (raw.get("mapping") or {}).values()
                               for t in (ts if isinstance(ts, list) else [ts])}),
        })
    return cards


@bp.route("/models")
@roles_required()  # admin only
def models():
    root = models_root()
    host = current_app.extensions["nrsc.plugins"]
    return render("detection/models.html", cards=model_cards(root), root=root,
                  registered=sorted(host.detectors))


@bp.route("/models/<name>/switch", methods=["POST"])
@roles_required()  # admin only
def switch_model(name: str):
    from webapp.detection.model import ModelError
    from webapp.detection.models import set_enabled
    root = models_root()
    card = next((c for c in model_cards(root) if c["name"] == name and c["dir"] == name and "error" not in c), None)
    if card is None:
        abort(404)
    enabled = request.form.get("enabled") == "1"
    if enabled == card["enabled"]:
        flash(_("Model %(name)s is already switched on.", name=name) if enabled
              else _("Model %(name)s is already switched off.", name=name), "info")
        return redirect(url_for("detection.models"))
    try:
        set_enabled(name, enabled, target_dir=root)
    except (ModelError, OSError) as exc:
        flash(_("The model could not be switched: %(error)s", error=str(exc)), "error")
        return redirect(url_for("detection.models"))
    audit.record("model_toggled", "detector_model", None, from_state="on" if card["enabled"] else "off",
                 to_state="on" if enabled else "off", data={"model": name})
    db.session.commit()
    # This process stops (or starts) using it now; other processes on their next start.
    current_app.extensions["nrsc.plugins"].refresh_detectors(current_app.config)
    flash(_("Model %(name)s switched on.", name=name) if enabled
          else _("Model %(name)s switched off.", name=name), "success")
    return redirect(url_for("detection.models"))


def presets_by_id(ids: list[int]) -> dict[int, Preset]:
    return {p.id: p for p in db.session.scalars(select(Preset).where(Preset.id.in_(ids)))} if ids else {}
