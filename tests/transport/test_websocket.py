"""WebSocket server codec: handshake, refusals, frames, fragments, limits, close, interop."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.typing import Origin, Subprotocol
from websockets.uri import parse_uri

from sipguard.sip.framing import MAX_CHUNK
from sipguard.transport.websocket import (
    NEED_DATA,
    CloseCode,
    Closed,
    Failed,
    FramedMessage,
    PendingWrite,
    Refused,
    Upgraded,
    WebSocketEvent,
    WebSocketPolicy,
    WebSocketServer,
    WebSocketStateError,
    WsState,
    accept_key,
)

TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
KEY = b"\x37\xfa\x21\x3d"
REGISTER = b"REGISTER sip:example.com SIP/2.0\r\nContent-Length: 0\r\n\r\n"

# RFC 7118 §4.1's example handshake, and the answer RFC 6455 §1.3 computes for its key.
RFC_REQUEST = (
    b"GET / HTTP/1.1\r\n"
    b"Host: sip-ws.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://www.example.com\r\n"
    b"Sec-WebSocket-Protocol: sip\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)
RFC_RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Sec-WebSocket-Protocol: sip\r\n"
    b"\r\n"
)


def request(*, drop: Iterable[bytes] = (), add: Iterable[bytes] = (), line: bytes = b"") -> bytes:
    """RFC_REQUEST without the header lines starting with ``drop``, plus ``add`` lines."""
    head, *fields = RFC_REQUEST[:-4].split(b"\r\n")
    dropped = tuple(name.lower() for name in drop)
    kept = [f for f in fields if not f.lower().startswith(dropped)] if dropped else fields
    return b"\r\n".join([line or head, *kept, *add]) + b"\r\n\r\n"


def frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, length: bytes = b""
) -> bytes:
    """A masked client frame; ``length`` replaces the encoded payload length when given."""
    head = unmasked(opcode, payload, fin=fin, rsv=rsv, length=length)[: -len(payload) or None]
    masked = bytes(b ^ KEY[i % 4] for i, b in enumerate(payload))
    return head[:1] + bytes((head[1] | 0x80,)) + head[2:] + KEY + masked


def unmasked(
    opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, length: bytes = b""
) -> bytes:
    """A frame as a server would send it: no mask bit, no masking key."""
    size = len(payload)
    if not length:
        if size < 126:
            length = bytes((size,))
        elif size < 1 << 16:
            length = b"\x7e" + size.to_bytes(2, "big")
        else:
            length = b"\x7f" + size.to_bytes(8, "big")
    return bytes(((0x80 if fin else 0) | rsv << 4 | opcode,)) + length + payload


def server_frame(opcode: int, payload: bytes = b"") -> bytes:
    assert len(payload) < 126
    return bytes((0x80 | opcode, len(payload))) + payload


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return code.to_bytes(2, "big") + reason


def drain(server: WebSocketServer) -> list[WebSocketEvent]:
    events: list[WebSocketEvent] = []
    for _ in range(10_000):
        event = server.next_event()
        if event is NEED_DATA:
            return events
        events.append(event)
    raise AssertionError("Too many events!")


def feed(server: WebSocketServer, *chunks: bytes) -> list[WebSocketEvent]:
    events: list[WebSocketEvent] = []
    for chunk in chunks:
        server.receive_data(chunk)
        events += drain(server)
    return events


def opened(policy: WebSocketPolicy | None = None) -> WebSocketServer:
    server = WebSocketServer(policy)
    [event] = feed(server, RFC_REQUEST)
    assert isinstance(event, Upgraded)
    return server


def refused(data: bytes, policy: WebSocketPolicy | None = None) -> Refused:
    server = WebSocketServer(policy)
    [event] = feed(server, data)
    assert isinstance(event, Refused)
    assert server.closed
    return event


def failed(*chunks: bytes, policy: WebSocketPolicy | None = None) -> Failed:
    server = opened(policy)
    events = feed(server, *chunks)
    assert isinstance(events[-1], Failed)
    assert server.closed
    return events[-1]


# -- handshake ------------------------------------------------------------------------------


def test_accept_key_of_the_rfc_6455_example() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_rfc_7118_example_handshake_is_answered_with_101_and_sip() -> None:
    server = WebSocketServer()
    assert feed(server, RFC_REQUEST) == [Upgraded(RFC_RESPONSE, "http://www.example.com", "/")]
    assert server.state is WsState.OPEN


def test_header_names_and_list_values_are_read_liberally() -> None:
    data = request(
        drop=(b"upgrade", b"connection", b"sec-websocket-protocol", b"origin"),
        add=(
            b"UPGRADE: WebSocket",
            b"connection:keep-alive, Upgrade  ",
            b"sec-websocket-protocol: foo",
            b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
            b"Content-Length: 0",
        ),
    ).replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Protocol: bar, sip\r\n\r\n")
    [event] = feed(WebSocketServer(), data)
    assert event == Upgraded(RFC_RESPONSE, None, "/")


@pytest.mark.parametrize(
    ("target", "path"),
    [
        (b"/sip?token=abc", "/sip?token=abc"),
        (b"wss://sip-ws.example.com/sip?token=abc", "/sip?token=abc"),
        (b"http://sip-ws.example.com", "/"),
    ],
)
def test_the_resource_name_comes_from_the_request_target(target: bytes, path: str) -> None:
    [event] = feed(WebSocketServer(), request(line=b"GET " + target + b" HTTP/1.1"))
    assert isinstance(event, Upgraded)
    assert event.path == path


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (request(drop=[b"host"]), 400, "missing Host"),
        (request(add=[b"Host: other.example.com"]), 400, "duplicate host"),
        (request(drop=[b"upgrade"]), 400, "Upgrade"),
        (request(drop=[b"upgrade"], add=[b"Upgrade: h2c"]), 400, "Upgrade"),
        (request(drop=[b"connection"], add=[b"Connection: keep-alive"]), 400, "Connection"),
        (request(drop=[b"sec-websocket-key"]), 400, "Sec-WebSocket-Key"),
        (request(add=[b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]), 400, "duplicate"),
        (request(drop=[b"sec-websocket-key"], add=[b"Sec-WebSocket-Key: !!!!"]), 400, "Key"),
        (request(drop=[b"sec-websocket-key"], add=[b"Sec-WebSocket-Key: AAAA"]), 400, "Key"),
        (request(drop=[b"sec-websocket-protocol"]), 400, "sip subprotocol"),
        (
            request(drop=[b"sec-websocket-protocol"], add=[b"Sec-WebSocket-Protocol: sipx, xmpp"]),
            400,
            "sip subprotocol",
        ),
        (request(add=[b"Content-Length: 4"]) + b"\x81\x80abcd", 400, "body"),
        (request(add=[b"Transfer-Encoding: chunked"]), 400, "body"),
        (request(line=b"POST / HTTP/1.1"), 400, "request line"),
        (request(line=b"GET / HTTP/1.0"), 400, "request line"),
        (request(line=b"GET * HTTP/1.1"), 400, "request-target"),
        (request(line=b"GET ftp://example.com/ HTTP/1.1"), 400, "request-target"),
        (request(add=[b" folded continuation"]), 400, "header line"),
        (request(add=[b"X-Bad: \x01"]), 400, "header line"),
        (request(add=[b"X-Name: caf\xc3\xa9"]), 400, "non-ASCII"),
        (request(add=[b"X-Smuggle: a\nHost: b"]), 400, "bare CR or LF"),
    ],
)
def test_an_invalid_handshake_is_refused(data: bytes, status: int, reason: str) -> None:
    event = refused(data)
    assert event.response.startswith(b"HTTP/1.1 %d " % status)
    assert b"\r\nConnection: close\r\nContent-Length: 0\r\n\r\n" in event.response
    assert reason in event.reason


@pytest.mark.parametrize("version", [b"Sec-WebSocket-Version: 8", None])
def test_a_version_other_than_13_gets_426_naming_13(version: bytes | None) -> None:
    event = refused(request(drop=[b"sec-websocket-version"], add=[version] if version else []))
    assert event.response.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    assert b"\r\nSec-WebSocket-Version: 13\r\n" in event.response
    assert b"\r\nUpgrade: websocket\r\n" in event.response


ORIGINS = WebSocketPolicy(allowed_origins=("https://App.example.com", "http://www.example.com"))


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        (b"Origin: http://www.example.com", True),
        (b"Origin: HTTPS://app.EXAMPLE.com", True),
        (b"Origin: https://app.example.com:8443", False),
        (b"Origin: https://evil.example.com", False),
        (b"Origin: null", False),
        (None, False),
    ],
)
def test_the_origin_allowlist_matches_exactly_ignoring_case(
    origin: bytes | None, accepted: bool
) -> None:
    data = request(drop=[b"origin"], add=[origin] if origin else [])
    [event] = feed(WebSocketServer(ORIGINS), data)
    if accepted:
        assert isinstance(event, Upgraded)
        assert origin is not None
        assert event.origin == origin.decode()[len("Origin: ") :].lower()
    else:
        assert isinstance(event, Refused)
        assert event.response.startswith(b"HTTP/1.1 403 Forbidden\r\n")


def test_without_an_allowlist_any_origin_and_none_are_accepted() -> None:
    [event] = feed(WebSocketServer(), request(drop=[b"origin"]))
    assert isinstance(event, Upgraded)
    assert event.origin is None


@pytest.mark.parametrize(
    ("target", "accepted"), [(b"/ws", True), (b"/ws?x=1", True), (b"/", False), (b"/ws/x", False)]
)
def test_a_configured_path_must_match(target: bytes, accepted: bool) -> None:
    policy = WebSocketPolicy(path="/ws")
    [event] = feed(WebSocketServer(policy), request(line=b"GET " + target + b" HTTP/1.1"))
    if accepted:
        assert isinstance(event, Upgraded)
    else:
        assert isinstance(event, Refused)
        assert event.response.startswith(b"HTTP/1.1 404 Not Found\r\n")


def test_the_handshake_size_cap_is_inclusive_and_enforced_before_the_end() -> None:
    exact = request(add=[b"X-Pad: "])
    policy = WebSocketPolicy(max_handshake_size=len(exact))
    assert isinstance(feed(WebSocketServer(policy), exact)[0], Upgraded)
    assert refused(request(add=[b"X-Pad: a"]), policy).reason == "handshake too large"
    # No empty line yet: refused as soon as the cap is reached, without waiting for more.
    endless = WebSocketServer(policy)
    [event] = feed(endless, b"GET / HTTP/1.1\r\nX-Pad: " + b"a" * len(exact))
    assert isinstance(event, Refused)
    assert event.response.startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_a_handshake_chunk_past_the_buffer_cap_is_refused() -> None:
    server = WebSocketServer()
    server.receive_data(b"G" * (65_535 + 14 + MAX_CHUNK + 1))
    assert server.buffered == 0
    [event] = drain(server)
    assert isinstance(event, Refused)


def test_frames_in_the_same_read_as_the_handshake_are_processed() -> None:
    server = WebSocketServer()
    events = feed(server, RFC_REQUEST + frame(TEXT, REGISTER) + frame(PING, b"p"))
    assert events[1:] == [FramedMessage(REGISTER), PendingWrite(server_frame(PONG, b"p"))]


def test_eof_during_the_handshake_is_an_abnormal_close() -> None:
    server = WebSocketServer()
    assert feed(server, RFC_REQUEST[:20], b"") == [Closed(1006, "connection lost", b"")]
    assert server.closed


def test_after_a_refusal_everything_is_ignored() -> None:
    server = WebSocketServer()
    feed(server, request(drop=[b"host"]))
    assert feed(server, RFC_REQUEST, frame(TEXT, REGISTER), b"") == []
    assert server.buffered == 0


# -- frames ---------------------------------------------------------------------------------


def test_text_and_binary_messages_are_delivered() -> None:
    server = opened()
    sdp = REGISTER + b"\xff\xfe binary body"
    events = feed(server, frame(TEXT, REGISTER), frame(BINARY, sdp))
    assert events == [FramedMessage(REGISTER), FramedMessage(sdp)]


@pytest.mark.parametrize("size", [125, 126, 65_535, 65_536, 200_000])
def test_every_length_encoding_is_read(size: int) -> None:
    policy = WebSocketPolicy(max_message_size=200_000, max_frame_size=200_000)
    payload = bytes(i % 251 for i in range(size))
    assert feed(opened(policy), frame(BINARY, payload)) == [FramedMessage(payload)]


def test_fragments_are_reassembled_around_interleaved_control_frames() -> None:
    server = opened()
    chunks = (
        frame(TEXT, REGISTER[:10], fin=False),
        frame(PING, b"keep"),
        frame(CONT, REGISTER[10:30], fin=False),
        frame(PONG, b"unsolicited"),
        frame(CONT, REGISTER[30:], fin=True),
    )
    assert feed(server, *chunks) == [
        PendingWrite(server_frame(PONG, b"keep")),
        FramedMessage(REGISTER),
    ]


def test_a_utf8_character_split_across_fragments_is_valid() -> None:
    text = "From: \u00e9\u20ac".encode()
    chunks = (frame(TEXT, text[:-2], fin=False), frame(CONT, text[-2:]))
    assert feed(opened(), *chunks) == [FramedMessage(text)]


def test_crlf_keepalives_are_answered_or_skipped() -> None:
    server = opened()
    events = feed(server, frame(TEXT, b"\r\n\r\n"), frame(TEXT, b"\r\n"), frame(TEXT, REGISTER))
    assert events == [PendingWrite(server_frame(TEXT, b"\r\n")), FramedMessage(REGISTER)]


@pytest.mark.parametrize(
    ("data", "code", "reason"),
    [
        (unmasked(TEXT, REGISTER), 1002, "unmasked"),
        (frame(TEXT, REGISTER, rsv=0b100), 1002, "reserved bits"),
        (frame(TEXT, REGISTER, rsv=0b010), 1002, "reserved bits"),
        (frame(TEXT, REGISTER, rsv=0b001), 1002, "reserved bits"),
        (frame(0x3, REGISTER), 1002, "unknown opcode"),
        (frame(0xB), 1002, "unknown opcode"),
        (frame(PING, b"x", fin=False), 1002, "control frame"),
        (frame(CLOSE, b"x" * 126), 1002, "control frame"),
        (frame(CONT, REGISTER), 1002, "continuation without a message"),
        (frame(TEXT, b"a", fin=False) + frame(BINARY, b"b"), 1002, "inside a fragmented"),
        (frame(BINARY, b"", length=b"\x7f\x80" + bytes(7)), 1002, "MSB"),
        (frame(BINARY, b"x", length=b"\x7e\x00\x01"), 1002, "minimally"),
        (frame(BINARY, b"x", length=b"\x7f" + (1).to_bytes(8, "big")), 1002, "minimally"),
        (frame(TEXT, b"caf\xe9"), 1007, "not UTF-8"),
        (frame(TEXT, b"\xc3", fin=False) + frame(CONT, b"("), 1007, "not UTF-8"),
        (frame(CLOSE, b"\x03"), 1002, "close code"),
        (frame(CLOSE, close_payload(1005)), 1002, "close code"),
        (frame(CLOSE, close_payload(1006)), 1002, "close code"),
        (frame(CLOSE, close_payload(999)), 1002, "close code"),
        (frame(CLOSE, close_payload(2000)), 1002, "close code"),
        (frame(CLOSE, close_payload(5000)), 1002, "close code"),
        (frame(CLOSE, close_payload(1000, b"\xff")), 1007, "not UTF-8"),
        (frame(BINARY, b"x" * 65_536), 1009, "frame too big"),
    ],
)
def test_every_protocol_violation_fails_with_its_code(data: bytes, code: int, reason: str) -> None:
    event = failed(data)
    assert event.code == code
    assert reason in event.reason
    # RFC 6455 §7.1.7: a Close frame carrying the code (and our reason) is the last word.
    assert event.reply == server_frame(CLOSE, close_payload(code, event.reason.encode()))


def test_after_a_failure_everything_is_ignored() -> None:
    server = opened()
    feed(server, unmasked(TEXT, REGISTER))
    assert server.closed
    assert feed(server, frame(TEXT, REGISTER), frame(PING), b"") == []
    assert server.buffered == 0


def test_a_10_mb_frame_is_refused_on_its_header_alone() -> None:
    server = opened()
    header = frame(BINARY, b"", length=b"\x7f" + (10_000_000).to_bytes(8, "big"))
    assert len(header) == 14
    # The 2 + 8 length bytes are enough: the masking key is not even waited for.
    [event] = feed(server, header[:10])
    assert isinstance(event, Failed)
    assert (event.code, event.reason) == (CloseCode.TOO_BIG, "frame too big")


def test_a_fragmented_message_over_the_cap_is_refused_before_the_last_payload() -> None:
    policy = WebSocketPolicy(max_message_size=1_000, max_frame_size=600)
    server = opened(policy)
    assert feed(server, frame(TEXT, b"a" * 600, fin=False)) == []
    second = frame(CONT, b"a" * 401)
    [event] = feed(server, second[:8])  # header and mask only
    assert isinstance(event, Failed)
    assert (event.code, event.reason) == (1009, "message too big")


def test_a_message_exactly_at_the_caps_is_accepted() -> None:
    policy = WebSocketPolicy(max_message_size=1_000, max_frame_size=600)
    chunks = (frame(TEXT, b"a" * 600, fin=False), frame(CONT, b"a" * 400))
    assert feed(opened(policy), *chunks) == [FramedMessage(b"a" * 1_000)]


def test_memory_stays_bounded_while_a_large_frame_arrives() -> None:
    server = opened()
    data = frame(BINARY, b"x" * 65_535)
    for start in range(0, len(data) - 1, MAX_CHUNK):
        assert feed(server, data[start : min(start + MAX_CHUNK, len(data) - 1)]) == []
        assert server.buffered <= 65_535 + 14
        assert server.mid_message
    assert feed(server, data[-1:]) == [FramedMessage(b"x" * 65_535)]
    assert (server.buffered, server.mid_message) == (0, False)


def test_empty_fragments_keep_a_message_open_without_buffering() -> None:
    server = opened()
    assert feed(server, frame(TEXT, b"", fin=False), *[frame(CONT, fin=False)] * 100) == []
    assert (server.buffered, server.mid_message) == (0, True)
    assert feed(server, frame(CONT, REGISTER)) == [FramedMessage(REGISTER)]
    assert not server.mid_message


def test_a_chunk_past_the_buffer_cap_fails_with_1009() -> None:
    server = opened()
    server.receive_data(b"\x00" * (65_535 + 14 + MAX_CHUNK + 1))
    [event] = drain(server)
    assert isinstance(event, Failed)
    assert event.code == 1009


# -- closing --------------------------------------------------------------------------------


def test_a_client_close_is_echoed_and_ends_the_connection() -> None:
    server = opened()
    events = feed(server, frame(CLOSE, close_payload(1000, b"bye")))
    assert events == [Closed(1000, "bye", server_frame(CLOSE, close_payload(1000)))]
    assert server.closed
    assert feed(server, frame(TEXT, REGISTER), b"") == []


def test_an_empty_close_is_reported_as_1005_and_answered_empty() -> None:
    server = opened()
    assert feed(server, frame(CLOSE)) == [Closed(1005, "", b"\x88\x00")]


def test_a_close_in_the_middle_of_a_fragmented_message_drops_it() -> None:
    server = opened()
    events = feed(server, frame(TEXT, b"half", fin=False), frame(CLOSE, close_payload(4000)))
    assert events == [Closed(4000, "", server_frame(CLOSE, close_payload(4000)))]
    assert server.buffered == 0


def test_a_server_close_waits_for_the_client_close() -> None:
    server = opened()
    assert server.close(1001, "shutdown") == server_frame(CLOSE, close_payload(1001, b"shutdown"))
    assert server.state is WsState.CLOSING
    assert server.close() == b""  # once is enough
    with pytest.raises(WebSocketStateError):
        server.send_message(REGISTER)
    with pytest.raises(WebSocketStateError):
        server.ping()
    # Frames still in flight are read: messages delivered, pings answered, CRLF pings not.
    events = feed(server, frame(TEXT, REGISTER), frame(PING), frame(TEXT, b"\r\n\r\n"))
    assert events == [FramedMessage(REGISTER), PendingWrite(server_frame(PONG))]
    assert feed(server, frame(CLOSE, close_payload(1001))) == [Closed(1001, "", b"")]
    assert server.closed


def test_a_failure_while_closing_sends_no_second_close() -> None:
    server = opened()
    server.close()
    [event] = feed(server, unmasked(TEXT, REGISTER))
    assert event == Failed(CloseCode.PROTOCOL_ERROR, "unmasked client frame", b"")


def test_close_before_the_handshake_just_ends() -> None:
    server = WebSocketServer()
    feed(server, RFC_REQUEST[:10])
    assert server.close() == b""
    assert server.closed
    assert feed(server, RFC_REQUEST[10:]) == []


@pytest.mark.parametrize(("code", "reason"), [(1005, ""), (1006, ""), (999, ""), (1000, "x" * 124)])
def test_close_refuses_codes_that_must_not_be_sent(code: int, reason: str) -> None:
    server = opened()
    with pytest.raises(ValueError, match="close code"):
        server.close(code, reason)
    assert server.state is WsState.OPEN


def test_eof_without_a_close_is_an_abnormal_close() -> None:
    server = opened()
    events = feed(server, frame(TEXT, REGISTER) + frame(TEXT, REGISTER)[:5], b"")
    assert events == [FramedMessage(REGISTER), Closed(1006, "connection lost", b"")]
    with pytest.raises(WebSocketStateError):
        server.send_message(REGISTER)


def test_data_after_eof_is_a_caller_bug() -> None:
    server = opened()
    server.receive_data(frame(TEXT, REGISTER)[:3])
    server.receive_data(b"")
    with pytest.raises(WebSocketStateError):
        server.receive_data(b"more")


# -- sending --------------------------------------------------------------------------------


def test_sending_before_the_handshake_is_refused() -> None:
    with pytest.raises(WebSocketStateError):
        WebSocketServer().send_message(REGISTER)


def test_send_message_picks_text_for_utf8_and_binary_otherwise() -> None:
    server = opened()
    assert server.send_message(b"SIP/2.0 200 OK") == server_frame(TEXT, b"SIP/2.0 200 OK")
    assert server.send_message(b"\xff\x01") == server_frame(BINARY, b"\xff\x01")


def test_ping_payload_is_capped() -> None:
    server = opened()
    assert server.ping(b"x" * 125) == server_frame(PING, b"x" * 125)
    with pytest.raises(ValueError, match="125"):
        server.ping(b"x" * 126)


@pytest.mark.parametrize(
    "policy",
    [
        {"max_frame_size": 124},
        {"max_message_size": 0},
        {"max_handshake_size": 0},
        {"path": "ws"},
    ],
)
def test_an_inconsistent_policy_is_refused(policy: dict[str, int | str]) -> None:
    with pytest.raises(ValueError, match=r"."):
        WebSocketPolicy(**policy)  # type: ignore[arg-type]


# -- interoperability with the websockets package's sans-I/O client --------------------------


def client_pair(policy: WebSocketPolicy | None = None) -> tuple[ClientProtocol, WebSocketServer]:
    client = ClientProtocol(
        parse_uri("wss://sip-ws.example.com/ws"),
        origin=Origin("https://app.example.com"),
        # Browsers offer compression; we never accept an extension, so frames stay plain.
        extensions=[ClientPerMessageDeflateFactory()],
        subprotocols=[Subprotocol("xmpp"), Subprotocol("sip")],
    )
    client.send_request(client.connect())
    server = WebSocketServer(policy)
    [event] = feed(server, *client.data_to_send())
    assert isinstance(event, Upgraded)
    client.receive_data(event.response)
    client.events_received()
    assert client.handshake_exc is None
    return client, server


def frames_of(client: ClientProtocol) -> list[Frame]:
    events = client.events_received()
    assert all(isinstance(event, Frame) for event in events)
    return [event for event in events if isinstance(event, Frame)]


def to_server(client: ClientProtocol, server: WebSocketServer) -> list[WebSocketEvent]:
    return feed(server, *client.data_to_send())


def test_a_real_client_handshake_is_accepted() -> None:
    policy = WebSocketPolicy(allowed_origins=("https://app.example.com",), path="/ws")
    client, server = client_pair(policy)
    assert client.state is State.OPEN
    assert client.subprotocol == "sip"
    assert client.extensions == []
    assert server.state is WsState.OPEN


def test_a_refusal_is_a_failed_handshake_for_a_real_client() -> None:
    client = ClientProtocol(parse_uri("ws://sip-ws.example.com/"), subprotocols=None)
    client.send_request(client.connect())
    [event] = feed(WebSocketServer(), *client.data_to_send())
    assert isinstance(event, Refused)
    client.receive_data(event.response)
    assert client.handshake_exc is not None


def test_real_client_frames_are_read() -> None:
    client, server = client_pair()
    client.send_text(REGISTER[:7], fin=False)
    client.send_ping(b"are you there")
    client.send_continuation(REGISTER[7:], fin=True)
    client.send_binary(b"\x00\xffbinary")
    assert to_server(client, server) == [
        PendingWrite(server_frame(PONG, b"are you there")),
        FramedMessage(REGISTER),
        FramedMessage(b"\x00\xffbinary"),
    ]


@pytest.mark.parametrize(
    "payload", [REGISTER, "To: \u00e9".encode(), b"\xff\xfe", b"x" * 70_000], ids=len
)
def test_send_message_round_trips_through_a_real_client(payload: bytes) -> None:
    client, server = client_pair()
    client.receive_data(server.send_message(payload))
    [received] = frames_of(client)
    assert received.opcode is (Opcode.BINARY if payload == b"\xff\xfe" else Opcode.TEXT)
    assert (received.fin, bytes(received.data)) == (True, payload)


def test_server_ping_is_answered_by_a_real_client() -> None:
    client, server = client_pair()
    client.receive_data(server.ping(b"ka"))
    [received] = frames_of(client)
    assert (received.opcode, bytes(received.data)) == (Opcode.PING, b"ka")
    assert to_server(client, server) == []  # the automatic Pong is absorbed


def test_close_handshake_started_by_a_real_client() -> None:
    client, server = client_pair()
    client.send_close(1000, "going")
    [event] = to_server(client, server)
    assert isinstance(event, Closed)
    assert (event.code, event.reason) == (1000, "going")
    client.receive_data(event.reply)
    client.receive_eof()  # the server closes the TCP connection first
    assert (client.state, client.close_code) == (State.CLOSED, 1000)


def test_close_handshake_started_by_the_server() -> None:
    client, server = client_pair()
    client.receive_data(server.close(1001, "maintenance"))
    [received] = frames_of(client)
    assert received.opcode is Opcode.CLOSE
    assert bytes(received.data) == close_payload(1001, b"maintenance")
    assert to_server(client, server) == [Closed(1001, "maintenance", b"")]  # the client echoes
    assert server.closed
    client.receive_eof()
    assert (client.state, client.close_code) == (State.CLOSED, 1001)


def test_a_real_client_sees_our_protocol_error_code() -> None:
    client, server = client_pair()
    [event] = feed(server, frame(TEXT, b"\xc0\xaf"))
    assert isinstance(event, Failed)
    client.receive_data(event.reply)
    client.receive_eof()
    assert client.close_code == 1007


# -- chunking does not matter ---------------------------------------------------------------

MESSAGES = st.lists(
    st.tuples(st.binary(max_size=300), st.integers(min_value=1, max_value=4), st.booleans()),
    max_size=6,
)


def stream_of(messages: list[tuple[bytes, int, bool]]) -> tuple[bytes, list[WebSocketEvent]]:
    """Handshake + each message in ``parts`` fragments (a ping after the first when asked)
    + a close; and the events a server must produce for it."""
    data = RFC_REQUEST
    expected: list[WebSocketEvent] = [Upgraded(RFC_RESPONSE, "http://www.example.com", "/")]
    for payload, parts, ping in messages:
        step = -(-len(payload) // parts) or 1
        pieces = [payload[i : i + step] for i in range(0, len(payload), step)] or [b""]
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            data += frame(BINARY if index == 0 else CONT, piece, fin=last)
            if last and payload == b"\r\n\r\n":
                expected.append(PendingWrite(server_frame(TEXT, b"\r\n")))
            elif last and payload != b"\r\n":
                expected.append(FramedMessage(payload))
            if ping and index == 0:
                data += frame(PING, payload[:8])
                expected.append(PendingWrite(server_frame(PONG, payload[:8])))
    data += frame(CLOSE, close_payload(1000))
    expected.append(Closed(1000, "", server_frame(CLOSE, close_payload(1000))))
    return data, expected


@settings(max_examples=150, deadline=None)
@given(messages=MESSAGES, cuts=st.lists(st.integers(min_value=0), max_size=20))
def test_any_chunking_gives_the_same_events(
    messages: list[tuple[bytes, int, bool]], cuts: list[int]
) -> None:
    data, expected = stream_of(messages)
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    chunks = [data[a:b] for a, b in itertools.pairwise(points)]
    assert feed(WebSocketServer(), *chunks) == expected


def test_byte_at_a_time_gives_the_same_events() -> None:
    data, expected = stream_of([(REGISTER, 3, True), (b"\xff" * 200, 1, False)])
    assert feed(WebSocketServer(), *(data[i : i + 1] for i in range(len(data)))) == expected
