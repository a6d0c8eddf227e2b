"""RFC 3263 resolution against a real DNS server on 127.0.0.1, plus the pure ordering rules."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from sipguard.config import DnsConfig, TransportName
from sipguard.sip import SipUri, parse_uri
from sipguard.transport import ResolveError, Resolver, ResolveTimeoutError, Target
from sipguard.transport.resolver import MAX_SRV_TARGETS
from sipguard.transport.srv import (
    NaptrRecord,
    SrvQuery,
    SrvRecord,
    fixed_transport,
    naptr_groups,
    order_srv,
    order_srv_deterministic,
    srv_queries,
)
from tests.helpers.dns_server import LoopbackDns, dns_server, silent_server

pytestmark = pytest.mark.network

T = TransportName
ALL = frozenset(TransportName)
UDP_TCP = frozenset({T.UDP, T.TCP})
R = TypeVar("R")


def run(body: Callable[[], Awaitable[R]], limit: float = 5.0) -> R:
    async def bounded() -> R:
        async with asyncio.timeout(limit):
            return await body()

    return asyncio.run(bounded())


def sip(text: str) -> SipUri:
    uri = parse_uri(text)
    assert isinstance(uri, SipUri)
    return uri


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def resolver_for(
    server: LoopbackDns | tuple[str, int],
    *,
    clock: Callable[[], float] | None = None,
    timeout: float = 1.0,
    max_ttl: float = 3600.0,
    seed: int = 7,
) -> Resolver:
    address = server.address if isinstance(server, LoopbackDns) else server
    config = DnsConfig(servers=(address,), timeout=timeout, max_ttl=max_ttl)
    return Resolver(config, rng=random.Random(seed), clock=clock)


NAPTR_ZONE = {
    ("pbx.test.", "NAPTR"): [
        '50 50 "s" "SIPS+D2T" "" _sips._tcp.pbx.test.',
        '90 50 "s" "SIP+D2T" "" _sip._tcp.pbx.test.',
        '100 50 "s" "SIP+D2U" "" _sip._udp.pbx.test.',
    ],
    ("_sips._tcp.pbx.test.", "SRV"): ["10 10 5071 tls.pbx.test."],
    ("_sip._tcp.pbx.test.", "SRV"): ["10 10 5070 tcp.pbx.test."],
    ("_sip._udp.pbx.test.", "SRV"): ["10 10 5072 udp.pbx.test."],
    ("tls.pbx.test.", "A"): ["127.0.0.11"],
    ("tcp.pbx.test.", "A"): ["127.0.0.12"],
    ("udp.pbx.test.", "A"): ["127.0.0.13"],
}


# --- NAPTR → SRV → A ------------------------------------------------------------


def test_naptr_srv_a_chain_picks_the_best_supported_order() -> None:
    async def body() -> None:
        async with dns_server(NAPTR_ZONE) as server:
            targets = await resolver_for(server).resolve(sip("sip:alice@pbx.test"), UDP_TCP)
            assert targets == [Target(T.TCP, "127.0.0.12", 5070, "tcp.pbx.test")]
            # RFC 3403 §4.1: a later order is not considered once one matched.
            assert server.queries[("_sip._udp.pbx.test.", "SRV")] == 0
            assert server.queries[("_sips._tcp.pbx.test.", "SRV")] == 0  # TLS unsupported

    run(body)


def test_naptr_prefers_sips_when_tls_supported() -> None:
    async def body() -> None:
        async with dns_server(NAPTR_ZONE) as server:
            targets = await resolver_for(server).resolve(sip("sip:pbx.test"), ALL)
            assert targets == [Target(T.TLS, "127.0.0.11", 5071, "tls.pbx.test")]

    run(body)


def test_naptr_order_group_without_srv_falls_to_next_order() -> None:
    zone = {
        ("pbx.test.", "NAPTR"): [
            '10 10 "s" "SIP+D2T" "" _sip._tcp.gone.test.',
            '20 10 "s" "SIP+D2U" "" _sip._udp.pbx.test.',
        ],
        ("_sip._udp.pbx.test.", "SRV"): ["1 1 5072 udp.pbx.test."],
        ("udp.pbx.test.", "A"): ["127.0.0.13"],
    }

    async def body() -> None:
        async with dns_server(zone) as server:
            targets = await resolver_for(server).resolve(sip("sip:pbx.test"), UDP_TCP)
            assert targets == [Target(T.UDP, "127.0.0.13", 5072, "udp.pbx.test")]

    run(body)


def test_sips_uri_keeps_only_tls() -> None:
    async def body() -> None:
        async with dns_server(NAPTR_ZONE) as server:
            targets = await resolver_for(server).resolve(sip("sips:pbx.test"), ALL)
            assert [t.transport for t in targets] == [T.TLS]
            with pytest.raises(ResolveError):
                await resolver_for(server).resolve(sip("sips:pbx.test"), UDP_TCP)

    run(body)


def test_unsupported_transports_are_filtered_out() -> None:
    async def body() -> None:
        async with dns_server(NAPTR_ZONE) as server:
            targets = await resolver_for(server).resolve(sip("sip:pbx.test"), frozenset({T.UDP}))
            assert targets == [Target(T.UDP, "127.0.0.13", 5072, "udp.pbx.test")]
            assert server.queries[("_sip._tcp.pbx.test.", "SRV")] == 0

    run(body)


# --- SRV without NAPTR; A/AAAA without SRV -------------------------------------


def test_srv_only_domain() -> None:
    zone = {
        ("_sip._udp.pbx.test.", "SRV"): ["10 60 5070 a.pbx.test."],
        ("_sips._tcp.pbx.test.", "SRV"): ["10 60 5071 a.pbx.test."],
        ("a.pbx.test.", "A"): ["127.0.0.1"],
    }

    async def body() -> None:
        async with dns_server(zone) as server:
            targets = await resolver_for(server).resolve(sip("sip:pbx.test"), ALL)
            # Our order among transports the server offers: TLS, then TCP, then UDP.
            assert targets == [
                Target(T.TLS, "127.0.0.1", 5071, "a.pbx.test"),
                Target(T.UDP, "127.0.0.1", 5070, "a.pbx.test"),
            ]
            assert server.queries[("pbx.test.", "NAPTR")] == 1
            assert server.queries[("_sip._tcp.pbx.test.", "SRV")] == 1
            # The A record of the SRV target was asked for once, shared by both.
            assert server.queries[("a.pbx.test.", "A")] == 1

    run(body)


def test_a_only_uses_default_port() -> None:
    zone = {("pbx.test.", "A"): ["127.0.0.1"]}

    async def body() -> None:
        async with dns_server(zone) as server:
            resolver = resolver_for(server)
            assert await resolver.resolve(sip("sip:pbx.test"), ALL) == [
                Target(T.UDP, "127.0.0.1", 5060, "pbx.test")
            ]
            assert await resolver.resolve(sip("sips:pbx.test"), ALL) == [
                Target(T.TLS, "127.0.0.1", 5061, "pbx.test")
            ]

    run(body)


def test_aaaa_target_and_address_order() -> None:
    zone = {
        ("_sip._udp.pbx.test.", "SRV"): ["10 1 5070 v6.pbx.test.", "20 1 5080 both.pbx.test."],
        ("v6.pbx.test.", "AAAA"): ["::1"],
        ("both.pbx.test.", "AAAA"): ["::1"],
        ("both.pbx.test.", "A"): ["127.0.0.1"],
    }

    async def body() -> None:
        async with dns_server(zone) as server:
            targets = await resolver_for(server).resolve(sip("sip:pbx.test"), frozenset({T.UDP}))
            assert targets == [
                Target(T.UDP, "::1", 5070, "v6.pbx.test"),
                Target(T.UDP, "127.0.0.1", 5080, "both.pbx.test"),  # A before AAAA
                Target(T.UDP, "::1", 5080, "both.pbx.test"),
            ]

    run(body)


def test_explicit_port_skips_naptr_and_srv() -> None:
    zone = {**NAPTR_ZONE, ("pbx.test.", "A"): ["127.0.0.1"]}

    async def body() -> None:
        async with dns_server(zone) as server:
            targets = await resolver_for(server).resolve(sip("sip:pbx.test:5080"), ALL)
            assert targets == [Target(T.UDP, "127.0.0.1", 5080, "pbx.test")]
            assert server.queries[("pbx.test.", "NAPTR")] == 0
            assert not any(rdtype == "SRV" for _, rdtype in server.queries)

    run(body)


def test_transport_parameter_wins_and_queries_its_srv_only() -> None:
    async def body() -> None:
        async with dns_server(NAPTR_ZONE) as server:
            targets = await resolver_for(server).resolve(sip("sip:pbx.test;transport=tcp"), ALL)
            assert targets == [Target(T.TCP, "127.0.0.12", 5070, "tcp.pbx.test")]
            assert server.queries[("pbx.test.", "NAPTR")] == 0
            assert server.queries[("_sip._udp.pbx.test.", "SRV")] == 0

    run(body)


def test_numeric_ip_makes_no_query() -> None:
    async def body() -> None:
        async with dns_server({}) as server:
            resolver = resolver_for(server)
            assert await resolver.resolve(sip("sip:bob@127.0.0.1:5099"), ALL) == [
                Target(T.UDP, "127.0.0.1", 5099, "127.0.0.1")
            ]
            assert await resolver.resolve(sip("sip:[::1]"), ALL) == [
                Target(T.UDP, "::1", 5060, "::1")
            ]
            assert await resolver.resolve(sip("sips:127.0.0.2"), ALL) == [
                Target(T.TLS, "127.0.0.2", 5061, "127.0.0.2")
            ]
            assert await resolver.resolve(sip("sip:pbx.test;maddr=127.0.0.3"), ALL) == [
                Target(T.UDP, "127.0.0.3", 5060, "127.0.0.3")
            ]
            assert server.total == 0

    run(body)


def test_srv_priority_order() -> None:
    zone = {
        ("_sip._udp.pbx.test.", "SRV"): [
            "20 100 5072 backup.pbx.test.",
            "10 1 5070 main.pbx.test.",
        ],
        ("main.pbx.test.", "A"): ["127.0.0.1"],
        ("backup.pbx.test.", "A"): ["127.0.0.2"],
    }

    async def body() -> None:
        async with dns_server(zone) as server:
            for seed in range(10):
                targets = await resolver_for(server, seed=seed).resolve(
                    sip("sip:pbx.test"), frozenset({T.UDP})
                )
                assert [t.name for t in targets] == ["main.pbx.test", "backup.pbx.test"]

    run(body)


def test_srv_additional_section_saves_address_queries() -> None:
    zone = {
        ("_sip._udp.pbx.test.", "SRV"): ["10 1 5070 a.pbx.test."],
        ("a.pbx.test.", "A"): ["127.0.0.1"],
    }

    async def body() -> None:
        async with dns_server(zone, glue=True) as server:
            targets = await resolver_for(server).resolve(sip("sip:pbx.test"), frozenset({T.UDP}))
            assert targets == [Target(T.UDP, "127.0.0.1", 5070, "a.pbx.test")]
            assert server.queries[("a.pbx.test.", "A")] == 0
            assert server.queries[("a.pbx.test.", "AAAA")] == 0

    run(body)


def test_srv_target_dot_means_no_service_and_no_a_fallback() -> None:
    zone = {("_sip._udp.pbx.test.", "SRV"): ["0 0 0 ."], ("pbx.test.", "A"): ["127.0.0.1"]}

    async def body() -> None:
        async with dns_server(zone) as server:
            with pytest.raises(ResolveError):
                await resolver_for(server).resolve(sip("sip:pbx.test"), frozenset({T.UDP}))

    run(body)


def test_one_srv_target_failing_leaves_the_others() -> None:
    zone = {
        ("_sip._udp.pbx.test.", "SRV"): ["10 1 5070 gone.pbx.test.", "20 1 5071 a.pbx.test."],
        ("a.pbx.test.", "A"): ["127.0.0.1"],
    }

    async def body() -> None:
        async with dns_server(zone) as server:
            targets = await resolver_for(server).resolve(sip("sip:pbx.test"), frozenset({T.UDP}))
            assert targets == [Target(T.UDP, "127.0.0.1", 5071, "a.pbx.test")]

    run(body)


# --- cache, negative cache, in-flight sharing ---------------------------------


def test_ttl_cache_hit_then_expiry() -> None:
    zone = {("pbx.test.", "A"): ["127.0.0.1"]}

    async def body() -> None:
        clock = FakeClock()
        async with dns_server(zone, ttl=60) as server:
            resolver = resolver_for(server, clock=clock)
            uri = sip("sip:pbx.test:5060")
            await resolver.resolve(uri, ALL)
            assert server.queries[("pbx.test.", "A")] == 1
            clock.now += 59
            await resolver.resolve(uri, ALL)
            assert server.queries[("pbx.test.", "A")] == 1
            clock.now += 2
            await resolver.resolve(uri, ALL)
            assert server.queries[("pbx.test.", "A")] == 2

    run(body)


def test_max_ttl_caps_the_record_ttl() -> None:
    zone = {("pbx.test.", "A"): ["127.0.0.1"]}

    async def body() -> None:
        clock = FakeClock()
        async with dns_server(zone, ttl=86400) as server:
            resolver = resolver_for(server, clock=clock, max_ttl=10)
            uri = sip("sip:pbx.test:5060")
            await resolver.resolve(uri, ALL)
            clock.now += 11
            await resolver.resolve(uri, ALL)
            assert server.queries[("pbx.test.", "A")] == 2

    run(body)


def test_negative_answers_are_cached_briefly() -> None:
    async def body() -> None:
        clock = FakeClock()
        async with dns_server({}) as server:
            resolver = resolver_for(server, clock=clock)
            uri = sip("sip:nowhere.test:5060")
            for _ in range(2):
                with pytest.raises(ResolveError) as info:
                    await resolver.resolve(uri, ALL)
                assert not isinstance(info.value, ResolveTimeoutError)
                assert info.value.name == "nowhere.test"
            assert server.queries[("nowhere.test.", "A")] == 1
            clock.now += 31  # past NEGATIVE_TTL (no SOA in the answer)
            with pytest.raises(ResolveError):
                await resolver.resolve(uri, ALL)
            assert server.queries[("nowhere.test.", "A")] == 2

    run(body)


def test_nodata_is_cached_like_nxdomain() -> None:
    zone = {("pbx.test.", "AAAA"): ["::1"]}

    async def body() -> None:
        clock = FakeClock()
        async with dns_server(zone) as server:
            resolver = resolver_for(server, clock=clock)
            for _ in range(3):
                targets = await resolver.resolve(sip("sip:pbx.test:5060"), ALL)
                assert [t.host for t in targets] == ["::1"]
            assert server.queries[("pbx.test.", "A")] == 1

    run(body)


def test_concurrent_resolves_share_one_query() -> None:
    async def body() -> None:
        async with dns_server(NAPTR_ZONE, delay=0.05) as server:
            resolver = resolver_for(server)
            results = await asyncio.gather(
                *(resolver.resolve(sip("sip:pbx.test"), UDP_TCP) for _ in range(20))
            )
            assert all(r == results[0] for r in results)
            assert server.queries[("pbx.test.", "NAPTR")] == 1
            assert server.queries[("_sip._tcp.pbx.test.", "SRV")] == 1
            assert server.queries[("tcp.pbx.test.", "A")] == 1

    run(body)


# --- errors ---------------------------------------------------------------------


def test_nxdomain_everywhere_raises_resolve_error() -> None:
    async def body() -> None:
        async with dns_server({("other.test.", "A"): ["127.0.0.1"]}) as server:
            with pytest.raises(ResolveError) as info:
                await resolver_for(server).resolve(sip("sip:missing.test"), ALL)
            assert info.value.name == "missing.test"
            assert not isinstance(info.value, ResolveTimeoutError)

    run(body)


def test_unresponsive_name_server_times_out() -> None:
    async def body() -> None:
        async with silent_server() as address:
            resolver = resolver_for(address, timeout=0.3)
            start = time.monotonic()
            with pytest.raises(ResolveTimeoutError):
                await resolver.resolve(sip("sip:pbx.test"), ALL)
            assert time.monotonic() - start < 0.3 + 0.5

    run(body)


@pytest.mark.parametrize(
    ("text", "supported"),
    [
        ("sip:pbx.test;transport=tcp", frozenset({T.UDP})),
        ("sip:pbx.test;transport=sctp", ALL),
        ("sips:pbx.test;transport=udp", ALL),
        ("sips:127.0.0.1", UDP_TCP),
    ],
)
def test_impossible_transport_raises_without_query(text: str, supported: frozenset[T]) -> None:
    async def body() -> None:
        async with dns_server(NAPTR_ZONE) as server:
            with pytest.raises(ResolveError):
                await resolver_for(server).resolve(sip(text), supported)
            assert server.total == 0

    run(body)


# --- pure rules -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sip:pbx.test", None),
        ("sip:pbx.test:5060", T.UDP),
        ("sips:pbx.test:5061", T.TLS),
        ("sip:10.0.0.1", T.UDP),
        ("sips:[::1]", T.TLS),
        ("sip:pbx.test;transport=TCP", T.TCP),
        ("sips:pbx.test;transport=tcp", T.TLS),
        ("sip:pbx.test;transport=tls", T.TLS),
        ("sip:pbx.test;transport=ws", T.WS),
        ("sips:pbx.test;transport=ws", T.WSS),
    ],
)
def test_fixed_transport(text: str, expected: T | None) -> None:
    assert fixed_transport(sip(text), ALL) == expected


def test_numeric_ip_falls_back_to_a_supported_transport() -> None:
    assert fixed_transport(sip("sip:10.0.0.1"), frozenset({T.TCP})) == T.TCP


def test_naptr_groups_filter_and_order() -> None:
    records = [
        NaptrRecord(20, 5, "s", "SIP+D2U", "", "_sip._udp.x."),
        NaptrRecord(10, 20, "S", "SIP+D2T", "", "_sip._tcp.x."),
        NaptrRecord(10, 10, "s", "SIPS+D2T", "", "_sips._tcp.x."),
        NaptrRecord(1, 1, "s", "SIPS+D2U", "", "_sips._udp.x."),  # TLS over UDP: never
        NaptrRecord(1, 1, "s", "SIP+D2S", "", "_sip._sctp.x."),  # SCTP: no transport
        NaptrRecord(1, 1, "u", "SIP+D2U", "!^.*$!sip:a@b!", "."),  # not an SRV pointer
        NaptrRecord(5, 1, "s", "SIP+D2W", "", "_sip._ws.x."),
    ]
    groups = naptr_groups(records, secure=False, supported=frozenset({T.UDP, T.TCP, T.TLS}))
    assert groups == [
        [SrvQuery(T.TLS, "_sips._tcp.x."), SrvQuery(T.TCP, "_sip._tcp.x.")],
        [SrvQuery(T.UDP, "_sip._udp.x.")],
    ]
    secure = naptr_groups(records, secure=True, supported=ALL)
    assert secure == [[SrvQuery(T.TLS, "_sips._tcp.x.")]]


def test_srv_queries_without_naptr() -> None:
    assert srv_queries("x", secure=False, supported=ALL) == [
        SrvQuery(T.TLS, "_sips._tcp.x."),
        SrvQuery(T.TCP, "_sip._tcp.x."),
        SrvQuery(T.UDP, "_sip._udp.x."),
    ]
    assert srv_queries("x", secure=True, supported=ALL) == [SrvQuery(T.TLS, "_sips._tcp.x.")]
    assert srv_queries("x", secure=False, supported=frozenset({T.UDP})) == [
        SrvQuery(T.UDP, "_sip._udp.x.")
    ]


def test_weighted_selection_follows_weights() -> None:
    records = [SrvRecord(10, 60, 1, "a."), SrvRecord(10, 30, 2, "b."), SrvRecord(10, 10, 3, "c.")]
    rng = random.Random(2024)
    firsts = Counter(order_srv(records, rng)[0].target for _ in range(2000))
    assert abs(firsts["a."] / 2000 - 0.60) < 0.04
    assert abs(firsts["b."] / 2000 - 0.30) < 0.04
    assert abs(firsts["c."] / 2000 - 0.10) < 0.03


def test_weight_zero_gets_a_small_chance() -> None:
    records = [SrvRecord(1, 10, 1, "heavy."), SrvRecord(1, 0, 2, "zero.")]
    rng = random.Random(5)
    firsts = Counter(order_srv(records, rng)[0].target for _ in range(2000))
    # RFC 2782: drawn from [0, sum], zero wins only on 0: 1 chance in 11.
    assert 110 < firsts["zero."] < 260


def test_weighted_order_through_the_resolver() -> None:
    zone = {
        ("_sip._udp.pbx.test.", "SRV"): ["10 75 5070 a.pbx.test.", "10 25 5070 b.pbx.test."],
        ("a.pbx.test.", "A"): ["127.0.0.1"],
        ("b.pbx.test.", "A"): ["127.0.0.2"],
    }

    async def body() -> None:
        async with dns_server(zone) as server:
            resolver = resolver_for(server, seed=11)
            uri = sip("sip:pbx.test")
            firsts: Counter[str] = Counter()
            for _ in range(2000):
                targets = await resolver.resolve(uri, frozenset({T.UDP}))
                assert len(targets) == 2
                firsts[targets[0].host] += 1
            assert abs(firsts["127.0.0.1"] / 2000 - 0.75) < 0.04
            assert server.queries[("_sip._udp.pbx.test.", "SRV")] == 1  # all from the cache

    run(body)


def test_deterministic_order_for_stateless_use() -> None:
    records = [SrvRecord(1, 10, 5, "b."), SrvRecord(1, 20, 5, "a."), SrvRecord(0, 1, 5, "z.")]
    assert [r.target for r in order_srv_deterministic(records)] == ["z.", "a.", "b."]
    assert order_srv(records, random.Random(1))[0].target == "z."


def test_a_cancelled_caller_does_not_cancel_the_shared_query() -> None:
    zone = {("pbx.test.", "A"): ["127.0.0.1"]}

    async def body() -> None:
        async with dns_server(zone, delay=0.1) as server:
            resolver = resolver_for(server)
            uri = sip("sip:pbx.test:5060")
            first = asyncio.create_task(resolver.resolve(uri, ALL))
            second = asyncio.create_task(resolver.resolve(uri, ALL))
            await asyncio.sleep(0.02)
            first.cancel()
            assert await second == [Target(T.UDP, "127.0.0.1", 5060, "pbx.test")]
            assert first.cancelled()
            assert server.queries[("pbx.test.", "A")] == 1

    run(body)


def test_aclose_cancels_queries_in_flight() -> None:
    async def body() -> None:
        async with silent_server() as address:
            resolver = resolver_for(address, timeout=2.0)
            pending = asyncio.create_task(resolver.resolve(sip("sip:pbx.test:5060"), ALL))
            await asyncio.sleep(0.05)
            start = time.monotonic()
            await resolver.aclose()
            with pytest.raises(asyncio.CancelledError):
                await pending
            assert time.monotonic() - start < 0.5

    run(body)


def test_srv_fan_out_is_capped() -> None:
    srv = [f"10 1 5070 h{i}.pbx.test." for i in range(20)]
    zone = {("_sip._udp.pbx.test.", "SRV"): srv}
    zone |= {(f"h{i}.pbx.test.", "A"): [f"127.0.1.{i}"] for i in range(20)}

    async def body() -> None:
        async with dns_server(zone) as server:
            targets = await resolver_for(server).resolve(sip("sip:pbx.test"), frozenset({T.UDP}))
            assert len(targets) == MAX_SRV_TARGETS
            # 20 SRV records do not fit 512 bytes: truncated over UDP, asked again over TCP.
            assert server.queries[("_sip._udp.pbx.test.", "SRV")] == 2
            assert sum(n for (_, t), n in server.queries.items() if t == "A") == MAX_SRV_TARGETS

    run(body)
