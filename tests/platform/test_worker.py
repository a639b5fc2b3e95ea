"""Where background work runs: the worker process starts the scheduler (no
broker) or only the services (with a broker); Celery processes never start the
MQTT subscriber, so it exists once however many Celery workers run."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from webapp import create_app, worker
from webapp.platform.tasks import get_runner

ROOT = Path(__file__).resolve().parents[2]
BROKER = "mqtt://127.0.0.1:1883"


def _run_worker(app):
    stop = threading.Event()
    seen = []
    thread = threading.Thread(target=worker.run, args=(app,), kwargs={"on_ready": seen.append, "stop": stop})
    thread.start()
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        time.sleep(0.05)
    return stop, thread, seen


@pytest.mark.broker
@pytest.mark.parametrize("celery", [False, True])
def test_worker_runs_services_and_schedules_only_without_a_broker(db_url, tmp_path, celery):
    config = {"DATABASE_URL": db_url, "NRSC_DATA_DIR": str(tmp_path), "SECRET_KEY": "x", "MQTT_URL": BROKER}
    if celery:
        config["CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/15"
    app = create_app(config, load_entrypoints=False)
    runner = get_runner(app)
    stop, thread, seen = _run_worker(app)
    try:
        assert seen, "the worker did not report ready"
        assert app.extensions.get("nrsc.mqtt") is not None, "the MQTT subscriber runs in the worker"
        scheduling = runner._thread is not None and runner._thread.is_alive()
        assert scheduling is (not celery), seen  # with a broker, beat owns the schedule
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive() and "nrsc.mqtt" not in app.extensions
    assert runner._thread is None


@pytest.mark.broker
def test_celery_processes_do_not_start_the_mqtt_subscriber(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NRSC_")}
    env.update(PYTHONPATH=str(ROOT), NRSC_DATA_DIR=str(tmp_path), NRSC_SECRET_KEY="x",
               NRSC_MQTT_URL=BROKER, NRSC_LOAD_ENTRYPOINTS="0", CELERY_BROKER_URL="redis://127.0.0.1:6379/15")
    probe = ("import webapp.celery_app as c, threading\n"
             "print('nrsc.mqtt' in c.app.extensions, sorted(t.name for t in threading.enumerate()))")
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("False ['MainThread']"), out.stdout
