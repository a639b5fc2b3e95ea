"""One detector class for every learned model: ONNX or TorchScript, described
by a manifest (see docs/detection.md).

The manifest says how to feed the model (input size, letterbox, channel
order, normalisation) and how to read it (output layout, classes, class →
domain/event type). A file whose hash, input or outputs do not fit the
manifest is refused when it is loaded, with a message that says what differs.
"""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from webapp.plugin_api import Detection, DetectionContext
from webapp.vision import FrameError, Letterbox, as_bgr, context_mask, letterbox, nms

LAYOUTS = ("yolov5", "yolov8", "end2end", "nanodet")
FORMATS = ("onnx", "torchscript")


class ModelError(ValueError):
    """A manifest or model file that cannot be used; the message says why."""


@dataclass(frozen=True)
class Target:
    domain: str
    event_type: str


@dataclass(frozen=True)
class Manifest:
    name: str
    format: str
    file: str
    layout: str
    classes: tuple[str, ...]
    input_size: tuple[int, int]  # (width, height)
    mapping: Mapping[str, tuple[Target, ...]] = field(default_factory=dict)
    sha256: str | None = None
    letterbox: bool = True
    pad_value: int = 114
    channels: str = "rgb"           # order the model expects
    scale: float = 1 / 255          # applied before mean/std
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    strides: tuple[int, ...] = (8, 16, 32)
    reg_max: int = 7                # NanoDet: bins per side minus one
    center_offset: float = 0.5      # NanoDet (GFL head) places priors at cell centres
    cls_activation: str = "none"    # "sigmoid" when the model outputs logits
    score_threshold: float = 0.35
    iou_threshold: float = 0.45
    class_thresholds: Mapping[str, float] = field(default_factory=dict)
    enabled: bool = True
    licence: str = ""
    source: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Manifest":
        try:
            name = str(raw["name"])
            fmt = raw.get("format", "onnx")
            layout = raw["output"]["layout"] if "output" in raw else raw["layout"]
            classes = tuple(str(c) for c in raw["classes"])
            inp = raw.get("input", {})
            size = (int(inp.get("width", raw.get("width", 640))), int(inp.get("height", raw.get("height", 640))))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model manifest lacks or garbles {exc}: it needs name, classes and output.layout") from None
        if fmt not in FORMATS:
            raise ModelError(f"model {name}: format {fmt!r} is not one of {', '.join(FORMATS)}")
        if layout not in LAYOUTS:
            raise ModelError(f"model {name}: output layout {layout!r} is not one of {', '.join(LAYOUTS)}")
        mapping: dict[str, tuple[Target, ...]] = {}
        for cls_name, targets in (raw.get("mapping") or {}).items():
            if cls_name not in classes:
                raise ModelError(f"model {name}: mapping names class {cls_name!r} that is not in its classes")
            if isinstance(targets, Mapping):
                targets = [targets]
            mapping[cls_name] = tuple(Target(t["domain"], t["event_type"]) for t in targets)
        out = raw.get("output", {})
        thr = raw.get("thresholds", {})
        return cls(
            name=name, format=fmt, file=str(raw.get("file", f"{name}.{'onnx' if fmt == 'onnx' else 'pt'}")),
            layout=layout, classes=classes, input_size=size, mapping=mapping,
            sha256=raw.get("sha256"), letterbox=bool(inp.get("letterbox", True)),
            pad_value=int(inp.get("pad_value", 114)), channels=inp.get("channels", "rgb"),
            scale=float(inp.get("scale", 1 / 255)), mean=tuple(inp.get("mean", (0.0, 0.0, 0.0))),
            std=tuple(inp.get("std", (1.0, 1.0, 1.0))), strides=tuple(out.get("strides", (8, 16, 32))),
            reg_max=int(out.get("reg_max", 7)), center_offset=float(out.get("center_offset", 0.5)),
            cls_activation=out.get("cls_activation", "none"),
            score_threshold=float(thr.get("score", 0.35)), iou_threshold=float(thr.get("iou", 0.45)),
            class_thresholds=dict(thr.get("classes", {})), enabled=bool(raw.get("enabled", True)),
            licence=str(raw.get("licence", "")), source=dict(raw.get("source", {})),
            extra=dict(raw.get("extra", {})),
        )

    @classmethod
    def load(cls, path: Path | str) -> "Manifest":
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"cannot read model manifest {path}: {exc}") from None
        return cls.from_dict(raw)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "format": self.format, "file": self.file, "sha256": self.sha256,
            "classes": list(self.classes), "enabled": self.enabled, "licence": self.licence,
            "source": dict(self.source),
            "input": {"width": self.input_size[0], "height": self.input_size[1], "letterbox": self.letterbox,
                      "pad_value": self.pad_value, "channels": self.channels, "scale": self.scale,
                      "mean": list(self.mean), "std": list(self.std)},
            "output": {"layout": self.layout, "strides": list(self.strides), "reg_max": self.reg_max,
                       "center_offset": self.center_offset, "cls_activation": self.cls_activation},
            "thresholds": {"score": self.score_threshold, "iou": self.iou_threshold,
                           "classes": dict(self.class_thresholds)},
            "mapping": {c: [{"domain": t.domain, "event_type": t.event_type} for t in ts]
                        for c, ts in self.mapping.items()},
            "extra": dict(self.extra),
        }

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(sorted({t.domain for ts in self.mapping.values() for t in ts}))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- back-ends ------------------------------------------------------------------
class _Onnx:
    def __init__(self, path: Path, device: str, threads: int | None):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            if threads == 1:
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        providers = ["CPUExecutionProvider"]
        if device != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=providers)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
            raise ModelError(f"{path.name} is not a loadable ONNX model: {exc}") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(f"{path.name} has {len(inputs)} inputs; a detector model takes one image")
        self.input_name = inputs[0].name
        self.input_shape = tuple(inputs[0].shape)
        self.device = "cuda" if providers[0].startswith("CUDA") else "cpu"

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        return [np.asarray(o) for o in self.session.run(None, {self.input_name: x})]


