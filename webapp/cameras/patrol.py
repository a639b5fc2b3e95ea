"""Patrol (巡航): each tower camera walks an ordered tour of presets.

At each stop: go to the preset, wait the settle time, capture a short burst
of frames (kept as evidence files of kind ``patrol_frame`` and recorded as a
:class:`PatrolVisit`), hand them to :func:`on_stop_frames` (where detection
attaches), stay until the dwell time is over, go on.

The engine is a clock-driven state machine: :meth:`PatrolEngine.tick` looks
at every camera and submits the step that is due to a thread of its own; a
camera whose previous step is still running (a slow or stalled camera) is
skipped, never waited for. All times come from :func:`webapp.platform.clock.now`, so
tests drive tours with a frozen clock.

Tours are chosen by local time of day (``PatrolTour.start_local`` ..
``end_local``); no tour for the hour means the camera rests (night pause).
A camera under a person's control is skipped until that person has been idle
for the resume time. A worker drives a camera only while it holds the
camera's lease (:mod:`.control`).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dtime
from typing import Any, Callable

from flask import Flask
from sqlalchemy import select

from webapp.alerts import evidence
from webapp.cameras import health
from webapp.cameras.adapter import CameraError
from webapp.cameras.capture import LINKS, Frame
from webapp.cameras.control import (
    acquire_lease,
    controller_of,
    holds_lease,
    release_control,
)
from webapp.extensions import db
from webapp.models import (
    Camera,
    CameraRuntime,
    PatrolFrame,
    PatrolTour,
    PatrolVisit,
    Preset,
)
from webapp.platform import clock

log = logging.getLogger(__name__)

# Consumers of a stop's frames: fn(camera, preset, frames, *, visit_id). The
# detection pipeline appends itself here; each is called in the camera's thread.
STOP_CONSUMERS: list[Callable[..., Any]] = []


def on_stop_frames(camera: Camera, preset: Preset, frames: list[Frame], *, visit_id: int | None = None) -> None:
    """Hand a patrol stop's frames to every registered consumer; one failing
    consumer is logged and does not stop the others or the patrol."""
    for consumer in list(STOP_CONSUMERS):
        try:
            consumer(camera, preset, frames, visit_id=visit_id)
        except Exception:  # noqa: BLE001
            log.exception("stop consumer %r failed on %s preset %s", consumer, camera.code, preset.number)


def _parse_hhmm(value: str) -> dtime | None:
    if not value:
        return None
    h, m = value.split(":")
    return dtime(int(h), int(m))


def tour_active_at(tour: PatrolTour, when: datetime) -> bool:
    start, end = _parse_hhmm(tour.start_local), _parse_hhmm(tour.end_local)
    if start is None or end is None:
        return True
    t = clock.local(when).time()
    return start <= t < end if start < end else (t >= start or t < end)


def tour_for(camera_id: int, when: datetime) -> PatrolTour | None:
    """The tour for this time of day; a camera with no tour configured at all
    patrols all its presets in number order, all day (so a fresh install or
    the demo patrols at once); one whose tours all rest now rests."""
    tours = db.session.scalars(select(PatrolTour).where(PatrolTour.camera_id == camera_id)
                               .order_by(PatrolTour.id)).all()
    for tour in tours:
        if tour.active and tour.preset_numbers and tour_active_at(tour, when):
            return tour
    if tours:
        return None
    numbers = list(db.session.scalars(select(Preset.number).where(Preset.camera_id == camera_id)
                                      .order_by(Preset.number)))
    if not numbers:
        return None
    from flask import current_app
    # Transient (never added to the session): id None marks the default tour.
    return PatrolTour(id=None, camera_id=camera_id, name="default", preset_numbers=numbers, dwell_seconds=None,
                      settle_seconds=float(current_app.config.get("NRSC_PATROL_SETTLE_S", 3)),
                      start_local="", end_local="", active=True)


@dataclass
class CameraState:
    phase: str = "idle"  # idle | settling | dwelling | paused | controlled
    until: datetime | None = None
    preset_number: int | None = None
    tour_id: int | None = None
    visit_id: int | None = None
    arrived_at: datetime | None = None
    dwell_until: datetime | None = None


@dataclass
class PatrolSettings:
    lease_seconds: float = 30.0
    burst: int = 3
    burst_interval_s: float = 0.2
    max_cameras: int | None = None
    # Cameras newly taken per tick: a start (or a takeover) is spread over a few seconds.
    ramp: int = 4


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class PatrolEngine:
    def __init__(self, app: Flask, holder: str | None = None, settings: PatrolSettings | None = None,
                 max_threads: int = 64):
        self.app = app
        self.holder = holder or default_holder()
        cfg = app.config
        self.settings = settings or PatrolSettings(
            lease_seconds=float(cfg.get("NRSC_PATROL_LEASE_S", 30)),
            burst=int(cfg.get("NRSC_PATROL_BURST", 3)),
            burst_interval_s=float(cfg.get("NRSC_PATROL_BURST_INTERVAL_S", 0.2)),
            max_cameras=cfg.get("NRSC_PATROL_MAX_CAMERAS"),
            ramp=int(cfg.get("NRSC_PATROL_RAMP", 4)))
        from webapp.cameras.capture import set_capture_concurrency
        set_capture_concurrency(int(cfg.get("NRSC_CAPTURE_CONCURRENCY", 6)))
        self.states: dict[int, CameraState] = {}
        self.futures: dict[int, Future] = {}
        self.held: set[int] = set()
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="nrsc-patrol")
        self._lock = threading.Lock()
        self.stopped = False

    # -- scheduling ------------------------------------------------------------------
    def tick(self) -> list[int]:
        """Submit the due step of every camera this worker holds; returns
        the camera ids submitted. Never blocks on a camera."""
        if self.stopped:
            return []
        now = clock.now()
        with self.app.app_context():
            ids = list(db.session.scalars(select(Camera.id).where(
                Camera.active.is_(True), Camera.kind == "tower", Camera.onvif_host.is_not(None))
                .order_by(Camera.id)))
            submitted = []
            newly_taken = 0
            for camera_id in ids:
                with self._lock:
                    busy = camera_id in self.futures and not self.futures[camera_id].done()
                if busy:
                    continue  # a slow or stalled camera: look again next tick
                limit = self.settings.max_cameras
                if camera_id not in self.held:
                    if limit is not None and len(self.held) >= int(limit):
                        continue
                    if newly_taken >= self.settings.ramp:
                        continue
                if not acquire_lease(camera_id, self.holder, self.settings.lease_seconds, now):
                    self.held.discard(camera_id)
                    self.states.pop(camera_id, None)
                    continue
                if camera_id not in self.held:
                    newly_taken += 1
                self.held.add(camera_id)
                state = self.states.setdefault(camera_id, CameraState())
                if state.until is not None and now < state.until:
                    continue
                with self._lock:
                    self.futures[camera_id] = self._pool.submit(self._run_step, camera_id, now)
                submitted.append(camera_id)
            db.session.remove()
        return submitted

    def drain(self, timeout: float = 10.0, skip: set[int] | None = None) -> None:
        """Wait for submitted steps (tests), except those of ``skip`` cameras."""
        with self._lock:
            pending = [f for cid, f in self.futures.items() if not (skip and cid in skip)]
        wait(pending, timeout=timeout)

    def stop(self, release: bool = True) -> None:
        self.stopped = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        if release:
            with self.app.app_context():
                from webapp.cameras.control import release_lease
                for camera_id in list(self.held):
                    release_lease(camera_id, self.holder)
                db.session.remove()

    # -- one step of one camera --------------------------------------------------------
    def _run_step(self, camera_id: int, now: datetime) -> None:
        with self.app.app_context():
            try:
                self.step(camera_id, now)
            except Exception:  # noqa: BLE001 - one camera's bug must not stop patrol
                log.exception("patrol step failed for camera %s", camera_id)
                db.session.rollback()
            finally:
                db.session.remove()

    def step(self, camera_id: int, now: datetime) -> None:
        state = self.states.setdefault(camera_id, CameraState())
        camera = db.session.get(Camera, camera_id)
        if camera is None or not holds_lease(camera_id, self.holder, now):
            return
        rt = db.session.get(CameraRuntime, camera_id)
        if rt is not None and rt.controller_id is not None:
            if controller_of(camera, now) is not None:
                state.phase, state.until = "controlled", now + timedelta(seconds=5)
                return
            release_control(camera, None, automatic=True)
            state.phase, state.until = "idle", None
        if state.phase == "settling":
            self._capture_stop(camera, state)
            return
        tour = tour_for(camera_id, now)
        if tour is None:
            state.phase, state.until = "paused", now + timedelta(seconds=60)
            return
        self._go_next(camera, rt, tour, state, now)

    def _go_next(self, camera: Camera, rt: CameraRuntime | None, tour: PatrolTour, state: CameraState,
                 now: datetime) -> None:
        if rt is None:
            from webapp.cameras.control import ensure_runtime
            ensure_runtime(camera.id)
            rt = db.session.get(CameraRuntime, camera.id)
        if rt.tour_id != tour.id:
            rt.tour_id, rt.tour_index = tour.id, 0
        numbers = list(tour.preset_numbers)
        number = int(numbers[rt.tour_index % len(numbers)])
        rt.tour_index = (rt.tour_index + 1) % len(numbers)
        preset = next((p for p in camera.presets if p.number == number), None)
        visit = PatrolVisit(camera_id=camera.id, tour_id=tour.id, preset_number=number, started_at=now,
                            status="moving", worker=self.holder, frame_count=0)
        db.session.add(visit)
        db.session.commit()
        dwell = float(tour.dwell_seconds if tour.dwell_seconds is not None
                      else (preset.dwell_seconds if preset else 20))
        settle = float(tour.settle_seconds or 0)
        state.tour_id, state.preset_number, state.visit_id, state.arrived_at = tour.id, number, visit.id, now
        state.dwell_until = now + timedelta(seconds=max(dwell, settle))
        try:
            if preset is None:
                raise CameraError("no_preset", f"preset {number} is not configured")
            LINKS.get(camera).adapter.goto_preset(number)
        except CameraError as exc:
            self._failed(camera, visit, exc)
            # A bad preset or a dead camera: try the next stop after a short pause.
            state.phase, state.until = "idle", now + timedelta(seconds=min(settle or 5, 5))
            return
        state.phase, state.until = "settling", now + timedelta(seconds=settle)

    def _failed(self, camera: Camera, visit: PatrolVisit, exc: CameraError) -> None:
        visit.status, visit.error = "failed", str(exc)[:300]
        if exc.kind == "no_preset":
            from webapp.models import CameraHealthEvent
            db.session.add(CameraHealthEvent(camera_id=camera.id, at=clock.now(), kind="error",
                                             detail=f"preset {visit.preset_number}: {exc.message}"[:2000]))
            db.session.commit()
        else:
            health.record_failure(camera, str(exc))

    def _capture_stop(self, camera: Camera, state: CameraState) -> None:
        visit = db.session.get(PatrolVisit, state.visit_id)
        preset = next((p for p in camera.presets if p.number == state.preset_number), None)
        if visit is None or preset is None:
            state.phase, state.until = "idle", None
            return
        link = LINKS.get(camera)
        frames: list[Frame] = []
        pose = None
        try:
            if link.adapter is not None:
                pos = link.adapter.status()
                pose = (pos.pan_deg, pos.tilt_deg)
            frames = link.burst(self.settings.burst, self.settings.burst_interval_s)
        except CameraError as exc:
            self._failed(camera, visit, exc)
            state.phase, state.until = "dwelling", state.dwell_until
            return
        visit.status, visit.frames_at, visit.frame_count = "ok", frames[0].captured_at, len(frames)
        for frame in frames:
            row = evidence.store_image(frame.data, f"{camera.code}-p{preset.number}.jpg", kind="patrol_frame")
            db.session.flush()
            db.session.add(PatrolFrame(visit_id=visit.id, evidence_id=row.id, captured_at=frame.captured_at))
        db.session.commit()
        last = frames[-1]
        for frame in frames:
            health.record_success(camera, frame.data, frame.sha256, commit=False)
        health.record_preset_frame(camera, preset, last.data, last.sha256, pose, commit=True)
        on_stop_frames(camera, preset, frames, visit_id=visit.id)
        state.phase, state.until = "dwelling", state.dwell_until


# -- the process's engine ----------------------------------------------------------------
_ENGINES: dict[int, PatrolEngine] = {}


def engine_for(app: Flask) -> PatrolEngine:
    engine = _ENGINES.get(id(app))
    if engine is None or engine.stopped:
        engine = _ENGINES[id(app)] = PatrolEngine(app)
    return engine


def patrol_tick() -> dict[str, int]:
    """The recurring job: one tick of this process's engine."""
    from flask import current_app
    app = current_app._get_current_object()
    return {"submitted": len(engine_for(app).tick())}


def visit_frames(visit_id: int) -> list[Any]:
    return list(db.session.scalars(select(PatrolFrame).where(PatrolFrame.visit_id == visit_id)
                                   .order_by(PatrolFrame.captured_at, PatrolFrame.id)))


__all__ = ["PatrolEngine", "PatrolSettings", "STOP_CONSUMERS", "on_stop_frames", "patrol_tick",
           "engine_for", "tour_for", "tour_active_at"]
