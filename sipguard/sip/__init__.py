"""The sans-I/O SIP core: bytes in, typed messages and events out; no sockets, no clock."""

from sipguard.sip.build import build_ack_for_non2xx, build_cancel, build_response
from sipguard.sip.errors import SipError, SipParseError, TransactionStateError
from sipguard.sip.events import (
    Action,
    DeliverRequest,
    DeliverResponse,
    Terminated,
    TimedOut,
    Transmit,
    TransportFailed,
)
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
from sipguard.sip.matching import TransactionKey, cancel_target_key, client_key, server_key
from sipguard.sip.message import HeaderField, Message, Request, Response
from sipguard.sip.parser import parse_message
from sipguard.sip.status import reason_phrase
from sipguard.sip.timers import DEFAULT_TIMERS, Timer, TimerConfig
from sipguard.sip.transaction import (
    ClientTransaction,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
    new_client_transaction,
    new_server_transaction,
)
from sipguard.sip.transports import Peer, TransportName
from sipguard.sip.uri import AbsoluteUri, SipUri, TelUri, Uri, parse_uri, uri_equal

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_TIMERS",
    "NEED_DATA",
    "PONG",
    "AbsoluteUri",
    "Action",
    "AuthValue",
    "CSeq",
    "ClientTransaction",
    "DeliverRequest",
    "DeliverResponse",
    "FramedMessage",
    "HeaderField",
    "InviteClientTransaction",
    "InviteServerTransaction",
    "KeepAlivePing",
    "Message",
    "NameAddr",
    "NeedData",
    "NonInviteClientTransaction",
    "NonInviteServerTransaction",
    "ParseLimits",
    "Peer",
    "Request",
    "Response",
    "ServerTransaction",
    "SipError",
    "SipParseError",
    "SipUri",
    "StreamClosed",
    "StreamFramer",
    "TelUri",
    "Terminated",
    "TimedOut",
    "Timer",
    "TimerConfig",
    "TransactionKey",
    "TransactionStateError",
    "Transmit",
    "TransportFailed",
    "TransportName",
    "Uri",
    "Via",
    "build_ack_for_non2xx",
    "build_cancel",
    "build_response",
    "cancel_target_key",
    "client_key",
    "new_client_transaction",
    "new_server_transaction",
    "parse_message",
    "parse_uri",
    "reason_phrase",
    "server_key",
    "uri_equal",
]
