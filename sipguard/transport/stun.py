"""A limited STUN server for SIP UDP ports (RFC 5626 §8, RFC 5389), sans-I/O.

Rules of this file:
- Bytes in, bytes out: no sockets, no clock, no state. The UDP listener calls
  ``parse_binding_request`` on a datagram that ``is_stun`` and sends back ``binding_answer``.
- Every length is checked before it is read: the header length must match the datagram, and
  the attribute walk never reads past it. Any malformed input gives ``None``, never an
  exception (a hypothesis property holds this file to that).
- Only Binding requests are answered. We do not authenticate STUN (RFC 5626 §8: keep-alive
  Binding requests "do not require any STUN attributes"), so USERNAME and MESSAGE-INTEGRITY
  are read past and the answer carries neither. The answer carries no SOFTWARE attribute
  either: a security edge does not advertise what it runs.
- RFC 5389 §7.3.1: a request with an unknown comprehension-required attribute (type below
  0x8000) MUST get a 420 error listing it. The ICE attributes PRIORITY and USE-CANDIDATE
  count as understood (RFC 5769's sample request carries PRIORITY); we just ignore them.

Wire format (RFC 5389 §6, §15): a 20-byte header (type, length, magic cookie, 96-bit
transaction id), then attributes as type(16) length(16) value, each padded to 4 bytes.
"""

from __future__ import annotations

import ipaddress
import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "HEADER_SIZE",
    "MAGIC_COOKIE",
    "AttributeType",
    "MappedAddress",
    "StunMessage",
    "StunRequest",
    "binding_answer",
    "binding_success",
    "is_stun",
    "parse_binding_request",
    "parse_stun",
    "read_xor_mapped_address",
    "unknown_attributes_error",
]

MAGIC_COOKIE = 0x2112A442
HEADER_SIZE = 20
_HEADER = struct.Struct("!HHI12s")
_ATTRIBUTE = struct.Struct("!HH")
_FINGERPRINT_XOR = 0x5354554E  # RFC 5389 §15.5: CRC-32 XOR'ed with "STUN"

BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101
BINDING_ERROR = 0x0111

_FAMILY_V4 = 0x01
_FAMILY_V6 = 0x02


class AttributeType(IntEnum):
    """Attribute types this server understands (RFC 5389 §18.2; ICE from RFC 5245)."""

    MAPPED_ADDRESS = 0x0001
    USERNAME = 0x0006
    MESSAGE_INTEGRITY = 0x0008
    ERROR_CODE = 0x0009
    UNKNOWN_ATTRIBUTES = 0x000A
    REALM = 0x0014
    NONCE = 0x0015
    XOR_MAPPED_ADDRESS = 0x0020
    PRIORITY = 0x0024
    USE_CANDIDATE = 0x0025
    SOFTWARE = 0x8022
    ALTERNATE_SERVER = 0x8023
    FINGERPRINT = 0x8028
    ICE_CONTROLLED = 0x8029
    ICE_CONTROLLING = 0x802A


_UNDERSTOOD = frozenset(int(kind) for kind in AttributeType)


@dataclass(frozen=True, slots=True)
class StunMessage:
    """A STUN message whose framing (and FINGERPRINT, when present) is valid."""

    message_type: int
    transaction_id: bytes
    attributes: tuple[tuple[int, bytes], ...]
    """(type, value without padding), in wire order."""


@dataclass(frozen=True, slots=True)
class StunRequest:
    """A Binding request to answer."""

    transaction_id: bytes
    unknown_required: tuple[int, ...] = ()
    """Comprehension-required attribute types we do not understand (→ 420)."""


@dataclass(frozen=True, slots=True)
class MappedAddress:
    """The address an XOR-MAPPED-ADDRESS attribute carries."""

    host: str
    port: int


def is_stun(data: bytes) -> bool:
    """True when ``data`` has a STUN header (RFC 5389 §6) whose length matches ``data``."""
    if len(data) < HEADER_SIZE or data[0] & 0xC0:  # the two top bits of a STUN message are 0
        return False
    _, length, cookie, _ = _HEADER.unpack_from(data)
    return bool(cookie == MAGIC_COOKIE) and length % 4 == 0 and HEADER_SIZE + length == len(data)


def parse_stun(data: bytes) -> StunMessage | None:
    """Parse any STUN message; None if the framing or the FINGERPRINT is wrong."""
    if not is_stun(data):
        return None
    message_type, _, _, transaction_id = _HEADER.unpack_from(data)
    attributes: list[tuple[int, bytes]] = []
    offset = HEADER_SIZE
    while offset < len(data):
        if offset + _ATTRIBUTE.size > len(data):
            return None
        kind, length = _ATTRIBUTE.unpack_from(data, offset)
        start = offset + _ATTRIBUTE.size
        end = start + length
        padded = start + (length + 3) // 4 * 4
        if padded > len(data):
            return None
        if kind == AttributeType.FINGERPRINT and not _fingerprint_ok(data, offset, end):
            return None
        attributes.append((kind, data[start:end]))
        offset = padded
    return StunMessage(message_type, transaction_id, tuple(attributes))


