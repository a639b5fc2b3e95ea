"""The core's notifiers: WeCom (企业微信) and DingTalk (钉钉) group robots.

Registered as a core plugin (``core-notifiers``) through the same
``register_notifiers`` hook an SMS-gateway package would implement, so the
outbox (:mod:`webapp.notify.outbox`) knows channels only by name.

A webhook URL carries the robot's access token in its query string and a
DingTalk robot may have a signing secret: neither ever goes into a log line
or into the outbox's ``last_error`` (see :func:`redact`).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any, Mapping

import requests

from webapp.platform import clock
from webapp.plugin_api import Delivery, Message, hookimpl

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT_S = 5.0
# Shown under each chat message; the groups are Chinese-speaking duty chats.
LINK_LABEL = "查看详情"
_QUERY_VALUE = re.compile(r"([?&][A-Za-z_]+=)[^&\s'\"]+")


def redact(text: str, *secrets: str | None) -> str:
    """Text safe to store or log: query-string values and the given secrets
    are masked (a requests error message repeats the whole URL)."""
    text = _QUERY_VALUE.sub(r"\1***", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text[:500]


def markdown(message: Message) -> str:
    lines = [f"**{message.title}**", "", message.body]
    if message.link:
        lines += ["", f"[{LINK_LABEL}]({message.link})"]
    return "\n".join(lines)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's robot signature: base64(HMAC-SHA256(secret, "ts\\nsecret"))."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _with_query(url: str, **params: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


@dataclass
class RobotNotifier:
    """A chat-group robot webhook answering ``{"errcode": 0}`` on success."""

    channel: str
    timeout: float = DEFAULT_TIMEOUT_S

    def payload(self, message: Message) -> dict[str, Any]:
        """The robot's JSON body; each robot kind defines its own."""
        raise NotImplementedError(f"{type(self).__name__} must define payload()")

    def url(self, message: Message) -> str:
        return message.target

    def send(self, message: Message) -> Delivery:
        if not message.target.startswith(("https://", "http://")):
            return Delivery(ok=False, detail="target is not an http(s) URL", retry=False)
        try:
            response = requests.post(self.url(message), json=self.payload(message), timeout=self.timeout)
        except requests.RequestException as exc:
            return Delivery(ok=False, detail=redact(f"{type(exc).__name__}: {exc}", message.secret))
        if response.status_code != 200:
            # 4xx other than rate limiting will not heal by itself, but a
            # robot re-enabled by its group admin does: keep retrying.
            return Delivery(ok=False, detail=f"HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            return Delivery(ok=False, detail="HTTP 200 but the answer is not JSON")
        errcode = answer.get("errcode") if isinstance(answer, dict) else None
        if errcode == 0:
            return Delivery(ok=True, detail="errcode 0")
        errmsg = str(answer.get("errmsg", "")) if isinstance(answer, dict) else ""
        return Delivery(ok=False, detail=redact(f"errcode {errcode}: {errmsg}", message.secret))


@dataclass
class WeComNotifier(RobotNotifier):
    channel: str = "wecom"

    def payload(self, message: Message) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"content": markdown(message)}}


@dataclass
class DingTalkNotifier(RobotNotifier):
    channel: str = "dingtalk"

    def payload(self, message: Message) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"title": message.title, "text": markdown(message)}}

    def url(self, message: Message) -> str:
        if not message.secret:
            return message.target
        # The injected clock keeps tests deterministic; in production it is
        # wall time, which DingTalk checks to within an hour.
        timestamp = int(clock.now().timestamp() * 1000)
        return _with_query(message.target, timestamp=str(timestamp),
                           sign=dingtalk_sign(message.secret, timestamp))


def _timeout(settings: Mapping[str, Any], channel: str) -> float:
    own = settings.get(channel) or {}
    return float(own.get("timeout", settings.get("timeout", DEFAULT_TIMEOUT_S)))


@hookimpl
def register_notifiers(settings: Mapping[str, Any]) -> list[RobotNotifier]:
    return [WeComNotifier(timeout=_timeout(settings, "wecom")),
            DingTalkNotifier(timeout=_timeout(settings, "dingtalk"))]
