"""The ban list: exact IPv4, IPv6 prefixes, mapped IPv4, expiry, extension, bounds."""

from __future__ import annotations

import pytest

from sipguard.guard import BanOrder
from sipguard.guard.banlist import BanList, InvalidNetworkError, canonical_network, network_of


def order(network: str, until: float = 100.0, jail: str = "auth") -> BanOrder:
    return BanOrder(network, until, jail, 5)


def test_exact_ipv4() -> None:
    bans = BanList()
    bans.ban(order("203.0.113.5"))
    assert bans.is_banned("203.0.113.5", 50.0)
    assert not bans.is_banned("203.0.113.6", 50.0)
    assert not bans.is_banned("2001:db8::1", 50.0)


def test_ipv6_prefix_covers_the_whole_network() -> None:
    bans = BanList()
    bans.ban(order("2001:db8::/64"))
    assert bans.is_banned("2001:db8::1", 50.0)
    assert bans.is_banned("2001:db8::ffff:ffff:ffff:ffff", 50.0)
    assert bans.is_banned("2001:DB8:0:0::7", 50.0)  # any spelling
    assert not bans.is_banned("2001:db8:0:1::", 50.0)
    assert not bans.is_banned("203.0.113.5", 50.0)


def test_exact_ipv6_and_ipv4_networks() -> None:
    bans = BanList()
    bans.ban(order("2001:db8::5"))
    bans.ban(order("198.51.100.0/24"))
    assert bans.is_banned("2001:db8::5", 50.0)
    assert not bans.is_banned("2001:db8::6", 50.0)
    assert bans.is_banned("198.51.100.200", 50.0)
    assert not bans.is_banned("198.51.101.1", 50.0)


def test_ipv4_mapped_ipv6_is_checked_and_banned_as_ipv4() -> None:
    bans = BanList()
    bans.ban(order("203.0.113.5"))
    assert bans.is_banned("::ffff:203.0.113.5", 50.0)
    bans.ban(order("::ffff:198.51.100.1"))
    assert bans.get("198.51.100.1") == order("198.51.100.1")
    assert bans.is_banned("198.51.100.1", 50.0)
    bans.ban(order("::ffff:192.0.2.0/120"))
    assert bans.is_banned("192.0.2.77", 50.0)


def test_expiry_and_purge() -> None:
    bans = BanList()
    bans.ban(order("203.0.113.5", until=100.0))
    bans.ban(order("2001:db8::/64", until=200.0))
    assert bans.is_banned("203.0.113.5", 99.9)
    assert not bans.is_banned("203.0.113.5", 100.0)
    assert [o.network for o in bans.entries(150.0)] == ["2001:db8::/64"]
    assert len(bans) == 2  # reads never change anything
    assert bans.purge_expired(150.0) == ["203.0.113.5"]
    assert len(bans) == 1
    assert bans.purge_expired(250.0) == ["2001:db8::/64"]
    assert len(bans) == 0
    assert not bans.is_banned("2001:db8::1", 0.0)


def test_ban_extends_and_never_shortens() -> None:
    bans = BanList()
    bans.ban(order("203.0.113.5", until=100.0))
    bans.ban(order("203.0.113.5", until=300.0, jail="scanner"))
    assert bans.get("203.0.113.5") == order("203.0.113.5", until=300.0, jail="scanner")
    bans.ban(order("203.0.113.5", until=150.0))
    assert bans.is_banned("203.0.113.5", 200.0)
    assert bans.purge_expired(200.0) == []  # the stale heap entry is skipped
    assert len(bans) == 1


def test_an_expired_exact_ban_does_not_hide_a_live_network_ban() -> None:
    bans = BanList()
    bans.ban(order("2001:db8::1", until=10.0))
    bans.ban(order("2001:db8::/64", until=100.0))
    assert bans.is_banned("2001:db8::1", 50.0)


def test_unban() -> None:
    bans = BanList()
    bans.ban(order("2001:db8::/64"))
    bans.ban(order("203.0.113.5"))
    assert bans.unban("2001:DB8::1/64")  # any spelling of the network
    assert not bans.is_banned("2001:db8::1", 50.0)
    assert not bans.unban("2001:db8::/64")
    assert bans.unban("203.0.113.5")
    assert len(bans) == 0
    assert bans.purge_expired(1000.0) == []


def test_the_list_is_bounded_and_keeps_the_longest_bans() -> None:
    bans = BanList(max_entries=10)
    for i in range(100):
        bans.ban(order(f"10.0.0.{i}", until=1000.0 + i))
    assert len(bans) == 10
    assert [o.network for o in bans.entries(0.0)] == [f"10.0.0.{i}" for i in range(90, 100)]


def test_bad_input() -> None:
    bans = BanList()
    assert not bans.is_banned("not-an-ip", 0.0)
    with pytest.raises(InvalidNetworkError):
        bans.ban(order("203.0.113.300"))
    with pytest.raises(InvalidNetworkError):
        bans.unban("example.com")


def test_canonical_forms() -> None:
    assert canonical_network(" 2001:DB8::1/64 ") == "2001:db8::/64"
    assert canonical_network("203.0.113.5/32") == "203.0.113.5"
    assert canonical_network("198.51.100.7/24") == "198.51.100.0/24"
    assert canonical_network("::ffff:203.0.113.5") == "203.0.113.5"
    assert network_of("2001:db8::1:2:3:4", 64) == "2001:db8::/64"
    assert network_of("2001:db8::1:2:3:4", 48) == "2001:db8::/48"
    assert network_of("2001:db8::1", 128) == "2001:db8::1"
    assert network_of("::ffff:203.0.113.5", 64) == "203.0.113.5"
