"""Each classical detector on synthetic scenes, with and without its event;
look-alikes (sunset, sun, red soil, chimney steam, yellow paint, light
changes) must stay quiet."""
from __future__ import annotations

import pytest

from plugins.ecology.detectors import DumpingChange, DustHaze
from plugins.farmland.detectors import FarmlandChange
from plugins.fire.detectors import FireColour, SmokeMotion
from plugins.geohazard.detectors import ScarChange
from plugins.mining.detectors import Machinery, MiningChange
from tests.detection import scenes as S
from webapp.plugin_api import DetectionContext
from webapp.plugins import build_plugin_host
from webapp.vision import box_iou

SEEDS = [0, 3, 6]


def ctx(**kw):
    return DetectionContext(camera_code="T-01", preset=1, **kw)


@pytest.mark.parametrize("seed", SEEDS)
def test_fire_colour_finds_flames_where_they_are(seed):
    frame, box = S.add_fire(S.base(seed), seed)
    found = FireColour().detect([frame], ctx())
    assert len(found) == 1 and found[0].event_type == "fire" and found[0].detector == "fire_colour"
    assert box_iou(found[0].box, box) > 0.4


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("look_alike", ["plain", "sunset", "red_soil", "machinery", "steam"])
def test_fire_colour_ignores_look_alikes(seed, look_alike):
    frame = {
        "plain": lambda: S.base(seed),
        "sunset": lambda: S.base(seed, sunset=True),
        "red_soil": lambda: S.base(seed, red_soil=True),
        "machinery": lambda: S.add_machinery(S.base(seed), seed)[0],
        "steam": lambda: S.plume_frames(seed, 3, steam=True)[0][-1],
    }[look_alike]()
    assert FireColour().detect([frame], ctx()) == []


def test_fire_colour_respects_masks_and_support_scores_the_box():
    frame, box = S.add_fire(S.base(1), 1)
    x1, y1, x2, y2 = box
    mask = [[(x1 - .02, y1 - .02), (x2 + .02, y1 - .02), (x2 + .02, y2 + .02), (x1 - .02, y2 + .02)]]
    assert FireColour().detect([frame], ctx(masks=mask)) == []
    cue = FireColour()
    assert cue.support(frame, box, "fire") > 0.6
    assert cue.support(frame, (0.05, 0.6, 0.2, 0.8), "fire") < 0.2
    assert cue.support(frame, box, "smoke") is None


@pytest.mark.parametrize("seed", SEEDS)
def test_smoke_motion_needs_a_growing_rising_plume(seed):
    frames, box = S.plume_frames(seed, 5)
    found = SmokeMotion().detect(frames, ctx())
    assert len(found) == 1 and found[0].event_type == "smoke"
    assert box_iou(found[0].box, box) > 0.3
    assert SmokeMotion().detect(frames[-1:], ctx()) == []          # one frame shows no motion
    steam, _ = S.plume_frames(seed, 5, steam=True)
    assert SmokeMotion().detect(steam, ctx()) == []
    assert SmokeMotion().detect([S.base(seed)] * 5, ctx()) == []


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cls", [MiningChange, FarmlandChange, ScarChange, DumpingChange])
def test_reference_change_reports_new_ground_not_new_light(seed, cls):
    ref = S.base(seed)
    changed, box = S.add_bare_patch(ref, seed)
    # The preset comes back a few pixels off, in other light.
    found = cls().detect([S.relight(S.shift_view(changed), 0.9, 1.1)], ctx(reference=ref))
    assert len(found) == 1 and found[0].domain == cls.domain and found[0].event_type == cls.event_type
    assert box_iou(found[0].box, box) > 0.3
    relit = S.relight(S.shift_view(ref), 0.7, 1.3, (1.0, 1.05, 1.15))
    assert cls().detect([relit], ctx(reference=ref)) == []
    assert cls().detect([changed], ctx()) == []                    # no reference, no opinion


def test_reference_change_area_threshold_in_square_metres():
    ref = S.base(2)
    changed, _ = S.add_bare_patch(ref, 2, area=0.02)   # 2% of 640x360 = 4608 px
    det = MiningChange()
    big = det.detect([changed], ctx(reference=ref, ground_scale=0.5))   # 0.25 m² a pixel: ~1150 m²
    assert len(big) == 1 and 600 < big[0].area_m2 < 2000
    assert det.detect([changed], ctx(reference=ref, ground_scale=0.1)) == []   # ~46 m² < 200 m²
    rows = [0.1] * 180 + [0.5] * 180   # per-row scale: the patch lies in the lower half
    assert det.detect([changed], ctx(reference=ref, ground_scale=rows))


@pytest.mark.parametrize("seed", SEEDS)
def test_machinery_new_against_reference_and_confirmed_over_visits(seed):
    ref = S.base(seed)
    with_machine, box = S.add_machinery(ref, seed)
    first = Machinery().detect([S.shift_view(with_machine)], ctx(reference=ref))
    assert {d.domain for d in first} == {"mining", "farmland"}
    assert box_iou(first[0].box, box) > 0.3 and first[0].score == pytest.approx(0.6)
    again = Machinery().detect([S.shift_view(with_machine)], ctx(reference=ref, previous_frames=[with_machine]))
    assert again[0].score == pytest.approx(0.9) and again[0].evidence["seen_last_visit"]
    # Scenery: the machine was already in the reference; a flame is not paint.
    assert Machinery().detect([with_machine], ctx(reference=with_machine)) == []
    fire, _ = S.add_fire(S.base(seed, sunset=True), seed)
    assert Machinery().detect([fire], ctx(reference=S.base(seed, sunset=True))) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_dust_haze_against_reference(seed):
    ref = S.base(seed)
    found = DustHaze().detect([S.add_dust(ref, seed)], ctx(reference=ref))
    assert len(found) == 1 and (found[0].domain, found[0].event_type) == ("ecology", "dust")
    evening = S.relight(S.shift_view(ref), 0.7, 1.3, (0.9, 1.0, 1.15))
    assert DustHaze().detect([evening], ctx(reference=ref)) == []


def test_plugins_register_their_detectors_with_settings():
    host = build_plugin_host(load_entrypoints=True,
                             settings={"NRSC_DETECTORS": {"fire_colour": {"min_score": 0.99}}})
    for name in ("fire_colour", "smoke_motion", "mining_change", "machinery", "farmland_change",
                 "geohazard_scar", "dust_haze", "dumping_change"):
        assert name in host.detectors
    strict = host.detectors["fire_colour"]
    frame, _ = S.add_fire(S.base(0), 0)
    assert strict.params["min_score"] == 0.99 and strict.detect([frame], ctx()) == []
    # Per-preset parameters in the context win over the settings.
    assert strict.detect([frame], ctx(params={"fire_colour.min_score": 0.5}))


def test_corrupt_frames_are_skipped():
    frame, _ = S.add_fire(S.base(0), 0)
    found = FireColour().detect([b"not an image", frame], ctx())
    assert [d.frame_index for d in found] == [1]
