"""Configuration from the environment, with secrets from an instance file."""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# UI languages: zh_CN by default, English when chosen.
LANGUAGES = ("zh_CN", "en")


class ConfigError(RuntimeError):
    """Configuration that cannot work; the message names the setting."""


def default_data_dir() -> Path:
    return Path(os.environ.get("NRSC_DATA_DIR") or Path.cwd() / "var")


def default_models_dir(data_dir: Path | None = None) -> Path:
    """Installed detector models: NRSC_MODELS_DIR, else <data dir>/models."""
    return Path(os.environ.get("NRSC_MODELS_DIR") or (data_dir or default_data_dir()) / "models")


def models_cache_dir() -> Path:
    """Downloaded packages and the throwaway conversion environment of `nrsc models install`."""
    return Path(os.environ.get("NRSC_MODELS_CACHE") or Path.home() / ".cache" / "nrsc-models")


def pdf_font_dir() -> Path:
    """The reduced Chinese fonts of the printed work order (webapp/printing/fonts.py)."""
    return Path(os.environ.get("NRSC_PDF_FONT_DIR") or Path.home() / ".cache" / "nrsc-fonts")


def database_url(raw: str | None, data_dir: Path) -> str:
    if not raw:
        return f"sqlite:///{data_dir / 'nrsc.sqlite3'}"
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://"):]
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError) as exc:  # ValueError: e.g. a port that is not a number
        raise ConfigError(f"DATABASE_URL is malformed ({exc}); expected e.g. "
                          "postgresql://user@127.0.0.1:5432/nrsc or sqlite:////path/nrsc.sqlite3") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"DATABASE_URL uses {url.get_backend_name()!r}; only sqlite and postgresql are supported")
    if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def _instance_secret(data_dir: Path) -> str:
    """A per-installation secret key kept in the data dir, created once."""
    path = data_dir / "instance" / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def _number(env, name: str, kind=float):
    """An optional numeric setting: None when unset, so the module's default applies."""
    raw = env.get(name)
    if raw in (None, ""):
        return None
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None


def default_web_workers() -> int:
    # gthread workers: one process per core keeps every core busy; threads
    # (not processes) absorb slow clients and long-held MJPEG live views.
    return max(2, os.cpu_count() or 1)


# Cameras, patrol, evidence retention, checkpoint passages, coverage (docs/cameras.md):
# set from the environment when given; each default lives where the setting is used.
CAMERA_NUMERIC = (
    "NRSC_CAMERA_TIMEOUT_S", "NRSC_CAPTURE_CONCURRENCY", "NRSC_CAMERA_OFFLINE_AFTER", "NRSC_CAMERA_FROZEN_AFTER",
    "NRSC_CAMERA_FROZEN_SECONDS",
    "NRSC_PATROL_LEASE_S", "NRSC_PATROL_BURST", "NRSC_PATROL_BURST_INTERVAL_S", "NRSC_PATROL_MAX_CAMERAS",
    "NRSC_PATROL_RAMP", "NRSC_PATROL_SETTLE_S", "NRSC_PATROL_RESUME_AFTER_S", "NRSC_PATROL_TICK_S",
    "NRSC_CHECKPOINT_POLL_S", "NRSC_ALERT_CLIP_SECONDS", "NRSC_PATROL_FRAME_DAYS", "NRSC_PASSAGE_DAYS",
    "NRSC_ALERT_EVIDENCE_DAYS", "NRSC_ARCHIVE_YEARS", "NRSC_EVIDENCE_BUDGET_MB", "NRSC_RETENTION_EVERY_S",
    "NRSC_PASSAGE_RADIUS_M", "NRSC_PASSAGE_WINDOW_MIN", "NRSC_COVERAGE_TARGET",
)
CAMERA_TEXT = ("NRSC_CHECKPOINT_IN_SIDE", "NRSC_SIM_SIZE")
CAMERA_FLAGS = ("NRSC_PATROL_ENABLED",)
# The detection pipeline and geolocation (docs/detection.md): set from the
# environment when given; each default lives where the setting is used.
DETECTION_NUMERIC = (
    "NRSC_DETECTION_WORKERS", "NRSC_DETECTION_QUEUE", "NRSC_DETECTION_MAX_AGE_S", "NRSC_DETECTION_MIN_SCORE",
    "NRSC_CHANGE_INTERVAL_S", "NRSC_CHANGE_RANGE_M", "NRSC_CONFIRM_VISIT_WINDOW_S", "NRSC_TRIANGULATE_WINDOW_S",
    "NRSC_GEO_PIXEL_SIGMA", "NRSC_GEO_PAN_SIGMA_DEG", "NRSC_GEO_TILT_SIGMA_DEG", "NRSC_GEO_BOX_SIGMA",
)
DETECTION_TEXT = ("NRSC_DETECTION_LEARNED_FRAMES", "NRSC_DETECTION_MODE")
DETECTION_FLAGS = ("NRSC_DETECTION_ENABLED",)
# Learning from verdicts (webapp/detection/learning.py): a preset's threshold
# for a detector rises by STEP (never past MAX_THRESHOLD) when its last WINDOW
# verdicts fall below MIN_PRECISION; the job runs every EVERY_S seconds. A
# false alarm's box becomes a mask grown by MASK_MARGIN of its size per side.
LEARNING_DEFAULTS: dict[str, float] = {
    "NRSC_LEARN_WINDOW": 20, "NRSC_LEARN_MIN_PRECISION": 0.5, "NRSC_LEARN_STEP": 0.05,
    "NRSC_LEARN_MAX_THRESHOLD": 0.9, "NRSC_LEARN_BASE_THRESHOLD": 0.5, "NRSC_LEARN_EVERY_S": 3600,
    "NRSC_LEARN_MASK_MARGIN": 0.25,
}


