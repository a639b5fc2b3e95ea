"""A simulator serving three demo cameras on free loopback ports, over a coarse
in-memory synthetic DEM, at 640×360 so frames are cheap."""
from __future__ import annotations

import json
import urllib.request

import pytest

from simulator.server import Simulator
from webapp.geometry import dem as dem_mod

USER, PASSWORD = "demo", "sim-test-password"
SIZE = (640, 360)


@pytest.fixture(scope="session")
def small_dem():
    return dem_mod.synthetic_dem(resolution_arcsec=4.0)


@pytest.fixture(scope="module")
def sim(small_dem):
    s = Simulator(cameras=["T-01", "T-02", "K-01"], base_port=None, user=USER, password=PASSWORD,
                  dem=small_dem, size=SIZE).start()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def _reset(request):
    """Each test starts with no events, no faults and the wall clock."""
    if "sim" in request.fixturenames:
        s = request.getfixturevalue("sim")
        yield
        s.events.clear()
        for cam in s.cameras.values():
            cam.clear_fault()
        s.clock.set(frozen=False)
    else:
        yield


def control(sim, method: str, path: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(sim.control_url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
