"""Values with a syntax of their own: host names, ``host:port``, upstream URIs, named patterns.

Rules of this file: each function is a ``Converter`` (value, key path) -> typed value that
raises ``_KeyValueError`` naming what it expected and what it got; IP addresses come out
in canonical form. Nothing here knows the section dataclasses, so they can use these
converters in their ``setting(convert=...)`` rules.
"""

from __future__ import annotations

import ipaddress
import re

from sipguard.config.errors import KeyPath, _choices, _KeyValueError, _show
from sipguard.sip import SipParseError, SipUri, parse_uri
from sipguard.sip.transports import TransportName

# hostname = *( domainlabel "." ) toplabel [ "." ]  (RFC 3261 §25.1)
_HOSTNAME_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?\Z"
)

_ADDRESS = 'expected "host:port" with an IP address (IPv6 in brackets)'


def _hostname(value: object, path: KeyPath) -> str:
    if isinstance(value, str) and (_HOSTNAME_RE.match(value) or _ip_or_none(value)):
        return value
    raise _KeyValueError(path, f"expected a host name or IP address, got {_show(value)}")


def _dns_server(value: object, path: KeyPath) -> tuple[str, int]:
    host, port = _host_port(value, path, 53)
    if not 1 <= port <= 65535:
        raise _KeyValueError(path, f"expected a port in 1..65535, got {_show(value)}")
    return host, port


def _host_port(value: object, path: KeyPath, default_port: int | None) -> tuple[str, int]:
    """``"192.0.2.1:5060"``, ``"[::1]:5060"``; with a default port also a bare IP."""
    expected = _ADDRESS if default_port is None else _ADDRESS.replace('"host:port"', '"IP[:port]"')
    if isinstance(value, str):
        bare = _ip_or_none(value)
        if bare is not None and default_port is not None:
            return bare, default_port
        m = re.fullmatch(r"\[([^\]]+)\]:([0-9]{1,5})|([^:\[\]]+):([0-9]{1,5})", value)
        if m is not None:
            host = _ip_or_none(m[1] or m[3])
            if host is not None and (m[1] is None or ":" in host):
                return host, int(m[2] or m[4])
    raise _KeyValueError(path, f"{expected}, got {_show(value)}")


def _ip_or_none(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _upstream_uri(value: object, path: KeyPath) -> SipUri:
    expected = "expected a sip: or sips: URI without user part or headers"
    try:
        uri = parse_uri(value) if isinstance(value, str) else None
    except SipParseError:
        uri = None
    if not isinstance(uri, SipUri) or uri.user is not None or uri.headers:
        raise _KeyValueError(path, f"{expected}, got {_show(value)}")
    if uri.port == 0:
        raise _KeyValueError(path, f"expected a port in 1..65535, got {_show(value)}")
    allowed = [t.value for t in TransportName]
    if uri.transport is not None and uri.transport not in allowed:
        problem = f"expected ;transport= one of {_choices(allowed)}, got {_show(uri.transport)}"
        raise _KeyValueError(path, problem)
    return uri


def _named_patterns(value: object, path: KeyPath) -> tuple[tuple[str, str], ...]:
    # [fraud.destinations]: name = "regular expression", in the order written.
    if not isinstance(value, dict):
        raise _KeyValueError(path, f"expected a table, got {_show(value)}")
    out = []
    for name, pattern in value.items():
        if not isinstance(pattern, str):
            raise _KeyValueError((*path, name), f"expected a string, got {_show(pattern)}")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise _KeyValueError((*path, name), f"invalid regular expression: {exc}") from None
        out.append((name, pattern))
    return tuple(out)
