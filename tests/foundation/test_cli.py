"""The `nrsc` command: users, tokens and `nrsc run` end to end."""
import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from sqlalchemy import func, select

from webapp.cli import main
from webapp.extensions import db
from webapp.models import ApiToken, AuditEvent, User
from webapp.platform.security import verify_password

NRSC = str(Path(sys.executable).with_name("nrsc"))


def test_user_create_stores_a_hashed_password(org):
    runner = org.test_cli_runner()
    result = runner.invoke(main, ["user", "create", "town_dahe_field", "--role", "unit_handler",
                                  "--unit", "town.dahe", "--name", "大河乡处置人员", "--password", "s3cret-pass"])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.login == "town_dahe_field"))
    assert (user.role, user.unit.code, user.display_name) == ("unit_handler", "town.dahe", "大河乡处置人员")
    assert "s3cret-pass" not in user.password_hash and verify_password(user, "s3cret-pass")
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user_created")).entity_id == user.id


def test_user_create_refuses_bad_input(org):
    runner = org.test_cli_runner()
    base = ["user", "create"]
    cases = [
        (["nobody", "--role", "unit_handler", "--password", "long-enough"], "needs --unit"),
        (["nobody", "--role", "unit_handler", "--unit", "no.such", "--password", "long-enough"], "no unit with code"),
        (["nobody", "--role", "duty_officer", "--password", "short"], "at least 8"),
        (["nobody", "--role", "emperor", "--password", "long-enough"], "Invalid value for '--role'"),
    ]
    for args, message in cases:
        result = runner.invoke(main, base + args)
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    assert runner.invoke(main, base + ["twice", "--role", "admin", "--password", "long-enough"]).exit_code == 0
    again = runner.invoke(main, base + ["twice", "--role", "admin", "--password", "long-enough"])
    assert again.exit_code != 0 and "already exists" in again.output
    assert db.session.scalar(select(func.count(User.id))) == 1


def test_token_for_a_source_is_printed_once_and_stored_hashed(org):
    result = org.test_cli_runner().invoke(main, ["token", "create", "--source", "ai-box-1"])
    assert result.exit_code == 0, result.output
    plain = result.output.strip()
    assert plain.startswith("nrsc_") and len(plain) > 30
    row = db.session.scalar(select(ApiToken))
    assert row.token_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert row.source_name == "ai-box-1" and row.user_id is None
    assert row.prefix == plain[:12] and plain not in (row.label, row.prefix)
    # The API accepts the token and knows whom it stands for; a wrong one is refused.
    client = org.test_client()
    resp = client.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"})
    assert resp.status_code == 200 and resp.json == {"kind": "source", "source": "ai-box-1"}
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}x"}).status_code == 401
    second = org.test_cli_runner().invoke(main, ["token", "create", "--source", "ai-box-1"]).output.strip()
    assert second != plain  # a new token each time


def test_token_for_a_user(org, make_user):
    user = make_user("unit_handler", "town.dahe")
    result = org.test_cli_runner().invoke(main, ["token", "create", "--user", user.login, "--label", "phone"])
    assert result.exit_code == 0, result.output
    row = db.session.scalar(select(ApiToken))
    assert (row.user_id, row.source_name, row.label) == (user.id, None, "phone")
    assert row.token_hash == hashlib.sha256(result.output.strip().encode()).hexdigest()
    resp = org.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {result.output.strip()}"})
    assert resp.json == {"kind": "user", "login": user.login, "role": "unit_handler", "unit": "town.dahe"}


def test_token_needs_exactly_one_binding(org):
    runner = org.test_cli_runner()
    for args in ([], ["--source", "a", "--user", "b"]):
        result = runner.invoke(main, ["token", "create", *args])
        assert result.exit_code == 2 and "exactly one of --source" in result.output
    result = runner.invoke(main, ["token", "create", "--user", "ghost"])
    assert result.exit_code == 1 and "no user 'ghost'" in result.output
    assert db.session.scalar(select(func.count(ApiToken.id))) == 0


def test_nrsc_run_serves_health_and_login(db_url, tmp_path):
    env = {**os.environ, "DATABASE_URL": db_url, "NRSC_DATA_DIR": str(tmp_path / "data"),
           "NRSC_LOAD_ENTRYPOINTS": "0", "PYTHONUNBUFFERED": "1"}
    env.pop("NRSC_SECRET_KEY", None)
    proc = subprocess.Popen([NRSC, "run", "--host", "127.0.0.1", "--port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        while not line.startswith("NRSC listening on"):  # the worker may report first
            line = proc.stdout.readline()  # blocks until the server answers
            assert line, "nrsc run ended before listening"
        assert line.startswith("NRSC listening on http://127.0.0.1:"), line
        base = line.split()[3]
        with urllib.request.urlopen(base + "healthz", timeout=10) as resp:
            assert resp.status == 200 and json.load(resp)["status"] == "ok"
        with urllib.request.urlopen(base + "login", timeout=10) as resp:
            assert resp.status == 200 and 'name="csrf_token"' in resp.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
