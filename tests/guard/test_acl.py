"""ACL stage: deny wins, allow lists, trusted peers, IPv6, mapped addresses, listeners."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipguard.config import TransportName
from sipguard.guard import Drop, GuardContext, GuardState, Pass, Reason, Reject
from sipguard.guard.acl import AclPolicy, AclStage, ListenerAcl, ip_set, source_address
from sipguard.guard.calls import CallTable
from sipguard.guard.pipeline import Outcome
from sipguard.guard.sightings import SightingTable
from sipguard.sip.transports import TlsPeer
from sipguard.transport.base import Peer
from tests.helpers.sipmsg import parse_request, request

REQ = parse_request(request("OPTIONS", "sip:biloxi.example.com"))
UDP_LISTENER = Peer(TransportName.UDP, "192.0.2.1", 5060)


class Untouched:
    """The state tables the ACL must never read or write."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"acl touched state: {name}")


_UNTOUCHED: Any = Untouched()
STATE = GuardState(
    _UNTOUCHED, _UNTOUCHED, _UNTOUCHED, _UNTOUCHED, SightingTable(1, 1, 1), CallTable()
)


def decide(policy: AclPolicy, host: str, listener: Peer = UDP_LISTENER) -> Outcome:
    ctx = GuardContext(Peer(listener.transport, host, 5060), listener, now=1.0, wall=1.0)
    return AclStage(policy).decide(REQ, ctx, STATE)


def test_an_empty_policy_lets_everyone_in_untrusted() -> None:
    outcome = decide(AclPolicy(), "203.0.113.5")
    assert outcome.verdict == Pass()
    assert outcome.context is None


def test_deny_drops() -> None:
    outcome = decide(AclPolicy(deny=("203.0.113.0/24",)), "203.0.113.5")
    assert outcome.verdict == Drop(Reason.ACL_DENIED)
    assert outcome.effects == ()  # policy, not misbehaviour: no offence


def test_deny_wins_over_allow_and_trusted() -> None:
    policy = AclPolicy(allow=("203.0.113.0/24",), trusted=("203.0.113.5",), deny=("203.0.113.5",))
    assert decide(policy, "203.0.113.5").verdict == Drop(Reason.ACL_DENIED)
    assert decide(policy, "203.0.113.6").verdict == Pass()


def test_an_allow_list_drops_everyone_else() -> None:
    policy = AclPolicy(allow=("198.51.100.0/24", "2001:db8::/32"))
    assert decide(policy, "198.51.100.9").verdict == Pass()
    assert decide(policy, "2001:db8:5::1").verdict == Pass()
    assert decide(policy, "203.0.113.5").verdict == Drop(Reason.NOT_ALLOWED)
    assert decide(policy, "2001:db9::1").verdict == Drop(Reason.NOT_ALLOWED)


def test_trusted_peers_pass_marked_trusted_even_outside_allow() -> None:
    policy = AclPolicy(allow=("198.51.100.0/24",), trusted=("192.0.2.50", "2001:db8:1::/48"))
    for host in ("192.0.2.50", "2001:db8:1::7"):
        outcome = decide(policy, host)
        assert outcome.verdict == Pass()
        assert outcome.context is not None
        assert outcome.context.trusted
        assert outcome.context.source.host == host


def test_ipv4_mapped_sources_are_read_as_ipv4() -> None:
    policy = AclPolicy(deny=("203.0.113.0/24",), trusted=("192.0.2.50",))
    assert decide(policy, "::ffff:203.0.113.5").verdict == Drop(Reason.ACL_DENIED)
    trusted = decide(policy, "::ffff:192.0.2.50")
    assert trusted.context is not None
    assert trusted.context.trusted


def test_ipv4_mapped_entries_are_read_as_ipv4() -> None:
    policy = AclPolicy(deny=("::ffff:203.0.113.0/120",))
    assert decide(policy, "203.0.113.5").verdict == Drop(Reason.ACL_DENIED)
    assert decide(policy, "203.0.114.5").verdict == Pass()


