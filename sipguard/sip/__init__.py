"""The sans-I/O SIP core: bytes in, typed messages and events out; no sockets, no clock."""

from sipguard.sip.errors import SipError, SipParseError
from sipguard.sip.framing import (
    NEED_DATA,
    PONG,
    FramedMessage,
    KeepAlivePing,
    NeedData,
    StreamClosed,
    StreamFramer,
)
from sipguard.sip.headers import AuthValue, CSeq, NameAddr, Via
from sipguard.sip.limits import DEFAULT_LIMITS, ParseLimits
from sipguard.sip.message import HeaderField, Message, Request, Response
from sipguard.sip.parser import parse_message
from sipguard.sip.uri import AbsoluteUri, SipUri, TelUri, Uri, parse_uri, uri_equal

__all__ = [
    "DEFAULT_LIMITS",
    "NEED_DATA",
    "PONG",
    "AbsoluteUri",
    "AuthValue",
    "CSeq",
    "FramedMessage",
    "HeaderField",
    "KeepAlivePing",
    "Message",
    "NameAddr",
    "NeedData",
    "ParseLimits",
    "Request",
    "Response",
    "SipError",
    "SipParseError",
    "SipUri",
    "StreamClosed",
    "StreamFramer",
    "TelUri",
    "Uri",
    "Via",
    "parse_message",
    "parse_uri",
    "uri_equal",
]
