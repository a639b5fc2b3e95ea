"""Image helpers shared by the core's detection code and the domain plugins.

A leaf module: numpy, OpenCV and the plugin API only, no Flask, no database, so a plugin may
import it next to ``webapp.plugin_api``. Frames are HxWx3 ``uint8`` arrays in
OpenCV's BGR order; :func:`as_bgr` turns encoded bytes or a PIL image into one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import numpy as np

from webapp.plugin_api import Detection, DetectionContext


class FrameError(ValueError):
    """A frame that cannot be decoded or has the wrong shape."""


def as_bgr(frame: Any) -> np.ndarray:
    """Return ``frame`` as an HxWx3 uint8 BGR array (decoding JPEG/PNG bytes)."""
    if isinstance(frame, (bytes, bytearray, memoryview)):
        image = cv2.imdecode(np.frombuffer(frame, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise FrameError("the frame's bytes are not a decodable image")
        return image
    if hasattr(frame, "convert") and hasattr(frame, "size"):  # a PIL image, which is RGB
        return cv2.cvtColor(np.asarray(frame.convert("RGB")), cv2.COLOR_RGB2BGR)
    image = np.asarray(frame)
    if image.ndim == 2:
        image = cv2.cvtColor(image.astype(np.uint8), cv2.COLOR_GRAY2BGR)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 8:
        raise FrameError(f"a frame must be an HxWx3 image of at least 8x8 pixels, got shape {image.shape}")
    if image.shape[2] == 4:
        image = image[:, :, :3]
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image)


def working_copy(image: np.ndarray, max_side: int = 640) -> tuple[np.ndarray, float]:
    """Downscale for the classical detectors (they need no more pixels than
    this); returns the image and the factor from it back to the original."""
    h, w = image.shape[:2]
    scale = max(h, w) / max_side
    if scale <= 1:
        return image, 1.0
    small = cv2.resize(image, (round(w / scale), round(h / scale)), interpolation=cv2.INTER_AREA)
    return small, scale


@dataclass(frozen=True)
class Letterbox:
    """How a frame was fitted into a model's square input: scale then padding."""

    scale: float
    pad_x: float
    pad_y: float
    width: int
    height: int

    def to_frame(self, boxes: np.ndarray) -> np.ndarray:
        """Map (N,4) x1y1x2y2 input-pixel boxes to normalised frame boxes."""
        out = boxes.astype(np.float32).copy()
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale / self.width
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale / self.height
        return np.clip(out, 0.0, 1.0)


def letterbox(image: np.ndarray, size: tuple[int, int], *, keep_ratio: bool = True,
              pad_value: int = 114) -> tuple[np.ndarray, Letterbox]:
    """Fit ``image`` into ``size`` (w, h): keep its aspect ratio and pad
    (centred, as YOLO exporters do) or stretch it when ``keep_ratio`` is off."""
    h, w = image.shape[:2]
    tw, th = size
    if not keep_ratio:
        out = cv2.resize(image, (tw, th), interpolation=cv2.INTER_LINEAR)
        # A stretch is two scales; express it as the width scale and fold the
        # height into the box mapping by returning a per-axis Letterbox.
        return out, _Stretch(tw / w, 0.0, 0.0, w, h, th / h)
    scale = min(tw / w, th / h)
    nw, nh = round(w * scale), round(h * scale)
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    out = np.full((th, tw, 3), pad_value, np.uint8)
    px, py = (tw - nw) // 2, (th - nh) // 2
    out[py:py + nh, px:px + nw] = resized
    return out, Letterbox(scale, px, py, w, h)


