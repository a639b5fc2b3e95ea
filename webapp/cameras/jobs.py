"""Every background job of the cameras area, registered in one place."""
from __future__ import annotations

from typing import Any

PATROL_JOB = "camera_patrol_tick"


def register_jobs(runner: Any) -> None:
    """Register (and schedule) the cameras' jobs on a TaskRunner; idempotent.

    Patrol ticks every second (each tick only submits what is due, per camera,
    in the process's patrol engine; under Celery each worker process has its
    own engine and the per-camera leases decide who drives what)."""
    from flask import current_app

    from webapp.cameras import clips, passages, patrol, retention
    from webapp.detection import pipeline

    # Detection examines every patrol stop (webapp/detection/pipeline.py): in
    # this process behind a bounded queue, or as a job under Celery.
    pipeline.install()
    jobs = {
        PATROL_JOB: patrol.patrol_tick,
        pipeline.JOB_NAME: pipeline.detect_visit,
        clips.CLIP_JOB: clips.clip_job,
        passages.PASSAGE_JOB: passages.poll_checkpoints,
        retention.RETENTION_JOB: retention.sweep_job,
    }
    for name, fn in jobs.items():
        if name not in runner.jobs:
            runner.register(name, fn)
    cfg = runner.app.config if getattr(runner, "app", None) is not None else current_app.config
    if cfg.get("NRSC_PATROL_ENABLED", True):
        runner.schedule(PATROL_JOB, float(cfg.get("NRSC_PATROL_TICK_S", 1.0)))
        runner.schedule(passages.PASSAGE_JOB, float(cfg.get("NRSC_CHECKPOINT_POLL_S", 2.0)))
    runner.schedule(retention.RETENTION_JOB, float(cfg.get("NRSC_RETENTION_EVERY_S", 3600)))
