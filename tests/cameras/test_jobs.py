"""Job wiring: one register_jobs for the in-process worker and Celery; a
Celery task run drives patrol with the same per-camera lease."""
from __future__ import annotations

from sqlalchemy import select

from webapp.cameras import jobs, patrol
from webapp.extensions import db
from webapp.models import CameraRuntime, PatrolVisit
from webapp.platform.tasks import TaskRunner, get_runner, make_celery


def test_registered_by_the_app_and_idempotent(app):
    runner = get_runner(app)  # the app registered them through webapp.jobs
    jobs.register_jobs(runner)  # idempotent
    assert {jobs.PATROL_JOB, "camera_clip", "checkpoint_poll", "evidence_retention"} <= set(runner.jobs)
    assert jobs.PATROL_JOB in runner.recurring and "evidence_retention" in runner.recurring


def test_celery_task_ticks_patrol_under_a_lease(app, clock, fakecams, make_camera):
    cam = make_camera(fakecams(), dwell=5, settle=1)
    runner = TaskRunner(app, broker_url="memory://")
    jobs.register_jobs(runner)
    celery = make_celery(runner)
    assert f"nrsc.{jobs.PATROL_JOB}" in celery.conf.beat_schedule
    task = celery.tasks[f"nrsc.{jobs.PATROL_JOB}"]
    try:
        for _ in range(3):
            task.apply()
            patrol.engine_for(app).drain()
            clock.advance(seconds=1)
        db.session.expire_all()
        rt = db.session.get(CameraRuntime, cam.id)
        engine = patrol.engine_for(app)
        assert rt.lease_holder == engine.holder
        visits = db.session.scalars(select(PatrolVisit)).all()
        assert visits and {v.worker for v in visits} == {engine.holder}
    finally:
        patrol.engine_for(app).stop()
