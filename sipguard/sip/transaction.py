"""RFC 3261 §17 transactions, sans-I/O: the four machines and the factories that pick one.

Theory of operation:
- One object per transaction. The edge (or the proxy core) creates it from a request,
  says whether the transport is reliable (TCP, TLS, WS: no retransmissions, zero
  wait timers) and gives it ``now``. Nothing here reads a clock or touches a socket.
- Inputs are method calls that take ``now`` and return a list of actions
  (``sipguard.sip.events``): ``Transmit`` (to the transaction's peer),
  ``DeliverResponse`` / ``DeliverRequest`` (to the TU), ``TimedOut``,
  ``TransportFailed`` and, last of all, ``Terminated``.
  - client: ``start``, ``receive_response``, ``transport_error``;
  - server: ``receive_request`` (retransmissions and ACKs), ``send_response`` (from
    the TU), ``transport_error``; the first request goes to the TU from the caller.
  - both: ``handle_timer(now)`` fires every timer due at ``now``; ``next_deadline()``
    says when to call it next (None: no timer running). The edge arms one timer.
- A machine is a set of tables ``(state, input kind) -> handler``. An input with no
  row raises TransactionStateError and leaves the machine untouched; inputs the RFC
  absorbs (retransmissions, late responses) have explicit rows.
- RFC 6026 is built in: 2xx responses move both INVITE machines to Accepted (Timers
  L and M); the 2xx is never retransmitted nor ACKed by a transaction.
- RFC 4320 is built in for the non-INVITE server: it sends the 100 (Trying) itself
  once the client's Timer E has reached T2, and refuses a 101-199, an early 100
  over UDP and a 408 from the TU.
- Once ``Terminated`` is returned the transaction emits nothing more,
  ``next_deadline()`` is None, and it should be dropped from the transaction table.

Deviation from the letter of §17.2.4 on purpose: a server transaction reports a
transport error and stays in its state (RFC 6026 §8.8 replaced that paragraph).
"""

from __future__ import annotations

from sipguard.sip.client_transaction import (
    ClientTransaction,
    InviteClientTransaction,
    NonInviteClientTransaction,
)
from sipguard.sip.errors import TransactionStateError
from sipguard.sip.message import Request
from sipguard.sip.server_transaction import (
    InviteServerTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
)
from sipguard.sip.timers import TimerConfig
from sipguard.sip.transaction_base import Input, State, TransactionMachine

__all__ = [
    "ClientTransaction",
    "Input",
    "InviteClientTransaction",
    "InviteServerTransaction",
    "NonInviteClientTransaction",
    "NonInviteServerTransaction",
    "ServerTransaction",
    "State",
    "TransactionMachine",
    "TransactionStateError",
    "new_client_transaction",
    "new_server_transaction",
]


def new_client_transaction(
    request: Request, reliable: bool, config: TimerConfig, now: float
) -> ClientTransaction:
    """The client transaction for ``request``: INVITE or non-INVITE (not started yet).

    Raises:
        ValueError: for an ACK, which never has a client transaction (§17.1.1.3, §13.2.2.4).
    """
    if request.method == "INVITE":
        return InviteClientTransaction(request, reliable, config, now)
    return NonInviteClientTransaction(request, reliable, config, now)


def new_server_transaction(
    request: Request, reliable: bool, config: TimerConfig, now: float
) -> ServerTransaction:
    """The server transaction for a new ``request``: INVITE or non-INVITE.

    Raises:
        ValueError: for an ACK, which creates no server transaction (§17.2.3).
    """
    if request.method == "INVITE":
        return InviteServerTransaction(request, reliable, config, now)
    return NonInviteServerTransaction(request, reliable, config, now)
