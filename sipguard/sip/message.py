"""SIP requests and responses: header fields kept as written, values parsed on demand.

Theory of operation:
- A message holds its header fields in wire order (``fields.py``). A field read from
  the wire keeps its exact line; a field changed by the proxy is rendered from its
  value.
- Typed views (``vias``, ``from_``, ``contacts``..., in ``views.py``) parse on first
  access and are cached. Header values that fail to parse raise SipParseError(400).
- Messages are immutable: ``with_*`` methods return a new message sharing the
  untouched fields. An untouched message serialises to the exact bytes it came from.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from sipguard.sip.fields import Field, HeaderField, fields_from, index_fields
from sipguard.sip.grammar import split_unquoted
from sipguard.sip.names import LIST_HEADERS, header_key
from sipguard.sip.uri import Uri
from sipguard.sip.views import HeaderViews

__all__ = ["HeaderField", "Message", "Request", "Response"]


class Message(HeaderViews):
    """What requests and responses share: header fields, body, typed header views."""

    # __dict__ holds the typed views once read (views.py ``view``).
    __slots__ = ("__dict__", "_fields", "_index", "_raw", "_start", "body")

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
        self._index = index if index is not None else index_fields(fields)
        self._raw = raw
        self._start = start

    # -- raw header access ------------------------------------------------------

    @property
    def fields(self) -> tuple[HeaderField, ...]:
        """All header fields in wire order."""
        return tuple(HeaderField(*f) for f in self._fields)

    # -- copies with changes ------------------------------------------------------

    def _derive(self, fields: list[Field], body: bytes | None = None) -> Self:
        new = object.__new__(type(self))
        new._fields = fields
        new.body = self.body if body is None else body
        new._index = index_fields(fields)
        new._raw = None
        new._start = self._start
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
        return cls(method, uri, fields_from(headers), body)

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
        return cls(status, reason, fields_from(headers), body)

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
