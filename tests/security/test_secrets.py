"""Camera passwords and webhook secrets are encrypted at rest with a key in
the data directory; rotating the key keeps them readable."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, text

from webapp.cli import main
from webapp.extensions import db
from webapp.models import NotificationChannel
from webapp.platform import secrets


def _raw(table: str, column: str) -> str:
    return db.session.execute(text(f"SELECT {column} FROM {table}")).scalar_one()


def _channel(secret: str) -> NotificationChannel:
    row = NotificationChannel(channel="dingtalk", target="https://oapi.dingtalk.com/robot/send?access_token=x",
                              secret=secret, active=True)
    db.session.add(row)
    db.session.commit()
    return row


def test_webhook_secret_is_stored_encrypted_and_read_plain(app, org):
    row = _channel("SEC-very-secret-1")
    stored = _raw("notification_channels", "secret")
    assert stored.startswith("enc1:") and "very-secret" not in stored
    db.session.expire_all()
    assert db.session.get(NotificationChannel, row.id).secret == "SEC-very-secret-1"
    key_file = Path(app.config["NRSC_DATA_DIR"]) / "instance" / "secrets.keys"
    assert key_file.exists() and oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_encrypt_decrypt_round_trip_and_legacy_plain(app):
    token = secrets.encrypt("密码-123")
    assert token != "密码-123" and secrets.decrypt(token) == "密码-123"
    assert secrets.decrypt("old-plain") == "old-plain"
    assert secrets.decrypt(None) is None


def test_rotate_key_re_encrypts_and_keeps_values_readable(app, org):
    _channel("SEC-rotate-me")
    db.session.execute(text("UPDATE notification_channels SET secret = 'legacy-plain-2'"))
    db.session.commit()
    key_file = secrets.key_path()
    before = key_file.read_bytes()
    result = app.test_cli_runner().invoke(main, ["secrets", "rotate-key"])
    assert result.exit_code == 0 and "1 stored secret" in result.output, result.output
    assert key_file.read_bytes() != before and len(key_file.read_bytes().split()) == 1
    stored = _raw("notification_channels", "secret")
    assert stored.startswith("enc1:")
    db.session.expire_all()
    assert db.session.scalar(select(NotificationChannel.secret)) == "legacy-plain-2"
