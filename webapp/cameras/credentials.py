"""The one place camera credentials are read.

The password column is encrypted at rest (``EncryptedText``, key in the data
directory: webapp/platform/secrets.py) and decrypted only when loaded; nothing
else in the platform reads it. :class:`Credentials` never shows
the password in ``repr``/``str``, so a stray log line cannot leak it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REDACTED = "******"


@dataclass(frozen=True)
class Credentials:
    user: str = ""
    password: str = field(default="", repr=False)

    def __str__(self) -> str:
        return f"Credentials(user={self.user!r}, password={REDACTED})"

    __repr__ = __str__

    def __bool__(self) -> bool:
        return bool(self.user)


def credentials_for(camera: Any) -> Credentials:
    return Credentials(camera.onvif_user or "", camera.onvif_password or "")


def redact(text: str, *secrets: str) -> str:
    """``text`` with every non-empty secret replaced (for error messages that
    may quote a URL or a server's answer)."""
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, REDACTED)
    return text
