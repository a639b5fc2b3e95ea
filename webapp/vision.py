"""Image helpers shared by the core's detection code and the domain plugins.

A leaf module: numpy and OpenCV only, no Flask, no database, so a plugin may
import it next to ``webapp.plugin_api``. Frames are HxWx3 ``uint8`` arrays in
OpenCV's BGR order; :func:`as_bgr` turns encoded bytes or a PIL image into one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import numpy as np


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
def register_to(frame_gray: np.ndarray, ref_gray: np.ndarray, *, ecc: bool = True) -> tuple[np.ndarray, np.ndarray] | None:
    """Warp ``frame_gray`` onto ``ref_gray``: ORB features with a RANSAC
    homography, refined by ECC. Returns (warped frame, valid-pixel mask) or
    None when the two views cannot be matched (camera pointed elsewhere)."""
    orb = cv2.ORB_create(1500)
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
            H = (np.linalg.inv(S) @ np.linalg.inv(Hs) @ S).astype(np.float32)
        except cv2.error:
            pass  # ECC did not converge: keep the feature homography
    warped = cv2.warpPerspective(frame_gray, H, (w, h), flags=cv2.INTER_LINEAR)
    valid = cv2.warpPerspective(np.full(frame_gray.shape, 255, np.uint8), H, (w, h)) > 0
    if valid.mean() < 0.5:
        return None
    return warped, cv2.erode(valid.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)


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
    rule = (Y > Cb) & (Cr > Cb) & (Y > Y.mean()) & (Cr > Cr.mean()) & (np.abs(Cb - Cr) >= 40)
    hot = (val >= 170) & ((hue <= 35) | (hue >= 170)) & (sat >= 60)
    return rule & hot


def saturation(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)[..., 1]


__all__ = [
    "FrameError", "Letterbox", "as_bgr", "box_iou", "components", "context_mask", "fire_pixels",
    "ground_area_m2", "letterbox", "mask_from_polygons", "nms", "norm_box", "register_to",
    "saturation", "structure_change", "working_copy",
]
