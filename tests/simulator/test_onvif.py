"""onvif-zeep (as pinned) against the simulator over real loopback HTTP."""
from __future__ import annotations

import urllib.request

import pytest
from onvif import ONVIFCamera
from onvif.exceptions import ONVIFError

from simulator.motion import PAN_SPEED_DEG_S
from webapp.geometry import ptz

from .conftest import PASSWORD, USER, control

PROFILE = {"ProfileToken": "Profile_1"}


def connect(sim, code, password=PASSWORD):
    return ONVIFCamera("127.0.0.1", sim.cameras[code].port, USER, password)


def test_device_information_capabilities_services_time(sim):
    cam = connect(sim, "T-01")
    info = cam.devicemgmt.GetDeviceInformation()
    assert info.Manufacturer == "NRSC Simulator" and info.HardwareId == "T-01"
    caps = cam.devicemgmt.GetCapabilities({"Category": "All"})
    port = sim.cameras["T-01"].port
    assert caps.PTZ.XAddr == f"http://127.0.0.1:{port}/onvif/ptz_service"
    assert caps.Media.XAddr.endswith("/onvif/media_service")
    services = {s.Namespace for s in cam.devicemgmt.GetServices(False)}
    assert "http://www.onvif.org/ver20/ptz/wsdl" in services
    sim.clock.set(when=1_800_000_000.0, frozen=True)
    utc = cam.devicemgmt.GetSystemDateAndTime().UTCDateTime
    assert (utc.Date.Year, utc.Date.Month, utc.Date.Day, utc.Time.Hour) == (2027, 1, 15, 8)


