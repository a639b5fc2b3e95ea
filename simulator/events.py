"""Events placed in the world by latitude/longitude with sizes in metres, their
state over simulation time, and how they are drawn into a camera's frame.

Every event is drawn by forward projection through the shared geometry: its
ground footprint or its upright shape is a set of 3-D points (lat, lon, height)
projected with :meth:`CameraModel.ground_to_pixel`; parts hidden behind terrain
(the depth map of the static render) are not drawn.
"""
from __future__ import annotations

import itertools
import math
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from webapp.geometry.projection import GEOD, CameraModel

# kind → (look-alike?, default width m, default height m)
KINDS: dict[str, tuple[bool, float, float]] = {
    "smoke": (False, 30.0, 120.0),
    "fire": (False, 20.0, 8.0),
    "excavator": (False, 9.0, 4.0),
    "truck": (False, 10.0, 3.6),
    "sheep": (False, 60.0, 0.9),
    "landslide": (False, 120.0, 0.0),
    "dust": (False, 60.0, 25.0),
    "garbage": (False, 25.0, 1.2),
    # Look-alikes: things a detector must not alert on.
    "sunset": (True, 0.0, 0.0),
    "red_soil": (True, 150.0, 0.0),
    "cloud_shadow": (True, 600.0, 0.0),
    "public_truck": (True, 10.0, 3.6),
    "steam": (True, 12.0, 60.0),
}
FONT_PATHS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
              "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
              "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc")
PLATE_MIN_PX = 110  # plates are drawn at least this wide (px) so a plate reader has something to read


class EventError(ValueError):
    """An event description that cannot be used; the message says why."""


