"""A small synthetic scene generator for detector tests, evaluation sets and
benchmarks (the simulator's renderer is built elsewhere in parallel).

A scene is a sky gradient over textured terrain with hills, rocks and bushes
(enough corners for feature registration). Events and look-alikes are drawn
on top: fire, smoke plume, yellow machinery, a new bare-soil patch, dust
haze; sunset sky, red soil, chimney steam, a change of light. Every function
is deterministic in its ``seed``. Frames are BGR uint8.
"""
from __future__ import annotations

import cv2
import numpy as np

W, H = 640, 360


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def base(seed: int = 0, size: tuple[int, int] = (W, H), *, sunset: bool = False, red_soil: bool = False) -> np.ndarray:
    w, h = size
    rng = _rng(seed)
    horizon = int(h * rng.uniform(0.3, 0.42))
    img = np.zeros((h, w, 3), np.float32)
    t = np.linspace(0, 1, horizon)[:, None]
    if sunset:
        top, low = np.array([120, 60, 70]), np.array([40, 120, 250])   # violet to orange-red (BGR)
    else:
        top, low = np.array([200, 140, 90]), np.array([230, 210, 190])  # blue to pale
    img[:horizon] = (top * (1 - t) + low * t)[:, None, :]
    ground = np.array([70, 110, 120]) + rng.uniform(-15, 15, 3)       # dry grass/loess
    if red_soil:
        ground = np.array([60, 75, 150])                                 # red-brown soil
    yy = np.linspace(0, 1, h - horizon)[:, None, None]
    img[horizon:] = ground * (0.8 + 0.3 * yy)
    # Hills on the horizon.
    xs = np.arange(w)
    ridge = horizon - (12 + 10 * np.sin(xs / w * rng.uniform(4, 9) + rng.uniform(0, 6))).astype(int)
    for x in range(w):
        img[ridge[x]:horizon, x] = ground * 0.7
    noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.2) * 14
    img[horizon - 25:] += noise[horizon - 25:, :, None]
    out = np.clip(img, 0, 255).astype(np.uint8)
    # Bushes and rocks give the view corners to register on.
    for _ in range(int(rng.integers(60, 90))):
        x, y = int(rng.integers(0, w)), int(rng.integers(horizon + 5, h))
        r = int(rng.integers(2, 6 + (y - horizon) // 25))
        c = (40, 70, 45) if rng.random() < 0.6 else (150, 150, 145)
        cv2.ellipse(out, (x, y), (r + 2, r), 0, 0, 360, tuple(int(v) for v in rng.normal(c, 8)), -1)
    if sunset:
        cx = int(rng.uniform(0.2, 0.8) * w)
        cv2.circle(out, (cx, horizon - 18), 14, (170, 235, 255), -1)
        glow = np.zeros((h, w), np.float32)
        cv2.circle(glow, (cx, horizon - 18), 60, 1.0, -1)
        glow = cv2.GaussianBlur(glow, (0, 0), 25)[..., None]
        out = np.clip(out * (1 - 0.5 * glow) + np.array([60, 160, 255]) * 0.5 * glow, 0, 255).astype(np.uint8)
    return out


def horizon_of(img: np.ndarray) -> int:
    return int(np.argmax(np.abs(np.diff(img[:, :, 0].astype(int).mean(1))) > 15)) or img.shape[0] // 3


def add_fire(img: np.ndarray, seed: int = 0, at: tuple[float, float] | None = None, scale: float = 1.0,
             t: int = 0) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Flames: a bright yellow-white core in orange and red tongues, flickering with ``t``."""
    rng = _rng(seed * 7919 + t)
    h, w = img.shape[:2]
    x, y = at or (rng.uniform(0.15, 0.85), rng.uniform(0.6, 0.9))
    cx, cy = int(x * w), int(y * h)
    size = int(scale * rng.uniform(14, 24) * w / 640)
    layer = np.zeros((h, w), np.float32)
    for _ in range(9):
        dx = int(rng.normal(0, size * 0.35))
        top = cy - int(size * rng.uniform(1.2, 2.4))
        pts = np.array([[cx + dx - size // 2, cy], [cx + dx + int(rng.normal(0, size * 0.2)), top],
                        [cx + dx + size // 2, cy]], np.int32)
        cv2.fillPoly(layer, [pts], 1.0)
    layer = cv2.GaussianBlur(layer, (0, 0), max(1.0, size / 10))
    heat = np.clip(layer * 1.25, 0, 1)[..., None]
    # Colour ramps with heat: deep red at the edge, orange, yellow, near-white core.
    colour = np.where(heat > 0.9, (150, 240, 255), np.where(heat > 0.55, (30, 160, 255), (20, 60, 220)))
    out = img.astype(np.float32) * (1 - heat) + colour * heat
    ys, xs = np.nonzero(layer > 0.2)
    box = (xs.min() / w, ys.min() / h, xs.max() / w, ys.max() / h)
    return np.clip(out, 0, 255).astype(np.uint8), box


def add_plume(img: np.ndarray, seed: int, t: int, *, steam: bool = False, at: tuple[float, float] | None = None):
    """A plume rising from a source; smoke grows and drifts up with ``t``,
    steam is brighter, whiter and keeps one envelope above a chimney."""
    rng = _rng(seed)
    h, w = img.shape[:2]
    x, y = at or (rng.uniform(0.2, 0.8), rng.uniform(0.6, 0.85))
    sx, sy = int(x * w), int(y * h)
    out = img.copy()
    if steam:
        cv2.rectangle(out, (sx - 5, sy - 40), (sx + 5, sy + 10), (90, 90, 95), -1)
        sy -= 40
    layer = np.zeros((h, w), np.float32)
    n = 7 if steam else 5 + 3 * t
    turbulence = _rng(seed * 31 + t)
    for i in range(n):
        rise = (i * 9 if steam else i * 9 + t * 4) * h / 360
        rad = (8 + i * 3.5) * w / 640
        cx = sx + turbulence.normal(0, 3) + i * 2.0
        cv2.circle(layer, (int(cx), int(sy - rise)), int(rad), float(turbulence.uniform(0.6, 1.0)), -1)
    layer = cv2.GaussianBlur(layer, (0, 0), 6 * w / 640)
    alpha = np.clip(layer * (0.9 if steam else 0.75), 0, 0.9)[..., None]
    colour = np.array([245, 245, 245]) if steam else np.array([150, 150, 145]) + rng.uniform(-15, 15)
    out = out.astype(np.float32) * (1 - alpha) + colour * alpha
    ys, xs = np.nonzero(layer > 0.25)
    box = (xs.min() / w, ys.min() / h, xs.max() / w, ys.max() / h) if len(xs) else None
    return np.clip(out, 0, 255).astype(np.uint8), box


def plume_frames(seed: int, n: int = 5, *, steam: bool = False, size=(W, H)):
    bg = base(seed, size)
    frames = []
    for t in range(n):
        f, box = add_plume(bg, seed, t, steam=steam)
        frames.append(f)
    return frames, box


def add_machinery(img: np.ndarray, seed: int = 0, at: tuple[float, float] | None = None, scale: float = 1.0):
    """An excavator in construction yellow: tracks, cab, boom and bucket."""
    rng = _rng(seed + 101)
    h, w = img.shape[:2]
    x, y = at or (rng.uniform(0.2, 0.75), rng.uniform(0.6, 0.85))
    s = scale * w / 640
    X, Y = int(x * w), int(y * h)
    out = img.copy()
    yellow = tuple(int(v) for v in rng.normal((20, 180, 235), 8))
    cv2.rectangle(out, (X, Y), (X + int(44 * s), Y + int(8 * s)), (40, 40, 40), -1)              # tracks
    cv2.rectangle(out, (X + int(4 * s), Y - int(16 * s)), (X + int(34 * s), Y), yellow, -1)     # body
    cv2.rectangle(out, (X + int(6 * s), Y - int(28 * s)), (X + int(18 * s), Y - int(16 * s)), yellow, -1)  # cab
    cv2.rectangle(out, (X + int(8 * s), Y - int(26 * s)), (X + int(16 * s), Y - int(19 * s)), (60, 50, 40), -1)
    cv2.line(out, (X + int(30 * s), Y - int(12 * s)), (X + int(52 * s), Y - int(32 * s)), yellow, max(2, int(5 * s)))
    cv2.line(out, (X + int(52 * s), Y - int(32 * s)), (X + int(62 * s), Y - int(6 * s)), yellow, max(2, int(4 * s)))
    cv2.rectangle(out, (X + int(58 * s), Y - int(8 * s)), (X + int(66 * s), Y), (30, 30, 30), -1)
    box = (X / w, (Y - 32 * s) / h, (X + 66 * s) / w, (Y + 8 * s) / h)
    return out, box


def add_bare_patch(img: np.ndarray, seed: int = 0, area: float = 0.03):
    """Freshly dug or occupied ground: a pale, rough patch of ``area`` of the frame."""
    rng = _rng(seed + 202)
    h, w = img.shape[:2]
    pw, ph = int(np.sqrt(area * w * h * 2.5)), int(np.sqrt(area * w * h / 2.5))
    x, y = int(rng.uniform(0.1, 0.9) * w - pw / 2), int(rng.uniform(0.65, 0.9) * h - ph / 2)
    x, y = max(0, x), max(0, min(h - ph, y))
    out = img.copy()
    patch = rng.normal((150, 175, 190), 18, (ph, pw, 3))
    out[y:y + ph, x:x + pw] = np.clip(patch, 0, 255).astype(np.uint8)
    for _ in range(12):  # spoil heaps and tyre marks
        cv2.line(out, (x + int(rng.integers(0, pw)), y + int(rng.integers(0, ph))),
                 (x + int(rng.integers(0, pw)), y + int(rng.integers(0, ph))), (110, 130, 140), 2)
    return out, (x / w, y / h, (x + pw) / w, (y + ph) / h)


def add_dust(img: np.ndarray, seed: int = 0, density: float = 0.6):
    """Yellow-brown haze over the lower part of the view (airlight model)."""
    rng = _rng(seed + 303)
    h, w = img.shape[:2]
    t = np.zeros((h, w), np.float32)
    cx = rng.uniform(0.3, 0.7) * w
    cv2.ellipse(t, (int(cx), int(h * 0.7)), (int(w * 0.35), int(h * 0.3)), 0, 0, 360, 1.0, -1)
    t = cv2.GaussianBlur(t, (0, 0), 30)[..., None] * density
    air = np.array([120, 175, 205], np.float32)
    out = img.astype(np.float32) * (1 - t) + air * t
    return np.clip(out, 0, 255).astype(np.uint8)


def relight(img: np.ndarray, gain: float = 0.7, gamma: float = 1.2, tint=(1.0, 1.0, 1.0)) -> np.ndarray:
    """The same view in other light: exposure, gamma and a colour cast."""
    f = (img.astype(np.float32) / 255) ** gamma * 255 * gain * np.asarray(tint, np.float32)
    return np.clip(f, 0, 255).astype(np.uint8)


def shift_view(img: np.ndarray, dx: float = 4, dy: float = -3, angle: float = 0.4) -> np.ndarray:
    """A PTZ preset never returns exactly: a small pan/tilt/roll."""
    h, w = img.shape[:2]
    M = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    M[:, 2] += (dx, dy)
    return cv2.warpAffine(img, M, (w, h), borderMode=cv2.BORDER_REFLECT)
