"""The rate-limit stage: per source, per method, per user, pike, global overload."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sipguard.config import TransportName
from sipguard.guard import (
    Consume,
    Drop,
    GuardContext,
    GuardState,
    MemorySink,
    Offence,
    OffenceKind,
    Pass,
    Pipeline,
    Reason,
    Reject,
)
from sipguard.guard.banlist import BanList
from sipguard.guard.buckets import TokenBuckets
from sipguard.guard.calls import CallTable
from sipguard.guard.jail import Jail, JailPolicy, JailTable
from sipguard.guard.ratelimit import MethodLimit, RateLimitPolicy, RateLimitStage, source_key
from sipguard.sip import Request
from sipguard.transport.base import Peer
from tests.helpers.sipmsg import TO, parse_request, request

LISTENER = Peer(TransportName.UDP, "192.0.2.1", 5060)
INVITE = parse_request(request("INVITE"))
REGISTER = parse_request(request("REGISTER"))
BYE = parse_request(request("BYE", headers={"To": TO + ";tag=314159"}))
ACK = parse_request(request("ACK"))
CANCEL = parse_request(request("CANCEL"))
# Only the limit under test is on; the others are off (rate 0).
OFF = RateLimitPolicy(source_rate=0, methods=(), user_rate=0, pike_density=0, overload_rate=0)


def ctx(
    host: str = "203.0.113.5",
    transport: TransportName = TransportName.TCP,
    now: float = 0.0,
    *,
    user: str | None = None,
) -> GuardContext:
    return GuardContext(Peer(transport, host, 5060), LISTENER, now, 1000.0 + now, user=user)


@dataclass
class NoNonces:
    def highest_nc(self, nonce: str) -> int | None:
        return None

    def use(self, nonce: str, nc: int) -> None:
        raise AssertionError("not used by this stage")


@dataclass
class NoSightings:
    seen: list[str] = field(default_factory=list)

    def distinct(self, source: str, now: float) -> int:
        return 0

    def see(self, source: str, what: str, now: float) -> None:
        raise AssertionError("not used by this stage")


def state(jails: JailPolicy | None = None) -> GuardState:
    return GuardState(
        BanList(), TokenBuckets(1000), NoNonces(), JailTable(jails), NoSightings(), CallTable()
    )


def run(policy: RateLimitPolicy, st: GuardState | None = None) -> Pipeline:
    return Pipeline([RateLimitStage(policy)], st or state(), MemorySink())


def verdicts(pipe: Pipeline, req: Request, context: GuardContext, count: int) -> list[object]:
    return [pipe.decide(req, context).verdict for _ in range(count)]


def test_per_source_limit_trips_and_recovers() -> None:
    pipe = run(RateLimitPolicy(source_rate=1, source_burst=3, methods=(), pike_density=0))
    assert verdicts(pipe, INVITE, ctx(now=0.0), 3) == [Pass()] * 3
    refused = pipe.decide(INVITE, ctx(now=0.0)).verdict
    assert isinstance(refused, Reject)
    assert (refused.status, refused.reason) == (503, Reason.RATE_LIMITED)
    assert refused.headers == (("Retry-After", "1"),)
    assert pipe.decide(INVITE, ctx("203.0.113.6", now=0.0)).verdict == Pass()  # another source
    assert isinstance(pipe.decide(INVITE, ctx(now=0.5)).verdict, Reject)
    assert pipe.decide(INVITE, ctx(now=1.5)).verdict == Pass()


def test_retry_after_says_when_a_token_is_back() -> None:
    pipe = run(RateLimitPolicy(source_rate=0.1, source_burst=1, methods=(), pike_density=0))
    pipe.decide(INVITE, ctx())
    refused = pipe.decide(INVITE, ctx(now=2.0)).verdict
    assert isinstance(refused, Reject)
    assert refused.headers == (("Retry-After", "8"),)


def test_unverified_udp_over_the_limit_is_dropped_tcp_gets_503() -> None:
    policy = RateLimitPolicy(source_rate=1, source_burst=1, methods=(), pike_density=0)
    pipe = run(policy)
    udp = ctx("198.51.100.7", TransportName.UDP)
    assert pipe.decide(INVITE, udp).verdict == Pass()
    dropped = pipe.decide(INVITE, udp).verdict
    assert isinstance(dropped, Drop)
    assert dropped.reason == Reason.RATE_LIMITED
    verified_udp = replace(ctx("198.51.100.8", TransportName.UDP), verified=True)
    pipe.decide(INVITE, verified_udp)
    assert isinstance(pipe.decide(INVITE, verified_udp).verdict, Reject)
    tcp = ctx("198.51.100.9", TransportName.TCP)
    pipe.decide(INVITE, tcp)
    assert isinstance(pipe.decide(INVITE, tcp).verdict, Reject)


def test_per_method_limits_are_separate() -> None:
    policy = RateLimitPolicy(
        source_rate=100, source_burst=100, methods=(MethodLimit("INVITE", 1, 2),), pike_density=0
    )
    pipe = run(policy)
    assert verdicts(pipe, INVITE, ctx(), 2) == [Pass(), Pass()]
    refused = pipe.decide(INVITE, ctx()).verdict
    assert isinstance(refused, Reject)
    assert "INVITE" in refused.detail
    assert verdicts(pipe, REGISTER, ctx(), 5) == [Pass()] * 5  # REGISTER is not limited here
    assert pipe.decide(INVITE, ctx("203.0.113.99")).verdict == Pass()


def test_per_user_limit_follows_the_user_across_sources() -> None:
    pipe = run(replace(OFF, user_rate=1, user_burst=2))
    assert pipe.decide(INVITE, ctx("203.0.113.1", user="alice")).verdict == Pass()
    assert pipe.decide(INVITE, ctx("203.0.113.2", user="alice")).verdict == Pass()
    refused = pipe.decide(INVITE, ctx("203.0.113.3", user="alice")).verdict
    assert isinstance(refused, Reject)
    assert refused.detail.startswith("user:alice")
    assert pipe.decide(INVITE, ctx("203.0.113.3", user="bob")).verdict == Pass()
    assert pipe.decide(INVITE, ctx("203.0.113.3")).verdict == Pass()  # no user, no user limit


def test_pike_reports_a_flood_as_an_offence() -> None:
    policy = replace(OFF, pike_density=5, pike_interval=1.0)
    stage, st = RateLimitStage(policy), state()
    for _ in range(5):
        outcome = stage.decide(INVITE, ctx(), st)
        assert outcome.verdict == Pass()
        assert outcome.effects == (Consume("pike:203.0.113.5"),)
        st.rates.consume("pike:203.0.113.5", 1.0, 0.0)
    outcome = stage.decide(INVITE, ctx(), st)
    assert isinstance(outcome.verdict, Reject)
    assert outcome.verdict.reason == Reason.FLOOD
    assert outcome.effects == (
        Consume("pike:203.0.113.5"),
        Offence(OffenceKind.FLOOD, "203.0.113.5", verified=True),
    )
    forged = stage.decide(INVITE, ctx("203.0.113.5", TransportName.UDP), st)
    assert isinstance(forged.verdict, Drop)
    assert Offence(OffenceKind.FLOOD, "203.0.113.5", verified=False) in forged.effects


def test_a_verified_flood_ends_in_a_ban_through_the_jail() -> None:
    jails = JailPolicy(jails=(Jail("flood", (OffenceKind.FLOOD,), 3, 60.0, 600.0),))
    st = state(jails)
    pipe = run(replace(OFF, pike_density=5, pike_interval=1.0), st)
    results = verdicts(pipe, INVITE, ctx(), 8)
    assert results[:5] == [Pass()] * 5
    assert all(isinstance(v, Reject) and v.reason == Reason.FLOOD for v in results[5:])
    assert st.bans.is_banned("203.0.113.5", 1000.0)
    # The same flood from an unverified UDP source is only dropped, never banned.
    udp = ctx("198.51.100.7", TransportName.UDP)
    assert all(isinstance(v, Drop) for v in verdicts(pipe, INVITE, udp, 100)[5:])
    assert not st.bans.is_banned("198.51.100.7", 1000.0)


def test_overload_refuses_new_requests_but_lets_calls_in_progress_end() -> None:
    pipe = run(replace(OFF, overload_rate=1, overload_burst=2))
    assert pipe.decide(INVITE, ctx("203.0.113.1")).verdict == Pass()
    assert pipe.decide(INVITE, ctx("203.0.113.2")).verdict == Pass()
    refused = pipe.decide(INVITE, ctx("203.0.113.3", TransportName.UDP)).verdict
    assert isinstance(refused, Reject)
    assert (refused.status, refused.reason) == (503, Reason.OVERLOAD)
    assert refused.headers == (("Retry-After", "10"),)
    for in_progress in (BYE, ACK, CANCEL):
        assert pipe.decide(in_progress, ctx("203.0.113.1")).verdict == Pass()
    assert isinstance(pipe.decide(REGISTER, ctx("203.0.113.4")).verdict, Reject)
    assert pipe.decide(INVITE, ctx("203.0.113.3", now=1.0)).verdict == Pass()


def test_trusted_skips_per_source_limits_but_counts_toward_overload() -> None:
    policy = RateLimitPolicy(
        source_rate=1, source_burst=1, pike_density=2, overload_rate=1, overload_burst=6
    )
    pipe = run(policy)
    trunk = replace(ctx("192.0.2.50", TransportName.UDP), trusted=True)
    assert verdicts(pipe, INVITE, trunk, 5) == [Pass()] * 5
    assert pipe.decide(INVITE, ctx("203.0.113.1")).verdict == Pass()  # the 6th in total
    refused = pipe.decide(INVITE, trunk).verdict
    assert isinstance(refused, Reject)
    assert refused.reason == Reason.OVERLOAD


def test_a_pass_takes_every_token_a_refusal_takes_none() -> None:
    policy = RateLimitPolicy(source_rate=1, source_burst=1, user_rate=5, pike_density=10)
    stage, st = RateLimitStage(policy), state()
    outcome = stage.decide(INVITE, ctx(user="alice"), st)
    assert outcome.verdict == Pass()
    assert outcome.effects == (
        Consume("pike:203.0.113.5"),
        Consume("src:203.0.113.5"),
        Consume("src:203.0.113.5:INVITE"),
        Consume("user:alice"),
        Consume("global"),
    )
    # decide is pure: asking again without applying the effects gives the same answer.
    assert stage.decide(INVITE, ctx(user="alice"), st) == outcome
    st.rates.consume("src:203.0.113.5", 1.0, 0.0)
    refused = stage.decide(INVITE, ctx(user="alice"), st)
    assert isinstance(refused.verdict, Reject)
    assert refused.effects == (Consume("pike:203.0.113.5"),)


def test_ipv6_sources_share_their_slash_64() -> None:
    assert source_key("2001:db8::1") == "src:2001:db8::/64"
    assert source_key("::ffff:203.0.113.5") == "src:203.0.113.5"
    pipe = run(RateLimitPolicy(source_rate=1, source_burst=2, methods=(), pike_density=0))
    assert pipe.decide(INVITE, ctx("2001:db8::1")).verdict == Pass()
    assert pipe.decide(INVITE, ctx("2001:db8::2")).verdict == Pass()
    assert isinstance(pipe.decide(INVITE, ctx("2001:db8::3")).verdict, Reject)
    assert pipe.decide(INVITE, ctx("2001:db8:0:1::1")).verdict == Pass()
