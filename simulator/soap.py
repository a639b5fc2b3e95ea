"""SOAP 1.2 plumbing for the simulated ONVIF services: parse a request, check
WS-Security UsernameToken (PasswordDigest), build responses and faults."""
from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timezone
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "ter": "http://www.onvif.org/ver10/error",
}
DIGEST_TYPE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
# How far a token's Created may be from the simulator's wall clock.
CREATED_WINDOW_S = 600
CONTENT_TYPE = "application/soap+xml; charset=utf-8"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class SoapFault(Exception):
    """Becomes a SOAP 1.2 fault: ``code`` Sender/Receiver, ``subcode`` (ter:...), reason."""

    def __init__(self, subcode: str, reason: str, code: str = "env:Sender", http_status: int = 400):
        super().__init__(reason)
        self.subcode, self.reason, self.code, self.http_status = subcode, reason, code, http_status


class Request:
    """A parsed SOAP request: the operation (body's first element) and its element."""

    def __init__(self, raw: bytes):
        try:
            root = etree.fromstring(raw, _PARSER)
        except etree.XMLSyntaxError as exc:
            raise SoapFault("ter:WellFormed", f"not XML: {exc}") from None
        if etree.QName(root).localname != "Envelope":
            raise SoapFault("ter:WellFormed", "not a SOAP envelope")
        body = root.find("{*}Body")
        if body is None or len(body) == 0:
            raise SoapFault("ter:WellFormed", "empty SOAP body")
        self.root, self.body = root, body[0]
        self.operation = etree.QName(self.body).localname
        self.namespace = etree.QName(self.body).namespace

    def text(self, *path: str, default: str | None = None) -> str | None:
        node = self.body
        for name in path:
            node = node.find("{*}" + name) if node is not None else None
        return default if node is None or node.text is None else node.text.strip()

    def node(self, *path: str):
        node = self.body
        for name in path:
            node = node.find("{*}" + name) if node is not None else None
        return node

    def username_token(self) -> dict[str, str] | None:
        token = self.root.find("{*}Header/{*}Security/{*}UsernameToken")
        if token is None:
            return None
        pw = token.find("{*}Password")
        return {
            "username": (token.findtext("{*}Username") or "").strip(),
            "password": (pw.text or "").strip() if pw is not None else "",
            "type": pw.get("Type", "") if pw is not None else "",
            "nonce": (token.findtext("{*}Nonce") or "").strip(),
            "created": (token.findtext("{*}Created") or "").strip(),
        }


def password_digest(nonce_b64: str, created: str, password: str) -> str:
    """WS-Security: Base64(SHA-1(nonce + created + password))."""
    nonce = base64.b64decode(nonce_b64)
    return base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()


def check_auth(request: Request, user: str, password: str, now: datetime | None = None) -> None:
    """Raise NotAuthorized unless the UsernameToken carries these credentials."""
    token = request.username_token()
    if token is None:
        raise SoapFault("ter:NotAuthorized", "Sender not Authorized: no WS-Security UsernameToken")
    ok = hmac.compare_digest(token["username"], user)
    if token["type"].endswith("#PasswordDigest") or token["nonce"]:
        try:
            expected = password_digest(token["nonce"], token["created"], password)
        except (ValueError, TypeError):
            raise SoapFault("ter:NotAuthorized", "Sender not Authorized: malformed nonce") from None
        ok = hmac.compare_digest(token["password"], expected) and ok
        try:
            created = datetime.fromisoformat(token["created"].replace("Z", "+00:00"))
            if created.tzinfo is None:
                created = created.replace(tzinfo=timezone.utc)
            now = now or datetime.now(timezone.utc)
            ok = ok and abs((now - created).total_seconds()) <= CREATED_WINDOW_S
        except ValueError:
            ok = False
    else:  # PasswordText
        ok = hmac.compare_digest(token["password"], password) and ok
    if not ok:
        raise SoapFault("ter:NotAuthorized", "Sender not Authorized")


def envelope(body_xml: str) -> bytes:
    ns = " ".join(f'xmlns:{k}="{v}"' for k, v in NS.items() if k not in ("wsse", "wsu"))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope {ns}><env:Body>{body_xml}'
            f"</env:Body></env:Envelope>").encode()


def fault(exc: SoapFault) -> bytes:
    sub = f"<env:Subcode><env:Value>{escape(exc.subcode)}</env:Value></env:Subcode>" if exc.subcode else ""
    return envelope(
        f"<env:Fault><env:Code><env:Value>{exc.code}</env:Value>{sub}</env:Code>"
        f'<env:Reason><env:Text xml:lang="en">{escape(exc.reason)}</env:Text></env:Reason></env:Fault>')


def el(tag: str, content: str | float | int | bool | None = "", **attrs: object) -> str:
    """A small XML builder: ``el("tt:Name", "x", token="a")``."""
    attr = "".join(f" {k.rstrip('_')}={quoteattr(str(v))}" for k, v in attrs.items() if v is not None)
    if isinstance(content, bool):
        content = "true" if content else "false"
    elif isinstance(content, (int, float)):
        content = repr(content) if isinstance(content, float) else str(content)
    elif content is None:
        content = ""
    return f"<{tag}{attr}>{content}</{tag}>"


def text(value: str) -> str:
    return escape(value)
