"""Every background job and long-running service of the core, in one explicit
registry: what a worker runs never depends on which modules were imported.

``register_jobs`` runs in every process (web workers submit jobs by name);
recurring schedules and services start only in the one worker process
(``nrsc worker`` / ``nrsc run``) or in Celery beat."""
from __future__ import annotations

from typing import Callable

from flask import Flask

from webapp.alerts import mqtt, review
from webapp.assessment import jobs as assessment_jobs
from webapp.cameras import jobs as cameras_jobs
from webapp.detection import learning
from webapp.notify import audit_watch, outbox
from webapp.orders import deadlines
from webapp.platform.tasks import TaskRunner, get_runner
from webapp.printing import batch as print_batch
from webapp.printing import pdf as print_pdf

# (name, function, every seconds or None for on-demand only)
JOBS: tuple[tuple[str, Callable, float | None], ...] = (
    (deadlines.SLA_JOB, deadlines.sla_sweep, deadlines.SLA_EVERY_SECONDS),
    (review.ESCALATION_JOB, review.escalate_overdue, review.ESCALATION_EVERY_SECONDS),
    (outbox.JOB_NAME, outbox.deliver_notifications, outbox.JOB_EVERY_S),
    (assessment_jobs.BULLETIN_JOB, assessment_jobs.monthly_bulletin, assessment_jobs.BULLETIN_EVERY_SECONDS),
    (audit_watch.VERIFY_JOB, audit_watch.verify_job, audit_watch.VERIFY_EVERY_SECONDS),
    (print_batch.JOB_NAME, print_batch.run, None),
    (print_pdf.PRERENDER_JOB, print_pdf.prerender, None),
)
# Long-running services started by the worker process, never by web workers.
SERVICES: tuple[Callable[[Flask], None], ...] = (
    mqtt.start_mqtt,
)


def register_jobs(runner: TaskRunner) -> None:
    for name, function, every in JOBS:
        runner.register(name, function)
        if every:
            runner.schedule(name, every)
    # The cameras area: patrol tick, clips, checkpoint passages, evidence retention.
    cameras_jobs.register_jobs(runner)
    # Detection: thresholds raised from verdicts.
    learning.register_jobs(runner)


def start_services(app: Flask) -> None:
    for start in SERVICES:
        start(app)


def start_worker(app: Flask) -> None:
    """Start the recurring jobs' scheduler and the services in this process."""
    start_services(app)
    get_runner(app).start()
