"""What a transaction asks of its surroundings: one small frozen dataclass per action.

Rules of this file: actions are nouns, immutable, and carry only what the edge or
the TU needs to act. A transaction returns them in the order they must be carried
out; ``Terminated`` is always the last one a transaction ever returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipguard.sip.message import Request, Response

__all__ = [
    "Action",
    "DeliverRequest",
    "DeliverResponse",
    "Terminated",
    "TimedOut",
    "Transmit",
    "TransportFailed",
]


@dataclass(frozen=True, slots=True)
class Transmit:
    """Put ``message`` on the wire to the transaction's peer (same destination and transport)."""

    message: Request | Response


@dataclass(frozen=True, slots=True)
class DeliverResponse:
    """Pass ``response`` up to the TU (client transactions)."""

    response: Response


@dataclass(frozen=True, slots=True)
class DeliverRequest:
    """Pass ``request`` up to the TU (an ACK for a 2xx reaching an INVITE server transaction)."""

    request: Request


@dataclass(frozen=True, slots=True)
class TimedOut:
    """The transaction failed for want of an answer (Timer B, F or H): tell the TU."""


@dataclass(frozen=True, slots=True)
class TransportFailed:
    """The transport could not deliver what the transaction sent: tell the TU."""


@dataclass(frozen=True, slots=True)
class Terminated:
    """The transaction is over: forget it (its key now matches nothing)."""


Action = Transmit | DeliverResponse | DeliverRequest | TimedOut | TransportFailed | Terminated
