"""Background services started by ``nrsc run``: the task runner and whatever
recurring jobs the features register with it."""
from __future__ import annotations

from typing import Callable

from flask import Flask

from webapp.cameras.jobs import start as start_cameras
from webapp.tasks import get_runner

# Features append a function (app) -> None that registers/schedules their jobs.
STARTERS: list[Callable[[Flask], None]] = []
STARTERS.append(start_cameras)


def start_background(app: Flask) -> None:
    for starter in STARTERS:
        starter(app)
    get_runner(app).start()


def serve(app: Flask, host: str, port: int, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve the app over HTTP until interrupted, then stop the background work.

    Flask ignores ``app.run()`` inside its own CLI, so the server is made here
    (threaded werkzeug; gunicorn in production)."""
    from werkzeug.serving import make_server

    server = make_server(host, port, app, threaded=True)  # OSError when the port is taken
    if on_ready:
        on_ready(f"http://{host}:{server.server_port}/")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        get_runner(app).stop()
