"""Character classes and small scanners from the RFC 3261 §25 ABNF.

Rules of this file: pure functions over ``str``; each set or regex sits under the
ABNF it implements. Splitters respect quoted strings and angle brackets, which is
where SIP hides commas and semicolons that are not separators.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sipguard.sip import accel
from sipguard.sip.errors import SipParseError

__all__ = [
    "get_param",
    "is_token",
    "quote",
    "split_params",
    "split_unquoted",
    "unescape",
    "unquote",
]

# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]++\Z")

# escaped = "%" HEXDIG HEXDIG
_ESCAPED_RE = re.compile(r"%([0-9A-Fa-f]{2})")


def is_token(text: str) -> bool:
    """True when ``text`` is a non-empty RFC 3261 token."""
    return _TOKEN_RE.match(text) is not None


def unescape(text: str) -> str:
    """Decode %HH escapes (RFC 3261 §19.1.2), leaving a stray "%" as it is."""
    if "%" not in text:
        return text
    raw = _ESCAPED_RE.sub(lambda m: chr(int(m.group(1), 16)), text)
    # Escapes encode UTF-8 octets; re-read them as such where they form valid UTF-8.
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw


# quoted-string = SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE
# quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
def quoted_end(text: str, start: int) -> int:
    """Index just past the quoted string opening at ``text[start] == '"'``.

    Raises:
        SipParseError: 400 when the quote is never closed.
    """
    i = start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            return i + 1
        if c == "\\":
            i += 2
            continue
        i += 1
    raise SipParseError(400, "Unterminated Quoted String")


def unquote(text: str) -> str:
    """The content of a quoted string (with quotes), quoted-pairs resolved."""
    inner = text[1:-1]
    if "\\" not in inner:
        return inner
    return re.sub(r"\\(.)", r"\1", inner, flags=re.DOTALL)


def quote(text: str) -> str:
    """Render ``text`` as a quoted-string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def split_unquoted(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside quoted strings and <...>; pieces are not stripped.

    Raises:
        SipParseError: 400 on an unterminated quoted string.
    """
    if '"' not in text and "<" not in text:
        return text.split(sep)
    parts: list[str] = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i = quoted_end(text, i)
            continue
        if c == "<":
            close = text.find(">", i)
            if close < 0:
                raise SipParseError(400, "Unterminated Angle Bracket")
            i = close + 1
            continue
        if c == sep:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


Params = tuple[tuple[str, "str | None"], ...]


# generic-param = token [ EQUAL gen-value ];  gen-value = token / host / quoted-string
# EQUAL = SWS "=" SWS
def split_params(text: str, what: str) -> Params:
    """Parse ``;name[=value]`` pairs (``text`` starts after the first ";").

    Empty parameters (a trailing ";") are skipped: real devices send them and they
    carry nothing. Values keep their quotes so rendering is exact.

    Raises:
        SipParseError: 400 naming ``what`` when a name is not a token.
    """
    out: list[tuple[str, str | None]] = []
    for piece in split_unquoted(text, ";") if '"' in text else text.split(";"):
        name, eq, value = piece.partition("=")
        name = name.strip()
        if not name:
            if eq:
                raise SipParseError(400, f"Invalid {what} Parameter")
            continue
        if not is_token(name):
            raise SipParseError(400, f"Invalid {what} Parameter")
        if eq:
            value = value.strip()
            if value.startswith('"') and quoted_end(value, 0) != len(value):
                raise SipParseError(400, f"Invalid {what} Parameter")
            out.append((name, value))
        else:
            out.append((name, None))
    return tuple(out)


# generic-param = token [ EQUAL gen-value ]; an unquoted value is read liberally as any run
# of characters that cannot end it (real branches carry "/" and "=", received a port);
# an empty parameter (";;") is an error in a header (unlike inside a URI, see uri.py).
_PARAMS_RE = re.compile(
    r"""(?:[ \t]*+;[ \t]*+[A-Za-z0-9\-.!%*_+`'~]++
        (?:[ \t]*+=[ \t]*+(?:"[^"\\]*+(?:\\.[^"\\]*+)*+"|[^;,\s"]*+))?)*+[ \t]*+\Z""",
    re.VERBOSE | re.DOTALL,
)


# The common case: no quotes, no whitespace: split without stripping.
_SIMPLE_PARAMS_RE = re.compile(r"(?:;[A-Za-z0-9\-.!%*_+`'~]++(?:=[^;,\s\"]*+)?)*+\Z")


# The same grammar as a pattern for embedding in a larger regex (name-addr, Via).
PARAMS_PATTERN = r"""(?:[ \t]*+;[ \t]*+[A-Za-z0-9\-.!%*_+`'~]++
        (?:[ \t]*+=[ \t]*+(?:"[^"\\]*+(?:\\.[^"\\]*+)*+"|[^;,\s"]*+))?)*+"""


def split_checked_params(text: str) -> Params:
    """Split parameters already validated against PARAMS_PATTERN."""
    if '"' in text or " " in text or "\t" in text:
        return parse_params(text, "Parameter")
    if text.count(";") == 1:
        name, eq, value = text[1:].partition("=")
        return ((name, value if eq else None),)
    out: list[tuple[str, str | None]] = []
    for piece in text[1:].split(";"):
        name, eq, value = piece.partition("=")
        out.append((name, value) if eq else (name, None))
    return tuple(out)


def parse_params(text: str, what: str) -> Params:
    """Parse header parameters; ``text`` starts at the first ";" (or is empty).

    Raises:
        SipParseError: 400 "Invalid <what>" when a parameter is malformed.
    """
    if not text:
        return ()
    if _SIMPLE_PARAMS_RE.match(text) is not None:
        out_simple: list[tuple[str, str | None]] = []
        for piece in text[1:].split(";"):
            name, eq, value = piece.partition("=")
            out_simple.append((name, value) if eq else (name, None))
        return tuple(out_simple)
    if _PARAMS_RE.match(text) is None:
        raise SipParseError(400, f"Invalid {what}")
    out: list[tuple[str, str | None]] = []
    pieces = split_unquoted(text, ";") if '"' in text else text.split(";")
    for piece in pieces[1:]:
        name, eq, value = piece.partition("=")
        if eq:
            out.append((name.strip(), value.strip()))
        elif name and not name.isspace():
            out.append((name.strip(), None))
    return tuple(out)


def _get_param(params: Params, name: str) -> str | None:
    """First value of parameter ``name`` (case-insensitive); "" for a bare flag."""
    lname = name.lower()
    for key, value in params:
        if key == lname or key.lower() == lname:
            return "" if value is None else value
    return None


get_param: Callable[[Params, str], str | None] = accel.GET_PARAM or _get_param
"""First value of parameter ``name`` (case-insensitive); "" for a bare flag (in C when built)."""


def with_params(params: Params, values: dict[str, str | None]) -> Params:
    """``params`` with ``values`` set (a None value is a flag): replaced ones are
    dropped from their place and the new ones appended, the rest keep their order."""
    names = {k.lower() for k in values}
    kept = tuple((k, v) for k, v in params if k.lower() not in names)
    return kept + tuple(values.items())


def render_params(params: Params) -> str:
    """``;name=value`` text for ``params``."""
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params)
