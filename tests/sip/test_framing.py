"""Stream framer: boundaries, keep-alives, Content-Length rules, limits, EOF and dead state."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator

import pytest

from sipguard.sip.errors import SipParseError
from sipguard.sip.framing import (
    MAX_CHUNK,
    NEED_DATA,
    PONG,
    FramedMessage,
    FramerEvent,
    KeepAlivePing,
    NeedData,
    StreamClosed,
    StreamFramer,
)
from sipguard.sip.limits import DEFAULT_LIMITS, ParseLimits

INVITE = b"INVITE sip:bob@example.com SIP/2.0"
OK = b"SIP/2.0 200 OK"


def message(
    body: bytes = b"",
    *,
    length: bytes | None = None,
    start: bytes = INVITE,
    headers: Iterable[bytes] = (),
) -> bytes:
    """A message; ``length`` replaces the Content-Length line (b"" leaves it out)."""
    if length is None:
        length = b"Content-Length: %d" % len(body)
    lines = [start, b"Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1", b"Call-ID: a@b", *headers]
    if length:
        lines.append(length)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def drain(framer: StreamFramer) -> list[FramerEvent]:
    """Events up to (not including) NEED_DATA; StreamClosed is the last one kept."""
    events: list[FramerEvent] = []
    for _ in range(10_000):
        event = framer.next_event()
        if event is NEED_DATA:
            return events
        events.append(event)
        if isinstance(event, StreamClosed):
            return events
    raise AssertionError("Too many events!")


def feed(chunks: Iterable[bytes], framer: StreamFramer | None = None) -> list[FramerEvent]:
    """Feed every non-empty chunk (draining after each), then EOF; return all events."""
    framer = framer or StreamFramer()
    events: list[FramerEvent] = []
    for chunk in filter(None, chunks):
        framer.receive_data(chunk)
        events += drain(framer)
    framer.receive_data(b"")
    events += drain(framer)
    assert framer.buffered == 0
    return events


def frames(*data: bytes) -> list[FramerEvent]:
    events: list[FramerEvent] = [FramedMessage(d) for d in data]
    return [*events, StreamClosed()]


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def refusal(framer: StreamFramer, chunks: Iterable[bytes]) -> tuple[SipParseError, int]:
    """Feed until the framer refuses; return the error and the bytes accepted before it."""
    fed = 0
    for chunk in chunks:
        try:
            framer.receive_data(chunk)
            fed += len(chunk)
            assert drain(framer) == []
        except SipParseError as error:
            return error, fed
    raise AssertionError("never refused")


# --- boundaries -------------------------------------------------------------------------------

SDP = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
FIRST = message(SDP, headers=[b"Content-Type: application/sdp"])
SECOND = message(start=OK)


def test_two_messages_in_one_chunk() -> None:
    assert feed([FIRST + SECOND]) == frames(FIRST, SECOND)


def test_split_at_every_position() -> None:
    stream = FIRST + b"\r\n\r\n" + SECOND
    expected = [FramedMessage(FIRST), KeepAlivePing(), FramedMessage(SECOND), StreamClosed()]
    for cut in range(len(stream) + 1):
        assert feed([stream[:cut], stream[cut:]]) == expected, cut


def test_byte_by_byte() -> None:
    assert feed(bytewise(FIRST + SECOND)) == frames(FIRST, SECOND)


def test_body_with_crlfcrlf_inside() -> None:
    body = b"\r\n\r\nnot a header\r\n\r\n\r\n"
    first = message(body)
    assert feed([first + SECOND]) == frames(first, SECOND)
    assert feed(bytewise(first + SECOND)) == frames(first, SECOND)


def test_event_types_and_singleton() -> None:
    framer = StreamFramer()
    assert framer.next_event() is NEED_DATA
    assert isinstance(NEED_DATA, NeedData)
    with pytest.raises(AttributeError):
        FramedMessage(b"x").data = b"y"  # type: ignore[misc]


# --- keep-alives (RFC 5626 §4.4.1) and leading CRLF (RFC 3261 §7.5) -----------------------------


def test_ping_is_reported_and_consumed() -> None:
    framer = StreamFramer()
    framer.receive_data(b"\r\n\r\n")
    assert framer.next_event() == KeepAlivePing()
    assert framer.buffered == 0
    assert framer.next_event() is NEED_DATA
    assert PONG == b"\r\n"


def test_lone_crlf_before_message_is_skipped() -> None:
    assert feed([b"\r\n" + FIRST + b"\r\n" + SECOND]) == frames(FIRST, SECOND)


def test_crlf_then_crlf_later_is_a_ping() -> None:
    assert feed([b"\r\n", b"\r\n", SECOND]) == [KeepAlivePing(), *frames(SECOND)]


def test_crlf_then_message_is_not_a_ping() -> None:
    assert feed([b"\r\n", SECOND]) == frames(SECOND)
    assert feed([b"\r\n\r", SECOND]) == [FramedMessage(b"\r" + SECOND), StreamClosed()]


def test_partial_crlf_waits_for_more_data() -> None:
    framer = StreamFramer()
    for byte in (b"\r", b"\n", b"\r"):
        framer.receive_data(byte)
        assert framer.next_event() is NEED_DATA
    assert framer.buffered == 3
    framer.receive_data(b"\n")
    assert framer.next_event() == KeepAlivePing()


def test_crlf_runs_pair_into_pings() -> None:
    # Five CRLFs: two pings, the fifth is skipped as a lone CRLF.
    assert feed([b"\r\n" * 5 + SECOND]) == [KeepAlivePing(), KeepAlivePing(), *frames(SECOND)]


@pytest.mark.parametrize("leftover", [b"\r", b"\r\n", b"\r\n\r"])
def test_partial_keepalive_at_eof_closes(leftover: bytes) -> None:
    assert feed([SECOND + leftover]) == frames(SECOND)


# --- Content-Length ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"l: 5",
        b"L:5",
        b"content-length : 5",
        b"CONTENT-LENGTH\t:\t5\t",
        b"Content-Length:   5",
        b"Content-Length: 005",
        b"Content-Length:\r\n 5",
        b"l:\r\n\t 5 ",
    ],
)
def test_content_length_spellings(line: bytes) -> None:
    data = message(b"hello", length=line)
    assert feed([data + SECOND]) == frames(data, SECOND)


def test_content_length_with_spaces_and_big_body() -> None:
    data = message(bytes(range(256)) + b"x" * 174, length=b"Content-Length:   430")
    assert feed([data + SECOND]) == frames(data, SECOND)


def test_folded_line_is_not_a_header() -> None:
    # " l: 99" continues Subject; only the real Content-Length counts.
    data = message(b"hey", headers=[b"Subject: hi", b" l: 99", b"X-Content-Length: 42"])
    assert feed([data]) == frames(data)


def test_duplicate_equal_content_length_is_accepted() -> None:
    data = message(b"hey", headers=[b"l: 3"])
    assert feed([data]) == frames(data)


@pytest.mark.parametrize(
    ("length", "extra", "reason"),
    [
        (b"", [], "Missing Content-Length"),
        (b"Content-Length: -5", [], "Invalid Content-Length"),
        (b"Content-Length: abc", [], "Invalid Content-Length"),
        (b"Content-Length: 5a", [], "Invalid Content-Length"),
        (b"Content-Length: +5", [], "Invalid Content-Length"),
        (b"Content-Length: 1_0", [], "Invalid Content-Length"),
        (b"Content-Length: 5, 5", [], "Invalid Content-Length"),
        (b"Content-Length:", [], "Invalid Content-Length"),
        (b"Content-Length: 5", [b"l: 6"], "Invalid Content-Length"),
        (b"Content-Length: 5", [b"Content-Length: 0"], "Invalid Content-Length"),
    ],
)
def test_bad_content_length(length: bytes, extra: list[bytes], reason: str) -> None:
    framer = StreamFramer()
    framer.receive_data(message(b"hello", length=length, headers=extra))
    with pytest.raises(SipParseError) as caught:
        framer.next_event()
    assert (caught.value.status, caught.value.reason) == (400, reason)
    assert caught.value.partial is None


# --- limits -----------------------------------------------------------------------------------


def no_header_end(total: int, size: int) -> Iterator[bytes]:
    """``total`` bytes with no CRLFCRLF, in ``size``-byte chunks, full of near misses."""
    pattern = b"a\r\n\r" * (size // 4 + 1)
    for start in range(0, total, size):
        yield pattern[: min(size, total - start)]


def test_endless_header_refused_byte_by_byte() -> None:
    error, fed = refusal(StreamFramer(), no_header_end(10 * 1024 * 1024, 1))
    assert (error.status, error.reason) == (513, "Message Too Large")
    assert fed == DEFAULT_LIMITS.max_header_size


def test_header_search_is_not_quadratic() -> None:
    # 128 KiB byte by byte: ~0.2 s when each search resumes, several seconds when it restarts.
    limits = ParseLimits(max_header_size=128 * 1024, max_message_size=256 * 1024)
    began = time.perf_counter()
    error, fed = refusal(StreamFramer(limits), no_header_end(10 * 1024 * 1024, 1))
    assert error.status == 513
    assert fed == limits.max_header_size
    assert time.perf_counter() - began < 2.0


def test_endless_header_refused_in_chunks() -> None:
    error, fed = refusal(StreamFramer(), no_header_end(10 * 1024 * 1024, 4096))
    assert error.status == 513
    assert fed <= DEFAULT_LIMITS.max_header_size


def test_huge_chunk_refused_before_buffering() -> None:
    framer = StreamFramer()
    with pytest.raises(SipParseError) as caught:
        framer.receive_data(b"x" * (10 * 1024 * 1024))
    assert caught.value.status == 513
    assert framer.buffered == 0


def test_buffer_never_exceeds_cap_even_undrained() -> None:
    limits = DEFAULT_LIMITS
    cap = limits.max_header_size + limits.max_body_size + MAX_CHUNK
    framer = StreamFramer()
    framer.receive_data(message(length=b"l: %d" % limits.max_body_size))
    for _ in range(cap // 1000):
        framer.receive_data(b"x" * 1000)
    assert framer.buffered <= cap
    with pytest.raises(SipParseError, match="513"):
        framer.receive_data(b"x" * 1000)
    assert framer.buffered == 0


def test_header_of_exactly_the_limit_is_accepted() -> None:
    limits = ParseLimits(max_header_size=200)
    short = message(start=OK)
    data = message(start=OK, headers=[b"X: " + b"p" * (200 - len(short) - 5)])
    assert len(data) == 200
    assert feed([data], StreamFramer(limits)) == frames(data)
    framer = StreamFramer(limits)
    framer.receive_data(message(start=OK, headers=[b"X: " + b"p" * (200 - len(short) - 4)]))
    with pytest.raises(SipParseError, match="513"):
        framer.next_event()


def test_body_over_limit_refused_before_body_arrives() -> None:
    framer = StreamFramer()
    framer.receive_data(message(length=b"l: %d" % (DEFAULT_LIMITS.max_body_size + 1)))
    with pytest.raises(SipParseError) as caught:
        framer.next_event()
    assert (caught.value.status, caught.value.reason) == (513, "Message Too Large")


def test_body_of_exactly_the_limit_is_accepted() -> None:
    data = message(b"b" * DEFAULT_LIMITS.max_body_size)
    chunks = [data[i : i + MAX_CHUNK] for i in range(0, len(data), MAX_CHUNK)]
    assert feed(chunks) == frames(data)


def test_absurd_content_length_is_too_large_not_a_crash() -> None:
    framer = StreamFramer()
    framer.receive_data(message(length=b"l: " + b"9" * 5000))
    with pytest.raises(SipParseError, match="513"):
        framer.next_event()


def test_message_over_max_message_size_refused() -> None:
    limits = ParseLimits(max_message_size=100, max_header_size=100, max_body_size=100)
    framer = StreamFramer(limits)
    framer.receive_data(message(length=b"l: 90"))
    with pytest.raises(SipParseError, match="513"):
        framer.next_event()


def test_pipelined_burst_in_max_chunk_slices_is_never_refused() -> None:
    burst = message(b"z" * 40_000) + SECOND * 2000
    chunks = [burst[i : i + MAX_CHUNK] for i in range(0, len(burst), MAX_CHUNK)]
    events = feed(chunks)
    assert len(events) == 2002
    assert events[0] == FramedMessage(message(b"z" * 40_000))


# --- EOF and dead state -----------------------------------------------------------------------


def test_eof_with_nothing_buffered_closes_for_good() -> None:
    framer = StreamFramer()
    framer.receive_data(b"")
    assert framer.next_event() == StreamClosed()
    assert framer.next_event() == StreamClosed()
    with pytest.raises(RuntimeError):
        framer.receive_data(b"late")


@pytest.mark.parametrize("cut", [1, len(INVITE) + 5, len(FIRST) - len(SDP), len(FIRST) - 1])
def test_eof_mid_message_is_truncated(cut: int) -> None:
    framer = StreamFramer()
    framer.receive_data(SECOND + FIRST[:cut])
    framer.receive_data(b"")
    assert framer.next_event() == FramedMessage(SECOND)
    with pytest.raises(SipParseError) as caught:
        framer.next_event()
    assert (caught.value.status, caught.value.reason) == (400, "Truncated Message")


def test_dead_after_error() -> None:
    framer = StreamFramer()
    framer.receive_data(message(length=b"") + SECOND)
    with pytest.raises(SipParseError) as first:
        framer.next_event()
    assert framer.buffered == 0
    for call in itertools.repeat(None, 3):
        with pytest.raises(SipParseError) as again:
            framer.next_event()
        assert again.value is first.value, call
        with pytest.raises(SipParseError) as again:
            framer.receive_data(SECOND)
        assert again.value is first.value
    assert framer.buffered == 0
