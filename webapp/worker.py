"""The one process that runs background work: ``nrsc worker``.

Without a broker it runs the recurring jobs (SLA sweep, review escalation,
notification outbox) on the in-process scheduler and the long-running services
(the MQTT subscriber). With ``CELERY_BROKER_URL`` the recurring jobs belong to
Celery beat and its workers; this process then runs only the services, so the
MQTT subscriber still exists exactly once. Web processes run neither."""
from __future__ import annotations

import logging
import signal
import threading
from typing import Callable

from flask import Flask

from webapp import jobs
from webapp.platform.tasks import get_runner

log = logging.getLogger(__name__)


def run(app: Flask, on_ready: Callable[[str], None] | None = None,
        stop: threading.Event | None = None) -> None:
    """Run the background work until SIGTERM/SIGINT (or ``stop`` is set)."""
    stop = stop or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    runner = get_runner(app)
    try:
        jobs.start_worker(app)
        if on_ready:
            if runner.broker_url:
                on_ready("services started; recurring jobs run in Celery beat + workers")
            else:
                on_ready("recurring jobs: " + ", ".join(
                    f"{r.name} every {r.every.total_seconds():g}s" for r in runner.recurring.values()))
        while not stop.wait(1.0):
            pass
    finally:
        subscriber = app.extensions.pop("nrsc.mqtt", None)
        if subscriber is not None:
            subscriber.stop()
        runner.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
