"""parse_message: bytes of one datagram or one framed message → Request | Response.

Rules of this file:
- Only SipParseError leaves ``parse_message``; any other exception is a bug.
- Limits are checked before the work they bound: total size before searching,
  header section size and line count before splitting, Content-Length before
  slicing the body.
- Eagerly validated: framing, the start line, and the headers every transaction
  needs (top Via, From, To, Call-ID, CSeq, Max-Forwards, Content-Length).
  Everything else is parsed when first read (see message.py).
- An error raised once the top Via is readable and From, To, Call-ID and CSeq are
  present carries the message as ``partial`` so the caller can answer it (a response
  echoes those four as written); before that, the caller can only drop.
"""

from __future__ import annotations

import re

from sipguard.sip import accel
from sipguard.sip.errors import SipParseError
from sipguard.sip.fields import Field
from sipguard.sip.grammar import is_token
from sipguard.sip.headers import CSeq, NameAddr, Via
from sipguard.sip.limits import DEFAULT_LIMITS, ParseLimits
from sipguard.sip.message import Request, Response
from sipguard.sip.names import SINGLETON_HEADERS, SPELLED, header_key
from sipguard.sip.uri import SipUri, TelUri, Uri, parse_uri

__all__ = ["parse_message"]

# Starts only at the beginning of a whitespace run, so a long run costs linear time.
_FOLD_RE = re.compile(r"(?<![ \t])[ \t]*+\r?\n[ \t]++")
_SIP_VERSION_RE = re.compile(r"SIP/\d+\.\d+\Z", re.IGNORECASE)
_STATUS_LINE_RE = re.compile(r"(SIP/\d+\.\d+) ([0-9]{3})(?: (.*))?\Z", re.IGNORECASE | re.DOTALL)
_SCHEME_RE = re.compile(
    r"[a-z][a-z0-9+\-.]*+\Z"
)  # scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_ANSWER_HEADERS = ("via", "from", "to", "call-id", "cseq")
_ANSWER_SET = frozenset(_ANSWER_HEADERS)
_VALUE_TYPES = (Via, NameAddr, SipUri, CSeq)  # what the accelerator builds, in its order
_NAMES = accel.header_names(SPELLED) or SPELLED  # SPELLED as the accelerator's table
_TITLES = {"via": "Via", "from": "From", "to": "To", "call-id": "Call-ID", "cseq": "CSeq"}


