"""HTTP servers: one per camera (ONVIF SOAP, snapshot, MJPEG) and the control API.

Every camera has its own threaded HTTP server on its own port, so a stalled or
slow camera never holds another; frames are rendered only when a snapshot is
requested or a stream is open.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import os
import secrets
import socket
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from simulator.camera import FAULTS, SensorNoise, SimCamera
from simulator.clock import SimClock
from simulator.events import Event, EventError, EventStore
from simulator.onvif import OnvifService
from simulator.soap import CONTENT_TYPE
from simulator.world import World, world_xy
from webapp.geometry.dem import Dem

log = logging.getLogger("nrsc.simulator")
REALM = "NRSC-Simulator"
MAX_BODY = 1 << 20
MAX_SIZE = (3840, 2160)


def parse_size(value: str | None, default: tuple[int, int]) -> tuple[int, int]:
    if not value:
        return default
    try:
        w, h = (int(x) for x in value.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must be WxH, e.g. 640x360, not {value!r}") from None
    if not (16 <= w <= MAX_SIZE[0] and 16 <= h <= MAX_SIZE[1]):
        raise ValueError(f"size {w}x{h} outside 16x16..{MAX_SIZE[0]}x{MAX_SIZE[1]}")
    return w, h


def demo_camera_specs() -> list[Any]:
    """The demo's cameras in its order (T-01…T-31, K-01…K-07), without a database."""
    from webapp.demo.data import demo_cameras
    return demo_cameras()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class Simulator:
    def __init__(self, cameras: int | list[str] = 38, base_port: int | None = 18000, host: str = "127.0.0.1",
                 user: str = "demo", password: str = "demo-onvif-placeholder", seed: int = 1,
                 size: tuple[int, int] = (1920, 1080), dem: Dem | str | os.PathLike | None = None,
                 stream_fps: float = 5.0, specs: list[Any] | None = None, sensor_noise: float = 2.0):
        """``base_port`` None: every server binds a free port (tests); else the control
        API is on ``base_port`` and camera k on ``base_port + k``."""
        self.host, self.user, self.password, self.seed, self.size = host, user, password, seed, size
        self.stream_fps = stream_fps
        # Sensor noise (σ, grey levels) on every capture, as a live camera has; 0: none.
        self.noise = SensorNoise(sensor_noise, seed) if sensor_noise > 0 else None
        self.base_port = base_port
        self.clock = SimClock()
        self.events = EventStore()
        if dem is None:
            raise ValueError("a DEM (path or Dem) is required")
        self.world = World(dem if isinstance(dem, Dem) else Dem.open(dem), seed=seed)
        all_specs = specs if specs is not None else demo_camera_specs()
        if isinstance(cameras, int):
            if not 1 <= cameras <= len(all_specs):
                raise ValueError(f"--cameras must be 1..{len(all_specs)}")
            chosen = list(enumerate(all_specs[:cameras], start=1))
        else:
            by_code = {s.code: (i, s) for i, s in enumerate(all_specs, start=1)}
            missing = [c for c in cameras if c not in by_code]
            if missing:
                raise ValueError(f"unknown camera codes: {missing}")
            chosen = [by_code[c] for c in cameras]
        self.cameras: dict[str, SimCamera] = {}
        self._servers: dict[str, _Server] = {}
        self._ports: dict[str, int] = {}
        self._digest_key = secrets.token_bytes(16)
        for k, spec in chosen:
            port = 0 if base_port is None else base_port + k
            self.cameras[spec.code] = SimCamera(self, k, spec, port)
        for spec in chosen:
            if spec[1].kind == "checkpoint":
                self._road_through_view(self.cameras[spec[1].code])
        self.control: _Server | None = None

    def _road_through_view(self, cam: SimCamera) -> None:
        """Checkpoints watch a road: lay one through the middle of their view."""
        model = cam.camera_model()
        hit = model.pixel_to_ground(model.width / 2, model.height * 0.62, self.world.dem)
        if hit is None:
            return
        lat, lon, _h, _s = hit
        (x0, y0), az = world_xy(lat, lon), model.heading + 70.0
        dx, dy = math.sin(math.radians(az)) * 3000, math.cos(math.radians(az)) * 3000
        self.world.add_road(float(x0) - dx, float(y0) - dy, float(x0) + dx, float(y0) + dy, 8.0, 0)
        cam.road = (lat, lon, az % 360.0)

    # -- lifecycle ---------------------------------------------------------------------
    def _serve(self, server: _Server) -> None:
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
                         name=f"sim-{server.server_address[1]}").start()

    def _start_camera(self, cam: SimCamera) -> None:
        server = _Server((self.host, cam.port), CameraHandler)
        server.camera = cam  # type: ignore[attr-defined]
        cam.port = server.server_address[1]
        self._servers[cam.code] = server
        self._serve(server)

    def start(self) -> "Simulator":
        control_port = 0 if self.base_port is None else self.base_port
        self.control = _Server((self.host, control_port), ControlHandler)
        self.control.sim = self  # type: ignore[attr-defined]
        self._serve(self.control)
        for cam in self.cameras.values():
            self._start_camera(cam)
        # Warm the shared layers (shading, feature index) before the first snapshot asks.
        threading.Thread(target=self._warm, daemon=True, name="sim-warm").start()
        return self

    def _warm(self) -> None:
        self.world.warm()

    @property
    def control_url(self) -> str:
        assert self.control is not None
        return f"http://{self.host}:{self.control.server_address[1]}"

    def stop(self) -> None:
        for cam in self.cameras.values():
            cam.unstall.set()
        servers = list(self._servers.values()) + ([self.control] if self.control else [])
        # shutdown() waits for a serve_forever poll; do them all at once, not one by one.
        threads = [threading.Thread(target=server.shutdown) for server in servers]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        for server in servers:
            server.server_close()
        self._servers.clear()

    def set_offline(self, cam: SimCamera, offline: bool) -> None:
        """Offline: the port is closed (connection refused); back online: reopened."""
        if offline:
            server = self._servers.pop(cam.code, None)
            if server is not None:
                server.shutdown()
                server.server_close()
        elif cam.code not in self._servers and self.control is not None:
            self._start_camera(cam)

    # -- truth ----------------------------------------------------------------------
    def truth(self, with_cameras: bool = True) -> dict[str, Any]:
        t = self.clock.now()
        out = []
        for ev in self.events.all():
            row = ev.as_json()
            row["state"] = ev.state(t)
            lat, lon = row["state"]["lat"], row["state"]["lon"]
            ground = float(self.world.dem.sample(lat, lon))
            row["ground_elevation_m"] = None if ground != ground else round(ground, 2)
            row["extent_m"] = {"width": ev.width_m, "height": ev.height_m}
            if with_cameras and ev.kind != "sunset" and ground == ground:
                seen = []
                for cam in self.cameras.values():
                    model = cam.camera_model()
                    u, v, front = model.ground_to_pixel(lat, lon, ground)
                    if not bool(model.in_image(u, v, front)):
                        continue
                    seen.append({"camera": cam.code, "u": round(float(u), 2), "v": round(float(v), 2),
                                 "width": model.width, "height": model.height,
                                 "occluded": not model.visible(lat, lon, ground, self.world.dem)})
                row["seen_by"] = seen
            out.append(row)
        return {"time": self.clock.datetime().isoformat(), "epoch": t, "events": out}