def test_a_source_that_is_not_an_address_is_dropped() -> None:
    outcome = decide(AclPolicy(), "not-an-ip")
    assert outcome.verdict == Drop(Reason.NOT_ALLOWED, "source is not an IP address")


def policy_with(field: str, entries: tuple[str, ...]) -> AclPolicy:
    return {
        "allow": AclPolicy(allow=entries),
        "deny": AclPolicy(deny=entries),
        "trusted": AclPolicy(trusted=entries),
    }[field]


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "10.0.0.1/8", "example.com", "1.2.3", ""])
@pytest.mark.parametrize("field", ["allow", "deny", "trusted"])
def test_a_bad_cidr_is_refused_by_name(field: str, entry: str) -> None:
    with pytest.raises(ValueError, match=f"{field}: '{entry}'"):
        AclStage(policy_with(field, ("192.0.2.0/24", entry)))


def test_a_listener_can_take_trusted_sources_only() -> None:
    policy = AclPolicy(trusted=("192.0.2.50",), listeners={"udp": ListenerAcl(trusted_only=True)})
    assert decide(policy, "203.0.113.5").verdict == Drop(
        Reason.NOT_ALLOWED, "listener takes trusted sources only"
    )
    assert decide(policy, "192.0.2.50").verdict == Pass()
    tls = Peer(TransportName.TLS, "192.0.2.1", 5061)
    assert decide(policy, "203.0.113.5", tls).verdict == Pass()


def test_the_exact_listener_wins_over_its_transport() -> None:
    policy = AclPolicy(
        listeners={"udp": ListenerAcl(trusted_only=True), "UDP:192.0.2.1:5060": ListenerAcl()}
    )
    assert decide(policy, "203.0.113.5").verdict == Pass()
    other = Peer(TransportName.UDP, "192.0.2.2", 5060)
    assert isinstance(decide(policy, "203.0.113.5", other).verdict, Drop)


def test_an_ipv6_listener_key() -> None:
    policy = AclPolicy(listeners={"tls:[2001:db8:0::1]:5061": ListenerAcl(trusted_only=True)})
    listener = Peer(TransportName.TLS, "2001:db8::1", 5061)
    assert isinstance(decide(policy, "2001:db8::9", listener).verdict, Drop)


def test_a_listener_allow_list_replaces_the_global_one() -> None:
    policy = AclPolicy(
        allow=("198.51.100.0/24",), listeners={"tcp": ListenerAcl(allow=("203.0.113.0/24",))}
    )
    tcp = Peer(TransportName.TCP, "192.0.2.1", 5060)
    assert decide(policy, "203.0.113.5", tcp).verdict == Pass()
    assert decide(policy, "198.51.100.9", tcp).verdict == Drop(Reason.NOT_ALLOWED)
    assert decide(policy, "198.51.100.9").verdict == Pass()


@pytest.mark.parametrize(
    "key", ["sctp", "udp:example.com:5060", "udp:192.0.2.1", "udp:192.0.2.1:99999", "udp::5060"]
)
def test_a_bad_listener_key_is_refused_by_name(key: str) -> None:
    with pytest.raises(ValueError, match=f"listener override '{key}'"):
        AclStage(AclPolicy(listeners={key: ListenerAcl()}))


def test_a_bad_listener_allow_entry_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="udp allow: 'nope'"):
        AclStage(AclPolicy(listeners={"udp": ListenerAcl(allow=("nope",))}))


@given(
    networks=st.lists(
        st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)), min_size=1, max_size=8
    ),
    probes=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=16),
)
@settings(max_examples=200, deadline=None)
def test_cidr_set_agrees_with_ipaddress(networks: list[tuple[int, int]], probes: list[int]) -> None:
    cidrs = [ipaddress.ip_network((value, plen), strict=False) for value, plen in networks]
    table = ip_set([str(c) for c in cidrs], "test")
    for value in probes:
        address = ipaddress.IPv4Address(value)
        expected = any(address in c for c in cidrs)
        assert (source_address(str(address)) in table) is expected


