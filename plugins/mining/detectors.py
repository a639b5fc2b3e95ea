"""Mining: new excavation against the preset's reference image, and yellow
construction machinery confirmed over visits (no machinery weights exist in
any package; trucks come from the COCO model)."""
from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

from webapp.plugin_api import Detection, DetectionContext
from webapp.vision import (
    PixelDetector, ReferenceChange, box_iou, components, context_mask, fire_pixels, frames_bgr, norm_box,
    reference_change, working_copy, yellow_machinery_pixels,
)


class MiningChange(ReferenceChange):
    name = "mining_change"
    domain, event_type = "mining", "illegal_mining"


def _yellow_blobs(image: np.ndarray, extra: np.ndarray | None = None) -> list[tuple[tuple[float, ...], float]]:
    small, _ = working_copy(image, 640)
    h, w = small.shape[:2]
    mask = yellow_machinery_pixels(small)
    if extra is not None:
        mask &= cv2.resize(extra.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    loose = yellow_machinery_pixels(small) | fire_pixels(small)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)).astype(bool)
    out = []
    for region, (x, y, bw, bh), px in components(mask, max(20, int(0.00008 * h * w))):
        # Paint is one flat colour and stands out from its surroundings; a
        # sunset band or a flame is graded and merges into more of the same.
        paint = region & yellow_machinery_pixels(small)
        if paint.sum() < 10 or float(np.std(hsv[..., 0][paint].astype(np.float32))) > 4.0:
            continue
        ring = cv2.dilate(region.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool) & ~region
        if loose[ring].mean() > 0.25:
            continue
        # A flame's white-hot core next to the yellow: fire, not paint.
        near_white = (hsv[..., 2] >= 225) & (hsv[..., 1] <= 150)
        if near_white[ring | region].mean() > 0.05:
            continue
        fill = px / float(bw * bh)
        aspect = bw / max(bh, 1)
        # Machines are compact, part-filled boxes (body, cab, boom); long thin
        # lines (road markings) and huge areas (a field of rape flowers) are not.
        if 0.25 <= fill <= 0.95 and 0.4 <= aspect <= 4.5 and px < 0.02 * h * w:
            out.append((norm_box((x, y, bw, bh), (h, w)), px / (h * w)))
    return out


class Machinery(PixelDetector):
    """Yellow excavators and loaders that are new against the preset's
    reference. One seen at the same place in the previous visit's frames is
    confirmed (score 0.9 instead of 0.6)."""

    name = "machinery"
    domains = ("mining", "farmland")
    needs_reference = True
    defaults = {"min_score": 0.5}

    def detect(self, frames: Sequence[Any], context: DetectionContext) -> list[Detection]:
        decoded = frames_bgr(frames)
        if not decoded:
            return []
        index, frame = decoded[-1]
        # Only change counts: a yellow thing that was in the reference view
        # (a painted shed, a sign) is scenery. Without a reference there is no change.
        ref = frames_bgr([context.reference]) if context.reference is not None else []
        result = reference_change(frame, ref[0][1], masks=context.masks) if ref else None
        if result is None:
            return []
        changed = cv2.dilate(result[0].astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
        blobs = _yellow_blobs(frame, changed)
        previous = [b for _, f in frames_bgr(context.previous_frames)[-1:] for b, _ in _yellow_blobs(f)]
        ignore = context_mask(context.masks, (100, 100))
        found = []
        for box, frac in blobs:
            if ignore is not None and ignore[int((box[1] + box[3]) * 50), int((box[0] + box[2]) * 50)]:
                continue
            confirmed = any(box_iou(box, p) > 0.2 for p in previous)
            score = 0.6 + (0.3 if confirmed else 0.0)
            if score < self.param(context, "min_score"):
                continue
            for domain, event in (("mining", "excavator"), ("farmland", "soil_removal")):
                found.append(Detection(domain, event, "machinery", score, box, index, detector=self.name,
                                       evidence={"seen_last_visit": confirmed}))
        return found


def detectors(settings: Any) -> list[PixelDetector]:
    return [MiningChange(settings), Machinery(settings)]
