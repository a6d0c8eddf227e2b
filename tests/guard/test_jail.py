"""Jails: maxretry within findtime, escalation, IPv6 prefixes, ignore, forged evidence."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipguard.guard import BanOrder, OffenceKind
from sipguard.guard.banlist import BanList
from sipguard.guard.jail import DAY, DEFAULT_JAILS, HOUR, Jail, JailPolicy, JailTable

AUTH = OffenceKind.AUTH_FAILURE
SCANNER = OffenceKind.SCANNER
T0 = 1_700_000_000.0


def test_maxretry_within_findtime_bans() -> None:
    table = JailTable()
    for i in range(4):
        assert table.offence(AUTH, "203.0.113.5", True, T0 + 60 * i) is None
    order = table.offence(AUTH, "203.0.113.5", True, T0 + 240)
    assert order == BanOrder("203.0.113.5", T0 + 240 + HOUR, "auth", 5)
    # The ban reset the count: the next offence starts over.
    assert table.offence(AUTH, "203.0.113.5", True, T0 + 300) is None


def test_offences_spread_beyond_findtime_do_not_ban() -> None:
    table = JailTable()
    for i in range(20):  # one every 200 s: never 5 within 600 s
        assert table.offence(AUTH, "203.0.113.5", True, T0 + 200 * i) is None
    # The window slides: after a quiet spell, five quick ones ban.
    for i in range(4):
        assert table.offence(AUTH, "203.0.113.5", True, T0 + 5000 + i) is None
    assert table.offence(AUTH, "203.0.113.5", True, T0 + 5010) is not None


def test_scanner_jail_bans_on_one_verified_offence_for_a_day() -> None:
    order = JailTable().offence(SCANNER, "198.51.100.7", True, T0)
    assert order == BanOrder("198.51.100.7", T0 + DAY, "scanner", 1)


def test_escalation_doubles_up_to_the_maximum() -> None:
    table = JailTable()
    durations = []
    wall = T0
    for _ in range(10):
        order = None
        for _ in range(5):
            order = table.offence(AUTH, "203.0.113.5", True, wall)
            wall += 1
        assert order is not None
        durations.append(order.until - (wall - 1))
    assert durations == [min(HOUR * 2**k, 7 * DAY) for k in range(10)]
    assert durations[-1] == 7 * DAY
    assert table.bans_of("auth", "203.0.113.5") == 10


def test_ipv6_offenders_share_their_slash_64() -> None:
    table, bans = JailTable(), BanList()
    order = None
    for i in range(5):
        order = table.offence(AUTH, f"2001:db8::{i + 1}", True, T0 + i)
    assert order is not None
    assert order.network == "2001:db8::/64"
    bans.ban(order)
    assert bans.is_banned("2001:db8::1", T0 + 10)
    assert bans.is_banned("2001:db8::ffff:1", T0 + 10)
    assert not bans.is_banned("2001:db8:0:1::1", T0 + 10)


def test_ipv6_prefix_is_configurable() -> None:
    table = JailTable(JailPolicy(ipv6_prefix=128))
    for i in range(4):
        assert table.offence(AUTH, f"2001:db8::{i + 1}", True, T0) is None
    assert table.offence(SCANNER, "2001:db8::9", True, T0) == BanOrder(
        "2001:db8::9", T0 + DAY, "scanner", 1
    )


def test_ignored_networks_are_never_banned() -> None:
    table = JailTable(JailPolicy(ignore=("198.51.100.0/24", "2001:db8::/32")))
    for i in range(100):
        assert table.offence(SCANNER, "198.51.100.7", True, T0 + i) is None
        assert table.offence(SCANNER, "::ffff:198.51.100.8", True, T0 + i) is None
        assert table.offence(AUTH, "2001:db8:1::5", True, T0 + i) is None
    assert table.offence(SCANNER, "198.51.101.7", True, T0) is not None
    assert len(table) == 1  # the ignored ones were not even counted


def test_ipv4_mapped_offenders_count_as_ipv4() -> None:
    order = JailTable().offence(SCANNER, "::ffff:203.0.113.5", True, T0)
    assert order is not None
    assert order.network == "203.0.113.5"


def test_forged_evidence_never_bans_under_the_default_policy() -> None:
    # Every kind but scanning: forged auth failures, floods or malformed messages
    # (unverified UDP) cannot get a victim banned, however many there are.
    table = JailTable()
    kinds = [k for k in OffenceKind if k is not OffenceKind.SCANNER]
    for i in range(10_000):
        kind = kinds[i % len(kinds)]
        assert table.offence(kind, "192.0.2.10", False, T0 + i * 0.01) is None
        assert table.offence(kind, f"10.{i // 256 % 256}.{i % 256}.1", False, T0) is None
    assert len(table) == 0  # not even stored


def test_an_unverified_scanner_is_banned_only_after_a_sweep_by_default() -> None:
    # SIPVicious over UDP never proves its address; 20 scanner requests in 10 minutes
    # (a sweep, not a few forged packets) ban it under the default scanner jail.
    table = JailTable()
    for i in range(19):
        assert table.offence(SCANNER, "192.0.2.10", False, T0 + i) is None
    order = table.offence(SCANNER, "192.0.2.10", False, T0 + 19)
    assert order is not None
    assert order.jail == "scanner"
    # Spread thinner than the window, the same number never bans.
    slow = JailTable()
    assert all(slow.offence(SCANNER, "192.0.2.11", False, T0 + i * 60.0) is None for i in range(40))


def test_forged_evidence_bans_only_under_the_stricter_threshold() -> None:
    strict = Jail("scanner", (SCANNER,), 1, 600.0, DAY, unverified_maxretry=20)
    table = JailTable(JailPolicy(jails=(strict,)))
    for i in range(19):
        assert table.offence(SCANNER, "192.0.2.10", False, T0 + i) is None
    order = table.offence(SCANNER, "192.0.2.10", False, T0 + 19)
    assert order == BanOrder("192.0.2.10", T0 + 19 + DAY, "scanner", 20)


def test_verified_evidence_counts_toward_the_stricter_threshold_but_not_the_reverse() -> None:
    jail = Jail("auth", (AUTH,), 5, 600.0, HOUR, unverified_maxretry=8)
    table = JailTable(JailPolicy(jails=(jail,)))
    for i in range(4):
        assert table.offence(AUTH, "192.0.2.10", True, T0 + i) is None
    # Four forged offences do not complete the verified five...
    for i in range(3):
        assert table.offence(AUTH, "192.0.2.10", False, T0 + 10 + i) is None
    # ...but all evidence together reaches the stricter eight.
    order = table.offence(AUTH, "192.0.2.10", False, T0 + 20)
    assert order is not None
    assert order.offences == 8


def test_a_forged_flood_cannot_evict_verified_counts() -> None:
    jail = Jail("auth", (AUTH,), 5, 600.0, HOUR, unverified_maxretry=50)
    table = JailTable(JailPolicy(jails=(jail,)), max_sources=100)
    for i in range(4):
        table.offence(AUTH, "203.0.113.5", True, T0 + i)
    for i in range(10_000):
        table.offence(AUTH, str(ipaddress.IPv4Address(0x0A000000 + i)), False, T0 + 5)
    assert table.offence(AUTH, "203.0.113.5", True, T0 + 6) is not None


def test_memory_is_bounded() -> None:
    table = JailTable(max_sources=100)
    for i in range(50_000):
        table.offence(AUTH, str(ipaddress.IPv4Address(0x0A000000 + i)), True, T0)
    for i in range(5_000):  # each one a ban: the escalation history is bounded too
        table.offence(SCANNER, str(ipaddress.IPv4Address(0x0B000000 + i)), True, T0)
    assert len(table) <= 3 * 100


def test_unknown_kinds_and_non_ip_sources_order_nothing() -> None:
    only_auth = JailTable(JailPolicy(jails=(DEFAULT_JAILS[0],)))
    assert only_auth.offence(SCANNER, "203.0.113.5", True, T0) is None
    assert JailTable().offence(SCANNER, "not-an-ip", True, T0) is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"maxretry": 0}, "maxretry"),
        ({"escalation": 0.5}, "escalation"),
        ({"max_bantime": 10.0}, "max_bantime"),
        ({"unverified_maxretry": 2}, "unverified_maxretry"),
        ({"events": ()}, "event"),
    ],
)
def test_bad_jails_are_refused(kwargs: dict[str, object], match: str) -> None:
    base: dict[str, object] = {
        "name": "j", "events": (AUTH,), "maxretry": 5, "findtime": 60.0, "bantime": 60.0,
    }  # fmt: skip
    with pytest.raises(ValueError, match=match):
        Jail(**{**base, **kwargs})  # type: ignore[arg-type]


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="not an IP"):
        JailPolicy(ignore=("10.0.0.0/33",))
    with pytest.raises(ValueError, match="unique"):
        JailPolicy(jails=(DEFAULT_JAILS[0], DEFAULT_JAILS[0]))


ADDRESSES = st.sampled_from(
    ["203.0.113.5", "203.0.113.6", "198.51.100.7", "::ffff:198.51.100.9", "2001:db8::1",
     "2001:db8::2", "2001:db8:1::1", "192.0.2.1"]
)  # fmt: skip
IGNORED = ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("2001:db8::/64")


JAILS = st.builds(
    lambda maxretry, bantime, escalation, cap, unverified: Jail(
        "j", tuple(OffenceKind), maxretry, 60.0, bantime, escalation, bantime * cap, unverified
    ),
    st.integers(1, 4),
    st.floats(1.0, 10_000.0),
    st.floats(1.0, 1000.0),
    st.floats(1.0, 100.0),
    st.one_of(st.none(), st.integers(4, 6)),
)
OFFENCES = st.lists(
    st.tuples(ADDRESSES, st.sampled_from(list(OffenceKind)), st.booleans(), st.floats(0, 30)),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(jail=JAILS, offences=OFFENCES)
def test_property_ignored_never_banned_and_bans_never_exceed_the_maximum(
    jail: Jail, offences: list[tuple[str, OffenceKind, bool, float]]
) -> None:
    table = JailTable(JailPolicy((jail,), ignore=tuple(map(str, IGNORED))), max_sources=4)
    wall = T0
    for source, kind, verified, step in offences:
        wall += step
        order = table.offence(kind, source, verified, wall)
        if order is None:
            continue
        banned = ipaddress.ip_network(order.network)
        assert not any(banned.overlaps(net) for net in IGNORED)
        address = ipaddress.ip_address(source)
        assert not any(address in net for net in IGNORED)
        assert wall < order.until <= wall + jail.max_bantime
        assert verified or jail.unverified_maxretry is not None
