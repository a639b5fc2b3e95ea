"""Start the project's camera simulator next to the platform (``nrsc run``),
for the demo: only when the configured cameras point at the simulator's
loopback ports and nothing listens there yet."""
from __future__ import annotations

import socket
import time
from typing import Any, Callable

from flask import Flask
from sqlalchemy import select

from webapp.extensions import db

# The simulator renders on the same cores as the platform, and a camera's first
# frame (terrain set-up) takes seconds: the worker's captures get more time.
CHILD_SETTINGS = {"NRSC_CAMERA_TIMEOUT_S": "30"}


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) != 0


def wanted(app: Flask, echo: Callable[[str], Any] = print, wait_s: float = 20.0) -> bool:
    """Auto mode: cameras on 127.0.0.1 at the demo's ports, and those ports free.
    A previous run still stopping holds them for a few seconds: wait for them
    (up to ``wait_s``) rather than start without the simulator, and say so when
    something else keeps them (the cameras will then show offline)."""
    from webapp.demo.data import ONVIF_BASE_PORT
    from webapp.models import Camera
    with app.app_context():
        ports = list(db.session.scalars(select(Camera.onvif_port).where(
            Camera.active.is_(True), Camera.onvif_host == "127.0.0.1")))
    demo_ports = [p for p in ports if p and ONVIF_BASE_PORT < p <= ONVIF_BASE_PORT + 38]
    if not demo_ports:
        return False
    probe = (ONVIF_BASE_PORT, demo_ports[0])
    deadline = time.monotonic() + wait_s
    told = False
    while not all(_port_free("127.0.0.1", port) for port in probe):
        if time.monotonic() >= deadline:
            echo(f"camera simulator not started: 127.0.0.1:{ONVIF_BASE_PORT}… is in use by another program "
                 "(another simulator?); cameras nothing answers for will show offline")
            return False
        if not told:
            echo(f"waiting for 127.0.0.1:{ONVIF_BASE_PORT}… to be free (a previous run stopping?)")
            told = True
        time.sleep(0.5)
    return True


def start(app: Flask, echo: Callable[[str], Any] = print) -> Any:
    """Start the demo's 38 simulated cameras; returns the Simulator (call ``stop()``)."""
    from simulator.server import Simulator, parse_size
    from webapp.demo.data import ONVIF_BASE_PORT, ONVIF_PASSWORD, ONVIF_USER
    from webapp.geometry.dem import DEFAULT_DEM_SEED, ensure_synthetic_dem
    path = app.config["NRSC_DEM_PATH"]
    if not path.exists():
        echo(f"writing the synthetic DEM to {path} (once)")
    ensure_synthetic_dem(path, DEFAULT_DEM_SEED)
    size = parse_size(app.config.get("NRSC_SIM_SIZE") or "1280x720", (1280, 720))
    sim = Simulator(cameras=38, base_port=ONVIF_BASE_PORT, user=ONVIF_USER, password=ONVIF_PASSWORD,
                    dem=path, size=size).start()
    echo(f"camera simulator: 38 cameras on 127.0.0.1:{ONVIF_BASE_PORT + 1}…{ONVIF_BASE_PORT + 38}, "
         f"control API {sim.control_url}/sim/truth")
    return sim
