"""The stateful proxy of RFC 3261 §16 over the §17 transaction machines, sans-I/O.

Theory of operation:
- The engine hands in parsed messages with the hop they came from and ``now``; the
  core answers with events (``sipguard.proxy.events``): ``Send`` a message to a hop,
  ``RouteRequest`` (the engine decides the targets, then calls ``forward`` or
  ``reply``), ``BranchOutcome`` (for upstream health) and ``OriginatedResult``.
- A new request gets a server transaction and a response context (§16.7;
  ``server_side.py``); each target it is forwarded to gets a client transaction (a
  *branch*; ``branches.py``). Targets are tried one after the other when the engine
  asks for failover (edge mode: the next upstream on 408, 503 or a transport error),
  or all at once (parallel forking to registered Contacts); ``outcomes.py`` decides
  what each branch's end means, ``cancel.py`` handles CANCEL (§16.10, §9.1).
- Timers: every transaction and every INVITE branch's Timer C sit in one heap
  (``deadlines.py``); the core reports ``next_deadline()`` and the edge calls
  ``handle_timer(now)``.
- ACKs for 2xx and responses that match no client transaction are forwarded
  statelessly (§16.7 first paragraph, §16.11; ``stateless.py``).

Rules of this file: this is the facade only: it dispatches each input to the module
that owns it and holds no logic of its own. No clock reads, no sockets, no randomness
except through the ``unique`` callable the caller passes (branch suffixes). Errors a
request can cause are typed (``ProxyError``, ``SipParseError``) and become responses
via ``replies.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from sipguard.proxy import stateless
from sipguard.proxy.branches import Branches
from sipguard.proxy.cancel import receive_cancel
from sipguard.proxy.copies import response_statelessly
from sipguard.proxy.events import BranchTarget, CoreEvent, Hop, Send
from sipguard.proxy.flows import FlowTokens
from sipguard.proxy.identity import LocalIdentity
from sipguard.proxy.replies import local_reply
from sipguard.proxy.server_side import ServerSide
from sipguard.proxy.state import ServerRecord, Settings, Tables, call_machine
from sipguard.sip import (
    Request,
    Response,
    TimerConfig,
    TransactionKey,
    client_key,
    server_key,
)

__all__ = ["ProxyCore"]

MAX_SERVER_TRANSACTIONS = 50_000
"""Above this many requests in progress, new ones get a stateless 503 (memory bound)."""


class ProxyCore:
    """The transaction-stateful proxy: feed messages and timers, carry out the events."""

    def __init__(  # noqa: PLR0913 - the core's collaborators and knobs, named
        self,
        identity: LocalIdentity,
        timers: TimerConfig,
        unique: Callable[[], str],
        *,
        record_route: bool = True,
        server_name: str = "sipguard",
        max_servers: int = MAX_SERVER_TRANSACTIONS,
    ) -> None:
        self._settings = Settings(identity, timers, unique, record_route, server_name)
        self._max_servers = max_servers
        self._tables = Tables()
        self._server_side = ServerSide(self._settings, self._tables)
        self._branches = Branches(self._settings, self._tables, self._server_side)

    # -- settings (the engine sets the last three after building the core) -------------

    @property
    def identity(self) -> LocalIdentity:
        return self._settings.identity

    @identity.setter
    def identity(self, value: LocalIdentity) -> None:
        self._settings.identity = value

    @property
    def timers(self) -> TimerConfig:
        return self._settings.timers

    @timers.setter
    def timers(self, value: TimerConfig) -> None:
        self._settings.timers = value

    @property
    def record_route(self) -> bool:
        return self._settings.record_route

    @record_route.setter
    def record_route(self, value: bool) -> None:
        self._settings.record_route = value

    @property
    def server_name(self) -> str:
        return self._settings.server_name

    @server_name.setter
    def server_name(self, value: str) -> None:
        self._settings.server_name = value

    @property
    def flows(self) -> FlowTokens | None:
        """Marks our Record-Route entries facing WebSocket hops (proxy/flows.py)."""
        return self._settings.flows

    @flows.setter
    def flows(self, value: FlowTokens | None) -> None:
        self._settings.flows = value

    # -- inputs ----------------------------------------------------------------------

    def receive_request(
        self, request: Request, source: Hop, now: float, key: TransactionKey | None = None
    ) -> list[CoreEvent]:
        """A request from the network (already parsed, Via stamped with received/rport);
        ``key``: its ``server_key`` when the caller computed it already.

        Raises:
            SipParseError: when a header the transaction key needs is malformed.
        """
        if key is None:
            key = server_key(request)
        if request.method == "ACK":
            return self._server_side.receive_ack(request, key, source, now)
        server = self._tables.servers.get(key)
        if server is not None:  # a retransmission: the machine answers it (§17.2)
            return self._server_side.receive(server, request, now)
        if request.method == "CANCEL":
            return receive_cancel(self._branches, request, source, now)
        if len(self._tables.servers) >= self._max_servers:
            return [Send(source, local_reply(request, 503, server=self.server_name))]
        return self._server_side.new(request, key, source, now)

    def has_transaction(self, key: TransactionKey) -> bool:
        """True when a request with ``key`` (its ``server_key``) belongs to a transaction
        in progress: a retransmission, or the ACK for a non-2xx final."""
        return key in self._tables.servers

    def receive_request_stateless(self, request: Request, source: Hop) -> list[CoreEvent]:
        """A request handled without a transaction (RFC 3261 §16.11, and every ACK for a
        2xx): checked (§16.3) and preprocessed (§16.4), then a ``RouteRequest`` without
        a context; a refusal is answered statelessly, except to an ACK (never answered).

        Raises:
            SipParseError: when its top Via is malformed.
        """
        return stateless.receive_request_stateless(self._settings, request, source)

    def reply_stateless(self, response: Response, source: Hop) -> list[CoreEvent]:
        """Send our own ``response`` without a transaction: back on the stream the request
        came on, else to its top Via's response address (§18.2.2, RFC 3581).

        Raises:
            SipParseError: when the top Via is malformed.
        """
        return stateless.reply_stateless(response, source)

    def receive_response(self, response: Response, source: Hop, now: float) -> list[CoreEvent]:
        """A response from the network (§16.7).

        Raises:
            SipParseError: when its top Via or CSeq is malformed.
        """
        branch = self._tables.branches.get(client_key(response))
        if branch is None:
            # §16.7: no client transaction → forward as a stateless proxy would
            # (late 2xx retransmissions to an INVITE, once Timer M is over).
            return list(response_statelessly(response, self.identity))
        actions = call_machine(branch.txn.receive_response, response, now)
        return self._branches.actions(branch, actions, now)

    def forward(
        self,
        context: int,
        targets: Sequence[BranchTarget],
        now: float,
        *,
        sequential: bool = True,
        failover: Iterable[int] = (),
    ) -> list[CoreEvent]:
        """Forward the request of ``context`` (from a ``RouteRequest``) to ``targets``.

        ``sequential``: try one target at a time, moving on when a branch ends with a
        status in ``failover``, a timeout or a transport error; else fork in parallel.
        """
        server = self._tables.by_ident.get(context)
        if server is None or server.routed:
            return []
        server.routed = True
        if server.cancelled:
            return self._server_side.reply(server, local_reply(server.request, 487), now)
        if not targets:
            return self._server_side.reply(server, local_reply(server.request, 480), now)
        server.failover = frozenset(failover)
        if sequential:
            server.waiting = list(targets[1:])
            server.context.more_targets = bool(server.waiting)
            return self._branches.start(server, targets[0], now)
        out: list[CoreEvent] = []
        for target in targets:
            out += self._branches.start(server, target, now)
        return out

    def reply(self, context: int, response: Response, now: float) -> list[CoreEvent]:
        """Answer the request of ``context`` ourselves (registrar, redirect, refusals)."""
        server = self._tables.by_ident.get(context)
        if server is None or server.routed:
            return []
        server.routed = True
        return self._server_side.reply(server, response, now)

    def forward_stateless(self, request: Request, target: BranchTarget) -> list[CoreEvent]:
        """Forward without a transaction (RFC 3261 §16.11): ACKs for 2xx.

        The branch is a function of the request (§16.11: retransmissions of the
        request MUST get the same branch), so no state is kept.
        """
        return stateless.forward_stateless(self._settings, request, target)

    def originate(self, request: Request, hop: Hop, tag: object, now: float) -> list[CoreEvent]:
        """Send a request of our own (an OPTIONS probe) in a client transaction."""
        branch = self._branches.new(request, hop, None, now, origin_tag=tag, originated=True)
        return self._branches.actions(branch, branch.txn.start(now), now)

    def transport_failed(self, hop: Hop, now: float) -> list[CoreEvent]:
        """The transport could not send to ``hop``: every branch sending there fails."""
        out: list[CoreEvent] = []
        for branch in [b for b in self._tables.branches.values() if b.hop.peer == hop.peer]:
            actions = call_machine(branch.txn.transport_error, now)
            out += self._branches.actions(branch, actions, now)
        return out

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` must next be called; None when no timer runs."""
        return self._tables.deadlines.next_deadline()

    def handle_timer(self, now: float) -> list[CoreEvent]:
        """Fire every transaction timer and Timer C due at ``now``."""
        out: list[CoreEvent] = []
        while (owner := self._tables.deadlines.pop_due(now)) is not None:
            if isinstance(owner, ServerRecord):
                out += self._server_side.actions(owner, owner.txn.handle_timer(now))
            else:
                out += self._branches.timer(owner, now)
        return out

    @property
    def transactions(self) -> tuple[int, int]:
        """(server transactions, client transactions) in the tables."""
        return len(self._tables.servers), len(self._tables.branches)

    @property
    def unanswered(self) -> int:
        """Requests still waiting for their final response, and branches still waiting
        for theirs: what a graceful shutdown waits for (transactions that only absorb
        retransmissions, §17.2.1 Completed, need no waiting)."""
        return self._tables.unanswered()