class _TorchScript:
    def __init__(self, path: Path, device: str, threads: int | None):
        import torch
        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        self.device = "cuda" if device != "cpu" and torch.cuda.is_available() else "cpu"
        try:
            self.module = torch.jit.load(str(path), map_location=self.device).eval()
        except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError and others
            raise ModelError(f"{path.name} is not a loadable TorchScript model: {exc}") from None
        self.input_shape = None

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        with self.torch.inference_mode():
            out = self.module(self.torch.from_numpy(x).to(self.device))
        if isinstance(out, dict):
            out = list(out.values())
        if not isinstance(out, (list, tuple)):
            out = [out]
        return [o.detach().float().cpu().numpy() for o in out]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@dataclass(frozen=True)
class Prediction:
    """A raw model output after NMS: class, score and normalised frame box."""

    label: str
    score: float
    box: tuple[float, float, float, float]


class ModelDetector:
    """A learned detector. ``detect`` follows the plugin contract; ``predict``
    gives the raw classes for evaluation and for confirmation by cues."""

    def __init__(self, manifest: Manifest, directory: Path | str, *, device: str = "auto",
                 threads: int | None = None, params: Mapping[str, Any] | None = None):
        self.manifest = manifest
        self.directory = Path(directory)
        self.name = manifest.name
        self.domains = manifest.domains
        self.device_wanted = device
        self.threads = threads
        self.params = {"score_threshold": manifest.score_threshold, "iou_threshold": manifest.iou_threshold,
                       **dict(params or {})}
        self._backend: _Onnx | _TorchScript | None = None
        self._lock = threading.Lock()
        self._nc = len(manifest.classes)

    @classmethod
    def from_manifest(cls, path: Path | str, **kwargs: Any) -> "ModelDetector":
        path = Path(path)
        return cls(Manifest.load(path), path.parent, **kwargs)

    @property
    def path(self) -> Path:
        return self.directory / self.manifest.file

    @property
    def device(self) -> str:
        return self.load()._backend.device  # type: ignore[union-attr]

    # -- loading and checks -------------------------------------------------
    def load(self) -> "ModelDetector":
        """Open the model and check it against the manifest (once)."""
        with self._lock:
            if self._backend is not None:
                return self
            m = self.manifest
            if not self.path.is_file():
                raise ModelError(f"model {m.name}: file {self.path} is missing; run `nrsc models install`")
            if m.sha256:
                actual = sha256_file(self.path)
                if actual != m.sha256:
                    raise ModelError(
                        f"model {m.name}: {self.path.name} has sha256 {actual[:12]}… but its manifest "
                        f"says {m.sha256[:12]}…; the file was replaced or damaged — reinstall it")
            backend = (_Onnx if m.format == "onnx" else _TorchScript)(self.path, self.device_wanted, self.threads)
            w, h = m.input_size
            shape = backend.input_shape
            if shape and len(shape) == 4 and all(isinstance(d, int) for d in shape[1:]) \
                    and tuple(shape[1:]) != (3, h, w):
                raise ModelError(f"model {m.name}: {self.path.name} takes input {list(shape)} but the manifest "
                                 f"says 1x3x{h}x{w}")
            try:
                outputs = backend.run(np.zeros((1, 3, h, w), np.float32))
            except ModelError:
                raise
            except Exception as exc:  # noqa: BLE001 - a wrong input size fails inside the runtime
                raise ModelError(f"model {m.name}: {self.path.name} does not run on a 1x3x{h}x{w} input: "
                                 f"{str(exc).splitlines()[0][:200]}") from None
            self._check_outputs([o.shape for o in outputs])
            self._backend = backend
            return self

    def _check_outputs(self, shapes: list[tuple[int, ...]]) -> None:
        m, nc = self.manifest, self._nc
        w, h = m.input_size
        listed = ", ".join("x".join(map(str, s)) for s in shapes)
        expected = {
            "yolov5": f"one output 1xNx{5 + nc} (boxes, objectness, {nc} classes)",
            "yolov8": f"one output 1x{4 + nc}xN (boxes, {nc} classes)",
            "end2end": "one output 1xNx6 (x1, y1, x2, y2, score, class)",
            "nanodet": (f"per stride {list(m.strides)} a 1xHWx{nc} score and a 1xHWx{4 * (m.reg_max + 1)} "
                        f"distribution output, or one 1xNx{nc + 4 * (m.reg_max + 1)}"),
        }[m.layout]
        ok = False
        if m.layout in ("yolov5", "yolov8", "end2end"):
            if len(shapes) >= 1 and len(shapes[0]) == 3 and shapes[0][0] == 1:
                s = shapes[0]
                ok = {"yolov5": s[2] == 5 + nc, "yolov8": s[1] == 4 + nc, "end2end": s[2] == 6}[m.layout]
        else:
            bins = 4 * (m.reg_max + 1)
            cells = [-(-h // s) * -(-w // s) for s in m.strides]
            if len(shapes) == 1 and len(shapes[0]) == 3:
                ok = shapes[0][2] == nc + bins and shapes[0][1] == sum(cells)
            elif len(shapes) == 2 * len(m.strides):
                got = sorted((s[1], s[2]) for s in shapes if len(s) == 3)
                want = sorted([(c, nc) for c in cells] + [(c, bins) for c in cells])
                ok = got == want
        if not ok:
            raise ModelError(f"model {m.name}: {self.path.name} gives outputs [{listed}] which do not fit "
                             f"layout {m.layout} with {nc} classes: expected {expected}")

    # -- inference ----------------------------------------------------------
    def preprocess(self, frame: Any) -> tuple[np.ndarray, Letterbox]:
        m = self.manifest
        image = as_bgr(frame)
        fitted, lb = letterbox(image, m.input_size, keep_ratio=m.letterbox, pad_value=m.pad_value)
        if m.channels == "rgb":
            fitted = fitted[:, :, ::-1]
        x = fitted.astype(np.float32) * m.scale
        if m.mean != (0.0, 0.0, 0.0) or m.std != (1.0, 1.0, 1.0):
            x = (x - np.asarray(m.mean, np.float32)) / np.asarray(m.std, np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None]), lb

    def predict(self, frame: Any, *, score_threshold: float | None = None) -> list[Prediction]:
        self.load()
        x, lb = self.preprocess(frame)
        outputs = self._backend.run(x)  # type: ignore[union-attr]
        boxes, scores, cls = self._decode(outputs)
        floor = self.params["score_threshold"] if score_threshold is None else score_threshold
        names = self.manifest.classes
        per_class = np.asarray([self.manifest.class_thresholds.get(n, floor) for n in names], np.float32)
        keep = scores >= (per_class[cls] if score_threshold is None else floor)
        boxes, scores, cls = boxes[keep], scores[keep], cls[keep]
        if len(boxes) == 0:
            return []
        # Class-aware NMS: shift each class's boxes apart so they never suppress each other.
        offset = cls[:, None].astype(np.float32) * (max(self.manifest.input_size) + 1)
        kept = nms(boxes + offset, scores, self.params["iou_threshold"])
        norm = lb.to_frame(boxes[kept])
        return [Prediction(names[int(cls[i])], float(scores[i]), tuple(float(v) for v in b))
                for i, b in zip(kept, norm)]

    def _decode(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m, nc = self.manifest, self._nc
        if m.layout == "end2end":
            o = outputs[0][0]
            return o[:, :4], o[:, 4], o[:, 5].round().astype(np.int64).clip(0, nc - 1)
        if m.layout in ("yolov5", "yolov8"):
            o = outputs[0][0]
            if m.layout == "yolov8":
                o = o.T
                xywh, cls_scores = o[:, :4], o[:, 4:]
            else:
                xywh, cls_scores = o[:, :4], o[:, 5:] * o[:, 4:5]
            if m.cls_activation == "sigmoid":
                cls_scores = _sigmoid(cls_scores) if m.layout == "yolov8" else \
                    _sigmoid(o[:, 5:]) * _sigmoid(o[:, 4:5])
            cls = cls_scores.argmax(1)
            scores = cls_scores[np.arange(len(cls)), cls]
            boxes = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
            return boxes, scores, cls
        return self._decode_nanodet(outputs)

    def _decode_nanodet(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m, nc = self.manifest, self._nc
        w, h = m.input_size
        bins = m.reg_max + 1
        sizes = [(-(-h // s), -(-w // s)) for s in m.strides]
        if len(outputs) == 1:
            flat = outputs[0][0]
            starts = np.cumsum([0] + [a * b for a, b in sizes])
            pairs = [(flat[starts[i]:starts[i + 1], :nc], flat[starts[i]:starts[i + 1], nc:])
                     for i in range(len(sizes))]
        else:
            by_cells: dict[tuple[int, int], np.ndarray] = {o.shape[1:]: o[0] for o in outputs}
            pairs = [(by_cells[(a * b, nc)], by_cells[(a * b, 4 * bins)]) for a, b in sizes]
        all_boxes, all_scores = [], []
        for (cls_out, reg_out), stride, (fh, fw) in zip(pairs, m.strides, sizes):
            if m.cls_activation == "sigmoid":
                cls_out = _sigmoid(cls_out)
            dist = _softmax(reg_out.reshape(-1, 4, bins), -1) @ np.arange(bins, dtype=np.float32)
            dist = dist * stride
            ys, xs = np.mgrid[0:fh, 0:fw]
            cx = ((xs.ravel() + m.center_offset) * stride).astype(np.float32)
            cy = ((ys.ravel() + m.center_offset) * stride).astype(np.float32)
            all_boxes.append(np.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]], 1))
            all_scores.append(cls_out)
        boxes = np.concatenate(all_boxes)
        scores_all = np.concatenate(all_scores)
        cls = scores_all.argmax(1)
        return boxes, scores_all[np.arange(len(cls)), cls], cls

    def detect(self, frames: Sequence[Any], context: DetectionContext) -> list[Detection]:
        found: list[Detection] = []
        wanted = {c for c in self.manifest.mapping}
        for index, frame in enumerate(frames):
            try:
                image = as_bgr(frame)
            except FrameError:
                continue
            masked = context_mask(context.masks, image.shape[:2])
            for p in self.predict(image):
                if p.label not in wanted or _mostly_masked(p.box, masked):
                    continue
                for t in self.manifest.mapping[p.label]:
                    found.append(Detection(t.domain, t.event_type, p.label, p.score, p.box, index,
                                           detector=self.name, evidence={"model": self.name}))
        return found

    def with_params(self, **params: Any) -> "ModelDetector":
        other = ModelDetector(self.manifest, self.directory, device=self.device_wanted, threads=self.threads,
                              params={**self.params, **params})
        other._backend = self._backend
        return other

    def __repr__(self) -> str:
        return f"ModelDetector({self.name!r}, {self.manifest.format}, {self.manifest.layout})"


def _mostly_masked(box: tuple[float, float, float, float], mask: np.ndarray | None) -> bool:
    if mask is None:
        return False
    h, w = mask.shape
    x1, y1, x2, y2 = int(box[0] * w), int(box[1] * h), max(int(box[2] * w), int(box[0] * w) + 1), \
        max(int(box[3] * h), int(box[1] * h) + 1)
    region = mask[y1:y2, x1:x2]
    return region.size > 0 and region.mean() > 0.5


def installed(models_dir: Path | str) -> list[Manifest]:
    """Manifests of the models installed under ``models_dir`` (one
    ``<name>/manifest.json`` each), skipping unreadable ones."""
    found = []
    for path in sorted(Path(models_dir).glob("*/manifest.json")):
        try:
            found.append(Manifest.load(path))
        except ModelError:
            continue
    return found


__all__ = ["LAYOUTS", "Manifest", "ModelDetector", "ModelError", "Prediction", "Target", "installed",
           "sha256_file"]
