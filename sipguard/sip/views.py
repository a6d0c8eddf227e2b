"""Typed views of a message's headers: each parsed on first read, then cached.

Rules of this file: a view reads the raw fields (``_fields``, ``_index``) and its result
is kept in the message's ``__dict__`` under the view's name (``view`` below); a header
that is missing reads as None or (), one that is malformed raises
SipParseError(400, "Invalid <Header>"). The class is a mixin of ``Message``, which owns
the storage.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Never, Self, TypeVar, overload

from sipguard.sip import accel
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
from sipguard.sip.uri import SipUri

__all__ = ["HeaderViews"]

T = TypeVar("T")
_CALL_ID_BAD_RE = re.compile(r"[\x00-\x20\x7f\s]")


class view(Generic[T]):  # noqa: N801 - used as a decorator, like property
    """A typed view: computed on first read, then kept in the message's ``__dict__``.

    A non-data descriptor, so once the value is stored the instance attribute shadows it
    and a later read is a plain attribute lookup (the parser pre-fills some, see
    ``accel.py``). A view that raises stores nothing: read again, it raises again.
    """

    def __init__(self, compute: Callable[[Any], T]) -> None:
        self._compute = compute
        self._name = compute.__name__
        self.__doc__ = compute.__doc__

    @overload
    def __get__(self, obj: None, owner: type) -> Self: ...

    @overload
    def __get__(self, obj: object, owner: type) -> T: ...

    def __get__(self, obj: object | None, owner: type) -> T | Self:
        if obj is None:
            return self
        value = self._compute(obj)
        obj.__dict__[self._name] = value
        return value

    if TYPE_CHECKING:
        # For the type checker only: views are read-only (``msg.via = ...`` is an error).
        # At run time there is no __set__, so the stored value shadows the descriptor.
        def __set__(self, obj: object, value: Never) -> None: ...


class HeaderViews:
    """Raw and typed access to the header fields of a message."""

    __slots__ = ()
    _fields: list[Field]
    _index: dict[str, list[int]]

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

    def _lines(self, key: str) -> list[str]:
        return [self._fields[i][2] for i in self._index.get(key, ())]

    def _single(self, key: str, title: str) -> str:
        pos = self._index.get(key)
        if not pos:
            raise SipParseError(400, f"Missing {title} Header")
        return self._fields[pos[0]][2]

    # -- typed views --------------------------------------------------------------

    @view
    def vias(self) -> tuple[Via, ...]:
        """Every Via value, top first."""
        pos = self._index.get("via")
        if not pos:
            return ()
        fast = accel.via_list(self._fields, pos, Via)
        if fast is not None:
            return fast
        lines = self._lines("via")
        top = self.via
        first = lines[0]
        # The top value is parsed once (by ``via``); only the others are read here.
        rest = [parse_via(v) for v in split_unquoted(first, ",")[1:]] if "," in first else []
        for line in lines[1:]:
            rest.extend(parse_via_list(line))
        return (top, *rest)

    @view
    def via(self) -> Via:
        """The top Via."""
        line = self._single("via", "Via")
        if "," in line:
            line = split_unquoted(line, ",")[0]
        return parse_via(line)

    @view
    def from_(self) -> NameAddr:
        """The From header."""
        return parse_name_addr(self._single("from", "From"), "From")

    @view
    def to(self) -> NameAddr:
        """The To header."""
        return parse_name_addr(self._single("to", "To"), "To")

    @view
    def call_id(self) -> str:
        """The Call-ID."""
        value = self._single("call-id", "Call-ID")
        # callid = word [ "@" word ]: read as any run of visible characters.
        if not value or _CALL_ID_BAD_RE.search(value):
            raise SipParseError(400, "Invalid Call-ID")
        return value

    @view
    def cseq(self) -> CSeq:
        """The CSeq header."""
        return parse_cseq(self._single("cseq", "CSeq"))

    @view
    def max_forwards(self) -> int | None:
        """Max-Forwards, or None when absent."""
        pos = self._index.get("max-forwards")
        if not pos:
            return None
        value = self._fields[pos[0]][2]
        # Max-Forwards = 1*DIGIT, "an integer in the range 0-255" (RFC 3261 §20.22);
        # a larger value is refused rather than clamped: no real UA sends one.
        if not _is_digits(value) or len(value) > 10 or int(value) > 255:
            raise SipParseError(400, "Invalid Max-Forwards")
        return int(value)

    @view
    def content_length(self) -> int | None:
        """Content-Length as declared, or None when absent."""
        pos = self._index.get("content-length")
        if not pos:
            return None
        value = self._fields[pos[0]][2]
        if not _is_digits(value) or len(value) > 10:
            raise SipParseError(400, "Invalid Content-Length")
        return int(value)

    @property
    def content_type(self) -> str | None:
        """Content-Type as written (media type and parameters), or None."""
        return self.get("content-type")

    @view
    def expires(self) -> int | None:
        """Expires header in seconds, or None when absent."""
        return _delta_seconds(self.get("expires"), "Expires")

    @view
    def routes(self) -> tuple[NameAddr, ...]:
        """Route values, in order."""
        return self._addresses("route", "Route")

    @view
    def record_routes(self) -> tuple[NameAddr, ...]:
        """Record-Route values, in order."""
        return self._addresses("record-route", "Record-Route")

    @view
    def paths(self) -> tuple[NameAddr, ...]:
        """Path values (RFC 3327), in order."""
        return self._addresses("path", "Path")

    @property
    def contact_is_star(self) -> bool:
        """True for the ``Contact: *`` wildcard of REGISTER (RFC 3261 §10.2.2)."""
        lines = self._lines("contact")
        return len(lines) == 1 and lines[0] == "*"

    @view
    def contacts(self) -> tuple[NameAddr, ...]:
        """Contact values (empty for the ``*`` wildcard).

        Raises:
            SipParseError: 400 when a Contact is malformed, or ``*`` is mixed with others.
        """
        pos = self._index.get("contact")
        if not pos:
            return ()
        if any(self._fields[i][2] == "*" for i in pos):
            if len(pos) == 1:
                return ()
            raise SipParseError(400, "Invalid Contact")
        return self._addresses("contact", "Contact")

    def addresses(self, name: str) -> tuple[NameAddr, ...]:
        """Every name-addr of a header that holds them (P-Asserted-Identity, Diversion...).

        Raises:
            SipParseError: 400 "Invalid <name>" when one is malformed.
        """
        key = header_key(name) or name.lower()
        slot = "@" + key  # never an attribute name, so never a view's
        cached = self.__dict__.get(slot)
        if cached is None:
            cached = self.__dict__[slot] = self._addresses(key, name)
        return cached

    def _addresses(self, key: str, title: str) -> tuple[NameAddr, ...]:
        pos = self._index.get(key)
        if not pos:
            return ()
        fields = self._fields
        fast = accel.name_addr_list(fields, pos, NameAddr, SipUri)
        if fast is not None:
            return fast
        if len(pos) == 1 and "," not in fields[pos[0]][2]:
            return (parse_name_addr(fields[pos[0]][2], title),)
        return tuple(a for i in pos for a in parse_name_addr_list(fields[i][2], title))

    @view
    def authorization(self) -> tuple[AuthValue, ...]:
        """Authorization credentials, one per header line."""
        return self._auth("authorization", "Authorization")

    @view
    def proxy_authorization(self) -> tuple[AuthValue, ...]:
        """Proxy-Authorization credentials, one per header line."""
        return self._auth("proxy-authorization", "Proxy-Authorization")

    @view
    def www_authenticate(self) -> tuple[AuthValue, ...]:
        """WWW-Authenticate challenges, one per header line."""
        return self._auth("www-authenticate", "WWW-Authenticate")

    @view
    def proxy_authenticate(self) -> tuple[AuthValue, ...]:
        """Proxy-Authenticate challenges, one per header line."""
        return self._auth("proxy-authenticate", "Proxy-Authenticate")

    def _auth(self, key: str, title: str) -> tuple[AuthValue, ...]:
        pos = self._index.get(key)
        if not pos:
            return ()
        return tuple([parse_auth(self._fields[i][2], title) for i in pos])

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
