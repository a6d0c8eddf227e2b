"""Invariant: the framer's events depend on the bytes alone, never on how they were chunked.

Valid streams (messages with a correct Content-Length, keep-alive CRLFs between them) come out
as exactly the messages that went in, whether fed whole, byte by byte or cut at random points.
Arbitrary bytes give the same events and the same error (or none) however they are cut.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st

from sipguard.sip.errors import SipParseError
from sipguard.sip.framing import (
    NEED_DATA,
    FramedMessage,
    FramerEvent,
    KeepAlivePing,
    StreamClosed,
    StreamFramer,
)
from sipguard.sip.limits import ParseLimits

SETTINGS = settings(max_examples=200, deadline=None)

TOKEN = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~", min_size=1
)
VALUE = st.text("abcdefghijklmnopqrstuvwxyz0123456789 \t;=@:<>/.,\"'", max_size=30).map(str.strip)
WS = st.sampled_from(["", " ", "  ", "\t", " \t "])
START_LINES = st.one_of(
    st.builds("{} sip:{}@example.com SIP/2.0".format, TOKEN, TOKEN),
    st.builds("SIP/2.0 {} {}".format, st.integers(100, 699), TOKEN),
)


@st.composite
def content_length(draw: st.DrawFn, size: int) -> str:
    name = draw(st.sampled_from(["Content-Length", "content-length", "CONTENT-LENGTH", "l", "L"]))
    zeros = draw(st.sampled_from(["", "0", "00"]))
    fold = draw(st.sampled_from(["", "\r\n ", "\r\n\t"]))
    return f"{name}{draw(WS)}:{draw(WS)}{fold}{zeros}{size}{draw(WS)}"


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    body = draw(st.binary(max_size=120) | st.sampled_from([b"", b"\r\n\r\n", b"a\r\n\r\nb\r\n"]))
    headers = [
        f"{name}{draw(WS)}:{draw(WS)}{value}"
        for name, value in draw(st.lists(st.tuples(TOKEN, VALUE), max_size=4))
        if name.lower() not in ("content-length", "l")
    ]
    fold = draw(st.booleans())
    if headers and fold:
        headers[-1] += "\r\n folded " + draw(VALUE)  # a continuation line
    headers.insert(draw(st.integers(0, len(headers))), draw(content_length(len(body))))
    head = "\r\n".join([draw(START_LINES), *headers]) + "\r\n\r\n"
    return head.encode() + body


def cut(data: bytes, how: str, points: list[int]) -> list[bytes]:
    if how == "whole":
        return [data]
    if how == "bytes":
        return [data[i : i + 1] for i in range(len(data))]
    edges = sorted({0, len(data), *(p % (len(data) + 1) for p in points)})
    return [data[a:b] for a, b in itertools.pairwise(edges)]


HOW = st.sampled_from(["whole", "bytes", "random"])
POINTS = st.lists(st.integers(0, 10_000), max_size=12)


def run(chunks: Iterable[bytes], limits: ParseLimits) -> tuple[list[FramerEvent], int | None]:
    """All events until EOF or the first error, and that error's status."""
    framer = StreamFramer(limits)
    events: list[FramerEvent] = []
    try:
        for chunk in [*filter(None, chunks), b""]:
            framer.receive_data(chunk)
            for _ in range(100_000):
                event = framer.next_event()
                if event is NEED_DATA:
                    break
                events.append(event)
                if isinstance(event, StreamClosed):
                    return events, None
            else:
                raise AssertionError("Too many events!")
    except SipParseError as error:
        return events, error.status
    raise AssertionError("EOF never gave StreamClosed")


@SETTINGS
@given(
    st.lists(st.tuples(st.integers(0, 5), messages()), max_size=5),
    st.integers(0, 5),
    HOW,
    POINTS,
)
def test_valid_stream_yields_the_same_messages(
    items: list[tuple[int, bytes]], tail: int, how: str, points: list[int]
) -> None:
    stream = b""
    expected: list[FramerEvent] = []
    for crlfs, data in [*items, (tail, b"")]:
        stream += b"\r\n" * crlfs + data
        # A run of CRLFs between messages pairs into pings; an odd one out is skipped.
        expected += [KeepAlivePing()] * (crlfs // 2)
        expected += [FramedMessage(data)] if data else []
    events, error = run(cut(stream, how, points), ParseLimits())
    assert error is None
    assert events == [*expected, StreamClosed()]


NOISE = st.lists(
    st.sampled_from([b"\r", b"\n", b"\r\n", b"\r\n\r\n", b"l:", b" ", b"1", b"9", b"x", b"-"])
    | st.binary(max_size=3),
    max_size=80,
).map(b"".join)


@SETTINGS
@given(NOISE, HOW, POINTS)
def test_any_bytes_give_the_same_outcome_however_cut(
    data: bytes, how: str, points: list[int]
) -> None:
    limits = ParseLimits(max_header_size=24, max_body_size=16, max_message_size=36)
    assert run(cut(data, how, points), limits) == run([data], limits)
