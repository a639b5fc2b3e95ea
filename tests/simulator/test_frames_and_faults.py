"""Snapshots, MJPEG, events drawn where the geometry says, truth, and faults."""
from __future__ import annotations

import io
import socket
import time

import numpy as np
import pytest
import requests
import urllib3
from onvif import ONVIFCamera
from onvif.exceptions import ONVIFError
from PIL import Image
from requests.auth import HTTPBasicAuth, HTTPDigestAuth

from .conftest import PASSWORD, SIZE, USER, control

DIGEST = HTTPDigestAuth(USER, PASSWORD)


def snap_url(sim, code, size=None):
    url = f"http://127.0.0.1:{sim.cameras[code].port}/snapshot.jpg"
    return url + (f"?size={size}" if size else "")


def snapshot(sim, code, **kw) -> np.ndarray:
    r = requests.get(snap_url(sim, code), auth=DIGEST, timeout=20, **kw)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg"
    return np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")).astype(np.int16)


def test_snapshot_decodes_at_the_requested_size_with_digest_or_basic(sim):
    img = snapshot(sim, "T-01")
    assert img.shape == (SIZE[1], SIZE[0], 3)
    r = requests.get(snap_url(sim, "T-01", "320x180"), auth=HTTPBasicAuth(USER, PASSWORD), timeout=20)
    assert Image.open(io.BytesIO(r.content)).size == (320, 180)
    # Sky above, ground below: a rendered world, not a blank.
    assert img[:, :, 2].std() > 5
    assert requests.get(snap_url(sim, "T-01"), timeout=5).status_code == 401
    assert requests.get(snap_url(sim, "T-01"), auth=HTTPDigestAuth(USER, "nope"), timeout=5).status_code == 401
    assert requests.get(snap_url(sim, "T-01", "9x9"), auth=DIGEST, timeout=5).status_code == 400


def test_mjpeg_stream_yields_frames(sim):
    url = f"http://127.0.0.1:{sim.cameras['K-01'].port}/stream.mjpg?fps=10&frames=3"
    with requests.get(url, auth=DIGEST, stream=True, timeout=20) as r:
        assert r.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        body = r.raw.read()
    frames = [part for part in body.split(b"--nrscframe") if b"image/jpeg" in part]
    assert len(frames) == 3
    jpeg = frames[0].split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n")
    assert Image.open(io.BytesIO(jpeg)).size == SIZE


def test_event_appears_in_truth_and_in_the_pixels_the_geometry_predicts(sim):
    sim.clock.set(frozen=True)
    cam = sim.cameras["T-01"]
    model = cam.camera_model()
    hit = model.pixel_to_ground(SIZE[0] * 0.3, SIZE[1] * 0.7, sim.world.dem)
    assert hit is not None
    lat, lon, _h, dist = hit
    before = snapshot(sim, "T-01")
    status, created = control(sim, "POST", "/sim/events",
                              {"kind": "excavator", "lat": lat, "lon": lon, "width_m": 12, "height_m": 5})
    assert status == 201
    status, truth = control(sim, "GET", "/sim/truth")
    event = next(e for e in truth["events"] if e["id"] == created["ids"][0])
    assert event["kind"] == "excavator" and event["lookalike"] is False
    assert event["state"]["lat"] == pytest.approx(lat) and event["extent_m"] == {"width": 12.0, "height": 5.0}
    seen = {s["camera"]: s for s in event["seen_by"]}
    assert seen["T-01"]["u"] == pytest.approx(SIZE[0] * 0.3, abs=0.05)
    assert seen["T-01"]["v"] == pytest.approx(SIZE[1] * 0.7, abs=0.05)
    assert seen["T-01"]["occluded"] is False
    after = snapshot(sim, "T-01")
    diff = np.abs(after - before).sum(axis=2)
    u, v = int(SIZE[0] * 0.3), int(SIZE[1] * 0.7)
    # The machine stands on that ground point: pixels just above it changed...
    near = diff[max(0, v - 12):v + 2, max(0, u - 12):u + 12]
    assert (near > 60).mean() > 0.2, near.max()
    # ...and the far corner did not (re-encoding noise aside: a few levels summed over RGB).
    assert diff[:40, -60:].mean() < 12 and (diff[:40, -60:] > 60).mean() < 0.01
    # Yellow machinery.
    patch = after[max(0, v - 12):v, u - 8:u + 8]
    assert ((patch[..., 0] > 170) & (patch[..., 1] > 120) & (patch[..., 2] < 90)).any()
    status, _ = control(sim, "DELETE", f"/sim/events/{created['ids'][0]}")
    assert status == 200 and control(sim, "GET", "/sim/truth")[1]["events"] == []


