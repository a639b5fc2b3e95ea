"""Frame capture: HTTP snapshots (digest or basic auth) and stream frames
(RTSP or HTTP-MJPEG through OpenCV), timestamped when captured.

A :class:`CameraLink` per camera keeps its HTTP session (keep-alive), its
ONVIF adapter and an open stream, and spaces reconnection attempts with an
exponential backoff, so a dead camera costs one failed attempt per backoff
step, not one per patrol tick. Links live in :data:`LINKS`, one per camera
per process."""
from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterator, Self
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from requests.auth import HTTPBasicAuth, HTTPDigestAuth

from webapp.cameras.adapter import CameraError, OnvifAdapter
from webapp.cameras.credentials import Credentials, credentials_for, redact
from webapp.platform import clock

DEFAULT_TIMEOUT_S = 5.0
MAX_SNAPSHOT_BYTES = 20 * 1024 * 1024
# At most this many snapshot downloads at once in the process: 38 cameras
# asked together would all time out on a 2-core host (or a busy simulator).
_slots = threading.BoundedSemaphore(6)


def set_capture_concurrency(n: int) -> None:
    global _slots
    _slots = threading.BoundedSemaphore(max(1, int(n)))


@dataclass(frozen=True)
class Frame:
    """One captured JPEG, timestamped by the platform clock at capture."""

    data: bytes
    captured_at: datetime
    source: str  # snapshot | stream

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class Backoff:
    """Exponential backoff on the platform clock: 1, 2, 4 … up to ``cap`` s."""

    def __init__(self, base: float = 1.0, cap: float = 60.0):
        self.base, self.cap = base, cap
        self.failures = 0
        self.not_before: datetime | None = None

    def ready(self) -> bool:
        return self.not_before is None or clock.now() >= self.not_before

    def failed(self) -> None:
        self.failures += 1
        delay = min(self.cap, self.base * 2 ** (self.failures - 1))
        self.not_before = clock.now() + timedelta(seconds=delay)

    def succeeded(self) -> None:
        self.failures = 0
        self.not_before = None


def _is_jpeg(data: bytes) -> bool:
    return len(data) > 4 and data[:2] == b"\xff\xd8"


class SnapshotClient:
    """GET a snapshot URI with a kept-alive session; picks digest or basic
    from the camera's first 401 challenge and keeps it."""

    def __init__(self, url: str, credentials: Credentials, timeout: float = DEFAULT_TIMEOUT_S):
        self.url = url
        self.credentials = credentials
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False  # cameras are on the intranet, never behind a proxy
        self._auth: Any = None

    def close(self) -> None:
        self.session.close()

    def _get(self) -> requests.Response:
        return self.session.get(self.url, auth=self._auth, timeout=self.timeout, stream=True)

    def fetch(self) -> Frame:
        with _slots:
            return self._fetch()

    def _fetch(self) -> Frame:
        secrets = (self.credentials.password,)
        try:
            resp = self._get()
            if resp.status_code == 401 and self.credentials:
                challenge = resp.headers.get("WWW-Authenticate", "").lower()
                resp.close()
                user, pw = self.credentials.user, self.credentials.password
                self._auth = HTTPDigestAuth(user, pw) if challenge.startswith("digest") else HTTPBasicAuth(user, pw)
                resp = self._get()
            if resp.status_code in (401, 403):
                resp.close()
                raise CameraError("auth", f"snapshot refused ({resp.status_code})")
            if resp.status_code != 200:
                resp.close()
                raise CameraError("protocol", f"snapshot answered HTTP {resp.status_code}")
            data = bytearray()
            for chunk in resp.iter_content(64 * 1024):
                data += chunk
                if len(data) > MAX_SNAPSHOT_BYTES:
                    resp.close()
                    raise CameraError("protocol", "snapshot larger than 20 MB")
            captured = clock.now()
        except CameraError:
            raise
        except requests.Timeout as exc:
            raise CameraError("timeout", redact(str(exc), *secrets)) from None
        except requests.RequestException as exc:
            kind = "timeout" if "timed out" in str(exc).lower() else "unreachable"
            raise CameraError(kind, redact(str(exc), *secrets)) from None
        if not _is_jpeg(bytes(data)):
            raise CameraError("protocol", "snapshot is not a JPEG")
        return Frame(bytes(data), captured, "snapshot")


