"""ModelDetector with tiny models the test builds, for every output layout."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.detection import tiny_models
from webapp.detection.model import Manifest, ModelDetector, ModelError, sha256_file
from webapp.plugin_api import DetectionContext

LAYOUTS = ["yolov5", "yolov8", "end2end", "nanodet"]
CTX = DetectionContext(camera_code="T-01", preset=1)


def scene(red_at=None, blue_at=None, size=(128, 96)):
    """A grey 128x96 frame (wider than tall, so the model letterboxes it),
    with optional 16-pixel red/blue squares at (x, y) of the frame (BGR)."""
    w, h = size
    img = np.full((h, w, 3), 90, np.uint8)
    for at, colour in ((red_at, (0, 0, 255)), (blue_at, (255, 0, 0))):
        if at:
            x, y = at
            img[y:y + 16, x:x + 16] = colour
    return img


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_finds_the_red_square_where_it_is_and_nothing_on_grey(tmp_path, layout, fmt):
    det = ModelDetector.from_manifest(tiny_models.build(tmp_path, layout, fmt), device="cpu")
    frame = scene(red_at=(64, 48), blue_at=(16, 16))
    preds = det.predict(frame)
    assert {p.label for p in preds} == {"fire", "water"}
    fire = max((p for p in preds if p.label == "fire"), key=lambda p: p.score)
    cx, cy = (fire.box[0] + fire.box[2]) / 2, (fire.box[1] + fire.box[3]) / 2
    # The square's centre is (72, 56) of 128x96; a cell is 16 frame pixels here.
    assert abs(cx - 72 / 128) < 16 / 128 and abs(cy - 56 / 96) < 16 / 96
    assert fire.score > 0.5
    # Only mapped classes become detections, with the manifest's domain and event type.
    found = det.detect([frame, scene()], CTX)
    assert found and {(d.domain, d.event_type, d.label, d.frame_index, d.detector) for d in found} == {
        ("fire", "fire", "fire", 0, "tiny")}
    assert det.predict(scene()) == []


def test_masks_drop_detections_inside_them(tmp_path):
    det = ModelDetector.from_manifest(tiny_models.build(tmp_path, "yolov8", "onnx"))
    frame = scene(red_at=(64, 48))
    assert det.detect([frame], CTX)
    masked = DetectionContext(camera_code="T-01", masks=[[(0.4, 0.3), (0.8, 0.3), (0.8, 0.9), (0.4, 0.9)]])
    assert det.detect([frame], masked) == []
    elsewhere = DetectionContext(camera_code="T-01", masks=[[(0, 0), (0.2, 0), (0.2, 0.2), (0, 0.2)]])
    assert det.detect([frame], elsewhere)


def test_threshold_param_and_nms(tmp_path):
    det = ModelDetector.from_manifest(tiny_models.build(tmp_path, "yolov8", "onnx"))
    # A 32-pixel red block covers several cells; their overlapping boxes collapse by NMS.
    img = np.full((64, 64, 3), 90, np.uint8)
    img[16:48, 16:48] = (40, 40, 200)  # scores about 0.63
    loose = det.with_params(iou_threshold=0.9).predict(img)
    assert len([p for p in loose if p.label == "fire"]) == 16  # one box per red cell
    tight = det.with_params(iou_threshold=0.3).predict(img)
    assert 4 <= len([p for p in tight if p.label == "fire"]) < 16
    strict = det.with_params(score_threshold=0.7)
    assert strict.predict(img) == []


@pytest.mark.parametrize("wrong", ["yolov5", "end2end", "nanodet"])
def test_a_file_of_another_layout_is_refused_at_load(tmp_path, wrong):
    path = tiny_models.build(tmp_path, "yolov8", "onnx")
    raw = json.loads(path.read_text())
    raw["output"]["layout"] = wrong
    path.write_text(json.dumps(raw))
    with pytest.raises(ModelError, match=f"do not fit layout {wrong} with 2 classes"):
        ModelDetector.from_manifest(path).load()


def test_wrong_class_count_input_size_and_hash_are_refused(tmp_path):
    path = tiny_models.build(tmp_path, "yolov8", "onnx", classes=["fire", "water", "smoke"],
                             mapping={})
    with pytest.raises(ModelError, match="outputs \\[1x6x64\\] which do not fit layout yolov8 with 3 classes"):
        ModelDetector.from_manifest(path).load()
    path = tiny_models.build(tmp_path / "b", "yolov8", "onnx",
                             input={"width": 96, "height": 96, "channels": "rgb"})
    with pytest.raises(ModelError, match="takes input \\[1, 3, 64, 64\\] but the manifest says 1x3x96x96"):
        ModelDetector.from_manifest(path).load()
    path = tiny_models.build(tmp_path / "c", "yolov8", "onnx")
    raw = json.loads(path.read_text())
    raw["sha256"] = sha256_file(path.parent / raw["file"])
    path.write_text(json.dumps(raw))
    ModelDetector.from_manifest(path).load()  # the right hash loads
    with open(path.parent / raw["file"], "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelError, match="has sha256 .* but its manifest says"):
        ModelDetector.from_manifest(path).load()


def test_bad_manifests_and_missing_files_have_clear_messages(tmp_path):
    with pytest.raises(ModelError, match="layout 'yolov9' is not one of"):
        Manifest.from_dict({"name": "x", "classes": ["a"], "output": {"layout": "yolov9"}})
    with pytest.raises(ModelError, match="mapping names class 'dog'"):
        Manifest.from_dict({"name": "x", "classes": ["a"], "output": {"layout": "yolov8"},
                            "mapping": {"dog": {"domain": "grazing", "event_type": "grazing"}}})
    m = Manifest.from_dict(tiny_models.manifest("yolov8", "onnx"))
    with pytest.raises(ModelError, match="is missing; run `nrsc models install`"):
        ModelDetector(m, tmp_path).load()
    (tmp_path / "tiny.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        ModelDetector(m, tmp_path).load()
    assert Manifest.from_dict(m.to_dict()) == m