@dataclass(frozen=True)
class _Stretch(Letterbox):
    scale_y: float = 1.0

    def to_frame(self, boxes: np.ndarray) -> np.ndarray:
        out = boxes.astype(np.float32).copy()
        out[:, [0, 2]] = out[:, [0, 2]] / self.scale / self.width
        out[:, [1, 3]] = out[:, [1, 3]] / self.scale_y / self.height
        return np.clip(out, 0.0, 1.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = 0.45, limit: int = 300) -> np.ndarray:
    """Greedy non-maximum suppression; returns the kept indices, best first."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    x1, y1, x2, y2 = boxes.T
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = scores.argsort()[::-1]
    keep: list[int] = []
    while order.size and len(keep) < limit:
        i = order[0]
        keep.append(int(i))
        xx1 = np.maximum(x1[i], x1[order[1:]])
        yy1 = np.maximum(y1[i], y1[order[1:]])
        xx2 = np.minimum(x2[i], x2[order[1:]])
        yy2 = np.minimum(y2[i], y2[order[1:]])
        inter = np.maximum(xx2 - xx1, 0) * np.maximum(yy2 - yy1, 0)
        overlap = inter / (areas[i] + areas[order[1:]] - inter + 1e-9)
        order = order[1:][overlap <= iou]
    return np.asarray(keep, np.int64)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def mask_from_polygons(polygons: Sequence[Sequence[tuple[float, float]]], shape: tuple[int, int]) -> np.ndarray:
    """A boolean HxW mask, True inside any of the normalised (x, y) polygons."""
    h, w = shape
    mask = np.zeros((h, w), np.uint8)
    for poly in polygons:
        pts = np.round(np.asarray(poly, np.float32) * [w, h]).astype(np.int32)
        if len(pts) >= 3:
            cv2.fillPoly(mask, [pts], 1)
    return mask.astype(bool)


def context_mask(masks: Any, shape: tuple[int, int]) -> np.ndarray | None:
    """The context's masks (an array or polygons) as a boolean HxW array of
    pixels to ignore, or None when nothing is masked."""
    if masks is None or (isinstance(masks, (list, tuple)) and not masks):
        return None
    if isinstance(masks, np.ndarray):
        m = masks.astype(bool)
        if m.shape != shape:
            m = cv2.resize(m.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST).astype(bool)
        return m
    return mask_from_polygons(masks, shape)


def components(binary: np.ndarray, min_pixels: int) -> list[tuple[np.ndarray, tuple[int, int, int, int], int]]:
    """Connected regions of a boolean image with at least ``min_pixels``:
    (region mask, (x, y, w, h), pixel count), largest first."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    found = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area >= min_pixels:
            found.append((labels == i, (x, y, w, h), area))
    return sorted(found, key=lambda c: -c[2])


def norm_box(xywh: tuple[int, int, int, int], shape: tuple[int, int]) -> tuple[float, float, float, float]:
    x, y, w, h = xywh
    H, W = shape
    return (x / W, y / H, (x + w) / W, (y + h) / H)


def ground_area_m2(region: np.ndarray, ground_scale: Any, full_shape: tuple[int, int] | None = None) -> float | None:
    """Ground area of a boolean region from the context's ground scale
    (metres per pixel of the full frame: one figure, or one per row top to
    bottom). ``full_shape`` is the frame's shape when ``region`` is a
    downscaled copy. None when the scale is unknown."""
    if ground_scale is None:
        return None
    h, w = region.shape
    fh, fw = full_shape or (h, w)
    factor = (fh / h) * (fw / w)  # full-frame pixels per working pixel
    scale = np.asarray(ground_scale, np.float64)
    if scale.ndim == 0:
        return float(region.sum() * factor * float(scale) ** 2)
    rows = np.interp(np.linspace(0, len(scale) - 1, h), np.arange(len(scale)), scale)
    return float((region.sum(axis=1) * rows ** 2).sum() * factor)


