"""Web-server settings: proxy headers are honoured only from trusted proxies,
gunicorn runs threaded workers sized from the settings."""
from __future__ import annotations

import pytest
from flask import request

from webapp import create_app
from webapp.config import default_web_workers, load_config
from webapp.platform.web import gunicorn_options

FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "nrsc.example"}


def _probe(app):
    app.add_url_rule("/_probe", "probe", lambda: f"{request.remote_addr} {request.url}")
    return app.test_client().get("/_probe", headers=FORWARDED, environ_base={"REMOTE_ADDR": "127.0.0.1"})


@pytest.mark.parametrize("proxies, seen", [
    (0, "127.0.0.1 http://localhost/_probe"),
    (1, "203.0.113.7 https://nrsc.example/_probe"),
])
def test_forwarded_headers_count_only_behind_trusted_proxies(tmp_path, proxies, seen):
    app = create_app({"NRSC_DATA_DIR": str(tmp_path), "SECRET_KEY": "x", "NRSC_TRUSTED_PROXIES": proxies},
                     load_entrypoints=False)
    assert _probe(app).get_data(as_text=True) == seen


def test_web_settings_from_environment(monkeypatch, tmp_path):
    for name in ("NRSC_WEB_WORKERS", "NRSC_WEB_THREADS", "NRSC_TRUSTED_PROXIES"):
        monkeypatch.delenv(name, raising=False)
    cfg = load_config({"NRSC_DATA_DIR": str(tmp_path)})
    assert cfg["NRSC_WEB_WORKERS"] == default_web_workers() >= 2
    assert cfg["NRSC_TRUSTED_PROXIES"] == 0
    options = gunicorn_options(cfg, "127.0.0.1", 8000)
    assert options["worker_class"] == "gthread" and options["threads"] == cfg["NRSC_WEB_THREADS"] >= 8

    monkeypatch.setenv("NRSC_WEB_WORKERS", "3")
    monkeypatch.setenv("NRSC_WEB_THREADS", "64")
    monkeypatch.setenv("NRSC_TRUSTED_PROXIES", "1")
    cfg = load_config({"NRSC_DATA_DIR": str(tmp_path)})
    assert (cfg["NRSC_WEB_WORKERS"], cfg["NRSC_WEB_THREADS"], cfg["NRSC_TRUSTED_PROXIES"]) == (3, 64, 1)
    assert gunicorn_options(cfg, "0.0.0.0", 9000)["bind"] == "0.0.0.0:9000"


def test_a_setting_that_is_not_a_number_names_itself(monkeypatch, tmp_path):
    from webapp.config import ConfigError
    monkeypatch.setenv("NRSC_WEB_THREADS", "many")
    with pytest.raises(ConfigError, match="NRSC_WEB_THREADS"):
        load_config({"NRSC_DATA_DIR": str(tmp_path)})
