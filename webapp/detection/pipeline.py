"""The detection pipeline (智能判): a patrol stop's frames → alerts.

For each stop: decode the frames → run the detectors the preset's domains
enable (from the plugins' ``register_detectors``, learned models fused with
the classical cues per domain by :class:`DomainDetector`, with the preset's
parameters) → drop what the preset masks or what scores under the preset's
threshold for that detector → temporal confirmation (:mod:`.confirm`) →
geolocation (:mod:`.geolocate`; two cameras' bearings are triangulated when
another camera saw the same domain's event a moment ago) → the one intake
path (:func:`webapp.alerts.intake.ingest`: GIS context, the plugin's
prejudgement, dedupe, evidence) with an annotated snapshot; the stop's
frames become the alert's snapshots.

Patrol hands stops over through ``STOP_CONSUMERS`` (:func:`consume`). The
work happens on the pipeline's own thread(s) behind a bounded queue: when
detection falls behind, the oldest waiting stop is dropped (counted on the
camera and noted on its visit), so patrol is never held by a slow detector.
Under Celery the stop is sent as the ``detection_stop`` job instead, and a
stop that waited longer than ``NRSC_DETECTION_MAX_AGE_S`` is dropped the same
way. Whatever goes wrong with one stop — a corrupt frame, a detector that
raises, a ray the DEM does not cover, a preset without a reference image —
is written on the visit in words and the next stop goes on.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Sequence

import cv2
import numpy as np
from flask import Flask, current_app
from sqlalchemy import select, update

from webapp.detection import confirm
from webapp.detection.deploy import DomainDetector, key_frame
from webapp.detection.geolocate import (
    Bearing,
    Fix,
    GeolocationError,
    Sigmas,
    best,
    consistent,
    monoplot,
    triangulate,
)
from webapp.extensions import db
from webapp.geometry.projection import CameraModel
from webapp.models import (
    OPEN_ALERT_STATUSES,
    Alert,
    Camera,
    CameraRuntime,
    EvidenceFile,
    PatrolFrame,
    PatrolVisit,
    Preset,
)
from webapp.platform import audit, clock
from webapp.plugin_api import Detection, DetectionContext
from webapp.vision import FrameError, as_bgr, context_mask

log = logging.getLogger(__name__)

SOURCE = "patrol"
JOB_NAME = "detection_stop"
DEFAULT_QUEUE = 8
DEFAULT_MIN_SCORE = 0.5
DEFAULT_MAX_AGE_S = 120.0
DEFAULT_TRIANGULATE_WINDOW_S = 600.0
# Rows sampled for the ground scale handed to change detectors, and how far
# their changes count.
SCALE_ROWS = 24
DEFAULT_CHANGE_RANGE_M = 3000.0
DEFAULT_CHANGE_INTERVAL_S = 300.0
# Earlier visits of a preset handed to detectors of slow events (one frame each).
EARLIER_VISITS = 2


class StopSkipped(Exception):
    """The stop cannot be examined; the message goes on the visit."""


@dataclass
class StopJob:
    camera_id: int
    preset_number: int
    visit_id: int | None
    frames: list[bytes]
    captured_at: list[datetime]
    queued_at: float = field(default_factory=time.monotonic)


@dataclass
class Outcome:
    status: str                               # done | skipped | failed | dropped
    notes: list[str] = field(default_factory=list)
    candidates: list[confirm.Candidate] = field(default_factory=list)
    confirmed: list[confirm.Candidate] = field(default_factory=list)
    alerts: list[int] = field(default_factory=list)
    seconds: float = 0.0


def enabled(app: Flask) -> bool:
    """On wherever patrol runs, unless switched off; off by default in tests
    (they switch it on where they test it)."""
    return bool(app.config.get("NRSC_DETECTION_ENABLED", not app.testing))


# -- detectors ---------------------------------------------------------------------------
def needs_reference(detector: Any) -> bool:
    return bool(getattr(detector, "needs_reference", False))


class Guarded:
    """A plugin's detector run at most once per stop, its failure contained:
    an exception (or a result that is not a list of Detection) becomes a note
    and no detections."""

    def __init__(self, inner: Any, failures: list[str], timings: dict[str, float]):
        self._inner = inner
        self._failures = failures
        self._timings = timings
        self._result: list[Detection] | None = None
        self.failed = False
        self.name = str(getattr(inner, "name", type(inner).__name__))
        self.domains = tuple(getattr(inner, "domains", ()))
        self.params = getattr(inner, "params", {})

    def __getattr__(self, name: str) -> Any:  # manifest (learned models), needs_reference …
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    def detect(self, frames: Sequence[Any], context: DetectionContext) -> list[Detection]:
        if self._result is None:
            started = time.perf_counter()
            try:
                result = list(self._inner.detect(frames, context) or [])
                bad = [r for r in result if not isinstance(r, Detection)]
                if bad:
                    raise TypeError(f"returned {type(bad[0]).__name__} instead of Detection")
                self._result = [r if r.detector else _named(r, self.name) for r in result]
            except Exception as exc:  # noqa: BLE001 - a plugin's bug must not stop the stop
                log.warning("detector %s failed", self.name, exc_info=True)
                self._failures.append(f"detector {self.name} failed: {type(exc).__name__}: {exc}"[:200])
                self._result = []
                self.failed = True
            self._timings[self.name] = self._timings.get(self.name, 0.0) + time.perf_counter() - started
        return self._result

    def support(self, frame: Any, box: Any, label: str) -> float | None:
        fn = getattr(self._inner, "support", None)
        if fn is None:
            return None
        try:
            return fn(frame, box, label)
        except Exception as exc:  # noqa: BLE001
            self._failures.append(f"detector {self.name} failed in support: {type(exc).__name__}: {exc}"[:200])
            return None


def _named(d: Detection, name: str) -> Detection:
    from dataclasses import replace
    return replace(d, detector=name)


def domain_detectors(host: Any, domains: Sequence[str], *, have_reference: bool, failures: list[str],
                     timings: dict[str, float], notes: list[str],
                     wrapped: dict[str, Guarded] | None = None,
                     resting: set[str] | None = None, key: int | None = None,
                     learned_frames: str = "key") -> list[DomainDetector]:
    """One fused detector per preset domain; each plugin detector wrapped once
    (so a detector serving two domains runs once per stop). With ``resting``
    (a set), the detectors that compare against the reference are left out
    this stop and their names put there (they are not due yet)."""
    wrapped = {} if wrapped is None else wrapped
    out = []
    lacking_reference: set[str] = set()
    for domain in domains:
        members = []
        for name, det in sorted(host.detectors.items()):
            if domain not in tuple(getattr(det, "domains", ())):
                continue
            if needs_reference(det) and not have_reference:
                lacking_reference.add(name)
                continue
            if needs_reference(det) and resting is not None:
                resting.add(name)
                continue
            if name not in wrapped:
                wrapped[name] = Guarded(det, failures, timings)
            members.append(wrapped[name])
        if members:
            out.append(DomainDetector(domain, members, key=key, learned_frames=learned_frames))
        elif domain not in {d for det in host.detectors.values() for d in getattr(det, "domains", ())}:
            notes.append(f"no detector is installed for domain {domain}")
    if lacking_reference:
        notes.append("the preset has no reference image, so " + ", ".join(sorted(lacking_reference))
                     + " could not run (capture one in the preset editor)")
    return out


# -- masks and thresholds -------------------------------------------------------------------
def masked(box: Sequence[float], mask: np.ndarray | None) -> bool:
    """A detection the preset masks: its anchor (bottom centre) in the mask, or
    most of its box."""
    if mask is None:
        return False
    h, w = mask.shape
    ax = min(w - 1, max(0, int((box[0] + box[2]) / 2 * w)))
    ay = min(h - 1, max(0, int(box[3] * h) - 1))
    if mask[ay, ax]:
        return True
    region = mask[int(box[1] * h):max(int(box[3] * h), int(box[1] * h) + 1),
                  int(box[0] * w):max(int(box[2] * w), int(box[0] * w) + 1)]
    return region.size > 0 and float(region.mean()) > 0.5


def threshold_for(preset: Any, detector: str, default: float) -> float:
    raw = (getattr(preset, "thresholds", None) or {}).get(detector)
    try:
        return max(default, float(raw)) if raw is not None else default
    except (TypeError, ValueError):
        return default


def keep(detections: Sequence[Detection], preset: Any, shape: tuple[int, int], default_min: float
         ) -> tuple[list[Detection], dict[str, int]]:
    """Detections past the preset's masks and thresholds; counts of what was dropped."""
    mask = context_mask(getattr(preset, "masks", None) or None, (shape[0] // 4 or 1, shape[1] // 4 or 1))
    kept, dropped = [], Counter()
    for d in detections:
        box = tuple(d.box) if d.box else (0.0, 0.0, 1.0, 1.0)
        if d.score < threshold_for(preset, d.detector, default_min):
            dropped["below_threshold"] += 1
        elif masked(box, mask):
            dropped["masked"] += 1
        else:
            kept.append(d)
    return kept, dict(dropped)


# -- snapshots --------------------------------------------------------------------------------
def annotate(frame: np.ndarray, items: Sequence[tuple[Sequence[float], str]]) -> bytes:
    """The frame with boxes and their captions drawn, as JPEG."""
    out = frame.copy()
    h, w = out.shape[:2]
    thick = max(2, round(min(h, w) / 300))
    for box, caption in items:
        x1, y1, x2, y2 = (round(v * s) for v, s in zip(box, (w, h, w, h)))
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 0, 255), thick)
        scale = max(0.4, min(h, w) / 900)
        (tw, th), base = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = y1 - 4 if y1 - th - 6 > 0 else y2 + th + 4
        cv2.rectangle(out, (x1, ty - th - 3), (x1 + tw + 4, ty + base - 1), (0, 0, 255), -1)
        cv2.putText(out, caption, (x1 + 2, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                    cv2.LINE_AA)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise FrameError("could not encode the annotated snapshot")
    return buf.tobytes()


# -- the pipeline ----------------------------------------------------------------------------
class DetectionPipeline:
    def __init__(self, app: Flask, *, queue_size: int | None = None, workers: int | None = None):
        cfg = app.config
        self.app = app
        self.queue: queue.Queue[StopJob] = queue.Queue(
            maxsize=max(1, int(queue_size or cfg.get("NRSC_DETECTION_QUEUE", DEFAULT_QUEUE))))
        self.workers = max(1, int(workers or cfg.get("NRSC_DETECTION_WORKERS", 1)))
        self.stats: Counter[str] = Counter()
        self.detector_seconds: Counter[str] = Counter()
        self.detector_frames: Counter[str] = Counter()
        self.latencies: deque[float] = deque(maxlen=500)
        self.process_seconds: deque[float] = deque(maxlen=500)
        # Frame capture → alert committed, for stops that raised or joined one.
        self.alert_latencies: deque[float] = deque(maxlen=500)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._scales: dict[tuple, Any] = {}
        self._change_runs: dict[tuple[int, int], datetime] = {}

    # -- queue -----------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            while len(self._threads) < self.workers:
                t = threading.Thread(target=self._work, name=f"nrsc-detect-{len(self._threads)}", daemon=True)
                self._threads.append(t)
                t.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float = 30.0) -> bool:
        """Wait until every queued stop is done (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while self.queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self.queue.unfinished_tasks

    def submit(self, job: StopJob) -> StopJob | None:
        """Queue a stop; when the queue is full the oldest waiting stop is
        dropped and returned (the caller records it)."""
        self.start()
        dropped = None
        with self._lock:
            while True:
                try:
                    self.queue.put_nowait(job)
                    break
                except queue.Full:
                    try:
                        dropped = self.queue.get_nowait()
                        self.queue.task_done()
                    except queue.Empty:
                        pass
        self.stats["submitted"] += 1
        if dropped is not None:
            self.stats["dropped"] += 1
        return dropped

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                job = self.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                with self.app.app_context():
                    try:
                        self.process(job)
                    finally:
                        db.session.remove()
            except Exception:  # noqa: BLE001 - the worker thread must live on
                log.exception("detection of camera %s preset %s failed", job.camera_id, job.preset_number)
            finally:
                self.queue.task_done()

    # -- one stop --------------------------------------------------------------------------
    def process(self, job: StopJob) -> Outcome:
        """Examine one stop and record the outcome on its visit (app context)."""
        started = time.perf_counter()
        cfg = current_app.config
        max_age = float(cfg.get("NRSC_DETECTION_MAX_AGE_S", DEFAULT_MAX_AGE_S))
        waited = time.monotonic() - job.queued_at
        if max_age > 0 and waited > max_age:
            outcome = Outcome("dropped", [(f"detection was {waited:.0f} s behind (limit {max_age:.0f} s): "
                                           "stop not examined")])
            record_outcome(job, outcome)
            self.stats["dropped"] += 1
            return outcome
        try:
            outcome = self.examine(job)
        except StopSkipped as exc:
            db.session.rollback()
            outcome = Outcome("skipped", [str(exc)])
        except Exception as exc:  # noqa: BLE001 - recorded on the visit, patrol goes on
            db.session.rollback()
            log.exception("detection failed on visit %s", job.visit_id)
            outcome = Outcome("failed", [f"detection failed: {type(exc).__name__}: {exc}"[:300]])
        outcome.seconds = time.perf_counter() - started
        record_outcome(job, outcome)
        self.stats[outcome.status] += 1
        self.stats["alerts"] += len(outcome.alerts)
        self.latencies.append(time.monotonic() - job.queued_at)
        self.process_seconds.append(outcome.seconds)
        if outcome.alerts:
            self.alert_latencies.append(time.monotonic() - job.queued_at)
        return outcome

    def examine(self, job: StopJob) -> Outcome:
        camera = db.session.get(Camera, job.camera_id)
        if camera is None:
            raise StopSkipped(f"camera {job.camera_id} no longer exists")
        preset = db.session.scalar(select(Preset).where(Preset.camera_id == camera.id,
                                                        Preset.number == job.preset_number))
        if preset is None:
            raise StopSkipped(f"preset {job.preset_number} of {camera.code} no longer exists")
        notes: list[str] = []
        frames, index_of = [], []
        for i, data in enumerate(job.frames):
            try:
                frames.append(as_bgr(data))
                index_of.append(i)
            except FrameError as exc:
                notes.append(f"frame {i + 1} is corrupt ({exc})")
        if not frames:
            raise StopSkipped("no frame of the stop could be decoded: " + "; ".join(notes))
        shape = frames[-1].shape[:2]
        frames = [f if f.shape[:2] == shape else cv2.resize(f, (shape[1], shape[0])) for f in frames]
        if not preset.domains:
            return Outcome("done", notes + ["the preset watches no domain"])

        host = current_app.extensions["nrsc.plugins"]
        reference = load_reference(preset, notes)
        failures: list[str] = []
        timings: dict[str, float] = {}
        wrapped: dict[str, Guarded] = {}
        # The change detectors (against the reference: land use, scars,
        # dumping, machinery) are the costly ones and watch slow events: they
        # run on a preset at most every NRSC_CHANGE_INTERVAL_S; in between,
        # their candidates of the last run carry over for confirmation.
        interval = float(current_app.config.get("NRSC_CHANGE_INTERVAL_S", DEFAULT_CHANGE_INTERVAL_S))
        at = job.captured_at[-1] if job.captured_at else clock.now()
        key = (camera.id, preset.number)
        last = self._change_runs.get(key)
        resting: set[str] | None = set() if (interval > 0 and last is not None
                                             and timedelta(0) <= at - last < timedelta(seconds=interval)) else None
        # The learned models look at one frame of the burst (the sharpest); the
        # cues at all of them (see webapp.detection.deploy).
        learned_frames = str(current_app.config.get("NRSC_DETECTION_LEARNED_FRAMES", "key"))
        fused = domain_detectors(host, list(preset.domains), have_reference=reference is not None,
                                 failures=failures, timings=timings, notes=notes, wrapped=wrapped, resting=resting,
                                 key=key_frame(frames) if learned_frames != "all" and any(
                                     hasattr(d, "manifest") for d in host.detectors.values()) else None,
                                 learned_frames=learned_frames)
        if resting is None and reference is not None:
            self._change_runs[key] = at
        earlier_visits = self._previous_visits(job, EARLIER_VISITS)
        previous_visit = earlier_visits[-1] if earlier_visits else None
        previous = [confirm.Candidate.from_json(c) for c in (previous_visit.detections or [])] \
            if previous_visit is not None else []
        if not fused and resting:
            # Only resting change detectors watch this preset: nothing to run now.
            return Outcome("done", notes, [c for c in previous if c.detector in resting])
        if not fused:
            raise StopSkipped("; ".join(notes) or "no detector can examine this preset")
        cam_model = CameraModel.of(camera, width=shape[1], height=shape[0], pan=preset.pan_deg,
                                   tilt=preset.tilt_deg, zoom=preset.zoom or 1.0)
        dem = platform_dem()
        context = DetectionContext(
            camera_code=camera.code, preset=preset.number, pan=preset.pan_deg, tilt=preset.tilt_deg,
            zoom=preset.zoom, captured_at=job.captured_at[-1] if job.captured_at else None,
            params=dict(preset.detector_params or {}), reference=reference, masks=list(preset.masks or []) or None,
            previous_frames=tuple(previous_frames(previous_visit)),
            earlier_visits=tuple(last_frames(earlier_visits)),
            ground_scale=self.ground_scale(camera, preset, cam_model, dem))
        found: list[Detection] = []
        for det in fused:
            found += det.detect(frames, context)
        for name, seconds in timings.items():
            self.detector_seconds[name] += seconds
            self.detector_frames[name] += 1 if learned_frames != "all" and hasattr(wrapped.get(name), "manifest") \
                else len(frames)
        notes += failures
        default_min = float(current_app.config.get("NRSC_DETECTION_MIN_SCORE", DEFAULT_MIN_SCORE))
        kept, dropped = keep(found, preset, shape, default_min)
        if dropped:
            notes.append("ignored: " + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(dropped.items())))
        cands = confirm.candidates(kept)
        overrides = current_app.config.get("NRSC_CONFIRMATION") or {}
        confirmed = [c for c in cands
                     if confirm.judge(c, confirm.rule_for(c.detector, c.event_type, c.domain, overrides), previous)]
        if resting:
            # Not judged again: kept as they were, for the next run's confirmation.
            cands += [c for c in previous if c.detector in resting]
        outcome = Outcome("done", notes, cands, confirmed)
        if confirmed:
            self._raise_alerts(job, camera, preset, frames, index_of, cam_model, dem, outcome)
        if wrapped and all(g.failed for g in wrapped.values()):
            outcome.status = "failed"  # every detector raised: nothing was examined
        return outcome

    def _previous_visits(self, job: StopJob, count: int) -> list[PatrolVisit]:
        """The preset's last ``count`` examined visits before this one, oldest
        first, back to the first gap longer than the confirmation window."""
        window = timedelta(seconds=float(current_app.config.get("NRSC_CONFIRM_VISIT_WINDOW_S", 1800)))
        q = select(PatrolVisit).where(PatrolVisit.camera_id == job.camera_id,
                                      PatrolVisit.preset_number == job.preset_number,
                                      PatrolVisit.detection_status == "done")
        if job.visit_id is not None:
            q = q.where(PatrolVisit.id < job.visit_id)
        out: list[PatrolVisit] = []
        then = job.captured_at[-1] if job.captured_at else clock.now()
        for visit in db.session.scalars(q.order_by(PatrolVisit.id.desc()).limit(max(1, count))):
            if visit.frames_at is not None and _aware(then) - _aware(visit.frames_at) > window:
                break
            out.append(visit)
            then = visit.frames_at or then
        return out[::-1]

    # -- geometry ----------------------------------------------------------------------------
    def ground_scale(self, camera: Camera, preset: Preset, cam: CameraModel, dem: Any) -> list[float] | None:
        """Metres on the ground per pixel, per image row (top to bottom), for the
        change detectors' areas. Rows of sky, and rows looking farther than the
        change detectors' useful range (``NRSC_CHANGE_RANGE_M``, 3 km: near the
        horizon one pixel spans tens of metres, and a change of light there
        would weigh as hectares), count 0. Cached per pose."""
        max_range = float(current_app.config.get("NRSC_CHANGE_RANGE_M", DEFAULT_CHANGE_RANGE_M))
        key = (camera.id, camera.lat, camera.lon, camera.mount_height_m, preset.pan_deg, preset.tilt_deg,
               preset.zoom, cam.width, cam.height, id(dem), max_range)
        if key in self._scales:
            return self._scales[key]
        fx, _fy = cam.focal()
        rows = np.linspace(0.5, cam.height - 1.5, SCALE_ROWS)
        out = []
        # Rows beyond the range count 0, so no ray need look farther.
        reach = {"max_range_m": max_range + 200.0, "tolerance_m": 0.05}
        for v in rows:
            here = cam.pixel_to_ground(cam.width / 2, v, dem, **reach)
            below = cam.pixel_to_ground(cam.width / 2, v + 1.0, dem, **reach)
            if here is None or below is None or here[3] > max_range:
                out.append(0.0)
                continue
            across = here[3] / fx
            along = abs(here[3] - below[3])
            out.append(float(np.sqrt(across * max(along, across))))
        self._scales[key] = out
        return out

    def locate(self, cam: CameraModel, box: Sequence[float], dem: Any, camera_id: int,
               anchor: Sequence[float] | None = None) -> Fix:
        """Monoplot the anchor of a box: bottom centre, or the point the
        detector gave (``evidence["anchor"]``: the base of a drifting plume)
        when it lies in the box's lower half."""
        w, h = cam.width, cam.height
        u = (box[0] + box[2]) / 2 * w
        v = min(box[3] * h, h - 0.5)
        try:
            au, av = (float(anchor[0]), float(anchor[1])) if anchor is not None else (None, None)
        except (TypeError, ValueError, IndexError):
            au = av = None
        if au is not None and box[0] - 0.01 <= au <= box[2] + 0.01 \
                and (box[1] + box[3]) / 2 <= av <= box[3] + 0.01:
            u, v = au * w, min(av * h, h - 0.5)
        sigmas = Sigmas.from_config(current_app.config)
        # A box's bottom edge is as good as the detector's box: a tenth of its
        # size, at least the configured pixel error.
        bw, bh = (box[2] - box[0]) * w, (box[3] - box[1]) * h
        frac = float(current_app.config.get("NRSC_GEO_BOX_SIGMA", 0.1))
        sigmas = sigmas.with_pixels(frac * bw, frac * bh)
        return monoplot(cam, u, v, dem, sigmas, camera_id=camera_id)

    # -- alerts -----------------------------------------------------------------------------------
    def _raise_alerts(self, job: StopJob, camera: Camera, preset: Preset, frames: list[np.ndarray],
                      index_of: list[int], cam: CameraModel, dem: Any, outcome: Outcome) -> None:
        from webapp.alerts.intake import IntakeError, ingest
        from webapp.cameras.clips import attach_stop_evidence

        located = 0
        for k, cand in enumerate(outcome.confirmed):
            try:
                mono = self.locate(cam, cand.box, dem, camera.id, cand.evidence.get("anchor"))
            except GeolocationError as exc:
                outcome.notes.append(f"{cand.domain}/{cand.event_type} not placed: {exc}")
                continue
            located += 1
            fix, partner = self._with_partners(camera, cand.domain, mono)
            frame = frames[min(cand.frame_index, len(frames) - 1)]
            same_frame = [c for c in outcome.confirmed if c.frame_index == cand.frame_index]
            snapshot = annotate(frame, [(c.box, f"{c.label or c.event_type} {c.score:.2f}") for c in same_frame])
            at = job.captured_at[min(index_of[min(cand.frame_index, len(index_of) - 1)], len(job.captured_at) - 1)] \
                if job.captured_at else clock.now()
            key = f"visit-{job.visit_id}-{k}-{cand.domain}-{cand.event_type}" if job.visit_id is not None \
                else f"stop-{uuid.uuid4().hex}"
            payload = {
                "domain": cand.domain, "event_type": cand.event_type, "source_event_id": key,
                "occurred_at": _aware(at).isoformat(), "lat": fix.lat, "lon": fix.lon,
                "camera_code": camera.code, "preset": preset.number, "pan": preset.pan_deg,
                "tilt": preset.tilt_deg, "zoom": preset.zoom, "label": cand.label[:80] or None,
                "score": round(min(1.0, max(0.0, cand.score)), 4),
                "boxes": [{"box": [round(v, 5) for v in cand.box], "label": cand.label[:80] or None,
                           "score": round(min(1.0, max(0.0, cand.score)), 4)}],
                "text": (f"{cand.detector} {cand.score:.2f}; confirmed over "
                         f"{'the stop' if cand.confirmed_by == 'frames' else f'{cand.visits} visits'}; "
                         f"{fix.method} ±{fix.semi_major_m:.0f} m")[:2000],
            }
            provenance = {"detector": cand.detector[:80] or None, "visit_id": job.visit_id,
                          "location_method": fix.method, "located_by": fix.cameras,
                          "uncertainty": fix.uncertainty()}
            try:
                if partner is not None:
                    relocate(partner, fix)
                alert, created = ingest(payload, [(f"{camera.code}-p{preset.number}-detection.jpg", snapshot)],
                                        source=SOURCE, provenance=provenance)
            except IntakeError as exc:
                outcome.notes.append(f"{cand.domain}/{cand.event_type} not taken in: {exc.message}")
                continue
            outcome.alerts.append(alert.id)
            if created and job.visit_id is not None:
                attach_stop_evidence(alert, job.visit_id, clip=False)
        if outcome.confirmed and not located:
            outcome.status = "skipped"

    def _with_partners(self, camera: Camera, domain: str, mono: Fix) -> tuple[Fix, Alert | None]:
        """The best estimate of an event that another camera may have seen too:
        open alerts of the domain from other cameras within the time window,
        whose bearing crosses ours at a point both estimates allow."""
        window = float(current_app.config.get("NRSC_TRIANGULATE_WINDOW_S", DEFAULT_TRIANGULATE_WINDOW_S))
        if window <= 0:
            return mono, None
        since = clock.now() - timedelta(seconds=window)
        rows = db.session.scalars(select(Alert).where(
            Alert.domain == domain, Alert.status.in_(OPEN_ALERT_STATUSES), Alert.last_seen_at >= since,
            Alert.camera_id.is_not(None), Alert.camera_id != camera.id,
            Alert.location_method.in_(("monoplot", "triangulated"))).order_by(Alert.id.desc()).limit(50)).all()
        mine = mono.bearings[0]
        choice: tuple[Fix, Alert] | None = None
        for alert in rows:
            theirs = stored_fix(alert)
            if theirs is None:
                continue
            for bearing in theirs.bearings:
                if bearing.camera == camera.id:
                    continue
                tri = triangulate(mine, bearing)
                if tri is None or not consistent(mono, tri) or not consistent(theirs, tri):
                    continue
                candidate = best([tri, theirs, mono])
                if choice is None or candidate.area_m2 < choice[0].area_m2:
                    choice = (candidate, alert)
        if choice is None:
            return mono, None
        fix, alert = choice
        if fix is mono:
            return mono, alert if stored_fix(alert).area_m2 > mono.area_m2 else None
        return fix, alert


