"""``nrsc run`` starts the demo's camera simulator only when the cameras point
at its loopback ports and those are free; a previous run still stopping is
waited for, and a port kept by another program is said, never silent (the
demo then showed 38 cameras offline and opened 38 maintenance orders)."""
from __future__ import annotations

import socket
import threading
import time

from webapp.cameras import demo_sim
from webapp.extensions import db
from webapp.models import Camera


def _base_port_with_room() -> int:
    """A free port whose next one is free too (the control API and camera 1)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base < 65000 and demo_sim._port_free("127.0.0.1", base + 1):
            return base


def test_waits_for_the_ports_of_a_stopping_run_and_says_when_they_stay_taken(app, monkeypatch):
    import webapp.demo.data as demo_data
    base = _base_port_with_room()
    monkeypatch.setattr(demo_data, "ONVIF_BASE_PORT", base)
    db.session.add(Camera(code="T-01", name="演示塔01", kind="tower", lat=37.3, lon=106.1,
                          onvif_host="127.0.0.1", onvif_port=base + 1))
    db.session.commit()
    said: list[str] = []
    assert demo_sim.wanted(app, said.append, wait_s=1) is True and said == []

    holder = socket.socket()
    holder.bind(("127.0.0.1", base))
    holder.listen()
    try:
        started = time.monotonic()
        assert demo_sim.wanted(app, said.append, wait_s=1) is False
        assert 1 <= time.monotonic() - started < 5
        assert "waiting" in said[0] and "not started" in said[-1] and str(base) in said[-1]

        # A run that stops within the wait: the simulator starts after all.
        said.clear()
        threading.Timer(0.8, holder.close).start()
        assert demo_sim.wanted(app, said.append, wait_s=10) is True
        assert len(said) == 1 and "waiting" in said[0]
    finally:
        holder.close()


def test_cameras_elsewhere_start_no_simulator(app):
    db.session.add(Camera(code="T-02", name="真实塔", kind="tower", lat=37.3, lon=106.1,
                          onvif_host="10.0.0.8", onvif_port=80))
    db.session.commit()
    said: list[str] = []
    assert demo_sim.wanted(app, said.append, wait_s=1) is False and said == []
