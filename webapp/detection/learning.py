"""Learning from verdicts: precision per detector, camera and preset (and over
time); a false alarm's boxes made into a preset mask; a preset's threshold
for a detector raised while its recent precision stays low (bounded, audited,
reversible); confirmed and false-alarm frames exported as a YOLO data set.

Alerts carry ``detector``, ``camera_id`` and ``preset_number`` (migration
0013), so every verdict is tied back to what raised it; the precision page
is two grouped queries (camera × preset × detector, and period) rolled up
in Python. See docs/learning.md.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Iterator

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select

from webapp.extensions import db
from webapp.models import Alert, AuditEvent, Camera, EvidenceFile, Preset
from webapp.platform import audit, clock

THRESHOLD_JOB = "detection.raise_thresholds"
DECIDED = ("confirmed", "false_alarm")
RAISED, RESET = "preset_threshold_raised", "preset_threshold_reset"
MAX_MASKS = 50  # as the preset editor (webapp/cameras/views.py parse_masks)
IMAGE_KINDS = ("frame", "snapshot")  # a raw frame is preferred to an annotated snapshot


class LearningError(ValueError):
    """A refused learning action; the message (translated) is shown to the user."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def setting(name: str) -> Any:
    return current_app.config[name]


# -- precision ------------------------------------------------------------------
@dataclass(frozen=True)
class Tally:
    key: tuple
    confirmed: int
    false_alarm: int

    @property
    def decided(self) -> int:
        return self.confirmed + self.false_alarm

    @property
    def precision(self) -> float | None:
        return self.confirmed / self.decided if self.decided else None


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def period_bucket(column, period: str):
    """SQL: the local (UTC+8) Monday of the week or first of the month of a UTC
    timestamp, as 'YYYY-MM-DD' text."""
    if _dialect() == "postgresql":
        local = func.timezone(clock.LOCAL_TZ.key, column)
        return func.to_char(func.date_trunc("week" if period == "week" else "month", local), "YYYY-MM-DD")
    if period == "week":
        return func.date(column, "+8 hours", "weekday 0", "-6 days")
    return func.date(column, "+8 hours", "start of month")


def tallies(*keys, since: datetime | None = None, where: Iterable = ()) -> list[Tally]:
    """Confirmed and false-alarm counts grouped by ``keys`` (one query)."""
    confirmed = func.sum(case((Alert.status == "confirmed", 1), else_=0))
    false_alarm = func.sum(case((Alert.status == "false_alarm", 1), else_=0))
    conditions = [Alert.status.in_(DECIDED), *where]
    if since is not None:
        conditions.append(Alert.created_at >= since)
    stmt = select(*keys, confirmed, false_alarm).where(*conditions).group_by(*keys).order_by(*keys)
    return [Tally(tuple(row[:-2]), int(row[-2] or 0), int(row[-1] or 0)) for row in db.session.execute(stmt)]


def _rollup(rows: list[Tally], key) -> list[Tally]:
    sums: dict[tuple, list[int]] = {}
    for t in rows:
        k = key(t.key)
        acc = sums.setdefault(k, [0, 0])
        acc[0] += t.confirmed
        acc[1] += t.false_alarm
    return [Tally(k, c, f) for k, (c, f) in sorted(sums.items(), key=lambda kv: tuple(
        (v is None, v if v is not None else 0) for v in kv[0]))]


def precision_report(*, since: datetime | None = None, period: str = "week",
                     detector: str | None = None) -> dict[str, Any]:
    """Everything the precision page shows: two grouped queries (camera ×
    preset × detector, and period), rolled up per detector, camera, preset."""
    where = [Alert.detector == detector] if detector else []
    cameras = {c.id: c for c in db.session.scalars(select(Camera))}
    presets = {(p.camera_id, p.number): p for p in db.session.scalars(select(Preset))}
    finest = tallies(Alert.camera_id, Alert.preset_number, Alert.detector, since=since, where=where)
    with_camera = [t for t in finest if t.key[0] is not None]
    bucket = period_bucket(Alert.created_at, period).label("bucket")
    return {
        "by_detector": _rollup(finest, lambda k: (k[2],)),
        "by_camera": _rollup(with_camera, lambda k: (k[0],)),
        "by_preset": _rollup(with_camera, lambda k: (k[0], k[1])),
        "by_preset_detector": _rollup(with_camera, lambda k: k),
        "over_time": tallies(bucket, since=since, where=where),
        "cameras": cameras, "presets": presets,
        "detectors": [r[0] for r in db.session.execute(
            select(Alert.detector).where(Alert.detector.is_not(None)).distinct().order_by(Alert.detector))],
    }


