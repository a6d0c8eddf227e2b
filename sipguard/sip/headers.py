"""Typed header values and their parsers: Via, name-addr, CSeq (auth values: credentials.py,
re-exported here).

Rules of this file: each ``parse_*`` takes one unfolded header value (or one
comma-separated element of it) and returns an immutable value or raises
SipParseError(400, "Invalid <Header>"). Each value keeps its original text in
``raw`` so that an unmodified value renders byte for byte; ``str()`` renders.
Values are NamedTuples: immutable, typed, and five times cheaper to build than
frozen dataclasses on this per-message path.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

from sipguard.sip import accel
from sipguard.sip.credentials import AuthValue, parse_auth
from sipguard.sip.errors import SipParseError
from sipguard.sip.grammar import (
    PARAMS_PATTERN,
    Params,
    get_param,
    is_token,
    parse_params,
    quote,
    render_params,
    split_checked_params,
    split_unquoted,
    unquote,
    with_params,
)
from sipguard.sip.uri import HOST_PATTERN, SIP_URI_BODY, SipUri, Uri, parse_uri, sip_uri_from_parts

__all__ = [
    "MAGIC_COOKIE",
    "AuthValue",
    "CSeq",
    "NameAddr",
    "Via",
    "parse_auth",
    "parse_cseq",
    "parse_name_addr",
    "parse_name_addr_list",
    "parse_via",
    "parse_via_list",
]

MAGIC_COOKIE = "z9hG4bK"  # RFC 3261 §8.1.1.7

_TCHARS = r"[A-Za-z0-9\-.!%*_+`'~]"  # token characters; patterns add their quantifier


class Via(NamedTuple):
    """One via-parm (RFC 3261 §20.42)."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()
    protocol: str = "SIP/2.0"
    raw: str = ""

    def param(self, name: str) -> str | None:
        """Value of parameter ``name`` ("" for a flag), or None."""
        return get_param(self.params, name)

    @property
    def branch(self) -> str | None:
        """The branch parameter, if any."""
        return get_param(self.params, "branch")

    def with_params(self, **values: str | None) -> Via:
        """A copy with parameters set (``None`` value = a flag); order is kept."""
        return self._replace(params=with_params(self.params, values), raw="")

    def __str__(self) -> str:
        if self.raw:
            return self.raw
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.protocol}/{self.transport} {self.host}{port}{render_params(self.params)}"


# via-parm = sent-protocol LWS sent-by *( SEMI via-params )
# sent-protocol = protocol-name SLASH protocol-version SLASH transport  (SLASH = SWS "/" SWS)
# sent-by = host [ COLON port ]
_VIA_RE = re.compile(
    rf"""\s*+({_TCHARS}++)\s*+/\s*+({_TCHARS}++)\s*+/\s*+({_TCHARS}++)\s++
        ({HOST_PATTERN})
        (?:\s*+:\s*+([0-9]{{1,5}}))?\s*+(;.*)?\Z""",
    re.VERBOSE | re.DOTALL,
)


# The common spelling, "SIP/2.0/UDP host:port;a;b=c" with no stray whitespace or quotes,
# matched and validated in one pass.
_VIA_FAST_RE = re.compile(
    rf"""SIP/2\.0/([A-Za-z]+)\ ({HOST_PATTERN})(?::([0-9]{{1,5}}))?
        ((?:;{_TCHARS}+(?:=[^;,\s"]*+)?)*+)\Z""",
    re.VERBOSE,
)


def parse_via(text: str) -> Via:
    """Parse one via-parm.

    Raises:
        SipParseError: 400 "Invalid Via".
    """
    return accel.via(text, Via) or _parse_via(text)


