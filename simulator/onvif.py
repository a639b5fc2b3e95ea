"""The ONVIF device, media and PTZ services of one simulated camera, as onvif-zeep
0.2.12 calls them (SOAP 1.2, document/literal, WS-Security UsernameToken).

All three services answer on ``/onvif/device_service`` (and the conventional
``/onvif/media_service`` and ``/onvif/ptz_service``, which GetCapabilities and
GetServices advertise); the operation is the body's first element.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from simulator.soap import NS, Request, SoapFault, check_auth, el, envelope, fault, text
from webapp.geometry import ptz

if TYPE_CHECKING:  # pragma: no cover
    from simulator.camera import SimCamera

PROFILE_TOKEN = "Profile_1"
PTZ_CONFIG_TOKEN = "PTZConfig_1"
NODE_TOKEN = "PTZNode_1"
SPACES = {
    "abs_pt": "http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace",
    "abs_z": "http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace",
    "rel_pt": "http://www.onvif.org/ver10/tptz/PanTiltSpaces/TranslationGenericSpace",
    "rel_z": "http://www.onvif.org/ver10/tptz/ZoomSpaces/TranslationGenericSpace",
    "cont_pt": "http://www.onvif.org/ver10/tptz/PanTiltSpaces/VelocityGenericSpace",
    "cont_z": "http://www.onvif.org/ver10/tptz/ZoomSpaces/VelocityGenericSpace",
    "speed_pt": "http://www.onvif.org/ver10/tptz/PanTiltSpaces/GenericSpeedSpace",
    "speed_z": "http://www.onvif.org/ver10/tptz/ZoomSpaces/ZoomGenericSpeedSpace",
}
# Operations a client may call before authenticating (ONVIF Core: pre-auth).
PRE_AUTH = {"GetSystemDateAndTime"}
_DURATION = re.compile(r"^P(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def parse_duration(value: str | None) -> float | None:
    """xs:duration like PT2S / PT1M30S → seconds (None when absent or unparsable)."""
    m = _DURATION.match(value or "")
    if not value or not m:
        return None
    h, mi, s = (float(x) if x else 0.0 for x in m.groups())
    return h * 3600 + mi * 60 + s


def _float_attr(node, name: str) -> float | None:
    if node is None or node.get(name) is None:
        return None
    try:
        return float(node.get(name))
    except ValueError:
        raise SoapFault("ter:InvalidArgVal", f"{name} is not a number") from None


def _vector(req: Request, *path: str) -> tuple[float | None, float | None, float | None]:
    node = req.node(*path)
    if node is None:
        return None, None, None
    pt, zm = node.find("{*}PanTilt"), node.find("{*}Zoom")
    return _float_attr(pt, "x"), _float_attr(pt, "y"), _float_attr(zm, "x")


def _pose_xml(tag: str, pan: float, tilt: float, zoom: float, max_zoom: float) -> str:
    x, y, z = ptz.to_onvif(pan, tilt, zoom, max_zoom)
    return el(tag, el("tt:PanTilt", x=round(x, 6), y=round(y, 6), space=SPACES["abs_pt"])
              + el("tt:Zoom", x=round(z, 6), space=SPACES["abs_z"]))


class OnvifService:
    def __init__(self, camera: "SimCamera"):
        self.cam = camera

    # -- dispatch ---------------------------------------------------------------
    def handle(self, raw: bytes) -> tuple[int, bytes]:
        try:
            req = Request(raw)
            if req.operation not in PRE_AUTH:
                user, password = self.cam.credentials()
                check_auth(req, user, password)
            method = getattr(self, "op_" + req.operation, None)
            if method is None:
                raise SoapFault("ter:ActionNotSupported", f"{req.operation} is not supported by this device",
                                code="env:Receiver", http_status=400)
            return 200, envelope(method(req))
        except SoapFault as exc:
            return exc.http_status, fault(exc)

    def _require_ptz(self) -> None:
        if not self.cam.has_ptz:
            raise SoapFault("ter:ActionNotSupported", "this camera has no PTZ", code="env:Receiver")

    def _profile(self, req: Request) -> None:
        token = req.text("ProfileToken")
        if token is not None and token != PROFILE_TOKEN:
            raise SoapFault("ter:InvalidArgVal", f"no profile {token!r}")

    # -- device ---------------------------------------------------------------
    def op_GetSystemDateAndTime(self, req: Request) -> str:
        now = self.cam.sim.clock.datetime()
        dt = (el("tt:Time", el("tt:Hour", now.hour) + el("tt:Minute", now.minute) + el("tt:Second", now.second))
              + el("tt:Date", el("tt:Year", now.year) + el("tt:Month", now.month) + el("tt:Day", now.day)))
        return el("tds:GetSystemDateAndTimeResponse", el("tds:SystemDateAndTime",
                  el("tt:DateTimeType", "NTP") + el("tt:DaylightSavings", False)
                  + el("tt:TimeZone", el("tt:TZ", "CST-8")) + el("tt:UTCDateTime", dt)))

    def _xaddr(self, service: str) -> str:
        return f"http://{self.cam.host}:{self.cam.port}/onvif/{service}"

    def op_GetCapabilities(self, req: Request) -> str:
        caps = el("tt:Device", el("tt:XAddr", self._xaddr("device_service"))
                  + el("tt:Network", el("tt:IPFilter", False) + el("tt:ZeroConfiguration", False)
                       + el("tt:IPVersion6", False) + el("tt:DynDNS", False))
                  + el("tt:System", el("tt:DiscoveryResolve", False) + el("tt:DiscoveryBye", False)
                       + el("tt:RemoteDiscovery", False) + el("tt:SystemBackup", False)
                       + el("tt:SystemLogging", False) + el("tt:FirmwareUpgrade", False)
                       + el("tt:SupportedVersions", el("tt:Major", 2) + el("tt:Minor", 60)))
                  + el("tt:Security", el("tt:TLS1.1", False) + el("tt:TLS1.2", False)
                       + el("tt:OnboardKeyGeneration", False) + el("tt:AccessPolicyConfig", False)
                       + el("tt:X.509Token", False) + el("tt:SAMLToken", False)
                       + el("tt:KerberosToken", False) + el("tt:RELToken", False)))
        caps += el("tt:Media", el("tt:XAddr", self._xaddr("media_service"))
                   + el("tt:StreamingCapabilities", el("tt:RTPMulticast", False) + el("tt:RTP_TCP", False)
                        + el("tt:RTP_RTSP_TCP", False)))
        if self.cam.has_ptz:
            caps += el("tt:PTZ", el("tt:XAddr", self._xaddr("ptz_service")))
        return el("tds:GetCapabilitiesResponse", el("tds:Capabilities", caps))

    def op_GetServices(self, req: Request) -> str:
        rows = [(NS["tds"], "device_service"), (NS["trt"], "media_service")]
        if self.cam.has_ptz:
            rows.append((NS["tptz"], "ptz_service"))
        return el("tds:GetServicesResponse", "".join(
            el("tds:Service", el("tds:Namespace", ns) + el("tds:XAddr", self._xaddr(path))
               + el("tds:Version", el("tt:Major", 2) + el("tt:Minor", 60)))
            for ns, path in rows))

    def op_GetDeviceInformation(self, req: Request) -> str:
        c = self.cam
        return el("tds:GetDeviceInformationResponse",
                  el("tds:Manufacturer", "NRSC Simulator") + el("tds:Model", text(c.model))
                  + el("tds:FirmwareVersion", "sim-1.0") + el("tds:SerialNumber", text(f"SIM-{c.code}"))
                  + el("tds:HardwareId", text(c.code)))

    def op_GetHostname(self, req: Request) -> str:
        return el("tds:GetHostnameResponse", el("tds:HostnameInformation",
                  el("tt:FromDHCP", False) + el("tt:Name", text(self.cam.code.lower()))))

    # -- media ----------------------------------------------------------------
    def _ptz_configuration(self, tag: str = "tt:PTZConfiguration") -> str:
        return el(tag, el("tt:Name", "PTZ") + el("tt:UseCount", 1) + el("tt:NodeToken", NODE_TOKEN)
                  + el("tt:DefaultAbsolutePantTiltPositionSpace", SPACES["abs_pt"])
                  + el("tt:DefaultAbsoluteZoomPositionSpace", SPACES["abs_z"])
                  + el("tt:DefaultRelativePanTiltTranslationSpace", SPACES["rel_pt"])
                  + el("tt:DefaultRelativeZoomTranslationSpace", SPACES["rel_z"])
                  + el("tt:DefaultContinuousPanTiltVelocitySpace", SPACES["cont_pt"])
                  + el("tt:DefaultContinuousZoomVelocitySpace", SPACES["cont_z"])
                  + el("tt:DefaultPTZSpeed", el("tt:PanTilt", x=1.0, y=1.0, space=SPACES["speed_pt"])
                       + el("tt:Zoom", x=1.0, space=SPACES["speed_z"]))
                  + el("tt:DefaultPTZTimeout", "PT10S"), token=PTZ_CONFIG_TOKEN)

    def op_GetProfiles(self, req: Request) -> str:
        w, h = self.cam.size
        profile = (el("tt:Name", "MainStream")
                   + el("tt:VideoSourceConfiguration", el("tt:Name", "VideoSource") + el("tt:UseCount", 1)
                        + el("tt:SourceToken", "VideoSource_1")
                        + el("tt:Bounds", x=0, y=0, width=w, height=h), token="VideoSourceConfig_1")
                   + el("tt:VideoEncoderConfiguration", el("tt:Name", "MJPEG") + el("tt:UseCount", 1)
                        + el("tt:Encoding", "JPEG") + el("tt:Resolution", el("tt:Width", w) + el("tt:Height", h))
                        + el("tt:Quality", 5.0)
                        + el("tt:RateControl", el("tt:FrameRateLimit", max(1, int(round(self.cam.sim.stream_fps))))
                             + el("tt:EncodingInterval", 1) + el("tt:BitrateLimit", 8192))
                        + el("tt:Multicast", el("tt:Address", el("tt:Type", "IPv4") + el("tt:IPv4Address", "0.0.0.0"))
                             + el("tt:Port", 0) + el("tt:TTL", 0) + el("tt:AutoStart", False))
                        + el("tt:SessionTimeout", "PT60S"), token="VideoEncoderConfig_1"))
        if self.cam.has_ptz:
            profile += self._ptz_configuration()
        return el("trt:GetProfilesResponse", el("trt:Profiles", profile, token=PROFILE_TOKEN, fixed="true"))

    def _uri(self, tag: str, path: str) -> str:
        return el(tag, el("trt:MediaUri", el("tt:Uri", text(f"http://{self.cam.host}:{self.cam.port}{path}"))
                                          + el("tt:InvalidAfterConnect", False) + el("tt:InvalidAfterReboot", False)
                                          + el("tt:Timeout", "PT0S")))

    def op_GetStreamUri(self, req: Request) -> str:
        self._profile(req)
        # MJPEG over HTTP, whatever transport was asked for: the simulator serves no RTSP.
        return self._uri("trt:GetStreamUriResponse", "/stream.mjpg")

    def op_GetSnapshotUri(self, req: Request) -> str:
        self._profile(req)
        return self._uri("trt:GetSnapshotUriResponse", "/snapshot.jpg")

    def op_GetVideoSources(self, req: Request) -> str:
        w, h = self.cam.size
        return el("trt:GetVideoSourcesResponse", el("trt:VideoSources", el("tt:Framerate", float(self.cam.sim.stream_fps))
                  + el("tt:Resolution", el("tt:Width", w) + el("tt:Height", h)), token="VideoSource_1"))

    # -- PTZ ------------------------------------------------------------------
    def op_GetNodes(self, req: Request) -> str:
        self._require_ptz()
        return el("tptz:GetNodesResponse", self._node("tptz:PTZNode"))

    def op_GetNode(self, req: Request) -> str:
        self._require_ptz()
        return el("tptz:GetNodeResponse", self._node("tptz:PTZNode"))

    def _node(self, tag: str) -> str:
        rng = lambda lo, hi: el("tt:Min", lo) + el("tt:Max", hi)  # noqa: E731
        spaces = (el("tt:AbsolutePanTiltPositionSpace", el("tt:URI", SPACES["abs_pt"])
                     + el("tt:XRange", rng(-1.0, 1.0)) + el("tt:YRange", rng(-1.0, 1.0)))
                  + el("tt:AbsoluteZoomPositionSpace", el("tt:URI", SPACES["abs_z"]) + el("tt:XRange", rng(0.0, 1.0)))
                  + el("tt:RelativePanTiltTranslationSpace", el("tt:URI", SPACES["rel_pt"])
                       + el("tt:XRange", rng(-1.0, 1.0)) + el("tt:YRange", rng(-1.0, 1.0)))
                  + el("tt:RelativeZoomTranslationSpace", el("tt:URI", SPACES["rel_z"]) + el("tt:XRange", rng(-1.0, 1.0)))
                  + el("tt:ContinuousPanTiltVelocitySpace", el("tt:URI", SPACES["cont_pt"])
                       + el("tt:XRange", rng(-1.0, 1.0)) + el("tt:YRange", rng(-1.0, 1.0)))
                  + el("tt:ContinuousZoomVelocitySpace", el("tt:URI", SPACES["cont_z"]) + el("tt:XRange", rng(-1.0, 1.0)))
                  + el("tt:PanTiltSpeedSpace", el("tt:URI", SPACES["speed_pt"]) + el("tt:XRange", rng(0.0, 1.0)))
                  + el("tt:ZoomSpeedSpace", el("tt:URI", SPACES["speed_z"]) + el("tt:XRange", rng(0.0, 1.0))))
        return el(tag, el("tt:Name", "PTZ") + el("tt:SupportedPTZSpaces", spaces)
                  + el("tt:MaximumNumberOfPresets", self.cam.MAX_PRESETS) + el("tt:HomeSupported", False),
                  token=NODE_TOKEN, FixedHomePosition="false")

    def op_GetConfigurations(self, req: Request) -> str:
        self._require_ptz()
        return el("tptz:GetConfigurationsResponse", self._ptz_configuration("tptz:PTZConfiguration"))

    def op_GetConfiguration(self, req: Request) -> str:
        self._require_ptz()
        return el("tptz:GetConfigurationResponse", self._ptz_configuration("tptz:PTZConfiguration"))

    def op_GetPresets(self, req: Request) -> str:
        self._require_ptz()
        self._profile(req)
        rows = []
        for token, (name, pan, tilt, zoom) in self.cam.presets_snapshot():
            rows.append(el("tptz:Preset", el("tt:Name", text(name))
                           + _pose_xml("tt:PTZPosition", pan, tilt, zoom, self.cam.max_zoom), token=token))
        return el("tptz:GetPresetsResponse", "".join(rows))

    def _speed(self, req: Request) -> float:
        x, _y, _z = _vector(req, "Speed")
        return 1.0 if x is None or x <= 0 else min(1.0, x)

    def op_GotoPreset(self, req: Request) -> str:
        self._require_ptz()
        self._profile(req)
        self.cam.goto_preset(req.text("PresetToken") or "", self._speed(req))
        return el("tptz:GotoPresetResponse")

    def op_SetPreset(self, req: Request) -> str:
        self._require_ptz()
        self._profile(req)
        token = self.cam.set_preset(req.text("PresetToken"), req.text("PresetName"))
        return el("tptz:SetPresetResponse", el("tptz:PresetToken", text(token)))

    def op_RemovePreset(self, req: Request) -> str:
        self._require_ptz()
        self._profile(req)
        self.cam.remove_preset(req.text("PresetToken") or "")
        return el("tptz:RemovePresetResponse")

    def op_AbsoluteMove(self, req: Request) -> str:
        self._require_ptz()
        self._profile(req)
        x, y, z = _vector(req, "Position")
        pose, _, _ = self.cam.motor.status(self.cam.sim.clock.now())
        cx, cy, cz = ptz.to_onvif(*pose.as_tuple(), self.cam.max_zoom)
        pan, tilt, zoom = ptz.from_onvif(cx if x is None else x, cy if y is None else y, cz if z is None else z,
                                         self.cam.max_zoom)
        self.cam.motor.move_to(self.cam.sim.clock.now(), pan, tilt, zoom, self._speed(req))
        return el("tptz:AbsoluteMoveResponse")

    def op_RelativeMove(self, req: Request) -> str:
        self._require_ptz()
        self._profile(req)
        x, y, z = _vector(req, "Translation")
        # Translations are in the normalised absolute spaces: x=1 is 180° of pan,
        # y=1 half the tilt range, z=1 the whole zoom range.
        dpan = (x or 0.0) * 180.0
        dtilt = (y or 0.0) * (ptz.TILT_MAX_DEG - ptz.TILT_MIN_DEG) / 2.0
        dzoom = (z or 0.0) * (self.cam.max_zoom - 1.0)
        self.cam.motor.move_by(self.cam.sim.clock.now(), dpan, dtilt, dzoom, self._speed(req))
        return el("tptz:RelativeMoveResponse")

    def op_ContinuousMove(self, req: Request) -> str:
        self._require_ptz()
        self._profile(req)
        x, y, z = _vector(req, "Velocity")
        self.cam.motor.continuous(self.cam.sim.clock.now(), x or 0.0, y or 0.0, z or 0.0,
                                  parse_duration(req.text("Timeout")))
        return el("tptz:ContinuousMoveResponse")

    def op_Stop(self, req: Request) -> str:
        self._require_ptz()
        self._profile(req)
        self.cam.motor.stop(self.cam.sim.clock.now())
        return el("tptz:StopResponse")

    def op_GetStatus(self, req: Request) -> str:
        self._require_ptz()
        self._profile(req)
        now = self.cam.sim.clock.now()
        pose, pt_moving, z_moving = self.cam.motor.status(now)
        state = lambda moving: "MOVING" if moving else "IDLE"  # noqa: E731
        utc = self.cam.sim.clock.datetime().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return el("tptz:GetStatusResponse", el("tptz:PTZStatus",
                  _pose_xml("tt:Position", *pose.as_tuple(), self.cam.max_zoom)
                  + el("tt:MoveStatus", el("tt:PanTilt", state(pt_moving)) + el("tt:Zoom", state(z_moving)))
                  + el("tt:UtcTime", utc)))
