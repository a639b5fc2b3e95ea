"""Camera capture throughput and cost, with the simulator's rendering apart.

    .venv/bin/python benchmarks/bench_cameras.py [--seconds 8] [--cameras 38] [--size 1920x1080]

1. Frames: the simulator renders one frame per camera pose once, in this
   process (its render cost is timed and reported apart); a *separate process*
   then serves those pre-rendered JPEGs on 38 loopback ports with HTTP basic
   auth, so the figures below are the platform's own capture cost.
2. Snapshots through :class:`webapp.cameras.capture.CameraLink` (keep-alive
   session, auth, JPEG check, timestamps): frames/s and CPU ms per frame for
   one camera, then for all cameras together (one thread each, as patrol and
   passage polling do) — beside a baseline in the same run: a bare
   ``requests.get`` loop on the same server.
3. MJPEG stream frames through OpenCV (decode) for one camera.
4. Coverage: viewsheds of the demo's 38 cameras over the synthetic DEM and the
   district's covered share, computation time.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

USER, PASSWORD = "bench", "bench-password"


def serve_frames(frames: list[bytes], count: int, ports_q) -> None:
    """In a child process: camera k serves frames[k % len] as snapshot and MJPEG."""
    import base64
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    token = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    def handler_for(data: bytes):
        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.headers.get("Authorization") != token:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="cam"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path.startswith("/mjpeg"):
                    self.send_response(200)
                    self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=f")
                    self.end_headers()
                    try:
                        while True:
                            self.wfile.write(b"--f\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                             + str(len(data)).encode() + b"\r\n\r\n" + data + b"\r\n")
                            time.sleep(0.04)  # 25 fps source
                    except OSError:
                        return
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
        return H

    ports = []
    for k in range(count):
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(frames[k % len(frames)]))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        ports.append(server.server_address[1])
    ports_q.put(ports)
    threading.Event().wait()


class FakeCam:
    """The attributes CameraLink reads from a Camera row."""

    def __init__(self, k: int, port: int):
        self.id, self.code = k, f"B-{k:02d}"
        self.onvif_host = self.onvif_port = None
        self.onvif_user, self.onvif_password = USER, PASSWORD
        self.snapshot_uri = f"http://127.0.0.1:{port}/snapshot.jpg"
        self.stream_uri = f"http://127.0.0.1:{port}/mjpeg"
        self.fov_table = []


def capture_loop(link, seconds: float, out: list, idx: int) -> None:
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        link.snapshot()
        n += 1
    out[idx] = n


def bare_loop(url: str, seconds: float, out: list, idx: int) -> None:
    import requests
    s = requests.Session()
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        s.get(url, auth=(USER, PASSWORD)).content
        n += 1
    out[idx] = n


def run_threads(target, args_list, seconds: float) -> tuple[int, float, float]:
    out = [0] * len(args_list)
    threads = [threading.Thread(target=target, args=(*a, seconds, out, i)) for i, a in enumerate(args_list)]
    cpu0, t0 = time.process_time(), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(out), time.perf_counter() - t0, time.process_time() - cpu0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--cameras", type=int, default=38)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--skip-coverage", action="store_true")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))

    from simulator.server import Simulator
    from webapp.cameras import capture
    from webapp.geometry import dem as dem_mod

    print(f"host: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    # -- the simulator's render cost, apart -----------------------------------------
    small_dem = dem_mod.synthetic_dem(resolution_arcsec=3.0)
    sim = Simulator(cameras=["T-01", "T-02", "T-03"], base_port=None, user=USER, password=PASSWORD,
                    dem=small_dem, size=(w, h))
    frames, times, firsts = [], [], []
    for cam in sim.cameras.values():
        t0 = time.perf_counter()
        frames.append(cam.jpeg((w, h)))  # first frame of a camera: its set-up included
        firsts.append(time.perf_counter() - t0)
        for _ in range(3):
            cam._jpeg_cache = None  # the simulator caches a still scene's JPEG: force a render
            t0 = time.perf_counter()
            cam.jpeg((w, h))
            times.append(time.perf_counter() - t0)
    times.sort()
    print(f"simulator render+encode {w}x{h}: median {times[len(times) // 2] * 1000:.0f} ms/frame "
          f"(min {times[0] * 1000:.0f}, max {times[-1] * 1000:.0f}); a camera's first frame "
          f"{sum(firsts) / len(firsts):.1f} s (set-up) — reported apart, not in the figures below")
    print(f"pre-rendered JPEG size: median {sorted(map(len, frames))[len(frames) // 2] // 1024} KiB")

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    server = ctx.Process(target=serve_frames, args=(frames, args.cameras, q), daemon=True)
    server.start()
    ports = q.get(timeout=60)
    try:
        links = [capture.CameraLink(FakeCam(k, p)) for k, p in enumerate(ports)]
        urls = [c.snapshot_uri for c in (FakeCam(k, p) for k, p in enumerate(ports))]
        s = args.seconds
        # -- one camera ---------------------------------------------------------------------
        n, wall, cpu = run_threads(bare_loop, [(urls[0],)], s)
        print(f"baseline bare requests.get, 1 camera: {n / wall:.1f} frames/s, CPU {cpu / n * 1000:.2f} ms/frame")
        n1, wall1, cpu1 = run_threads(capture_loop, [(links[0],)], s)
        print(f"CameraLink.snapshot, 1 camera:       {n1 / wall1:.1f} frames/s, CPU {cpu1 / n1 * 1000:.2f} ms/frame")
        # -- all cameras together -------------------------------------------------------------
        nb, wallb, cpub = run_threads(bare_loop, [(u,) for u in urls], s)
        print(f"baseline bare requests.get, {len(urls)} cameras: {nb / wallb:.1f} frames/s total")
        nn, walln, cpun = run_threads(capture_loop, [(lk,) for lk in links], s)
        print(f"CameraLink.snapshot, {len(links)} cameras together: {nn / walln:.1f} frames/s total, "
              f"{nn / walln / len(links):.2f} frames/s per camera, CPU {cpun / walln / len(links) * 100:.1f}% "
              f"of a core per camera ({cpun / nn * 1000:.2f} ms/frame)")
        # Patrol's real need: a 3-frame burst per stop every ~20 s per camera.
        need = len(links) * 3 / 20.0
        print(f"patrol needs ~{need:.1f} frames/s for {len(links)} cameras (3-frame burst per 20 s stop): "
              f"headroom x{nn / walln / need:.0f}")
        # -- stream ------------------------------------------------------------------------------
        reader = links[0].stream()
        reader.read()
        cpu0, t0, k = time.process_time(), time.perf_counter(), 0
        while time.perf_counter() - t0 < s:
            reader.read_array()
            k += 1
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        print(f"MJPEG stream via OpenCV, 1 camera: {k / wall:.1f} frames/s (source 25), CPU {cpu / k * 1000:.1f} ms/frame decode")
        reader.close()
    finally:
        server.terminate()

    # -- coverage ------------------------------------------------------------------------------
    if not args.skip_coverage:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["NRSC_DATA_DIR"] = tmp
            from webapp import create_app
            from webapp.platform import dbtools
            app = create_app({"NRSC_DATA_DIR": tmp}, load_entrypoints=True)
            with app.app_context():
                dbtools.upgrade()
                from webapp.demo.data import load_demo
                load_demo(history=False)
                from webapp.cameras import coverage
                t0 = time.perf_counter()
                coverage.load_dem()
                dem_s = time.perf_counter() - t0
                for profile in coverage.profiles():
                    r = coverage.compute(profile, use_cache=False)
                    print(f"coverage '{profile}' ({r.range_m / 1000:.1f} km): {r.share * 100:.1f}% of "
                          f"{r.district_km2:.0f} km², computed in {r.seconds:.2f} s (DEM load/write {dem_s:.1f} s once)")


if __name__ == "__main__":
    main()
