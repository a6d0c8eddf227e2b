"""The sans-I/O STUN server: RFC 5769 vectors, round trips, and garbage in."""

from __future__ import annotations

import hashlib
import hmac
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipguard.transport.stun import (
    MAGIC_COOKIE,
    AttributeType,
    MappedAddress,
    StunRequest,
    binding_answer,
    binding_success,
    is_stun,
    parse_binding_request,
    parse_stun,
    read_xor_mapped_address,
)

TRANSACTION_ID = bytes.fromhex("b7e7a701bc34d686fa87dfae")
PASSWORD = b"VOkJxbRl1RmTxUk/WvJxBt"  # RFC 5769 §2: the short-term credential of the samples

# RFC 5769 §2.1 Sample Request (SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME,
# MESSAGE-INTEGRITY, FINGERPRINT).
SAMPLE_REQUEST = bytes.fromhex(
    "00010058" "2112a442" "b7e7a701" "bc34d686" "fa87dfae"
    "80220010" "5354554e" "20746573" "7420636c" "69656e74"
    "00240004" "6e0001ff"
    "80290008" "932ff9b1" "51263b36"
    "00060009" "6576746a" "3a683676" "59202020"
    "00080014" "9aeaa70c" "bfd8cb56" "781ef2b5" "b2d3f249" "c1b571a2"
    "80280004" "e57a3bcf"
)  # fmt: skip

# RFC 5769 §2.2 Sample IPv4 Response: XOR-MAPPED-ADDRESS 192.0.2.1 port 32853.
SAMPLE_IPV4_RESPONSE = bytes.fromhex(
    "0101003c" "2112a442" "b7e7a701" "bc34d686" "fa87dfae"
    "8022000b" "74657374" "20766563" "746f7220"
    "00200008" "0001a147" "e112a643"
    "00080014" "2b91f599" "fd9e90c3" "8c7489f9" "2af9ba53" "f06be7d7"
    "80280004" "c07d4c96"
)  # fmt: skip

# RFC 5769 §2.3 Sample IPv6 Response: 2001:db8:1234:5678:11:2233:4455:6677 port 32853.
SAMPLE_IPV6_RESPONSE = bytes.fromhex(
    "01010048" "2112a442" "b7e7a701" "bc34d686" "fa87dfae"
    "8022000b" "74657374" "20766563" "746f7220"
    "00200014" "0002a147" "0113a9fa" "a5d3f179" "bc25f4b5" "bed2b9d9"
    "00080014" "a382954e" "4be67bf1" "1784c97c" "8292c275" "bfe3ed41"
    "80280004" "c8fb0b4c"
)  # fmt: skip


def _header(message_type: int, length: int, tid: bytes = TRANSACTION_ID) -> bytes:
    return struct.pack("!HHI", message_type, length, MAGIC_COOKIE) + tid


def _with_fingerprint(message_type: int, body: bytes) -> bytes:
    header = _header(message_type, len(body) + 8)
    crc = zlib.crc32(header + body) ^ 0x5354554E
    return header + body + struct.pack("!HHI", 0x8028, 4, crc)


@pytest.mark.parametrize("vector", [SAMPLE_REQUEST, SAMPLE_IPV4_RESPONSE, SAMPLE_IPV6_RESPONSE])
def test_vectors_are_as_typed(vector: bytes) -> None:
    # Guards the transcription: the vectors' own MESSAGE-INTEGRITY must verify.
    integrity_at = len(vector) - 8 - 24
    header = vector[:2] + struct.pack("!H", integrity_at - 20 + 24) + vector[4:20]
    digest = hmac.new(PASSWORD, header + vector[20:integrity_at], hashlib.sha1).digest()
    assert vector[integrity_at + 4 : integrity_at + 24] == digest


def test_rfc5769_sample_request_parses() -> None:
    request = parse_binding_request(SAMPLE_REQUEST)
    # PRIORITY (0x0024) is comprehension-required but understood (ICE), so no 420.
    assert request == StunRequest(TRANSACTION_ID, ())


