"""Ecology: dust haze against the reference, dumping as reference change."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from webapp.plugin_api import Detection, DetectionContext
from webapp.vision import PixelDetector, ReferenceChange, frames_bgr, haze_map


class DustHaze(PixelDetector):
    """Yellow-brown haze: blocks whose contrast fell well below the
    reference's while their colour moved towards yellow-brown. A change of
    exposure or a warm evening light does the one or the other, not both."""

    name = "dust_haze"
    domains = ("ecology",)
    needs_reference = True
    defaults = {"max_contrast_ratio": 0.6, "min_yellow": 4.0, "min_fraction": 0.08}

    def detect(self, frames: Sequence[Any], context: DetectionContext) -> list[Detection]:
        if context.reference is None:
            return []
        decoded, ref = frames_bgr(frames), frames_bgr([context.reference])
        if not decoded or not ref:
            return []
        index, frame = decoded[-1]
        ratio, yellow = haze_map(frame, ref[0][1])
        dusty = (ratio < self.param(context, "max_contrast_ratio")) & (yellow > self.param(context, "min_yellow"))
        frac = float(dusty.mean())
        if frac < self.param(context, "min_fraction"):
            return []
        ys, xs = np.nonzero(dusty)
        hb, wb = dusty.shape
        box = (xs.min() / wb, ys.min() / hb, (xs.max() + 1) / wb, (ys.max() + 1) / hb)
        score = 0.5 + 0.5 * min(1.0, frac / 0.3)
        return [Detection("ecology", "dust", "dust", float(score), box, index, detector=self.name,
                          evidence={"hazy_fraction": round(frac, 3),
                                    "contrast_ratio": round(float(np.median(ratio[dusty])), 2)})]


class DumpingChange(ReferenceChange):
    name = "dumping_change"
    domain, event_type = "ecology", "garbage"
    defaults = {**ReferenceChange.defaults, "min_area_m2": 50.0}


def detectors(settings: Any) -> list:
    return [DustHaze(settings), DumpingChange(settings)]
