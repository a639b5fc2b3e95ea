"""`nrsc simulator` as a user starts it: camera k on P+k, control API on P."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from onvif import ONVIFCamera

from simulator.server import free_base_port
from webapp.geometry import dem as dem_mod

ROOT = Path(__file__).resolve().parents[2]


def test_cli_serves_demo_cameras_on_base_port_plus_k(tmp_path):
    dem_path = dem_mod.write_synthetic_dem(tmp_path / "dem.tif", resolution_arcsec=12.0, margin_m=2000.0)
    base = free_base_port(2)
    env = dict(os.environ, NRSC_DATA_DIR=str(tmp_path), NRSC_DEM_PATH=str(dem_path),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "webapp.cli", "simulator", "--cameras", "2", "--base-port",
                             str(base), "--user", "u1", "--password", "p1", "--size", "320x180"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{base}/sim/cameras", timeout=2) as resp:
                    cameras = json.loads(resp.read())["cameras"]
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "simulator did not start"
                time.sleep(0.3)
        assert [(c["code"], c["port"]) for c in cameras] == [("T-01", base + 1), ("T-02", base + 2)]
        cam = ONVIFCamera("127.0.0.1", base + 2, "u1", "p1")
        assert cam.devicemgmt.GetDeviceInformation().HardwareId == "T-02"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert f"camera  1 T-01  http://127.0.0.1:{base + 1}/onvif/device_service" in out