def test_bad_events_are_refused_whole(sim):
    status, body = control(sim, "POST", "/sim/events", [{"kind": "fire", "lat": 37.3, "lon": 106.2},
                                                        {"kind": "ufo", "lat": 37.3, "lon": 106.2}])
    assert status == 400 and "kind must be one of" in body["error"]
    assert control(sim, "POST", "/sim/events", {"kind": "smoke"})[0] == 400
    assert sim.events.all() == []


def test_moving_truck_and_clock(sim):
    sim.clock.set(when=1_800_000_000.0, frozen=True)
    status, created = control(sim, "POST", "/sim/events", {"kind": "public_truck", "lat": 37.3, "lon": 106.2,
                                                           "heading_deg": 90, "speed_m_s": 10})
    ev = created["events"][0]
    assert ev["lookalike"] is True and ev["plate"].startswith("宁C·")
    control(sim, "POST", "/sim/clock", {"advance_s": 60})
    state = next(e for e in control(sim, "GET", "/sim/truth?cameras=0")[1]["events"])["state"]
    assert state["lon"] > 106.2 and state["age_s"] == pytest.approx(60)
    from webapp.geometry.ptz import haversine_m
    assert haversine_m(37.3, 106.2, state["lat"], state["lon"]) == pytest.approx(600, rel=0.01)


def connect(sim, code, password=PASSWORD):
    return ONVIFCamera("127.0.0.1", sim.cameras[code].port, USER, password)


def test_fault_offline_refuses_connections_and_recovers(sim):
    port = sim.cameras["T-02"].port
    assert control(sim, "POST", "/sim/faults", {"camera": "T-02", "fault": "offline"})[0] == 200
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    control(sim, "POST", "/sim/faults/clear", {"camera": "T-02"})
    assert connect(sim, "T-02").devicemgmt.GetDeviceInformation().HardwareId == "T-02"
    assert sim.cameras["T-02"].port == port


def test_fault_slow_and_stall(sim):
    control(sim, "POST", "/sim/faults", {"camera": "T-02", "fault": "slow", "delay_s": 0.6})
    started = time.monotonic()
    snapshot(sim, "T-02")
    assert time.monotonic() - started >= 0.6
    control(sim, "POST", "/sim/faults/clear", {"camera": "T-02", "fault": "slow"})
    control(sim, "POST", "/sim/faults", {"camera": "T-02", "fault": "stall", "after_bytes": 100})
    r = requests.get(snap_url(sim, "T-02"), auth=DIGEST, timeout=1.0, stream=True)
    assert r.status_code == 200  # headers came...
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        r.raw.read(1_000_000)  # ...but the body stops after 100 bytes
    # The other cameras are unaffected while T-02 stalls.
    started = time.monotonic()
    snapshot(sim, "T-01")
    assert time.monotonic() - started < 5
    control(sim, "POST", "/sim/faults/clear", {"camera": "T-02"})


