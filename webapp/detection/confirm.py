"""Temporal confirmation: one frame is not an alert.

A stop's detections are grouped into *candidates* — the same event type at
the same place over the stop's frames — and a candidate is confirmed when it
persists across frames of the stop, or across consecutive visits of the same
preset (the previous visit's candidates are kept on its ``PatrolVisit``).
Rules are per detector (or event type, or domain):

* ``min_frames`` — frames of the stop that must show it (None: frames alone
  never confirm, e.g. the change detectors, which judge one frame against the
  reference);
* ``min_visits`` — consecutive visits, this one included, that must show it;
* ``rise`` — smoke: the candidate's box must rise or grow (over the frames,
  or between the visits) — a plume rises slowly; a grey rock does not, and a
  passing lorry's dust drifts sideways (``max_drift``) instead.

A detection that judged several frames itself (``evidence`` with ``rise``
and ``growth``, as the smoke-motion cue gives) counts as persisting over the
stop — or, with ``over_visits``, over that many visits (a plume tracked from
visit to visit); one that says it was ``seen_last_visit`` counts as a second
visit.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence

from webapp.plugin_api import Detection
from webapp.vision import box_iou

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Rule:
    min_frames: int | None = 2
    min_visits: int | None = 2
    rise: bool = False
    min_rise: float = 0.004      # of the frame height, top edge up or height up
    max_drift: float = 0.12      # of the frame width, centre sideways

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "Rule":
        known = {k: raw[k] for k in ("min_frames", "min_visits", "rise", "min_rise", "max_drift") if k in raw}
        return cls(**known)


CHANGE_RULE = Rule(min_frames=None, min_visits=2)
# Defaults by detector name, then by event type; anything else: two frames or two visits.
DEFAULT_RULES: dict[str, Rule] = {
    "smoke": Rule(min_frames=2, min_visits=2, rise=True),
    "smoke_motion": Rule(min_frames=2, min_visits=2, rise=True),
    "fire": Rule(min_frames=2, min_visits=2),
    "mining_change": CHANGE_RULE,
    "farmland_change": CHANGE_RULE,
    "geohazard_scar": CHANGE_RULE,
    "dumping_change": CHANGE_RULE,
    "dust_haze": CHANGE_RULE,
    "machinery": CHANGE_RULE,
}
FALLBACK_RULE = Rule()


def rule_for(detector: str, event_type: str, domain: str,
             overrides: Mapping[str, Any] | None = None) -> Rule:
    """The rule of a candidate: configured (``NRSC_CONFIRMATION``) by detector,
    event type or domain, else the defaults above. Smoke keeps its rise
    requirement whichever detector saw it."""
    overrides = overrides or {}
    for key in (detector, event_type, domain):
        if key in overrides:
            raw = overrides[key]
            return raw if isinstance(raw, Rule) else Rule.from_json(raw)
    if event_type == "smoke":
        return DEFAULT_RULES["smoke"]
    return DEFAULT_RULES.get(detector) or DEFAULT_RULES.get(event_type) or FALLBACK_RULE


def same_place(a: Box, b: Box, iou: float = 0.1, centre: float = 0.06) -> bool:
    """Boxes of one event in two frames (or two visits: a preset never
    returns to exactly the same view)."""
    if box_iou(a, b) >= iou:
        return True
    ca = ((a[0] + a[2]) / 2, (a[1] + a[3]) / 2)
    cb = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    return abs(ca[0] - cb[0]) <= centre and abs(ca[1] - cb[1]) <= centre


@dataclass
class Candidate:
    """One event over a stop's frames."""

    domain: str
    event_type: str
    label: str
    detector: str
    score: float
    box: Box                                  # in the best frame
    frame_index: int                          # the best frame
    boxes: dict[int, Box] = field(default_factory=dict)   # frame index → box
    evidence: dict[str, Any] = field(default_factory=dict)
    area_m2: float | None = None
    visits: int = 1                           # consecutive visits showing it, this one included
    confirmed_by: str = ""

    @property
    def frames(self) -> int:
        return len(self.boxes)

    def add(self, d: Detection) -> None:
        box = tuple(d.box) if d.box else self.box
        old = self.boxes.get(d.frame_index)
        self.boxes[d.frame_index] = box if old is None else old
        if d.score > self.score:
            self.score, self.box, self.frame_index, self.label = d.score, box, d.frame_index, d.label
            self.detector = d.detector or self.detector
            self.evidence = {**self.evidence, **dict(d.evidence)}
            self.area_m2 = d.area_m2 if d.area_m2 is not None else self.area_m2
        else:
            self.evidence = {**dict(d.evidence), **self.evidence}

    def as_json(self) -> dict[str, Any]:
        return {"domain": self.domain, "event_type": self.event_type, "label": self.label,
                "detector": self.detector, "score": round(float(self.score), 4),
                "box": [round(float(v), 5) for v in self.box], "frames": self.frames, "visits": self.visits,
                "confirmed_by": self.confirmed_by}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "Candidate":
        box = tuple(float(v) for v in raw["box"])
        return cls(raw["domain"], raw["event_type"], raw.get("label", ""), raw.get("detector", ""),
                   float(raw.get("score", 0.0)), box, 0, {0: box}, visits=int(raw.get("visits", 1)))