@pytest.mark.parametrize(
    ("vector", "expected"),
    [
        (SAMPLE_IPV4_RESPONSE, MappedAddress("192.0.2.1", 32853)),
        (SAMPLE_IPV6_RESPONSE, MappedAddress("2001:db8:1234:5678:11:2233:4455:6677", 32853)),
    ],
)
def test_rfc5769_responses_decode(vector: bytes, expected: MappedAddress) -> None:
    message = parse_stun(vector)
    assert message is not None
    assert message.message_type == 0x0101
    assert read_xor_mapped_address(message) == expected
    assert parse_binding_request(vector) is None  # a response is not a request


def test_bad_fingerprint_is_refused() -> None:
    broken = SAMPLE_REQUEST[:-1] + bytes([SAMPLE_REQUEST[-1] ^ 1])
    assert is_stun(broken)
    assert parse_binding_request(broken) is None


def test_fingerprint_not_last_is_refused() -> None:
    body = struct.pack("!HHI", 0x8028, 4, 0) + struct.pack("!HH", 0x8022, 4) + b"abcd"
    assert parse_binding_request(_header(1, len(body)) + body) is None


@pytest.mark.parametrize(
    ("host", "port"), [("127.0.0.1", 5060), ("203.0.113.9", 1), ("::1", 65535), ("2001:db8::7", 7)]
)
def test_success_round_trips(host: str, port: int) -> None:
    request = StunRequest(TRANSACTION_ID)
    response = binding_success(request, host, port)
    message = parse_stun(response)  # also checks the FINGERPRINT we wrote
    assert message is not None
    assert message.message_type == 0x0101
    assert message.transaction_id == TRANSACTION_ID
    assert message.attributes[-1][0] == AttributeType.FINGERPRINT
    assert read_xor_mapped_address(message) == MappedAddress(host, port)


def test_minimal_request_without_attributes() -> None:
    request = parse_binding_request(_header(1, 0))
    assert request == StunRequest(TRANSACTION_ID, ())


def test_unknown_required_attribute_gets_420() -> None:
    body = struct.pack("!HH", 0x7F01, 4) + b"wxyz" + struct.pack("!HH", 0xC001, 0)
    request = parse_binding_request(_with_fingerprint(1, body))
    assert request == StunRequest(TRANSACTION_ID, (0x7F01,))  # 0xC001 is optional: ignored
    answer = parse_stun(binding_answer(request, "127.0.0.1", 5060))
    assert answer is not None
    assert answer.message_type == 0x0111
    values = dict(answer.attributes)
    assert values[AttributeType.ERROR_CODE][2:4] == bytes([4, 20])
    assert values[AttributeType.UNKNOWN_ATTRIBUTES] == b"\x7f\x01"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"OPTIONS sip:a SIP/2.0\r\n\r\n",
        _header(1, 0)[:19],  # short header
        _header(1, 4),  # length beyond the datagram
        _header(1, 2) + b"\x00\x00",  # length not a multiple of 4
        struct.pack("!HHI", 1, 0, 0x2112A443) + TRANSACTION_ID,  # wrong cookie
        _header(1, 4) + struct.pack("!HH", 0x8022, 8),  # attribute beyond the message
        _header(0x4001, 0),  # top bits set
    ],
)
def test_malformed_is_not_a_request(data: bytes) -> None:
    assert parse_binding_request(data) is None


def test_indication_is_not_a_request() -> None:
    assert parse_stun(_header(0x0011, 0)) is not None
    assert parse_binding_request(_header(0x0011, 0)) is None


_stunish = st.builds(
    lambda kind, tid, body: _header(kind, len(body), tid) + body,
    st.sampled_from([0x0001, 0x0101, 0x0011, 0x3FFF]),
    st.binary(min_size=12, max_size=12),
    st.binary(max_size=64),
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=128), _stunish))
def test_any_bytes_parse_or_none(data: bytes) -> None:
    # Invariant: parsing never raises, and what parses is a well-framed Binding request.
    request = parse_binding_request(data)
    if request is not None:
        assert is_stun(data)
        assert request.transaction_id == data[8:20]
        assert binding_answer(request, "::1", 5060)  # answerable too
