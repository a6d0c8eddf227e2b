"""SIP requests and responses: header fields kept as written, values parsed on demand.

Theory of operation:
- A message holds its header fields in wire order as ``HeaderField``s. A field read
  from the wire keeps its exact line (``raw``); a field changed by the proxy has
  ``raw = None`` and is rendered from its value.
- Typed views (``vias``, ``from_``, ``contacts``...) parse on first access and are
  cached. Header values that fail to parse raise SipParseError(400) at access.
- Messages are immutable: ``with_*`` methods return a new message sharing the
  untouched fields. An untouched message serialises to the exact bytes it came from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, Self, TypeVar

from sipguard.sip.errors import SipParseError
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
from sipguard.sip.uri import Uri

__all__ = ["HeaderField", "Message", "Request", "Response"]

T = TypeVar("T")
_CALL_ID_BAD_RE = re.compile(r"[\x00-\x20\x7f\s]")


class HeaderField(NamedTuple):
    """One header line: its key (lower-case long name), name as written, value, raw line."""

    key: str
    name: str
    value: str
    raw: str | None


# Internally a field is a plain tuple (key, name, value, raw): building 20 NamedTuples
# per message would cost more than parsing them.
Field = tuple[str, str, str, "str | None"]
_MISSING: Any = object()


def _index(fields: Iterable[Field]) -> dict[str, list[int]]:
    index: dict[str, list[int]] = {}
    for i, f in enumerate(fields):
        index.setdefault(f[0], []).append(i)
    return index


class Message:
    """What requests and responses share: header fields, body, typed header views."""

    __slots__ = ("_cache", "_fields", "_index", "_raw", "_start", "body")

    def __init__(
        self,
        fields: list[Field],
        body: bytes,
        *,
        index: dict[str, list[int]] | None = None,
        raw: bytes | None = None,
        start: str | None = None,
    ) -> None:
        self._fields = fields
        self.body = body
        self._index = index if index is not None else _index(fields)
        self._raw = raw
        self._start = start
        self._cache: dict[str, Any] = {}

    # -- raw header access ------------------------------------------------------

    @property
    def fields(self) -> tuple[HeaderField, ...]:
        """All header fields in wire order."""
        return tuple(HeaderField(*f) for f in self._fields)

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
        rest = parse_via_list(first)[1:] if "," in first else []
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

    # -- copies with changes ------------------------------------------------------

    def _derive(self, fields: list[Field], body: bytes | None = None) -> Self:
        new = object.__new__(type(self))
        new._fields = fields
        new.body = self.body if body is None else body
        new._index = _index(fields)
        new._raw = None
        new._start = self._start
        new._cache = {}
        self._copy_start_line(new)
        return new

    def _copy_start_line(self, new: Self) -> None:
        raise NotImplementedError

    def with_header_prepended(self, name: str, value: str) -> Self:
        """A copy with a new ``name: value`` line above all others of that name (or first)."""
        key = header_key(name) or name.lower()
        new: Field = (key, name, value, None)
        pos = self._index.get(key)
        at = pos[0] if pos else 0
        return self._derive([*self._fields[:at], new, *self._fields[at:]])

    def with_header_appended(self, name: str, value: str) -> Self:
        """A copy with a new ``name: value`` line after all others."""
        key = header_key(name) or name.lower()
        return self._derive([*self._fields, (key, name, value, None)])

    def with_header(self, name: str, value: str) -> Self:
        """A copy where ``name`` has exactly one line, ``value`` (added last if absent)."""
        key = header_key(name) or name.lower()
        pos = self._index.get(key)
        if not pos:
            return self.with_header_appended(name, value)
        new: Field = (key, self._fields[pos[0]][1], value, None)
        fields = [new if i == pos[0] else f for i, f in enumerate(self._fields) if i not in pos[1:]]
        return self._derive(fields)

    def without_header(self, name: str) -> Self:
        """A copy with every ``name`` line removed."""
        key = header_key(name) or name.lower()
        return self._derive([f for f in self._fields if f[0] != key])

    def without_first_value(self, name: str) -> Self:
        """A copy with the first comma-separated element of ``name`` removed (Via, Route)."""
        key = header_key(name) or name.lower()
        pos = self._index.get(key)
        if not pos:
            return self
        first = self._fields[pos[0]]
        rest = split_unquoted(first[2], ",")[1:] if key in LIST_HEADERS else []
        fields = list(self._fields)
        if rest:
            fields[pos[0]] = (key, first[1], ",".join(rest).strip(), None)
        else:
            del fields[pos[0]]
        return self._derive(fields)

    def with_body(self, body: bytes, content_type: str | None = None) -> Self:
        """A copy carrying ``body`` with Content-Length (and Content-Type) set."""
        msg = self._derive(list(self._fields), body).with_header("Content-Length", str(len(body)))
        if content_type is not None:
            msg = msg.with_header("Content-Type", content_type)
        elif not body:
            msg = msg.without_header("Content-Type")
        return msg

    # -- output -------------------------------------------------------------------

    def start_line(self) -> str:
        """The request or status line, without CRLF."""
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """The message on the wire: the original bytes when nothing was changed."""
        if self._raw is not None:
            return self._raw
        lines = [self._start if self._start is not None else self.start_line()]
        lines.extend(f[3] if f[3] is not None else f"{f[1]}: {f[2]}" for f in self._fields)
        if "content-length" not in self._index:
            # RFC 3261 §18.3: mandatory on streams; always writing it is harmless.
            lines.append(f"Content-Length: {len(self.body)}")
        lines.append("\r\n")
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + self.body

    def _same(self, other: Message) -> bool:
        return [(f[0], f[2]) for f in self._fields] == [
            (f[0], f[2]) for f in other._fields
        ] and self.body == other.body


def _is_digits(value: str) -> bool:
    # 1*DIGIT: ASCII only (str.isdigit also accepts "²" and other Unicode digits).
    return value.isascii() and value.isdigit()


def _fields_from(headers: Iterable[tuple[str, str]]) -> list[Field]:
    return [(header_key(name) or name.lower(), name, value, None) for name, value in headers]


def _delta_seconds(value: str | None, title: str) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if not _is_digits(value) or len(value) > 10:
        raise SipParseError(400, f"Invalid {title}")
    # delta-seconds beyond 2**32-1 are read as the maximum (RFC 3261 §20.19 "SHOULD").
    return min(int(value), 2**32 - 1)


class Request(Message):
    """A SIP request."""

    __slots__ = ("method", "uri", "version")

    def __init__(  # noqa: PLR0913 - the keyword-only tail is the parser's fast path
        self,
        method: str,
        uri: Uri,
        fields: list[Field],
        body: bytes = b"",
        *,
        version: str = "SIP/2.0",
        index: dict[str, list[int]] | None = None,
        raw: bytes | None = None,
        start: str | None = None,
    ) -> None:
        Message.__init__(self, fields, body, index=index, raw=raw, start=start)
        self.method = method
        self.uri = uri
        self.version = version

    @classmethod
    def build(
        cls, method: str, uri: Uri, headers: Iterable[tuple[str, str]], body: bytes = b""
    ) -> Request:
        """A new request from (name, value) header pairs, in order; Content-Length is
        added on output when absent."""
        return cls(method, uri, _fields_from(headers), body)

    def start_line(self) -> str:
        """``Method SP Request-URI SP SIP-Version``."""
        return f"{self.method} {self.uri} {self.version}"

    def _copy_start_line(self, new: Request) -> None:
        new.method = self.method
        new.uri = self.uri
        new.version = self.version

    def with_uri(self, uri: Uri) -> Request:
        """A copy with another Request-URI."""
        return Request(self.method, uri, list(self._fields), self.body, version=self.version)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Request):
            return NotImplemented
        return (
            self.method == other.method
            and str(self.uri) == str(other.uri)
            and self.version == other.version
            and self._same(other)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri} ({len(self._fields)} headers)>"


class Response(Message):
    """A SIP response."""

    __slots__ = ("reason", "status", "version")

    def __init__(  # noqa: PLR0913 - the keyword-only tail is the parser's fast path
        self,
        status: int,
        reason: str,
        fields: list[Field],
        body: bytes = b"",
        *,
        version: str = "SIP/2.0",
        index: dict[str, list[int]] | None = None,
        raw: bytes | None = None,
        start: str | None = None,
    ) -> None:
        Message.__init__(self, fields, body, index=index, raw=raw, start=start)
        self.status = status
        self.reason = reason
        self.version = version

    @classmethod
    def build(
        cls, status: int, reason: str, headers: Iterable[tuple[str, str]], body: bytes = b""
    ) -> Response:
        """A new response from (name, value) header pairs, in order."""
        return cls(status, reason, _fields_from(headers), body)

    def start_line(self) -> str:
        """``SIP-Version SP Status-Code SP Reason-Phrase``."""
        return f"{self.version} {self.status} {self.reason}"

    def _copy_start_line(self, new: Response) -> None:
        new.status = self.status
        new.reason = self.reason
        new.version = self.version

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Response):
            return NotImplemented
        return (
            self.status == other.status
            and self.reason == other.reason
            and self.version == other.version
            and self._same(other)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason} ({len(self._fields)} headers)>"
