"""Background services started by ``nrsc run``: the task runner and whatever
recurring jobs the features register with it."""
from __future__ import annotations

from typing import Callable

from flask import Flask

from webapp.tasks import get_runner

# Features append a function (app) -> None that registers/schedules their jobs.
STARTERS: list[Callable[[Flask], None]] = []


def start_background(app: Flask) -> None:
    for starter in STARTERS:
        starter(app)
    get_runner(app).start()
