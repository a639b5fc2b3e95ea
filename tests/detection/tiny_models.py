"""Tiny detector networks built by the tests, one per output layout.

Each looks at 8-pixel cells of its 64x64 input: a red cell scores class 0
("fire"), a blue cell class 1 ("water"), and the box is the cell grown to 16
pixels. Exported to ONNX and TorchScript they exercise the real decoding,
letterbox mapping and NMS of ModelDetector.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

SIZE = 64
STRIDE = 8
CLASSES = ["fire", "water"]
REG_MAX = 3


class Tiny(nn.Module):
    def __init__(self, layout: str):
        super().__init__()
        self.layout = layout

    def _cells(self, x: torch.Tensor, stride: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        p = F.avg_pool2d(x, stride)  # (1,3,g,g), RGB in 0..1
        red = (p[:, 0] - 0.5 * (p[:, 1] + p[:, 2])).clamp(0, 1)
        blue = (p[:, 2] - 0.5 * (p[:, 0] + p[:, 1])).clamp(0, 1)
        g = SIZE // stride
        cls = torch.stack([red, blue], 1).reshape(1, 2, g * g)
        idx = torch.arange(g, dtype=torch.float32)
        cy, cx = torch.meshgrid((idx + 0.5) * stride, (idx + 0.5) * stride, indexing="ij")
        return cls, cx.reshape(1, 1, -1), cy.reshape(1, 1, -1)

    def forward(self, x: torch.Tensor):
        cls, cx, cy = self._cells(x, STRIDE)
        n = cls.shape[2]
        wh = torch.full((1, 1, n), 2.0 * STRIDE)
        if self.layout == "yolov8":
            return torch.cat([cx, cy, wh, wh, cls], 1)                 # (1, 6, N)
        if self.layout == "yolov5":
            obj = cls.max(1, keepdim=True).values
            probs = cls / (obj + 1e-6)
            return torch.cat([cx, cy, wh, wh, obj, probs], 1).transpose(1, 2)  # (1, N, 7)
        if self.layout == "end2end":
            score, label = cls.max(1, keepdim=True)
            box = torch.cat([cx - STRIDE, cy - STRIDE, cx + STRIDE, cy + STRIDE], 1)
            return torch.cat([box, score, label.float()], 1).transpose(1, 2)  # (1, N, 6)
        if self.layout == "nanodet":
            outs = []
            for stride in (8, 16, 32):
                c, _, _ = self._cells(x, stride)
                if stride != 8:
                    c = c * 0
                cells = c.shape[2]
                # Every side's distribution peaks at bin 1: one stride from the centre.
                logits = torch.full((1, cells, 4, REG_MAX + 1), -10.0)
                logits[..., 1] = 10.0
                outs += [c.transpose(1, 2), logits.reshape(1, cells, 4 * (REG_MAX + 1))]
            return tuple(outs)
        raise ValueError(self.layout)


def manifest(layout: str, fmt: str, name: str = "tiny", **over) -> dict:
    raw = {
        "name": name, "format": fmt, "file": f"{name}.{'onnx' if fmt == 'onnx' else 'pt'}",
        "classes": CLASSES,
        "input": {"width": SIZE, "height": SIZE, "letterbox": True, "channels": "rgb", "scale": 1 / 255},
        "output": {"layout": layout, "strides": [8, 16, 32], "reg_max": REG_MAX, "center_offset": 0.5},
        "thresholds": {"score": 0.3, "iou": 0.45},
        "mapping": {"fire": {"domain": "fire", "event_type": "fire"}},
    }
    raw.update(over)
    return raw


def build(directory: Path, layout: str, fmt: str, name: str = "tiny", **over) -> Path:
    """Write the model file and its manifest into ``directory``; return the
    manifest's path."""
    directory.mkdir(parents=True, exist_ok=True)
    model = Tiny(layout).eval()
    x = torch.zeros(1, 3, SIZE, SIZE)
    raw = manifest(layout, fmt, name, **over)
    target = directory / raw["file"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "onnx":
            torch.onnx.export(model, (x,), str(target), dynamo=False, opset_version=17)
        else:
            torch.jit.trace(model, x, strict=False).save(str(target))
    path = directory / "manifest.json"
    path.write_text(json.dumps(raw))
    return path