def stored_fix(alert: Alert) -> Fix | None:
    """An alert's position and ellipse as a Fix (with the bearings kept with it)."""
    u = alert.uncertainty or {}
    try:
        return Fix(alert.lat, alert.lon, float(u["semi_major_m"]), float(u["semi_minor_m"]),
                   float(u["orientation_deg"]), alert.location_method or "pushed",
                   tuple(Bearing.from_json(b) for b in u.get("bearings", [])))
    except (KeyError, TypeError, ValueError):
        return None


def relocate(alert: Alert, fix: Fix) -> None:
    """Move an alert to a better estimate (smaller ellipse), audited; the new
    sighting then joins it by the intake's dedupe."""
    old = stored_fix(alert)
    if old is not None and old.area_m2 <= fix.area_m2 and abs(old.lat - fix.lat) < 1e-9 \
            and abs(old.lon - fix.lon) < 1e-9:
        return
    before = {"lat": alert.lat, "lon": alert.lon, "location_method": alert.location_method,
              "uncertainty": alert.uncertainty}
    alert.lat, alert.lon = fix.lat, fix.lon
    alert.location_method = fix.method
    alert.located_by = sorted({*(alert.located_by or []), *fix.cameras})
    alert.uncertainty = fix.uncertainty()
    alert.location_estimated = False
    audit.record("alert_relocated", "alert", alert.id, from_state=alert.status, to_state=alert.status,
                 actor_label=f"source:{SOURCE}", data={"before": before, "lat": fix.lat, "lon": fix.lon,
                                                       "location_method": fix.method,
                                                       "located_by": alert.located_by})
    db.session.commit()


