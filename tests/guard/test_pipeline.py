"""The pipeline runner: order, first non-pass wins, effects applied once, audit, bans."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sipguard.config import TransportName
from sipguard.guard import (
    BanOrder,
    Consume,
    Drop,
    GuardContext,
    GuardState,
    MemorySink,
    Offence,
    OffenceKind,
    Outcome,
    Pass,
    Pipeline,
    Reason,
    Reject,
    Sighting,
    UseNonce,
)
from sipguard.guard.calls import CallTable
from sipguard.sip import Request
from sipguard.transport.base import Peer
from tests.helpers.sipmsg import parse_request, request

SOURCE = Peer(TransportName.UDP, "203.0.113.5", 5060)
CTX = GuardContext(SOURCE, Peer(TransportName.UDP, "192.0.2.1", 5060), now=10.0, wall=1000.0)


@dataclass
class Recorder:
    """The state protocols, recording every write (a test double of GuardState's tables)."""

    writes: list[tuple[str, object]] = field(default_factory=list)
    banned: set[str] = field(default_factory=set)
    ban_after: int = 2
    offences: int = 0

    def is_banned(self, host: str, wall: float) -> bool:
        return host in self.banned

    def ban(self, order: BanOrder) -> None:
        self.writes.append(("ban", order.network))
        self.banned.add(order.network)

    def available(self, key: str, rate: float, burst: float, now: float) -> float:
        return burst

    def consume(self, key: str, tokens: float, now: float) -> None:
        self.writes.append(("consume", key))

    def highest_nc(self, nonce: str) -> int | None:
        return None

    def use(self, nonce: str, nc: int) -> None:
        self.writes.append(("nonce", (nonce, nc)))

    def distinct(self, source: str, now: float) -> int:
        return 0

    def see(self, source: str, what: str, now: float) -> None:
        self.writes.append(("see", what))

    def offence(
        self, kind: OffenceKind, source: str, verified: bool, wall: float
    ) -> BanOrder | None:
        self.offences += 1
        if self.offences >= self.ban_after:
            return BanOrder(source, wall + 60, "test-jail", self.offences)
        return None


@dataclass
class FixedStage:
    name: str
    outcome: Outcome
    calls: list[str] = field(default_factory=list)

    def decide(self, request: Request, ctx: GuardContext, state: GuardState) -> Outcome:
        self.calls.append(self.name)
        return self.outcome


def pipeline(*stages: FixedStage) -> tuple[Pipeline, Recorder, MemorySink]:
    rec, sink = Recorder(), MemorySink()
    state = GuardState(bans=rec, rates=rec, nonces=rec, jails=rec, sightings=rec, calls=CallTable())
    return Pipeline(stages, state, sink), rec, sink


INVITE = parse_request(request("INVITE"))


def test_stages_run_in_order_and_all_pass() -> None:
    a = FixedStage("a", Outcome(Pass(), (Consume("k1"),)))
    b = FixedStage("b", Outcome(Pass(), (Sighting("s", "bob"), UseNonce("n", 1))))
    run, rec, sink = pipeline(a, b)
    decision = run.decide(INVITE, CTX)
    assert isinstance(decision.verdict, Pass)
    assert a.calls + b.calls == ["a", "b"]
    assert rec.writes == [("consume", "k1"), ("see", "bob"), ("nonce", ("n", 1))]
    assert list(sink.events) == []


def test_the_first_refusal_ends_the_run_and_is_audited() -> None:
    a = FixedStage("a", Outcome(Pass(), (Consume("k1"),)))
    b = FixedStage("b", Outcome(Reject(403, Reason.RELAY_DENIED, "foreign")))
    c = FixedStage("c", Outcome(Pass()))
    run, rec, sink = pipeline(a, b, c)
    decision = run.decide(INVITE, CTX)
    assert decision.verdict == Reject(403, Reason.RELAY_DENIED, "foreign")
    assert decision.stage == "b"
    assert c.calls == []
    assert rec.writes == [("consume", "k1")]  # effects of the stages that ran
    (event,) = sink.events
    assert (event.stage, event.action, event.reason, event.status) == (
        "b",
        "reject",
        Reason.RELAY_DENIED,
        403,
    )
    assert event.source == "udp:203.0.113.5:5060"
    assert event.method == "INVITE"


def test_context_and_request_flow_to_later_stages() -> None:
    trimmed = INVITE.without_header("Contact")
    a = FixedStage("a", Outcome(Pass(), context=replace(CTX, trusted=True), request=trimmed))
    seen: list[tuple[bool, bool]] = []

    class Look:
        name = "look"

        def decide(self, request: Request, ctx: GuardContext, state: GuardState) -> Outcome:
            seen.append((ctx.trusted, request.has("Contact")))
            return Outcome(Pass())

    run, _, _ = pipeline(a)
    run.stages = (*run.stages, Look())
    decision = run.decide(INVITE, CTX)
    assert seen == [(True, False)]
    assert decision.context.trusted
    assert not decision.request.has("Contact")


def test_offences_fill_a_jail_into_an_audited_ban() -> None:
    offend = FixedStage(
        "scanner",
        Outcome(
            Drop(Reason.SCANNER_USER_AGENT), (Offence(OffenceKind.SCANNER, "203.0.113.5", True),)
        ),
    )
    run, rec, sink = pipeline(offend)
    assert run.admit("203.0.113.5", CTX.wall)
    run.decide(INVITE, CTX)
    run.decide(INVITE, CTX)
    assert ("ban", "203.0.113.5") in rec.writes
    assert not run.admit("203.0.113.5", CTX.wall)
    assert [e.action for e in sink.events] == ["drop", "drop", "ban"]
    ban = sink.events[-1]
    assert (ban.reason, ban.stage, ban.source) == (Reason.BANNED, "test-jail", "203.0.113.5")
