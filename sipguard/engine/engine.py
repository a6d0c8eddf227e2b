"""The engine: bytes and peers in, actions out. The sans-I/O glue between transport and proxy.

Theory of operation: ``receive`` parses one message, stamps the top Via (RFC 3581),
hands it to the proxy core and carries out what the core asks: routing decisions
(``proxy/router.py``), the registrar, upstream health, probes. What it cannot do
without I/O it returns as actions for ``server.py``: ``Transmit`` bytes, ``Persist``
binding changes (a REGISTER's come back through ``persisted``, which answers it), ``Resolve``
host names (the answer comes back through ``resolved``; ``targets.py`` waits for it),
``Notice`` an event worth a log line.

Rules of this file: no sockets, no clock (``now`` is monotonic, ``wall`` is UNIX time
for registrations), no module state. This is THE place where a parse error or a
refusal becomes a response or a silent drop: nothing else answers for a malformed
message.
"""

from __future__ import annotations

import itertools
import random
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence

from sipguard.config import Config, TransportName
from sipguard.engine.actions import (
    EngineAction,
    Notice,
    Persist,
    Transmit,
)
from sipguard.engine.guards import GuardSetup, NoUsers, guard_pipeline, new_bans
from sipguard.engine.hiding import Hiding
from sipguard.engine.registering import PendingRegister, PendingRegisters
from sipguard.engine.targets import Targets, Waiting
from sipguard.engine.upstream_auth import UpstreamAuth
from sipguard.engine.upstreams import UpstreamSet
from sipguard.guard import AuthMode, Drop, GuardContext, Pass, Reject
from sipguard.proxy.core import ProxyCore
from sipguard.proxy.events import (
    BranchOutcome,
    CoreEvent,
    Hop,
    OriginatedResult,
    RouteRequest,
    Send,
)
from sipguard.proxy.flows import FlowTokens
from sipguard.proxy.identity import LocalIdentity
from sipguard.proxy.location import Location
from sipguard.proxy.registrar import register
from sipguard.proxy.replies import local_reply, local_tag
from sipguard.proxy.router import Answer, Forward, NextHop, Register, route_request
from sipguard.proxy.via import stamp_received
from sipguard.sip import (
    Request,
    Response,
    SipParseError,
    SipUri,
    TransactionKey,
    parse_message,
    server_key,
)
from sipguard.store.base import SourceAddress, format_source
from sipguard.transport.base import Inbound, Peer, SendFailed

__all__ = ["Engine"]

MAX_FLOW_HINTS = 4096
"""In-dialog requests whose WebSocket flow is remembered between receipt and routing."""


