"""The cameras' settings: environment variables of the same name fill the app
config (overrides given to create_app() win). Defaults live where each is used."""
from __future__ import annotations

import os

from flask import Flask

NUMERIC = (
    "NRSC_CAMERA_TIMEOUT_S", "NRSC_CAPTURE_CONCURRENCY", "NRSC_CAMERA_OFFLINE_AFTER",
    "NRSC_PATROL_LEASE_S", "NRSC_PATROL_BURST", "NRSC_PATROL_BURST_INTERVAL_S", "NRSC_PATROL_MAX_CAMERAS",
    "NRSC_PATROL_RAMP", "NRSC_PATROL_SETTLE_S", "NRSC_PATROL_RESUME_AFTER_S", "NRSC_PATROL_TICK_S",
    "NRSC_CHECKPOINT_POLL_S", "NRSC_ALERT_CLIP_SECONDS", "NRSC_PATROL_FRAME_DAYS", "NRSC_PASSAGE_DAYS",
    "NRSC_ALERT_EVIDENCE_DAYS", "NRSC_ARCHIVE_YEARS", "NRSC_EVIDENCE_BUDGET_MB", "NRSC_RETENTION_EVERY_S",
    "NRSC_PASSAGE_RADIUS_M", "NRSC_PASSAGE_WINDOW_MIN", "NRSC_COVERAGE_TARGET",
)
TEXT = ("NRSC_CHECKPOINT_IN_SIDE", "NRSC_SIM_SIZE")
FLAGS = ("NRSC_PATROL_ENABLED",)


def load(app: Flask) -> None:
    env = os.environ
    for name in NUMERIC:
        if name in env and name not in app.config:
            app.config[name] = float(env[name])
    for name in TEXT:
        if name in env and name not in app.config:
            app.config[name] = env[name]
    for name in FLAGS:
        if name in env and name not in app.config:
            app.config[name] = env[name] not in ("0", "false", "no", "")
