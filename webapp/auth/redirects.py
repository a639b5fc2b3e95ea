"""Where a login or a language switch may send the browser: same-site paths only."""
from __future__ import annotations

from urllib.parse import urlsplit


def safe_path(target: str | None) -> str | None:
    """``target`` when it is a path on this site, else None.

    Browsers drop tabs and newlines inside URLs and read a backslash as a
    slash, so ``/\\t/evil.com`` or ``/\\\\evil.com`` would become ``//evil.com``;
    any control character, space or backslash refuses the target outright."""
    if not target or not target.startswith("/"):
        return None
    if any(ord(c) < 0x21 or ord(c) == 0x7f for c in target) or "\\" in target:
        return None
    if target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target
