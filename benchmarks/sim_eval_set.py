"""Write labelled folders from the camera simulator for `nrsc eval`.

    python benchmarks/sim_eval_set.py OUT [--cameras 6] [--size 1280x720]

OUT/fire:   positive/ (fire, smoke) + negative/ (nothing, sunset, red soil,
            steam, cloud shadow, lorry, excavator) — image level.
OUT/change: positive/ (landslide, garbage, excavator) + negative/ (nothing,
            sunset, cloud shadow) with references/ (the view without events).
Needs the simulator (branch sim) on the path; prints the counts.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FIRE_POS = ["fire", "smoke"]
FIRE_NEG = [None, "sunset", "red_soil", "steam", "cloud_shadow", "public_truck", "excavator"]
CHANGE_POS = ["landslide", "garbage", "excavator"]
CHANGE_NEG = [None, "sunset", "cloud_shadow"]
SPOTS = [(0.3, 0.7), (0.6, 0.8), (0.5, 0.62)]


def main() -> None:
    from simulator.server import Simulator
    from webapp.geometry import dem as dem_mod
    try:
        from webapp.demo.data import demo_cameras
    except ImportError:
        from webapp.demo.data import demo_cameras
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--cameras", type=int, default=6)
    ap.add_argument("--size", default="1280x720")
    args = ap.parse_args()
    w, h = (int(x) for x in args.size.split("x"))
    specs = [s for s in demo_cameras() if s.code.startswith("T-")][: args.cameras]
    sim = Simulator(cameras=[s.code for s in specs], base_port=None,
                    dem=dem_mod.synthetic_dem(resolution_arcsec=4.0), size=(w, h), specs=demo_cameras())
    t0 = sim.clock.now()
    out = Path(args.out)
    counts: dict[str, int] = {}

    def save(path: Path, rgb: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        counts[str(path.parent.relative_to(out))] = counts.get(str(path.parent.relative_to(out)), 0) + 1

    for code, cam in sim.cameras.items():
        sim.events.clear()
        reference = cam.render(t=t0)
        model = cam.camera_model()
        for set_name, kinds, positive in (("fire", FIRE_POS, True), ("fire", FIRE_NEG, False),
                                          ("change", CHANGE_POS, True), ("change", CHANGE_NEG, False)):
            for kind in kinds:
                for i, (u, v) in enumerate(SPOTS):
                    sim.events.clear()
                    if kind:
                        hit = model.pixel_to_ground(w * u, h * v, sim.world.dem)
                        if hit is None:
                            continue
                        sim.events.add({"kind": kind, "lat": hit[0], "lon": hit[1]}, t0)
                    name = f"{code}_{kind or 'none'}_{i}.jpg"
                    save(out / set_name / ("positive" if positive else "negative") / name,
                         cam.render(t=t0 + 20))
                    if set_name == "change":
                        save(out / set_name / "references" / name, reference)
                    if kind is None:
                        break
    for k, v in sorted(counts.items()):
        print(f"{k}: {v}")


if __name__ == "__main__":
    main()
