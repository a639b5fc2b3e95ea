"""A domain's detectors as deployed: learned models confirmed or vetoed by
the plugins' cues, and the cues alone as a fallback.

A cue detector may offer ``support(frame, box, label) -> float | None``: how
far its pixel rule agrees with a learned box (None: no opinion on that
label). A learned box the cues back gains score; one they contradict keeps
only part of it — the cue is a veto on look-alikes (a sunset the model calls
fire) rather than a second vote. Detections of a cue detector alone are kept
as they are when no model of the domain is installed, and discounted when
one is (the model had the better view of that image and said nothing).
"""
from __future__ import annotations

from typing import Any, Sequence

from webapp.plugin_api import Detection, DetectionContext
from webapp.vision import box_iou


def fuse(score: float, support: float) -> float:
    return min(1.0, score * (0.6 + 0.4 * support) + 0.3 * support * (1 - score))


class DomainDetector:
    def __init__(self, domain: str, detectors: Sequence[Any], *, cue_discount: float = 0.85):
        self.domain = domain
        self.name = domain
        self.domains = (domain,)
        self.params = {"cue_discount": cue_discount}
        self.learned = [d for d in detectors if hasattr(d, "manifest")]
        self.classical = [d for d in detectors if not hasattr(d, "manifest")]

    def detect(self, frames: Sequence[Any], context: DetectionContext) -> list[Detection]:
        learned = [d for m in self.learned for d in m.detect(frames, context) if d.domain == self.domain]
        classical = [d for c in self.classical for d in c.detect(frames, context) if d.domain == self.domain]
        cues = [c for c in self.classical if hasattr(c, "support")]
        out: list[Detection] = []
        for d in learned:
            opinions = [s for c in cues if (s := c.support(frames[d.frame_index], d.box, d.label)) is not None]
            if opinions:
                s = max(opinions)
                d = _with(d, fuse(d.score, s), support=round(s, 3))
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
    from dataclasses import replace
    return replace(d, score=float(score), evidence={**dict(d.evidence), **evidence})
