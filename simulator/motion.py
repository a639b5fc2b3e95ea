"""PTZ mechanics: slewing at realistic speeds, continuous moves, presets."""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from webapp.geometry import ptz

PAN_SPEED_DEG_S = 60.0
TILT_SPEED_DEG_S = 30.0
ZOOM_FULL_RANGE_S = 4.0  # 1x → max zoom


@dataclass
class Pose:
    pan: float
    tilt: float
    zoom: float

    def as_tuple(self) -> tuple[float, float, float]:
        return self.pan, self.tilt, self.zoom


def _pan_delta(a: float, b: float) -> float:
    """Shortest signed pan from a to b (the head turns endlessly)."""
    return (b - a + 180.0) % 360.0 - 180.0


class PtzMotor:
    """Position as a function of simulation time; thread-safe."""

    def __init__(self, pose: Pose, max_zoom: float, tilt_min: float = ptz.TILT_MIN_DEG,
                 tilt_max: float = ptz.TILT_MAX_DEG):
        self._lock = threading.Lock()
        self.max_zoom, self.tilt_min, self.tilt_max = max_zoom, tilt_min, tilt_max
        self._start = pose
        self._t0 = 0.0
        self._mode = "idle"  # idle | absolute | continuous
        self._target = pose
        self._velocity = (0.0, 0.0, 0.0)  # deg/s, deg/s, zoom/s
        self._t_end = 0.0
        self.stuck = False

    def _zoom_speed(self) -> float:
        return max(self.max_zoom - 1.0, 1e-9) / ZOOM_FULL_RANGE_S

    def _position(self, t: float) -> tuple[Pose, bool, bool]:
        s = self._start
        if self._mode == "absolute":
            dt = max(0.0, t - self._t0)
            dp = _pan_delta(s.pan, self._target.pan)
            dtl = self._target.tilt - s.tilt
            dz = self._target.zoom - s.zoom
            sp, st, sz = self._speeds
            step = lambda d, v: math.copysign(min(abs(d), v * dt), d)  # noqa: E731
            pose = Pose(ptz.normalize_pan(s.pan + step(dp, sp)), s.tilt + step(dtl, st), s.zoom + step(dz, sz))
            pt_moving = abs(dp) > sp * dt or abs(dtl) > st * dt
            return pose, pt_moving, abs(dz) > sz * dt
        if self._mode == "continuous":
            dt = max(0.0, min(t, self._t_end) - self._t0)
            vp, vt, vz = self._velocity
            tilt = min(self.tilt_max, max(self.tilt_min, s.tilt + vt * dt))
            zoom = min(self.max_zoom, max(1.0, s.zoom + vz * dt))
            pose = Pose(ptz.normalize_pan(s.pan + vp * dt), tilt, zoom)
            running = t < self._t_end
            pt_moving = running and (vp != 0 or (vt != 0 and self.tilt_min < tilt < self.tilt_max))
            return pose, pt_moving, running and vz != 0 and 1.0 < zoom < self.max_zoom
        return s, False, False

    def status(self, t: float) -> tuple[Pose, bool, bool]:
        """(pose, pan/tilt moving, zoom moving) at time t."""
        with self._lock:
            return self._position(t)

    def _rebase(self, t: float) -> None:
        self._start, _, _ = self._position(t)
        self._t0, self._mode = t, "idle"

    def move_to(self, t: float, pan: float, tilt: float, zoom: float, speed: float = 1.0) -> None:
        """Slew to an absolute pose; ``speed`` in (0, 1] scales the top speeds."""
        with self._lock:
            if self.stuck:
                return
            self._rebase(t)
            speed = min(1.0, max(0.05, speed))
            self._target = Pose(ptz.normalize_pan(pan), min(self.tilt_max, max(self.tilt_min, tilt)),
                                min(self.max_zoom, max(1.0, zoom)))
            self._speeds = (PAN_SPEED_DEG_S * speed, TILT_SPEED_DEG_S * speed, self._zoom_speed() * speed)
            self._mode = "absolute"

    def move_by(self, t: float, dpan: float, dtilt: float, dzoom: float, speed: float = 1.0) -> None:
        with self._lock:
            current, _, _ = self._position(t)
        self.move_to(t, current.pan + dpan, current.tilt + dtilt, current.zoom + dzoom, speed)

    def continuous(self, t: float, vx: float, vy: float, vz: float, timeout_s: float | None = None) -> None:
        """Velocities in [-1, 1] of the top speeds, until stop() or the timeout."""
        with self._lock:
            if self.stuck:
                return
            self._rebase(t)
            clamp = lambda v: min(1.0, max(-1.0, v))  # noqa: E731
            self._velocity = (clamp(vx) * PAN_SPEED_DEG_S, clamp(vy) * TILT_SPEED_DEG_S, clamp(vz) * self._zoom_speed())
            self._t_end = t + (timeout_s if timeout_s and timeout_s > 0 else 3600.0)
            self._mode = "continuous"

    def stop(self, t: float) -> None:
        with self._lock:
            self._rebase(t)
