"""ONVIF control of one camera through onvif-zeep, with its habits contained.

onvif-zeep (0.2.12) does three things a server process must not suffer, all
handled here and nowhere else:

* at import it calls ``logging.basicConfig(level=INFO)`` (a root handler that
  would print every library's INFO lines, and zeep's SOAP bodies) and silences
  ``zeep.client``: we import it once, under a lock, and put the root logger
  and zeep's level back as they were;
* ``ONVIFCamera()`` deletes ``http_proxy``/``https_proxy`` from the process
  environment (so cameras are reached directly): we restore them right after
  construction and give zeep a session that ignores proxies instead;
* it builds ``zeep.CachingClient`` objects whose default transport writes a
  SQLite WSDL cache under the home folder: we always pass our own transport
  (in-memory cache — the WSDLs ship with the package and are read from disk)
  and ``no_cache=True``.

Every call has a timeout (connect and read, from the transport), and every
failure becomes a :class:`CameraError` with a ``kind`` (unreachable, timeout,
auth, protocol, no_ptz, no_preset) and a message that never carries the
password. Positions are in the platform's degrees (:mod:`webapp.ptz`
conventions); the normalised ONVIF spaces stay inside this module.
"""
from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from webapp import config
from webapp.cameras.credentials import Credentials, credentials_for, redact
from webapp.geometry import ptz

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT_S = 5.0
_import_lock = threading.Lock()
_env_lock = threading.Lock()
_onvif: Any = None
PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")


def _onvif_module():
    """Import onvif once, undoing its logging set-up."""
    global _onvif
    if _onvif is not None:
        return _onvif
    with _import_lock:
        if _onvif is None:
            root = logging.getLogger()
            handlers, level = list(root.handlers), root.level
            zeep_client = logging.getLogger("zeep.client")
            zeep_level = zeep_client.level
            import onvif  # noqa: PLC0415 - deliberately late and contained
            root.handlers[:] = handlers
            root.setLevel(level)
            zeep_client.setLevel(zeep_level)
            # The library logs 'Unexpected service type' tracebacks at ERROR for
            # harmless capability entries; keep them at debug level only.
            logging.getLogger("onvif").setLevel(logging.WARNING)
            _onvif = onvif
    return _onvif


class CameraError(Exception):
    """A camera call that failed; ``kind`` is one of KINDS."""

    KINDS = ("unreachable", "timeout", "auth", "protocol", "no_ptz", "no_preset", "no_stream")

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


def classify(exc: BaseException, secrets: tuple[str, ...] = ()) -> CameraError:
    """Map requests/zeep/onvif failures to a CameraError (password redacted)."""
    import requests
    from zeep import exceptions as zx

    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 6:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    text = redact(" | ".join(str(e) for e in chain)[:300], *secrets)
    for e in chain:
        if isinstance(e, CameraError):
            return e
        if isinstance(e, requests.Timeout):
            return CameraError("timeout", text)
        if isinstance(e, requests.ConnectionError):
            # A body that stops arriving surfaces as a ConnectionError around a read timeout.
            return CameraError("timeout" if "timed out" in str(e).lower() else "unreachable", text)
        if isinstance(e, zx.Fault):
            msg = f"{e.message or ''} {e.code or ''} {e.subcodes or ''}".lower()
            if "notauthorized" in msg.replace(" ", "") or "not authorized" in msg or "authori" in msg:
                return CameraError("auth", text)
            if "nosuchpreset" in msg.replace(" ", "") or "preset" in msg and "no" in msg:
                return CameraError("no_preset", text)
            return CameraError("protocol", text)
        if isinstance(e, zx.TransportError):
            if e.status_code in (401, 403):
                return CameraError("auth", text)
            return CameraError("protocol", text)
        if isinstance(e, (zx.XMLSyntaxError, zx.XMLParseError, zx.Error)):
            return CameraError("protocol", text)
    return CameraError("protocol", text)


