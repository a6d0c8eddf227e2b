"""The engine: bytes and peers in, actions out. The sans-I/O glue between transport and proxy.

Theory of operation: ``receive`` parses one message, stamps the top Via (RFC 3581),
hands it to the proxy core and carries out what the core asks: routing decisions
(``proxy/router.py``), the registrar, upstream health, probes. What it cannot do
without I/O it returns as actions for ``server.py``: ``Transmit`` bytes, ``Persist``
binding changes, ``Resolve`` host names (the answer comes back through ``resolved``),
``Notice`` an event worth a log line.

Rules of this file: no sockets, no clock (``now`` is monotonic, ``wall`` is UNIX time
for registrations), no module state. This is THE place where a parse error or a
refusal becomes a response or a silent drop: nothing else answers for a malformed
message.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sipguard.config import Config, Mode, TransportName
from sipguard.guard import (
    AuthMode,
    AuthStage,
    BanList,
    BanOrder,
    CallTable,
    Drop,
    GuardContext,
    GuardState,
    JailPolicy,
    JailTable,
    MemorySink,
    NonceCounts,
    NonceFactory,
    Offence,
    OffenceKind,
    Pass,
    Pipeline,
    Reject,
    SecurityEvent,
    TokenBuckets,
    UserView,
    new_sighting_table,
    standard_stages,
)
from sipguard.guard.acl import CidrSet, ip_set, source_address
from sipguard.guard.digest import Algorithm as DigestAlgorithm
from sipguard.proxy.balancer import Balancer, Target
from sipguard.proxy.core import ProxyCore
from sipguard.proxy.destination import destination_of
from sipguard.proxy.events import (
    BranchOutcome,
    BranchTarget,
    CoreEvent,
    Hop,
    OriginatedResult,
    RouteRequest,
    Send,
)
from sipguard.proxy.health import FailureReason, HealthEvent, TargetWentDown, response_failure
from sipguard.proxy.identity import LocalIdentity, address_family, normalize_ip
from sipguard.proxy.location import Location
from sipguard.proxy.probe import ProbeSchedule, build_probe
from sipguard.proxy.registrar import register
from sipguard.proxy.replies import local_reply, local_tag
from sipguard.proxy.router import Answer, Forward, NextHop, Register, route_request
from sipguard.proxy.topology import PARAM as HIDDEN_PARAM
from sipguard.proxy.topology import USER_PREFIX as HIDDEN_USER
from sipguard.proxy.topology import TopologyHider
from sipguard.proxy.via import stamp_received
from sipguard.sip import Request, Response, SipParseError, SipUri, Uri, parse_message, server_key
from sipguard.store.base import BindingChange, format_source
from sipguard.transport.base import Inbound, Peer, SendFailed
from sipguard.transport.srv import DEFAULT_PORTS

__all__ = [
    "Engine",
    "EngineAction",
    "GuardSetup",
    "Notice",
    "Persist",
    "PersistBan",
    "Resolve",
    "Transmit",
    "guard_pipeline",
]

MAX_RATE_KEYS = 262_144
"""Token buckets kept at once (LRU): a spoofed flood cannot grow them further."""
MAX_REMEMBERED_NONCES = 65_536
"""Upstream challenges remembered, by (client address, nonce) (LRU)."""
MAX_REMEMBERED_DIALOGS = 65_536
"""Call-IDs whose answering upstream is kept for UAs that ignore Record-Route (LRU)."""


@dataclass(frozen=True, slots=True)
class Transmit:
    """Send ``data`` to ``dest`` (on ``connection_id`` when it is still open)."""

    dest: Peer
    data: bytes
    connection_id: int | None = None


@dataclass(frozen=True, slots=True)
class Persist:
    """Write these binding changes to the location store, in order."""

    changes: tuple[BindingChange, ...]


@dataclass(frozen=True, slots=True)
class Resolve:
    """Resolve ``uri`` (RFC 3263) and call ``Engine.resolved(token, peers, ...)``."""

    token: int
    uri: SipUri


@dataclass(frozen=True, slots=True)
class PersistBan:
    """Write this ban to the ban store (it is in force in memory already)."""

    order: BanOrder


@dataclass(frozen=True, slots=True)
class Notice:
    """Something worth one log line (an upstream went down, a message was refused)."""

    event: str
    fields: tuple[tuple[str, str], ...] = ()


EngineAction = Transmit | Persist | PersistBan | Resolve | Notice


@dataclass(slots=True)
class _Waiting:
    """A routing decision waiting for names to resolve."""

    context: int | None  # None: a stateless forward (ACK for 2xx) or a probe
    request: Request | None
    hops: list[NextHop]
    resolved: dict[int, list[Peer]] = field(default_factory=dict)
    decision: Forward | None = None
    probe: Target | None = None


class _NoUsers:
    """A user view with nobody in it (an engine built without a user store)."""

    def ha1(self, user: str, realm: str, algorithm: DigestAlgorithm) -> str | None:
        return None


class _RecordingSink(MemorySink):
    """Keeps the last security events and the bans ordered since the last drain."""

    def __init__(self) -> None:
        super().__init__()
        self.new_bans: list[SecurityEvent] = []

    def emit(self, event: SecurityEvent) -> None:
        super().emit(event)
        if event.action == "ban":
            self.new_bans.append(event)


@dataclass(slots=True)
class GuardSetup:
    """What the guards need from outside: the users, the nonce secret, restored bans."""

    users: UserView
    nonce_secret: bytes
    bans: BanList = field(default_factory=BanList)


def guard_pipeline(config: Config, identity: LocalIdentity, setup: GuardSetup) -> Pipeline:
    """The guard pipeline of ``config``: its stages (guard/stages.py) over fresh tables."""
    realm = config.auth.realm or config.server.domain
    # Phones often name the server by its address ("1001@192.0.2.10"): our listener
    # addresses are ours in From/To as much as the domain is.
    hosts = tuple(listener.host for listener in identity.listeners)
    policy = dataclasses.replace(config.auth, domains=(*config.auth.domains, *hosts))
    auth = AuthStage(policy, setup.users, NonceFactory(setup.nonce_secret), realm)
    # Trusted peers are never banned (issue 5): the jails ignore them.
    jail_policy = JailPolicy(
        config.jail.jails, config.jail.ipv6_prefix, (*config.jail.ignore, *config.acl.trusted)
    )
    state = GuardState(
        bans=setup.bans,
        rates=TokenBuckets(MAX_RATE_KEYS),
        nonces=NonceCounts(),
        jails=JailTable(jail_policy),
        sightings=new_sighting_table(config.scanner),
        calls=CallTable(
            ring_seconds=config.fraud.ring_seconds, max_call_seconds=config.fraud.max_call_seconds
        ),
    )

    def is_local(uri: Uri) -> bool:
        # Edge mode: everything goes to the PBX set, which counts as local (issue 5, 8).
        if config.mode is Mode.EDGE:
            return True
        return isinstance(uri, SipUri) and identity.is_local_uri(uri)

    stages = standard_stages(
        sanity=config.sanity,
        acl=config.acl,
        scanner=config.scanner,
        ratelimit=config.ratelimit,
        auth=auth,
        relay=config.relay,
        fraud=config.fraud,
        is_local=is_local,
    )
    return Pipeline(stages, state, _RecordingSink())


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
        self.guard = guard or GuardSetup(_NoUsers(), bytes(32))
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
        self.balancer = Balancer(config.upstream, config.dispatcher) if config.upstream else None
        targets = self.balancer.targets if self.balancer else ()
        self.probes = ProbeSchedule(targets, config.dispatcher.probe_interval, start=now)
        self.supported = frozenset(
            t for t in (listen.transport for listen in config.listen) if t in ("udp", "tcp")
        )
        self._tokens = itertools.count(1)
        self._waiting: dict[int, _Waiting] = {}
        self._dialogs: OrderedDict[str, Target] = OrderedDict()
        self._relayed_nonces: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.hider, self.inside = _topology(config, identity, self.guard.nonce_secret)
        self.dropped = 0
        self.draining = False
        """Shutting down: new requests are refused with 503; dialogs already up go on."""

    def reconfigure(self, config: Config, now: float) -> None:
        """Take a reloaded policy (listeners excepted: they need a restart)."""
        if config.upstream != self.config.upstream or config.dispatcher != self.config.dispatcher:
            self.balancer = (
                Balancer(config.upstream, config.dispatcher) if config.upstream else None
            )
            targets = self.balancer.targets if self.balancer else ()
            self.probes = ProbeSchedule(targets, config.dispatcher.probe_interval, start=now)
        self.pipeline = guard_pipeline(config, self.identity, self.guard)
        self.hider, self.inside = _topology(config, self.identity, self.guard.nonce_secret)
        self.core.record_route = config.server.record_route
        self.core.server_name = config.server.server_name
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
            if self.hider is not None and _may_hide(inbound.data):
                message = self.hider.reveal(message)
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
            verified=inbound.peer.transport != TransportName.UDP,
        )
        decision = self.pipeline.decide(request, ctx)
        bans = self._new_bans()
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

    def _new_bans(self) -> list[EngineAction]:
        sink = self.pipeline.audit
        if not isinstance(sink, _RecordingSink) or not sink.new_bans:
            return []
        out: list[EngineAction] = []
        for event in sink.new_bans:
            order = self.guard.bans.get(event.source)
            if order is not None:
                out.append(PersistBan(order))
            fields = (("source", event.source), ("jail", event.stage), ("detail", event.detail))
            out.append(Notice("banned", fields))
        sink.new_bans.clear()
        return out

    def send_failed(self, failed: SendFailed, now: float, wall: float) -> list[EngineAction]:
        """The transport could not deliver to ``failed.dest``."""
        hop = Hop(failed.dest, failed.connection_id)
        return self._run(self.core.transport_failed(hop, now), now, wall)

    def resolved(
        self, token: int, peers: Sequence[Peer], now: float, wall: float
    ) -> list[EngineAction]:
        """The answer to a ``Resolve``: the peers to try (empty when nothing resolved)."""
        waiting = self._waiting.get(token)
        if waiting is None:
            return []
        index = next(i for i, hop in enumerate(waiting.hops) if i not in waiting.resolved)
        waiting.resolved[index] = list(peers)
        if len(waiting.resolved) < len(waiting.hops):
            return [self._next_resolve(token, waiting)]
        del self._waiting[token]
        return self._run(self._dispatch(waiting, now), now, wall)

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` must next run (None: nothing scheduled)."""
        deadlines = [d for d in (self.core.next_deadline(), self.probes.next_deadline()) if d]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float, wall: float) -> list[EngineAction]:
        """Fire the transaction timers and the probes that are due."""
        out = self._run(self.core.handle_timer(now), now, wall)
        for target in self.probes.due(now):
            out += self._probe(target, now, wall)
        return out

    def expire_bindings(self, wall: float) -> list[EngineAction]:
        """Drop the registrations that expired by ``wall``."""
        changes = self.location.expire(wall)
        return [Persist(tuple(changes))] if changes else []

    # -- the event loop of the core ----------------------------------------------------

    def _run(self, events: list[CoreEvent], now: float, wall: float) -> list[EngineAction]:
        out: list[EngineAction] = []
        queue: deque[CoreEvent | EngineAction] = deque(events)
        while queue:
            event = queue.popleft()
            if isinstance(event, Send):
                message = event.message
                if self.hider is not None and not self._is_inside(event.hop.peer):
                    try:
                        message = self.hider.hide(message, event.hop.peer)
                    except SipParseError as exc:
                        # Sent as it is, it would show what hiding is for: not sent.
                        out.append(Notice("not sent: cannot hide", (("reason", exc.reason),)))
                        continue
                out.append(Transmit(event.hop.peer, message.to_bytes(), event.hop.connection_id))
                if isinstance(message, Response) and message.status >= 200:
                    self._call_progress(message, now)
                if (
                    self.config.auth.mode is AuthMode.UPSTREAM
                    and isinstance(message, Response)
                    and message.status in (401, 407)
                ):
                    self._remember_challenge(message, event.hop.peer.host)
            elif isinstance(event, RouteRequest):
                queue.extend(self._route(event, now, wall))
            elif isinstance(event, BranchOutcome):
                out += self._upstream_auth(event, wall)
                out += self._health(event, now)
            elif isinstance(event, OriginatedResult):
                out += self._probe_result(event, now)
            else:
                out.append(event)
        return out

    def _is_inside(self, peer: Peer) -> bool:
        return source_address(peer.host) in self.inside

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

    def _route(
        self, event: RouteRequest, now: float, wall: float
    ) -> list[CoreEvent | EngineAction]:
        request = event.request
        try:
            decision = route_request(
                request,
                mode=self.config.mode,
                identity=self.identity,
                location=self.location,
                upstreams=lambda: self._upstreams(request),
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
            waiting = _Waiting(event.context, request, list(decision.hops), decision=decision)
            return self._resolve_or_dispatch(waiting, now)
        out: list[CoreEvent | EngineAction] = []
        if isinstance(decision, Register):
            reply, persist = self._register(event, wall)
            out += persist
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

    def _register(self, event: RouteRequest, wall: float) -> tuple[Response, list[EngineAction]]:
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
        # The in-memory index is authoritative at once; the store follows (write-behind).
        self.location.apply(outcome.changes)
        return outcome.response, [Persist(outcome.changes)]

    # -- targets: names to peers -------------------------------------------------------

    def _resolve_or_dispatch(self, waiting: _Waiting, now: float) -> list[CoreEvent | EngineAction]:
        for index, hop in enumerate(waiting.hops):
            peer = self._direct_peer(hop)
            if peer is not None:
                waiting.resolved[index] = [peer]
        if len(waiting.resolved) == len(waiting.hops):
            return list(self._dispatch(waiting, now))
        token = next(self._tokens)
        self._waiting[token] = waiting
        return [self._next_resolve(token, waiting)]

    def _next_resolve(self, token: int, waiting: _Waiting) -> Resolve:
        index = next(i for i in range(len(waiting.hops)) if i not in waiting.resolved)
        return Resolve(token, waiting.hops[index].uri)

    def _direct_peer(self, hop: NextHop) -> Peer | None:
        if hop.source is not None:
            return Peer(TransportName(hop.source.transport), hop.source.host, hop.source.port)
        dest = destination_of(hop.uri)
        if dest.transport is None or normalize_ip(dest.host) is None:
            return None  # RFC 3263: NAPTR/SRV/A decide
        port = dest.port if dest.port is not None else DEFAULT_PORTS[dest.transport]
        return Peer(dest.transport, dest.host, port)

    def _dispatch(self, waiting: _Waiting, now: float) -> list[CoreEvent]:
        if waiting.probe is not None:
            peers = waiting.resolved.get(0, [])
            return self._send_probe(waiting.probe, peers[0], now) if peers else []
        targets = [
            BranchTarget(Hop(peer), hop.request_uri, hop.routes, hop.tag)
            for index, hop in enumerate(waiting.hops)
            for peer in waiting.resolved.get(index, [])[:1]
        ]
        decision = waiting.decision
        if waiting.context is None:
            if targets and waiting.request is not None:
                return self.core.forward_stateless(waiting.request, targets[0])
            return []
        if not targets:
            reply = (
                local_reply(waiting.request, 503, "Next Hop Not Resolvable")
                if waiting.request
                else None
            )
            return self.core.reply(waiting.context, reply, now) if reply else []
        assert decision is not None  # noqa: S101 - set for every forward
        return self.core.forward(
            waiting.context,
            targets,
            now,
            sequential=decision.sequential,
            failover=decision.failover,
        )

    # -- upstream health and probes ----------------------------------------------------

    def _upstreams(self, request: Request) -> Sequence[Target]:
        if self.balancer is None:
            return ()
        upstreams = self.balancer.candidates(request.call_id, self._rng)
        if request.to.tag is not None:
            return self._dialog_first(request.call_id, upstreams)
        return upstreams

    def _dialog_first(self, call_id: str, upstreams: Sequence[Target]) -> Sequence[Target]:
        # A UA that ignores Record-Route sends in-dialog requests to us, not to the PBX
        # that answered: they go to that PBX first (the one its INVITE's 2xx came from).
        target = self._dialogs.get(call_id)
        if target is None or target not in upstreams:
            return upstreams
        return (target, *(t for t in upstreams if t is not target))

    def _remember_dialog(self, call_id: str, target: Target) -> None:
        self._dialogs[call_id] = target
        self._dialogs.move_to_end(call_id)
        if len(self._dialogs) > MAX_REMEMBERED_DIALOGS:
            self._dialogs.popitem(last=False)

    def _remember_challenge(self, challenge: Response, host: str) -> None:
        # Upstream auth: the nonce of a challenge we carried to ``host``. Credentials that
        # come back from there with it prove the address receives our packets (it read
        # the challenge), so the PBX refusing them is verified evidence for the jails.
        try:
            values = (*challenge.www_authenticate, *challenge.proxy_authenticate)
        except SipParseError:
            return
        for value in values:
            nonce = value.params.get("nonce")
            if nonce:
                self._relayed_nonces[(host, nonce)] = None
                self._relayed_nonces.move_to_end((host, nonce))
        while len(self._relayed_nonces) > MAX_REMEMBERED_NONCES:
            self._relayed_nonces.popitem(last=False)

    def _upstream_auth(self, outcome: BranchOutcome, wall: float) -> list[EngineAction]:
        # [auth] mode = "upstream": fail2ban in the path. A request that carried
        # credentials and is answered 401, 407 or 403 is an authentication failure.
        request, source = outcome.request, outcome.source
        if (
            self.config.auth.mode is not AuthMode.UPSTREAM
            or outcome.status not in (401, 403, 407)
            or request is None
            or source is None
        ):
            return []
        try:
            credentials = (*request.authorization, *request.proxy_authorization)
        except SipParseError:
            credentials = ()
        if not credentials:
            return []  # the first challenge of a login, not a failure
        host = source.peer.host
        nonce = credentials[0].params.get("nonce", "")
        verified = source.reliable or (host, nonce) in self._relayed_nonces
        self.pipeline.report(Offence(OffenceKind.AUTH_FAILURE, host, verified), wall)
        return self._new_bans()

    def _health(self, outcome: BranchOutcome, now: float) -> list[EngineAction]:
        target = outcome.tag
        if self.balancer is None or not isinstance(target, Target):
            return []
        forwarded = outcome.request
        if forwarded is not None and forwarded.method == "INVITE" and 200 <= outcome.status < 300:
            self._remember_dialog(forwarded.call_id, target)
        if outcome.timed_out:
            event = self.balancer.mark(target, False, now, reason=FailureReason.TIMEOUT)
        elif outcome.transport_failed:
            event = self.balancer.mark(target, False, now, reason=FailureReason.TRANSPORT_ERROR)
        else:
            reason = response_failure(outcome.status, self.config.dispatcher.failover_statuses)
            ok = reason is None
            event = self.balancer.mark(target, ok, now, reason=reason or FailureReason.FAILED)
        return _health_notice(event)

    def _probe(self, target: Target, now: float, wall: float) -> list[EngineAction]:
        waiting = _Waiting(None, None, [NextHop(target.uri, tag=target)], probe=target)
        return self._run(self._resolve_or_dispatch(waiting, now), now, wall)  # type: ignore[arg-type]

    def _send_probe(self, target: Target, peer: Peer, now: float) -> list[CoreEvent]:
        host, port = self.identity.sent_by(peer.transport, address_family(peer.host))
        local = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        request = build_probe(
            target.uri,
            local=local,
            transport=peer.transport,
            branch="z9hG4bK" + self._unique(),
            call_id=self._unique(),
            from_tag=self._unique()[:10],
            domain=self.config.server.domain,
            server_name=self.config.server.server_name,
        )
        return self.core.originate(request, Hop(peer), target, now)

    def _probe_result(self, result: OriginatedResult, now: float) -> list[EngineAction]:
        target = result.tag
        if self.balancer is None or not isinstance(target, Target):
            return []
        if self.probes.in_flight(target):
            self.probes.finished(target)
        if result.response is None:
            why = (
                FailureReason.TRANSPORT_ERROR if result.transport_failed else FailureReason.TIMEOUT
            )
            event = self.balancer.mark(target, False, now, reason=why)
        else:
            reason = response_failure(result.response.status)
            event = self.balancer.mark(
                target, reason is None, now, reason=reason or FailureReason.FAILED
            )
        return _health_notice(event)

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


def _topology(
    config: Config, identity: LocalIdentity, secret: bytes
) -> tuple[TopologyHider | None, CidrSet]:
    """The hider and the inside networks, when ``[topology] hide`` is on."""
    policy = config.topology
    if not policy.hide:
        return None, CidrSet([])
    inside = policy.inside or tuple(
        str(ip) for up in config.upstream if (ip := normalize_ip(up.uri.host_bare)) is not None
    )
    return TopologyHider(secret, identity), ip_set(inside, "topology.inside")


def _may_hide(data: bytes) -> bool:
    # The cheap test that keeps unhidden traffic off the token code.
    return HIDDEN_PARAM.encode() in data or HIDDEN_USER.encode() in data


def _starts_something(request: Request) -> bool:
    # While draining, a request outside a dialog would start work we may not finish;
    # ACK, CANCEL and in-dialog requests (a BYE) let running calls end cleanly.
    return request.method not in ("ACK", "CANCEL") and request.to.tag is None


def _health_notice(event: HealthEvent[Target] | None) -> list[EngineAction]:
    if event is None:
        return []
    name = "upstream down" if isinstance(event, TargetWentDown) else "upstream up"
    fields = [("uri", str(event.target.uri))]
    if isinstance(event, TargetWentDown):
        fields.append(("reason", str(event.reason)))
    return [Notice(name, tuple(fields))]