# -- registration and structure comparison --------------------------------------
def register_to(frame_gray: np.ndarray, ref_gray: np.ndarray, *, ecc: bool = True
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Warp ``frame_gray`` onto ``ref_gray``: ORB features with a RANSAC
    homography, refined by ECC. Returns (warped frame, valid-pixel mask,
    homography frame→reference) or None when the two views cannot be
    matched (camera pointed elsewhere)."""
    orb = cv2.ORB_create(1000)
    k1, d1 = orb.detectAndCompute(frame_gray, None)
    k2, d2 = orb.detectAndCompute(ref_gray, None)
    h, w = ref_gray.shape
    H = np.eye(3, dtype=np.float32)
    if d1 is not None and d2 is not None and len(k1) >= 12 and len(k2) >= 12:
        matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(d1, d2)
        if len(matches) >= 12:
            src = np.float32([k1[m.queryIdx].pt for m in matches])
            dst = np.float32([k2[m.trainIdx].pt for m in matches])
            found, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 4.0)
            if found is not None and inliers is not None and inliers.sum() >= 10:
                H = found.astype(np.float32)
            elif len(matches) >= 40:
                return None
    # On repetitive texture (striped fields) features can agree on a wrong
    # homography; a preset usually returns within a few pixels, so keep the
    # identity when it aligns the two views better.
    if not np.allclose(H, np.eye(3), atol=1e-6) and _alignment(frame_gray, ref_gray, np.eye(3, dtype=np.float32)) \
            >= _alignment(frame_gray, ref_gray, H):
        H = np.eye(3, dtype=np.float32)
    if ecc:
        try:
            criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 1e-4)
            small = 0.5 if max(h, w) > 400 else 1.0
            S = np.diag([small, small, 1]).astype(np.float32)
            Hs = S @ H @ np.linalg.inv(S)
            f_s = cv2.resize(frame_gray, None, fx=small, fy=small) if small != 1 else frame_gray
            r_s = cv2.resize(ref_gray, None, fx=small, fy=small) if small != 1 else ref_gray
            _, Hs = cv2.findTransformECC(r_s, f_s, np.linalg.inv(Hs).astype(np.float32),
                                         cv2.MOTION_HOMOGRAPHY, criteria, None, 5)
            refined = (np.linalg.inv(S) @ np.linalg.inv(Hs) @ S).astype(np.float32)
            # ECC fits intensities, so a cloud's shadow or a tint can pull it off; keep it only
            # when the edges agree better than before.
            if _alignment(frame_gray, ref_gray, refined) > _alignment(frame_gray, ref_gray, H):
                H = refined
        except cv2.error:
            pass  # ECC did not converge: keep the feature homography
    warped = cv2.warpPerspective(frame_gray, H, (w, h), flags=cv2.INTER_LINEAR)
    valid = cv2.warpPerspective(np.full(frame_gray.shape, 255, np.uint8), H, (w, h)) > 0
    if valid.mean() < 0.5:
        return None
    return warped, cv2.erode(valid.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool), H


def _alignment(frame_gray: np.ndarray, ref_gray: np.ndarray, H: np.ndarray) -> float:
    """Normalised cross-correlation of the gradient images after warping
    (at quarter size; only to compare candidate warps)."""
    f = cv2.resize(frame_gray, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA).astype(np.float32)
    r = cv2.resize(ref_gray, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA).astype(np.float32)
    S = np.diag([0.25, 0.25, 1]).astype(np.float32)
    w = cv2.warpPerspective(f, S @ H @ np.linalg.inv(S), (r.shape[1], r.shape[0]))
    m = cv2.warpPerspective(np.ones_like(f), S @ H @ np.linalg.inv(S), (r.shape[1], r.shape[0])) > 0.5

    def grad(a):
        return np.hypot(cv2.Sobel(a, cv2.CV_32F, 1, 0), cv2.Sobel(a, cv2.CV_32F, 0, 1))

    a, b = grad(w)[m], grad(r)[m]
    if a.size < 100:
        return -1.0
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (np.sqrt((a * a).sum() * (b * b).sum()) + 1e-6))


def structure_change(a: np.ndarray, b: np.ndarray, window: int = 7) -> np.ndarray:
    """Per-pixel dissimilarity in 0..1 of two aligned grey images from the
    structure term of SSIM on gradient magnitude and a local-contrast-normalised
    intensity; a global or smooth change of light changes neither."""
    def norm(img: np.ndarray) -> np.ndarray:
        f = img.astype(np.float32)
        mu = cv2.GaussianBlur(f, (0, 0), 9)
        sd = np.sqrt(np.maximum(cv2.GaussianBlur((f - mu) ** 2, (0, 0), 9), 1.0))
        return (f - mu) / (sd + 4.0)

    def ssim_structure(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        k = (window, window)
        mx, my = cv2.blur(x, k), cv2.blur(y, k)
        vx = cv2.blur(x * x, k) - mx * mx
        vy = cv2.blur(y * y, k) - my * my
        cxy = cv2.blur(x * y, k) - mx * my
        c = 0.03
        lum = (2 * mx * my + c) / (mx * mx + my * my + c)
        struct = (cxy + c / 2) / (np.sqrt(np.maximum(vx, 0) * np.maximum(vy, 0)) + c / 2)
        return np.clip(lum * struct, -1, 1)

    na, nb = norm(a), norm(b)
    s = ssim_structure(na, nb)
    return np.clip((1 - s) / 2, 0, 1)


def fire_pixels(bgr: np.ndarray) -> np.ndarray:
    """Celik-style YCbCr fire-pixel rule combined with an HSV hue/saturation
    gate: bright, red-to-yellow, Y > Cb, Cr > Cb and a large Cr-Cb gap."""
    ycc = cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb).astype(np.int16)
    Y, Cr, Cb = ycc[..., 0], ycc[..., 1], ycc[..., 2]
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    # Celik's |Cb-Cr| >= 40 passes sunlit loess and sand; flames' red lead over blue is larger.
    rule = (Y > Cb) & (Cr > Cb) & (Y > Y.mean()) & (Cr > Cr.mean()) & (np.abs(Cb - Cr) >= 60)
    hot = (val >= 170) & ((hue <= 35) | (hue >= 170)) & (sat >= 90)
    return rule & hot


def saturation(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)[..., 1]


__all__ = [
    "PixelDetector", "ReferenceChange", "frames_bgr", "fire_regions", "flame_score", "grey_pixels", "plume_track",
    "reference_change", "relit_like", "yellow_machinery_pixels", "haze_map",
    "FrameError", "Letterbox", "as_bgr", "box_iou", "components", "context_mask", "fire_pixels",
    "ground_area_m2", "letterbox", "mask_from_polygons", "nms", "norm_box", "register_to",
    "saturation", "structure_change", "working_copy",
]


# -- cues shared by the domain plugins' classical detectors ------------------------
def fire_regions(bgr: np.ndarray, min_fraction: float = 0.0004) -> list[dict]:
    """Candidate flame regions of one frame with the features that tell
    flames from look-alikes. Flames are compact, hot-coloured, internally
    varied (white-yellow core, red edge) and irregular; a sunset sky or the
    sun is a wide or round smooth region in the upper frame, red soil is
    not bright enough to pass the colour rule at all."""
    h, w = bgr.shape[:2]
    # Grey-world balance first (damped): a warm cast over the whole view
    # (evening light) must not turn sunlit loess into flame colours, while a
    # fire, being local, keeps its colour.
    med = np.median(bgr.reshape(-1, 3)[::7], 0).astype(np.float32) + 1
    gains = (med.mean() / med) ** 0.7
    bgr = np.clip(bgr.astype(np.float32) * gains, 0, 255).astype(np.uint8)
    mask = fire_pixels(bgr)
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    val = hsv[..., 2].astype(np.float32)
    # A flame's white-hot core fails the colour rule (it is not saturated):
    # take it in where it touches flame-coloured pixels.
    near_white = (val >= 225) & (hsv[..., 1] <= 150)
    mask |= near_white & cv2.dilate(mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)).astype(bool)
    out = []
    for region, (x, y, bw, bh), area in components(mask, max(6, int(min_fraction * h * w))):
        frac_of_frame = area / (h * w)
        contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        c = max(contours, key=cv2.contourArea)
        hull = cv2.contourArea(cv2.convexHull(c)) or 1.0
        solidity = cv2.contourArea(c) / hull
        perim = cv2.arcLength(c, True) or 1.0
        circularity = 4 * np.pi * cv2.contourArea(c) / perim ** 2
        # Hue and brightness spread inside the region: flames range from a
        # near-white core through yellow and orange to red; paint is one colour.
        hue = hsv[..., 0][region].astype(np.float32)
        hue = np.where(hue > 90, hue - 180, hue)
        spread = float(np.std(hue)) + float(np.std(val[region])) / 8
        grown = cv2.dilate(region.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        core = float(near_white[grown].mean())
        out.append({"mask": region, "box": norm_box((x, y, bw, bh), (h, w)), "area": frac_of_frame,
                    "solidity": solidity, "circularity": circularity, "spread": spread, "core": core,
                    "width_frac": bw / w, "top": y / h, "bottom": (y + bh) / h})
    return out


def flame_score(r: dict) -> float:
    """0..1 from a fire region's features (see :func:`fire_regions`)."""
    if r["width_frac"] > 0.35 or r["area"] > 0.08:
        return 0.0  # a band across the view: sky, not a fire seen from a tower
    if r["circularity"] > 0.8 and r["spread"] < 6:
        return 0.0  # a smooth disc: the sun or a lamp
    # A white-hot core next to red-to-yellow hues and a ragged outline: close
    # flames. Distant flames without a visible core rely on the learned model.
    score = 0.25
    score += 0.35 * min(1.0, r["core"] / 0.15)
    score += 0.25 * min(1.0, r["spread"] / 8)
    score += 0.15 * (1.0 - min(1.0, max(0.0, r["solidity"] - 0.6) / 0.4))
    return float(min(1.0, score))


def grey_pixels(bgr: np.ndarray) -> np.ndarray:
    """Smoke-coloured: low saturation, neither black nor blown out."""
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    return (hsv[..., 1] < 60) & (hsv[..., 2] > 70) & (hsv[..., 2] < 250)


def plume_track(frames: Sequence[np.ndarray], min_fraction: float = 0.002) -> list[dict]:
    """Slow, grey, growing and rising regions across a stop's frames.

    Each frame is compared to the first: the region that became greyer and
    smoother there is the plume. Smoke keeps growing and its top rises; a
    chimney's steam keeps one envelope; a cloud moves sideways; noise does
    not persist. Returns per region: box, base (normalised x, y of where it
    leaves the ground), growth, rise (fraction of frame height), sideways
    drift, whiteness."""
    if len(frames) < 3:
        return []
    small = [working_copy(f, 320)[0] for f in frames]
    h, w = small[0].shape[:2]
    first_blur = cv2.GaussianBlur(small[0], (5, 5), 0)
    first = first_blur.astype(np.int16)
    first_sat = cv2.cvtColor(first_blur, cv2.COLOR_BGR2HSV)[..., 1].astype(np.int16)
    masks = []
    for f in small[1:]:
        blur = cv2.GaussianBlur(f, (5, 5), 0)
        diff = np.abs(blur.astype(np.int16) - first).max(2)
        # Grey, or veiled: a thin plume over green crops is not grey yet, but
        # it takes colour out of what it covers (a cloud's shadow does not).
        veiled = cv2.cvtColor(blur, cv2.COLOR_BGR2HSV)[..., 1].astype(np.int16) < first_sat - 12
        m = (diff > 12) & (diff < 120) & (grey_pixels(blur) | veiled)
        masks.append(cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)))
    last = masks[-1].astype(bool)
    out = []
    for region, (x, y, bw, bh), area in components(last, max(8, int(min_fraction * h * w))):
        areas, tops, centres = [], [], []
        grown = cv2.dilate(region.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
        for m in masks:
            sub = m.astype(bool) & grown
            if sub.sum() == 0:
                areas.append(0)
                tops.append(np.nan)
                centres.append(np.nan)
                continue
            ys, xs = np.nonzero(sub)
            areas.append(int(sub.sum()))
            tops.append(np.percentile(ys, 5))
            centres.append(xs.mean())
        present = sum(a > 0 for a in areas)
        if present < max(2, len(masks) - 1):
            continue
        valid = [i for i, a in enumerate(areas) if a > 0]
        a0, a1 = areas[valid[0]], areas[valid[-1]]
        rise = (tops[valid[0]] - tops[valid[-1]]) / h
        drift = abs(centres[valid[-1]] - centres[valid[0]]) / w
        hsv = cv2.cvtColor(small[-1], cv2.COLOR_BGR2HSV)
        whiteness = float(((hsv[..., 2] > 200) & (hsv[..., 1] < 30))[region].mean())
        # A thin white veil is not white yet, but it brightens what it covers.
        brighter = hsv[..., 2].astype(np.int16) - cv2.cvtColor(small[0], cv2.COLOR_BGR2HSV)[..., 2] > 12
        whiteness = max(whiteness, float(brighter[region].mean()))
        # The base: where the plume leaves the ground, the middle of its lowest
        # rows (a drifting plume's box centre is not above its source).
        ry, rx = np.nonzero(region)
        low = rx[ry >= ry.max() - max(1, int(0.1 * (ry.max() - ry.min() + 1)))]
        base = ((float(low.mean()) + 0.5) / w, (float(ry.max()) + 1.0) / h)
        out.append({"box": norm_box((x, y, bw, bh), (h, w)), "base": base, "growth": a1 / max(a0, 1),
                    "rise": float(rise),
                    "drift": float(drift), "whiteness": whiteness, "area": area / (h * w)})
    return out


def reference_change(frame: np.ndarray, reference: np.ndarray, *, max_side: int = 640,
                     threshold: float = 0.35, masks: Any = None) -> tuple[np.ndarray, np.ndarray] | None:
    """Register ``frame`` to the preset's ``reference`` and return (changed
    boolean map, frame in the reference's geometry) at working size, or None
    when the views do not match. Change is structural (see
    :func:`structure_change`), so a change of light alone is not change."""
    ref, _ = working_copy(reference, max_side)
    cur = cv2.resize(frame, (ref.shape[1], ref.shape[0]), interpolation=cv2.INTER_AREA)
    g_ref = cv2.cvtColor(ref, cv2.COLOR_BGR2GRAY)
    g_cur = cv2.cvtColor(cur, cv2.COLOR_BGR2GRAY)
    reg = register_to(g_cur, g_ref)
    if reg is None:
        return None
    warped, valid, H = reg
    change = structure_change(warped, g_ref)
    # Colour change catches a new surface of the same texture (bare soil on grass).
    lab_ref = cv2.cvtColor(ref, cv2.COLOR_BGR2LAB).astype(np.float32)
    cur_aligned = cv2.warpPerspective(cur, H, (ref.shape[1], ref.shape[0]), flags=cv2.INTER_LINEAR)
    # Light is a smooth per-channel gain field (exposure, a sunset's tint, a
    # cloud's shadow); divide it out (von Kries, estimated over a large
    # scale) so that only a change of surface colour remains.
    lab_cur = cv2.cvtColor(relit_like(cur_aligned, ref, valid), cv2.COLOR_BGR2LAB).astype(np.float32)
    chroma = np.linalg.norm((lab_cur - lab_ref)[..., 1:], axis=2)
    chroma = cv2.GaussianBlur(chroma, (0, 0), 2)
    # Where both views are flat (sky, water) the structure term is noise.
    def local_sd(g: np.ndarray) -> np.ndarray:
        f = g.astype(np.float32)
        return np.sqrt(np.maximum(cv2.blur(f * f, (9, 9)) - cv2.blur(f, (9, 9)) ** 2, 0))
    textured = np.maximum(local_sd(warped), local_sd(g_ref)) > 4
    margin = max(2, int(0.03 * max(valid.shape)))
    valid = valid.copy()
    valid[:margin], valid[-margin:], valid[:, :margin], valid[:, -margin:] = False, False, False, False
    changed = (((change > threshold) & textured) | (chroma > 18)) & valid
    changed = cv2.morphologyEx(changed.astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    changed = cv2.morphologyEx(changed, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8)).astype(bool)
    ignore = context_mask(masks, changed.shape)
    if ignore is not None:
        changed &= ~ignore
    return changed, cur_aligned


def relit_like(image: np.ndarray, reference: np.ndarray, valid: np.ndarray | None = None,
               scale: float = 0.25) -> np.ndarray:
    """``image`` as it would look in the reference's light: per channel, a
    local affine fit image ≈ a·reference + b over windows of ``scale`` of the
    frame (exposure, a sunset's tint, a cloud's shadow are smooth in a and b),
    returned as the reference plus what the fit cannot explain."""
    h, w = image.shape[:2]
    f, r = image.astype(np.float32), reference.astype(np.float32)
    if valid is not None:
        f = np.where(valid[..., None], f, r)
    # The fit is smooth: estimate it on a 1/4 copy (large windows at full size are slow).
    small = (max(8, w // 4), max(8, h // 4))
    fs = cv2.resize(f, small, interpolation=cv2.INTER_AREA)
    rs = cv2.resize(r, small, interpolation=cv2.INTER_AREA)
    k = max(3, int(scale * max(small)) | 1)
    mr, mf = cv2.blur(rs, (k, k)), cv2.blur(fs, (k, k))
    var = cv2.blur(rs * rs, (k, k)) - mr * mr
    cov = cv2.blur(rs * fs, (k, k)) - mr * mf
    gain = cov / (var + 25.0)
    offset = mf - gain * mr
    gain = cv2.resize(cv2.blur(gain, (k, k)), (w, h), interpolation=cv2.INTER_LINEAR)
    offset = cv2.resize(cv2.blur(offset, (k, k)), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(r + (f - (gain * r + offset)), 0, 255).astype(np.uint8)


def yellow_machinery_pixels(bgr: np.ndarray) -> np.ndarray:
    """Construction-machinery yellow/orange paint: saturated, bright, hue 15–35°·2."""
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    return (hsv[..., 0] >= 12) & (hsv[..., 0] <= 32) & (hsv[..., 1] >= 120) & (hsv[..., 2] >= 130)


def haze_map(frame: np.ndarray, reference: np.ndarray, block: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Per block: contrast ratio (coefficient of variation, frame/reference,
    insensitive to exposure) and yellow-brown shift (Lab b* and a* gain)."""
    ref, _ = working_copy(reference, 480)
    cur = cv2.resize(frame, (ref.shape[1], ref.shape[0]), interpolation=cv2.INTER_AREA)
    # A global tint (evening light) is divided out; haze is local and stays.
    gains = (np.median(cur.reshape(-1, 3), 0) + 1) / (np.median(ref.reshape(-1, 3), 0) + 1)
    cur = np.clip(cur / gains, 0, 255).astype(np.uint8)
    g_r = cv2.cvtColor(ref, cv2.COLOR_BGR2GRAY).astype(np.float32)
    g_c = cv2.cvtColor(cur, cv2.COLOR_BGR2GRAY).astype(np.float32)
    lab_r = cv2.cvtColor(ref, cv2.COLOR_BGR2LAB).astype(np.float32)
    lab_c = cv2.cvtColor(cur, cv2.COLOR_BGR2LAB).astype(np.float32)
    hb, wb = g_r.shape[0] // block, g_r.shape[1] // block

    def blocks(a: np.ndarray) -> np.ndarray:
        return a[:hb * block, :wb * block].reshape(hb, block, wb, block).swapaxes(1, 2).reshape(hb, wb, -1)

    br, bc = blocks(g_r), blocks(g_c)
    cv_r = br.std(-1) / (br.mean(-1) + 8)
    cv_c = bc.std(-1) / (bc.mean(-1) + 8)
    ratio = cv_c / (cv_r + 1e-3)
    yellow = (blocks(lab_c[..., 2]).mean(-1) - blocks(lab_r[..., 2]).mean(-1)) \
        + 0.5 * (blocks(lab_c[..., 1]).mean(-1) - blocks(lab_r[..., 1]).mean(-1))
    # Haze adds light (airlight); a darker new surface (wet or red soil) is not haze.
    brighter = blocks(lab_c[..., 0]).mean(-1) - blocks(lab_r[..., 0]).mean(-1)
    return ratio, np.where(brighter > 2, yellow, 0.0)


class PixelDetector:
    """Base for the plugins' weights-free detectors: a name, domains,
    default parameters merged with ``NRSC_DETECTORS[name]`` and, per preset,
    with ``context.params``."""

    name = ""
    domains: tuple[str, ...] = ()
    defaults: dict[str, Any] = {}

    def __init__(self, settings: Any = None):
        self.params = {**self.defaults, **dict((settings or {}).get(self.name, {}))}

    def param(self, context: Any, key: str) -> Any:
        params = getattr(context, "params", None) or {}
        return params.get(f"{self.name}.{key}", params.get(key, self.params[key]))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def frames_bgr(frames: Sequence[Any]) -> list[tuple[int, np.ndarray]]:
    """(index, decoded frame) for the frames that decode; a corrupt one is skipped."""
    out = []
    for i, f in enumerate(frames):
        try:
            out.append((i, as_bgr(f)))
        except FrameError:
            continue
    return out


class ReferenceChange(PixelDetector):
    """Changed ground against the preset's reference image, above an area in
    m² when the ground scale is known (else a fraction of the view). Shared
    by the plugins that watch land use; each names its own event."""

    domain = ""
    event_type = ""
    # Says nothing without the preset's reference image (the pipeline notes it).
    needs_reference = True
    defaults = {"min_area_m2": 200.0, "min_fraction": 0.006, "threshold": 0.35}

    @property
    def domains(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.domain,)

    def detect(self, frames: Sequence[Any], context: DetectionContext) -> list[Detection]:
        if context.reference is None:
            return []
        decoded = frames_bgr(frames)
        ref = frames_bgr([context.reference])
        if not decoded or not ref:
            return []
        index, frame = decoded[-1]
        result = reference_change(frame, ref[0][1], threshold=self.param(context, "threshold"), masks=context.masks)
        if result is None:
            return []
        changed, _ = result
        if len(decoded) > 1:
            # A scar stays put over a stop; a cloud's shadow or a passing
            # vehicle moves. Keep what changed in the first frame as well.
            first = reference_change(decoded[0][1], ref[0][1], threshold=self.param(context, "threshold"),
                                     masks=context.masks)
            if first is not None:
                changed &= cv2.dilate(first[0].astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        h, w = changed.shape
        found = []
        for region, xywh, px in components(changed, max(12, int(0.25 * self.param(context, "min_fraction") * h * w))):
            area = ground_area_m2(region, context.ground_scale, frame.shape[:2])
            frac = px / (h * w)
            if area is not None and area < self.param(context, "min_area_m2"):
                continue
            if area is None and frac < self.param(context, "min_fraction"):
                continue
            score = 0.55 + 0.45 * min(1.0, frac / (5 * self.param(context, "min_fraction")))
            found.append(Detection(self.domain, self.event_type, "change", float(score), norm_box(xywh, (h, w)),
                                   index, detector=self.name, area_m2=area,
                                   evidence={"changed_fraction": round(frac, 4)}))
        return found