def url_with_credentials(url: str, credentials: Credentials) -> str:
    """The stream URL with user:password for OpenCV/FFmpeg (basic auth in the
    URL is all FFmpeg offers). Never log the result."""
    if not credentials:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{quote(credentials.user, safe='')}:{quote(credentials.password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class _EncodesFrames:
    """``read()``: the next frame of the subclass's ``read_array()`` as a JPEG :class:`Frame`."""

    def read(self, quality: int = 85) -> Frame:
        import cv2
        img, captured = self.read_array()
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise CameraError("protocol", "could not encode a stream frame")
        return Frame(buf.tobytes(), captured, "stream")


class StreamReader(_EncodesFrames):
    """Frames from an RTSP or HTTP-MJPEG stream through OpenCV.

    The capture is opened once and reused; a stream that ends or errors is
    reopened on the next read (the caller's backoff spaces the attempts)."""

    def __init__(self, url: str, credentials: Credentials, timeout: float = DEFAULT_TIMEOUT_S):
        self.url = url
        self.credentials = credentials
        self.timeout = timeout
        self._cap: Any = None

    def _open(self):
        import cv2
        ms = int(self.timeout * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        cap = cv2.VideoCapture(url_with_credentials(self.url, self.credentials), cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            raise CameraError("no_stream", f"stream {redact(self.url, self.credentials.password)} did not open")
        self._cap = cap

    def read_array(self):
        """The next decoded frame (BGR array) and its capture time."""
        if self._cap is None:
            self._open()
        ok, img = self._cap.read()
        captured = clock.now()
        if not ok or img is None:
            self.close()
            raise CameraError("no_stream", "the stream ended")
        return img, captured

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class StreamHub:
    """One reader of a camera's stream shared by all its consumers.

    ``cv2.VideoCapture`` is not thread-safe, and the live view and a clip
    recording may want the same camera at once: one thread owns the capture
    (a :class:`StreamReader`) and publishes each decoded frame; every consumer
    holds its own :class:`StreamSubscription` and reads the frames published
    after its previous read (a slow consumer skips frames, never stalls the
    others). The reader starts with the first subscriber and stops
    ``idle_s`` after the last one leaves; a stream that fails ends every
    waiting read with the error, and the next subscriber opens it afresh."""

    def __init__(self, url: str, credentials: Credentials, timeout: float = DEFAULT_TIMEOUT_S,
                 idle_s: float = 3.0):
        self.url, self.credentials, self.timeout, self.idle_s = url, credentials, timeout, idle_s
        self._cond = threading.Condition()
        self._subscribers = 0
        self._seq = 0
        self._latest: tuple[Any, datetime] | None = None
        self._error: CameraError | None = None
        self._thread: threading.Thread | None = None
        self._stop = False
        self.opens = 0  # captures opened so far (one per reader run)

    def subscribe(self) -> StreamSubscription:
        with self._cond:
            self._subscribers += 1
            if self._thread is None or not self._thread.is_alive():
                self._error, self._latest, self._stop = None, None, False
                self._thread = threading.Thread(target=self._run, daemon=True, name="camera-stream")
                self._thread.start()
            return StreamSubscription(self, self._seq)

    def _leave(self) -> None:
        with self._cond:
            self._subscribers = max(0, self._subscribers - 1)
            self._cond.notify_all()

    def _run(self) -> None:
        reader = StreamReader(self.url, self.credentials, self.timeout)
        idle_since: float | None = None
        try:
            while True:
                with self._cond:
                    if self._stop:
                        return
                    if self._subscribers == 0:
                        idle_since = idle_since or time.monotonic()
                        if time.monotonic() - idle_since >= self.idle_s:
                            return
                    else:
                        idle_since = None
                if reader._cap is None:
                    self.opens += 1
                img, at = reader.read_array()
                with self._cond:
                    self._seq += 1
                    self._latest = (img, at)
                    self._cond.notify_all()
        except CameraError as exc:
            with self._cond:
                self._error = exc
                self._cond.notify_all()
        except Exception as exc:  # noqa: BLE001 - OpenCV/FFmpeg trouble ends the stream like a camera error
            with self._cond:
                self._error = CameraError("no_stream", redact(str(exc), self.credentials.password))
                self._cond.notify_all()
        finally:
            reader.close()

    def next_frame(self, after: int) -> tuple[int, Any, datetime]:
        """The first frame published after sequence number ``after``."""
        deadline = time.monotonic() + self.timeout + 1.0
        with self._cond:
            while self._seq <= after:
                if self._error is not None and (self._thread is None or not self._thread.is_alive()):
                    raise self._error
                if self._thread is None or not self._thread.is_alive():
                    raise CameraError("no_stream", "the stream ended")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CameraError("timeout", "no frame from the stream in time")
                self._cond.wait(min(left, 0.5))
            assert self._latest is not None
            return self._seq, self._latest[0], self._latest[1]

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 2)


class StreamSubscription(_EncodesFrames):
    """One consumer's view of a :class:`StreamHub` (the StreamReader API)."""

    def __init__(self, hub: StreamHub, seq: int):
        self.hub, self._seen, self._closed = hub, seq, False

    def read_array(self):
        """The next decoded frame (BGR array, shared: do not modify) and its capture time."""
        if self._closed:
            raise CameraError("no_stream", "subscription closed")
        self._seen, img, captured = self.hub.next_frame(self._seen)
        return img, captured

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.hub._leave()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # a consumer that forgot to close still lets the reader stop
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - at interpreter exit the hub may be gone
            pass


class CameraLink:
    """Everything open to one camera: ONVIF adapter, snapshot session, stream."""

    def __init__(self, camera: Any, timeout: float = DEFAULT_TIMEOUT_S):
        self.camera_id = camera.id
        self.code = camera.code
        self.timeout = timeout
        self.credentials = credentials_for(camera)
        self.has_onvif = bool(camera.onvif_host and camera.onvif_port)
        self.adapter = OnvifAdapter.for_camera(camera, timeout) if self.has_onvif else None
        self.snapshot_uri = camera.snapshot_uri
        self.stream_uri = camera.stream_uri
        self._snap: SnapshotClient | None = None
        self._stream: StreamHub | None = None
        self.backoff = Backoff()
        self.lock = threading.RLock()

    def _snapshot_client(self) -> SnapshotClient:
        if self._snap is None:
            uri = self.snapshot_uri
            if not uri and self.adapter is not None:
                uri = self.snapshot_uri = self.adapter.snapshot_uri()
            if not uri:
                raise CameraError("no_stream", f"{self.code} has no snapshot URI")
            self._snap = SnapshotClient(uri, self.credentials, self.timeout)
        return self._snap

    def snapshot(self) -> Frame:
        with self.lock:
            try:
                frame = self._snapshot_client().fetch()
            except CameraError:
                self.backoff.failed()
                raise
            self.backoff.succeeded()
            return frame

    def stream(self) -> StreamSubscription:
        """A subscription of one's own to the camera's stream (close it when done):
        the live view and a clip recording read the same camera concurrently
        through one shared capture (:class:`StreamHub`)."""
        with self.lock:
            if self._stream is None:
                uri = self.stream_uri
                if not uri and self.adapter is not None:
                    # Prefer the HTTP MJPEG stream when the camera offers one (no RTSP server needed).
                    uri = self.stream_uri = self.adapter.stream_uri("HTTP")
                if not uri:
                    raise CameraError("no_stream", f"{self.code} has no stream URI")
                self._stream = StreamHub(uri, self.credentials, self.timeout)
            hub = self._stream
        return hub.subscribe()

    def burst(self, count: int, interval_s: float = 0.2) -> list[Frame]:
        """``count`` fresh snapshots ``interval_s`` apart (real time: the
        camera's image changes in real time even when the platform clock is frozen)."""
        frames = []
        for i in range(count):
            if i:
                time.sleep(interval_s)
            frames.append(self.snapshot())
        return frames

    def close(self) -> None:
        with self.lock:
            if self._snap:
                self._snap.close()
                self._snap = None
            if self._stream:
                self._stream.close()
                self._stream = None
            if self.adapter:
                self.adapter.close()


def _timeout() -> float:
    from flask import current_app, has_app_context
    if has_app_context():
        return float(current_app.config.get("NRSC_CAMERA_TIMEOUT_S", 10.0))
    return DEFAULT_TIMEOUT_S


class LinkRegistry:
    def __init__(self):
        self._links: dict[int, CameraLink] = {}
        self._lock = threading.Lock()

    def get(self, camera: Any) -> CameraLink:
        with self._lock:
            link = self._links.get(camera.id)
            if link is None:
                link = self._links[camera.id] = CameraLink(camera, _timeout())
            return link

    def drop(self, camera_id: int) -> None:
        with self._lock:
            link = self._links.pop(camera_id, None)
        if link:
            link.close()

    def clear(self) -> None:
        with self._lock:
            links, self._links = list(self._links.values()), {}
        for link in links:
            link.close()


LINKS = LinkRegistry()


def mjpeg_parts(resp: requests.Response, max_part: int = MAX_SNAPSHOT_BYTES) -> Iterator[bytes]:
    """JPEG parts of a multipart/x-mixed-replace response (the live-view proxy
    re-frames them, so a camera's boundary quirks never reach the browser)."""
    buf = b""
    for chunk in resp.iter_content(32 * 1024):
        buf += chunk
        while True:
            start = buf.find(b"\xff\xd8")
            if start < 0:
                buf = buf[-1:]
                break
            end = buf.find(b"\xff\xd9", start + 2)
            if end < 0:
                buf = buf[start:]
                if len(buf) > max_part:
                    raise CameraError("protocol", "stream part larger than 20 MB")
                break
            yield buf[start:end + 2]
            buf = buf[end + 2:]
