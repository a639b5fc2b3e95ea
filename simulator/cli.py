"""``nrsc simulator``: start the simulated cameras and the control API."""
from __future__ import annotations

import signal
import threading
from pathlib import Path

from simulator.server import Simulator, load_scenario, parse_size
from webapp.geometry.dem import DEFAULT_DEM_SEED, ensure_synthetic_dem


def run(cameras: int, base_port: int, user: str, password: str, seed: int, size: str,
        scenario: str | None, dem_path: Path, host: str = "127.0.0.1", echo=print) -> None:
    """Start, print where everything listens, serve until interrupted."""
    if not dem_path.exists():
        echo(f"writing the synthetic DEM to {dem_path} (once; a real DEM can be put there instead)")
    ensure_synthetic_dem(dem_path, DEFAULT_DEM_SEED)
    sim = Simulator(cameras=cameras, base_port=base_port, host=host, user=user, password=password, seed=seed,
                    size=parse_size(size, (1920, 1080)), dem=dem_path)
    if scenario:
        echo(f"scenario {scenario}: {load_scenario(sim, scenario)} events")
    sim.start()
    echo(f"control API  {sim.control_url}/sim/truth")
    for cam in sim.cameras.values():
        echo(f"camera {cam.index:2d} {cam.code}  http://{host}:{cam.port}/onvif/device_service"
             f"{'' if cam.has_ptz else '  (fixed, no PTZ)'}")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    sim.stop()
