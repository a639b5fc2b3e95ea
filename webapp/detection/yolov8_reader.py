"""Read a pickled Ultralytics YOLOv8 detection checkpoint without Ultralytics.

A ``.pt`` checkpoint pickles the network's module objects, so unpickling it
needs classes of the same names. This reader supplies minimal stand-ins for
the few Ultralytics classes a YOLOv8 detector is made of (Conv, Concat, SPPF,
C2f, Bottleneck, DFL, Detect, DetectionModel) with forwards written after
Ultralytics 8.x, and takes any other custom block from a module file the
caller names (the package that ships the checkpoint). Only the model
install step uses it, to export ONNX; nothing imports it at run time.
"""
from __future__ import annotations

import importlib.util
import pickle
import types
from pathlib import Path
from typing import Any

import torch
from torch import nn


class Conv(nn.Module):
    def forward(self, x):
        if hasattr(self, "bn"):
            return self.act(self.bn(self.conv(x)))
        return self.act(self.conv(x))


class Concat(nn.Module):
    def forward(self, x):
        return torch.cat(x, self.d)


class SPPF(nn.Module):
    def forward(self, x):
        y = [self.cv1(x)]
        y.extend(self.m(y[-1]) for _ in range(getattr(self, "n", 3)))
        return self.cv2(torch.cat(y, 1))


class Bottleneck(nn.Module):
    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class DFL(nn.Module):
    def forward(self, x):
        b, _, a = x.shape
        return self.conv(x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)


def _anchors(feats: list[torch.Tensor], strides: torch.Tensor, offset: float = 0.5):
    points, stride_t = [], []
    for i, stride in enumerate(strides):
        h, w = feats[i].shape[2:]
        sx = torch.arange(w, dtype=feats[i].dtype) + offset
        sy = torch.arange(h, dtype=feats[i].dtype) + offset
        sy, sx = torch.meshgrid(sy, sx, indexing="ij")
        points.append(torch.stack((sx, sy), -1).view(-1, 2))
        stride_t.append(torch.full((h * w, 1), float(stride), dtype=feats[i].dtype))
    return torch.cat(points).transpose(0, 1), torch.cat(stride_t).transpose(0, 1)


class Detect(nn.Module):
    """Inference output (1, 4 + nc, N): centre-x, centre-y, w, h in input
    pixels, then per-class sigmoid scores — Ultralytics' export layout."""

    def forward(self, x):
        x = [torch.cat((self.cv2[i](x[i]), self.cv3[i](x[i])), 1) for i in range(self.nl)]
        b = x[0].shape[0]
        cat = torch.cat([xi.view(b, self.no, -1) for xi in x], 2)
        anchors, strides = _anchors(x, self.stride)
        box, cls = cat.split((self.reg_max * 4, self.nc), 1)
        lt, rb = self.dfl(box).chunk(2, 1)
        a = anchors.unsqueeze(0)
        x1y1, x2y2 = a - lt, a + rb
        dbox = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * strides
        return torch.cat((dbox, cls.sigmoid()), 1)


class DetectionModel(nn.Module):
    def forward(self, x):
        y: list[Any] = []
        for m in self.model:
            if m.f != -1:
                x = y[m.f] if isinstance(m.f, int) else [x if j == -1 else y[j] for j in m.f]
            x = m(x)
            y.append(x if m.i in self.save else None)
        return x


_STANDINS = {
    ("ultralytics.nn.modules.conv", "Conv"): Conv,
    ("ultralytics.nn.modules.conv", "Concat"): Concat,
    ("ultralytics.nn.modules.block", "SPPF"): SPPF,
    ("ultralytics.nn.modules.block", "C2f"): C2f,
    ("ultralytics.nn.modules.block", "Bottleneck"): Bottleneck,
    ("ultralytics.nn.modules.block", "DFL"): DFL,
    ("ultralytics.nn.modules.head", "Detect"): Detect,
    ("ultralytics.nn.tasks", "DetectionModel"): DetectionModel,
}
_SAFE_PREFIXES = ("torch", "collections", "builtins", "__builtin__", "_codecs", "numpy")


class UnsupportedCheckpoint(ValueError):
    pass


def _pickle_module(custom: types.ModuleType | None) -> types.ModuleType:
    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str):
            if (module, name) in _STANDINS:
                return _STANDINS[(module, name)]
            if module == "__main__" or module.startswith(("ultralytics", "fire_detector")):
                if custom is not None and hasattr(custom, name):
                    return getattr(custom, name)
                if module.startswith("ultralytics.utils") or name in ("IterableSimpleNamespace",):
                    return types.SimpleNamespace
                raise UnsupportedCheckpoint(f"the checkpoint needs {module}.{name}, which this reader lacks")
            if not module.startswith(_SAFE_PREFIXES):
                raise UnsupportedCheckpoint(f"the checkpoint refers to {module}.{name}; refused")
            return super().find_class(module, name)

    mod = types.ModuleType("nrsc_yolov8_pickle")
    mod.Unpickler = Unpickler  # type: ignore[attr-defined]
    mod.load = pickle.load  # type: ignore[attr-defined]
    mod.__name__ = "nrsc_yolov8_pickle"
    return mod


def load_module_file(path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(f"nrsc_ckpt_blocks_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def read_checkpoint(path: Path, blocks: Path | None = None) -> tuple[nn.Module, dict[int, str], dict[str, Any]]:
    """(float32 eval network, class names, checkpoint metadata)."""
    custom = load_module_file(blocks) if blocks else None
    ckpt = torch.load(str(path), map_location="cpu", pickle_module=_pickle_module(custom), weights_only=False)
    model = ckpt.get("ema") or ckpt.get("model")
    if not isinstance(model, DetectionModel):
        raise UnsupportedCheckpoint(f"{path.name} holds no YOLOv8 DetectionModel")
    model = model.float().eval()
    names = model.names if isinstance(model.names, dict) else dict(enumerate(model.names))
    meta = {k: ckpt.get(k) for k in ("version", "license", "date") if isinstance(ckpt.get(k), str)}
    return model, {int(k): str(v) for k, v in names.items()}, meta
