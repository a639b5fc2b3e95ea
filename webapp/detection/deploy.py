"""A domain's detectors as deployed: learned models confirmed or vetoed by
the plugins' cues, and the cues alone as a fallback.

A cue detector may offer ``support(frame, box, label) -> float | None``: how
far its pixel rule agrees with a learned box (None: no opinion on that
label). A learned box the cues back gains score; one they contradict keeps
only part of it — the cue is a veto on look-alikes (a sunset the model calls
fire) rather than a second vote. Detections of a cue detector alone are kept
as they are when no model of the domain is installed, and discounted when
one is (the model had the better view of that image and said nothing).

The learned models are the costly part (hundreds of ms per 1080p frame on a
CPU core against tens for the cues), and a stop's burst is a fraction of a
second of one view: they run on one frame of it, the *key frame* (the
sharpest; :func:`key_frame`), while the cues see every frame. A learned box
the cues back in the other frames is carried to those frames (with the
cue-fused score of that frame), so it persists over the stop as before; a
learned box no cue has an opinion on stays on the key frame and is confirmed
across visits instead. ``learned_frames="all"`` (``NRSC_DETECTION_LEARNED_FRAMES``)
runs them on every frame as before.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

import cv2

from webapp.plugin_api import Detection, DetectionContext
from webapp.vision import FrameError, as_bgr, box_iou


def key_frame(frames: Sequence[Any]) -> int:
    """The burst's sharpest frame (variance of the Laplacian on a small grey
    copy), the middle one on ties or when none can be judged."""
    if len(frames) <= 1:
        return 0
    middle = (len(frames) - 1) // 2
    best, best_score = middle, -1.0
    for i in sorted(range(len(frames)), key=lambda i: abs(i - middle)):
        try:
            image = as_bgr(frames[i])
        except FrameError:
            continue
        h, w = image.shape[:2]
        scale = 320.0 / max(h, w)
        small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA) if scale < 1 else image
        score = float(cv2.Laplacian(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), cv2.CV_32F).var())
        if score > best_score * 1.02:  # a clearly sharper frame, else stay nearer the middle
            best, best_score = i, score
    return best


def fuse(score: float, support: float) -> float:
    return min(1.0, score * (0.6 + 0.4 * support) + 0.3 * support * (1 - score))


class DomainDetector:
    def __init__(self, domain: str, detectors: Sequence[Any], *, cue_discount: float = 0.85,
                 learned_frames: str = "key", key: int | None = None):
        self.domain = domain
        self.name = domain
        self.domains = (domain,)
        self.params = {"cue_discount": cue_discount}
        self.learned = [d for d in detectors if hasattr(d, "manifest")]
        self.classical = [d for d in detectors if not hasattr(d, "manifest")]
        self.learned_frames = learned_frames
        self.key = key  # the stop's key frame, chosen once for all its domains

    def detect(self, frames: Sequence[Any], context: DetectionContext) -> list[Detection]:
        every = self.learned_frames == "all" or len(frames) <= 1
        if every:
            learned = [d for m in self.learned for d in m.detect(frames, context) if d.domain == self.domain]
        else:
            k = self.key if self.key is not None and 0 <= self.key < len(frames) else key_frame(frames)
            learned = [replace(d, frame_index=k) for m in self.learned for d in m.detect([frames[k]], context)
                       if d.domain == self.domain]
        classical = [d for c in self.classical for d in c.detect(frames, context) if d.domain == self.domain]
        cues = [c for c in self.classical if hasattr(c, "support")]
        out: list[Detection] = []
        for d in learned:
            opinions = [s for c in cues if (s := c.support(frames[d.frame_index], d.box, d.label)) is not None]
            if opinions:
                s = max(opinions)
                fused = _with(d, fuse(d.score, s), support=round(s, 3))
                out.append(fused)
                if not every and s > 0:
                    # The cues check that it persists over the burst's other frames.
                    for j in range(len(frames)):
                        if j == d.frame_index:
                            continue
                        there = [v for c in cues if (v := c.support(frames[j], d.box, d.label)) is not None]
                        if there and max(there) > 0:
                            out.append(_with(replace(d, frame_index=j), fuse(d.score, max(there)),
                                             support=round(max(there), 3), carried_from=d.frame_index))
                continue
            out.append(d)
        discount = self.params["cue_discount"] if self.learned else 1.0
        for d in classical:
            same = [o for o in out if o.event_type == d.event_type and o.frame_index == d.frame_index
                    and d.box and o.box and box_iou(d.box, o.box) > 0.3]
            if same:
                continue  # the learned box already stands for it, with the cue's support
            out.append(_with(d, d.score * discount))
        return sorted(out, key=lambda d: -d.score)


def _with(d: Detection, score: float, **evidence: Any) -> Detection:
    return replace(d, score=float(score), evidence={**dict(d.evidence), **evidence})