def _aware(when: datetime) -> datetime:
    from datetime import timezone
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


# -- what detectors compare against ---------------------------------------------------------
def _file_bytes(row: EvidenceFile | None) -> bytes | None:
    if row is None:
        return None
    from webapp.alerts import evidence
    try:
        return evidence.absolute_path(row).read_bytes()
    except OSError:
        return None


def load_reference(preset: Preset, notes: list[str]) -> np.ndarray | None:
    if not preset.reference_sha256:
        return None
    row = db.session.scalar(select(EvidenceFile).where(EvidenceFile.sha256 == preset.reference_sha256)
                            .order_by(EvidenceFile.id).limit(1))
    data = _file_bytes(row)
    if data is None:
        notes.append("the preset's reference image is missing from the evidence store")
        return None
    try:
        return as_bgr(data)
    except FrameError:
        notes.append("the preset's reference image is not a readable image")
        return None


def previous_frames(visit: PatrolVisit | None) -> list[bytes]:
    if visit is None:
        return []
    rows = db.session.scalars(select(PatrolFrame).where(PatrolFrame.visit_id == visit.id)
                              .order_by(PatrolFrame.captured_at, PatrolFrame.id)).all()
    return [data for data in (_file_bytes(r.evidence) for r in rows) if data is not None]