def _parse_via(text: str) -> Via:
    m = _VIA_FAST_RE.match(text)
    if m is not None:
        transport, host, port, param_text = m.groups()
        if host[0] == "[":
            _check_ipv6(host)
        port_number = int(port) if port is not None else None
        if port_number is not None and port_number > 65535:
            raise SipParseError(400, "Invalid Via")
        params = split_checked_params(param_text) if param_text else ()
        return tuple.__new__(Via, (transport.upper(), host, port_number, params, "SIP/2.0", text))
    m = _VIA_RE.match(text)
    if m is None:
        raise SipParseError(400, "Invalid Via")
    name, version, transport, host, port, param_text = m.groups()
    if host[0] == "[":
        _check_ipv6(host)
    port_number = None
    if port is not None:
        port_number = int(port)
        if port_number > 65535:
            raise SipParseError(400, "Invalid Via")
    params = parse_params(param_text, "Via") if param_text else ()
    protocol = "SIP/2.0" if name == "SIP" and version == "2.0" else f"{name}/{version}"
    return tuple.__new__(
        Via, (transport.upper(), host, port_number, params, protocol, text.strip())
    )


def _check_ipv6(reference: str) -> None:
    # IPv6reference = "[" IPv6address "]" with RFC 5954's IPv6address.
    try:
        ipaddress.IPv6Address(reference[1:-1])
    except ValueError:
        raise SipParseError(400, "Invalid Via") from None


def parse_via_list(value: str) -> list[Via]:
    """All via-parms of one Via header line."""
    if "," not in value:
        return [parse_via(value)]
    return [parse_via(part) for part in split_unquoted(value, ",")]


class NameAddr(NamedTuple):
    """From, To, Contact, Route, Record-Route, Path...: name-addr or addr-spec, then params."""

    uri: Uri
    display_name: str | None = None
    params: Params = ()
    raw: str = ""

    def param(self, name: str) -> str | None:
        """Value of header parameter ``name`` ("" for a flag), or None."""
        return get_param(self.params, name)

    @property
    def tag(self) -> str | None:
        """The tag parameter (From/To), if any."""
        return get_param(self.params, "tag")

    @property
    def sip_uri(self) -> SipUri | None:
        """The URI when it is sip/sips, else None."""
        return self.uri if isinstance(self.uri, SipUri) else None

    def with_params(self, **values: str | None) -> NameAddr:
        """A copy with header parameters set (``None`` value = a flag)."""
        return self._replace(params=with_params(self.params, values), raw="")

    def __str__(self) -> str:
        if self.raw:
            return self.raw
        name = ""
        if self.display_name is not None:
            words = self.display_name.split(" ")
            plain = all(is_token(w) for w in words)
            name = (self.display_name if plain else quote(self.display_name)) + " "
        return f"{name}<{self.uri}>{render_params(self.params)}"


# Every quantifier in these patterns is possessive (*+, ++) or cannot overlap its
# neighbour: a crafted run of spaces or token characters must cost linear time.
_QUOTED_BODY = r'[^"\\]*+(?:\\.[^"\\]*+)*+'
_DISPLAY_WORDS = (
    r"[A-Za-z0-9\-.!%*_+`'~\x80-\U0010ffff]++(?:\s++[A-Za-z0-9\-.!%*_+`'~\x80-\U0010ffff]++)*+"
)

# name-addr = [ display-name ] LAQUOT addr-spec RAQUOT
# display-name = *(token LWS) / quoted-string   (unquoted UTF-8 words read liberally)
# LAQUOT = SWS "<";  RAQUOT = ">" SWS  -- so no whitespace inside the brackets.
_NAME_ADDR_RE = re.compile(
    rf"""\s*+(?:"({_QUOTED_BODY})"\s*+|({_DISPLAY_WORDS})\s*+)?
        <([^<>\s]++)>\s*+(;.*)?\Z""",
    re.VERBOSE | re.DOTALL,
)
_WS_RE = re.compile(r"\s")
_ADDR_SPEC_BAD_RE = re.compile(r'[\s<>"?]')
# The same with the URI a sip/sips one, matched in the same pass (the common case).
_NAME_ADDR_SIP_RE = re.compile(
    rf"""\s*+(?:"({_QUOTED_BODY})"\s*+|({_DISPLAY_WORDS})\s*+)?
        <(?P<uri>(?P<scheme>[sS][iI][pP][sS]?):{SIP_URI_BODY}
            (?:\?(?P<headers>[^<>\s]*+))?)>(?P<hparams>{PARAMS_PATTERN})\s*+\Z""",
    re.VERBOSE | re.DOTALL,
)