@dataclass
class Position:
    pan_deg: float
    tilt_deg: float
    zoom: float
    moving: bool = False


@dataclass
class PresetInfo:
    token: str
    name: str
    number: int | None
    position: Position | None = None


@dataclass
class Profile:
    token: str
    name: str
    width: int | None = None
    height: int | None = None
    has_ptz: bool = False


@dataclass
class DeviceInfo:
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    serial: str = ""
    hardware: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class OnvifAdapter:
    """One camera's ONVIF session (device, media, PTZ services), reused across
    calls; :meth:`close` drops it. Not thread-safe: one per driving thread."""

    def __init__(self, host: str, port: int, credentials: Credentials, *,
                 timeout: float = DEFAULT_TIMEOUT_S, max_zoom: float = ptz.DEFAULT_MAX_ZOOM,
                 label: str = ""):
        self.host, self.port = host, int(port)
        self._credentials = credentials
        self.timeout = float(timeout)
        self.max_zoom = max_zoom
        self.label = label or f"{host}:{port}"
        self._cam: Any = None
        self._media: Any = None
        self._ptz: Any = None
        self._profile_token: str | None = None

    def __repr__(self) -> str:
        return f"<OnvifAdapter {self.label}>"

    @classmethod
    def for_camera(cls, camera: Any, timeout: float = DEFAULT_TIMEOUT_S) -> "OnvifAdapter":
        if not camera.onvif_host or not camera.onvif_port:
            raise CameraError("unreachable", f"camera {camera.code} has no ONVIF address")
        return cls(camera.onvif_host, camera.onvif_port, credentials_for(camera), timeout=timeout,
                   max_zoom=ptz.max_zoom_of(camera.fov_table), label=camera.code)

    # -- session -------------------------------------------------------------
    def _secrets(self) -> tuple[str, ...]:
        return (self._credentials.password,)

    def _transport(self):
        import requests
        from zeep.cache import InMemoryCache
        from zeep.transports import Transport
        # The library deletes proxy variables so cameras are reached directly;
        # we get the same without touching the environment.
        session = requests.Session()
        session.trust_env = False
        return Transport(cache=InMemoryCache(), timeout=self.timeout, operation_timeout=self.timeout,
                         session=session)

    def connect(self) -> "OnvifAdapter":
        if self._cam is not None:
            return self
        self._probe()
        onvif = _onvif_module()
        with _env_lock:
            saved = config.saved_proxy_environment(PROXY_VARS)
            try:
                self._cam = onvif.ONVIFCamera(
                    self.host, self.port, self._credentials.user, self._credentials.password,
                    no_cache=True, transport=self._transport())
            except Exception as exc:  # noqa: BLE001 - every failure is classified
                raise classify(exc, self._secrets()) from None
            finally:
                config.restore_environment(saved)
        return self

    def _probe(self) -> None:
        """A TCP connection to the camera's port first: the ONVIF client parses
        its WSDL schemas (a fraction of a second of CPU) before it sends
        anything, and a patrol retrying dozens of dark cameras spent a whole
        core on that. A port that refuses or does not answer fails here."""
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout):
                pass
        except socket.timeout:
            raise CameraError("timeout", f"{self.host}:{self.port} did not answer in {self.timeout:g} s") from None
        except OSError as exc:
            raise CameraError("unreachable", f"{self.host}:{self.port} unreachable: "
                                             f"{exc.strerror or type(exc).__name__}") from None

    def close(self) -> None:
        self._cam = self._media = self._ptz = None
        self._profile_token = None

    def _call(self, service: str, method: str, params: Any = None) -> Any:
        self.connect()
        try:
            svc = self._service(service)
            return getattr(svc, method)(params) if params is not None else getattr(svc, method)()
        except CameraError:
            raise
        except Exception as exc:  # noqa: BLE001
            err = classify(exc, self._secrets())
            if err.kind in ("unreachable", "timeout"):
                self.close()  # reconnect next time: the camera may have restarted
            raise err from None

    def _service(self, name: str) -> Any:
        if name == "devicemgmt":
            return self._cam.devicemgmt
        if name == "media":
            if self._media is None:
                self._media = self._create("media")
            return self._media
        if name == "ptz":
            if self._ptz is None:
                self._ptz = self._create("ptz")
            return self._ptz
        raise ValueError(name)

    def _create(self, name: str) -> Any:
        try:
            return self._cam.create_onvif_service(name)
        except Exception as exc:  # noqa: BLE001
            if "doesn`t support" in str(exc) or "support service" in str(exc):
                raise CameraError("no_ptz" if name == "ptz" else "protocol",
                                  f"{self.label} has no {name} service") from None
            raise classify(exc, self._secrets()) from None

    # -- device --------------------------------------------------------------
    def device_info(self) -> DeviceInfo:
        r = self._call("devicemgmt", "GetDeviceInformation")
        return DeviceInfo(manufacturer=str(r.Manufacturer or ""), model=str(r.Model or ""),
                          firmware=str(r.FirmwareVersion or ""), serial=str(r.SerialNumber or ""),
                          hardware=str(r.HardwareId or ""))

    def system_time(self) -> Any:
        return self._call("devicemgmt", "GetSystemDateAndTime")

    def capabilities(self) -> dict[str, str]:
        """Service name → XAddr, from GetCapabilities."""
        r = self._call("devicemgmt", "GetCapabilities", {"Category": "All"})
        out = {}
        for name in ("Analytics", "Device", "Events", "Imaging", "Media", "PTZ"):
            cap = getattr(r, name, None)
            if cap is not None and getattr(cap, "XAddr", None):
                out[name.lower()] = str(cap.XAddr)
        return out

    def services(self) -> dict[str, str]:
        """Namespace → XAddr, from GetServices."""
        r = self._call("devicemgmt", "GetServices", {"IncludeCapability": False})
        return {str(s.Namespace): str(s.XAddr) for s in (r or [])}

    # -- media ---------------------------------------------------------------
    def profiles(self) -> list[Profile]:
        out = []
        for p in self._call("media", "GetProfiles") or []:
            enc = getattr(p, "VideoEncoderConfiguration", None)
            res = getattr(enc, "Resolution", None) if enc is not None else None
            out.append(Profile(token=str(p.token), name=str(getattr(p, "Name", "") or ""),
                               width=int(res.Width) if res is not None else None,
                               height=int(res.Height) if res is not None else None,
                               has_ptz=getattr(p, "PTZConfiguration", None) is not None))
        return out

    def profile_token(self) -> str:
        if self._profile_token is None:
            profiles = self.profiles()
            if not profiles:
                raise CameraError("protocol", f"{self.label} reports no media profile")
            self._profile_token = profiles[0].token
        return self._profile_token

    def stream_uri(self, protocol: str = "RTSP") -> str:
        r = self._call("media", "GetStreamUri", {
            "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": protocol}},
            "ProfileToken": self.profile_token()})
        return str(r.Uri)

    def snapshot_uri(self) -> str:
        r = self._call("media", "GetSnapshotUri", {"ProfileToken": self.profile_token()})
        return str(r.Uri)

    # -- PTZ -----------------------------------------------------------------
    def _position(self, vector: Any) -> Position | None:
        if vector is None:
            return None
        pt = getattr(vector, "PanTilt", None)
        zm = getattr(vector, "Zoom", None)
        x = float(pt.x) if pt is not None else 0.0
        y = float(pt.y) if pt is not None else 0.0
        z = float(zm.x) if zm is not None else 0.0
        pan, tilt, zoom = ptz.from_onvif(x, y, z, self.max_zoom)
        return Position(pan, tilt, zoom)

    def presets(self) -> list[PresetInfo]:
        out = []
        for p in self._call("ptz", "GetPresets", {"ProfileToken": self.profile_token()}) or []:
            token = str(p.token)
            number = int(token) if token.isdigit() else None
            out.append(PresetInfo(token=token, name=str(getattr(p, "Name", "") or ""), number=number,
                                  position=self._position(getattr(p, "PTZPosition", None))))
        return out

    def goto_preset(self, number: int | str, speed: float | None = None) -> None:
        params: dict[str, Any] = {"ProfileToken": self.profile_token(), "PresetToken": str(number)}
        if speed is not None:
            params["Speed"] = {"PanTilt": {"x": speed, "y": speed}, "Zoom": {"x": speed}}
        self._call("ptz", "GotoPreset", params)

    def set_preset(self, number: int | str | None, name: str = "") -> str:
        """Save the current position; returns the camera's preset token.

        ONVIF overwrites with a token and creates without one; cameras differ
        on a token they do not know yet, so that case retries as a creation."""
        params: dict[str, Any] = {"ProfileToken": self.profile_token()}
        if name:
            params["PresetName"] = name
        if number is not None:
            try:
                r = self._call("ptz", "SetPreset", {**params, "PresetToken": str(number)})
                return str(r) if r is not None else str(number)
            except CameraError as exc:
                if exc.kind != "no_preset":
                    raise
        r = self._call("ptz", "SetPreset", params)
        return str(r)

    def absolute_move(self, pan_deg: float, tilt_deg: float, zoom: float) -> None:
        x, y, z = ptz.to_onvif(pan_deg, tilt_deg, zoom, self.max_zoom)
        self._call("ptz", "AbsoluteMove", {"ProfileToken": self.profile_token(),
                                           "Position": {"PanTilt": {"x": x, "y": y}, "Zoom": {"x": z}}})

    def relative_move(self, d_pan_deg: float = 0.0, d_tilt_deg: float = 0.0, d_zoom: float = 0.0) -> None:
        """Move by degrees (pan, tilt) and zoom steps, expressed in the
        normalised translation space (pan: 180° per unit, tilt: range/2 per unit)."""
        dx = d_pan_deg / 180.0
        dy = d_tilt_deg / ((ptz.TILT_MAX_DEG - ptz.TILT_MIN_DEG) / 2.0)
        dz = d_zoom / max(self.max_zoom - 1.0, 1e-9)
        self._call("ptz", "RelativeMove", {"ProfileToken": self.profile_token(),
                                           "Translation": {"PanTilt": {"x": dx, "y": dy}, "Zoom": {"x": dz}}})

    def continuous_move(self, pan_speed: float = 0.0, tilt_speed: float = 0.0, zoom_speed: float = 0.0,
                        seconds: float | None = None) -> None:
        params: dict[str, Any] = {"ProfileToken": self.profile_token(), "Velocity": {
            "PanTilt": {"x": max(-1.0, min(1.0, pan_speed)), "y": max(-1.0, min(1.0, tilt_speed))},
            "Zoom": {"x": max(-1.0, min(1.0, zoom_speed))}}}
        if seconds is not None:
            params["Timeout"] = f"PT{max(0.1, float(seconds)):.1f}S"
        self._call("ptz", "ContinuousMove", params)

    def stop(self) -> None:
        self._call("ptz", "Stop", {"ProfileToken": self.profile_token(), "PanTilt": True, "Zoom": True})

    def status(self) -> Position:
        r = self._call("ptz", "GetStatus", {"ProfileToken": self.profile_token()})
        pos = self._position(getattr(r, "Position", None)) or Position(0.0, 0.0, 1.0)
        ms = getattr(r, "MoveStatus", None)
        if ms is not None:
            states = {str(getattr(ms, "PanTilt", "") or ""), str(getattr(ms, "Zoom", "") or "")}
            pos.moving = "MOVING" in {s.upper() for s in states}
        return pos
