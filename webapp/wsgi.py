"""The WSGI entry point for gunicorn: ``gunicorn webapp.wsgi:app`` (``nrsc web``
does this with the settings of webapp/config.py).

Web processes only serve requests: recurring jobs and services such as the MQTT
subscriber run in the one ``nrsc worker`` process (or Celery worker + beat)."""
from webapp import create_app

app = create_app()
