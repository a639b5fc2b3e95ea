"""Secrets at rest: camera passwords and webhook signing secrets.

Values are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under keys kept in
``NRSC_DATA_DIR/instance/secrets.keys`` (mode 0600; one key a line, the first
encrypts, all decrypt) — never in git or the database, so a copy of the
database alone reveals nothing. Stored values look like ``enc1:<token>``;
a value without that prefix is a legacy plain value (read as is, encrypted
the next time it is written or when the key is rotated).

``EncryptedText`` is the column type: models read and write plain strings.
``nrsc secrets rotate-key`` adds a new key, re-encrypts every value and only
then drops the old key, so a crash half-way never leaves an unreadable value.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import Text, TypeDecorator

PREFIX = "enc1:"
KEY_FILE = "secrets.keys"
_lock = threading.Lock()
_cache: dict[str, tuple[float, MultiFernet, list[bytes]]] = {}


class SecretError(RuntimeError):
    pass


def key_path(data_dir: Path | str | None = None) -> Path:
    base = Path(data_dir) if data_dir is not None else Path(current_app.config["NRSC_DATA_DIR"])
    return base / "instance" / KEY_FILE


def _write_keys(path: Path, keys: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(b"\n".join(keys) + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_keys(path: Path | None = None) -> list[bytes]:
    path = path or key_path()
    with _lock:
        if not path.exists():
            _write_keys(path, [Fernet.generate_key()])
        keys = [line.strip() for line in path.read_bytes().splitlines() if line.strip()]
    if not keys:
        raise SecretError(f"{path} holds no key")
    return keys


def _fernet(path: Path | None = None) -> MultiFernet:
    path = path or key_path()
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        mtime = -1.0
    cached = _cache.get(str(path))
    if cached is None or cached[0] != mtime or mtime < 0:
        keys = load_keys(path)
        cached = (path.stat().st_mtime, MultiFernet([Fernet(k) for k in keys]), keys)
        _cache[str(path)] = cached
    return cached[1]


def encrypt(plain: str | None) -> str | None:
    if plain is None:
        return None
    return PREFIX + _fernet().encrypt(plain.encode()).decode()


def decrypt(stored: str | None) -> str | None:
    if stored is None:
        return None
    if not stored.startswith(PREFIX):
        return stored  # a legacy plain value
    try:
        return _fernet().decrypt(stored[len(PREFIX):].encode()).decode()
    except InvalidToken:
        raise SecretError("a stored secret cannot be decrypted with the keys in the data directory") from None


def is_encrypted(stored: str | None) -> bool:
    return bool(stored) and stored.startswith(PREFIX)


class EncryptedText(TypeDecorator):
    """A string column stored encrypted (see the module docstring)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return encrypt(value) if value is not None and not is_encrypted(value) else value

    def process_result_value(self, value, dialect):
        return decrypt(value)


# (table, primary key, column) of every encrypted value.
ENCRYPTED_COLUMNS = (("cameras", "id", "onvif_password"), ("notification_channels", "id", "secret"))


def reencrypt_all(conn, fernet: MultiFernet) -> int:
    """Rotate every stored value to the first key (and encrypt legacy plain ones)."""
    from sqlalchemy import text
    n = 0
    for table, pk, column in ENCRYPTED_COLUMNS:
        rows = conn.execute(text(f"SELECT {pk}, {column} FROM {table} WHERE {column} IS NOT NULL")).all()
        for row_id, stored in rows:
            if stored.startswith(PREFIX):
                token = fernet.rotate(stored[len(PREFIX):].encode())
            else:
                token = fernet.encrypt(stored.encode())
            conn.execute(text(f"UPDATE {table} SET {column} = :v WHERE {pk} = :id"),
                         {"v": PREFIX + token.decode(), "id": row_id})
            n += 1
    return n


def rotate_key(engine, path: Path | None = None) -> int:
    """New key first in the file, every value re-encrypted, old keys dropped."""
    path = path or key_path()
    old = load_keys(path)
    new = Fernet.generate_key()
    _write_keys(path, [new, *old])  # both readable while the values move
    fernet = MultiFernet([Fernet(k) for k in (new, *old)])
    with engine.begin() as conn:
        n = reencrypt_all(conn, fernet)
    _write_keys(path, [new])
    _cache.pop(str(path), None)
    return n
