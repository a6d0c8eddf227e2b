"""Typed views of a message's headers: each parsed on first read, then cached.

Rules of this file: a view reads the raw fields (``_fields``, ``_index``) and caches
its result in ``_cache`` under a slot of its own; a header that is missing reads as
None or (), one that is malformed raises SipParseError(400, "Invalid <Header>"). The
class is a mixin of ``Message``, which owns the storage.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from sipguard.sip.errors import SipParseError
from sipguard.sip.fields import Field
from sipguard.sip.grammar import is_token, split_unquoted
from sipguard.sip.headers import (
    AuthValue,
    CSeq,
    NameAddr,
    Via,
    parse_auth,
    parse_cseq,
    parse_name_addr,
    parse_name_addr_list,
    parse_via,
    parse_via_list,
)
from sipguard.sip.names import LIST_HEADERS, header_key

__all__ = ["HeaderViews"]

T = TypeVar("T")
_MISSING: Any = object()
_CALL_ID_BAD_RE = re.compile(r"[\x00-\x20\x7f\s]")


class HeaderViews:
    """Raw and typed access to the header fields of a message."""

    __slots__ = ()
    _fields: list[Field]
    _index: dict[str, list[int]]
    _cache: dict[str, Any]

    def get(self, name: str) -> str | None:
        """Value of the first ``name`` header line (any spelling, compact or not)."""
        pos = self._index.get(header_key(name) or "")
        return self._fields[pos[0]][2] if pos else None

    def get_all(self, name: str) -> list[str]:
        """Values of every ``name`` header line, in order."""
        return [self._fields[i][2] for i in self._index.get(header_key(name) or "", ())]

    def values(self, name: str) -> list[str]:
        """Every element of every ``name`` line: comma-separated for list headers
        (RFC 3261 §7.3.1), whole lines for the others (the auth headers' commas
        separate parameters, not values).

        Raises:
            SipParseError: 400 on an unterminated quote or angle bracket.
        """
        key = header_key(name) or ""
        lines = self._lines(key)
        if key not in LIST_HEADERS:
            return [line for line in lines if line]
        out: list[str] = []
        for line in lines:
            out.extend(p.strip(" \t") for p in split_unquoted(line, ","))
        return [p for p in out if p]

    def has(self, name: str) -> bool:
        """True when at least one ``name`` header is present."""
        return (header_key(name) or "") in self._index

    def _cached(self, slot: str, build: Callable[[], T]) -> T:
        value = self._cache.get(slot, _MISSING)
        if value is _MISSING:
            value = self._cache[slot] = build()
        return value  # type: ignore[no-any-return]

    def _lines(self, key: str) -> list[str]:
        return [self._fields[i][2] for i in self._index.get(key, ())]

    def _single(self, key: str, title: str) -> str:
        pos = self._index.get(key)
        if not pos:
            raise SipParseError(400, f"Missing {title} Header")
        return self._fields[pos[0]][2]

    # -- typed views --------------------------------------------------------------

    # -- typed views --------------------------------------------------------------

    @property
    def vias(self) -> tuple[Via, ...]:
        """Every Via value, top first."""
        value = self._cache.get("vias")
        if value is None:
            value = self._cache["vias"] = self._parse_vias()
        return value

    def _parse_vias(self) -> tuple[Via, ...]:
        lines = self._lines("via")
        if not lines:
            return ()
        top = self.via
        first = lines[0]
        # The top value is parsed once (by ``via``); only the others are read here.
        rest = [parse_via(v) for v in split_unquoted(first, ",")[1:]] if "," in first else []
        for line in lines[1:]:
            rest.extend(parse_via_list(line))
        return (top, *rest)

    @property
    def via(self) -> Via:
        """The top Via."""
        value = self._cache.get("via")
        if value is None:
            line = self._single("via", "Via")
            if "," in line:
                line = split_unquoted(line, ",")[0]
            value = self._cache["via"] = parse_via(line)
        return value

    @property
    def from_(self) -> NameAddr:
        """The From header."""
        value = self._cache.get("from")
        if value is None:
            value = self._cache["from"] = parse_name_addr(self._single("from", "From"), "From")
        return value

    @property
    def to(self) -> NameAddr:
        """The To header."""
        value = self._cache.get("to")
        if value is None:
            value = self._cache["to"] = parse_name_addr(self._single("to", "To"), "To")
        return value

    @property
    def call_id(self) -> str:
        """The Call-ID."""
        value = self._cache.get("call-id")
        if value is None:
            value = self._single("call-id", "Call-ID")
            # callid = word [ "@" word ]: read as any run of visible characters.
            if not value or _CALL_ID_BAD_RE.search(value):
                raise SipParseError(400, "Invalid Call-ID")
            self._cache["call-id"] = value
        return value

    @property
    def cseq(self) -> CSeq:
        """The CSeq header."""
        value = self._cache.get("cseq")
        if value is None:
            value = self._cache["cseq"] = parse_cseq(self._single("cseq", "CSeq"))
        return value

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards, or None when absent."""
        return self._cached("max-forwards", self._parse_max_forwards)

    def _parse_max_forwards(self) -> int | None:
        value = self.get("max-forwards")
        if value is None:
            return None
        # Max-Forwards = 1*DIGIT, "an integer in the range 0-255" (RFC 3261 §20.22);
        # a larger value is refused rather than clamped: no real UA sends one.
        if not _is_digits(value) or len(value) > 10 or int(value) > 255:
            raise SipParseError(400, "Invalid Max-Forwards")
        return int(value)

    @property
    def content_length(self) -> int | None:
        """Content-Length as declared, or None when absent."""
        return self._cached("content-length", self._parse_content_length)

    def _parse_content_length(self) -> int | None:
        value = self.get("content-length")
        if value is None:
            return None
        if not _is_digits(value) or len(value) > 10:
            raise SipParseError(400, "Invalid Content-Length")
        return int(value)

    @property
    def content_type(self) -> str | None:
        """Content-Type as written (media type and parameters), or None."""
        return self.get("content-type")

    @property
    def expires(self) -> int | None:
        """Expires header in seconds, or None when absent."""
        return self._cached("expires", lambda: _delta_seconds(self.get("expires"), "Expires"))

    @property
    def routes(self) -> tuple[NameAddr, ...]:
        """Route values, in order."""
        return self._addresses("route", "Route")

    @property
    def record_routes(self) -> tuple[NameAddr, ...]:
        """Record-Route values, in order."""
        return self._addresses("record-route", "Record-Route")

    @property
    def paths(self) -> tuple[NameAddr, ...]:
        """Path values (RFC 3327), in order."""
        return self._addresses("path", "Path")

    @property
    def contact_is_star(self) -> bool:
        """True for the ``Contact: *`` wildcard of REGISTER (RFC 3261 §10.2.2)."""
        lines = self._lines("contact")
        return len(lines) == 1 and lines[0] == "*"

    @property
    def contacts(self) -> tuple[NameAddr, ...]:
        """Contact values (empty for the ``*`` wildcard).

        Raises:
            SipParseError: 400 when a Contact is malformed, or ``*`` is mixed with others.
        """
        if self.contact_is_star:
            return ()
        if "*" in self._lines("contact"):
            raise SipParseError(400, "Invalid Contact")
        return self._addresses("contact", "Contact")

    def addresses(self, name: str) -> tuple[NameAddr, ...]:
        """Every name-addr of a header that holds them (P-Asserted-Identity, Diversion...).

        Raises:
            SipParseError: 400 "Invalid <name>" when one is malformed.
        """
        key = header_key(name) or name.lower()
        return self._addresses(key, name)

    def _addresses(self, key: str, title: str) -> tuple[NameAddr, ...]:
        slot = "@" + key  # not the slot of from_/to, which hold one NameAddr
        cached = self._cache.get(slot)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        pos = self._index.get(key)
        if not pos:
            return ()
        fields = self._fields
        if len(pos) == 1 and "," not in fields[pos[0]][2]:
            value: tuple[NameAddr, ...] = (parse_name_addr(fields[pos[0]][2], title),)
        else:
            value = tuple(a for i in pos for a in parse_name_addr_list(fields[i][2], title))
        self._cache[slot] = value
        return value

    @property
    def authorization(self) -> tuple[AuthValue, ...]:
        """Authorization credentials, one per header line."""
        return self._cached("authorization", lambda: self._auth("authorization", "Authorization"))

    @property
    def proxy_authorization(self) -> tuple[AuthValue, ...]:
        """Proxy-Authorization credentials, one per header line."""
        return self._cached(
            "proxy-authorization", lambda: self._auth("proxy-authorization", "Proxy-Authorization")
        )

    @property
    def www_authenticate(self) -> tuple[AuthValue, ...]:
        """WWW-Authenticate challenges, one per header line."""
        return self._cached(
            "www-authenticate", lambda: self._auth("www-authenticate", "WWW-Authenticate")
        )

    @property
    def proxy_authenticate(self) -> tuple[AuthValue, ...]:
        """Proxy-Authenticate challenges, one per header line."""
        return self._cached(
            "proxy-authenticate", lambda: self._auth("proxy-authenticate", "Proxy-Authenticate")
        )

    def _auth(self, key: str, title: str) -> tuple[AuthValue, ...]:
        return tuple(parse_auth(line, title) for line in self._lines(key))

    def tokens(self, name: str) -> tuple[str, ...]:
        """Option tags or methods of a token-list header (Require, Supported, Allow...).

        Raises:
            SipParseError: 400 when an element is not a token.
        """
        out = tuple(v for v in self.values(name))
        if any(not is_token(v) for v in out):
            raise SipParseError(400, f"Invalid {name}")
        return out


def _is_digits(value: str) -> bool:
    # 1*DIGIT: ASCII only (str.isdigit also accepts "²" and other Unicode digits).
    return value.isascii() and value.isdigit()


def _delta_seconds(value: str | None, title: str) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if not _is_digits(value) or len(value) > 10:
        raise SipParseError(400, f"Invalid {title}")
    # delta-seconds beyond 2**32-1 are read as the maximum (RFC 3261 §20.19 "SHOULD").
    return min(int(value), 2**32 - 1)
