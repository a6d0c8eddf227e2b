"""The dispatcher's candidate order: priority groups, algorithms, health, stickiness."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from sipguard.config import Algorithm, DispatcherConfig, UpstreamConfig
from sipguard.proxy.balancer import Balancer, Target, rendezvous_score
from sipguard.proxy.health import FailureReason, Health, TargetCameUp, TargetWentDown
from sipguard.sip import SipUri, parse_uri


def sip_uri(text: str) -> SipUri:
    uri = parse_uri(text)
    assert isinstance(uri, SipUri)
    return uri


def upstream(port: int, priority: int = 1, weight: int = 1) -> UpstreamConfig:
    return UpstreamConfig(sip_uri(f"sip:127.0.0.1:{port}"), priority=priority, weight=weight)


def balancer(algorithm: Algorithm, *specs: tuple[int, int, int], down_after: int = 1) -> Balancer:
    """A balancer over (port, priority, weight) upstreams; one failure marks a target down."""
    config = DispatcherConfig(algorithm=algorithm, down_after=down_after, up_after=1)
    return Balancer([upstream(*spec) for spec in specs], config)


def port(target: Target) -> int:
    assert target.uri.port is not None
    return target.uri.port


def ports(targets: tuple[Target, ...]) -> list[int]:
    return [port(t) for t in targets]


def first_port(b: Balancer, call_id: str, rng: random.Random) -> int:
    return port(b.candidates(call_id, rng)[0])


def call_ids(n: int) -> list[str]:
    return [f"{i:08x}-call@192.0.2.{i % 250}" for i in range(n)]


ALL_ALGORITHMS = list(Algorithm)


def test_priority_orders_groups_then_configuration_order() -> None:
    b = balancer(Algorithm.PRIORITY, (5001, 2, 1), (5002, 1, 1), (5003, 1, 1), (5004, 3, 1))
    assert ports(b.candidates("c1", random.Random(1))) == [5002, 5003, 5001, 5004]
    assert [t.index for t in b.targets] == [0, 1, 2, 3]
    assert b.up_count == 4


def test_down_targets_are_skipped_and_restored() -> None:
    b = balancer(Algorithm.PRIORITY, (5001, 1, 1), (5002, 1, 1), (5003, 2, 1))
    first = b.targets[0]
    event = b.mark(first, False, 10.0, reason=FailureReason.TRANSPORT_ERROR)
    assert event == TargetWentDown(first, FailureReason.TRANSPORT_ERROR, 10.0)
    assert b.health(first) is Health.DOWN
    assert b.up_count == 2
    assert ports(b.candidates("c1", random.Random(1))) == [5002, 5003]
    assert b.mark(first, True, 20.0) == TargetCameUp(first, 20.0)
    assert ports(b.candidates("c1", random.Random(1))) == [5001, 5002, 5003]


def test_marking_an_up_target_ok_changes_nothing() -> None:
    b = balancer(Algorithm.PRIORITY, (5001, 1, 1), down_after=2)
    assert b.mark(b.targets[0], True, 1.0) is None
    assert b.mark(b.targets[0], False, 2.0) is None  # first of two failures
    assert b.health(b.targets[0]) is Health.UP


@pytest.mark.parametrize("algorithm", ALL_ALGORITHMS)
def test_all_down_returns_every_target_in_priority_order(algorithm: Algorithm) -> None:
    b = balancer(algorithm, (5001, 2, 1), (5002, 1, 3), (5003, 1, 1))
    for t in b.targets:
        b.mark(t, False, 1.0)
    assert b.up_count == 0
    assert ports(b.candidates("c1", random.Random(1))) == [5002, 5003, 5001]


def test_no_upstream_gives_no_candidates() -> None:
    b = Balancer([], DispatcherConfig())
    assert b.candidates("c1", random.Random(1)) == ()
    assert b.up_count == 0


@pytest.mark.parametrize("algorithm", ALL_ALGORITHMS)
def test_lower_priority_group_only_when_the_best_group_is_down(algorithm: Algorithm) -> None:
    b = balancer(algorithm, (5001, 1, 1), (5002, 1, 2), (5003, 2, 1), (5004, 2, 1))
    rng = random.Random(7)
    best = {5001, 5002}
    for cid in call_ids(200):
        order = ports(b.candidates(cid, rng))
        assert set(order[:2]) == best
        assert set(order[2:]) == {5003, 5004}
    b.mark(b.targets[0], False, 1.0)
    for cid in call_ids(50):
        assert ports(b.candidates(cid, rng))[0] == 5002
    b.mark(b.targets[1], False, 2.0)
    for cid in call_ids(50):
        assert set(ports(b.candidates(cid, rng))) == {5003, 5004}


def test_round_robin_cycles_evenly_and_fails_over_to_the_next() -> None:
    b = balancer(Algorithm.ROUND_ROBIN, (5001, 1, 1), (5002, 1, 1), (5003, 1, 1))
    rng = random.Random(1)
    orders = [ports(b.candidates("same-call-id", rng)) for _ in range(300)]
    assert Counter(o[0] for o in orders) == {5001: 100, 5002: 100, 5003: 100}
    assert orders[:4] == [
        [5001, 5002, 5003],
        [5002, 5003, 5001],
        [5003, 5001, 5002],
        [5001, 5002, 5003],
    ]


def test_round_robin_rotates_over_up_targets_only() -> None:
    b = balancer(Algorithm.ROUND_ROBIN, (5001, 1, 1), (5002, 1, 1), (5003, 1, 1))
    b.mark(b.targets[1], False, 1.0)
    rng = random.Random(1)
    firsts = Counter(first_port(b, "c", rng) for _ in range(100))
    assert firsts == {5001: 50, 5003: 50}


def test_weighted_picks_in_proportion_to_weight() -> None:
    weights = {5001: 1, 5002: 2, 5003: 5}
    b = balancer(Algorithm.WEIGHTED, *[(p, 1, w) for p, w in weights.items()])
    rng = random.Random(20240601)
    draws = 20_000
    orders = [ports(b.candidates(f"call-{i}", rng)) for i in range(draws)]
    firsts = Counter(o[0] for o in orders)
    total = sum(weights.values())
    for port, weight in weights.items():
        assert abs(firsts[port] / draws - weight / total) < 0.02, (port, firsts)
    # The failover order holds every target once; its second place is itself weighted:
    # after the heaviest (5/8) wins, 5002 follows twice as often as 5001.
    assert all(sorted(o) == [5001, 5002, 5003] for o in orders)
    after_heavy = Counter(o[1] for o in orders if o[0] == 5003)
    assert after_heavy[5002] / sum(after_heavy.values()) == pytest.approx(2 / 3, abs=0.03)


def test_weighted_is_reproducible_with_the_same_seed() -> None:
    b = balancer(Algorithm.WEIGHTED, (5001, 1, 1), (5002, 1, 3))
    picks = [[first_port(b, "c", random.Random(s)) for s in range(50)] for _ in range(2)]
    assert picks[0] == picks[1]


def test_call_id_hash_is_sticky_across_instances_and_random_state() -> None:
    specs = [(5001, 1, 1), (5002, 1, 1), (5003, 1, 2)]
    one = balancer(Algorithm.CALL_ID_HASH, *specs)
    two = balancer(Algorithm.CALL_ID_HASH, *specs)
    for cid in call_ids(500):
        assert one.candidates(cid, random.Random(1)) == two.candidates(cid, random.Random(99))


def test_call_id_hash_is_stable_across_processes() -> None:
    # Pinned values: a salted hash (Python's hash()) or any change to the scheme breaks
    # them, and with them stickiness between workers and across a rolling restart.
    b = balancer(Algorithm.CALL_ID_HASH, (5001, 1, 1), (5002, 1, 1), (5003, 1, 1))
    rng = random.Random(0)
    got = {cid: first_port(b, cid, rng) for cid in GOLDEN}
    assert got == GOLDEN


GOLDEN: dict[str, int] = {
    "a84b4c76e66710@pc33.atlanta.com": 5001,
    "f81d4fae-7dec-11d0-a765-00a0c91e6bf6@192.0.2.4": 5003,
    "call-0": 5003,
    "call-1": 5001,
    "call-2": 5003,
    "call-3": 5001,
    "call-10": 5001,
    "call-11": 5002,
}


def test_call_id_hash_spreads_by_weight() -> None:
    b = balancer(Algorithm.CALL_ID_HASH, (5001, 1, 1), (5002, 1, 3))
    rng = random.Random(0)
    n = 8_000
    firsts = Counter(first_port(b, cid, rng) for cid in call_ids(n))
    assert firsts[5002] / n == pytest.approx(0.75, abs=0.02)


def test_rendezvous_moves_only_the_calls_of_the_target_that_went_down() -> None:
    b = balancer(Algorithm.CALL_ID_HASH, *[(5001 + i, 1, 1) for i in range(4)])
    rng = random.Random(0)
    ids = call_ids(2_000)
    before = {cid: first_port(b, cid, rng) for cid in ids}
    assert set(Counter(before.values())) == {5001, 5002, 5003, 5004}
    b.mark(b.targets[2], False, 1.0)
    after = {cid: first_port(b, cid, rng) for cid in ids}
    moved = [cid for cid in ids if before[cid] == 5003]
    assert len(moved) > 300  # about a quarter of the calls were on it
    for cid in ids:
        if before[cid] != 5003:
            assert after[cid] == before[cid], cid
    # Its calls spread over the three others instead of landing on one.
    assert set(Counter(after[cid] for cid in moved)) == {5001, 5002, 5004}
    # ...and come back when it does.
    b.mark(b.targets[2], True, 2.0)
    assert {cid: first_port(b, cid, rng) for cid in ids} == before


def test_rendezvous_failover_order_is_the_score_order() -> None:
    b = balancer(Algorithm.CALL_ID_HASH, *[(5001 + i, 1, 1 + i) for i in range(4)])
    for cid in call_ids(100):
        order = b.candidates(cid, random.Random(0))
        scores = [rendezvous_score(cid, t) for t in order]
        assert scores == sorted(scores, reverse=True)
        assert all(0 < s < float("inf") for s in scores)


def test_zero_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="weight"):
        Balancer([upstream(5001), upstream(5002, weight=0)], DispatcherConfig())


def test_a_foreign_target_cannot_be_marked() -> None:
    b = balancer(Algorithm.PRIORITY, (5001, 1, 1))
    other = balancer(Algorithm.PRIORITY, (5001, 1, 1), (5009, 1, 1)).targets[1]
    with pytest.raises(ValueError, match="not a target"):
        b.mark(other, False, 1.0)
    lookalike = Target(0, sip_uri("sip:127.0.0.1:5999"), 1, 1)
    with pytest.raises(ValueError, match="not a target"):
        b.health(lookalike)
