"""A deliberately simple detector: the blue colour-steel roofs (蓝色彩钢瓦) that
new sheds and illegal extensions around Hongsipu are usually covered with.

A pure function of pixels and parameters: frames are H×W×3 uint8 arrays in
BGR order, as OpenCV decodes them.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from webapp.plugin_api import Detection, DetectionContext

DEFAULTS = {
    "min_fraction": 0.02,   # share of the frame that must be roof-blue
    "min_blue": 120,        # the blue channel of a sunlit steel roof
    "margin": 40,           # how much bluer than red and green it must be
}


def roof_mask(frame: np.ndarray, *, min_blue: int, margin: int) -> np.ndarray:
    """True where a pixel looks like blue colour-steel sheet."""
    pixels = frame.astype(np.int16)
    blue, green, red = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return (blue >= min_blue) & (blue - red >= margin) & (blue - green >= margin // 2)


def blue_roof(frames: Sequence[Any], context: DetectionContext, *, min_fraction: float,
              min_blue: int, margin: int, **_: Any) -> list[Detection]:
    """One detection per frame where enough roof-blue is seen, boxed around it."""
    found = []
    for index, frame in enumerate(frames):
        image = np.asarray(frame)
        if image.ndim != 3 or image.shape[2] < 3 or image.size == 0:
            continue
        mask = roof_mask(image[..., :3], min_blue=min_blue, margin=margin)
        fraction = float(mask.mean())
        if fraction < min_fraction:
            continue
        rows, cols = np.nonzero(mask)
        height, width = mask.shape
        box = (cols.min() / width, rows.min() / height, (cols.max() + 1) / width, (rows.max() + 1) / height)
        found.append(Detection(
            domain="illegal_construction", event_type="steel_shed", label="blue_roof",
            score=round(min(1.0, fraction / (4 * min_fraction)), 3),
            box=tuple(round(float(v), 4) for v in box), frame_index=index))
    return found