# -- boxes ------------------------------------------------------------------------
Box = tuple[float, float, float, float]


def normalised_boxes(raw: Any, size: tuple[int, int] | None = None) -> list[tuple[Box, str | None]]:
    """An alert's boxes as ((x1, y1, x2, y2) in 0..1, label); accepts
    [x1, y1, x2, y2], {"box": [...]}, {"box_px": [...]} (needs the image's
    (width, height)) and {"x1": ...}; anything else is skipped."""
    out = []
    for item in raw or ():
        label = None
        scale = (1.0, 1.0)
        if isinstance(item, dict):
            label = item.get("label")
            if item.get("box") is not None:
                item = item["box"]
            elif item.get("box_px") is not None:
                if not size or not size[0] or not size[1]:
                    continue
                item, scale = item["box_px"], (float(size[0]), float(size[1]))
            else:
                item = [item.get(k) for k in ("x1", "y1", "x2", "y2")]
        try:
            x1, y1, x2, y2 = (float(v) for v in item)
        except (TypeError, ValueError):
            continue
        x1, x2 = (min(1.0, max(0.0, v / scale[0])) for v in (x1, x2))
        y1, y2 = (min(1.0, max(0.0, v / scale[1])) for v in (y1, y2))
        if x2 > x1 and y2 > y1:
            out.append(((x1, y1, x2, y2), str(label) if label else None))
    return out


def alert_image(alert: Alert, *, on_disk: bool = False) -> EvidenceFile | None:
    """The frame an alert was raised on, unannotated where one is kept: its
    own raw frame, else the first kept frame of its patrol stop, else its
    first snapshot (which a detector pipeline may have drawn boxes on).
    ``on_disk``: only files still present (retention deletes old frames)."""
    from webapp.alerts import evidence
    from webapp.models import PatrolFrame

    def present(f: EvidenceFile | None) -> bool:
        return f is not None and (not on_disk or evidence.absolute_path(f).is_file())

    own = sorted((f for f in alert.evidence if f.kind in IMAGE_KINDS and f.content_type.startswith("image/")),
                 key=lambda f: (IMAGE_KINDS.index(f.kind), f.id))
    raw = [f for f in own if f.kind == "frame"]
    if raw and present(raw[0]):
        return raw[0]
    if alert.visit_id is not None:
        frame = db.session.scalar(select(EvidenceFile).join(PatrolFrame, PatrolFrame.evidence_id == EvidenceFile.id)
                                  .where(PatrolFrame.visit_id == alert.visit_id)
                                  .order_by(PatrolFrame.captured_at, PatrolFrame.id).limit(1))
        if present(frame):
            return frame
    return next((f for f in own if f.kind == "snapshot" and present(f)), None)


def alert_preset(alert: Alert) -> Preset | None:
    if alert.camera_id is None or alert.preset_number is None:
        return None
    return db.session.scalar(select(Preset).where(Preset.camera_id == alert.camera_id,
                                                  Preset.number == alert.preset_number))


# -- masks from false alarms ------------------------------------------------------------
def mask_polygon(box: Box, margin: float) -> list[list[float]]:
    """The box grown by ``margin`` of its size on each side (at least 1% of the
    frame), clipped to the frame, as a normalised rectangle polygon."""
    x1, y1, x2, y2 = box
    mx, my = max(0.01, margin * (x2 - x1)), max(0.01, margin * (y2 - y1))
    x1, y1 = max(0.0, x1 - mx), max(0.0, y1 - my)
    x2, y2 = min(1.0, x2 + mx), min(1.0, y2 + my)
    return [[round(x, 4), round(y, 4)] for x, y in ((x1, y1), (x2, y1), (x2, y2), (x1, y2))]


def mask_offer(alert: Alert) -> dict[str, Any]:
    """Whether the alert's region can be masked, and the polygons it would add."""
    if alert.status != "false_alarm":
        return {"preset": None, "polygons": [], "done": False, "possible": False}
    preset = alert_preset(alert)
    size = None
    if any(isinstance(b, dict) and b.get("box_px") is not None for b in alert.boxes):
        image = alert_image(alert)  # pixel boxes need the frame's size
        size = (image.width, image.height) if image is not None else None
    polygons = [mask_polygon(b, float(setting("NRSC_LEARN_MASK_MARGIN")))
                for b, _label in normalised_boxes(alert.boxes, size)]
    existing = (preset.masks or []) if preset is not None else []
    return {"preset": preset, "polygons": polygons,
            "done": bool(polygons) and all(p in existing for p in polygons),
            "possible": alert.status == "false_alarm" and preset is not None and bool(polygons)}


