"""The WebSocket opening handshake, server side (RFC 6455 §4.2, RFC 7118 §4.1): pure.

Rules of this file:
- Pure: the request's bytes (without its final CRLFCRLF) in, an ``Upgraded`` event (the 101
  to write) or a ``HandshakeError`` out; ``http_error`` renders the refusal. No buffering:
  ``WebSocketServer`` finds the end of the request and bounds its size.
- Strict: a request is ASCII, CRLF-separated, with no obs-fold and no body; a header that
  must appear once and appears twice is refused rather than guessed at.
- Only the ``sip`` subprotocol is spoken, and no extension is negotiated.
- ``HandshakeError`` never leaves the codec: ``WebSocketServer`` turns it into ``Refused``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from urllib.parse import urlsplit

from sipguard.transport.ws_events import Upgraded

__all__ = [
    "SUBPROTOCOL",
    "HandshakeError",
    "accept_key",
    "check_request",
    "http_error",
    "parse_request",
]

SUBPROTOCOL = "sip"
"""RFC 7118 §4.1: the client MUST offer it and the 101 MUST name it."""
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# RFC 7230 §3.1.1: request-line = method SP request-target SP HTTP-version CRLF
_REQUEST_LINE = re.compile(r"GET ([\x21-\x7e]+) HTTP/1\.1")
# RFC 7230 §3.2: header-field = field-name ":" OWS field-value OWS; field-name = token.
# A line starting with whitespace (obs-fold) does not match and is refused.
_FIELD = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+):(.*)")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e]*")
_PHRASES = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 426: "Upgrade Required"}


class HandshakeError(Exception):
    """The upgrade request is refused with HTTP ``status``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455 §4.2.2 step 5.4)."""
    digest = hashlib.sha1((key + _GUID).encode("ascii"), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


def parse_request(head: bytes) -> tuple[str, dict[str, list[str]]]:
    """Split the request (without its final CRLFCRLF) into target and headers by name.

    Raises HandshakeError (400) for anything but a well-formed HTTP/1.1 GET.
    """
    try:
        lines = head.decode("ascii").split("\r\n")
    except UnicodeDecodeError:
        raise HandshakeError(400, "non-ASCII handshake") from None
    if any("\r" in line or "\n" in line for line in lines):  # a line break to some readers only
        raise HandshakeError(400, "bare CR or LF in handshake")
    request = _REQUEST_LINE.fullmatch(lines[0])
    if request is None:  # RFC 6455 §4.2.1 item 1: an HTTP/1.1 GET request
        raise HandshakeError(400, "request line is not GET <target> HTTP/1.1")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        field = _FIELD.fullmatch(line)
        value = field.group(2).strip(" \t") if field else ""
        if field is None or not _FIELD_VALUE.fullmatch(value):
            raise HandshakeError(400, "invalid header line")
        headers.setdefault(field.group(1).lower(), []).append(value)
    return request.group(1), headers


def _single(headers: dict[str, list[str]], name: str) -> str | None:
    values = headers.get(name, [])
    if len(values) > 1:
        raise HandshakeError(400, f"duplicate {name} header")
    return values[0] if values else None


def _tokens(headers: dict[str, list[str]], name: str) -> list[str]:
    """The elements of a comma-separated list header (all its lines), empty ones dropped."""
    return [part.strip() for value in headers.get(name, []) for part in value.split(",") if part]


def _resource(target: str) -> str:
    """The /resource name/ of an origin-form or absolute request-target (RFC 6455 §4.2.1)."""
    if target.startswith("/"):
        return target
    parts = urlsplit(target)
    if parts.scheme.lower() not in ("http", "https", "ws", "wss") or not parts.netloc:
        raise HandshakeError(400, "invalid request-target")
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _check_key(key: str | None) -> str:
    # RFC 6455 §4.2.1 item 5: base64 that decodes to 16 bytes.
    try:
        if key is not None and len(base64.b64decode(key, validate=True)) == 16:
            return key
    except binascii.Error:
        pass
    raise HandshakeError(400, "missing or invalid Sec-WebSocket-Key")


def check_request(
    target: str, headers: dict[str, list[str]], path: str | None, origins: frozenset[str]
) -> Upgraded:
    """The upgrade, if the request asks for one we grant: ``path`` None allows any resource,
    empty ``origins`` (lowercased) any Origin. Raises HandshakeError (400, 403, 404, 426)."""
    resource = _resource(target)
    if "transfer-encoding" in headers or _single(headers, "content-length") not in (None, "0"):
        # A body would be read as frames by us and as HTTP by anyone in between: refuse it.
        raise HandshakeError(400, "handshake with a body")
    if not _single(headers, "host"):  # RFC 6455 §4.2.1 item 2 (and HTTP/1.1)
        raise HandshakeError(400, "missing Host")
    if "websocket" not in (t.lower() for t in _tokens(headers, "upgrade")):  # item 3
        raise HandshakeError(400, "missing Upgrade: websocket")
    if "upgrade" not in (t.lower() for t in _tokens(headers, "connection")):  # item 4
        raise HandshakeError(400, "missing Connection: Upgrade")
    key = _check_key(_single(headers, "sec-websocket-key"))
    if _single(headers, "sec-websocket-version") != "13":
        # RFC 6455 §4.2.2 /version/: MUST answer with the versions we speak (426 here).
        raise HandshakeError(426, "Sec-WebSocket-Version is not 13")
    if path is not None and resource.partition("?")[0] != path:
        raise HandshakeError(404, "unknown resource")  # RFC 6455 §4.2.2 /resource name/
    origin = _single(headers, "origin")
    origin = origin.lower() if origin is not None else None
    if origins and origin not in origins:  # RFC 6455 §4.2.2 /origin/: MUST be an error
        raise HandshakeError(403, "origin not allowed")
    if SUBPROTOCOL not in _tokens(headers, "sec-websocket-protocol"):  # RFC 7118 §4.1: MUST offer
        raise HandshakeError(400, "sip subprotocol not offered")
    return Upgraded(_switching_protocols(key), origin, resource)


def _switching_protocols(key: str) -> bytes:
    lines = (
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_key(key)}",
        f"Sec-WebSocket-Protocol: {SUBPROTOCOL}",  # RFC 7118 §4.1: the 101 MUST contain it
    )
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def http_error(status: int) -> bytes:
    """The HTTP refusal for ``status`` (one of 400, 403, 404, 426), connection closing."""
    lines = [f"HTTP/1.1 {status} {_PHRASES[status]}"]
    if status == 426:
        # RFC 6455 §4.4 and RFC 7231 §6.5.15: name the version and the protocol to upgrade to.
        lines += ["Upgrade: websocket", "Sec-WebSocket-Version: 13", "Connection: Upgrade, close"]
    else:
        lines.append("Connection: close")
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
