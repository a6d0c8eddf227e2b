"""The stateful proxy of RFC 3261 §16 over the §17 transaction machines, sans-I/O.

Theory of operation:
- The engine hands in parsed messages with the hop they came from and ``now``; the
  core answers with events (``sipguard.proxy.events``): ``Send`` a message to a hop,
  ``RouteRequest`` (the engine decides the targets, then calls ``forward`` or
  ``reply``), ``BranchOutcome`` (for upstream health) and ``OriginatedResult``.
- A new request gets a server transaction and a response context (§16.7); each target
  it is forwarded to gets a client transaction (a *branch*). Targets are tried one after
  the other when the engine asks for failover (edge mode: the next upstream on 408, 503
  or a transport error), or all at once (parallel forking to registered Contacts).
- Timers: every transaction and every INVITE branch's Timer C sit in one heap; the core
  reports ``next_deadline()`` and the edge calls ``handle_timer(now)``.
- ACKs for 2xx and responses that match no client transaction are forwarded
  statelessly (§16.7 first paragraph, §16.11).

Rules of this file: no clock reads, no sockets, no randomness except through the
``unique`` callable the caller passes (branch suffixes). Errors a request can cause are
typed (``ProxyError``, ``SipParseError``) and become responses via ``replies.py``.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sipguard.proxy.context import ResponseContext
from sipguard.proxy.copies import (
    copy_for,
    reply_statelessly,
    response_statelessly,
    stateless_branch,
)
from sipguard.proxy.errors import ProxyError
from sipguard.proxy.events import (
    BranchOutcome,
    BranchTarget,
    CoreEvent,
    Hop,
    OriginatedResult,
    RouteRequest,
    Send,
)
from sipguard.proxy.flows import FlowTokens
from sipguard.proxy.forward import (
    loop_hash,
    make_branch,
)
from sipguard.proxy.identity import LocalIdentity
from sipguard.proxy.replies import local_reply
from sipguard.proxy.route import preprocess_routes
from sipguard.proxy.validate import validate_request
from sipguard.proxy.via import strip_top_via
from sipguard.sip import (
    ClientTransaction,
    DeliverRequest,
    DeliverResponse,
    Request,
    Response,
    ServerTransaction,
    SipParseError,
    TimedOut,
    TimerConfig,
    TransactionKey,
    TransactionStateError,
    Transmit,
    TransportFailed,
    build_cancel,
    cancel_target_key,
    client_key,
    new_client_transaction,
    new_server_transaction,
    server_key,
)
from sipguard.sip.events import Action, Terminated
from sipguard.sip.transaction_base import State

__all__ = ["ProxyCore"]

_WAITING_STATES = frozenset({State.IDLE, State.CALLING, State.TRYING, State.PROCEEDING})
MAX_SERVER_TRANSACTIONS = 50_000
"""Above this many requests in progress, new ones get a stateless 503 (memory bound)."""


@dataclass(eq=False, slots=True)
class _Server:
    """One request being proxied: its server transaction and response context."""

    ident: int
    key: TransactionKey
    txn: ServerTransaction
    hop: Hop
    request: Request
    context: ResponseContext
    waiting: list[BranchTarget] = field(default_factory=list)
    """Failover targets not tried yet, in order."""
    failover: frozenset[int] = frozenset()
    routed: bool = False
    cancelled: bool = False


@dataclass(eq=False, slots=True)
class _Branch:
    """One client transaction: a forwarded copy, a CANCEL we sent, or a probe."""

    ident: int
    key: TransactionKey
    txn: ClientTransaction
    hop: Hop
    server: _Server | None
    target: BranchTarget | None = None
    origin_tag: object = None
    originated: bool = False
    timer_c: float | None = None
    early: bool = False
    cancel_wanted: bool = False
    cancel_sent: bool = False

    def next_deadline(self) -> float | None:
        deadline = self.txn.next_deadline()
        if self.timer_c is not None and (deadline is None or self.timer_c < deadline):
            return self.timer_c
        return deadline


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
        self.identity = identity
        self.timers = timers
        self.record_route = record_route
        self.server_name = server_name
        self.flows: FlowTokens | None = None
        """Marks our Record-Route entries facing WebSocket hops (proxy/flows.py)."""
        self._unique = unique
        self._max_servers = max_servers
        self._servers: dict[TransactionKey, _Server] = {}
        self._by_ident: dict[int, _Server] = {}
        self._branches: dict[TransactionKey, _Branch] = {}
        self._ids = itertools.count(1)
        self._heap: list[tuple[float, int, _Server | _Branch]] = []
        self._armed: dict[int, float] = {}

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
            return self._receive_ack(request, key, source, now)
        server = self._servers.get(key)
        if server is not None:  # a retransmission: the machine answers it (§17.2)
            return self._server_actions(
                server, self._call(server.txn.receive_request, request, now)
            )
        if request.method == "CANCEL":
            return self._receive_cancel(request, source, now)
        if len(self._servers) >= self._max_servers:
            return [Send(source, local_reply(request, 503, server=self.server_name))]
        return self._new_server(request, key, source, now)

    def has_transaction(self, key: TransactionKey) -> bool:
        """True when a request with ``key`` (its ``server_key``) belongs to a transaction
        in progress: a retransmission, or the ACK for a non-2xx final."""
        return key in self._servers

    def receive_request_stateless(self, request: Request, source: Hop) -> list[CoreEvent]:
        """A request handled without a transaction (RFC 3261 §16.11, and every ACK for a
        2xx): checked (§16.3) and preprocessed (§16.4), then a ``RouteRequest`` without
        a context; a refusal is answered statelessly, except to an ACK (never answered).

        Raises:
            SipParseError: when its top Via is malformed.
        """
        try:
            validate_request(request, identity=self.identity)
            routed = preprocess_routes(request, self.identity)
        except (ProxyError, SipParseError) as exc:
            if request.method == "ACK":
                return []  # §17.1.1.3: an ACK is never answered
            headers = exc.headers if isinstance(exc, ProxyError) else ()
            reply = local_reply(
                request, exc.status, exc.reason, headers=headers, server=self.server_name
            )
            return self.reply_stateless(reply, source)
        return [RouteRequest(None, routed, source, routed is not request)]

    def reply_stateless(self, response: Response, source: Hop) -> list[CoreEvent]:
        """Send our own ``response`` without a transaction: back on the stream the request
        came on, else to its top Via's response address (§18.2.2, RFC 3581).

        Raises:
            SipParseError: when the top Via is malformed.
        """
        return list(reply_statelessly(response, source))

    def receive_response(self, response: Response, source: Hop, now: float) -> list[CoreEvent]:
        """A response from the network (§16.7).

        Raises:
            SipParseError: when its top Via or CSeq is malformed.
        """
        branch = self._branches.get(client_key(response))
        if branch is None:
            # §16.7: no client transaction → forward as a stateless proxy would
            # (late 2xx retransmissions to an INVITE, once Timer M is over).
            return list(response_statelessly(response, self.identity))
        actions = self._call(branch.txn.receive_response, response, now)
        return self._branch_actions(branch, actions, now)

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
        server = self._by_ident.get(context)
        if server is None or server.routed:
            return []
        server.routed = True
        if server.cancelled:
            return self._reply(server, local_reply(server.request, 487), now)
        if not targets:
            return self._reply(server, local_reply(server.request, 480), now)
        server.failover = frozenset(failover)
        if sequential:
            server.waiting = list(targets[1:])
            server.context.more_targets = bool(server.waiting)
            return self._start_branch(server, targets[0], now)
        out: list[CoreEvent] = []
        for target in targets:
            out += self._start_branch(server, target, now)
        return out

    def reply(self, context: int, response: Response, now: float) -> list[CoreEvent]:
        """Answer the request of ``context`` ourselves (registrar, redirect, refusals)."""
        server = self._by_ident.get(context)
        if server is None or server.routed:
            return []
        server.routed = True
        return self._reply(server, response, now)

    def forward_stateless(self, request: Request, target: BranchTarget) -> list[CoreEvent]:
        """Forward without a transaction (RFC 3261 §16.11): ACKs for 2xx.

        The branch is a function of the request (§16.11: retransmissions of the
        request MUST get the same branch), so no state is kept.
        """
        out = copy_for(
            request, target, stateless_branch(request), self.identity,
            record_route=self.record_route, flows=self.flows,
        )  # fmt: skip
        return [Send(target.hop, out)]

    def originate(self, request: Request, hop: Hop, tag: object, now: float) -> list[CoreEvent]:
        """Send a request of our own (an OPTIONS probe) in a client transaction."""
        branch = self._new_branch(request, hop, None, now, origin_tag=tag, originated=True)
        return self._branch_actions(branch, branch.txn.start(now), now)

    def transport_failed(self, hop: Hop, now: float) -> list[CoreEvent]:
        """The transport could not send to ``hop``: every branch sending there fails."""
        out: list[CoreEvent] = []
        for branch in [b for b in self._branches.values() if b.hop.peer == hop.peer]:
            actions = self._call(branch.txn.transport_error, now)
            out += self._branch_actions(branch, actions, now)
        return out

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` must next be called; None when no timer runs."""
        while self._heap:
            deadline, _, owner = self._heap[0]
            if self._armed.get(id(owner)) == deadline:
                return deadline
            heapq.heappop(self._heap)  # stale entry
        return None

    def handle_timer(self, now: float) -> list[CoreEvent]:
        """Fire every transaction timer and Timer C due at ``now``."""
        out: list[CoreEvent] = []
        while self._heap and self._heap[0][0] <= now:
            deadline, _, owner = heapq.heappop(self._heap)
            if self._armed.get(id(owner)) != deadline:
                continue
            del self._armed[id(owner)]
            if isinstance(owner, _Server):
                out += self._server_actions(owner, owner.txn.handle_timer(now))
            else:
                out += self._branch_timer(owner, now)
        return out

    @property
    def transactions(self) -> tuple[int, int]:
        """(server transactions, client transactions) in the tables."""
        return len(self._servers), len(self._branches)

    @property
    def unanswered(self) -> int:
        """Requests still waiting for their final response, and branches still waiting
        for theirs: what a graceful shutdown waits for (transactions that only absorb
        retransmissions, §17.2.1 Completed, need no waiting)."""
        waiting = _WAITING_STATES
        servers = sum(1 for s in self._servers.values() if s.txn.state in waiting)
        branches = sum(1 for b in self._branches.values() if b.txn.state in waiting)
        return servers + branches

    # -- requests ----------------------------------------------------------------------

    def _new_server(
        self, request: Request, key: TransactionKey, source: Hop, now: float
    ) -> list[CoreEvent]:
        txn = new_server_transaction(request, source.reliable, self.timers, now)
        server = _Server(next(self._ids), key, txn, source, request, ResponseContext(request))
        self._servers[key] = server
        self._by_ident[server.ident] = server
        # RFC 4320 §4.1: a non-INVITE server transaction owes a 100 (Trying) at 3.5 s
        # if nothing answered by then: its timer runs from the start.
        self._arm(server)
        out: list[CoreEvent] = []
        if request.method == "INVITE":
            # §16.2: a stateful proxy answers an INVITE with 100 (Trying) at once, which
            # stops the caller's retransmissions (§17.1.1.2).
            out += self._server_send(server, local_reply(request, 100), now)
        try:
            validate_request(request, identity=self.identity)
            routed = preprocess_routes(request, self.identity)
        except (ProxyError, SipParseError) as exc:
            server.routed = True
            headers = exc.headers if isinstance(exc, ProxyError) else ()
            reply = local_reply(request, exc.status, exc.reason, headers=headers)
            return out + self._server_send(server, reply, now)
        server.request = routed
        server.context.request = routed
        return [*out, RouteRequest(server.ident, routed, source, routed is not request)]

    def _receive_ack(
        self, request: Request, key: TransactionKey, source: Hop, now: float
    ) -> list[CoreEvent]:
        server = self._servers.get(key)
        if server is not None:
            # An ACK for our non-2xx final: the INVITE server transaction absorbs it
            # (§17.2.1); it never goes further (§16.7 non-2xx are hop by hop).
            return self._server_actions(
                server, self._call(server.txn.receive_request, request, now)
            )
        return self._route_ack(request, source)

    def _route_ack(self, request: Request, source: Hop) -> list[CoreEvent]:
        # §16.3 steps 3-4 hold for an ACK too (Max-Forwards 0, a loop): refused, it is
        # dropped, and forward_stateless never gets one it cannot forward; §16.4 before
        # routing, or our own Route value would send it back to us.
        return self.receive_request_stateless(request, source)

    def _receive_cancel(self, cancel: Request, source: Hop, now: float) -> list[CoreEvent]:
        target = self._servers.get(cancel_target_key(cancel))
        if target is None:
            # §16.10 lets a proxy forward an unmatched CANCEL statelessly; with no
            # INVITE of ours to cancel, the answer a UAS would give is final here.
            return [Send(source, local_reply(cancel, 481, server=self.server_name))]
        # §16.10: the CANCEL gets its own 200 at once; then every pending branch of the
        # INVITE is cancelled, and the INVITE ends with the 487s that come back.
        key = server_key(cancel)
        txn = new_server_transaction(cancel, source.reliable, self.timers, now)
        own = _Server(next(self._ids), key, txn, source, cancel, ResponseContext(cancel))
        own.routed = True
        self._servers[key] = own
        out = self._server_send(own, local_reply(cancel, 200), now)
        target.cancelled = True
        target.context.more_targets = False
        target.waiting.clear()
        for branch in self._branches_of(target):
            out += self._cancel_branch(branch, now)
        if not target.routed:
            return out  # ``forward`` will answer 487
        return out + self._answer_if_done(target, now)

    # -- branches ----------------------------------------------------------------------

    def _start_branch(self, server: _Server, target: BranchTarget, now: float) -> list[CoreEvent]:
        branch_id = make_branch(loop_hash(server.request), self._unique())
        request = copy_for(
            server.request, target, branch_id, self.identity,
            record_route=self.record_route, source=server.hop, flows=self.flows,
        )  # fmt: skip
        branch = self._new_branch(request, target.hop, server, now, target=target)
        server.context.add_branch(branch.ident)
        if request.method == "INVITE":
            # §16.6 step 11: Timer C, longer than 3 minutes, per INVITE branch.
            branch.timer_c = now + self.timers.timer_c
        return self._branch_actions(branch, branch.txn.start(now), now)

    def _new_branch(
        self,
        request: Request,
        hop: Hop,
        server: _Server | None,
        now: float,
        **extra: object,
    ) -> _Branch:
        txn = new_client_transaction(request, hop.reliable, self.timers, now)
        branch = _Branch(next(self._ids), client_key(request), txn, hop, server, **extra)  # type: ignore[arg-type]
        self._branches[branch.key] = branch
        return branch

    def _branches_of(self, server: _Server) -> list[_Branch]:
        return [b for b in self._branches.values() if b.server is server and not b.originated]

    def _cancel_branch(self, branch: _Branch, now: float) -> list[CoreEvent]:
        # §9.1: a CANCEL only once a provisional arrived; before that it waits.
        if branch.txn.request.method != "INVITE" or branch.cancel_sent:
            return []
        if branch.txn.state not in _WAITING_STATES:
            return []  # §9.1: nothing to cancel once a final response arrived
        if not branch.early:
            branch.cancel_wanted = True
            return []
        branch.cancel_sent = True
        # §9.1: no final response 64*T1 after the CANCEL: the INVITE is considered
        # cancelled and its client transaction destroyed (the Timer C slot waits).
        branch.timer_c = now + 64 * self.timers.t1
        self._arm(branch)
        cancel = build_cancel(branch.txn.request)
        own = self._new_branch(cancel, branch.hop, None, now, originated=True)
        return self._branch_actions(own, own.txn.start(now), now)

    def _branch_timer(self, branch: _Branch, now: float) -> list[CoreEvent]:
        out: list[CoreEvent] = []
        if branch.timer_c is not None and branch.timer_c <= now:
            branch.timer_c = None
            if branch.cancel_sent:
                return self._abandon(branch, now)
            # §16.8: Timer C fired: CANCEL a branch that rang; one that never did
            # counts as a 408 (its transaction is left to end by itself), and is
            # CANCELled should it ring later (§9.1), not left in Proceeding for ever.
            if branch.early:
                out += self._cancel_branch(branch, now)
            elif branch.server is not None:
                branch.cancel_wanted = True
                out += self._branch_failed(branch, 408, now)
        out += self._branch_actions(branch, branch.txn.handle_timer(now), now)
        return out

    def _abandon(self, branch: _Branch, now: float) -> list[CoreEvent]:
        # §9.1: the CANCELled INVITE got no final in 64*T1: forget its transaction;
        # the response context counts it as cancelled (or as Timer C's 408).
        self._branches.pop(branch.key, None)
        self._armed.pop(id(branch), None)
        cancelled = branch.server is not None and branch.server.cancelled
        return self._branch_failed(branch, 487 if cancelled else 408, now, timed_out=True)

    def _branch_actions(
        self, branch: _Branch, actions: list[Action], now: float
    ) -> list[CoreEvent]:
        out: list[CoreEvent] = []
        for action in actions:
            if isinstance(action, Transmit):
                out.append(Send(branch.hop, action.message))
            elif isinstance(action, DeliverResponse):
                out += self._branch_response(branch, action.response, now)
            elif isinstance(action, TimedOut):
                out += self._branch_failed(branch, 408, now, timed_out=True)
            elif isinstance(action, TransportFailed):
                out += self._branch_failed(branch, 503, now, transport_failed=True)
            elif isinstance(action, Terminated):
                self._branches.pop(branch.key, None)
                self._armed.pop(id(branch), None)
        if branch.key in self._branches:
            self._arm(branch)
        return out

    def _branch_response(self, branch: _Branch, response: Response, now: float) -> list[CoreEvent]:
        if branch.originated:
            # Our own request (a probe, a CANCEL): the final is the result, not forwarded.
            done = response.status >= 200 and branch.origin_tag is not None
            return [OriginatedResult(branch.origin_tag, response)] if done else []
        server = branch.server
        upstream = strip_top_via(response, self.identity) if server is not None else None
        if server is None or upstream is None or not upstream.has("Via"):
            return []  # §16.7 step 3: no Via left: it was meant for us
        if response.status < 200:
            return self._branch_provisional(branch, server, upstream, now)
        return self._branch_final(branch, server, upstream, now)

    def _branch_final(
        self, branch: _Branch, server: _Server, upstream: Response, now: float
    ) -> list[CoreEvent]:
        status = upstream.status
        if status >= 300 and server.context.is_done(branch.ident):
            return []  # a late non-2xx of a branch already counted (Timer C, §16.8)
        branch.timer_c = None
        tag = branch.target.tag if branch.target else None
        out: list[CoreEvent] = [
            BranchOutcome(tag, status, request=branch.txn.request, source=server.hop)
        ]
        if self._fails_over(server, status):
            server.context.on_final(branch.ident, upstream)
            return out + self._next_target(server, now)
        server.context.more_targets = False
        reply = server.context.on_final(branch.ident, upstream)
        if reply.response is not None:
            out += self._server_send(server, reply.response, now)
        for ident in reply.cancel:
            out += self._cancel_ident(server, ident, now)
        return out

    def _branch_provisional(
        self, branch: _Branch, server: _Server, upstream: Response, now: float
    ) -> list[CoreEvent]:
        out: list[CoreEvent] = []
        # §9.1: any provisional, a 100 (Trying) included, lets a CANCEL go.
        branch.early = True
        if upstream.status > 100 and branch.timer_c is not None and not branch.cancel_sent:
            # §16.7 step 2: a 101-199 resets Timer C (not the wait after a CANCEL).
            branch.timer_c = now + self.timers.timer_c
        if branch.cancel_wanted:
            out += self._cancel_branch(branch, now)
        reply = server.context.on_provisional(branch.ident, upstream)
        if reply.response is not None and not server.cancelled:
            out += self._server_send(server, reply.response, now)
        return out

    def _branch_failed(
        self,
        branch: _Branch,
        status: int,
        now: float,
        *,
        timed_out: bool = False,
        transport_failed: bool = False,
    ) -> list[CoreEvent]:
        if branch.originated:
            if branch.origin_tag is not None:
                return [OriginatedResult(branch.origin_tag, None, transport_failed)]
            return []
        server = branch.server
        if server is None or server.context.is_done(branch.ident):
            # A branch ends once: a transport error on the ACK of its final, or Timer B
            # after Timer C already counted it as a 408 (§16.8), is not a second end.
            return []
        branch.timer_c = None
        tag = branch.target.tag if branch.target else None
        out: list[CoreEvent] = [
            BranchOutcome(tag, status, timed_out, transport_failed, branch.txn.request, server.hop)
        ]
        if server.waiting and not server.context.final_sent and not server.cancelled:
            # A dead target is always worth the next one, whatever the failover list.
            server.context.on_failure(branch.ident, status)
            return out + self._next_target(server, now)
        server.context.more_targets = False
        reply = server.context.on_failure(branch.ident, status)
        if reply.response is not None:
            out += self._server_send(server, reply.response, now)
        return out

    def _fails_over(self, server: _Server, status: int) -> bool:
        return (
            bool(server.waiting)
            and status in server.failover
            and not server.cancelled
            and not server.context.final_sent
        )

    def _next_target(self, server: _Server, now: float) -> list[CoreEvent]:
        target = server.waiting.pop(0)
        server.context.more_targets = bool(server.waiting)
        return self._start_branch(server, target, now)

    def _cancel_ident(self, server: _Server, ident: int, now: float) -> list[CoreEvent]:
        for branch in self._branches_of(server):
            if branch.ident == ident:
                return self._cancel_branch(branch, now)
        return []

    def _answer_if_done(self, server: _Server, now: float) -> list[CoreEvent]:
        response = server.context.answer_now()
        return self._server_send(server, response, now) if response is not None else []

    # -- responses upstream ------------------------------------------------------------

    def _reply(self, server: _Server, response: Response, now: float) -> list[CoreEvent]:
        server.context.final_sent = response.status >= 200
        return self._server_send(server, response, now)

    def _server_send(self, server: _Server, response: Response, now: float) -> list[CoreEvent]:
        if response.status == 408 and server.request.method != "INVITE":
            # RFC 4320 §4.2: never a 408 to a non-INVITE (the client gave up already);
            # the request stays unanswered and its transaction is dropped, not leaked.
            self._drop_server(server)
            return []
        return self._server_actions(server, self._call(server.txn.send_response, response, now))

    def _server_actions(self, server: _Server, actions: list[Action]) -> list[CoreEvent]:
        out: list[CoreEvent] = []
        for action in actions:
            if isinstance(action, Transmit):
                out.append(Send(server.hop, action.message))
            elif isinstance(action, DeliverRequest) and action.request.method == "ACK":
                # RFC 6026 §8.7: an ACK reaching an Accepted INVITE transaction goes on,
                # checked and route-preprocessed like any ACK for a 2xx (§16.3, §16.4).
                out += self._route_ack(action.request, server.hop)
            elif isinstance(action, Terminated):
                self._drop_server(server)
        if server.key in self._servers:
            self._arm(server)
        return out

    def _drop_server(self, server: _Server) -> None:
        self._servers.pop(server.key, None)
        self._by_ident.pop(server.ident, None)
        self._armed.pop(id(server), None)

    # -- plumbing ----------------------------------------------------------------------

    def _call(self, method: Callable[..., list[Action]], *args: object) -> list[Action]:
        # A machine refuses inputs its state has no row for (a response after the
        # final, say): the message is dropped, the transaction stays as it was.
        try:
            return method(*args)
        except TransactionStateError:
            return []

    def _arm(self, owner: _Server | _Branch) -> None:
        deadline = (
            owner.txn.next_deadline() if isinstance(owner, _Server) else owner.next_deadline()
        )
        key = id(owner)
        if deadline is None:
            self._armed.pop(key, None)
        elif self._armed.get(key) != deadline:
            self._armed[key] = deadline
            heapq.heappush(self._heap, (deadline, next(self._ids), owner))