def parse_name_addr(text: str, what: str = "Address") -> NameAddr:
    """Parse a name-addr or addr-spec followed by header parameters.

    Raises:
        SipParseError: 400 "Invalid <what>".
    """
    fast = accel.name_addr(text, NameAddr, SipUri)
    if fast is not None:
        return fast
    try:
        return _name_addr(text)
    except SipParseError as exc:
        raise SipParseError(400, f"Invalid {what}") from exc


def _name_addr(text: str) -> NameAddr:
    m = _NAME_ADDR_SIP_RE.match(text)
    if m is not None:
        # One groups() call: the display name, the URI's own groups, the header params.
        quoted, plain, uri_text, scheme, *uri_parts, param_text = m.groups()
        if quoted is not None:
            display: str | None = quoted if "\\" not in quoted else unquote(f'"{quoted}"')
        else:
            display = " ".join(plain.split()) if plain else None
        params = split_checked_params(param_text) if param_text else ()
        if scheme != "sip":
            scheme = scheme.lower()
        uri = sip_uri_from_parts(scheme, uri_text, *uri_parts)
        return tuple.__new__(NameAddr, (uri, display, params, text.strip()))
    m = _NAME_ADDR_RE.match(text)
    if m is not None:
        quoted, plain, uri_text, param_text = m.groups()
        display = unquote(f'"{quoted}"') if quoted is not None else (plain or None)
        if display is not None and plain is not None:
            display = " ".join(display.split())
        params = parse_params(param_text, "Address") if param_text else ()
        return tuple.__new__(NameAddr, (parse_uri(uri_text), display, params, text.strip()))
    return _addr_spec(text)


def _addr_spec(text: str) -> NameAddr:
    # addr-spec: the URI cannot hold ";" "," "?" here (RFC 3261 §20.10), so the
    # first ";" starts the header parameters (which may be quoted strings).
    s = text.strip()
    uri_text, semi, param_text = s.partition(";")
    uri_text = uri_text.rstrip()
    if not uri_text or _ADDR_SPEC_BAD_RE.search(uri_text):
        raise SipParseError(400, "Invalid Address")
    params = parse_params(semi + param_text, "Address") if semi else ()
    return NameAddr(parse_uri(uri_text), None, params, s)


def parse_name_addr_list(value: str, what: str) -> list[NameAddr]:
    """Comma-separated name-addrs (Contact, Route, Record-Route, Path...)."""
    if "," not in value:
        return [parse_name_addr(value, what)]
    return [parse_name_addr(part, what) for part in split_unquoted(value, ",")]


class CSeq(NamedTuple):
    """CSeq (RFC 3261 §20.16): a 32-bit sequence number and a method."""

    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


# CSeq = "CSeq" HCOLON 1*DIGIT LWS Method;  "MUST be expressible as a 32-bit unsigned integer"
_CSEQ_RE = re.compile(rf"([0-9]{{1,10}})\s++({_TCHARS}+)\Z")


def parse_cseq(text: str) -> CSeq:
    """Parse a CSeq value.

    Raises:
        SipParseError: 400 "Invalid CSeq".
    """
    return accel.cseq(text, CSeq) or _parse_cseq(text)


def _parse_cseq(text: str) -> CSeq:
    m = _CSEQ_RE.match(text)
    if m is None:
        raise SipParseError(400, "Invalid CSeq")
    seq = int(m.group(1))
    if seq >= 2**32:
        raise SipParseError(400, "Invalid CSeq")
    return tuple.__new__(CSeq, (seq, m.group(2)))
