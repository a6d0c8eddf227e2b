"""Routing decisions to sends: next hops resolved to peers, then forwarded or refused.

Theory of operation: a ``Forward`` decision names next hops (URIs, or the flow a request
came on). Hops that are IP addresses with a transport, and flows, have their peer at once;
the others wait for RFC 3263 resolution, which the engine asks the server for with
``Resolve`` and hands back through ``resolved``. Once every hop has its peers, the request
is forwarded by the proxy core (stateful or stateless), answered 503 when no hop can be
reached, or 480 when a sips: request could only leave over plaintext (RFC 5630). Upstream
probes take the same road.

Rules of this file: sans-I/O (the core does the sending), no clock (``now`` is passed),
the only state is the table of decisions waiting for names.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sipguard.config import Config, TransportName
from sipguard.engine.actions import EngineAction, Resolve
from sipguard.proxy.balancer import Target
from sipguard.proxy.core import ProxyCore
from sipguard.proxy.destination import destination_of
from sipguard.proxy.events import BranchTarget, CoreEvent, Hop
from sipguard.proxy.identity import LocalIdentity, address_family, normalize_ip
from sipguard.proxy.probe import build_probe
from sipguard.proxy.replies import local_reply
from sipguard.proxy.router import Forward, NextHop
from sipguard.proxy.sips import secure_targets, sips_refusal
from sipguard.sip import Request
from sipguard.transport.base import Peer
from sipguard.transport.srv import DEFAULT_PORTS

__all__ = ["Targets", "Waiting"]


@dataclass(slots=True)
class Waiting:
    """A routing decision waiting for names to resolve."""

    context: int | None  # None: a stateless forward (ACK for 2xx) or a probe
    request: Request | None
    hops: list[NextHop]
    resolved: dict[int, list[Peer]] = field(default_factory=dict)
    decision: Forward | None = None
    probe: Target | None = None
    source: Hop | None = None
    """Where the request came from (a stateless refusal goes back there)."""


class Targets:
    """Next hops to peers, then to the proxy core."""

    def __init__(
        self, core: ProxyCore, identity: LocalIdentity, config: Config, unique: Callable[[], str]
    ) -> None:
        self.core = core
        self.identity = identity
        self.config = config
        """The policy in force (``Engine.reconfigure`` replaces it)."""
        self._unique = unique
        self._tokens = itertools.count(1)
        self._waiting: dict[int, Waiting] = {}

    def start(self, waiting: Waiting, now: float) -> list[CoreEvent | EngineAction]:
        """Forward (or refuse) ``waiting`` now when every hop is an address, else ask to
        resolve the first name (``Resolve``; the answer comes back through ``resolved``)."""
        for index, hop in enumerate(waiting.hops):
            peer = self._direct_peer(hop)
            if peer is not None:
                waiting.resolved[index] = [peer]
        if len(waiting.resolved) == len(waiting.hops):
            return list(self._dispatch(waiting, now))
        token = next(self._tokens)
        self._waiting[token] = waiting
        return [self._next_resolve(token, waiting)]

    def _next_resolve(self, token: int, waiting: Waiting) -> Resolve:
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

    def _dispatch(self, waiting: Waiting, now: float) -> list[CoreEvent]:
        if waiting.probe is not None:
            peers = waiting.resolved.get(0, [])
            return self._send_probe(waiting.probe, peers[0], now) if peers else []
        targets = [
            BranchTarget(Hop(peer, server_name=_name_of(hop)), hop.request_uri, hop.routes, hop.tag)
            for index, hop in enumerate(waiting.hops)
            for peer in waiting.resolved.get(index, [])[:1]
        ]
        # A target we hold no listener for (its transport, or its IP family: a Route or a
        # Request-URI can name anything) cannot be sent to: as if it did not resolve.
        targets = [t for t in targets if self._can_send(t.hop.peer)]
        decision = waiting.decision
        if waiting.request is not None and targets:
            allowed = secure_targets(waiting.request, targets)
            if not allowed:
                return self._refuse_downgrade(waiting, now)
            targets = allowed
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

    def _can_send(self, peer: Peer) -> bool:
        try:
            self.identity.sent_by(peer.transport, address_family(peer.host))
        except ValueError:
            return False
        return True

    def _refuse_downgrade(self, waiting: Waiting, now: float) -> list[CoreEvent]:
        request = waiting.request
        assert request is not None  # noqa: S101 - only called with a request
        reply = sips_refusal(request, self.config.server.domain, self.config.server.server_name)
        if waiting.context is not None:
            return self.core.reply(waiting.context, reply, now)
        if waiting.source is None or request.method == "ACK":
            return []  # an ACK is never answered (§17.1.1.3)
        return self.core.reply_stateless(reply, waiting.source)  # stateless mode (§16.11)

    def resolved(
        self, token: int, peers: Sequence[Peer], now: float
    ) -> list[CoreEvent | EngineAction]:
        """The answer to a ``Resolve``: the peers to try (empty when nothing resolved)."""
        waiting = self._waiting.get(token)
        if waiting is None:
            return []
        index = next(i for i, hop in enumerate(waiting.hops) if i not in waiting.resolved)
        waiting.resolved[index] = list(peers)
        if len(waiting.resolved) < len(waiting.hops):
            return [self._next_resolve(token, waiting)]
        del self._waiting[token]
        return list(self._dispatch(waiting, now))

    def probe(self, target: Target, now: float) -> list[CoreEvent | EngineAction]:
        """An OPTIONS probe to ``target`` (an upstream), by the same road as a request."""
        return self.start(Waiting(None, None, [NextHop(target.uri, tag=target)], probe=target), now)

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


def _name_of(hop: NextHop) -> str | None:
    # The host name a TLS upstream's certificate must carry (RFC 5922 §7.1: the
    # domain of the URI that was resolved); an IP literal is checked as an address.
    host = hop.uri.host_bare
    return None if normalize_ip(host) is not None else host
