"""One way to write durations and sizes on every page, in the PDF, in
messages and (through the words put into each page) in the browser's live
countdowns: "8小时16分", "3天15小时", "已超时 11分20秒", "30.1 MB".

Two units at most, the larger first; seconds only under an hour, so a
five-minute review clock still moves visibly.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta

from flask import Flask, current_app, has_request_context
from flask_babel import force_locale
from flask_babel import gettext as _
from markupsafe import Markup


def _parts(seconds: int) -> list[tuple[str, int]]:
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    if d:
        return [("d", d)] + ([("h", h)] if h else [])
    if h:
        return [("h", h)] + ([("m", m)] if m else [])
    if m:
        return [("m", m)] + ([("s", s)] if s else [])
    return [("s", s)]


def _words() -> dict[str, str]:
    return {"d": _("%(n)d d"), "h": _("%(n)d h"), "m": _("%(n)d min"), "s": _("%(n)d s"),
            "left": _("%(span)s left"), "over": _("overdue by %(span)s")}


def _sep(words: dict[str, str]) -> str:
    # Chinese runs the units together (3天15小时); English spaces them (3 d 15 h).
    return "" if not words["h"].isascii() else " "


def duration(value: timedelta | float | int | None) -> str:
    """A length of time: 3天15小时, 8小时16分, 4分32秒 (sign ignored)."""
    if value is None:
        return ""
    seconds = int(abs(value.total_seconds() if isinstance(value, timedelta) else value))
    words = _words()
    return _sep(words).join(words[unit] % {"n": n} for unit, n in _parts(seconds)).strip()


def time_left(due: datetime | None, now: datetime) -> str:
    """剩余 8小时16分 / 已超时 3天15小时."""
    if due is None:
        return ""
    left = (due - now).total_seconds()
    words = _words()
    return words["left" if left >= 0 else "over"] % {"span": duration(left)}


def filesize(n: int | None) -> str:
    """Bytes in binary units with one decimal: 30.1 MB, 10 MB, 512 KB."""
    if n is None:
        return ""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            text = f"{n / scale:.1f}".removesuffix(".0")
            return f"{text} {unit}"
    return f"{n} B"


def distance(metres: float | None) -> str:
    """A distance as on the order pages: 480 m, 4.76 km."""
    if metres is None:
        return ""
    return f"{metres / 1000:.2f} km" if metres >= 1000 else f"{round(metres)} m"


def browser_words() -> Markup:
    """The words above as JSON for the page's scripts (one formatter, two languages)."""
    raw = _words()
    words = {k: v.replace("%(n)d", "{n}").replace("%(span)s", "{span}") for k, v in raw.items()}
    words["sep"] = _sep(raw)
    return Markup.escape(json.dumps(words, ensure_ascii=False))


def translate(message: str, **values) -> str:
    """gettext that also works outside a request (MQTT intake, jobs): there the
    app's default language is used, as for a reader who never chose one."""
    if has_request_context():
        return _(message, **values)
    with force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE", "zh_CN")):
        return _(message, **values)


def init_app(app: Flask) -> None:
    app.jinja_env.filters["duration"] = duration
    app.jinja_env.filters["filesize"] = filesize
    app.jinja_env.globals["time_left"] = time_left
    app.jinja_env.globals["duration_words"] = browser_words
