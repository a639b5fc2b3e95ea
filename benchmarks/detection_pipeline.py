"""The detection pipeline's throughput for the demo's 38 cameras, and the
time from a frame to its alert — with the learned models (when installed in
var/models, or NRSC_MODELS_DIR) against a baseline of the classical
detectors alone. With models, two runs: "before" (the learned models on every
frame of the burst, onnxruntime's default thread pool) and "after" (on the
burst's key frame only, one intra-op thread; ``--skip-before`` leaves the
first out).

    .venv/bin/python benchmarks/detection_pipeline.py [--size 1920x1080] [--rounds 2] [--workers 1]
                                                      [--cadence-seconds 30]

1. Frames: the simulator renders each camera's first preset once (its cost is
   reported apart, so the figures are the pipeline's), a fire placed in the
   view of every fourth camera.
2. Throughput: ``rounds`` × 38 stops of 3 frames each go through the real
   pipeline (decode, the preset's detectors, masks, thresholds, confirmation,
   geolocation over the DEM, intake with GIS context and prejudgement,
   evidence) on a SQLite database with the demo loaded, back to back:
   frames per second, beside the demand of 38 cameras patrolling (a stop per
   camera per dwell, 20 s by default).
3. Cadence: stops arrive as patrol makes them for ``cadence-seconds``: stops
   dropped (bounded queue) and frame-to-alert latency (the stop's capture to
   the alert committed), p50 and p95.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402


def _jpeg(rgb) -> bytes:
    return cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


def render_frames(size: tuple[int, int], dem):
    """Per camera: the preset patrolled (the first watching fire, else the
    first), its reference image (no event) and a burst of three frames."""
    from simulator.server import Simulator
    sim = Simulator(cameras=38, base_port=None, dem=dem, size=size)
    frames: dict[str, list[bytes]] = {}
    references: dict[str, bytes] = {}
    chosen: dict[str, int] = {}
    with_fire: set[str] = set()
    spent = 0.0
    t0 = sim.clock.now()
    for k, (code, cam) in enumerate(sim.cameras.items()):
        preset = next((p for p in cam.spec.presets if "fire" in p.domains), cam.spec.presets[0])
        chosen[code] = preset.number
        cam.motor.move_to(t0 - 100, preset.pan_deg, preset.tilt_deg, preset.zoom)
        sim.events.clear()
        started = time.perf_counter()
        references[code] = _jpeg(cam.render(t=t0))  # terrain rendered here, then cached for the pose
        spent += time.perf_counter() - started
        if k % 4 == 0 and "fire" in preset.domains:
            model = cam.base.at(pan=preset.pan_deg, tilt=preset.tilt_deg, zoom=preset.zoom)
            hit = model.pixel_to_ground(model.width * 0.45, model.height * 0.75, dem)
            if hit is not None:
                sim.events.add({"kind": "fire", "lat": hit[0], "lon": hit[1], "width_m": 25, "height_m": 12}, t0)
                with_fire.add(code)
        burst = []
        for i in range(3):
            started = time.perf_counter()
            rgb = cam.render(t=t0 + 30 + 0.2 * i)
            spent += time.perf_counter() - started
            burst.append(_jpeg(rgb))
        frames[code] = burst
    return frames, references, chosen, spent / (4 * len(frames)), with_fire


def build_app(tmp: Path, models_dir: str | None, dem, workers: int, queue_size: int, *,
              learned_frames: str = "key", model_threads: int = 1):
    from webapp import create_app
    from webapp.platform import dbtools
    settings = {"models_dir": models_dir} if models_dir else {"models_dir": str(tmp / "no-models")}
    settings["model_threads"] = model_threads
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}", "NRSC_DATA_DIR": str(tmp / "data"),
                      "SECRET_KEY": "bench", "NRSC_TASKS_EAGER": True, "NRSC_DETECTION_ENABLED": True,
                      "NRSC_DETECTORS": settings, "NRSC_ALERT_CLIP_SECONDS": 0, "NRSC_PATROL_ENABLED": False,
                      "NRSC_DETECTION_WORKERS": workers, "NRSC_DETECTION_QUEUE": queue_size,
                      "NRSC_DETECTION_MAX_AGE_S": 0, "NRSC_DETECTION_LEARNED_FRAMES": learned_frames},
                     load_entrypoints=True)
    app.extensions["nrsc.dem"] = dem
    with app.app_context():
        dbtools.upgrade()
        from webapp.demo.data import load_demo
        load_demo(history=False)
    return app


def run(label: str, app, frames: dict[str, list[bytes]], references: dict[str, bytes], chosen: dict[str, int],
        rounds: int, cadence_s: float, dwell_s: float, with_fire: set[str]) -> dict:
    from sqlalchemy import select

    from webapp.detection import pipeline
    from webapp.extensions import db
    from webapp.models import Alert, Camera, PatrolVisit
    from webapp.platform import clock

    with app.app_context():
        from webapp.alerts import evidence
        cams = {c.code: c for c in db.session.scalars(select(Camera)) if c.code in frames}
        presets = {}
        for code, c in cams.items():
            preset = next((p for p in c.presets if p.number == chosen[code]), None)
            if preset is None:
                continue
            preset.reference_sha256 = evidence.store_image(references[code], f"{code}-ref.jpg", kind="reference").sha256
            presets[code] = (c.id, preset.number)
        db.session.commit()
        host = app.extensions["nrsc.plugins"]
        learned = sorted(n for n, d in host.detectors.items() if hasattr(d, "manifest"))

        def stop(code):
            cid, number = presets[code]
            now = clock.now()
            v = PatrolVisit(camera_id=cid, preset_number=number, started_at=now, frames_at=now, status="ok",
                            frame_count=3)
            db.session.add(v)
            db.session.commit()
            return pipeline.StopJob(cid, number, v.id, frames[code], [now] * 3)

        p = pipeline.pipeline_for(app)
        # Warm up (model sessions, DEM, GIS index) outside the timing.
        p.process(stop(next(iter(presets))))
        jobs = [stop(code) for _ in range(rounds) for code in presets]
        # Back to back: a queue that holds them all, so none is dropped.
        bulk = pipeline.DetectionPipeline(app, queue_size=len(jobs) + 1, workers=p.workers)
        bulk._scales = p._scales
        started = time.perf_counter()
        for job in jobs:
            job.queued_at = time.monotonic()
            bulk.submit(job)
        bulk.join(3600)
        wall = time.perf_counter() - started
        bulk.stop()
        assert not bulk.stats.get("dropped"), bulk.stats
        for name, seconds in bulk.detector_seconds.items():
            p.detector_seconds[name] += seconds
            p.detector_frames[name] += bulk.detector_frames[name]
        n_frames = 3 * len(jobs)
        fps = n_frames / wall
        demand = 3 * len(presets) / dwell_s

        # Cadence: a stop per camera per dwell, spread evenly.
        p.stats.clear()
        p.latencies.clear()
        p.process_seconds.clear()
        p.alert_latencies.clear()
        before = len(db.session.scalars(select(Alert)).all())
        interval = dwell_s / len(presets)
        codes = list(presets)
        submitted = 0
        t_end = time.monotonic() + cadence_s
        pending: list = []
        while time.monotonic() < t_end:
            job = stop(codes[submitted % len(codes)])
            job.queued_at = time.monotonic()
            p.submit(job)
            pending.append((job, codes[submitted % len(codes)] in with_fire))
            submitted += 1
            time.sleep(max(0.0, interval - 0.002))
        p.join(600)
        alert_latency = list(p.alert_latencies)  # raised or joined an alert
        after = len(db.session.scalars(select(Alert)).all())
        dropped = p.stats.get("dropped", 0)
        lat = sorted(p.latencies)
        proc = sorted(p.process_seconds)
        print(f"  [{label}] cadence: {dict(p.stats)}; processing per stop p50 {proc[len(proc) // 2]:.2f} s, "
              f"max {proc[-1]:.2f} s", flush=True)
        return {"label": label, "learned": learned, "fps": fps, "demand": demand, "wall": wall,
                "stops": len(jobs), "submitted": submitted, "dropped": dropped,
                "latency_p50": lat[len(lat) // 2] if lat else float("nan"),
                "latency_p95": lat[int(len(lat) * 0.95)] if lat else float("nan"),
                "alerts": p.stats.get("alerts", 0), "new_alerts": after - before, "alert_latency": alert_latency,
                "per_detector_ms": {k: 1000 * v / max(1, p.detector_frames[k])
                                    for k, v in sorted(p.detector_seconds.items())}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--queue", type=int, default=8)
    ap.add_argument("--dwell", type=float, default=20.0, help="seconds per stop of the demo's tours")
    ap.add_argument("--cadence-seconds", type=float, default=30.0)
    ap.add_argument("--models-dir", default=os.environ.get("NRSC_MODELS_DIR") or str(Path.cwd() / "var" / "models"))
    ap.add_argument("--skip-before", action="store_true", help="leave out the learned-on-every-frame run")
    args = ap.parse_args()
    if os.environ.get("DATABASE_URL"):
        raise SystemExit("the benchmark builds its own SQLite database; unset DATABASE_URL")
    w, h = (int(x) for x in args.size.split("x"))
    from webapp.geometry import dem as dem_mod
    from webapp.platform import clock
    clock.set_clock(None)
    print(f"machine: {os.cpu_count()} CPUs; frames {w}x{h}; {args.workers} detection worker(s); queue {args.queue}")
    dem = dem_mod.synthetic_dem(resolution_arcsec=3.0)
    frames, references, chosen, render_s, with_fire = render_frames((w, h), dem)
    print(f"simulator render (apart, not in the figures): {1000 * render_s:.0f} ms per frame; "
          f"{len(frames)} cameras, fire in view of {len(with_fire)}")
    results = []
    have_models = Path(args.models_dir).is_dir() and any(Path(args.models_dir).glob("*/manifest.json"))
    # "before": the learned models on every frame of the burst, onnxruntime's
    # default thread pool; "after": on the burst's key frame, one thread each.
    runs = [("classical only (baseline)", None, "key", 1)] + (
        [("learned, every frame (before)", args.models_dir, "all", 0),
         ("learned, key frame (after)", args.models_dir, "key", 1)] if have_models else [])
    if args.skip_before:
        runs = [r for r in runs if "before" not in r[0]]
    for label, models, learned_frames, threads in runs:
        tmp = Path(tempfile.mkdtemp(prefix="bench-detect-"))
        app = build_app(tmp, models, dem, args.workers, args.queue, learned_frames=learned_frames,
                        model_threads=threads)
        r = run(label, app, frames, references, chosen, args.rounds, args.cadence_seconds, args.dwell, with_fire)
        results.append(r)
        from webapp.detection import pipeline
        pipeline.pipeline_for(app).stop()
    if not have_models:
        print(f"(no learned models under {args.models_dir}: run `nrsc models install` for the learned figures)")
    print()
    print(f"{'run':<34} {'frames/s':>9} {'38-camera demand':>17} {'keeps up':>9} {'stops':>6} "
          f"{'dropped':>8} {'stop latency p50/p95 s':>24} {'frame→alert p50 s':>18}")
    for r in results:
        fa = statistics.median(r["alert_latency"]) if r["alert_latency"] else float("nan")
        r["label"] += f" ({r['alerts']} alert sightings)"
        print(f"{r['label']:<34} {r['fps']:9.2f} {r['demand']:17.2f} {('yes' if r['fps'] >= r['demand'] else 'NO'):>9} "
              f"{r['submitted']:6d} {r['dropped']:8d} {r['latency_p50']:11.2f} / {r['latency_p95']:<10.2f} {fa:18.2f}")
    for r in results:
        print(f"  {r['label']}: learned models {', '.join(r['learned']) or 'none'}; ms per frame by detector "
              "(where it ran; fused per domain, so a learned model's box may also be checked by the cues): "
              + ", ".join(f"{k} {v:.0f}" for k, v in r["per_detector_ms"].items()))
    print(f"\n(run at {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)")


if __name__ == "__main__":
    main()
