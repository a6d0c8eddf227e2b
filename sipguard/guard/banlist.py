"""The ban list: which addresses and networks are banned until when (fail2ban's "act").

Rules of this file:
- ``is_banned`` runs for every datagram and connection before parsing, so it is a dict
  lookup: exact addresses by their text first (no parsing for an IPv4 host when no IPv4
  network is banned); otherwise the host is parsed once, to an integer, and looked up
  at its full length and at each banned prefix length present (usually just /64).
- An IPv4-mapped IPv6 address (``::ffff:203.0.113.5``) is the IPv4 address it maps:
  banned as, and checked as, IPv4.
- Networks are held in canonical text (``203.0.113.5``, ``198.51.100.0/24``,
  ``2001:db8::/64``); a single address is written without a prefix length.
- ``ban`` adds or extends, never shortens (to shorten: ``unban``, then ``ban``); the
  reads never change anything; expired bans stay invisible until ``purge_expired``.
- Bounded: at ``max_entries`` the ban that ends soonest is evicted for the new one.
"""

from __future__ import annotations

import heapq
import ipaddress
import socket
from collections import Counter

from sipguard.guard.state import BanOrder

__all__ = ["BanList", "InvalidNetworkError", "canonical_network", "network_of"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_NetKey = tuple[int, int, int]
"""(IP version, prefix length, address >> host bits): a network as a hashable key."""
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


class InvalidNetworkError(ValueError):
    """Text that is neither an IP address nor a network in CIDR notation."""


def _address(host: str) -> IPAddress:
    addr = ipaddress.ip_address(host)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _parse_host(host: str) -> tuple[int, int] | None:
    """(IP version, address as an integer), a mapped IPv6 address as IPv4; None if
    ``host`` is not an IP literal. inet_pton: several times faster than ipaddress."""
    try:
        if ":" not in host:
            return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, host))
        value = int.from_bytes(socket.inet_pton(socket.AF_INET6, host.partition("%")[0]))
    except OSError:
        return None
    if value >> 32 == 0xFFFF:  # ::ffff:a.b.c.d
        return 4, value & 0xFFFFFFFF
    return 6, value


def network_of(host: str, ipv6_prefix: int) -> str:
    """The network an offender is counted and banned by: an IPv4 address as itself (a
    mapped one as IPv4), an IPv6 address as its ``ipv6_prefix`` network.

    Raises:
        ValueError: ``host`` is not an IP literal.
    """
    addr = _address(host)
    if addr.version == 4 or ipv6_prefix >= 128:
        return str(addr)
    bits = 128 - ipv6_prefix
    return f"{ipaddress.IPv6Address(int(addr) >> bits << bits)}/{ipv6_prefix}"


def _parse_network(text: str) -> IPNetwork:
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise InvalidNetworkError(f"{text!r} is not an IP address or network") from None
    if isinstance(net, ipaddress.IPv6Network) and net.subnet_of(_MAPPED):
        base = int(net.network_address) & 0xFFFFFFFF
        return ipaddress.IPv4Network((base, net.prefixlen - 96))
    return net


def _render(net: IPNetwork) -> str:
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return str(net)


def canonical_network(text: str) -> str:
    """``text`` (an address or CIDR; host bits are cleared) in canonical form.

    Raises:
        InvalidNetworkError: ``text`` is neither an address nor a network.
    """
    return _render(_parse_network(text))


def _key(net: IPNetwork) -> _NetKey:
    bits = net.max_prefixlen - net.prefixlen
    return (net.version, net.prefixlen, int(net.network_address) >> bits)