TLS_LISTENER = Peer(TransportName.TLS, "192.0.2.1", 5061)
TRUNK = TlsPeer("SHA256:" + ":".join(["AB"] * 32), ("trunk1.carrier.example", "sip:trunk1"))


def tls_decide(policy: AclPolicy, peer: TlsPeer | None, host: str = "203.0.113.5") -> Outcome:
    ctx = GuardContext(Peer(TransportName.TLS, host, 40000), TLS_LISTENER, 1.0, 1.0, peer)
    return AclStage(policy).decide(REQ, ctx, STATE)


@pytest.mark.parametrize(
    "policy",
    [
        AclPolicy(trusted_fingerprints=(TRUNK.fingerprint.lower(),)),  # any case
        AclPolicy(trusted_names=("TRUNK1.carrier.example",)),
        AclPolicy(trusted_names=("sip:trunk1",)),
    ],
)
def test_a_listed_client_certificate_makes_a_tls_peer_trusted(policy: AclPolicy) -> None:
    outcome = tls_decide(policy, TRUNK)
    assert outcome.verdict == Pass()
    assert outcome.context is not None
    assert outcome.context.trusted


def test_an_unlisted_or_absent_certificate_is_not_trusted() -> None:
    policy = AclPolicy(trusted_names=("other.example",), trusted_fingerprints=("SHA256:00",))
    for peer in (TRUNK, None):
        outcome = tls_decide(policy, peer)
        assert outcome.verdict == Pass()
        assert outcome.context is None  # untrusted: authentication follows


def test_deny_wins_over_a_trusted_certificate() -> None:
    policy = AclPolicy(deny=("203.0.113.0/24",), trusted_names=("trunk1.carrier.example",))
    assert tls_decide(policy, TRUNK).verdict == Drop(Reason.ACL_DENIED)


TLS_FIRST = AclPolicy(plaintext_methods=("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"))


@pytest.mark.parametrize("transport", [TransportName.UDP, TransportName.TCP, TransportName.WS])
def test_tls_first_refuses_register_over_plaintext(transport: TransportName) -> None:
    register = parse_request(request("REGISTER", "sip:biloxi.example.com"))
    ctx = GuardContext(Peer(transport, "203.0.113.5", 5060), UDP_LISTENER, 1.0, 1.0)
    outcome = AclStage(TLS_FIRST).decide(register, ctx, STATE)
    assert outcome.verdict == Reject(403, Reason.TLS_REQUIRED, f"REGISTER over {transport}",
                                     phrase="TLS Required")  # fmt: skip
    assert AclStage(TLS_FIRST).decide(REQ, ctx, STATE).verdict == Pass()  # OPTIONS is listed


@pytest.mark.parametrize("transport", [TransportName.TLS, TransportName.WSS])
def test_tls_first_lets_register_in_over_tls(transport: TransportName) -> None:
    register = parse_request(request("REGISTER", "sip:biloxi.example.com"))
    ctx = GuardContext(Peer(transport, "203.0.113.5", 5061), TLS_LISTENER, 1.0, 1.0)
    assert AclStage(TLS_FIRST).decide(register, ctx, STATE).verdict == Pass()


def test_tls_first_does_not_apply_to_trusted_peers() -> None:
    register = parse_request(request("REGISTER", "sip:biloxi.example.com"))
    policy = AclPolicy(trusted=("198.51.100.0/24",), plaintext_methods=())
    ctx = GuardContext(Peer(TransportName.UDP, "198.51.100.9", 5060), UDP_LISTENER, 1.0, 1.0)
    assert AclStage(policy).decide(register, ctx, STATE).verdict == Pass()
