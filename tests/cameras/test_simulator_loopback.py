"""The platform's camera code against the project's simulator (simulator/)
over real loopback: every ONVIF call, snapshots (digest), the MJPEG stream,
a patrol round with health, and the simulator's faults seen as camera status."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from webapp.cameras.adapter import CameraError, OnvifAdapter
from webapp.cameras.capture import LINKS, CameraLink
from webapp.cameras.credentials import Credentials
from webapp.cameras.patrol import PatrolEngine
from webapp.extensions import db
from webapp.models import Camera, PatrolTour, PatrolVisit, Preset

USER, PASSWORD = "demo", "sim-cam-password"


@pytest.fixture(scope="module")
def sim():
    from simulator.server import Simulator
    from webapp.geometry import dem as dem_mod
    s = Simulator(cameras=["T-01", "K-01"], base_port=None, user=USER, password=PASSWORD,
                  dem=dem_mod.synthetic_dem(resolution_arcsec=6.0), size=(320, 180)).start()
    yield s
    s.stop()


def _adapter(sim, code="T-01", password=PASSWORD):
    return OnvifAdapter("127.0.0.1", sim.cameras[code].port, Credentials(USER, password), timeout=5)


def test_every_onvif_call_against_the_simulator(sim):
    a = _adapter(sim).connect()
    assert a.device_info().manufacturer
    assert a.system_time() is not None
    assert {"device", "media", "ptz"} <= set(a.capabilities())
    assert any("ptz" in ns for ns in a.services())
    assert a.profiles()[0].token
    assert a.snapshot_uri().startswith("http://127.0.0.1")
    assert a.stream_uri()
    presets = a.presets()
    assert presets and presets[0].number is not None
    a.goto_preset(presets[0].token)
    a.absolute_move(45.0, -5.0, 1.0)
    a.relative_move(d_pan_deg=5.0)
    a.continuous_move(pan_speed=0.2, seconds=0.5)
    a.stop()
    pos = a.status()
    assert 0 <= pos.pan_deg < 360
    token = a.set_preset(90, "saved")
    assert token in [p.token for p in a.presets()]
    assert a.set_preset(token, "renamed") == token
    with pytest.raises(CameraError) as err:
        a.goto_preset(9999)
    assert err.value.kind in ("no_preset", "protocol")
    with pytest.raises(CameraError) as err:
        _adapter(sim, password="wrong-password").connect().device_info()
    assert err.value.kind == "auth"
    with pytest.raises(CameraError) as err:
        _adapter(sim, "K-01").connect().presets()
    assert err.value.kind == "no_ptz"


def test_snapshot_and_stream_through_capture(app, sim):
    cam = Camera(code="T-01", name="t", kind="tower", lat=37.4, lon=106.2, onvif_host="127.0.0.1",
                 onvif_port=sim.cameras["T-01"].port, onvif_user=USER, onvif_password=PASSWORD,
                 fov_table=[], status="unknown", failure_count=0, active=True)
    db.session.add(cam)
    db.session.commit()
    link = CameraLink(cam)
    try:
        f1 = link.snapshot()
        f2 = link.snapshot()
        assert f1.data[:2] == b"\xff\xd8" and f2.captured_at >= f1.captured_at
        frame = link.stream().read()
        assert frame.data[:2] == b"\xff\xd8" and frame.source == "stream"
    finally:
        link.close()


def test_patrol_round_and_offline_fault_on_the_simulator(org, clock, sim):
    spec = sim.cameras["T-01"]
    cam = Camera(code="T-01", name="t", kind="tower", lat=37.4, lon=106.2, onvif_host="127.0.0.1",
                 onvif_port=spec.port, onvif_user=USER, onvif_password=PASSWORD,
                 fov_table=[], status="unknown", failure_count=0, active=True)
    db.session.add(cam)
    db.session.flush()
    tokens = [t for t, _ in spec.presets_snapshot() if t.isdigit()][:2]
    for t in tokens:
        db.session.add(Preset(camera_id=cam.id, number=int(t), name=t, pan_deg=int(t) * 40.0, tilt_deg=-5,
                              zoom=1, dwell_seconds=5, domains=[], masks=[]))
    db.session.add(PatrolTour(camera_id=cam.id, preset_numbers=[int(t) for t in tokens], settle_seconds=1,
                              start_local="", end_local="", active=True, name=""))
    db.session.commit()
    engine = PatrolEngine(org, holder="w1")
    try:
        for _ in range(12):
            engine.tick()
            engine.drain(timeout=30)
            clock.advance(seconds=1)
        visits = db.session.scalars(select(PatrolVisit).where(PatrolVisit.camera_id == cam.id)).all()
        assert [v.preset_number for v in visits][:2] == [int(t) for t in tokens]
        assert all(v.status == "ok" for v in visits)
        sim.set_offline(spec, True)
        LINKS.drop(cam.id)
        for _ in range(20):
            engine.tick()
            engine.drain(timeout=30)
            clock.advance(seconds=1)
        db.session.expire_all()
        assert db.session.get(Camera, cam.id).status == "offline"
    finally:
        sim.set_offline(spec, False)
        engine.stop()
        LINKS.clear()


def test_live_view_and_clip_share_one_stream_capture(app, sim):
    """A live viewer and a clip recording of the same camera at once, over the
    simulator's MJPEG stream through OpenCV: one capture is opened and read by
    one thread; both consumers get fresh frames; the clip is a playable WebM;
    the capture closes when both are done."""
    import itertools
    import threading
    import time

    from webapp.cameras import clips

    cam = Camera(code="T-01", name="t", kind="tower", lat=37.4, lon=106.2, onvif_host="127.0.0.1",
                 onvif_port=sim.cameras["T-01"].port, onvif_user=USER, onvif_password=PASSWORD,
                 stream_uri=f"http://127.0.0.1:{sim.cameras['T-01'].port}/stream.mjpg?fps=10",
                 fov_table=[], status="unknown", failure_count=0, active=True)
    db.session.add(cam)
    db.session.commit()
    link = LINKS.get(cam)
    live: list = []
    errors: list = []

    def viewer():
        try:
            with link.stream() as sub:  # what the live view's OpenCV path does
                for _ in range(15):
                    live.append(sub.read())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    try:
        th = threading.Thread(target=viewer)
        th.start()
        frames, started = clips.grab(cam, 2.0, fps=4.0)
        th.join(timeout=30)
        assert not errors, errors
        assert len(live) == 15 and all(f.data[:2] == b"\xff\xd8" for f in live)
        assert len(frames) >= 5 and started is not None
        assert clips.encode_webm(frames, 4.0)[:4] == b"\x1a\x45\xdf\xa3"  # EBML: a WebM file
        hub = link._stream
        assert hub is not None and hub.opens == 1  # one capture for both consumers
        # Frames reach each consumer in capture order.
        assert all(a.captured_at <= b.captured_at for a, b in itertools.pairwise(live))
        deadline = time.monotonic() + hub.idle_s + 10
        while hub._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not hub._thread.is_alive()  # nobody watches: the capture is closed
    finally:
        LINKS.drop(cam.id)


def _rtsp_relay_available() -> bool:
    import shutil
    import subprocess
    py = shutil.which("python3", path="/usr/bin")
    if not py:
        return False
    probe = ("import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
             "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
             "import sys; sys.exit(0 if all(Gst.ElementFactory.find(e) for e in "
             "('souphttpsrc', 'multipartdemux', 'jpegparse', 'rtpjpegpay')) else 1)")
    return subprocess.run([py, "-c", probe], capture_output=True, timeout=30, check=False).returncode == 0


@pytest.mark.skipif(not _rtsp_relay_available(), reason="Debian's GStreamer RTSP server packages are not installed")
def test_rtsp_capture_path_through_gstreamer_relay(app, sim):
    """The RTSP capture path for real: the simulator's MJPEG relayed as RTSP by
    GStreamer's RTSP server (scripts/sim_rtsp_relay.py), read by the platform's OpenCV
    capture (CameraLink → StreamHub → StreamReader), frames and a clip."""
    import subprocess
    from pathlib import Path

    from webapp.cameras import clips

    code = "T-01"
    url = f"http://127.0.0.1:{sim.cameras[code].port}/stream.mjpg?fps=10"
    script = Path(__file__).resolve().parents[2] / "scripts" / "sim_rtsp_relay.py"
    relay = subprocess.Popen(["/usr/bin/python3", str(script),
                              "--port", "0", "--user", USER, "--password", PASSWORD, f"{code}={url}"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = relay.stdout.readline()
        assert line.startswith("READY "), relay.stderr.read()
        port = int(line.split()[1])
        cam = Camera(code=code, name="t", kind="tower", lat=37.4, lon=106.2, onvif_host="127.0.0.1",
                     onvif_port=sim.cameras[code].port, onvif_user=USER, onvif_password=PASSWORD,
                     stream_uri=f"rtsp://127.0.0.1:{port}/{code}", fov_table=[], status="unknown",
                     failure_count=0, active=True)
        db.session.add(cam)
        db.session.commit()
        link = LINKS.get(cam)
        link.timeout = 15.0  # the relay starts its pipeline on the first client
        with link.stream() as sub:
            frames = [sub.read() for _ in range(3)]
        assert all(f.data[:2] == b"\xff\xd8" and f.source == "stream" for f in frames)
        imgs, _started = clips.grab(cam, 1.5, fps=4.0)
        assert imgs and imgs[0].shape[1] == 320  # RTP/JPEG: width kept, height in 8-pixel blocks
        assert clips.encode_webm(imgs, 4.0)[:4] == b"\x1a\x45\xdf\xa3"
    finally:
        LINKS.drop(getattr(locals().get("cam"), "id", -1))
        relay.terminate()
        relay.wait(timeout=10)