def last_frames(visits: Sequence[PatrolVisit]) -> list[bytes]:
    """The last stored frame of each visit (those whose frame is readable)."""
    out = []
    for visit in visits:
        row = db.session.scalar(select(PatrolFrame).where(PatrolFrame.visit_id == visit.id)
                                .order_by(PatrolFrame.captured_at.desc(), PatrolFrame.id.desc()).limit(1))
        data = _file_bytes(row.evidence) if row is not None else None
        if data is not None:
            out.append(data)
    return out


def platform_dem() -> Any:
    """The DEM geolocation uses: ``app.extensions['nrsc.dem']`` when set (tests,
    tools), else the file at ``NRSC_DEM_PATH`` when it exists, else None
    (the curved Earth at the camera's ground height)."""
    dem = current_app.extensions.get("nrsc.dem")
    if dem is not None:
        return dem
    from pathlib import Path

    from webapp.geometry.dem import open_cached
    path = current_app.config.get("NRSC_DEM_PATH")
    if path and Path(path).is_file():
        return open_cached(path)
    return None


# -- recording ---------------------------------------------------------------------------------
def record_outcome(job: StopJob, outcome: Outcome) -> None:
    counter = {"done": "stops_detected", "dropped": "stops_dropped"}.get(outcome.status, "stops_failed")
    db.session.execute(update(CameraRuntime).where(CameraRuntime.camera_id == job.camera_id)
                       .values({counter: getattr(CameraRuntime, counter) + 1}))
    if job.visit_id is not None:
        note = "; ".join(outcome.notes)
        values: dict[str, Any] = {"detection_status": outcome.status, "detection_note": note[:500] or None}
        if outcome.status == "done":
            values["detections"] = [c.as_json() for c in outcome.candidates]
        db.session.execute(update(PatrolVisit).where(PatrolVisit.id == job.visit_id).values(values))
    db.session.commit()