# --- HTTP auth (snapshot/stream) -------------------------------------------------

def _md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()  # noqa: S324 - RFC 2617 digest


def _parse_digest(header: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in _split_commas(header):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip().lower()] = v.strip().strip('"')
    return out


def _split_commas(s: str) -> list[str]:
    parts, cur, quoted = [], [], False
    for ch in s:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


class CameraHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "NRSC-Sim-Camera/1.0"

    @property
    def cam(self) -> SimCamera:
        return self.server.camera  # type: ignore[attr-defined]

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet; never logs credentials
        log.debug("%s %s", self.cam.code, fmt % args)

    # -- fault wrapper --------------------------------------------------------------
    def _faults_before(self) -> bool:
        """Apply slow/garbage/stall faults; True if the response is already handled."""
        faults = self.cam.faults
        if "slow" in faults:
            time.sleep(float(faults["slow"].get("delay_s", 3.0)))
        if "garbage" in faults:
            junk = os.urandom(int(faults["garbage"].get("bytes", 512)))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(junk)))
            self.end_headers()
            self.wfile.write(junk)
            return True
        return False

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        stall = self.cam.faults.get("stall")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if stall is not None:
            # Mid-response stall: part of the body, then nothing until cleared.
            cut = min(len(body) // 2, int(stall.get("after_bytes", 64)))
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.cam.unstall.wait(float(stall.get("stall_s", 3600.0)))
            self.close_connection = True
            return
        self.wfile.write(body)

    # -- routes -------------------------------------------------------------------
    def do_POST(self) -> None:  # noqa: N802
        path = urlparse(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, b"too large", "text/plain")
            return
        raw = self.rfile.read(length)
        if self._faults_before():
            return
        if not path.startswith("/onvif/"):
            self._send(404, b"not found", "text/plain")
            return
        status, body = OnvifService(self.cam).handle(raw)
        self._send(status, body, CONTENT_TYPE)

    def do_GET(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        if url.path not in ("/snapshot.jpg", "/stream.mjpg"):
            self._send(404, b"not found", "text/plain")
            return
        if self._faults_before():
            return
        if not self._authorised():
            nonce = self._nonce()
            self._send(401, b"unauthorised", "text/plain", {
                "WWW-Authenticate": f'Digest realm="{REALM}", qop="auth", nonce="{nonce}", algorithm=MD5',
                "Connection": "close"})
            self.close_connection = True
            return
        q = parse_qs(url.query)
        try:
            size = parse_size((q.get("size") or [None])[0], self.cam.size)
        except ValueError as exc:
            self._send(400, str(exc).encode(), "text/plain")
            return
        if url.path == "/snapshot.jpg":
            self._send(200, self.cam.jpeg(size), "image/jpeg", {"Cache-Control": "no-store"})
        else:
            self._stream(size, q)

    def _stream(self, size: tuple[int, int], q: dict[str, list[str]]) -> None:
        try:
            fps = max(0.2, min(float((q.get("fps") or [self.cam.sim.stream_fps])[0]), 25.0))
            limit = int((q.get("frames") or [0])[0])
        except ValueError:
            self._send(400, b"bad fps/frames", "text/plain")
            return
        boundary = "nrscframe"
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={boundary}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        sent = 0
        try:
            while self.cam.code in self.cam.sim._servers or sent == 0:
                started = time.monotonic()
                frame = self.cam.jpeg(size)
                stall = self.cam.faults.get("stall")
                head = (f"--{boundary}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(frame)}\r\n\r\n").encode()
                if stall is not None:
                    self.wfile.write(head + frame[: len(frame) // 2])
                    self.wfile.flush()
                    self.cam.unstall.wait(float(stall.get("stall_s", 3600.0)))
                    return
                self.wfile.write(head + frame + b"\r\n")
                self.wfile.flush()
                sent += 1
                if limit and sent >= limit:
                    return
                time.sleep(max(0.0, 1.0 / fps - (time.monotonic() - started)))
        except (BrokenPipeError, ConnectionResetError):
            return

    # -- auth ------------------------------------------------------------------
    def _nonce(self) -> str:
        stamp = str(int(time.time()))
        mac = hmac.new(self.cam.sim._digest_key, stamp.encode(), "sha256").hexdigest()[:16]
        return base64.b64encode(f"{stamp}:{mac}".encode()).decode()

    def _nonce_ok(self, nonce: str) -> bool:
        try:
            stamp, mac = base64.b64decode(nonce).decode().split(":")
        except (ValueError, UnicodeDecodeError):
            return False
        good = hmac.new(self.cam.sim._digest_key, stamp.encode(), "sha256").hexdigest()[:16]
        return hmac.compare_digest(mac, good) and time.time() - int(stamp) < 600

    def _authorised(self) -> bool:
        user, password = self.cam.credentials()
        header = self.headers.get("Authorization") or ""
        if header.startswith("Basic "):
            try:
                u, _, p = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return hmac.compare_digest(u, user) and hmac.compare_digest(p, password)
        if header.startswith("Digest "):
            d = _parse_digest(header[7:])
            if d.get("username") != user or not self._nonce_ok(d.get("nonce", "")):
                return False
            ha1 = _md5(f"{user}:{REALM}:{password}")
            ha2 = _md5(f"{self.command}:{d.get('uri', '')}")
            if d.get("qop"):
                expected = _md5(f"{ha1}:{d['nonce']}:{d.get('nc', '')}:{d.get('cnonce', '')}:{d['qop']}:{ha2}")
            else:
                expected = _md5(f"{ha1}:{d['nonce']}:{ha2}")
            return hmac.compare_digest(d.get("response", ""), expected)
        return False


# --- control API -------------------------------------------------------------------

class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "NRSC-Sim-Control/1.0"

    @property
    def sim(self) -> Simulator:
        return self.server.sim  # type: ignore[attr-defined]

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("control %s", fmt % args)

    def _json(self, status: int, data: Any) -> None:
        body = json.dumps(data, ensure_ascii=False, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("body too large")
        raw = self.rfile.read(length) if length else b"{}"
        try:
            return json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"body is not JSON: {exc}") from None

    def _camera(self, ref: Any) -> SimCamera:
        for cam in self.sim.cameras.values():
            if str(ref) in (cam.code, str(cam.index)):
                return cam
        raise KeyError(f"no camera {ref!r}")

    def do_GET(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        q = parse_qs(url.query)
        if url.path == "/sim/truth":
            self._json(200, self.sim.truth(with_cameras=(q.get("cameras") or ["1"])[0] != "0"))
        elif url.path == "/sim/events":
            t = self.sim.clock.now()
            self._json(200, {"events": [dict(e.as_json(), state=e.state(t)) for e in self.sim.events.all()]})
        elif url.path == "/sim/cameras":
            self._json(200, {"cameras": [c.info() for c in self.sim.cameras.values()]})
        elif url.path == "/sim/faults":
            self._json(200, {"faults": {c.code: c.faults for c in self.sim.cameras.values() if c.faults}})
        elif url.path == "/sim/clock":
            self._json(200, self._clock())
        else:
            self._json(404, {"error": "not found"})

    def _clock(self) -> dict[str, Any]:
        return {"time": self.sim.clock.datetime().isoformat(), "epoch": self.sim.clock.now(),
                "frozen": self.sim.clock.frozen}

    def do_POST(self) -> None:  # noqa: N802
        path = urlparse(self.path).path
        try:
            body = self._body()
            if path == "/sim/events":
                items = body.get("events", body) if isinstance(body, dict) else body
                items = items if isinstance(items, list) else [items]
                now = self.sim.clock.now()
                for item in items:  # validate everything before adding anything
                    Event.from_json(item, 0, now)
                created = [self.sim.events.add(item, now) for item in items]
                self._json(201, {"ids": [e.id for e in created], "events": [e.as_json() for e in created]})
            elif path == "/sim/faults":
                cam = self._camera(body.get("camera"))
                fault = body.get("fault")
                if fault not in FAULTS:
                    raise ValueError(f"fault must be one of {list(FAULTS)}")
                cam.set_fault(fault, {k: v for k, v in body.items() if k not in ("camera", "fault")})
                self._json(200, {"camera": cam.code, "faults": cam.faults})
            elif path == "/sim/faults/clear":
                cams = [self._camera(body["camera"])] if body.get("camera") else list(self.sim.cameras.values())
                for cam in cams:
                    cam.clear_fault(body.get("fault"))
                self._json(200, {"faults": {c.code: c.faults for c in self.sim.cameras.values() if c.faults}})
            elif path == "/sim/clock":
                when = body.get("time")
                if isinstance(when, str):
                    when = datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
                self.sim.clock.set(when=None if when is None else float(when), frozen=body.get("frozen"),
                                   advance_s=float(body.get("advance_s", 0.0)))
                self._json(200, self._clock())
            else:
                self._json(404, {"error": "not found"})
        except EventError as exc:
            self._json(400, {"error": str(exc)})
        except (ValueError, TypeError) as exc:
            self._json(400, {"error": str(exc)})
        except KeyError as exc:
            self._json(404, {"error": str(exc.args[0])})

    def do_DELETE(self) -> None:  # noqa: N802
        path = urlparse(self.path).path
        if path == "/sim/events":
            self.sim.events.clear()
            self._json(200, {"deleted": "all"})
        elif path.startswith("/sim/events/"):
            try:
                ok = self.sim.events.remove(int(path.rsplit("/", 1)[1]))
            except ValueError:
                ok = False
            self._json(200 if ok else 404, {"deleted": ok})
        else:
            self._json(404, {"error": "not found"})


def load_scenario(sim: Simulator, path: str | os.PathLike) -> int:
    """Events from a JSON (or YAML, when PyYAML is installed) file: a list of
    events or ``{"events": [...], "clock": {...}}``."""
    text = Path(path).read_text(encoding="utf-8")
    if str(path).endswith((".yaml", ".yml")):
        import yaml  # type: ignore[import-untyped]
        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if isinstance(data, dict) and isinstance(data.get("clock"), dict):
        c = data["clock"]
        when = c.get("time")
        if isinstance(when, str):
            when = datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
        sim.clock.set(when=when, frozen=c.get("frozen"))
    items = data.get("events", []) if isinstance(data, dict) else data
    now = sim.clock.now()
    for item in items:
        sim.events.add(item, now)
    return len(items)


def free_base_port(count: int, host: str = "127.0.0.1") -> int:
    """A base port P with P..P+count all free right now (for tests and tools)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((host, 0))
            base = s.getsockname()[1]
        if base + count > 65535:
            continue
        ok = True
        for p in range(base, base + count + 1):
            with socket.socket() as s:
                try:
                    s.bind((host, p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port range")
