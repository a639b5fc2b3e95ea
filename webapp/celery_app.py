"""Entry point for Celery workers: ``celery -A webapp.celery_app worker -B``.

Used only when CELERY_BROKER_URL is set; the in-process worker is the default."""
from webapp import create_app, jobs
from webapp.platform.tasks import get_runner

app = create_app()
jobs.start_services(app)
celery = get_runner(app)._celery_app()
