"""Thin asyncio edge: sockets, connections and server location (RFC 3263)."""

from sipguard.transport.base import (
    BindError,
    Inbound,
    Metric,
    NoListenerError,
    Peer,
    SendFailed,
    TransportError,
    TransportStats,
)
from sipguard.transport.connections import DEFAULT_STREAM_LIMITS, StreamLimits
from sipguard.transport.loop import new_event_loop, run
from sipguard.transport.manager import TransportManager
from sipguard.transport.resolver import NEGATIVE_TTL, Resolver
from sipguard.transport.srv import DEFAULT_PORTS, ResolveError, ResolveTimeoutError, Target

__all__ = [
    "DEFAULT_PORTS",
    "DEFAULT_STREAM_LIMITS",
    "NEGATIVE_TTL",
    "BindError",
    "Inbound",
    "Metric",
    "NoListenerError",
    "Peer",
    "ResolveError",
    "ResolveTimeoutError",
    "Resolver",
    "SendFailed",
    "StreamLimits",
    "Target",
    "TransportError",
    "TransportManager",
    "TransportStats",
    "new_event_loop",
    "run",
]
