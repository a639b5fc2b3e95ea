"""Where webhooks may go: an allow-list of hosts, never the inside network.

Office staff configure robot webhooks and can press "test send", so a target
is a way for a request to leave the server. A target must name a host on the
allow-list ``NRSC_WEBHOOK_ALLOW`` (comma-separated host names, IP addresses or
CIDR ranges; default: the WeCom and DingTalk robot hosts). Whatever the name,
the addresses it resolves to at send time must not be loopback, link-local,
private, multicast or reserved unless that address (or its range) is itself on
the allow-list. Redirects are never followed (webapp/notify/notifiers.py).
"""
from __future__ import annotations

import ipaddress
import socket
import urllib.parse

from flask import current_app, has_app_context

DEFAULT_ALLOW = ("qyapi.weixin.qq.com", "oapi.dingtalk.com")


class EgressRefused(ValueError):
    pass


def allow_list() -> list[str]:
    raw = current_app.config.get("NRSC_WEBHOOK_ALLOW") if has_app_context() else None
    if raw is None:
        return list(DEFAULT_ALLOW)
    items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
    return [i.strip().lower() for i in items if i.strip()]


def _networks(entries: list[str]) -> list[ipaddress._BaseNetwork]:
    nets = []
    for entry in entries:
        try:
            nets.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue
    return nets


def _inside(address: ipaddress._BaseAddress) -> bool:
    return (address.is_loopback or address.is_link_local or address.is_private or address.is_multicast
            or address.is_reserved or address.is_unspecified
            or (isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None
                and _inside(address.ipv4_mapped)))


def host_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EgressRefused("not an http(s) URL")
    return parts.hostname.lower().rstrip(".")


def check_host(url: str) -> str:
    """The URL's host when it is on the allow-list; raises EgressRefused."""
    host = host_of(url)
    entries = allow_list()
    if host in entries:
        return host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise EgressRefused(f"host {host} is not on the webhook allow-list") from None
    if any(address in net for net in _networks(entries)):
        return host
    raise EgressRefused(f"address {host} is not on the webhook allow-list")


def check_target(url: str, *, resolve: bool = True) -> None:
    """Refuse a target off the allow-list or resolving to an inside address."""
    host = check_host(url)
    if not resolve:
        return
    nets = _networks(allow_list())
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        raise EgressRefused(f"host {host} does not resolve") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if _inside(address) and not any(address in net for net in nets):
            raise EgressRefused(f"host {host} resolves to an internal address ({address})")
