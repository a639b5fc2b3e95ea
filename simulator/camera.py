"""One simulated camera: its pose and PTZ motor, presets, faults and frames."""
from __future__ import annotations

import math
import random
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from simulator.events import Painter, draw_event, sunset_tint
from simulator.motion import Pose, PtzMotor
from simulator.soap import SoapFault
from webapp.geometry import ptz
from webapp.geometry.projection import CameraModel

if TYPE_CHECKING:  # pragma: no cover
    from simulator.server import Simulator

class SensorNoise:
    """Sensor noise for every capture, as a live camera has: grey Gaussian noise
    (``sigma`` levels) from a field drawn once per frame size, cut at a random
    offset per capture, added with saturation (two SIMD passes)."""

    PAD = 64

    def __init__(self, sigma: float, seed: int = 0):
        self.sigma = float(sigma)
        self._fields: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def _field(self, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            hit = self._fields.get((h, w))
            if hit is None:
                grey = np.random.default_rng(len(self._fields)).normal(0.0, self.sigma, (h + self.PAD, w + self.PAD))
                grey = np.rint(grey).astype(np.int16)
                pos = np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
                neg = np.repeat(np.clip(-grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
                hit = self._fields[(h, w)] = (pos, neg)
            dx, dy = self._rng.randrange(self.PAD), self._rng.randrange(self.PAD)
        pos, neg = hit
        return pos[dy:dy + h, dx:dx + w], neg[dy:dy + h, dx:dx + w]

    def apply(self, image: np.ndarray) -> np.ndarray:
        """A noisy copy of an H×W×3 uint8 image (any channel order)."""
        pos, neg = self._field(image.shape[0], image.shape[1])
        out = cv2.add(image, np.ascontiguousarray(pos))
        return cv2.subtract(out, np.ascontiguousarray(neg))

    def jpeg(self, data: bytes, rgb: np.ndarray | None, quality: int) -> bytes:
        """The JPEG ``data`` (or its decoded RGB pixels ``rgb``) with fresh noise, re-encoded."""
        if rgb is not None:
            bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        else:
            bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:
                return data
        ok, buf = cv2.imencode(".jpg", self.apply(bgr), [cv2.IMWRITE_JPEG_QUALITY, quality])
        return buf.tobytes() if ok else data


FAULTS = ("offline", "slow", "stall", "stuck_ptz", "frozen_frame", "wrong_credentials", "garbage")
JPEG_QUALITY = 85
EVENT_RANGE_M = 30_000.0


class SimCamera:
    MAX_PRESETS = 128

    def __init__(self, sim: "Simulator", index: int, spec: Any, port: int):
        self.sim, self.index, self.spec = sim, index, spec
        self.code, self.kind, self.name = spec.code, spec.kind, spec.name
        self.host, self.port = sim.host, port
        self.has_ptz = spec.kind != "checkpoint"
        self.model = "SIM-PTZ-30X" if self.has_ptz else "SIM-ANPR-FIXED"
        self.max_zoom = ptz.max_zoom_of(spec.fov_table)
        ground = float(sim.world.dem.sample(spec.lat, spec.lon))
        # Cameras stand on the DEM's ground (the demo's value is the same terrain).
        self.ground = spec.ground_elevation_m if math.isnan(ground) else ground
        self.base = CameraModel.of(spec, sim.size[0], sim.size[1], ground_elevation_m=self.ground)
        self._lock = threading.Lock()
        self.presets: OrderedDict[str, tuple[str, float, float, float]] = OrderedDict(
            (str(p.number), (p.name, p.pan_deg, p.tilt_deg, p.zoom)) for p in spec.presets)
        first = spec.presets[0] if spec.presets else None
        home = Pose(first.pan_deg, first.tilt_deg, first.zoom) if first else Pose(0.0, -5.0, 1.0)
        self.motor = PtzMotor(home, self.max_zoom)
        self.faults: dict[str, dict[str, Any]] = {}
        self.unstall = threading.Event()
        self._frozen_jpeg: bytes | None = None
        self._jpeg_cache: tuple[Any, bytes] | None = None
        self.road: tuple[float, float, float] | None = None  # checkpoints: (lat, lon, azimuth) of their road

    # -- identity / auth ----------------------------------------------------------
    @property
    def size(self) -> tuple[int, int]:
        return self.sim.size

    def credentials(self) -> tuple[str, str]:
        """The credentials the camera accepts now (a fault can change the password)."""
        if "wrong_credentials" in self.faults:
            return self.sim.user, self.sim.password + "-changed-by-fault"
        return self.sim.user, self.sim.password

    # -- presets ------------------------------------------------------------------
    def presets_snapshot(self) -> list[tuple[str, tuple[str, float, float, float]]]:
        with self._lock:
            return list(self.presets.items())

    def goto_preset(self, token: str, speed: float = 1.0) -> None:
        with self._lock:
            preset = self.presets.get(token)
        if preset is None:
            raise SoapFault("ter:InvalidArgVal", f"no preset {token!r}")  # ter:NoToken in the spec
        _name, pan, tilt, zoom = preset
        self.motor.move_to(self.sim.clock.now(), pan, tilt, zoom, speed)

    def set_preset(self, token: str | None, name: str | None) -> str:
        pose, _, _ = self.motor.status(self.sim.clock.now())
        with self._lock:
            if token and token not in self.presets:
                raise SoapFault("ter:InvalidArgVal", f"no preset {token!r} to overwrite")
            if not token:
                if len(self.presets) >= self.MAX_PRESETS:
                    raise SoapFault("ter:InvalidArgVal", "too many presets", code="env:Receiver")
                token = str(max([int(k) for k in self.presets if k.isdigit()] or [0]) + 1)
            label = name or (self.presets[token][0] if token in self.presets else f"Preset {token}")
            self.presets[token] = (label, round(pose.pan, 4), round(pose.tilt, 4), round(pose.zoom, 4))
            return token

    def remove_preset(self, token: str) -> None:
        with self._lock:
            if self.presets.pop(token, None) is None:
                raise SoapFault("ter:InvalidArgVal", f"no preset {token!r}")

    # -- pose and frames ----------------------------------------------------------------
    def pose(self, t: float | None = None) -> Pose:
        return self.motor.status(self.sim.clock.now() if t is None else t)[0]

    def camera_model(self, size: tuple[int, int] | None = None, t: float | None = None) -> CameraModel:
        pose = self.pose(t)
        w, h = size or self.size
        return self.base.at(pan=pose.pan, tilt=pose.tilt, zoom=pose.zoom, width=w, height=h)

    def _scene(self, size, t: float):
        cam = self.camera_model(size, t)
        events = [e for e in self.sim.events.all() if e.active(t)]
        tint = sunset_tint(events, t)
        view = self.sim.world.render_terrain(cam, None if tint is None else np.array(tint, np.float32))
        near = [e for e in events if e.kind != "sunset" and self._near(e, t)]
        return cam, view, near

    def _draw(self, cam, view, near, t: float) -> np.ndarray:
        painter = Painter(cam, self.sim.world.decoded(view), view.depth, view.depth_scale,
                          self.sim.world.dem.sample, t)
        for ev in sorted(near, key=lambda e: -self._distance(e, t)):  # far first, near on top
            draw_event(painter, ev)
            painter.flush()
        return painter.finish()

    def render(self, size: tuple[int, int] | None = None, t: float | None = None) -> np.ndarray:
        """The frame (H×W×3 RGB uint8) at the pose and simulation time."""
        t = self.sim.clock.now() if t is None else t
        cam, view, near = self._scene(size, t)
        return self._draw(cam, view, near, t) if near else self.sim.world.decoded(view).copy()

    def _distance(self, ev, t: float) -> float:
        lat, lon = ev.position(t)
        return float(self.base.ground_to_ray(lat, lon, self.ground)[2])

    def _near(self, ev, t: float) -> bool:
        return self._distance(ev, t) < EVENT_RANGE_M

    def jpeg(self, size: tuple[int, int] | None = None) -> bytes:
        """A JPEG of the current frame (the frozen one under the frozen_frame fault).
        Every capture carries fresh sensor noise, as a live camera's does."""
        if "frozen_frame" in self.faults and self._frozen_jpeg is not None:
            return self._frozen_jpeg
        t = self.sim.clock.now()
        pose = self.pose(t)
        events = self.sim.events.all()
        dynamic = any(e.active(t) and e.kind != "sunset" for e in events)
        key = (size or self.size, pose.as_tuple(), self.sim.events.version,
               int(t * self.sim.stream_fps) if dynamic else None,
               tuple(e.active(t) for e in events))
        cached = self._jpeg_cache
        decoded = None
        if cached is not None and cached[0] == key:
            data = cached[1]
        elif self.motor.status(t)[1] or self.motor.status(t)[2]:
            data = self._moving_jpeg(size, t, pose)
            self._jpeg_cache = (key, data)
        else:
            cam, view, near = self._scene(size, t)
            if near:
                frame = self._draw(cam, view, near, t)
                ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                                       [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                data = buf.tobytes()
            else:  # nothing to draw: the cached terrain JPEG as it is
                data = view.jpeg
                decoded = self.sim.world.decoded(view)
            self._jpeg_cache = (key, data)
        if self.sim.noise is not None:
            data = self.sim.noise.jpeg(data, decoded, JPEG_QUALITY)
        if "frozen_frame" in self.faults:
            self._frozen_jpeg = data
        return data

    def _moving_jpeg(self, size, t: float, pose) -> bytes:
        """While the head slews: a quarter-resolution render, smeared along the
        motion like a real camera's frame, not cached (passing poses never repeat)."""
        w, h = size or self.size
        small = self.base.at(pan=pose.pan, tilt=pose.tilt, zoom=pose.zoom, width=max(16, w // 4),
                             height=max(16, h // 4))
        view = self.sim.world.render_terrain(small, cache=False)
        frame = cv2.resize(view.image(), (w, h), interpolation=cv2.INTER_LINEAR)
        frame = cv2.blur(frame, (max(3, w // 40), 3))
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 70])
        return buf.tobytes()

    # -- faults -------------------------------------------------------------------
    def set_fault(self, name: str, params: dict[str, Any]) -> None:
        if name not in FAULTS:
            raise ValueError(f"fault must be one of {list(FAULTS)}")
        self.faults[name] = dict(params)
        if name == "stuck_ptz":
            self.motor.stuck = True
        elif name == "stall":
            self.unstall.clear()
        elif name == "frozen_frame":
            self._frozen_jpeg = None
            self.jpeg()  # freeze what it shows now
        elif name == "offline":
            self.sim.set_offline(self, True)

    def clear_fault(self, name: str | None = None) -> None:
        names = list(self.faults) if name is None else [name]
        for n in names:
            self.faults.pop(n, None)
            if n == "stuck_ptz":
                self.motor.stuck = False
            elif n == "stall":
                self.unstall.set()
            elif n == "frozen_frame":
                self._frozen_jpeg = None
            elif n == "offline":
                self.sim.set_offline(self, False)

    def info(self) -> dict[str, Any]:
        pose, pt_moving, z_moving = self.motor.status(self.sim.clock.now())
        return {"index": self.index, "code": self.code, "kind": self.kind, "name": self.name,
                "host": self.host, "port": self.port, "ptz": self.has_ptz,
                "lat": self.spec.lat, "lon": self.spec.lon, "ground_elevation_m": round(self.ground, 2),
                "mount_height_m": self.spec.mount_height_m, "pan_zero_azimuth_deg": self.spec.pan_zero_azimuth_deg,
                "fov_table": self.spec.fov_table,
                "pose": {"pan": round(pose.pan, 4), "tilt": round(pose.tilt, 4), "zoom": round(pose.zoom, 4),
                         "moving": pt_moving or z_moving},
                "presets": [{"token": k, "name": v[0], "pan": v[1], "tilt": v[2], "zoom": v[3]}
                            for k, v in self.presets_snapshot()],
                "road": None if self.road is None else dict(zip(("lat", "lon", "azimuth_deg"), self.road)),
                "faults": self.faults}
