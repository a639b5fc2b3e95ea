"""Weights-free fire and smoke cues.

They run as fallback detectors when no learned fire model is installed, and
as confirmation of the learned model's boxes (``support``): a model box with
hot colour inside is believed more, one without is believed less. Sunsets,
the sun, red soil and chimney steam are what these rules were shaped to
reject (see webapp/vision.py for the pixel rules).
"""
from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

from webapp.plugin_api import Detection, DetectionContext
from webapp.vision import (
    PixelDetector, as_bgr, context_mask, fire_regions, flame_score, frames_bgr, grey_pixels,
    plume_track, working_copy,
)


def _masked(box, ignore) -> bool:
    if ignore is None:
        return False
    h, w = ignore.shape
    region = ignore[int(box[1] * h):max(int(box[3] * h), int(box[1] * h) + 1),
                    int(box[0] * w):max(int(box[2] * w), int(box[0] * w) + 1)]
    return region.size > 0 and region.mean() > 0.5


def _crop(image: np.ndarray, box, grow: float = 0.1) -> np.ndarray:
    h, w = image.shape[:2]
    bw, bh = box[2] - box[0], box[3] - box[1]
    x1, y1 = max(0, int((box[0] - grow * bw) * w)), max(0, int((box[1] - grow * bh) * h))
    x2, y2 = min(w, int((box[2] + grow * bw) * w) + 1), min(h, int((box[3] + grow * bh) * h) + 1)
    return image[y1:y2, x1:x2]


class FireColour(PixelDetector):
    name = "fire_colour"
    domains = ("fire",)
    defaults = {"min_score": 0.6, "min_fraction": 0.0004}

    def detect(self, frames: Sequence[Any], context: DetectionContext) -> list[Detection]:
        found = []
        for index, image in frames_bgr(frames):
            small, _ = working_copy(image, 640)
            ignore = context_mask(context.masks, small.shape[:2])
            for r in fire_regions(small, self.param(context, "min_fraction")):
                score = flame_score(r)
                if score >= self.param(context, "min_score") and not _masked(r["box"], ignore):
                    found.append(Detection("fire", "fire", "fire", score, r["box"], index, detector=self.name,
                                           evidence={"solidity": round(r["solidity"], 2),
                                                     "spread": round(r["spread"], 1), "core": round(r["core"], 2)}))
        return found

    def support(self, frame: Any, box, label: str) -> float | None:
        """How far the colour cue agrees with a learned ``fire`` box (0..1);
        None for labels it has no opinion on."""
        if label != "fire":
            return None
        # The flame rules judge a region against the whole view (a sunset
        # band is only told apart by its extent), so score the frame's
        # regions and take the best one touching the box.
        small, _ = working_copy(as_bgr(frame), 640)
        best = 0.0
        for r in fire_regions(small, 0.0001):
            rb = r["box"]
            if rb[0] < box[2] and rb[2] > box[0] and rb[1] < box[3] and rb[3] > box[1]:
                best = max(best, flame_score(r))
        return best


class SmokeMotion(PixelDetector):
    """Smoke over a stop's frames: grey, slowly growing and rising. One frame
    cannot show that, so a still image gives nothing here.

    A patrol burst is a fraction of a second, too short for a plume to grow
    visibly; when the burst shows none, the preset's earlier visits
    (``context.earlier_visits``: one frame each) and this stop's last frame
    are tracked the same way, so a plume that grew and rose from visit to
    visit is found on the third visit that shows it, anchored at its base."""

    name = "smoke_motion"
    domains = ("fire",)
    defaults = {"min_growth": 1.5, "min_rise": 0.03, "max_drift": 0.1, "min_score": 0.6,
                "visit_min_growth": 1.15, "visit_min_rise": 0.01, "visits": 3}

    def detect(self, frames: Sequence[Any], context: DetectionContext) -> list[Detection]:
        decoded = frames_bgr(frames)
        if not decoded:
            return []
        found = []
        if len(decoded) >= 3:
            found = self._track([f for _, f in decoded], context, decoded[-1][0], "")
        wanted = int(self.param(context, "visits"))
        earlier = [f for _, f in frames_bgr(context.earlier_visits)][-(wanted - 1):]
        if not found and wanted >= 3 and len(earlier) == wanted - 1:
            h, w = decoded[-1][1].shape[:2]
            series = [e if e.shape[:2] == (h, w) else cv2.resize(e, (w, h), interpolation=cv2.INTER_AREA)
                      for e in earlier] + [decoded[-1][1]]
            found = self._track(series, context, decoded[-1][0], "visit_")
        return found

    def _track(self, images: list, context: DetectionContext, index: int, prefix: str) -> list[Detection]:
        ignore = context_mask(context.masks, working_copy(images[-1], 320)[0].shape[:2])
        min_growth = self.param(context, prefix + "min_growth")
        min_rise = self.param(context, prefix + "min_rise")
        found = []
        for t in plume_track(images):
            if _masked(t["box"], ignore):
                continue
            # Steam: bright white, its envelope's top held where it evaporates.
            # White smoke that keeps rising still counts.
            if t["whiteness"] > 0.5 and t["rise"] < 0.08:
                continue
            if t["growth"] < min_growth or t["rise"] < min_rise or t["drift"] > self.param(context, "max_drift"):
                continue
            score = 0.5 + 0.25 * min(1.0, (t["growth"] - 1) / 0.6) + 0.25 * min(1.0, t["rise"] / (min_rise + 0.02))
            if score >= self.param(context, "min_score"):
                evidence = {k: round(float(t[k]), 3) for k in ("growth", "rise", "drift")}
                evidence["anchor"] = [round(v, 5) for v in t["base"]]
                if prefix:
                    evidence["over_visits"] = len(images)
                found.append(Detection("fire", "smoke", "smoke", float(score), t["box"], index,
                                       detector=self.name, evidence=evidence))
        return found

    def support(self, frame: Any, box, label: str) -> float | None:
        if label != "smoke":
            return None
        crop = _crop(as_bgr(frame), box, 0.0)
        if crop.size == 0:
            return 0.0
        crop, _ = working_copy(crop, 256)
        return float(min(1.0, grey_pixels(crop).mean() / 0.4))


def detectors(settings: Any) -> list[PixelDetector]:
    return [FireColour(settings), SmokeMotion(settings)]
