"""One API for background work: run a job now, or schedule a recurring one.

Every background job (SLA timers, patrol, notifications, MQTT) goes through
here. Two backends:

* in-process (default): a small thread pool plus a scheduler thread, started
  only in the ``nrsc worker`` process (webapp/worker.py); with
  ``eager=True`` (tests) jobs run at once in the caller and recurring jobs run
  only when :meth:`TaskRunner.tick` is called, so tests move the injected clock
  instead of sleeping.
* Celery (``CELERY_BROKER_URL`` set): jobs are sent to the broker and recurring
  ones go to Celery beat: ``celery -A webapp.celery_app worker`` and one
  ``celery -A webapp.celery_app beat``.

Jobs are plain functions called inside an application context with keyword
arguments that must be JSON-serialisable.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from flask import Flask

from webapp.platform import clock

log = logging.getLogger(__name__)
Job = Callable[..., Any]


@dataclass
class Recurring:
    name: str
    every: timedelta
    kwargs: dict[str, Any]
    next_run: datetime | None = None


class TaskRunner:
    def __init__(self, app: Flask, *, eager: bool = False, broker_url: str | None = None):
        self.app = app
        self.eager = eager
        self.broker_url = broker_url
        self.jobs: dict[str, Job] = {}
        self.recurring: dict[str, Recurring] = {}
        self.errors: list[tuple[str, str]] = []
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._celery = None

    # -- registration --------------------------------------------------------
    def job(self, name: str) -> Callable[[Job], Job]:
        def decorator(fn: Job) -> Job:
            self.register(name, fn)
            return fn
        return decorator

    def register(self, name: str, fn: Job) -> None:
        if name in self.jobs and self.jobs[name] is not fn:
            raise ValueError(f"background job {name!r} registered twice")
        self.jobs[name] = fn

    def schedule(self, name: str, every_seconds: float, **kwargs: Any) -> None:
        if name not in self.jobs:
            raise KeyError(f"unknown background job {name!r}")
        self.recurring[name] = Recurring(name, timedelta(seconds=every_seconds), kwargs)

    # -- running -------------------------------------------------------------
    def submit(self, name: str, **kwargs: Any) -> None:
        if name not in self.jobs:
            raise KeyError(f"unknown background job {name!r}")
        if self.broker_url:
            self._celery_app().send_task(f"nrsc.{name}", kwargs=kwargs)
        elif self.eager:
            self.run(name, **kwargs)
        else:
            self._executor().submit(self.run, name, **kwargs)

    def run(self, name: str, **kwargs: Any) -> Any:
        """Run one job now in this thread, inside an app context."""
        with self.app.app_context():
            try:
                return self.jobs[name](**kwargs)
            except Exception as exc:  # noqa: BLE001 - a failed job must not kill the worker
                log.exception("background job %s failed", name)
                self.errors.append((name, f"{type(exc).__name__}: {exc}"))
                del self.errors[:-100]
                if self.eager:
                    raise
                return None

    def tick(self) -> list[str]:
        """Run every recurring job that is due by the injected clock."""
        now = clock.now()
        ran = []
        with self._lock:
            due = [r for r in self.recurring.values() if r.next_run is None or r.next_run <= now]
            for r in due:
                r.next_run = now + r.every
        for r in due:
            self.run(r.name, **r.kwargs)
            ran.append(r.name)
        return ran

    def start(self) -> None:
        """Start the in-process scheduler thread (not used with Celery or eager)."""
        if self.broker_url or self.eager or self._thread:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="nrsc-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
            self._thread = None
        if self._pool:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.tick()
            except Exception:  # noqa: BLE001
                log.exception("scheduler tick failed")

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="nrsc-job")
        return self._pool

    # -- celery --------------------------------------------------------------
    def _celery_app(self):
        if self._celery is None:
            self._celery = make_celery(self)
        return self._celery


def make_celery(runner: TaskRunner):
    """A Celery app whose tasks are the runner's jobs, each run in an app context."""
    from celery import Celery

    celery = Celery("nrsc", broker=runner.broker_url)
    celery.conf.update(task_ignore_result=True, timezone="UTC")
    for name in runner.jobs:
        def task(_name=name, **kwargs):
            return runner.run(_name, **kwargs)
        celery.task(name=f"nrsc.{name}")(task)
    celery.conf.beat_schedule = {
        f"nrsc.{r.name}": {"task": f"nrsc.{r.name}", "schedule": r.every.total_seconds(),
                           "kwargs": r.kwargs}
        for r in runner.recurring.values()
    }
    return celery


def get_runner(app: Flask | None = None) -> TaskRunner:
    from flask import current_app
    return (app or current_app).extensions["nrsc.tasks"]