def candidates(detections: Iterable[Detection]) -> list[Candidate]:
    """Group detections (already masked and thresholded) into candidates."""
    found: list[Candidate] = []
    full = (0.0, 0.0, 1.0, 1.0)
    for d in sorted(detections, key=lambda d: (d.frame_index, -d.score)):
        box = tuple(d.box) if d.box else full
        match = None
        for c in found:
            if c.domain == d.domain and c.event_type == d.event_type and same_place(c.boxes[max(c.boxes)], box):
                match = c
                break
        if match is None:
            found.append(Candidate(d.domain, d.event_type, d.label, d.detector, float(d.score), box,
                                   d.frame_index, {d.frame_index: box}, dict(d.evidence), d.area_m2))
        else:
            match.add(replace(d, box=box))
    return found


def _rises(first: Box, last: Box, rule: Rule) -> bool:
    up = first[1] - last[1]
    taller = (last[3] - last[1]) - (first[3] - first[1])
    drift = abs((first[0] + first[2]) / 2 - (last[0] + last[2]) / 2)
    return (up >= rule.min_rise or taller >= rule.min_rise) and drift <= rule.max_drift


def judge(candidate: Candidate, rule: Rule, previous: Sequence[Candidate]) -> bool:
    """Whether ``candidate`` is confirmed; sets its ``visits`` and ``confirmed_by``."""
    before = next((p for p in previous if p.domain == candidate.domain and p.event_type == candidate.event_type
                   and same_place(p.box, candidate.box, centre=0.08)), None)
    candidate.visits = before.visits + 1 if before is not None else 1
    if candidate.evidence.get("seen_last_visit"):
        candidate.visits = max(candidate.visits, 2)
    multi_frame = "rise" in candidate.evidence and "growth" in candidate.evidence
    if multi_frame and candidate.evidence.get("over_visits"):
        # Tracked over the preset's visits (a plume's growth from visit to visit).
        candidate.visits = max(candidate.visits, int(candidate.evidence["over_visits"]))
        candidate.confirmed_by = "visits"
        return True
    if rule.min_frames is not None:
        ordered = [candidate.boxes[i] for i in sorted(candidate.boxes)]
        if multi_frame or (candidate.frames >= rule.min_frames
                           and (not rule.rise or _rises(ordered[0], ordered[-1], rule))):
            candidate.confirmed_by = "frames"
            return True
    rose = not rule.rise or multi_frame or (before is not None and _rises(before.box, candidate.box, rule))
    if rule.min_visits is not None and candidate.visits >= rule.min_visits and rose:
        candidate.confirmed_by = "visits"
        return True
    return False


__all__ = ["Candidate", "DEFAULT_RULES", "Rule", "candidates", "judge", "rule_for", "same_place"]