def mask_alert_region(alert: Alert, user) -> list[list[list[float]]]:
    """Add the false alarm's box regions (with a margin) to its preset's masks;
    returns the polygons added. Audited on the camera (as the preset editor)
    and on the alert (its history shows it)."""
    if alert.status != "false_alarm":
        raise LearningError(_l("Only a false alarm's region can be masked."))
    offer = mask_offer(alert)
    preset = offer["preset"]
    if preset is None:
        raise LearningError(_l("The alert names no camera preset."))
    if not offer["polygons"]:
        raise LearningError(_l("The alert has no box to mask."))
    masks = list(preset.masks or [])
    added = [p for p in offer["polygons"] if p not in masks]
    if not added:
        raise LearningError(_l("The region is already masked."))
    if len(masks) + len(added) > MAX_MASKS:
        raise LearningError(_l("A preset holds at most %(n)s masks; delete some in the preset editor first.",
                               n=MAX_MASKS))
    preset.masks = masks + added
    data = {"preset": preset.number, "alert": alert.id, "detector": alert.detector,
            "before": len(masks), "after": len(preset.masks), "polygons": added}
    audit.record("preset_mask_from_alert", "camera", preset.camera_id, actor=user, data=data)
    audit.record("alert_region_masked", "alert", alert.id, actor=user, data=data)
    db.session.commit()
    return added


def delete_mask(preset: Preset, index: int, expected: Any, user) -> None:
    """Remove one mask of a preset; ``expected`` must be that mask (a stale
    page never deletes another one)."""
    masks = list(preset.masks or [])
    if not 0 <= index < len(masks) or masks[index] != expected:
        raise LearningError(_l("The preset's masks changed since the page was loaded; reload it."))
    removed = masks.pop(index)
    preset.masks = masks
    audit.record("preset_mask_deleted", "camera", preset.camera_id, actor=user,
                 data={"preset": preset.number, "polygon": removed, "before": len(masks) + 1, "after": len(masks)})
    db.session.commit()


# -- thresholds ----------------------------------------------------------------------
def default_threshold(detector: str) -> float:
    """The score a detector reports at without a preset override: a model's
    manifest threshold, a weights-free detector's ``min_score``, else the
    configured base."""
    found = current_app.extensions["nrsc.plugins"].detectors.get(detector)
    manifest = getattr(found, "manifest", None)
    if manifest is not None:
        return float(manifest.score_threshold)
    params = getattr(found, "params", None) or {}
    if "min_score" in params:
        return float(params["min_score"])
    return float(setting("NRSC_LEARN_BASE_THRESHOLD"))


def _last_changes() -> dict[tuple[int, str], datetime]:
    """When each (preset, detector) threshold was last raised or reset."""
    rows = db.session.execute(select(AuditEvent.entity_id, AuditEvent.data, AuditEvent.at)
                              .where(AuditEvent.entity_type == "preset", AuditEvent.action.in_((RAISED, RESET)))
                              .order_by(AuditEvent.at))
    return {(pid, (data or {}).get("detector")): at for pid, data, at in rows}


def recent_precision(preset: Preset, detector: str, window: int, since: datetime | None) -> Tally:
    """Counts over the last ``window`` verdicts on alerts this preset's
    detector raised after ``since`` (its last threshold change)."""
    where = [Alert.camera_id == preset.camera_id, Alert.preset_number == preset.number,
             Alert.detector == detector, Alert.status.in_(DECIDED)]
    if since is not None:
        where.append(Alert.created_at > since)
    statuses = db.session.scalars(select(Alert.status).where(*where)
                                  .order_by(Alert.verdict_at.desc(), Alert.id.desc()).limit(window)).all()
    return Tally((preset.id, detector), statuses.count("confirmed"), statuses.count("false_alarm"))


# The scheduled job looks at verdicts on alerts raised within this many days
# (`nrsc detection raise-thresholds` at all of them).
RECENT_ALERT_DAYS = 30
# Above this many pairs one pass over the verdicts beats a query per pair.
ONE_PASS_FROM = 30


def _recent_in_one_pass(pairs: set[tuple], presets: dict, changed: dict, window: int) -> dict[tuple, Tally]:
    """recent_precision for many (camera, preset number, detector) pairs at once."""
    found: dict[tuple, list[str]] = {}
    stmt = (select(Alert.camera_id, Alert.preset_number, Alert.detector, Alert.status, Alert.created_at)
            .where(Alert.status.in_(DECIDED), Alert.camera_id.is_not(None), Alert.preset_number.is_not(None),
                   Alert.detector.is_not(None))
            .order_by(Alert.verdict_at.desc(), Alert.id.desc()).execution_options(yield_per=5000))
    for camera_id, number, detector, status, created_at in db.session.execute(stmt):
        key = (camera_id, number, detector)
        if key not in pairs:
            continue
        got = found.setdefault(key, [])
        if len(got) >= window:
            continue
        preset = presets.get((camera_id, number))
        since = changed.get((preset.id, detector)) if preset is not None else None
        if since is None or created_at > since:
            got.append(status)
    return {k: Tally(k, v.count("confirmed"), v.count("false_alarm")) for k, v in found.items()}


