"""A small ONVIF camera for the camera tests: real HTTP on loopback, SOAP 1.2
with WS-Security UsernameToken digest, device/media/PTZ services, a JPEG
snapshot whose picture follows the pan/tilt, an MJPEG stream, and faults
(offline, stall mid-response, garbage, stuck PTZ, frozen frame, slow).

The project's simulator (``simulator/``) is the full, geo-referenced camera;
this one exists so the platform's fault handling is tested with exact,
per-test control and no rendering cost."""
from __future__ import annotations

import base64
import hashlib
import io
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image, ImageDraw

NS = ('xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="http://www.onvif.org/ver10/schema" '
      'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" '
      'xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl" xmlns:ter="http://www.onvif.org/ver10/error"')


def envelope(body: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope {NS}><s:Body>{body}</s:Body></s:Envelope>'.encode()


def fault(code: str, sub: str, text: str) -> bytes:
    return envelope(f'<s:Fault><s:Code><s:Value>s:{code}</s:Value><s:Subcode><s:Value>{sub}</s:Value>'
                    f'</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en">{text}</s:Text></s:Reason></s:Fault>')


class FakeCamera:
    def __init__(self, user="admin", password="s3cret-pass", ptz=True, seed=0, sensor_noise=2.0):
        self.user, self.password, self.has_ptz, self.seed = user, password, ptz, seed
        self.sensor_noise = sensor_noise
        self.pan, self.tilt, self.zoom = 0.0, 0.0, 0.0  # ONVIF normalised
        self.presets: dict[str, tuple[str, float, float, float]] = {}
        self.faults: set[str] = set()
        self.calls: list[str] = []
        self.frame_counter = 0
        self.stall_seconds = 30.0
        self.slow_seconds = 0.0
        self._frozen: bytes | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # -- picture ---------------------------------------------------------------
    def jpeg(self) -> bytes:
        if "frozen" in self.faults:
            if self._frozen is None:
                self._frozen = self._render()
            return self._frozen
        return self._render()

    def _render(self) -> bytes:
        self.frame_counter += 1
        pan, tilt = (0.0, 0.0) if "stuck" in self.faults else (self.pan, self.tilt)
        img = Image.new("RGB", (160, 90), (90, 120, 160))
        d = ImageDraw.Draw(img)
        # A scene that depends on where the camera looks: bars shifted by pan/tilt.
        shift = int((pan + 1) * 400) % 160
        for i in range(0, 160, 20):
            x = (i + shift) % 160
            d.rectangle([x, 30 + int(tilt * 20), x + 9 + (i % 40), 89], fill=(40 + i, 140, 60))
        d.rectangle([(shift * 3) % 150, 5, (shift * 3) % 150 + 10, 15], fill=(250, 250, 250))
        # OSD clock and sensor noise: every live frame differs, in bytes and in pixels.
        d.point([(self.frame_counter % 160, 1)], fill=(self.frame_counter % 255, 0, 0))
        if self.sensor_noise:
            noise = np.random.default_rng(self.frame_counter).normal(0, self.sensor_noise, (90, 160, 1))
            img = Image.fromarray(np.clip(np.asarray(img, np.float32) + noise, 0, 255).astype(np.uint8))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=80)
        return buf.getvalue()

    # -- HTTP ------------------------------------------------------------------
    def _handler(self):
        cam = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _drop(self):
                # Like a camera that went away: the connection dies at once.
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            def _send(self, status, body, ctype="application/soap+xml; charset=utf-8", headers=()):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _basic_ok(self):
                h = self.headers.get("Authorization", "")
                if not h.startswith("Basic "):
                    return False
                return base64.b64decode(h[6:]).decode() == f"{cam.user}:{cam.password}"

            def do_GET(self):
                if "offline" in cam.faults:
                    self._drop()
                    return
                if cam.slow_seconds:
                    time.sleep(cam.slow_seconds)
                if not self._basic_ok():
                    self._send(401, b"", "text/plain", [("WWW-Authenticate", 'Basic realm="cam"')])
                    return
                if self.path.startswith("/snapshot.jpg"):
                    if "stall" in cam.faults:
                        self.send_response(200)
                        self.send_header("Content-Type", "image/jpeg")
                        self.send_header("Content-Length", "100000")
                        self.end_headers()
                        self.wfile.write(b"\xff\xd8\xff")
                        self.wfile.flush()
                        time.sleep(cam.stall_seconds)
                        return
                    if "garbage" in cam.faults:
                        self._send(200, b"<html>oops</html>", "image/jpeg")
                        return
                    self._send(200, cam.jpeg(), "image/jpeg")
                elif self.path.startswith("/mjpeg"):
                    self.send_response(200)
                    self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                    self.end_headers()
                    try:
                        for _ in range(int(re.search(r"n=(\d+)", self.path).group(1)) if "n=" in self.path else 10_000):
                            data = cam.jpeg()
                            self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                             + str(len(data)).encode() + b"\r\n\r\n" + data + b"\r\n")
                            self.wfile.flush()
                            time.sleep(0.05)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    self.close_connection = True
                else:
                    self._send(404, b"not found", "text/plain")

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length).decode()
                if "offline" in cam.faults:
                    self._drop()
                    return
                if cam.slow_seconds:
                    time.sleep(cam.slow_seconds)
                op = re.search(r"<(?:[\w-]+:)?Body[^>]*>\s*<(?:[\w-]+:)?(\w+)", body)
                op = op.group(1) if op else ""
                cam.calls.append(op)
                if "stall" in cam.faults:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/soap+xml")
                    self.send_header("Content-Length", "5000")
                    self.end_headers()
                    self.wfile.write(b"<?xml version='1.0'?><s:Envelope")
                    self.wfile.flush()
                    time.sleep(cam.stall_seconds)
                    return
                if "garbage" in cam.faults:
                    self._send(200, b"\x00\x01garbage not xml")
                    return
                if op != "GetSystemDateAndTime" and not cam._auth_ok(body):
                    self._send(400, fault("Sender", "ter:NotAuthorized", "Sender not Authorized"))
                    return
                try:
                    answer = cam.answer(op, body)
                except KeyError as exc:
                    self._send(400, fault("Sender", "ter:NoEntity", f"No such preset {exc}"))
                    return
                if answer is None:
                    self._send(400, fault("Receiver", "ter:ActionNotSupported", f"{op} not supported"))
                    return
                self._send(200, envelope(answer))

        return Handler

    def _auth_ok(self, body: str) -> bool:
        user = re.search(r"<(?:[\w-]+:)?Username>([^<]*)<", body)
        digest = re.search(r"<(?:[\w-]+:)?Password[^>]*>([^<]*)<", body)
        nonce = re.search(r"<(?:[\w-]+:)?Nonce[^>]*>([^<]*)<", body)
        created = re.search(r"<(?:[\w-]+:)?Created[^>]*>([^<]*)<", body)
        if not (user and digest and nonce and created) or user.group(1) != self.user:
            return False
        expect = base64.b64encode(hashlib.sha1(
            base64.b64decode(nonce.group(1)) + created.group(1).encode() + self.password.encode()).digest()).decode()
        return expect == digest.group(1)

    def answer(self, op: str, body: str) -> str | None:
        b = self.base
        vec = lambda x, y, z: (f'<tt:PanTilt x="{x}" y="{y}"/><tt:Zoom x="{z}"/>')  # noqa: E731
        if op == "GetSystemDateAndTime":
            t = time.gmtime()
            return ('<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>'
                    '<tt:DaylightSavings>false</tt:DaylightSavings><tt:UTCDateTime>'
                    f'<tt:Time><tt:Hour>{t.tm_hour}</tt:Hour><tt:Minute>{t.tm_min}</tt:Minute><tt:Second>{t.tm_sec}</tt:Second></tt:Time>'
                    f'<tt:Date><tt:Year>{t.tm_year}</tt:Year><tt:Month>{t.tm_mon}</tt:Month><tt:Day>{t.tm_mday}</tt:Day></tt:Date>'
                    '</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>')
        if op == "GetCapabilities":
            ptz = f"<tt:PTZ><tt:XAddr>{b}/onvif/ptz_service</tt:XAddr></tt:PTZ>" if self.has_ptz else ""
            return (f'<tds:GetCapabilitiesResponse><tds:Capabilities>'
                    f'<tt:Device><tt:XAddr>{b}/onvif/device_service</tt:XAddr></tt:Device>'
                    f'<tt:Media><tt:XAddr>{b}/onvif/media_service</tt:XAddr></tt:Media>{ptz}'
                    '</tds:Capabilities></tds:GetCapabilitiesResponse>')
        if op == "GetServices":
            items = [("http://www.onvif.org/ver10/device/wsdl", "device_service"),
                     ("http://www.onvif.org/ver10/media/wsdl", "media_service")]
            if self.has_ptz:
                items.append(("http://www.onvif.org/ver20/ptz/wsdl", "ptz_service"))
            return "<tds:GetServicesResponse>" + "".join(
                f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{b}/onvif/{p}</tds:XAddr>"
                "<tds:Version><tt:Major>2</tt:Major><tt:Minor>0</tt:Minor></tds:Version></tds:Service>"
                for ns, p in items) + "</tds:GetServicesResponse>"
        if op == "GetDeviceInformation":
            return ("<tds:GetDeviceInformationResponse><tds:Manufacturer>Fake</tds:Manufacturer>"
                    "<tds:Model>FC-1</tds:Model><tds:FirmwareVersion>1.0</tds:FirmwareVersion>"
                    "<tds:SerialNumber>SN1</tds:SerialNumber><tds:HardwareId>HW1</tds:HardwareId>"
                    "</tds:GetDeviceInformationResponse>")
        if op == "GetProfiles":
            ptzconf = ('<tt:PTZConfiguration token="ptz0"><tt:Name>ptz</tt:Name><tt:UseCount>1</tt:UseCount>'
                       '<tt:NodeToken>n0</tt:NodeToken></tt:PTZConfiguration>') if self.has_ptz else ""
            return ('<trt:GetProfilesResponse><trt:Profiles token="main" fixed="true"><tt:Name>main</tt:Name>'
                    '<tt:VideoEncoderConfiguration token="v0"><tt:Name>v</tt:Name><tt:UseCount>1</tt:UseCount>'
                    '<tt:Encoding>JPEG</tt:Encoding><tt:Resolution><tt:Width>160</tt:Width><tt:Height>90</tt:Height>'
                    f'</tt:Resolution><tt:Quality>5</tt:Quality></tt:VideoEncoderConfiguration>{ptzconf}'
                    '</trt:Profiles></trt:GetProfilesResponse>')
        if op == "GetSnapshotUri":
            return (f"<trt:GetSnapshotUriResponse><trt:MediaUri><tt:Uri>{b}/snapshot.jpg</tt:Uri>"
                    "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false"
                    "</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetSnapshotUriResponse>")
        if op == "GetStreamUri":
            return (f"<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>{b}/mjpeg</tt:Uri>"
                    "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false"
                    "</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>")
        if not self.has_ptz:
            return None
        if op == "GetPresets":
            return "<tptz:GetPresetsResponse>" + "".join(
                f'<tptz:Preset token="{tok}"><tt:Name>{name}</tt:Name><tt:PTZPosition>{vec(x, y, z)}</tt:PTZPosition></tptz:Preset>'
                for tok, (name, x, y, z) in sorted(self.presets.items())) + "</tptz:GetPresetsResponse>"
        if op == "SetPreset":
            tok = re.search(r"PresetToken>([^<]+)<", body)
            name = re.search(r"PresetName>([^<]*)<", body)
            tok = tok.group(1) if tok else str(len(self.presets) + 1)
            self.presets[tok] = (name.group(1) if name else tok, self.pan, self.tilt, self.zoom)
            return f"<tptz:SetPresetResponse><tptz:PresetToken>{tok}</tptz:PresetToken></tptz:SetPresetResponse>"
        if op == "GotoPreset":
            tok = re.search(r"PresetToken>([^<]+)<", body).group(1)
            _name, self.pan, self.tilt, self.zoom = self.presets[tok]
            return "<tptz:GotoPresetResponse/>"
        if op in ("AbsoluteMove", "RelativeMove", "ContinuousMove"):
            pt = re.search(r'PanTilt[^>]*x="([-\d.eE]+)"[^>]*y="([-\d.eE]+)"', body)
            zm = re.search(r'Zoom[^>]*x="([-\d.eE]+)"', body)
            x, y = (float(pt.group(1)), float(pt.group(2))) if pt else (0.0, 0.0)
            z = float(zm.group(1)) if zm else 0.0
            if op == "AbsoluteMove":
                self.pan, self.tilt, self.zoom = x, y, z
            elif op == "RelativeMove":
                self.pan = ((self.pan + x + 1) % 2) - 1
                self.tilt = max(-1, min(1, self.tilt + y))
                self.zoom = max(0, min(1, self.zoom + z))
            else:
                self.pan = ((self.pan + x * 0.1 + 1) % 2) - 1
                self.tilt = max(-1, min(1, self.tilt + y * 0.1))
            return f"<tptz:{op}Response/>"
        if op == "Stop":
            return "<tptz:StopResponse/>"
        if op == "GetStatus":
            return (f"<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position>{vec(self.pan, self.tilt, self.zoom)}"
                    "</tt:Position><tt:MoveStatus><tt:PanTilt>IDLE</tt:PanTilt><tt:Zoom>IDLE</tt:Zoom></tt:MoveStatus>"
                    "<tt:UtcTime>2026-11-20T00:00:00Z</tt:UtcTime></tptz:PTZStatus></tptz:GetStatusResponse>")
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
