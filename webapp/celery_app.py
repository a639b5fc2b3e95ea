"""Entry point for Celery workers: ``celery -A webapp.celery_app worker -B``.

Used only when CELERY_BROKER_URL is set; the in-process worker is the default."""
from webapp import create_app, services
from webapp.tasks import get_runner

app = create_app()
for _starter in services.STARTERS:
    _starter(app)
celery = get_runner(app)._celery_app()