def raise_thresholds(full: bool = False) -> int:
    """The periodic job: raise by one step (up to the maximum) the threshold
    of every (preset, detector) whose last N verdicts since its last change
    fall below the precision level. Only pairs with a verdict since about the
    previous run are looked at (``full``: every pair). Returns how many were raised."""
    window = int(setting("NRSC_LEARN_WINDOW"))
    level = float(setting("NRSC_LEARN_MIN_PRECISION"))
    step = float(setting("NRSC_LEARN_STEP"))
    ceiling = float(setting("NRSC_LEARN_MAX_THRESHOLD"))
    where = [Alert.camera_id.is_not(None), Alert.preset_number.is_not(None), Alert.detector.is_not(None)]
    if not full:
        # Twice the job's period: a late or skipped run still sees every new verdict.
        lookback = max(600.0, 2 * float(setting("NRSC_LEARN_EVERY_S") or 0))
        where.append(Alert.verdict_at >= clock.now() - timedelta(seconds=lookback))
        # Verdicts come within days of the alert: the status/created index does the search.
        where += [Alert.status.in_(DECIDED), Alert.created_at >= clock.now() - timedelta(days=RECENT_ALERT_DAYS)]
    candidates = [t.key for t in tallies(Alert.camera_id, Alert.preset_number, Alert.detector, where=where)
                  if not full or t.decided >= window]
    if not candidates:
        return 0
    changed = _last_changes()
    presets = {(p.camera_id, p.number): p for p in db.session.scalars(select(Preset))}
    batch = (_recent_in_one_pass(set(candidates), presets, changed, window)
             if len(candidates) >= ONE_PASS_FROM else None)
    raised = 0
    for camera_id, number, detector in candidates:
        preset = presets.get((camera_id, number))
        if preset is None:
            continue
        if batch is not None:
            tally = batch.get((camera_id, number, detector), Tally((), 0, 0))
        else:
            tally = recent_precision(preset, detector, window, changed.get((preset.id, detector)))
        if tally.decided < window or tally.precision >= level:
            continue
        thresholds = dict(preset.thresholds or {})
        current = float(thresholds.get(detector, default_threshold(detector)))
        new = round(min(ceiling, current + step), 4)
        if new <= current:
            continue  # at the ceiling already: masks and the model must do the rest
        thresholds[detector] = new
        preset.thresholds = thresholds
        audit.record(RAISED, "preset", preset.id, actor_label="system", from_state=f"{current:g}",
                     to_state=f"{new:g}", data={"detector": detector, "camera_id": camera_id, "preset": number,
                                                "precision": round(tally.precision, 4), "window": window,
                                                "confirmed": tally.confirmed, "false_alarm": tally.false_alarm,
                                                "level": level, "step": step, "max": ceiling})
        raised += 1
    db.session.commit()
    return raised


def reset_threshold(preset: Preset, detector: str, user) -> float:
    """Restore the detector's default on this preset (drop the override)."""
    thresholds = dict(preset.thresholds or {})
    if detector not in thresholds:
        raise LearningError(_l("This preset already uses the detector's default threshold."))
    old = float(thresholds.pop(detector))
    preset.thresholds = thresholds
    audit.record(RESET, "preset", preset.id, actor=user, from_state=f"{old:g}", to_state="default",
                 data={"detector": detector, "camera_id": preset.camera_id, "preset": preset.number,
                       "default": default_threshold(detector)})
    db.session.commit()
    return old


def threshold_history(limit: int = 50) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "preset", AuditEvent.action.in_((RAISED, RESET)))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)))


# -- YOLO export --------------------------------------------------------------------------
@dataclass
class ExportSummary:
    positives: int = 0
    negatives: int = 0
    skipped: int = 0
    classes: tuple[str, ...] = ()


def _class_of(alert: Alert, label: str | None) -> str:
    return label or alert.label or alert.event_type