def test_profiles_and_uris(sim):
    cam = connect(sim, "T-01")
    media = cam.create_media_service()
    profiles = media.GetProfiles()
    assert [p.token for p in profiles] == ["Profile_1"]
    res = profiles[0].VideoEncoderConfiguration.Resolution
    assert (res.Width, res.Height) == (640, 360)
    assert profiles[0].PTZConfiguration.NodeToken == "PTZNode_1"
    stream = media.GetStreamUri({"StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                                 **PROFILE})
    snap = media.GetSnapshotUri(PROFILE)
    port = sim.cameras["T-01"].port
    assert stream.Uri == f"http://127.0.0.1:{port}/stream.mjpg"
    assert snap.Uri == f"http://127.0.0.1:{port}/snapshot.jpg"


def test_presets_goto_with_slew_time_set_remove(sim):
    sim.clock.set(frozen=True)
    cam = connect(sim, "T-01")
    service = cam.create_ptz_service()
    presets = service.GetPresets(PROFILE)
    spec = sim.cameras["T-01"].spec
    assert [(p.token, p.Name) for p in presets] == [(str(p.number), p.name) for p in spec.presets]
    x, y, z = ptz.to_onvif(spec.presets[1].pan_deg, spec.presets[1].tilt_deg, spec.presets[1].zoom,
                           ptz.max_zoom_of(spec.fov_table))
    assert presets[1].PTZPosition.PanTilt.x == pytest.approx(x, abs=1e-5)

    start = sim.cameras["T-01"].pose()
    service.GotoPreset({**PROFILE, "PresetToken": presets[1].token})
    status = service.GetStatus(PROFILE)
    assert status.MoveStatus.PanTilt == "MOVING"
    travel = abs((spec.presets[1].pan_deg - start.pan + 180) % 360 - 180)
    sim.clock.set(advance_s=travel / PAN_SPEED_DEG_S + 8.0)  # tilt and zoom finish within that too
    status = service.GetStatus(PROFILE)
    assert status.MoveStatus.PanTilt == "IDLE" and status.MoveStatus.Zoom == "IDLE"
    assert status.Position.PanTilt.x == pytest.approx(x, abs=1e-5)
    assert status.Position.PanTilt.y == pytest.approx(y, abs=1e-5)
    assert status.Position.Zoom.x == pytest.approx(z, abs=1e-5)

    token = service.SetPreset({**PROFILE, "PresetName": "新预置位"})
    names = {p.token: p.Name for p in service.GetPresets(PROFILE)}
    assert names[token] == "新预置位"
    service.RemovePreset({**PROFILE, "PresetToken": token})
    assert token not in {p.token for p in service.GetPresets(PROFILE)}
    with pytest.raises(ONVIFError, match="no preset"):
        service.GotoPreset({**PROFILE, "PresetToken": "999"})


def test_absolute_relative_continuous_stop(sim):
    sim.clock.set(frozen=True)
    cam = connect(sim, "T-02")
    service = cam.create_ptz_service()
    camera = sim.cameras["T-02"]
    max_zoom = camera.max_zoom
    # Absolute: to pan 90°, tilt -10°, zoom 1 — 60°/s, so after 0.5 s it has turned 30°.
    camera.motor.move_to(sim.clock.now(), 0.0, -10.0, 1.0)
    sim.clock.set(advance_s=30)
    x, y, z = ptz.to_onvif(90.0, -10.0, 1.0, max_zoom)
    service.AbsoluteMove({**PROFILE, "Position": {"PanTilt": {"x": x, "y": y}, "Zoom": {"x": z}}})
    sim.clock.set(advance_s=0.5)
    st = service.GetStatus(PROFILE)
    assert st.MoveStatus.PanTilt == "MOVING"
    assert ptz.pan_from_onvif(st.Position.PanTilt.x) == pytest.approx(30.0, abs=0.01)
    sim.clock.set(advance_s=1.0)
    st = service.GetStatus(PROFILE)
    assert st.MoveStatus.PanTilt == "IDLE" and ptz.pan_from_onvif(st.Position.PanTilt.x) == pytest.approx(90.0)
    # Relative: x=0.1 is 18° of pan; y=-0.1 is 6° down.
    service.RelativeMove({**PROFILE, "Translation": {"PanTilt": {"x": 0.1, "y": -0.1}}})
    sim.clock.set(advance_s=5)
    pose = camera.pose()
    assert (pose.pan, pose.tilt) == (pytest.approx(108.0), pytest.approx(-16.0))
    # Continuous: half speed left for 2 s (timeout), then it stops by itself.
    service.ContinuousMove({**PROFILE, "Velocity": {"PanTilt": {"x": -0.5, "y": 0.0}}, "Timeout": "PT2S"})
    sim.clock.set(advance_s=1.0)
    assert service.GetStatus(PROFILE).MoveStatus.PanTilt == "MOVING"
    sim.clock.set(advance_s=5.0)
    assert service.GetStatus(PROFILE).MoveStatus.PanTilt == "IDLE"
    assert camera.pose().pan == pytest.approx(108.0 - 60.0)
    # Stop ends a continuous move where it is.
    service.ContinuousMove({**PROFILE, "Velocity": {"PanTilt": {"x": 1.0, "y": 0.0}}})
    sim.clock.set(advance_s=0.25)
    service.Stop({**PROFILE, "PanTilt": True, "Zoom": True})
    sim.clock.set(advance_s=10)
    assert camera.pose().pan == pytest.approx(48.0 + 15.0)
    assert service.GetStatus(PROFILE).MoveStatus.PanTilt == "IDLE"


def test_wrong_credentials_are_refused(sim):
    with pytest.raises(ONVIFError, match="not Authorized"):
        connect(sim, "T-01", password="wrong")
    # Raw SOAP without a token: a SOAP 1.2 fault with the ONVIF subcode.
    body = (b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
            b'<GetDeviceInformation xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>')
    req = urllib.request.Request(f"http://127.0.0.1:{sim.cameras['T-01'].port}/onvif/device_service", data=body,
                                 headers={"Content-Type": "application/soap+xml"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 400 and b"ter:NotAuthorized" in err.value.read()
    # GetSystemDateAndTime is allowed before authentication (ONVIF pre-auth).
    body = body.replace(b"GetDeviceInformation", b"GetSystemDateAndTime")
    req = urllib.request.Request(req.full_url, data=body, headers={"Content-Type": "application/soap+xml"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert b"UTCDateTime" in resp.read()


def test_checkpoint_has_no_ptz(sim):
    cam = connect(sim, "K-01")
    caps = cam.devicemgmt.GetCapabilities({"Category": "All"})
    assert caps.PTZ is None
    assert "http://www.onvif.org/ver20/ptz/wsdl" not in {s.Namespace for s in cam.devicemgmt.GetServices(False)}
    assert cam.create_media_service().GetProfiles()[0].PTZConfiguration is None
    with pytest.raises(ONVIFError, match="support service: ptz"):
        cam.create_ptz_service()
    status, info = control(sim, "GET", "/sim/cameras")
    k01 = next(c for c in info["cameras"] if c["code"] == "K-01")
    assert k01["ptz"] is False and k01["index"] == 32 and k01["road"] is not None


def test_ptz_nodes_and_configurations(sim):
    service = connect(sim, "T-01").create_ptz_service()
    nodes = service.GetNodes()
    assert nodes[0].token == "PTZNode_1" and nodes[0].MaximumNumberOfPresets == 128
    spaces = nodes[0].SupportedPTZSpaces
    assert spaces.AbsolutePanTiltPositionSpace[0].XRange.Min == -1.0
    configs = service.GetConfigurations()
    assert configs[0].token == "PTZConfig_1" and configs[0].NodeToken == "PTZNode_1"
    assert configs[0].DefaultPTZTimeout is not None