class Engine:
    """One sipguard node's SIP behaviour, with every I/O left to the caller."""

    def __init__(  # noqa: PLR0913 - collaborators plus the injected sources of variety
        self,
        config: Config,
        identity: LocalIdentity,
        location: Location,
        *,
        unique: Callable[[], str],
        rng: random.Random,
        now: float,
        guard: GuardSetup | None = None,
    ) -> None:
        self.config = config
        self.identity = identity
        self.location = location
        self.guard = guard or GuardSetup(NoUsers(), bytes(32))
        self.pipeline = guard_pipeline(config, identity, self.guard)
        self._unique = unique
        self._rng = rng
        self.core = ProxyCore(
            identity,
            config.timers,
            unique,
            record_route=config.server.record_route,
            server_name=config.server.server_name,
        )
        self.upstreams = UpstreamSet(config, now)
        self.supported = frozenset(
            t
            for t in (listen.transport for listen in config.listen)
            if t in ("udp", "tcp", "tls")  # ws and wss clients are reached by their flows
        )
        self._tokens = itertools.count(1)
        self.targets = Targets(self.core, identity, config, unique)
        self._registering = PendingRegisters()
        self._upstream_auth = UpstreamAuth()
        self.hiding = Hiding.of(config, identity, self.guard.nonce_secret)
        self.flows = FlowTokens(self.guard.nonce_secret)
        self.core.flows = self.flows
        self._flow_hints: OrderedDict[TransactionKey, Peer] = OrderedDict()
        self.dropped = 0
        self.draining = False
        """Shutting down: new requests are refused with 503; dialogs already up go on."""

    def reconfigure(self, config: Config, now: float) -> None:
        """Take a reloaded policy (listeners excepted: they need a restart)."""
        self.upstreams = self.upstreams.reconfigured(config, now)
        self.pipeline = guard_pipeline(config, self.identity, self.guard)
        self.hiding = Hiding.of(config, self.identity, self.guard.nonce_secret)
        self.core.record_route = config.server.record_route
        self.core.server_name = config.server.server_name
        self.targets.config = config
        self.config = config

    # -- inputs ------------------------------------------------------------------------

    def receive(self, inbound: Inbound, now: float, wall: float) -> list[EngineAction]:
        """One whole message from the transport."""
        if not self.pipeline.admit(inbound.peer.host, wall):
            # Issue 5 stage 1: a banned source costs one look-up, before any parsing.
            self.dropped += 1
            return []
        hop = Hop(inbound.peer, inbound.connection_id)
        try:
            message = parse_message(inbound.data, self.config.transport.limits)
        except SipParseError as exc:
            return self._refuse_unparsable(exc, hop)
        try:
            if self.hiding is not None:
                message = self.hiding.incoming(message, inbound.data)
            if isinstance(message, Response):
                return self._run(self.core.receive_response(message, hop, now), now, wall)
            return self._receive_request(message, inbound, hop, now, wall)
        except SipParseError as exc:
            # A header the transaction layer needed was malformed (read lazily).
            partial = message if isinstance(message, Request) else None
            return self._refuse_unparsable(SipParseError(exc.status, exc.reason, partial), hop)

    def _receive_request(
        self, request: Request, inbound: Inbound, hop: Hop, now: float, wall: float
    ) -> list[EngineAction]:
        request = stamp_received(request, inbound.peer.host, inbound.peer.port)
        if request.method == "ACK" and request.to.tag == local_tag(request):
            # The ACK for a final response we wrote ourselves without a transaction (a
            # challenge, a refusal): it ends there (§17.1.1.3), it is never forwarded.
            return []
        if self.draining and _starts_something(request):
            reply = local_reply(request, 503, "Shutting Down", headers=(("Retry-After", "30"),))
            return self._run(self.core.reply_stateless(reply, hop), now, wall)
        guarded: list[EngineAction] = []
        key = server_key(request)  # computed once, for the check and for the core
        if not self.core.has_transaction(key):
            # A new request: the guards judge it once (retransmissions belong to the
            # transaction; judging them again would count them twice).
            answer, request, guarded = self._guard(request, inbound, now, wall)
            if answer is not None:
                return guarded + self._run(answer, now, wall)
        flows = self.flows.next_hops(request, self.identity) if request.has("Route") else ()
        # Never back to where it came from: that token is the sender's own flow.
        flow = next((peer for peer in flows if peer != inbound.peer), None)
        if flow is not None:
            self._hint_flow(key, flow)
        if request.method == "BYE":
            self.pipeline.call_ended(request.call_id)
        if self.config.server.stateless:
            core = self.core.receive_request_stateless(request, hop)
        else:
            core = self.core.receive_request(request, hop, now, key)
        return guarded + self._run(core, now, wall)

    def _guard(
        self, request: Request, inbound: Inbound, now: float, wall: float
    ) -> tuple[list[CoreEvent] | None, Request, list[EngineAction]]:
        """Run the pipeline: (the answer to send when refused, else None; the request as
        the guards left it; ban actions)."""
        ctx = GuardContext(
            inbound.peer,
            inbound.local,
            now,
            wall,
            tls_peer=inbound.tls_peer,
            verified=inbound.peer.transport != TransportName.UDP,
        )
        decision = self.pipeline.decide(request, ctx)
        bans = new_bans(self.pipeline, self.guard.bans)
        verdict = decision.verdict
        if isinstance(verdict, Pass):
            return None, decision.request, bans
        if isinstance(verdict, Drop) or request.method == "ACK":
            self.dropped += 1
            return [], request, bans  # silence; an ACK is never answered (§17.1.1.3)
        headers = verdict.headers
        phrase = verdict.phrase if isinstance(verdict, Reject) else None
        reply = local_reply(
            request, verdict.status, phrase, headers=headers, server=self.config.server.server_name
        )
        hop = Hop(inbound.peer, inbound.connection_id)
        return list(self.core.reply_stateless(reply, hop)), request, bans

    def send_failed(self, failed: SendFailed, now: float, wall: float) -> list[EngineAction]:
        """The transport could not deliver to ``failed.dest``."""
        hop = Hop(failed.dest, failed.connection_id)
        return self._run(self.core.transport_failed(hop, now), now, wall)

    def resolved(
        self, token: int, peers: Sequence[Peer], now: float, wall: float
    ) -> list[EngineAction]:
        """The answer to a ``Resolve``: the peers to try (empty when nothing resolved)."""
        return self._run(self.targets.resolved(token, peers, now), now, wall)

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` must next run (None: nothing scheduled)."""
        deadlines = [
            d for d in (self.core.next_deadline(), self.upstreams.probes.next_deadline()) if d
        ]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float, wall: float) -> list[EngineAction]:
        """Fire the transaction timers and the probes that are due."""
        out = self._run(self.core.handle_timer(now), now, wall)
        for target in self.upstreams.probes.due(now):
            out += self._run(self.targets.probe(target, now), now, wall)
        return out

    def connection_closed(self, peer: Peer) -> list[EngineAction]:
        """A stream connection from ``peer`` went away: bindings registered over it, when
        it was a WebSocket (RFC 7118 flow), go with it."""
        if peer.transport not in (TransportName.WS, TransportName.WSS):
            return []
        changes = self.location.flow_closed(format_source(peer.transport, peer.host, peer.port))
        return [Persist(tuple(changes))] if changes else []

    def expire_bindings(self, wall: float) -> list[EngineAction]:
        """Drop the registrations that expired by ``wall``."""
        changes = self.location.expire(wall)
        return [Persist(tuple(changes))] if changes else []

    # -- the event loop of the core ----------------------------------------------------

    def _run(
        self, events: Sequence[CoreEvent | EngineAction], now: float, wall: float
    ) -> list[EngineAction]:
        out: list[EngineAction] = []
        queue: deque[CoreEvent | EngineAction] = deque(events)
        while queue:
            event = queue.popleft()
            if isinstance(event, Send):
                message = event.message
                if self.hiding is not None:
                    try:
                        message = self.hiding.outgoing(message, event.hop.peer)
                    except SipParseError as exc:
                        # Sent as it is, it would show what hiding is for: not sent.
                        out.append(Notice("not sent: cannot hide", (("reason", exc.reason),)))
                        continue
                hop = event.hop
                out.append(
                    Transmit(hop.peer, message.to_bytes(), hop.connection_id, hop.server_name)
                )
                if isinstance(message, Response) and message.status >= 200:
                    self._call_progress(message, now)
                if (
                    self.config.auth.mode is AuthMode.UPSTREAM
                    and isinstance(message, Response)
                    and message.status in (401, 407)
                ):
                    self._upstream_auth.challenge_sent(message, event.hop.peer.host)
            elif isinstance(event, RouteRequest):
                queue.extend(self._route(event, now, wall))
            elif isinstance(event, BranchOutcome):
                out += self._upstream_offence(event, wall)
                out += self.upstreams.branch_outcome(event, now)
            elif isinstance(event, OriginatedResult):
                out += self.upstreams.probe_result(event, now)
            else:
                out.append(event)
        return out

    def _call_progress(self, response: Response, now: float) -> None:
        # The toll-fraud call count: a final answer to an INVITE ends an unanswered call
        # or starts the answered one's longer life (a BYE ends it: _receive_request).
        try:
            if response.cseq.method != "INVITE":
                return
            call_id = response.call_id
        except SipParseError:
            return
        if response.status < 300:
            self.pipeline.call_answered(call_id, now)
        else:
            self.pipeline.call_ended(call_id)

    def _hint_flow(self, key: TransactionKey, flow: Peer) -> None:
        # The connection an in-dialog request goes out by (flows.py), until it is routed.
        self._flow_hints[key] = flow
        while len(self._flow_hints) > MAX_FLOW_HINTS:
            self._flow_hints.popitem(last=False)

    def _route(
        self, event: RouteRequest, now: float, wall: float
    ) -> list[CoreEvent | EngineAction]:
        request = event.request
        flow = self._flow_hints.pop(server_key(request), None) if self._flow_hints else None
        if flow is not None and isinstance(request.uri, SipUri) and event.loose_routed:
            # RFC 7118 §5: back over the WebSocket the dialog's far end is on.
            source = SourceAddress(flow.transport, flow.host, flow.port)
            hop = NextHop(request.uri, source=source)
            waiting = Waiting(event.context, request, [hop], decision=Forward((hop,)))
            return self.targets.start(waiting, now)
        try:
            decision = route_request(
                request,
                mode=self.config.mode,
                identity=self.identity,
                location=self.location,
                upstreams=lambda: self.upstreams.candidates(request, self._rng),
                failover=self.config.dispatcher.failover_statuses,
                now=wall,
                loose_routed=event.loose_routed,
            )
        except SipParseError as exc:
            decision = Answer(exc.status, exc.reason)
        if isinstance(decision, Forward):
            if event.context is None:
                # §16.11: a stateless forward has one target and no failover.
                decision = Forward(decision.hops[:1])
            waiting = Waiting(
                event.context, request, list(decision.hops), decision=decision, source=event.source
            )
            return self.targets.start(waiting, now)
        out: list[CoreEvent | EngineAction] = []
        if isinstance(decision, Register):
            registered, persist = self._register(event, wall)
            out += persist
            if registered is None:
                return out  # answered by ``persisted`` once the store has the changes
            reply = registered
        else:
            reply = local_reply(
                request,
                decision.status,
                decision.reason,
                headers=decision.headers,
                server=self.config.server.server_name,
            )
        if event.context is not None:
            return out + self.core.reply(event.context, reply, now)
        if request.method == "ACK":
            return out  # §17.1.1.3: an ACK is never answered
        return out + self.core.reply_stateless(reply, event.source)

    def _register(
        self, event: RouteRequest, wall: float
    ) -> tuple[Response | None, list[EngineAction]]:
        peer = event.source.peer
        outcome = register(
            event.request,
            self.location,
            config=self.config.registrar,
            domain=self.config.server.domain,
            local_hosts=frozenset(listen.host for listen in self.config.listen),
            source=format_source(peer.transport, peer.host, peer.port),
            now=wall,
        )
        if not outcome.changes:
            return outcome.response, []
        # RFC 3261 §10.3 step 7: visible only once committed (see registering.py).
        token = next(self._tokens)
        pending = PendingRegister(
            event.context, event.source, event.request, outcome.response, outcome.changes
        )
        if not self._registering.hold(token, pending):
            return self._store_failed(event.request), []
        return None, [Persist(outcome.changes, token)]

    def persisted(self, token: int, ok: bool, now: float, wall: float) -> list[EngineAction]:
        """The store wrote (``ok``) or failed to write the changes of ``Persist(token=...)``:
        they become visible and the REGISTER gets its 200, or nothing changes and it gets 500."""
        pending = self._registering.settle(token)
        if pending is None:
            return []
        if ok:
            self.location.apply(pending.changes)
            reply = pending.response
        else:
            reply = self._store_failed(pending.request)
        if pending.context is not None:
            return self._run(self.core.reply(pending.context, reply, now), now, wall)
        return self._run(self.core.reply_stateless(reply, pending.source), now, wall)

    def _store_failed(self, request: Request) -> Response:
        # RFC 3261 §10.3 step 7: a failed commit MUST fail the request with 500.
        return local_reply(
            request, 500, "Server Internal Error", server=self.config.server.server_name
        )

    def _upstream_offence(self, outcome: BranchOutcome, wall: float) -> list[EngineAction]:
        # [auth] mode = "upstream": fail2ban in the path (engine/upstream_auth.py grades it).
        if self.config.auth.mode is not AuthMode.UPSTREAM:
            return []
        offence = self._upstream_auth.offence(outcome)
        if offence is None:
            return []
        self.pipeline.report(offence, wall)
        return new_bans(self.pipeline, self.guard.bans)

    # -- the one place unparsable input is answered ------------------------------------

    def _refuse_unparsable(self, exc: SipParseError, hop: Hop) -> list[EngineAction]:
        partial = exc.partial
        if partial is None or partial.method == "ACK":
            # Not enough to answer (RFC 3261 §8.2: nothing to send a response to), or an
            # ACK, which is never answered: drop.
            self.dropped += 1
            return []
        reply = local_reply(partial, exc.status, exc.reason, server=self.config.server.server_name)
        try:
            sends = self.core.reply_stateless(reply, hop)
        except SipParseError:
            sends = [Send(hop, reply)]  # a Via too broken to route by: back to the sender
        return [
            Transmit(s.hop.peer, s.message.to_bytes(), s.hop.connection_id)
            for s in sends
            if isinstance(s, Send)
        ]


def _starts_something(request: Request) -> bool:
    # While draining, a request outside a dialog would start work we may not finish;
    # ACK, CANCEL and in-dialog requests (a BYE) let running calls end cleanly.
    return request.method not in ("ACK", "CANCEL") and request.to.tag is None