# -- wiring: patrol's consumer, the Celery job ----------------------------------------------------
_PIPELINES: dict[int, DetectionPipeline] = {}
_PIPELINES_LOCK = threading.Lock()


def pipeline_for(app: Flask) -> DetectionPipeline:
    with _PIPELINES_LOCK:
        found = _PIPELINES.get(id(app))
        if found is None or found.app is not app:
            found = _PIPELINES[id(app)] = DetectionPipeline(app)
        return found


def job_of(camera: Camera, preset: Preset, frames: Sequence[Any], visit_id: int | None) -> StopJob:
    return StopJob(camera.id, preset.number, visit_id, [f.data for f in frames],
                   [f.captured_at for f in frames])


def consume(camera: Camera, preset: Preset, frames: Sequence[Any], *, visit_id: int | None = None) -> None:
    """Patrol's stop consumer: never blocks on detection."""
    app = current_app._get_current_object()
    if not enabled(app) or not frames:
        return
    mode = app.config.get("NRSC_DETECTION_MODE", "thread")
    if visit_id is not None:
        db.session.execute(update(PatrolVisit).where(PatrolVisit.id == visit_id)
                           .values(detection_status="queued"))
        db.session.commit()
    if mode == "inline":
        pipeline_for(app).process(job_of(camera, preset, frames, visit_id))
        return
    from webapp.platform.tasks import get_runner
    runner = get_runner(app)
    if mode == "celery" and runner.broker_url and visit_id is not None:
        runner.submit(JOB_NAME, visit_id=visit_id, queued_at=clock.now().isoformat())
        return
    dropped = pipeline_for(app).submit(job_of(camera, preset, frames, visit_id))
    if dropped is not None:
        record_outcome(dropped, Outcome("dropped", ["detection queue full: the oldest waiting stop was dropped"]))