def saved_proxy_environment(names: tuple[str, ...]) -> dict[str, str]:
    """The proxy variables a library is about to delete (onvif-zeep does), to put back."""
    return {k: os.environ[k] for k in names if k in os.environ}


def restore_environment(saved: dict[str, str]) -> None:
    os.environ.update(saved)


def child_environment(extra: dict[str, str]) -> dict[str, str]:
    """The environment for a child process of ours: this one's, plus ``extra``
    settings (the child reads them through load_config like any other)."""
    return {**os.environ, **extra}


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    overrides = dict(overrides or {})
    env = os.environ
    data_dir = Path(overrides.pop("NRSC_DATA_DIR", None) or default_data_dir())
    data_dir.mkdir(parents=True, exist_ok=True)
    cfg: dict[str, Any] = {
        "NRSC_DATA_DIR": data_dir,
        "SQLALCHEMY_DATABASE_URI": database_url(
            overrides.pop("DATABASE_URL", None) or env.get("DATABASE_URL"), data_dir),
        "SECRET_KEY": env.get("NRSC_SECRET_KEY") or _instance_secret(data_dir),
        "CELERY_BROKER_URL": env.get("CELERY_BROKER_URL") or None,
        "MQTT_URL": env.get("NRSC_MQTT_URL") or None,
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
        "MAX_CONTENT_LENGTH": int(env.get("NRSC_MAX_UPLOAD_MB", "40")) * 1024 * 1024,
        "NRSC_MAX_IMAGE_BYTES": int(env.get("NRSC_MAX_IMAGE_MB", "10")) * 1024 * 1024,
        "NRSC_MAX_IMAGE_PIXELS": int(env.get("NRSC_MAX_IMAGE_PIXELS", str(50_000_000))),
        "NRSC_TILE_URL": env.get("NRSC_TILE_URL", ""),
        # Plain text shown beside "Leaflet" on every map when tiles are drawn.
        "NRSC_TILE_ATTRIBUTION": env.get("NRSC_TILE_ATTRIBUTION", ""),
        # Batch print jobs: processes laying out PDFs (empty: one per core, at most 4).
        "NRSC_PRINT_PROCESSES": env.get("NRSC_PRINT_PROCESSES", ""),
        # The reduced PDF fonts built at set-up (absent: PDFs use the full system font).
        "NRSC_PDF_FONT_DIR": str(pdf_font_dir()),
        # Cyclic garbage collection paused while a PDF is made (faster; 0: never paused).
        "NRSC_PDF_GC_PAUSE": env.get("NRSC_PDF_GC_PAUSE", "1") != "0",
        # A closed order's PDF is made in the background when it closes (the
        # office prints closed orders: their first PDF and batches then come
        # from the cache); 0: made when first asked for.
        "NRSC_PDF_PRERENDER": env.get("NRSC_PDF_PRERENDER", "1") != "0",
        # Elevation model (GeoTIFF, any CRS) for camera geolocation, coverage and the
        # simulator; the synthetic district DEM is written there when it is missing.
        "NRSC_DEM_PATH": Path(env.get("NRSC_DEM_PATH") or data_dir / "dem" / "hongsipu-synthetic-dem.tif"),
        "NRSC_BASE_URL": env.get("NRSC_BASE_URL", ""),
        "NRSC_LOAD_ENTRYPOINTS": env.get("NRSC_LOAD_ENTRYPOINTS", "1") != "0",
        "NRSC_DISABLED_PLUGINS": [p for p in env.get("NRSC_DISABLED_PLUGINS", "").split(",") if p],
        # MQTT intake (webapp/alerts/mqtt.py): topics, a topic prefix, Frigate label map (JSON).
        "NRSC_MQTT_TOPICS": env.get("NRSC_MQTT_TOPICS") or None,
        "NRSC_MQTT_PREFIX": env.get("NRSC_MQTT_PREFIX", ""),
        "NRSC_FRIGATE_LABELS": env.get("NRSC_FRIGATE_LABELS") or None,
        # Frigate (webapp/alerts/frigate.py): its camera names -> our codes (JSON), the base URL
        # of its HTTP API for event snapshots, how long a snapshot waits for its event.
        "NRSC_FRIGATE_CAMERAS": env.get("NRSC_FRIGATE_CAMERAS") or None,
        "NRSC_FRIGATE_URL": env.get("NRSC_FRIGATE_URL") or None,
        "NRSC_FRIGATE_SNAPSHOT_MAX_AGE_S": _number(env, "NRSC_FRIGATE_SNAPSHOT_MAX_AGE_S"),
        "NRSC_FRIGATE_TIMEOUT_S": _number(env, "NRSC_FRIGATE_TIMEOUT_S"),
        # Intake and GIS tuning; None leaves the module's default.
        "NRSC_GIS_NEAR_M": _number(env, "NRSC_GIS_NEAR_M"),
        "NRSC_DEDUPE_RADIUS_M": _number(env, "NRSC_DEDUPE_RADIUS_M"),
        "NRSC_DEDUPE_WINDOW_MIN": _number(env, "NRSC_DEDUPE_WINDOW_MIN"),
        "NRSC_MAX_IMAGES": _number(env, "NRSC_MAX_IMAGES", int),
        "NRSC_NOTIFY_MAX_ATTEMPTS": _number(env, "NRSC_NOTIFY_MAX_ATTEMPTS", int),
        # The web server (gunicorn, gthread workers; see docs/operations.md).
        "NRSC_WEB_WORKERS": _number(env, "NRSC_WEB_WORKERS", int) or default_web_workers(),
        "NRSC_WEB_THREADS": _number(env, "NRSC_WEB_THREADS", int) or 32,
        "NRSC_WEB_GRACEFUL_S": _number(env, "NRSC_WEB_GRACEFUL_S", int) or 10,
        # Reverse proxies in front (nginx = 1) whose X-Forwarded-* headers are trusted.
        "NRSC_TRUSTED_PROXIES": _number(env, "NRSC_TRUSTED_PROXIES", int) or 0,
        # Security (docs/security.md): session idle/absolute limits, oldest event taken in.
        "NRSC_SESSION_IDLE_MIN": _number(env, "NRSC_SESSION_IDLE_MIN", int) or 720,
        "NRSC_SESSION_MAX_HOURS": _number(env, "NRSC_SESSION_MAX_HOURS") or 24,
        "NRSC_MAX_EVENT_AGE_DAYS": _number(env, "NRSC_MAX_EVENT_AGE_DAYS") or 30,
        # Office hours for working-time SLA clocks, and how long a closed order may be reopened.
        "NRSC_OFFICE_HOURS": env.get("NRSC_OFFICE_HOURS", "08:30-12:00,14:30-18:00"),
        "NRSC_REOPEN_DAYS": int(env.get("NRSC_REOPEN_DAYS", "30")),
        # The furthest a requested extension may reach, in days from the request.
        "NRSC_MAX_EXTENSION_DAYS": _number(env, "NRSC_MAX_EXTENSION_DAYS", int) or 30,
        # A check-in farther than this from the event needs a reason (metres).
        "NRSC_CHECKIN_FAR_M": _number(env, "NRSC_CHECKIN_FAR_M") or 500,
        # Per detector name: its parameters; "models_dir": where installed models are.
        "NRSC_DETECTORS": {"models_dir": str(default_models_dir(data_dir))},
        "NRSC_NOTIFIERS": {},
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
    }
    for name in CAMERA_NUMERIC + DETECTION_NUMERIC:
        if env.get(name):
            cfg[name] = float(env[name])
    for name in CAMERA_TEXT + DETECTION_TEXT:
        if env.get(name):
            cfg[name] = env[name]
    if env.get("NRSC_CONFIRMATION"):
        # Confirmation rules by detector, event type or domain (JSON object).
        try:
            rules = json.loads(env["NRSC_CONFIRMATION"])
        except ValueError as exc:
            raise ValueError(f"NRSC_CONFIRMATION is not valid JSON: {exc}") from None
        if not isinstance(rules, dict):
            raise ValueError("NRSC_CONFIRMATION must be a JSON object: {detector|event type|domain: rule}")
        cfg["NRSC_CONFIRMATION"] = rules
    for name, default in LEARNING_DEFAULTS.items():
        cfg[name] = float(env[name]) if env.get(name) else default
    for name in CAMERA_FLAGS + DETECTION_FLAGS:
        if name in env:
            cfg[name] = env[name] not in ("0", "false", "no", "")
    cfg.update(overrides)
    if cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        cfg.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"connect_args": {"timeout": 30}})
    else:
        cfg.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
    return cfg
