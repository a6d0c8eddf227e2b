"""An in-memory stage for ``ProxyCore``: a caller, downstream UASs and a fake clock.

In the manner of h11's ``ConnectionPair``: the ``Stage`` plays the engine (it carries
out ``Send`` by putting the message, re-parsed from its bytes, on a per-hop wire;
answers ``RouteRequest`` with the targets the test chose), the caller (requests built
as literal bytes) and every downstream UAS (``reply_from`` answers the request that
reached a hop by copying its Via lines, From, To plus a tag, Call-ID and CSeq). Time
only moves when the test says so; every loop is bounded ("Too many timer fires!").
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sipguard.config import TransportName
from sipguard.proxy.core import ProxyCore
from sipguard.proxy.events import (
    BranchOutcome,
    BranchTarget,
    CoreEvent,
    Hop,
    OriginatedResult,
    RouteRequest,
    Send,
)
from sipguard.proxy.identity import ListenAddress, LocalIdentity
from sipguard.sip import Request, Response, TimerConfig, parse_message
from sipguard.transport.base import Peer
from tests.helpers.sipmsg import REQUEST_URI, Headers, assemble, parse_request, request
from tests.helpers.transactions import FakeClock

MAX_TIMER_FIRES = 2_000
MAX_EVENTS = 1_000

T = TransportName
ME = LocalIdentity(
    "sipguard.test",
    (ListenAddress(T.UDP, "192.0.2.1", 5060), ListenAddress(T.TCP, "192.0.2.1", 5060)),
)
CALLER = Hop(Peer(T.UDP, "198.51.100.7", 5060))
CALLER_TCP = Hop(Peer(T.TCP, "198.51.100.7", 40001), connection_id=7)
UAS_A = Hop(Peer(T.UDP, "203.0.113.10", 5060))
UAS_B = Hop(Peer(T.UDP, "203.0.113.11", 5060))
UAS_C = Hop(Peer(T.UDP, "203.0.113.12", 5060))
CALLER_BRANCH = "z9hG4bKcaller1"
TIMERS = TimerConfig()
"""RFC defaults: T1 0.5 s (Timer B 32 s), Timer C 180 s; the clock is virtual."""

Message = Request | Response


def via_of(hop: Hop, branch: str) -> str:
    """A Via value naming ``hop`` as the sender."""
    peer = hop.peer
    return f"SIP/2.0/{peer.transport.value.upper()} {peer.host}:{peer.port};branch={branch}"


def caller_request(
    method: str = "INVITE",
    *,
    hop: Hop = CALLER,
    branch: str = CALLER_BRANCH,
    uri: str = REQUEST_URI,
    headers: Headers | None = None,
) -> Request:
    """A request from the caller at ``hop`` (sipmsg's defaults: Alice calls Bob)."""
    merged: dict[str, str | Sequence[str] | None] = {
        "Via": via_of(hop, branch),
        "CSeq": f"314159 {method}",
    }
    merged.update(headers or {})
    return parse_request(request(method, uri, merged))


def same_hop_request(original: Request, method: str, to: str | None = None) -> Request:
    """A CANCEL (or the ACK of a non-2xx, with the response's ``to``) for ``original``:
    its top Via, Request-URI, From, Call-ID and CSeq number (RFC 3261 §9.1, §17.1.1.3)."""
    lines = [
        f"Via: {original.get_all('Via')[0]}",
        "Max-Forwards: 70",
        f"From: {original.get('From')}",
        f"To: {to if to is not None else original.get('To')}",
        f"Call-ID: {original.call_id}",
        f"CSeq: {original.cseq.seq} {method}",
        "Content-Length: 0",
    ]
    return parse_request(assemble(f"{method} {original.uri} SIP/2.0", lines))


def answer(req: Request, status: int, *, tag: str | None = "callee", reason: str = "") -> Response:
    """What a UAS sends back for ``req``: its Via lines, From, To (+``tag`` unless a
    100 or already tagged), Call-ID and CSeq, as literal bytes."""
    to = req.get("To") or ""
    if tag is not None and status > 100 and req.to.tag is None:
        to = f"{to};tag={tag}"
    lines = [f"Via: {value}" for value in req.get_all("Via")]
    lines += [
        f"From: {req.get('From')}",
        f"To: {to}",
        f"Call-ID: {req.call_id}",
        f"CSeq: {req.get('CSeq')}",
        "Content-Length: 0",
    ]
    message = parse_message(assemble(f"SIP/2.0 {status} {reason or 'Whatever'}", lines))
    assert isinstance(message, Response)
    return message


def statuses(messages: Iterable[Message]) -> list[int]:
    """The status of each response (requests left out)."""
    return [m.status for m in messages if isinstance(m, Response)]


def methods(messages: Iterable[Message]) -> list[str]:
    """The method of each request (responses left out)."""
    return [m.method for m in messages if isinstance(m, Request)]


def target(hop: Hop, tag: object = None) -> BranchTarget:
    """A target that keeps the Request-URI and names ``hop`` (its tag defaults to it)."""
    return BranchTarget(hop, tag=tag if tag is not None else hop)


@dataclass
class Stage:
    """A ``ProxyCore`` on 192.0.2.1:5060 with everything around it played in memory."""

    core: ProxyCore
    clock: FakeClock
    targets: list[BranchTarget]
    sequential: bool = True
    failover: frozenset[int] = frozenset()
    auto_route: bool = True
    wire: dict[Hop, list[Message]] = field(default_factory=dict)
    """What was sent to each hop and not ``take``n yet."""
    log: list[tuple[float, Hop, Message]] = field(default_factory=list)
    """Everything ever sent, in order."""
    routes: list[RouteRequest] = field(default_factory=list)
    outcomes: list[BranchOutcome] = field(default_factory=list)
    outcome_requests: list[Request | None] = field(default_factory=list)
    results: list[OriginatedResult] = field(default_factory=list)

    @property
    def now(self) -> float:
        return self.clock.now

    # -- the engine's part ---------------------------------------------------------

    def feed(self, events: Iterable[CoreEvent]) -> None:
        """Carry out ``events`` (and what routing them produces), like ``Engine._run``."""
        queue: deque[CoreEvent] = deque(events)
        for _ in range(MAX_EVENTS):
            if not queue:
                return
            event = queue.popleft()
            if isinstance(event, Send):
                # What the peer gets is the bytes: re-parse them, as the wire would.
                message = parse_message(event.message.to_bytes())
                self.wire.setdefault(event.hop, []).append(message)
                self.log.append((self.now, event.hop, message))
            elif isinstance(event, RouteRequest):
                self.routes.append(event)
                if self.auto_route:
                    queue.extend(self._decide(event))
            elif isinstance(event, BranchOutcome):
                # Compared without the forwarded request; that one is kept apart.
                self.outcome_requests.append(event.request)
                self.outcomes.append(dataclasses.replace(event, request=None, source=None))
            else:
                self.results.append(event)
        raise AssertionError("Too many core events!")

    def _decide(self, event: RouteRequest) -> list[CoreEvent]:
        if event.context is None:
            if not self.targets:
                return []
            return self.core.forward_stateless(event.request, self.targets[0])
        return self.forward_events(event.context, self.targets)

    def forward_events(self, context: int, targets: Sequence[BranchTarget]) -> list[CoreEvent]:
        """``ProxyCore.forward`` with the stage's mode and failover set."""
        return self.core.forward(
            context, targets, self.now, sequential=self.sequential, failover=self.failover
        )

    def forward(self, context: int, targets: Sequence[BranchTarget] | None = None) -> None:
        """Answer a held ``RouteRequest`` (``auto_route=False``) with ``targets``."""
        self.feed(self.forward_events(context, self.targets if targets is None else targets))

    # -- the network's part ----------------------------------------------------------

    def from_caller(self, message: Request, hop: Hop = CALLER) -> None:
        """A request arrives from the caller's side."""
        self.feed(self.core.receive_request(message, hop, self.now))

    def from_downstream(self, hop: Hop, message: Message) -> None:
        """A message arrives from a downstream hop."""
        if isinstance(message, Response):
            self.feed(self.core.receive_response(message, hop, self.now))
        else:
            self.feed(self.core.receive_request(message, hop, self.now))

    def reply_from(
        self,
        hop: Hop,
        status: int,
        *,
        to: Request | None = None,
        method: str = "INVITE",
        tag: str | None = None,
    ) -> Response:
        """The UAS at ``hop`` answers ``to`` (default: the last ``method`` it got)."""
        req = to if to is not None else self.last_request(hop, method)
        response = answer(req, status, tag=tag if tag is not None else f"t{hop.peer.host}")
        self.from_downstream(hop, response)
        return response

    def last_request(self, hop: Hop, method: str = "INVITE") -> Request:
        """The last ``method`` request ever sent to ``hop``."""
        for _, sent_to, message in reversed(self.log):
            if sent_to == hop and isinstance(message, Request) and message.method == method:
                return message
        raise AssertionError(f"no {method} was sent to {hop}")

    def take(self, hop: Hop) -> list[Message]:
        """What was sent to ``hop`` since the last ``take``."""
        return self.wire.pop(hop, [])

    def sent_to(self, hop: Hop) -> list[Message]:
        """Everything ever sent to ``hop``."""
        return [message for _, sent_to, message in self.log if sent_to == hop]

    # -- time ------------------------------------------------------------------------

    def run_timers(self, until: float | None = None) -> None:
        """Fire the core's timers in order until none is left (or the next is after
        ``until``, and the clock then stands at ``until``)."""
        for _ in range(MAX_TIMER_FIRES):
            deadline = self.core.next_deadline()
            if deadline is None or (until is not None and deadline > until):
                if until is not None:
                    self.clock.to(max(self.now, until))
                return
            self.clock.to(max(self.now, deadline))
            self.feed(self.core.handle_timer(self.now))
        raise AssertionError("Too many timer fires!")

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass, firing what falls due on the way."""
        self.run_timers(until=self.now + seconds)

    @property
    def idle(self) -> bool:
        """No transaction left and nothing waiting for an answer."""
        return self.core.transactions == (0, 0) and self.core.unanswered == 0


def make_stage(  # noqa: PLR0913 - each keyword is one knob a test turns
    targets: Sequence[Hop | BranchTarget] = (UAS_A,),
    *,
    timers: TimerConfig = TIMERS,
    sequential: bool = True,
    failover: Iterable[int] = (),
    auto_route: bool = True,
    record_route: bool = True,
) -> Stage:
    """A stage whose routing answers every request with ``targets``."""
    counter = itertools.count(1)
    core = ProxyCore(ME, timers, lambda: f"u{next(counter)}", record_route=record_route)
    chosen = [t if isinstance(t, BranchTarget) else target(t) for t in targets]
    return Stage(
        core,
        FakeClock(),
        chosen,
        sequential=sequential,
        failover=frozenset(failover),
        auto_route=auto_route,
    )
