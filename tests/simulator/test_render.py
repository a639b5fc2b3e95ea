"""The rendered world against the shared geometry: terrain depth, look-alikes,
checkpoint plates, scenario files, and the demo's cameras standing on the DEM."""
from __future__ import annotations

import json

import numpy as np
import pytest

from simulator.server import load_scenario
from webapp.demo import data as demo
from webapp.geometry import dem as dem_mod

from .conftest import SIZE


def test_terrain_depth_matches_the_geometry_ray_march(sim):
    """The renderer's column march and CameraModel.pixel_to_ground over the same
    DEM put the ground at the same distance."""
    sim.clock.set(frozen=True)
    cam = sim.cameras["T-02"]
    model = cam.camera_model()
    view = sim.world.render_terrain(model)
    checked = 0
    for fu, fv in [(0.2, 0.6), (0.5, 0.7), (0.8, 0.9), (0.5, 0.98), (0.1, 0.8)]:
        u, v = SIZE[0] * fu, SIZE[1] * fv
        hit = model.pixel_to_ground(u, v, sim.world.dem)
        depth = float(view.depth[min(int(v / view.depth_scale), view.depth.shape[0] - 1),
                                 min(int(u / view.depth_scale), view.depth.shape[1] - 1)])
        if hit is None:
            assert np.isinf(depth)
            continue
        # Coarse depth cell and float16 storage: a few per cent.
        assert depth == pytest.approx(hit[3], rel=0.05), (fu, fv)
        checked += 1
    assert checked >= 3
    # Straight up is sky.
    up = cam.base.at(pan=0, tilt=25, zoom=1)
    assert np.isinf(sim.world.render_terrain(up).depth[0]).all()


def test_sunset_lookalike_tints_the_sky(sim):
    sim.clock.set(frozen=True)
    cam = sim.cameras["T-01"]
    cam.motor.move_to(sim.clock.now(), 0.0, 10.0, 1.0)
    sim.clock.set(advance_s=20)
    plain = cam.render().astype(int)
    sim.events.add({"kind": "sunset"}, sim.clock.now())
    tinted = cam.render().astype(int)
    top = slice(0, SIZE[1] // 4)
    assert (tinted[top, :, 0] - tinted[top, :, 2]).mean() > (plain[top, :, 0] - plain[top, :, 2]).mean() + 40


def test_checkpoint_truck_shows_a_yellow_plate_where_projected(sim):
    sim.clock.set(frozen=True)
    cam = sim.cameras["K-01"]
    lat, lon, _az = cam.road
    model = cam.camera_model()
    sim.events.add({"kind": "truck", "lat": lat, "lon": lon, "heading_deg": model.heading + 180,
                    "plate": "宁C·12345"}, sim.clock.now())
    frame = cam.render()
    h = float(sim.world.dem.sample(lat, lon))
    u, v, front = model.ground_to_pixel(lat, lon, h)
    assert front and 0 <= u < SIZE[0] and 0 <= v < SIZE[1]
    region = frame[max(0, int(v) - 80):int(v), max(0, int(u) - 70):int(u) + 70]
    yellow = (region[..., 0] > 200) & (region[..., 1] > 160) & (region[..., 2] < 80)
    dark = region.sum(axis=2) < 120  # the characters (and tyres)
    assert yellow.sum() > 300 and dark.sum() > 50


def test_scenario_file_sets_clock_and_events(sim, tmp_path):
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps({"clock": {"time": "2026-11-20T02:00:00Z", "frozen": True},
                                "events": [{"kind": "fire", "lat": 37.31, "lon": 106.2},
                                           {"kind": "steam", "lat": 37.32, "lon": 106.21}]}), encoding="utf-8")
    assert load_scenario(sim, path) == 2
    assert sim.clock.datetime().isoformat() == "2026-11-20T02:00:00+00:00"
    truth = sim.truth(with_cameras=False)
    assert [(e["kind"], e["lookalike"]) for e in truth["events"]] == [("fire", False), ("steam", True)]


def test_demo_cameras_stand_on_the_synthetic_dem():
    d = dem_mod.synthetic_dem(resolution_arcsec=3.0, bounds=(37.0, 105.88, 37.6, 106.6))
    for cam in demo.demo_cameras():
        # 3" cells here (the real file is 1": within 0.2 m there).
        assert cam.ground_elevation_m == pytest.approx(float(d.sample(cam.lat, cam.lon)), abs=3.0), cam.code


def test_yaml_scenario(sim, tmp_path):
    pytest.importorskip("yaml")
    path = tmp_path / "scenario.yaml"
    path.write_text("events:\n  - {kind: sheep, lat: 37.31, lon: 106.2, count: 12}\n"
                    "  - {kind: cloud_shadow, lat: 37.3, lon: 106.21}\n", encoding="utf-8")
    assert load_scenario(sim, path) == 2
    kinds = [(e.kind, e.count) for e in sim.events.all()]
    assert kinds == [("sheep", 12), ("cloud_shadow", 0)]


def test_fast_renderer_agrees_with_the_reference_renderer(sim):
    """The vectorised renderer and the first (reference) one find the same ground:
    same sky, same distances, and the same kind of picture (ground colours in the
    same range, sky above)."""
    from simulator.reference import render_reference

    sim.clock.set(frozen=True)
    checked = 0
    for code in ("T-01", "T-02", "K-01"):
        cam = sim.cameras[code]
        for _token, (_name, pan, tilt, zoom) in cam.presets_snapshot()[:2]:
            model = cam.base.at(pan=pan, tilt=tilt, zoom=zoom)
            fast = sim.world._render(model, None)
            ref = render_reference(sim.world, model, None)
            a, b = fast.depth.astype(float), ref.depth.astype(float)
            assert (np.isinf(a) != np.isinf(b)).mean() < 0.005, (code, pan)
            both = np.isfinite(a) & np.isfinite(b)
            rel = np.abs(a[both] - b[both]) / b[both]
            assert np.median(rel) < 0.002 and np.percentile(rel, 95) < 0.02, (code, pan)
            img_a, img_b = fast.image().astype(float), ref.image().astype(float)
            # Textures are seeded differently (noise tables vs hashes): the sky matches
            # pixel for pixel, the ground only in its overall look.
            scale = fast.depth_scale
            sky = np.kron(np.isinf(a) & np.isinf(b), np.ones((int(scale), int(scale)), bool))
            sky = sky[:img_a.shape[0], :img_a.shape[1]]
            if sky.sum() > 1000:
                assert np.abs(img_a[sky] - img_b[sky]).mean() < 6
            assert abs(img_a.mean() - img_b.mean()) < 30
            checked += 1
    assert checked >= 4
    # An all-sky pose and a straight-down pose render without errors, sky/ground as expected.
    cam = sim.cameras["T-01"]
    assert np.isinf(sim.world._render(cam.base.at(pan=0, tilt=60, zoom=1), None).depth).all()
    assert np.isfinite(sim.world._render(cam.base.at(pan=0, tilt=-89, zoom=1), None).depth).all()