class BanList:
    """Banned addresses and networks (the ``Bans`` protocol, plus management)."""

    __slots__ = ("_by_key", "_exact", "_heap", "_lengths", "_max_entries")

    def __init__(self, max_entries: int = 1_000_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._exact: dict[str, BanOrder] = {}
        """Single addresses, by canonical text."""
        self._by_key: dict[_NetKey, BanOrder] = {}
        """Every ban (single addresses too), by network key."""
        self._lengths: dict[int, Counter[int]] = {4: Counter(), 6: Counter()}
        """Per IP version, how many network (not single-address) bans use each length."""
        self._heap: list[tuple[float, _NetKey]] = []
        """(until, key) per ban; stale pairs (extended or removed bans) are skipped."""

    def __len__(self) -> int:
        return len(self._by_key)

    def is_banned(self, host: str, wall: float) -> bool:
        """True while ``host`` (an IP literal) is inside an unexpired ban."""
        order = self._exact.get(host)
        if order is not None and order.until > wall:
            return True
        if ":" not in host and not self._lengths[4]:
            return False  # IPv4 in canonical text, and no IPv4 network is banned
        parsed = _parse_host(host)
        if parsed is None:
            return False
        version, value = parsed
        bits = 32 if version == 4 else 128
        order = self._by_key.get((version, bits, value))
        if order is not None and order.until > wall:
            return True
        for length in self._lengths[version]:
            order = self._by_key.get((version, length, value >> (bits - length)))
            if order is not None and order.until > wall:
                return True
        return False

    def ban(self, order: BanOrder) -> None:
        """Add ``order``, or extend the ban on its network (a shorter one changes nothing).

        Raises:
            InvalidNetworkError: ``order.network`` is not an address or network.
        """
        net = _parse_network(order.network)
        key = _key(net)
        held = self._by_key.get(key)
        if held is not None:
            if held.until >= order.until:
                return
            self._forget(key)
        elif len(self._by_key) >= self._max_entries:
            self._evict_soonest()
        order = BanOrder(_render(net), order.until, order.jail, order.offences)
        self._by_key[key] = order
        if net.prefixlen == net.max_prefixlen:
            self._exact[order.network] = order
        else:
            self._lengths[net.version][net.prefixlen] += 1
        heapq.heappush(self._heap, (order.until, key))
        self._compact()

    def get(self, network: str) -> BanOrder | None:
        """The ban held on exactly ``network`` (expired or not), or None.

        Raises:
            InvalidNetworkError: ``network`` is not an address or network.
        """
        return self._by_key.get(_key(_parse_network(network)))

    def unban(self, network: str) -> bool:
        """Lift the ban on exactly ``network``; False when there was none.

        Raises:
            InvalidNetworkError: ``network`` is not an address or network.
        """
        key = _key(_parse_network(network))
        if key not in self._by_key:
            return False
        self._forget(key)
        return True

    def purge_expired(self, wall: float) -> list[str]:
        """Remove the bans ended by ``wall``; returns their networks."""
        removed: list[str] = []
        while self._heap and self._heap[0][0] <= wall:
            until, key = heapq.heappop(self._heap)
            held = self._by_key.get(key)
            if held is not None and held.until == until:
                removed.append(held.network)
                self._forget(key)
        return removed

    def entries(self, wall: float) -> list[BanOrder]:
        """The unexpired bans, soonest ending first."""
        live = [o for o in self._by_key.values() if o.until > wall]
        return sorted(live, key=lambda o: (o.until, o.network))

    def _forget(self, key: _NetKey) -> None:
        order = self._by_key.pop(key)
        version, length, _ = key
        if length == (32 if version == 4 else 128):
            del self._exact[order.network]
        else:
            lengths = self._lengths[version]
            lengths[length] -= 1
            if lengths[length] == 0:
                del lengths[length]

    def _evict_soonest(self) -> None:
        while self._heap:
            until, key = heapq.heappop(self._heap)
            held = self._by_key.get(key)
            if held is not None and held.until == until:
                self._forget(key)
                return

    def _compact(self) -> None:
        # Extensions leave stale heap pairs behind; rebuild before they outnumber bans.
        if len(self._heap) > 2 * len(self._by_key) + 64:
            self._heap = [(o.until, k) for k, o in self._by_key.items()]
            heapq.heapify(self._heap)
