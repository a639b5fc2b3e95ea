"""``nrsc run``: the web server and the worker as two child processes, for a
single machine and the demo. They are the same two processes a production
install runs as systemd units (``nrsc web``, ``nrsc worker``); this parent only
starts them, reports the address, and stops both on Ctrl-C or SIGTERM."""
from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Callable

from webapp.config import child_environment

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # If this parent is killed outright (SIGKILL), the children get SIGTERM
    # from the kernel instead of running on as orphans.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def run_all(host: str, port: int, *, graceful_s: float,
            on_ready: Callable[[str], None] | None = None,
            echo: Callable[[str], None] = print, settings: dict[str, str] | None = None) -> int:
    """Start ``nrsc worker`` and ``nrsc web`` and supervise them; return the exit status."""
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    command = [sys.executable, "-m", "webapp.cli"]
    children: dict[str, subprocess.Popen] = {}
    status = 0
    try:
        # A session of their own: Ctrl-C reaches only this parent, which then
        # stops both children in order instead of racing them.
        spawn = dict(start_new_session=True, preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        if settings:  # extra NRSC_* settings for both children, on top of this process's environment
            spawn["env"] = child_environment(settings)
        children["worker"] = subprocess.Popen([*command, "worker"], **spawn)
        children["web"] = subprocess.Popen([*command, "web", "--host", host, "--port", str(port)], **spawn)
        ready = False
        while not stop.is_set():
            dead = [name for name, p in children.items() if p.poll() is not None]
            if dead:
                echo(f"nrsc {dead[0]} exited with status {children[dead[0]].returncode}; stopping")
                status = 1
                break
            if not ready and _listening(host, port):
                ready = True
                if on_ready:
                    on_ready(f"http://{host}:{port}/")
            stop.wait(0.2)
    finally:
        for p in children.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + graceful_s + 5
        for p in children.values():
            try:
                p.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return status