@dataclass
class Event:
    id: int
    kind: str
    lat: float
    lon: float
    width_m: float
    height_m: float
    heading_deg: float = 0.0  # direction of travel / drift / long axis
    speed_m_s: float = 0.0  # trucks, sheep
    start: float = 0.0  # simulation epoch seconds
    end: float | None = None
    plate: str | None = None
    count: int = 0  # sheep
    lookalike: bool = False
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any], id_: int, now: float) -> "Event":
        if not isinstance(data, dict):
            raise EventError("an event is a JSON object")
        kind = data.get("kind")
        if kind not in KINDS:
            raise EventError(f"kind must be one of {sorted(KINDS)}, not {kind!r}")
        lookalike, w, h = KINDS[kind]
        try:
            lat = float(data.get("lat", 0.0 if kind == "sunset" else math.nan))
            lon = float(data.get("lon", 0.0 if kind == "sunset" else math.nan))
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError
        except (TypeError, ValueError):
            raise EventError("lat and lon are required numbers (WGS84 degrees)") from None
        try:
            width = float(data.get("width_m", data.get("size_m", w)))
            height = float(data.get("height_m", h))
            start = data.get("start")
            start = now + float(data.get("start_in_s", 0.0)) if start is None else float(start)
            end = data.get("end")
            duration = data.get("duration_s")
            end = float(end) if end is not None else (start + float(duration) if duration is not None else None)
            ev = cls(id=id_, kind=kind, lat=lat, lon=lon, width_m=width, height_m=height,
                     heading_deg=float(data.get("heading_deg", 90.0)) % 360.0,
                     speed_m_s=float(data.get("speed_m_s", 0.3 if kind == "sheep" else 0.0)),
                     start=start, end=end, plate=data.get("plate"), count=int(data.get("count", 40 if kind == "sheep" else 0)),
                     lookalike=lookalike, seed=int(data.get("seed", id_)),
                     extra={k: v for k, v in data.items() if k in ("colour", "label", "note")})
        except (TypeError, ValueError) as exc:
            raise EventError(f"bad number in event: {exc}") from None
        if width < 0 or height < 0 or width > 5000 or height > 2000:
            raise EventError("width_m/height_m out of range (0..5000 / 0..2000)")
        if kind in ("truck", "public_truck") and not ev.plate:
            ev.plate = f"宁C·{10000 + (id_ * 7919) % 90000}"
        return ev

    def active(self, t: float) -> bool:
        return t >= self.start and (self.end is None or t < self.end)

    def position(self, t: float) -> tuple[float, float]:
        """Where it is at time t (moving events travel along their heading)."""
        if self.speed_m_s <= 0 or t <= self.start:
            return self.lat, self.lon
        lon, lat, _ = GEOD.fwd(self.lon, self.lat, self.heading_deg, self.speed_m_s * (t - self.start))
        return float(lat), float(lon)

    def state(self, t: float) -> dict[str, Any]:
        age = max(0.0, t - self.start)
        lat, lon = self.position(t)
        st: dict[str, Any] = {"active": self.active(t), "age_s": round(age, 3), "lat": lat, "lon": lon}
        if self.kind in ("smoke", "steam", "dust"):
            st["plume_height_m"] = round(self.height_m * min(1.0, 0.25 + age / 120.0), 2)
        return st

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class EventStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[int, Event] = {}
        self._ids = itertools.count(1)
        self.version = 0

    def add(self, data: dict[str, Any], now: float) -> Event:
        with self._lock:
            ev = Event.from_json(data, next(self._ids), now)
            self._events[ev.id] = ev
            self.version += 1
            return ev

    def remove(self, id_: int) -> bool:
        with self._lock:
            self.version += 1
            return self._events.pop(id_, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._events.clear()
            self.version += 1

    def all(self) -> list[Event]:
        with self._lock:
            return list(self._events.values())


# --- drawing -------------------------------------------------------------------

_font_cache: dict[int, Any] = {}


def cjk_font(size: int):
    size = max(6, int(size))
    if size not in _font_cache:
        for path in FONT_PATHS:
            try:
                _font_cache[size] = ImageFont.truetype(path, size)
                break
            except OSError:
                continue
        else:
            _font_cache[size] = ImageFont.load_default()
    return _font_cache[size]


def _offset(lat: float, lon: float, az, dist) -> tuple[np.ndarray, np.ndarray]:
    az, dist = np.broadcast_arrays(np.asarray(az, float), np.asarray(dist, float))
    lo, la, _ = GEOD.fwd(np.full(az.shape, lon), np.full(az.shape, lat), az, dist)
    return np.asarray(la), np.asarray(lo)


class Painter:
    """Draws events into one frame (PIL), using the camera model and a ground function."""

    def __init__(self, cam: CameraModel, image: np.ndarray, depth: np.ndarray, depth_scale: float, ground, t: float):
        self.cam, self.depth, self.depth_scale = cam, depth, depth_scale
        self.frame = np.array(image, np.uint8)  # our own copy: the cached terrain stays clean
        self.ground, self.t = ground, t
        self.overlay = Image.new("RGBA", (self.frame.shape[1], self.frame.shape[0]), (0, 0, 0, 0))
        self.draw = ImageDraw.Draw(self.overlay)
        self.fx, self.fy = cam.focal()

    def project(self, lat, lon, h):
        u, v, front = self.cam.ground_to_pixel(lat, lon, h)
        return np.atleast_1d(u), np.atleast_1d(v), np.atleast_1d(front)

    def hidden(self, u: float, v: float, dist: float) -> bool:
        """Terrain in front of the point at that pixel (depth map, with slack)."""
        if not (0 <= u < self.cam.width and 0 <= v < self.cam.height):
            return False
        r = min(int(v / self.depth_scale), self.depth.shape[0] - 1)
        c = min(int(u / self.depth_scale), self.depth.shape[1] - 1)
        d = float(self.depth[r, c])
        return bool(d < dist * 0.97 - 15.0)

    def px_per_m(self, dist: float) -> float:
        return self.fx / max(dist, 1.0)

    def flush(self) -> None:
        """Blend what was drawn so far (one event) onto the frame, inside its bounding
        box only. ImageDraw replaces overlay pixels instead of blending them, so each
        event gets its own pass and a translucent plume over a heap keeps the heap."""
        box = self.overlay.getbbox()
        if box is None:
            return
        x0, y0, x1, y1 = box
        region = Image.fromarray(self.frame[y0:y1, x0:x1]).convert("RGBA")
        region.alpha_composite(self.overlay.crop(box))
        self.frame[y0:y1, x0:x1] = np.asarray(region.convert("RGB"))
        self.overlay.paste((0, 0, 0, 0), box)

    def finish(self) -> np.ndarray:
        self.flush()
        return self.frame

    # -- shapes ---------------------------------------------------------------
    def ground_patch(self, lat: float, lon: float, radius_m: float, colour, alpha: int, seed: int,
                     stretch: float = 1.0, heading: float = 0.0, points: int = 24, rough: float = 0.25) -> bool:
        rng = np.random.default_rng(seed)
        az = np.linspace(0, 360, points, endpoint=False)
        r = radius_m * (1 + rough * (rng.random(points) - 0.5))
        # Elongate along the heading.
        rel = np.radians(az - heading)
        r = r * np.hypot(np.cos(rel) * stretch, np.sin(rel)) / max(stretch, 1.0) * max(stretch, 1.0) ** 0.5
        la, lo = _offset(lat, lon, az, r)
        h = self.ground(la, lo)
        u, v, front = self.project(la, lo, h)
        if not front.all():
            return False
        _az, _el, dist = self.cam.ground_to_ray(lat, lon, float(self.ground(lat, lon)))
        cu, cv = float(np.mean(u)), float(np.mean(v))
        if self.hidden(cu, cv, float(dist)):
            return False
        self.draw.polygon(list(zip(u.tolist(), v.tolist())), fill=(*colour, alpha))
        return True

    def upright(self, lat: float, lon: float, base_h: float, top_h: float):
        """(u_base, v_base, v_top, dist) of a vertical segment, None if behind."""
        u, v, front = self.project([lat, lat], [lon, lon], [base_h, top_h])
        if not front.all():
            return None
        _a, _e, dist = self.cam.ground_to_ray(lat, lon, base_h)
        return float(u[0]), float(v[0]), float(v[1]), float(dist)


def draw_event(p: Painter, ev: Event) -> None:
    t = p.t
    if not ev.active(t):
        return
    lat, lon = ev.position(t)
    g = float(p.ground(lat, lon))
    if math.isnan(g):
        return
    age = max(0.0, t - ev.start)
    rng = np.random.default_rng(ev.seed)
    kind = ev.kind
    if kind in ("landslide", "red_soil", "garbage", "cloud_shadow"):
        if kind == "landslide":
            p.ground_patch(lat, lon, ev.width_m / 2, (168, 128, 92), 235, ev.seed, stretch=2.2, heading=ev.heading_deg)
            p.ground_patch(lat, lon, ev.width_m / 4, (120, 96, 72), 200, ev.seed + 1, stretch=2.0, heading=ev.heading_deg)
        elif kind == "red_soil":
            p.ground_patch(lat, lon, ev.width_m / 2, (170, 84, 58), 215, ev.seed, stretch=1.3, heading=ev.heading_deg)
        elif kind == "cloud_shadow":
            # The shadow drifts with the wind.
            lat, lon = ev.position(t) if ev.speed_m_s else _offset(lat, lon, ev.heading_deg, 3.0 * age)
            lat, lon = float(np.asarray(lat)), float(np.asarray(lon))
            p.ground_patch(lat, lon, ev.width_m / 2, (0, 0, 0), 80, ev.seed, stretch=1.6, heading=ev.heading_deg,
                           points=32, rough=0.35)
        else:  # garbage: a dumped heap, many small coloured bits
            p.ground_patch(lat, lon, ev.width_m / 2, (96, 90, 84), 230, ev.seed, rough=0.5)
            la, lo = _offset(lat, lon, rng.uniform(0, 360, 25), rng.uniform(0, ev.width_m / 2.5, 25))
            u, v, front = p.project(la, lo, p.ground(la, lo))
            _a, _e, dist = p.cam.ground_to_ray(lat, lon, g)
            r = max(1.0, 0.8 * p.px_per_m(float(dist)))
            colours = [(230, 230, 235), (40, 90, 170), (200, 60, 50), (240, 240, 240), (60, 140, 60)]
            for i in range(25):
                if front[i]:
                    p.draw.polygon([(u[i] - r, v[i]), (u[i], v[i] - r * 0.6), (u[i] + r, v[i]), (u[i], v[i] + r * 0.5)],
                                   fill=(*colours[i % 5], 255))
        return
    seg = p.upright(lat, lon, g, g + max(ev.height_m, 0.5))
    if seg is None:
        return
    u, vb, vt, dist = seg
    if p.hidden(u, vb - 1, dist):
        return
    ppm = p.px_per_m(dist)
    wpx = max(2.0, ev.width_m * ppm)
    hpx = max(2.0, vb - vt)
    d = p.draw
    if kind in ("smoke", "steam", "dust"):
        growth = min(1.0, 0.25 + age / 120.0)
        top = vb - hpx * growth
        drift = math.sin(math.radians(ev.heading_deg - p.cam.heading)) * hpx * 0.6 * growth
        colours = {"smoke": (105, 105, 110), "steam": (245, 245, 248), "dust": (200, 176, 138)}
        base_alpha = {"smoke": 130, "steam": 170, "dust": 80}[kind]
        n = 14
        for i in range(n):
            f = i / (n - 1)
            cy = vb - (vb - top) * f
            cx = u + drift * f * f + math.sin(age * 0.7 + i * 1.3 + ev.seed) * wpx * 0.08
            r = wpx * (0.35 + 1.1 * f) * (0.5 if kind == "dust" else 1.0) + 1
            if kind == "dust":
                cy = vb - (vb - top) * f * 0.5
                cx = u + (f - 0.5) * wpx * 1.5
            shade = 1.0 - 0.25 * f if kind == "smoke" else 1.0
            col = tuple(int(c * shade) for c in colours[kind])
            d.ellipse([cx - r, cy - r * 0.8, cx + r, cy + r * 0.8], fill=(*col, int(base_alpha * (1 - 0.6 * f))))
        if kind == "steam":  # the chimney under it
            cw = max(2.0, 2.5 * ppm)
            d.rectangle([u - cw / 2, vb - max(3.0, 20 * ppm), u + cw / 2, vb], fill=(150, 140, 135, 255))
        return
    if kind == "fire":
        flick = 0.8 + 0.2 * math.sin(age * 9.0 + ev.seed)
        for i, (col, k) in enumerate([((200, 40, 20), 1.0), ((245, 120, 20), 0.7), ((255, 220, 90), 0.4)]):
            hh = hpx * k * flick
            w = wpx * k
            d.polygon([(u - w / 2, vb), (u + w / 2, vb), (u + w * 0.1, vb - hh), (u - w * 0.15, vb - hh * 0.8)],
                      fill=(*col, 235))
        # Its smoke rising above it, widening and thinning.
        for i in range(6):
            f = (i + 1) / 6
            r = wpx * (0.25 + 0.5 * f)
            cy = vb - hpx * (1.0 + 3.0 * f)
            cx = u + wpx * 0.6 * f * f * math.sin(math.radians(ev.heading_deg - p.cam.heading))
            d.ellipse([cx - r, cy - r * 0.7, cx + r, cy + r * 0.7], fill=(70, 70, 75, int(150 * (1 - 0.6 * f))))
        return
    if kind == "excavator":
        swing = math.sin(age * 0.8 + ev.seed)
        body_h = hpx * 0.55
        d.rectangle([u - wpx * 0.45, vb - hpx * 0.18, u + wpx * 0.25, vb], fill=(40, 40, 40, 255))  # tracks
        d.rectangle([u - wpx * 0.4, vb - body_h, u + wpx * 0.2, vb - hpx * 0.18], fill=(235, 185, 20, 255))
        d.rectangle([u - wpx * 0.3, vb - hpx, u - wpx * 0.02, vb - body_h], fill=(225, 175, 15, 255))  # cab
        d.rectangle([u - wpx * 0.27, vb - hpx * 0.92, u - wpx * 0.06, vb - body_h - hpx * 0.05],
                    fill=(90, 120, 140, 255))
        ax, ay = u + wpx * 0.2, vb - body_h * 0.9
        bx, by = u + wpx * 0.55, vb - hpx * (0.95 + 0.15 * swing)
        cx, cy = u + wpx * 0.62, vb - hpx * (0.1 + 0.15 * swing)
        lw = max(1, int(wpx * 0.05))
        d.line([(ax, ay), (bx, by), (cx, cy)], fill=(225, 175, 15, 255), width=lw)
        d.polygon([(cx - wpx * 0.06, cy), (cx + wpx * 0.08, cy), (cx, cy + hpx * 0.15)], fill=(60, 60, 60, 255))
        # The pit it digs.
        d.ellipse([u + wpx * 0.35, vb - hpx * 0.05, u + wpx * 0.95, vb + hpx * 0.12], fill=(110, 85, 60, 220))
        return
    if kind in ("truck", "public_truck"):
        rel = math.radians(ev.heading_deg - p.cam.heading)
        # Seen from behind/front the truck is narrow (2.5 m), side-on its length.
        length_px = ev.width_m * ppm * abs(math.sin(rel)) + 2.5 * ppm * abs(math.cos(rel))
        show_plate = bool(ev.plate) and abs(math.cos(rel)) > 0.3
        pw = max(PLATE_MIN_PX, 0.44 * ppm)
        if show_plate:  # the plate is drawn enlarged; keep the lorry wider than it
            length_px = max(length_px, pw * 1.5)
            hpx = max(hpx, length_px * 1.3)
        x0, x1 = u - length_px / 2, u + length_px / 2
        d.rectangle([x0, vb - hpx, x1, vb - hpx * 0.2], fill=(36, 80, 150, 255) if kind == "truck" else (200, 60, 50, 255))
        d.rectangle([x0, vb - hpx * 0.2, x1, vb - hpx * 0.05], fill=(50, 50, 50, 255))
        wr = max(1.0, hpx * 0.08)
        for fx in (0.15, 0.85):
            wx = x0 + (x1 - x0) * fx
            d.ellipse([wx - wr, vb - 2 * wr, wx + wr, vb], fill=(20, 20, 20, 255))
        if show_plate:
            ph = pw * 0.32
            px, py = u - pw / 2, vb - hpx * 0.2 - ph * 1.2
            d.rectangle([px, py, px + pw, py + ph], fill=(230, 190, 20, 255), outline=(20, 20, 20, 255))
            size = int(ph * 0.8)
            while size > 6 and cjk_font(size).getlength(ev.plate) > pw * 0.9:
                size -= 1
            d.text((u, py + ph / 2), ev.plate, font=cjk_font(size), fill=(15, 15, 15, 255), anchor="mm")
        return
    if kind == "sheep":
        n = max(1, ev.count)
        radius = ev.width_m / 2
        az = rng.uniform(0, 360, n)
        r = radius * np.sqrt(rng.random(n)) + 2.0 * np.sin(age * 0.3 + np.arange(n))
        la, lo = _offset(lat, lon, az, np.abs(r))
        gh = p.ground(la, lo)
        ub, vb_, front = p.project(la, lo, gh)
        _ut, vt_, front_t = p.project(la, lo, gh + 0.9)
        _a, _e, sd = p.cam.ground_to_ray(la, lo, gh)
        for i in range(n):
            if not (front[i] and front_t[i]):
                continue
            su, svb = float(ub[i]), float(vb_[i])
            sw = max(1.5, 1.3 * p.px_per_m(float(sd[i])))
            sh = max(1.0, svb - float(vt_[i]))
            d.ellipse([su - sw / 2, svb - sh, su + sw / 2, svb - sh * 0.25], fill=(236, 232, 220, 255))
            d.ellipse([su + sw * 0.35, svb - sh, su + sw * 0.6, svb - sh * 0.6], fill=(60, 55, 50, 255))
        return


def sunset_tint(events: list[Event], t: float) -> tuple[int, int, int] | None:
    for ev in events:
        if ev.kind == "sunset" and ev.active(t):
            return (250, 140, 70)
    return None
