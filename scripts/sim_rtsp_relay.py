"""RTSP for the simulator's cameras: GStreamer's RTSP server relaying each
camera's MJPEG stream as RTP/JPEG, so the platform's RTSP capture path (OpenCV
→ FFmpeg → RTSP) is exercised against the simulated world.

It needs Debian's GStreamer packages and runs under the system Python (PyGObject
is not in the virtual environment):

    apt-get install gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 \\
        gstreamer1.0-plugins-good gstreamer1.0-plugins-base python3-gi
    /usr/bin/python3 scripts/sim_rtsp_relay.py --port 8554 --user demo --password … \\
        T-01=http://127.0.0.1:18001/stream.mjpg K-01=http://127.0.0.1:18032/stream.mjpg

Each camera is then at ``rtsp://127.0.0.1:8554/<code>`` (no RTSP auth: the
relay listens on loopback only). It prints ``READY <port>`` once listening.
Standard library and PyGObject only: it must not import the project (it lives in
scripts/, outside the packages, because PyGObject is a system package).
"""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8554, help="0: any free port (printed)")
    ap.add_argument("--user", default="")
    ap.add_argument("--password", default="")
    ap.add_argument("cameras", nargs="+", help="CODE=MJPEG-URL")
    args = ap.parse_args(argv)
    try:
        import gi
        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GLib, Gst, GstRtspServer
    except (ImportError, ValueError) as exc:
        print(f"GStreamer RTSP server not available: {exc}", file=sys.stderr)
        return 2
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    auth = ""
    if args.user:
        auth = f' user-id="{args.user}" user-pw="{args.password}"'
    for spec in args.cameras:
        code, _, url = spec.partition("=")
        if not code.replace("-", "").isalnum() or not url.startswith("http"):
            print(f"bad camera spec {spec!r}", file=sys.stderr)
            return 2
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(f'( souphttpsrc location="{url}"{auth} is-live=true do-timestamp=true'
                           " ! multipartdemux ! image/jpeg ! jpegparse ! rtpjpegpay name=pay0 pt=26 )")
        factory.set_shared(True)  # one pull from the camera whoever watches
        mounts.add_factory(f"/{code}", factory)
    if server.attach(None) == 0:
        print(f"could not listen on {args.host}:{args.port}", file=sys.stderr)
        return 1
    print(f"READY {server.get_bound_port()}", flush=True)
    try:
        GLib.MainLoop().run()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