def test_fault_stuck_ptz_and_frozen_frame(sim):
    sim.clock.set(frozen=True)
    camera = sim.cameras["T-01"]
    service = connect(sim, "T-01").create_ptz_service()
    control(sim, "POST", "/sim/faults", {"camera": "T-01", "fault": "stuck_ptz"})
    before = camera.pose()
    service.GotoPreset({"ProfileToken": "Profile_1", "PresetToken": "3"})
    sim.clock.set(advance_s=30)
    assert camera.pose() == before  # accepted, ignored
    control(sim, "POST", "/sim/faults/clear", {"camera": "T-01"})

    control(sim, "POST", "/sim/faults", {"camera": "T-01", "fault": "frozen_frame"})
    first = requests.get(snap_url(sim, "T-01"), auth=DIGEST, timeout=20).content
    service.GotoPreset({"ProfileToken": "Profile_1", "PresetToken": "3"})
    sim.clock.set(advance_s=30)
    assert camera.pose() != before
    assert requests.get(snap_url(sim, "T-01"), auth=DIGEST, timeout=20).content == first
    control(sim, "POST", "/sim/faults/clear", {"camera": "T-01"})
    assert requests.get(snap_url(sim, "T-01"), auth=DIGEST, timeout=20).content != first


def test_fault_wrong_credentials_and_garbage(sim):
    control(sim, "POST", "/sim/faults", {"camera": "K-01", "fault": "wrong_credentials"})
    with pytest.raises(ONVIFError, match="not Authorized"):
        connect(sim, "K-01")
    assert requests.get(snap_url(sim, "K-01"), auth=DIGEST, timeout=5).status_code == 401
    control(sim, "POST", "/sim/faults/clear", {"camera": "K-01"})
    control(sim, "POST", "/sim/faults", {"camera": "K-01", "fault": "garbage"})
    with pytest.raises(ONVIFError):
        connect(sim, "K-01")
    r = requests.get(snap_url(sim, "K-01"), auth=DIGEST, timeout=5)
    with pytest.raises(Exception):
        Image.open(io.BytesIO(r.content)).load()
    status, faults = control(sim, "GET", "/sim/faults")
    assert faults["faults"] == {"K-01": {"garbage": {}}}
    assert control(sim, "POST", "/sim/faults", {"camera": "K-01", "fault": "melted"})[0] == 400
    assert control(sim, "POST", "/sim/faults", {"camera": "X-99", "fault": "slow"})[0] == 404


def test_snapshot_while_slewing_is_cheap_and_not_cached(sim):
    sim.clock.set(frozen=True)
    camera = sim.cameras["T-02"]
    camera.motor.move_to(sim.clock.now(), camera.pose().pan + 170, -5.0, 1.0)
    sim.clock.set(advance_s=0.5)
    cached_before = len(sim.world._view_cache)
    r = requests.get(snap_url(sim, "T-02"), auth=DIGEST, timeout=20)
    assert Image.open(io.BytesIO(r.content)).size == SIZE
    assert len(sim.world._view_cache) == cached_before
    sim.clock.set(advance_s=10)  # arrived: a full render again
    snapshot(sim, "T-02")
    assert len(sim.world._view_cache) == cached_before + 1


def test_every_capture_has_sensor_noise_unless_frozen(sim):
    """A still scene at an unchanged pose and time: each snapshot differs from the
    last (bytes and pixels, a little), as a live sensor's; under frozen_frame the
    checkpoint repeats one JPEG byte for byte."""
    import numpy as np

    sim.clock.set(frozen=True)
    shots = [requests.get(snap_url(sim, "K-01"), auth=DIGEST, timeout=20).content for _ in range(3)]
    assert len(set(shots)) == 3
    a, b = (np.asarray(Image.open(io.BytesIO(s)).convert("L"), np.int16) for s in shots[:2])
    diff = np.abs(a - b)
    assert 0.3 < diff.mean() < 4.0  # noise, not a different picture
    control(sim, "POST", "/sim/faults", {"camera": "K-01", "fault": "frozen_frame"})
    frozen = {requests.get(snap_url(sim, "K-01"), auth=DIGEST, timeout=20).content for _ in range(3)}
    assert len(frozen) == 1
