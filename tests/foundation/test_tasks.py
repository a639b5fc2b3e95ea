"""The background-work API: eager, in-process threads, recurring jobs on the
injected clock, and the Celery backend against the real Redis broker."""
from __future__ import annotations

import socket
import threading
import time

import pytest
from sqlalchemy import func, select

from webapp import create_app
from webapp.extensions import db
from webapp.models import AuditEvent
from webapp.platform.audit import record
from webapp.platform.tasks import TaskRunner, get_runner


def _audit_count(action: str) -> int:
    return db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == action))


def _write_event(action: str) -> None:
    record(action, "test", None, actor_label="job")
    db.session.commit()


def test_eager_job_runs_at_once_inside_an_app_context(app):
    runner = get_runner(app)
    runner.register("write", _write_event)
    runner.submit("write", action="eager-ran")
    assert _audit_count("eager-ran") == 1


def test_unknown_and_twice_registered_jobs_are_refused(app):
    runner = get_runner(app)
    with pytest.raises(KeyError):
        runner.submit("no-such-job")
    runner.register("write", _write_event)
    with pytest.raises(ValueError, match="registered twice"):
        runner.register("write", lambda: None)
    with pytest.raises(KeyError):
        runner.schedule("missing", every_seconds=10)


def test_threaded_runner_runs_jobs_off_the_request_thread_and_survives_failures(app):
    runner = TaskRunner(app, eager=False)
    done = threading.Event()
    seen = {}

    def job(value):
        seen["thread"] = threading.current_thread().name
        seen["value"] = value
        done.set()

    def broken():
        raise RuntimeError("disk full")

    runner.register("job", job)
    runner.register("broken", broken)
    runner.submit("broken")
    runner.submit("job", value=42)
    assert done.wait(10), "the job never ran"
    runner.stop()
    assert seen["value"] == 42 and seen["thread"].startswith("nrsc-job")
    assert runner.errors == [("broken", "RuntimeError: disk full")]


def test_recurring_jobs_run_when_the_injected_clock_says_so(app, clock):
    runner = get_runner(app)
    runs = []
    runner.register("sweep", lambda: runs.append(clock()))
    runner.schedule("sweep", every_seconds=30)
    assert "sweep" in runner.tick()          # first tick runs it
    assert "sweep" not in runner.tick()      # not due again yet
    clock.advance(seconds=29)
    assert "sweep" not in runner.tick()
    clock.advance(seconds=1)
    assert "sweep" in runner.tick()
    assert len(runs) == 2


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def test_celery_backend_runs_jobs_on_a_worker_through_redis(app_config, clock):
    if not _redis_up():
        pytest.fail("Redis is not running on 127.0.0.1:6379 (.ci/run starts it)")
    from celery.contrib.testing.worker import start_worker

    config = dict(app_config, CELERY_BROKER_URL="redis://127.0.0.1:6379/15", NRSC_TASKS_EAGER=False)
    celery_app_factory = create_app(config, load_entrypoints=False)
    runner = get_runner(celery_app_factory)
    runner.register("write", _write_event)
    celery = runner._celery_app()
    celery.conf.broker_connection_retry_on_startup = True
    with start_worker(celery, perform_ping_check=False, pool="solo", loglevel="WARNING"):
        runner.submit("write", action="celery-ran")
        with celery_app_factory.app_context():
            deadline = time.monotonic() + 20
            while _audit_count("celery-ran") == 0 and time.monotonic() < deadline:
                db.session.remove()
                time.sleep(0.1)
            assert _audit_count("celery-ran") == 1
    # Celery beat runs exactly the recurring jobs of the explicit registry.
    from webapp import jobs
    beat = celery.conf.beat_schedule
    from webapp.cameras import jobs as cameras_jobs
    from webapp.detection import learning
    expected = {name for name, _fn, every in jobs.JOBS if every} | {
        cameras_jobs.PATROL_JOB, "checkpoint_poll", "evidence_retention",
        learning.THRESHOLD_JOB, learning.MODEL_SYNC_JOB}
    assert set(beat) == {f"nrsc.{name}" for name in expected}
    assert "nrsc.write" not in beat
