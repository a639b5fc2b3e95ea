"""The ONVIF adapter against a camera over real loopback HTTP: every call,
and every bad answer turned into a clear CameraError."""
from __future__ import annotations

import logging
import os
import time

import pytest

from webapp.cameras.adapter import CameraError, OnvifAdapter
from webapp.cameras.credentials import Credentials


def _adapter(cam, password=None, timeout=3.0):
    return OnvifAdapter("127.0.0.1", cam.port, Credentials(cam.user, password or cam.password), timeout=timeout)


def test_every_call_over_loopback(fakecams):
    cam = fakecams()
    a = _adapter(cam).connect()
    info = a.device_info()
    assert (info.manufacturer, info.model, info.serial) == ("Fake", "FC-1", "SN1")
    assert a.system_time() is not None
    assert set(a.capabilities()) >= {"device", "media", "ptz"}
    assert "http://www.onvif.org/ver20/ptz/wsdl" in a.services()
    profiles = a.profiles()
    assert profiles[0].token == "main" and profiles[0].has_ptz and profiles[0].width == 160
    assert a.snapshot_uri().endswith("/snapshot.jpg")
    assert a.stream_uri().endswith("/mjpeg")

    a.absolute_move(90.0, -10.0, 2.0)
    pos = a.status()
    assert pos.pan_deg == pytest.approx(90.0) and pos.tilt_deg == pytest.approx(-10.0)
    assert pos.zoom == pytest.approx(2.0) and pos.moving is False
    assert a.set_preset(7, "gate") == "7"
    a.relative_move(d_pan_deg=18.0)
    assert a.status().pan_deg == pytest.approx(108.0)
    a.goto_preset(7)
    assert a.status().pan_deg == pytest.approx(90.0)
    presets = a.presets()
    assert [(p.number, p.name) for p in presets] == [(7, "gate")]
    assert presets[0].position.tilt_deg == pytest.approx(-10.0)
    a.continuous_move(pan_speed=0.5, seconds=1)
    a.stop()
    for op in ("GetDeviceInformation", "GetSystemDateAndTime", "GetCapabilities", "GetServices", "GetProfiles",
               "GetSnapshotUri", "GetStreamUri", "AbsoluteMove", "GetStatus", "SetPreset", "RelativeMove",
               "GotoPreset", "GetPresets", "ContinuousMove", "Stop"):
        assert op in cam.calls, op


def test_wrong_password_is_auth_and_never_in_message(fakecams):
    cam = fakecams()
    with pytest.raises(CameraError) as err:
        _adapter(cam, password="wrong-password-123").connect().device_info()
    assert err.value.kind == "auth"
    assert "wrong-password-123" not in str(err.value)


def test_missing_preset(fakecams):
    cam = fakecams()
    with pytest.raises(CameraError) as err:
        _adapter(cam).goto_preset(99)
    assert err.value.kind == "no_preset"


def test_unreachable_host(monkeypatch):
    from fakecam import free_port

    from webapp.cameras import adapter as adapter_module

    def no_onvif_client():
        raise AssertionError("the ONVIF client (its WSDL parsing) was built for a port that refuses")
    # A refused port fails at the TCP probe, before the ONVIF client parses its
    # schemas: a patrol retrying dark cameras once spent a whole core there.
    monkeypatch.setattr(adapter_module, "_onvif_module", no_onvif_client)
    with pytest.raises(CameraError) as err:
        OnvifAdapter("127.0.0.1", free_port(), Credentials("a", "b"), timeout=1).connect()
    assert err.value.kind == "unreachable" and "unreachable" in err.value.message


def test_garbage_and_stall_are_bounded(fakecams):
    cam = fakecams()
    a = _adapter(cam, timeout=1.0).connect()
    cam.faults.add("garbage")
    with pytest.raises(CameraError) as err:
        a.device_info()
    assert err.value.kind == "protocol"
    cam.faults = {"stall"}
    t0 = time.monotonic()
    with pytest.raises(CameraError) as err:
        a.device_info()
    assert err.value.kind == "timeout"
    assert time.monotonic() - t0 < 5


def test_checkpoint_camera_without_ptz(fakecams):
    cam = fakecams(ptz=False)
    a = _adapter(cam).connect()
    assert a.snapshot_uri().endswith("/snapshot.jpg")
    with pytest.raises(CameraError) as err:
        a.presets()
    assert err.value.kind == "no_ptz"


def test_library_habits_contained(fakecams, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://proxy.example:3128")
    root = logging.getLogger()
    handlers = list(root.handlers)
    cam = fakecams()
    _adapter(cam).connect().device_info()
    assert os.environ["http_proxy"] == "http://proxy.example:3128"
    assert root.handlers == handlers
    assert not (os.path.expanduser("~/.cache/zeep") and os.path.exists(os.path.expanduser("~/.cache/zeep/cache.db")) and
                os.path.getmtime(os.path.expanduser("~/.cache/zeep/cache.db")) > time.time() - 60)