def parse_message(data: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> Request | Response:
    """Parse one whole SIP message (RFC 3261 §7).

    Bytes beyond the declared Content-Length are discarded (RFC 3261 §18.3).

    Raises:
        SipParseError: with the status to answer (400, 416, 505, 513) and, when the
        message held enough to answer, the readable part as ``partial``.
    """
    n = len(data)
    if n > limits.max_message_size:
        raise SipParseError(513, "Message Too Large")
    start = 0
    while data.startswith(b"\r\n", start):  # RFC 3261 §7.5: ignore leading CRLFs
        start += 2
    fast = accel.split_message(
        data,
        start,
        limits.max_header_size,
        limits.max_headers,
        limits.max_header_line,
        limits.max_via,
        _NAMES,
        header_key,
        SINGLETON_HEADERS,
        _VALUE_TYPES,
    )
    if fast is not None:
        # The accelerator also read the views every message needs, where it was sure.
        first, fields, index, duplicate, body_start, views, request_uri = fast
    else:
        head, body_start, lf_only = _split_head(data, start, n, limits)
        lines, fields, index, duplicate = _read_fields(_header_lines(head, lf_only, limits), limits)
        first = lines[0]
        views, request_uri = {}, None
    if first[:4].upper() == "SIP/":
        msg: Request | Response = _response(first, fields, index)
        msg.__dict__ = views
    else:
        msg = _request(first, fields, index, views)
    _check_answer_headers(msg)
    try:
        _check_readable(msg, first, duplicate, request_uri)
        msg.body, msg._raw = _body(msg, data, start, body_start, limits)
    except SipParseError as exc:
        partial = msg if isinstance(msg, Request) else None
        raise SipParseError(exc.status, exc.reason, partial) from None
    return msg


def _check_readable(
    msg: Request | Response, first: str, duplicate: str | None, request_uri: SipUri | None
) -> None:
    _ = msg.from_, msg.to, msg.call_id, msg.cseq
    if isinstance(msg, Request):
        if request_uri is None:
            _check_request_line(msg, first)
        else:  # the accelerator checked the line as _check_request_line does
            msg.uri, msg.version = request_uri, "SIP/2.0"
        # RFC 3261 §8.1.1.3 / §8.2: the CSeq method MUST match the request method.
        if msg.cseq.method != msg.method:
            raise SipParseError(400, "CSeq Method Mismatch")
    if duplicate is not None:
        # RFC 3261 §7.3.1: only list headers may appear more than once.
        raise SipParseError(400, f"Duplicate {duplicate} Header")
    _ = msg.max_forwards


def _split_head(data: bytes, start: int, n: int, limits: ParseLimits) -> tuple[str, int, bool]:
    # The start line's ending sets the mode: CRLF as RFC 3261 §7 says, or bare LF,
    # read liberally. The header section counts through its empty line (as framing.py).
    window = start + limits.max_header_size
    first_eol = data.find(b"\n", start, window)
    lf_only = first_eol > start and data[first_eol - 1] != 0x0D
    end = data.find(b"\n\n" if lf_only else b"\r\n\r\n", start, window)
    if end >= 0:
        body_start = end + (2 if lf_only else 4)
    elif n - start > limits.max_header_size:
        raise SipParseError(513, "Message Too Large")
    elif not lf_only and data.endswith(b"\r\n") and n - start > 2:
        # A datagram whose header section lacks the empty line (scanners send
        # these): the datagram's end ends the headers, the body is empty.
        end, body_start = n - 2, n
    else:
        raise SipParseError(400, "Incomplete Header Section")
    if body_start - start > limits.max_header_size:
        raise SipParseError(513, "Message Too Large")
    return data[start:end].decode("utf-8", "surrogateescape"), body_start, lf_only


def _header_lines(head: str, lf_only: bool, limits: ParseLimits) -> list[str]:
    lines = head.split("\n" if lf_only else "\r\n")
    if len(lines) > 4 * limits.max_headers:  # folded lines count here; bound the work
        raise SipParseError(400, "Too Many Headers")
    if lf_only:
        lines = [line.removesuffix("\r") for line in lines]
        bare = any("\r" in line for line in lines)
    else:
        breaks = len(lines) - 1
        bare = head.count("\n") != breaks or head.count("\r") != breaks
    # A CR or LF alone inside a header is a line break to some parsers and not to
    # others: the classic way to smuggle a header past a proxy. Never forwarded.
    if bare:
        raise SipParseError(400, "Bare CR or LF in Header")
    return lines


def _unfold(lines: list[str]) -> list[str]:
    # RFC 3261 §7.3.1: a line starting with whitespace continues the previous one.
    out = [lines[0]]
    for line in lines[1:]:
        if line[:1] not in (" ", "\t"):
            out.append(line)
        elif len(out) > 1:
            out[-1] = out[-1] + "\r\n" + line
        else:
            raise SipParseError(400, "Malformed Header Line")
    return out


def _read_fields(
    lines: list[str], limits: ParseLimits
) -> tuple[list[str], list[Field], dict[str, list[int]], str | None]:
    """Header fields, their index and the first duplicated singleton's name, if any;
    unfolds first when a continuation line shows up."""
    try:
        fields, index, duplicate = _split_fields(lines, limits, folded=False)
    except _FoldedLineError:
        lines = _unfold(lines)
        fields, index, duplicate = _split_fields(lines, limits, folded=True)
    if len(fields) > limits.max_headers:
        raise SipParseError(400, "Too Many Headers")
    # The limit is in bytes; a character is 1 to 4 of them (UTF-8), so only lines
    # that could exceed it are encoded to be measured exactly.
    limit = limits.max_header_line
    longest = max(map(len, lines))
    if longest > limit or (
        longest * 4 > limit
        and any(len(line.encode("utf-8", "surrogateescape")) > limit for line in lines)
    ):
        raise SipParseError(400, "Header Too Long")
    return lines, fields, index, duplicate


class _FoldedLineError(Exception):
    """A continuation line met on the fast path: redo the split with unfolding."""


def _split_fields(
    lines: list[str], limits: ParseLimits, *, folded: bool
) -> tuple[list[Field], dict[str, list[int]], str | None]:
    # The per-line loop of the parser: kept to the operations every line needs.
    fields: list[Field] = []
    index: dict[str, list[int]] = {}
    vias = 0
    duplicate = None
    spelled = SPELLED.get
    for i in range(1, len(lines)):
        line = lines[i]
        name, colon, value = line.partition(":")
        key = spelled(name) or header_key(name)
        if not colon or key is None:
            if line[:1] in (" ", "\t") and not folded:
                raise _FoldedLineError
            raise SipParseError(400, "Malformed Header Line")
        if folded and "\n" in value:
            value = _FOLD_RE.sub(" ", value)
        value = value.strip(" \t")  # LWS is SP and HTAB only (not Unicode spaces)
        if key == "via":
            vias += value.count(",") + 1
            if vias > limits.max_via:
                raise SipParseError(400, "Too Many Via Headers")
        pos = index.get(key)
        if pos is None:
            index[key] = [i - 1]
        else:
            pos.append(i - 1)
            if duplicate is None and key in SINGLETON_HEADERS:
                duplicate = name.rstrip(" \t")
        fields.append((key, name, value, line))
    return fields, index, duplicate


def _response(first: str, fields: list[Field], index: dict[str, list[int]]) -> Response:
    m = _STATUS_LINE_RE.match(first)
    if m is None:
        raise SipParseError(400, "Malformed Status-Line")
    version, code, reason = m.groups()
    if version.upper() != "SIP/2.0":
        raise SipParseError(505, "Version Not Supported")
    status = int(code)
    if not 100 <= status <= 699:
        raise SipParseError(400, "Invalid Status Code")
    return Response(status, reason or "", fields, version=version, index=index, start=first)


_PLACEHOLDER_URI = SipUri("sip", "invalid")


def _request(
    first: str, fields: list[Field], index: dict[str, list[int]], views: dict[str, object]
) -> Request:
    # Request-Line = Method SP Request-URI SP SIP-Version CRLF  (exactly one SP each)
    # Built slot by slot: Request.__init__'s keyword chain costs more than the rest of
    # this function, on the path every request takes.
    msg = object.__new__(Request)
    msg.__dict__ = views
    msg._fields = fields
    msg._index = index
    msg._start = first
    msg._raw = None
    msg.body = b""
    msg.method = first.partition(" ")[0]
    # The start line is checked after the answer-headers (_check_readable), so a malformed
    # one can still be answered; until then (and in a partial) the URI is this placeholder
    # and the version empty, whichever path read the line.
    msg.uri, msg.version = _PLACEHOLDER_URI, ""
    return msg


def _check_answer_headers(msg: Request | Response) -> None:
    # A response is routed by the top Via and echoes From, To, Call-ID and CSeq
    # (RFC 3261 §8.2.6.2), copied as written: only the Via must be readable.
    index = msg._index
    if not index.keys() >= _ANSWER_SET:  # an index holds no empty position list
        for key in _ANSWER_HEADERS:
            if key not in index:
                raise SipParseError(400, f"Missing {_TITLES[key]} Header")
    _ = msg.via


def _body(
    msg: Request | Response, data: bytes, start: int, body_start: int, limits: ParseLimits
) -> tuple[bytes, bytes | None]:
    length = msg.content_length
    n = len(data)
    if length is None:
        # RFC 3261 §18.3: no Content-Length on a datagram: the body runs to its end.
        end = n
    else:
        if length > limits.max_body_size:
            raise SipParseError(513, "Message Too Large")
        end = body_start + length
        if end > n:
            raise SipParseError(400, "Content-Length Exceeds Message")
    body = data[body_start:end]
    if start == 0 and end == n:
        return body, data
    return body, data[start:end]


def _check_request_line(msg: Request, first: str) -> None:
    parts = first.split(" ")
    if len(parts) != 3 or not all(parts):
        raise SipParseError(400, "Malformed Request-Line")
    method, uri_text, version = parts
    if not is_token(method):
        raise SipParseError(400, "Malformed Request-Line")
    if version != "SIP/2.0":
        if _SIP_VERSION_RE.match(version) and version.upper() != "SIP/2.0":
            raise SipParseError(505, "Version Not Supported")
        if version.upper() != "SIP/2.0":
            raise SipParseError(400, "Malformed Request-Line")
    msg.version = version
    msg.uri = _request_uri(uri_text)


def _request_uri(text: str) -> Uri:
    scheme = text.partition(":")[0].lower()
    if scheme not in ("sip", "sips", "tel"):
        if ":" in text and _SCHEME_RE.match(scheme):
            raise SipParseError(416, "Unsupported URI Scheme")
        raise SipParseError(400, "Malformed Request-URI")
    try:
        uri = parse_uri(text)
    except SipParseError:
        raise SipParseError(400, "Malformed Request-URI") from None
    # RFC 3261 §19.1.1 table: URI headers are not allowed in a Request-URI; a proxy
    # must not let them smuggle header fields in.
    if isinstance(uri, SipUri) and uri.headers:
        raise SipParseError(400, "Headers Not Allowed In Request-URI")
    if not isinstance(uri, (SipUri, TelUri)):  # pragma: no cover - scheme checked above
        raise SipParseError(416, "Unsupported URI Scheme")
    return uri
