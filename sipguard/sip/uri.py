"""URIs: sip/sips parsed fully, tel parsed lightly, every other scheme kept opaque.

Rules of this file: ``parse_uri`` raises only SipParseError(400). A parsed URI keeps
its original text (``raw``) so an unmodified URI renders byte for byte; equality is
RFC 3261 §19.1.4 (with RFC 5954 §4.2 for IP addresses), not text equality.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, NamedTuple

from sipguard.sip import accel
from sipguard.sip.errors import SipParseError
from sipguard.sip.grammar import Params, get_param, render_params, split_params, unescape

__all__ = ["AbsoluteUri", "SipUri", "TelUri", "Uri", "parse_uri", "uri_equal"]

# user = 1*( unreserved / escaped / user-unreserved )
# unreserved = alphanum / mark;  mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")"
# user-unreserved = "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
# password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
# hostname = *( domainlabel "." ) toplabel [ "." ]  -- read liberally: real devices send
# numeric top labels ("sip.194.213.29.100") and underscores; IPv4-looking hosts must be
# valid IPv4 (RFC 5954 §4.1 forbids "444.555.666.777").
# scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*\Z")
# paramchar = param-unreserved / unreserved / escaped;  param-unreserved = [ ] / : & + $
# hname / hvalue = *( hnv-unreserved / unreserved / escaped ); hnv-unreserved = [ ] / ? : + $
_HCHARS_RE = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()\[\]/?:+$@]|%[0-9A-Fa-f]{2})*\Z")
_TEL_RE = re.compile(r"[0-9A-Fa-f*#+\-.()pPwW]+\Z")


class SipUri(NamedTuple):
    """A sip: or sips: URI (RFC 3261 §19.1.1); ``user``/``password`` stay escaped.

    ``==`` compares the parts as written; ``uri_equal`` is the RFC comparison.
    """

    scheme: str
    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: Params = ()
    headers: tuple[tuple[str, str], ...] = ()
    raw: str = ""

    def param(self, name: str) -> str | None:
        """Value of URI parameter ``name`` ("" for a flag such as ;lr), or None."""
        return get_param(self.params, name)

    @property
    def transport(self) -> str | None:
        """The transport parameter, lower-cased, if any."""
        value = get_param(self.params, "transport")
        return unescape(value).lower() if value is not None else None

    @property
    def host_bare(self) -> str:
        """Host without IPv6 brackets."""
        return self.host[1:-1] if self.host.startswith("[") else self.host

    def with_changes(self, **changes: Any) -> SipUri:
        """A copy with ``changes`` applied; its text is re-rendered."""
        return self._replace(raw="", **changes)

    def __str__(self) -> str:
        if self.raw:
            return self.raw
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out += [":", self.password]
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out += [":", str(self.port)]
        out.append(render_params(self.params))
        if self.headers:
            out += ["?", "&".join(f"{k}={v}" for k, v in self.headers)]
        return "".join(out)


class TelUri(NamedTuple):
    """A tel: URI (RFC 3966), read as number plus parameters."""

    number: str
    params: Params = ()
    raw: str = ""

    @property
    def scheme(self) -> str:
        """Always "tel"."""
        return "tel"

    def __str__(self) -> str:
        return self.raw or f"tel:{self.number}{render_params(self.params)}"


class AbsoluteUri(NamedTuple):
    """Any other scheme, kept opaque (RFC 3261 §19: a proxy need not understand it)."""

    scheme: str
    opaque: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"


Uri = SipUri | TelUri | AbsoluteUri

_ESC = r"%[0-9A-Fa-f]{2}"
# IPv4address = dec-octet "." dec-octet "." dec-octet "." dec-octet   (RFC 5954 §4.1)
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
# SIP-URI = "sip:" [ userinfo ] hostport uri-parameters [ headers ]
# userinfo = ( user / telephone-subscriber ) [ ":" password ] "@"
# hostport = host [ ":" port ];  host = hostname / IPv4address / IPv6reference
# uri-parameters = *( ";" uri-parameter );  uri-parameter = pname [ "=" pvalue ]
# headers = "?" header *( "&" header )
# host = hostname / IPv4address / IPv6reference, as a pattern Via's sent-by reuses.
HOST_PATTERN = rf"""\[[0-9A-Fa-f:.]+\]
          |{_IPV4}(?![A-Za-z0-9\-_.])
          |(?!\d+\.\d+\.\d+\.\d+(?![A-Za-z0-9\-_.]))
           [A-Za-z0-9_](?:[A-Za-z0-9\-_.]*[A-Za-z0-9_.])?"""
# The body of a SIP-URI after "sip:", as a pattern other parsers embed (name-addr).
_USER_CHARS = r"[A-Za-z0-9\-_.!~*'()&=+$,;?/]"
_PW_CHARS = r"[A-Za-z0-9\-_.!~*'()&=+$,]"
_PARAM_CHARS = r"[A-Za-z0-9\-_.!~*'()\[\]/:&+$]"
# Each "1*( chars / escaped )" is written unrolled, chars*(escaped chars*)*, which the
# regex engine runs without trying an alternation at every character.
# The look-ahead finds the "@" in one linear scan, so a URI without userinfo (most
# Route and Record-Route URIs) skips the user part at once instead of backtracking it.
SIP_URI_BODY = rf"""(?:(?=[A-Za-z0-9\-_.!~*'()&=+$,;?/:%]*+@)
           (?P<user>(?=[^@])(?:{_USER_CHARS}*(?:{_ESC}{_USER_CHARS}*)*))
           (?::(?P<password>{_PW_CHARS}*(?:{_ESC}{_PW_CHARS}*)*))?@)?
        (?P<host>{HOST_PATTERN})
        (?::(?P<port>[0-9]{{1,5}}))?
        (?P<params>(?:;{_PARAM_CHARS}*(?:{_ESC}{_PARAM_CHARS}*)*
                      (?:={_PARAM_CHARS}*(?:{_ESC}{_PARAM_CHARS}*)*)?)*)"""
_SIP_URI_RE = re.compile(SIP_URI_BODY + r"(?:\?(?P<headers>.*))?\Z", re.VERBOSE | re.DOTALL)


def parse_uri(text: str) -> Uri:
    """Parse a URI from a Request-URI or a header.

    Raises:
        SipParseError: 400 when the URI is malformed.
    """
    return accel.sip_uri(text, SipUri) or _parse_uri(text)


def _parse_uri(text: str) -> Uri:
    if text[:4] == "sip:":
        return _parse_sip("sip", text[4:], text)
    scheme, colon, rest = text.partition(":")
    lscheme = scheme.lower()
    if colon and lscheme in ("sip", "sips"):
        return _parse_sip(lscheme, rest, text)
    if not colon or not _SCHEME_RE.match(scheme):
        raise SipParseError(400, "Malformed URI")
    if lscheme == "tel":
        return _parse_tel(rest, text)
    if not rest or any(c in rest for c in ' \t\r\n<>"'):
        raise SipParseError(400, "Malformed URI")
    return AbsoluteUri(scheme, rest)


def _parse_sip(scheme: str, rest: str, raw: str) -> SipUri:
    m = _SIP_URI_RE.match(rest)
    if m is None:
        raise SipParseError(400, "Malformed URI")
    return sip_uri_from_parts(scheme, raw, *m.groups())


def sip_uri_from_parts(  # noqa: PLR0913, PLR0917 - the groups of SIP_URI_BODY, passed as matched
    scheme: str,
    raw: str,
    user: str | None,
    password: str | None,
    host: str,
    port: str | None,
    param_text: str | None,
    header_text: str | None,
) -> SipUri:
    """Build a SipUri from the groups of a pattern embedding ``SIP_URI_BODY`` (in order).

    Raises:
        SipParseError: 400 on an invalid IPv6 reference, port or URI header.
    """
    if host[0] == "[":
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise SipParseError(400, "Malformed URI Host") from None
    port_number = None
    if port is not None:
        port_number = int(port)
        if port_number > 65535:
            raise SipParseError(400, "Malformed URI Port")
    params = _split_uri_params(param_text) if param_text else ()
    headers = _parse_uri_headers(header_text) if header_text is not None else ()
    # tuple.__new__ skips NamedTuple's Python-level __new__: this runs per URI.
    return tuple.__new__(SipUri, (scheme, host, user, password, port_number, params, headers, raw))


def _split_uri_params(text: str) -> Params:
    # Characters were checked by _SIP_URI_RE; empty parameters (";;", a trailing ";")
    # are skipped: real devices send them and they carry nothing.
    out: list[tuple[str, str | None]] = []
    for piece in text[1:].split(";"):
        if piece:
            name, eq, value = piece.partition("=")
            if not name:
                raise SipParseError(400, "Malformed URI Parameter")
            out.append((name, value if eq else None))
    return tuple(out)


def _parse_uri_headers(text: str) -> tuple[tuple[str, str], ...]:
    # headers = "?" header *( "&" header );  header = hname "=" hvalue
    out = []
    for piece in text.split("&"):
        name, eq, value = piece.partition("=")
        if not name or not eq or not _HCHARS_RE.match(name) or not _HCHARS_RE.match(value):
            raise SipParseError(400, "Malformed URI Header")
        out.append((name, value))
    return tuple(out)


def _parse_tel(rest: str, raw: str) -> TelUri:
    number, semi, param_text = rest.partition(";")
    if not _TEL_RE.match(number):
        raise SipParseError(400, "Malformed tel URI")
    return TelUri(number, split_params(param_text, "URI") if semi else (), raw)


# RFC 3261 §19.1.4: these parameters, present in only one URI, make them differ.
_MUST_MATCH_PARAMS = ("user", "ttl", "method", "maddr", "transport")


def uri_equal(a: Uri, b: Uri) -> bool:
    """URI equality by RFC 3261 §19.1.4 (sip/sips), RFC 3966 (tel), else exact text."""
    if isinstance(a, SipUri) and isinstance(b, SipUri):
        return _sip_equal(a, b)
    if isinstance(a, TelUri) and isinstance(b, TelUri):
        return _tel_number(a.number) == _tel_number(b.number) and _params_match(
            a.params, b.params, all_params=True
        )
    if isinstance(a, AbsoluteUri) and isinstance(b, AbsoluteUri):
        return a.scheme.lower() == b.scheme.lower() and a.opaque == b.opaque
    return False


def _sip_equal(a: SipUri, b: SipUri) -> bool:
    # "A SIP and SIPS URI are never equivalent."  Userinfo is case-sensitive.
    if a.scheme != b.scheme or a.port != b.port:
        return False
    if _unesc(a.user) != _unesc(b.user) or _unesc(a.password) != _unesc(b.password):
        return False
    if not _host_equal(a.host, b.host):
        return False
    if not _params_match(a.params, b.params, all_params=False):
        return False
    # "URI header components are never ignored."
    return _header_set(a.headers) == _header_set(b.headers)


# reserved = ";" / "/" / "?" / ":" / "@" / "&" / "=" / "+" / "$" / ","
_RESERVED = frozenset(";/?:@&=+$,")
_ESCAPE_RE = re.compile(r"%([0-9A-Fa-f]{2})")


def _unesc(text: str | None) -> str | None:
    # §19.1.4: "Characters other than those in the 'reserved' set ... are equivalent to
    # their '%' HEX HEX encoding": decode those; keep reserved ones escaped (normalised).
    if text is None or "%" not in text:
        return text
    return _ESCAPE_RE.sub(_decode_unreserved, text)


def _decode_unreserved(m: re.Match[str]) -> str:
    char = chr(int(m.group(1), 16))
    return f"%{m.group(1).upper()}" if char in _RESERVED else char


def _host_equal(a: str, b: str) -> bool:
    if a.lower() == b.lower():
        return True
    # RFC 5954 §4.2: IP addresses compare by their binary value.
    try:
        return ipaddress.ip_address(a.strip("[]")) == ipaddress.ip_address(b.strip("[]"))
    except ValueError:
        return False


def _params_match(pa: Params, pb: Params, *, all_params: bool) -> bool:
    da = {(_unesc(k) or "").lower(): (_unesc(v) or "").lower() for k, v in pa}
    db = {(_unesc(k) or "").lower(): (_unesc(v) or "").lower() for k, v in pb}
    for name in da.keys() & db.keys():
        if da[name] != db[name]:
            return False
    only = da.keys() ^ db.keys()
    if all_params:
        return not only
    return not any(name in only for name in _MUST_MATCH_PARAMS)


def _header_set(headers: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return {(_unesc(k) or "").lower(): _unesc(v) or "" for k, v in headers}


def _tel_number(number: str) -> str:
    # RFC 3966 §3: visual separators are ignored when comparing.
    return "".join(c for c in number if c not in "-.()").lower()