def detect_visit(visit_id: int, queued_at: str | None = None) -> dict[str, Any]:
    """The ``detection_stop`` job: a stored visit's frames through the pipeline
    (Celery mode, or to run a stop again)."""
    app = current_app._get_current_object()
    visit = db.session.get(PatrolVisit, visit_id)
    if visit is None:
        return {"status": "missing"}
    rows = db.session.scalars(select(PatrolFrame).where(PatrolFrame.visit_id == visit_id)
                              .order_by(PatrolFrame.captured_at, PatrolFrame.id)).all()
    job = StopJob(visit.camera_id, visit.preset_number, visit.id,
                  [_file_bytes(r.evidence) or b"" for r in rows], [r.captured_at for r in rows])
    if queued_at:
        age = (clock.now() - datetime.fromisoformat(queued_at)).total_seconds()
        job.queued_at = time.monotonic() - max(0.0, age)
    outcome = pipeline_for(app).process(job)
    return {"status": outcome.status, "alerts": outcome.alerts}


def install() -> None:
    """Make the pipeline patrol's stop consumer in this process (idempotent)."""
    from webapp.cameras.patrol import STOP_CONSUMERS
    if consume not in STOP_CONSUMERS:
        STOP_CONSUMERS.append(consume)


def figures(app: Flask) -> dict[str, Any]:
    """This process's pipeline figures (for pages and benchmarks)."""
    p = _PIPELINES.get(id(app))
    if p is None:
        return {}
    lat = sorted(p.latencies)
    return {"queued": p.queue.qsize(), **dict(p.stats),
            "latency_p50_s": lat[len(lat) // 2] if lat else None,
            "latency_p95_s": lat[int(len(lat) * 0.95)] if lat else None}


__all__ = ["DetectionPipeline", "Guarded", "Outcome", "StopJob", "StopSkipped", "annotate", "consume",
           "detect_visit", "domain_detectors", "enabled", "install", "keep", "masked", "pipeline_for",
           "platform_dem", "record_outcome", "relocate", "stored_fix", "threshold_for"]