def _export_rows(detector: str | None, domain: str | None) -> Iterator[Alert]:
    stmt = select(Alert).where(Alert.status.in_(DECIDED)).order_by(Alert.id)
    if detector:
        stmt = stmt.where(Alert.detector == detector)
    if domain:
        stmt = stmt.where(Alert.domain == domain)
    # In pages: a large history never sits in memory at once.
    last = 0
    while True:
        page = db.session.scalars(stmt.where(Alert.id > last).limit(200)).all()
        if not page:
            return
        yield from page
        last = page[-1].id


EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}


def write_yolo(writer, *, detector: str | None = None, domain: str | None = None) -> ExportSummary:
    """Write the data set through ``writer(relative_path, bytes)``: images/,
    labels/ (one line ``class cx cy w h`` per confirmed box; an empty file for
    a false alarm, a negative), data.yaml with the class names."""
    from webapp.alerts import evidence
    summary = ExportSummary()
    classes: dict[str, int] = {}
    for alert in _export_rows(detector, domain):
        image = alert_image(alert, on_disk=True)
        path = evidence.absolute_path(image) if image is not None else None
        if path is None:
            summary.skipped += 1
            continue
        lines = []
        if alert.status == "confirmed":
            boxes = normalised_boxes(alert.boxes, (image.width, image.height))
            if not boxes:
                summary.skipped += 1  # a positive without a box would teach "nothing here"
                continue
            for (x1, y1, x2, y2), label in boxes:
                index = classes.setdefault(_class_of(alert, label), len(classes))
                lines.append(f"{index} {(x1 + x2) / 2:.6f} {(y1 + y2) / 2:.6f} {x2 - x1:.6f} {y2 - y1:.6f}")
            summary.positives += 1
        else:
            summary.negatives += 1
        stem = f"alert-{alert.id}"
        writer(f"images/{stem}{EXTENSIONS.get(image.content_type, '.jpg')}", path.read_bytes())
        writer(f"labels/{stem}.txt", ("\n".join(lines) + "\n" if lines else "").encode())
    summary.classes = tuple(classes)
    names = "\n".join(f"  {i}: {json.dumps(name, ensure_ascii=False)}" for name, i in classes.items())
    writer("data.yaml", (f"# NRSC verdicts: {summary.positives} confirmed, {summary.negatives} false alarms "
                         f"(negatives, empty label files)\npath: .\ntrain: images\nval: images\n"
                         f"nc: {len(classes)}\nnames:\n{names}\n" if classes else
                         f"# NRSC verdicts: {summary.negatives} false alarms (negatives)\npath: .\n"
                         f"train: images\nval: images\nnc: 0\nnames: {{}}\n").encode())
    return summary


def export_zip(target: io.BufferedIOBase | Any, **filters: Any) -> ExportSummary:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        return write_yolo(lambda name, data: zf.writestr(name, data), **filters)


def export_dir(directory: Path, **filters: Any) -> ExportSummary:
    def write(name: str, data: bytes) -> None:
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    directory.mkdir(parents=True, exist_ok=True)
    return write_yolo(write, **filters)


def since_days(days: int | None) -> datetime | None:
    return clock.now() - timedelta(days=days) if days else None


# -- model switches made by another process ----------------------------------------------
MODEL_SYNC_JOB = "detection.sync_model_switches"
MODEL_SYNC_EVERY_S = 30


def sync_model_switches() -> bool:
    """Collect the detectors again when the installed models switched on do
    not match the ones this process holds (a switch made on the admin page
    of a web worker, or by `nrsc models disable`). Reads manifests only."""
    from webapp.detection.models import load_detectors, models_dir
    host = current_app.extensions["nrsc.plugins"]
    settings = current_app.config.get("NRSC_DETECTORS") or {}
    root = Path(settings.get("models_dir") or models_dir())
    wanted = {d.name for d in (load_detectors(root) if root.is_dir() else [])
              if (settings.get(d.name) or {}).get("enabled", True)}
    held = {name for name, d in host.detectors.items() if hasattr(d, "manifest")}
    if wanted == held:
        return False
    host.refresh_detectors(current_app.config)
    return True


def register_jobs(runner: Any) -> None:
    """Register and schedule the threshold job and the model-switch sync on a
    TaskRunner; idempotent."""
    for name, fn in ((THRESHOLD_JOB, raise_thresholds), (MODEL_SYNC_JOB, sync_model_switches)):
        if name not in runner.jobs:
            runner.register(name, fn)
    cfg = runner.app.config if getattr(runner, "app", None) is not None else current_app.config
    every = float(cfg.get("NRSC_LEARN_EVERY_S") or 0)
    if every > 0:
        runner.schedule(THRESHOLD_JOB, every)
    runner.schedule(MODEL_SYNC_JOB, MODEL_SYNC_EVERY_S)
