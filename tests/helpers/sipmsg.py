"""Builders for SIP test messages, and the checks every parser test shares.

``request()`` and ``response()`` return the bytes of a minimal valid message; a dict of
headers overrides the defaults by exact name (``None`` drops a default, a list writes one
line per element) and adds any other name after them, in order.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence

import pytest

from sipguard.sip import Message, Request, Response, SipParseError, parse_message
from sipguard.sip.limits import DEFAULT_LIMITS, ParseLimits

HeaderValue = str | Sequence[str] | None
Headers = Mapping[str, HeaderValue]

VIA = "SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds"
FROM = "Alice <sip:alice@atlanta.example.com>;tag=1928301774"
TO = "Bob <sip:bob@biloxi.example.com>"
CALL_ID = "a84b4c76e66710@pc33.atlanta.example.com"
REQUEST_URI = "sip:bob@biloxi.example.com"


def request_headers(method: str = "INVITE") -> dict[str, HeaderValue]:
    """The default headers of a request, in wire order (RFC 3261 §8.1.1's six)."""
    return {
        "Via": VIA,
        "Max-Forwards": "70",
        "From": FROM,
        "To": TO,
        "Call-ID": CALL_ID,
        "CSeq": f"314159 {method}",
    }


def response_headers(method: str = "INVITE") -> dict[str, HeaderValue]:
    """The default headers of a response (no Max-Forwards, a To tag)."""
    return {
        "Via": VIA,
        "From": FROM,
        "To": TO + ";tag=a6c85cf",
        "Call-ID": CALL_ID,
        "CSeq": f"314159 {method}",
    }


def header_lines(defaults: Headers, headers: Headers | None) -> list[str]:
    """``Name: value`` lines of ``defaults`` updated by ``headers``."""
    merged = dict(defaults)
    merged.update(headers or {})
    lines: list[str] = []
    for name, value in merged.items():
        if value is None:
            continue
        values = [value] if isinstance(value, str) else list(value)
        lines.extend(f"{name}: {v}" if v else f"{name}:" for v in values)
    return lines


def assemble(start: str, lines: Sequence[str], body: bytes = b"", *, eol: str = "\r\n") -> bytes:
    """A message from its start line and header lines, with ``eol`` line ends."""
    head = eol.join([start, *lines]) + eol + eol
    return head.encode("utf-8") + body


def _with_length(headers: Headers | None, body: bytes) -> dict[str, HeaderValue]:
    out: dict[str, HeaderValue] = dict(headers or {})
    out.setdefault("Content-Length", str(len(body)))
    return out


def request(
    method: str = "INVITE",
    uri: str = REQUEST_URI,
    headers: Headers | None = None,
    body: bytes = b"",
    *,
    version: str = "SIP/2.0",
) -> bytes:
    """A valid request; Content-Length is added last unless ``headers`` names it."""
    lines = header_lines(request_headers(method), _with_length(headers, body))
    return assemble(f"{method} {uri} {version}", lines, body)


def response(
    status: int | str = 200,
    reason: str = "OK",
    headers: Headers | None = None,
    body: bytes = b"",
    *,
    method: str = "INVITE",
) -> bytes:
    """A valid response to a ``method`` request."""
    lines = header_lines(response_headers(method), _with_length(headers, body))
    return assemble(f"SIP/2.0 {status} {reason}", lines, body)


def parse_request(data: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> Request:
    """``parse_message`` that must give a Request."""
    msg = parse_message(data, limits)
    assert isinstance(msg, Request), msg
    return msg


def parse_response(data: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> Response:
    """``parse_message`` that must give a Response."""
    msg = parse_message(data, limits)
    assert isinstance(msg, Response), msg
    return msg


def parse_error(data: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> SipParseError:
    """The SipParseError ``parse_message`` must raise for ``data``."""
    with pytest.raises(SipParseError) as info:
        parse_message(data, limits)
    return info.value


def access_error(read: Callable[[], object]) -> SipParseError:
    """The SipParseError a typed accessor must raise."""
    with pytest.raises(SipParseError) as info:
        read()
    return info.value


# Typed accessors a guard may read on any message; each may raise only SipParseError.
ACCESSORS: dict[str, Callable[[Message], object]] = {
    "via": lambda m: m.via,
    "vias": lambda m: m.vias,
    "from": lambda m: m.from_,
    "to": lambda m: m.to,
    "call_id": lambda m: m.call_id,
    "cseq": lambda m: m.cseq,
    "max_forwards": lambda m: m.max_forwards,
    "content_length": lambda m: m.content_length,
    "content_type": lambda m: m.content_type,
    "expires": lambda m: m.expires,
    "routes": lambda m: m.routes,
    "record_routes": lambda m: m.record_routes,
    "paths": lambda m: m.paths,
    "contact_is_star": lambda m: m.contact_is_star,
    "contacts": lambda m: m.contacts,
    "authorization": lambda m: m.authorization,
    "proxy_authorization": lambda m: m.proxy_authorization,
    "www_authenticate": lambda m: m.www_authenticate,
    "proxy_authenticate": lambda m: m.proxy_authenticate,
    "require": lambda m: m.tokens("Require"),
    "proxy_require": lambda m: m.tokens("Proxy-Require"),
    "supported": lambda m: m.tokens("Supported"),
    "allow": lambda m: m.tokens("Allow"),
    "accept": lambda m: m.values("Accept"),
    "p_asserted_identity": lambda m: m.addresses("P-Asserted-Identity"),
    "fields": lambda m: m.fields,
    "to_bytes": lambda m: m.to_bytes(),
}


def _render(value: object) -> None:
    if isinstance(value, tuple | list):
        for item in value:
            str(item)
    else:
        str(value)


def read_every_accessor(msg: Message) -> list[SipParseError]:
    """Read every typed accessor (and render what it returns); return the errors met.

    Anything other than SipParseError propagates and fails the calling test.
    """
    errors: list[SipParseError] = []
    for read in ACCESSORS.values():
        try:
            _render(read(msg))
        except SipParseError as exc:
            errors.append(exc)
    if isinstance(msg, Request):
        str(msg.uri)
        msg.start_line()
    return errors


def fastest_seconds(call: Callable[[], object], budget: float, attempts: int = 3) -> float:
    """The shortest wall time of up to ``attempts`` runs of ``call``, stopping once one
    run is within ``budget`` seconds.

    A run is repeated only when it looks slow: a garbage-collector pause or a descheduled
    CI worker costs one run, while a real algorithmic blow-up shows in every run.
    SipParseError from ``call`` is expected and ignored; anything else propagates.
    """
    best = float("inf")
    for _ in range(attempts):
        started = time.perf_counter()
        with contextlib.suppress(SipParseError):
            call()
        best = min(best, time.perf_counter() - started)
        if best < budget:
            break
    return best
