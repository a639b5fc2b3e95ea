"""Fixtures: an app on a real, migrated database (SQLite or PostgreSQL), a
frozen clock, users by role, a logged-in client, a live server.

The database is chosen by NRSC_TEST_DB (sqlite | postgresql). Migrations run
once per session: SQLite tests copy the migrated file; PostgreSQL tests
truncate every table before each test. Any test using the ``app`` fixture is
marked ``db`` automatically, so the PostgreSQL pass picks it up.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, text

from webapp import create_app
from webapp.platform import clock as clock_module
from webapp.testing import FreshGlobalsClient

# Tests hold an app context while they send requests; each request still gets
# its own ``g``, as behind a real server (see FreshGlobalsClient).
Flask.test_client_class = FreshGlobalsClient

TEST_DB = os.environ.get("NRSC_TEST_DB", "sqlite")
PG_URL = os.environ.get("NRSC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "test-password-1"
# 2026-11-20 02:13 in Hongsipu (UTC+8): a Friday night.
DEFAULT_NOW = datetime(2026, 11, 19, 18, 13, tzinfo=timezone.utc)


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing():
    """scrypt with N=2^10 instead of 2^15: the same code path, a fraction of the
    cost (tests create and log in hundreds of users)."""
    from webapp.platform import security
    saved, security.PASSWORD_HASH_METHOD = security.PASSWORD_HASH_METHOD, "scrypt:1024:8:1"
    yield
    security.PASSWORD_HASH_METHOD = saved


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "app" in getattr(item, "fixturenames", ()) or "db_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


def _pg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory):
    """Run the migrations once: a template SQLite file, or a fresh PG database."""
    from webapp.platform import dbtools

    if TEST_DB == "postgresql":
        name = f"nrsc_test_{uuid.uuid4().hex[:8]}"
        admin = create_engine(_pg(PG_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = _pg(PG_URL).rsplit("/", 1)[0] + f"/{name}"
        app = create_app({"DATABASE_URL": url, "NRSC_DATA_DIR": str(tmp_path_factory.mktemp("pgdata"))},
                         load_entrypoints=False)
        with app.app_context():
            dbtools.upgrade()
            from webapp.extensions import db
            db.engine.dispose()
        yield {"kind": "postgresql", "url": url}
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        folder = tmp_path_factory.mktemp("template")
        app = create_app({"NRSC_DATA_DIR": str(folder)}, load_entrypoints=False)
        with app.app_context():
            dbtools.upgrade()
            from webapp.extensions import db
            db.engine.dispose()
        yield {"kind": "sqlite", "path": folder / "nrsc.sqlite3"}


@pytest.fixture
def db_url(migrated_template, tmp_path) -> str:
    """A migrated, empty database for this test."""
    if migrated_template["kind"] == "sqlite":
        target = tmp_path / "nrsc.sqlite3"
        shutil.copy(migrated_template["path"], target)
        return f"sqlite:///{target}"
    url = migrated_template["url"]
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = [r[0] for r in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'"))]
        if tables:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def clock():
    """The injected clock, frozen at DEFAULT_NOW; move it with clock.advance()."""
    frozen = clock_module.FrozenClock(DEFAULT_NOW)
    clock_module.set_clock(frozen)
    yield frozen
    clock_module.set_clock(None)


@pytest.fixture
def app_config(db_url, tmp_path) -> dict:
    return {
        "DATABASE_URL": db_url,
        "NRSC_DATA_DIR": str(tmp_path / "data"),
        "TESTING": True,
        "NRSC_TASKS_EAGER": True,
        # Closing makes the PDF only in the tests of that (tests/notify/test_pdf_prerender.py):
        # with eager tasks every close would lay one out.
        "NRSC_PDF_PRERENDER": False,
        "SECRET_KEY": "test-secret",
        # The robot hosts plus the local webhook receiver of the notify tests
        # (tests/security/test_webhook_egress.py checks the defaults refuse it).
        "NRSC_WEBHOOK_ALLOW": "qyapi.weixin.qq.com,oapi.dingtalk.com,127.0.0.1",
    }


@pytest.fixture
def app(app_config, clock):
    """The app with every installed plugin (entry points on), on a fresh database."""
    application = create_app(app_config, load_entrypoints=True)
    with application.app_context():
        yield application
        from webapp.extensions import db
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def org(app):
    """The demo organisation: townships, units, working groups (no cameras)."""
    from webapp.demo.data import load_organisation
    load_organisation()
    return app


@pytest.fixture
def make_user(app):
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import Unit, User
    from webapp.platform.security import hash_password

    counter = iter(range(1, 10_000))

    def factory(role: str, unit_code: str | None = None, login: str | None = None) -> User:
        unit = db.session.scalar(select(Unit).where(Unit.code == unit_code)) if unit_code else None
        if unit_code and unit is None:
            raise LookupError(f"no unit {unit_code}")
        user = User(login=login or f"{role}{next(counter):02d}", display_name=login or role,
                    role=role, unit=unit, password_hash=hash_password(PASSWORD))
        db.session.add(user)
        db.session.commit()
        return user
    return factory


class Browser:
    """A test client that logs in and sends CSRF tokens like a browser."""

    def __init__(self, client):
        self.client = client
        self._csrf: str | None = None

    def csrf(self) -> str:
        if self._csrf is None:
            page = self.client.get("/login").get_data(as_text=True)
            self._csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        return self._csrf

    def login(self, login: str, password: str = PASSWORD):
        resp = self.client.post("/login", data={"login": login, "password": password, "csrf_token": self.csrf()})
        self._csrf = None  # the session was renewed
        return resp

    def get(self, *a, **kw):
        return self.client.get(*a, **kw)

    def post(self, url, data=None, **kw):
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf())
        return self.client.post(url, data=data, **kw)


@pytest.fixture
def browser(app):
    return Browser(app.test_client())


def log_in_page(page, login: str, landing: str | None = None) -> None:
    """Log in through the login form in a real browser (every made user has
    PASSWORD), then wait for ``landing`` (a URL pattern) or for the load."""
    page.goto(page.base_url + "/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    if landing:
        page.wait_for_url(landing)
    else:
        page.wait_for_load_state()


@pytest.fixture
def login_as(app, make_user):
    """login_as(role, unit_code=None) -> (Browser, User)."""
    def factory(role: str, unit_code: str | None = None):
        user = make_user(role, unit_code)
        b = Browser(app.test_client())
        resp = b.login(user.login)
        assert resp.status_code == 302, resp.get_data(as_text=True)
        return b, user
    return factory


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(app):
    """The app served over real HTTP on 127.0.0.1 in a thread."""
    from werkzeug.serving import make_server

    port = _free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(timeout=5)


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def page(live_server):
    """A Playwright page in Debian's chromium (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: run scripts/setup")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
        pg = context.new_page()
        pg.set_default_timeout(15_000)
        pg.base_url = live_server
        yield pg
        context.close()
        browser.close()
