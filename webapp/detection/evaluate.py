"""``nrsc eval``: precision, recall, F1 (and AP@0.5 for boxes) of a
detector on a labelled folder, with the time per frame.

Layouts: ``DIR/positive`` + ``DIR/negative`` (image-level: an image is
positive when any detection reaches the threshold), or ``DIR/images`` +
``DIR/labels`` (YOLO txt: ``class cx cy w h`` normalised, one box a line; a
missing or empty label file means no event). An optional ``DIR/references``
holds the preset's reference image under the same file name, for the
detectors that compare against one.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from webapp.plugin_api import DetectionContext
from webapp.vision import FrameError, as_bgr, box_iou

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
SWEEP = [round(t, 2) for t in np.arange(0.05, 1.0, 0.05)]


class EvalError(ValueError):
    pass


@dataclass
class Sample:
    path: Path
    positive: bool
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    reference: Path | None = None


@dataclass
class Report:
    detector: str
    kind: str                  # "image" or "boxes"
    threshold: float
    images: int
    ms_per_frame: float
    skipped: int
    # image level: per image (best score, truth); boxes: per detection (score, matched), and truth count
    scored: list[tuple[float, bool]]
    truths: int

    def at(self, threshold: float) -> tuple[float, float, float]:
        if self.kind == "image":
            tp = sum(1 for s, t in self.scored if s >= threshold and t)
            fp = sum(1 for s, t in self.scored if s >= threshold and not t)
            fn = sum(1 for s, t in self.scored if s < threshold and t)
        else:
            tp = sum(1 for s, m in self.scored if s >= threshold and m)
            fp = sum(1 for s, m in self.scored if s >= threshold and not m)
            fn = self.truths - tp
        p = tp / (tp + fp) if tp + fp else 1.0
        r = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        return p, r, f1

    def average_precision(self) -> float | None:
        """AP@IoU (all-point interpolation) over every detection, any score."""
        if self.kind != "boxes" or not self.truths:
            return None
        ranked = sorted(self.scored, key=lambda x: -x[0])
        tp = np.cumsum([m for _, m in ranked])
        fp = np.cumsum([not m for _, m in ranked])
        recall = tp / self.truths
        precision = tp / np.maximum(tp + fp, 1)
        mrec = np.concatenate([[0], recall, [1]])
        mpre = np.concatenate([[1], precision, [0]])
        for i in range(len(mpre) - 2, -1, -1):
            mpre[i] = max(mpre[i], mpre[i + 1])
        idx = np.nonzero(mrec[1:] != mrec[:-1])[0]
        return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))

    def text(self, sweep: bool = False) -> str:
        p, r, f1 = self.at(self.threshold)
        lines = [f"detector {self.detector}: {self.images} images ({self.kind} labels)"
                 + (f", {self.skipped} unreadable skipped" if self.skipped else ""),
                 f"threshold {self.threshold:.2f}  precision {p:.3f}  recall {r:.3f}  F1 {f1:.3f}"]
        ap = self.average_precision()
        if ap is not None:
            lines.append(f"mAP@0.5 {ap:.3f}")
        lines.append(f"{self.ms_per_frame:.1f} ms per frame")
        if sweep:
            lines.append("threshold  precision  recall  F1")
            for t in SWEEP:
                p, r, f1 = self.at(t)
                lines.append(f"{t:9.2f}  {p:9.3f}  {r:6.3f}  {f1:.3f}")
        return "\n".join(lines)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


def load(directory: Path | str) -> tuple[str, list[Sample]]:
    root = Path(directory)
    refs = root / "references"

    def ref(p: Path) -> Path | None:
        r = refs / p.name
        return r if r.is_file() else None

    if (root / "positive").is_dir() or (root / "negative").is_dir():
        samples = [Sample(p, True, reference=ref(p)) for p in _images(root / "positive")]
        samples += [Sample(p, False, reference=ref(p)) for p in _images(root / "negative")]
        kind = "image"
    elif (root / "images").is_dir():
        samples = []
        for p in _images(root / "images"):
            label = root / "labels" / f"{p.stem}.txt"
            boxes = []
            if label.is_file():
                for n, line in enumerate(label.read_text().splitlines(), 1):
                    parts = line.split()
                    if not parts:
                        continue
                    try:
                        _, cx, cy, w, h = (float(v) for v in parts[:5])
                    except ValueError:
                        raise EvalError(f"{label}:{n}: expected 'class cx cy w h', got {line!r}") from None
                    boxes.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
            samples.append(Sample(p, bool(boxes), boxes, ref(p)))
        kind = "boxes"
    else:
        raise EvalError(f"{root} has neither positive/ + negative/ nor images/ + labels/")
    if not samples:
        raise EvalError(f"{root} holds no images")
    return kind, samples


def resolve(name: str, settings: dict | None = None) -> Any:
    """A detector by name (classical or learned), or a domain's deployed set."""
    from webapp.detection.deploy import DomainDetector
    from webapp.plugins import build_plugin_host
    host = build_plugin_host(load_entrypoints=True, settings={"NRSC_DETECTORS": settings or {}})
    if name in host.detectors:
        return host.detectors[name]
    if name in host.domains:
        members = [d for d in host.detectors.values() if name in tuple(d.domains)]
        if not members:
            raise EvalError(f"domain {name} has no detectors deployed")
        return DomainDetector(name, members)
    raise EvalError(f"no detector or domain named {name!r}; detectors: {', '.join(sorted(host.detectors))}")


def run(directory: Path | str, detector: Any, *, threshold: float | None = None, iou: float = 0.5,
        progress: bool = True) -> Report:
    from tqdm import tqdm
    kind, samples = load(directory)
    scored: list[tuple[float, bool]] = []
    truths, skipped, spent, frames = 0, 0, 0.0, 0
    for s in tqdm(samples, desc=f"eval {getattr(detector, 'name', detector)}", unit="img",
                  disable=not progress, file=sys.stderr):
        try:
            image = as_bgr(s.path.read_bytes())
            reference = as_bgr(s.reference.read_bytes()) if s.reference else None
        except (OSError, FrameError):
            skipped += 1
            continue
        context = DetectionContext(camera_code="eval", reference=reference)
        started = time.perf_counter()
        found = detector.detect([image], context)
        spent += time.perf_counter() - started
        frames += 1
        if kind == "image":
            scored.append((max((d.score for d in found), default=0.0), s.positive))
            continue
        truths += len(s.boxes)
        taken: set[int] = set()
        for d in sorted(found, key=lambda d: -d.score):
            best, best_iou = None, iou
            for i, t in enumerate(s.boxes):
                if i not in taken and d.box is not None and (v := box_iou(d.box, t)) >= best_iou:
                    best, best_iou = i, v
            if best is not None:
                taken.add(best)
            scored.append((d.score, best is not None))
    name = getattr(detector, "name", str(detector))
    default = 0.5
    return Report(name, kind, default if threshold is None else threshold, len(samples),
                  1000 * spent / max(frames, 1), skipped, scored, truths)
