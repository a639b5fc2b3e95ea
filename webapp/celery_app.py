"""Entry point for Celery: ``celery -A webapp.celery_app worker`` and
``celery -A webapp.celery_app beat`` (one beat per installation).

Used only when CELERY_BROKER_URL is set. Celery processes run jobs and
schedules only; the MQTT subscriber and other services run once, in the
``nrsc worker`` process, never in each Celery worker."""
from webapp import create_app
from webapp.platform.tasks import get_runner

app = create_app()
celery = get_runner(app)._celery_app()