def _fingerprint_ok(data: bytes, offset: int, end: int) -> bool:
    # RFC 5389 §15.5: FINGERPRINT is 4 bytes, the last attribute, over everything before it.
    if end - offset != 8 or end != len(data):
        return False
    expected = zlib.crc32(data[:offset]) ^ _FINGERPRINT_XOR
    return int.from_bytes(data[offset + 4 : end], "big") == expected


def parse_binding_request(data: bytes) -> StunRequest | None:
    """Return the Binding request in ``data``, or None if it is not a valid one."""
    message = parse_stun(data)
    if message is None or message.message_type != BINDING_REQUEST:
        return None
    unknown: list[int] = []
    for kind, _ in message.attributes:
        if kind == AttributeType.MESSAGE_INTEGRITY:
            break  # RFC 5389 §15.4: attributes after it (but FINGERPRINT) are ignored
        if kind < 0x8000 and kind not in _UNDERSTOOD and kind not in unknown:
            unknown.append(kind)
    return StunRequest(message.transaction_id, tuple(unknown))


def binding_answer(request: StunRequest, peer_host: str, peer_port: int) -> bytes:
    """The response to send: 420 for unknown required attributes, else success."""
    if request.unknown_required:
        return unknown_attributes_error(request)
    return binding_success(request, peer_host, peer_port)


def binding_success(request: StunRequest, peer_host: str, peer_port: int) -> bytes:
    """A Binding success response with XOR-MAPPED-ADDRESS and FINGERPRINT.

    ``peer_host`` is the IPv4 or IPv6 literal the request came from. Raises ValueError if
    it is not an IP literal.
    """
    # RFC 5626 §8: the response MUST include XOR-MAPPED-ADDRESS.
    value = _xor_address(request.transaction_id, peer_host, peer_port)
    attributes = ((AttributeType.XOR_MAPPED_ADDRESS, value),)
    return _encode(BINDING_SUCCESS, request.transaction_id, attributes)


def unknown_attributes_error(request: StunRequest) -> bytes:
    """A 420 Binding error response listing the unknown attributes (RFC 5389 §7.3.1)."""
    # RFC 5389 §15.6: ERROR-CODE is 21 zero bits, class (3 bits), number (8 bits), reason.
    error_code = struct.pack("!HBB", 0, 4, 20) + b"Unknown Attribute"
    listed = b"".join(struct.pack("!H", kind) for kind in request.unknown_required)
    attributes = (
        (AttributeType.ERROR_CODE, error_code),
        (AttributeType.UNKNOWN_ATTRIBUTES, listed),
    )
    return _encode(BINDING_ERROR, request.transaction_id, attributes)


def read_xor_mapped_address(message: StunMessage) -> MappedAddress | None:
    """Decode the first XOR-MAPPED-ADDRESS of ``message``; None if absent or malformed."""
    for kind, value in message.attributes:
        if kind != AttributeType.XOR_MAPPED_ADDRESS:
            continue
        if len(value) < 4:
            return None
        _, family, xport = struct.unpack_from("!BBH", value)
        mask = _address_mask(message.transaction_id)
        raw = value[4:]
        if (family, len(raw)) not in ((_FAMILY_V4, 4), (_FAMILY_V6, 16)):
            return None
        address = bytes(a ^ b for a, b in zip(raw, mask, strict=False))
        return MappedAddress(str(ipaddress.ip_address(address)), xport ^ (MAGIC_COOKIE >> 16))
    return None


def _address_mask(transaction_id: bytes) -> bytes:
    # RFC 5389 §15.2: X-Address is the address XOR the cookie (v4) or cookie + id (v6).
    return MAGIC_COOKIE.to_bytes(4, "big") + transaction_id


def _xor_address(transaction_id: bytes, host: str, port: int) -> bytes:
    address = ipaddress.ip_address(host)
    family = _FAMILY_V4 if address.version == 4 else _FAMILY_V6
    packed = address.packed
    masked = bytes(a ^ b for a, b in zip(packed, _address_mask(transaction_id), strict=False))
    return struct.pack("!BBH", 0, family, port ^ (MAGIC_COOKIE >> 16)) + masked


def _encode(
    message_type: int, transaction_id: bytes, attributes: tuple[tuple[int, bytes], ...]
) -> bytes:
    body = b"".join(_attribute(kind, value) for kind, value in attributes)
    fingerprint_size = _ATTRIBUTE.size + 4
    # The length in the header already counts FINGERPRINT when its CRC is computed.
    header = _HEADER.pack(message_type, len(body) + fingerprint_size, MAGIC_COOKIE, transaction_id)
    crc = zlib.crc32(header + body) ^ _FINGERPRINT_XOR
    return header + body + _attribute(AttributeType.FINGERPRINT, crc.to_bytes(4, "big"))


def _attribute(kind: int, value: bytes) -> bytes:
    padding = b"\x00" * (-len(value) % 4)
    return _ATTRIBUTE.pack(kind, len(value)) + value + padding
