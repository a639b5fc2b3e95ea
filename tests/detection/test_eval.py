"""nrsc eval on small generated sets, both folder layouts, through the CLI."""
from __future__ import annotations

import cv2
import pytest
from click.testing import CliRunner

from tests.detection import scenes as S
from webapp.cli import main
from webapp.detection import evaluate


def _write(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95])


@pytest.fixture(scope="module")
def image_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("imageset")
    for s in range(4):
        _write(root / "positive" / f"fire{s}.jpg", S.add_fire(S.base(s), s)[0])
        _write(root / "negative" / f"plain{s}.jpg", S.base(s + 10))
        _write(root / "negative" / f"sunset{s}.jpg", S.base(s + 20, sunset=True))
    _write(root / "negative" / "broken.jpg", S.base(0))
    (root / "negative" / "broken.jpg").write_bytes(b"garbage")
    return root


@pytest.fixture(scope="module")
def box_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("boxset")
    for s in range(4):
        image, (x1, y1, x2, y2) = S.add_fire(S.base(s), s)
        _write(root / "images" / f"f{s}.jpg", image)
        (root / "labels").mkdir(exist_ok=True)
        (root / "labels" / f"f{s}.txt").write_text(
            f"0 {(x1 + x2) / 2:.5f} {(y1 + y2) / 2:.5f} {x2 - x1:.5f} {y2 - y1:.5f}\n")
        _write(root / "images" / f"n{s}.jpg", S.base(s + 30, red_soil=bool(s % 2)))
    return root


def test_eval_image_level_via_cli(image_set):
    result = CliRunner().invoke(main, ["eval", str(image_set), "--detector", "fire_colour", "--sweep"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "detector fire_colour: 13 images (image labels), 1 unreadable skipped" in out
    assert "precision 1.000  recall 1.000  F1 1.000" in out
    assert "ms per frame" in out and "threshold  precision  recall  F1" in out
    # At a threshold no flame reaches, recall collapses.
    high = CliRunner().invoke(main, ["eval", str(image_set), "--detector", "fire_colour", "--threshold", "0.999"])
    assert "recall 0.000" in high.output


def test_eval_boxes_gives_map(box_set):
    report = evaluate.run(box_set, evaluate.resolve("fire_colour"), progress=False)
    p, r, f1 = report.at(0.5)
    assert (report.kind, report.truths) == ("boxes", 4)
    assert r == 1.0 and p == 1.0 and report.average_precision() == pytest.approx(1.0)
    assert "mAP@0.5 1.000" in report.text()


def test_eval_domain_uses_deployed_detectors_and_bad_input_is_clear(image_set, tmp_path):
    # The weights-free deployment only: models installed on this machine stay out of it.
    det = evaluate.resolve("fire", {"models_dir": str(tmp_path / "no-models")})
    assert det.name == "fire" and {d.name for d in det.classical} >= {"fire_colour", "smoke_motion"}
    report = evaluate.run(image_set, det, progress=False)
    assert report.at(0.5)[2] == 1.0
    result = CliRunner().invoke(main, ["eval", str(tmp_path), "--detector", "fire"])
    assert result.exit_code != 0 and "neither positive/ + negative/ nor images/ + labels/" in result.output
    result = CliRunner().invoke(main, ["eval", str(image_set), "--detector", "nope"])
    assert "no detector or domain named 'nope'" in result.output


def test_eval_uses_reference_images(tmp_path):
    for s in range(2):
        ref = S.base(s)
        _write(tmp_path / "positive" / f"p{s}.jpg", S.add_bare_patch(ref, s)[0])
        _write(tmp_path / "references" / f"p{s}.jpg", ref)
        _write(tmp_path / "negative" / f"n{s}.jpg", S.relight(ref, 0.8, 1.2))
        _write(tmp_path / "references" / f"n{s}.jpg", ref)
    report = evaluate.run(tmp_path, evaluate.resolve("mining_change"), progress=False)
    assert report.at(0.5) == (1.0, 1.0, 1.0)
