"""Relay stage: no open relay, no foreign REGISTER, no Route injection, RFC 3325 stripping."""

from __future__ import annotations

from typing import Any

import pytest

from sipguard.config import TransportName
from sipguard.guard import GuardContext, GuardState, Pass, Reason, Reject
from sipguard.guard.calls import CallTable
from sipguard.guard.pipeline import Outcome
from sipguard.guard.relay import RelayPolicy, RelayStage
from sipguard.guard.sightings import SightingTable
from sipguard.sip import Request, SipUri, Uri
from sipguard.transport.base import Peer
from tests.helpers.sipmsg import parse_request, request

LISTENER = Peer(TransportName.UDP, "192.0.2.1", 5060)
CTX = GuardContext(Peer(TransportName.UDP, "203.0.113.5", 5060), LISTENER, now=1.0, wall=1.0)
TRUSTED = GuardContext(CTX.source, LISTENER, 1.0, 1.0, trusted=True)
ALICE = GuardContext(CTX.source, LISTENER, 1.0, 1.0, user="alice", verified=True)
CONTACT = "<sip:alice@198.51.100.20>"
PAI = '"Boss" <sip:ceo@biloxi.example.com>'


class Untouched:
    """The state tables the relay stage must never read or write."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"relay touched state: {name}")


_UNTOUCHED: Any = Untouched()
STATE = GuardState(
    _UNTOUCHED, _UNTOUCHED, _UNTOUCHED, _UNTOUCHED, SightingTable(1, 1, 1), CallTable()
)


def our_address(uri: Uri) -> bool:
    """What the proxy's identity says: our listener address is us."""
    return isinstance(uri, SipUri) and uri.host_bare == "192.0.2.1"


STAGE = RelayStage(RelayPolicy(local_domains=("Biloxi.Example.com.",)), is_local=our_address)


def req(method: str = "INVITE", uri: str = "sip:bob@biloxi.example.com", **headers: str) -> Request:
    merged = {"Contact": CONTACT}
    merged.update({k.replace("_", "-"): v for k, v in headers.items()})
    return parse_request(request(method, uri, merged))


def decide(r: Request, ctx: GuardContext = CTX, stage: RelayStage = STAGE) -> Outcome:
    return stage.decide(r, ctx, STATE)


@pytest.mark.parametrize(
    "uri", ["sip:bob@biloxi.example.com", "sip:bob@BILOXI.example.com.", "sip:100@192.0.2.1:5060"]
)
def test_a_call_to_a_local_target_passes_untouched(uri: str) -> None:
    outcome = decide(req(uri=uri))
    assert outcome.verdict == Pass()
    assert outcome.request is None
    assert outcome.effects == ()


def test_a_call_to_a_foreign_domain_is_refused() -> None:
    outcome = decide(req(uri="sip:+881234@evil.example.net"))
    assert outcome.verdict == Reject(
        403, Reason.RELAY_DENIED, "INVITE to evil.example.net", "Relaying Denied"
    )


def test_authenticated_users_call_out_only_when_the_policy_says_so() -> None:
    foreign = req(uri="sip:+441234@carrier.example.net")
    assert isinstance(decide(foreign, ALICE).verdict, Reject)
    relaying = RelayStage(RelayPolicy(allow_authenticated_relay=True), is_local=our_address)
    assert decide(foreign, ALICE, relaying).verdict == Pass()
    assert isinstance(decide(foreign, CTX, relaying).verdict, Reject)  # not authenticated


def test_a_tel_target_is_foreign_unless_is_local_says_so() -> None:
    tel = req(uri="tel:+12125550100")
    assert decide(tel).verdict == Reject(
        403, Reason.RELAY_DENIED, "INVITE to tel", "Relaying Denied"
    )
    pbx_takes_numbers = RelayStage(is_local=lambda uri: uri.scheme == "tel")
    assert decide(tel, stage=pbx_takes_numbers).verdict == Pass()


def test_an_ipv6_local_domain() -> None:
    stage = RelayStage(RelayPolicy(local_domains=("[2001:DB8::1]",)))
    assert decide(req(uri="sip:bob@[2001:db8::1]"), stage=stage).verdict == Pass()


def test_register_for_a_foreign_domain_is_refused_even_when_authenticated() -> None:
    relaying = RelayStage(RelayPolicy(allow_authenticated_relay=True), is_local=our_address)
    foreign = req("REGISTER", "sip:evil.example.net")
    expected = Reject(403, Reason.FOREIGN_REGISTER, "REGISTER for evil.example.net")
    assert decide(foreign).verdict == expected
    assert decide(foreign, ALICE, relaying).verdict == expected
    assert decide(req("REGISTER", "sip:biloxi.example.com")).verdict == Pass()


@pytest.mark.parametrize(
    "route",
    [
        "<sip:192.0.2.1;lr>",
        "<sip:biloxi.example.com;lr>",
        "<sip:192.0.2.1;lr>, <sip:biloxi.example.com;lr>",
    ],
)
def test_a_route_to_us_is_an_outbound_proxy(route: str) -> None:
    assert decide(req(Route=route)).verdict == Pass()


@pytest.mark.parametrize(
    "route", ["<sip:198.51.100.66;lr>", "<sip:192.0.2.1;lr>, <sip:gw.evil.example.net;lr>"]
)
def test_a_route_beyond_us_is_injection(route: str) -> None:
    outcome = decide(req(Route=route))
    assert isinstance(outcome.verdict, Reject)
    assert outcome.verdict.status == 403
    assert outcome.verdict.reason is Reason.ROUTE_INJECTION


def test_route_injection_is_refused_for_authenticated_users_too() -> None:
    relaying = RelayStage(RelayPolicy(allow_authenticated_relay=True), is_local=our_address)
    outcome = decide(req(Route="<sip:198.51.100.66;lr>"), ALICE, relaying)
    assert outcome.verdict == Reject(403, Reason.ROUTE_INJECTION, "Route to 198.51.100.66")


def test_register_with_a_foreign_route_is_injection() -> None:
    outcome = decide(req("REGISTER", "sip:biloxi.example.com", Route="<sip:198.51.100.66;lr>"))
    assert isinstance(outcome.verdict, Reject)
    assert outcome.verdict.reason is Reason.ROUTE_INJECTION


def test_a_malformed_route_is_refused() -> None:
    outcome = decide(req(Route="<sip:192.0.2.1; lr>"))
    assert outcome.verdict == Reject(400, Reason.MALFORMED, "Invalid Route")


def test_in_dialog_requests_are_left_to_the_proxy() -> None:
    bye = req(
        "BYE",
        "sip:bob@198.51.100.77",
        To="<sip:bob@elsewhere.example.net>;tag=9",
        Route="<sip:198.51.100.66;lr>",
    )
    assert decide(bye).verdict == Pass()


def test_trusted_peers_relay_and_keep_identities() -> None:
    r = req(
        uri="sip:+441234@carrier.example.net",
        Route="<sip:198.51.100.66;lr>",
        P_Asserted_Identity=PAI,
    )
    outcome = decide(r, TRUSTED)
    assert outcome.verdict == Pass()
    assert outcome.request is None


def test_identities_from_untrusted_sources_are_removed() -> None:
    r = req(
        P_Asserted_Identity=PAI,
        P_Preferred_Identity="<sip:ceo@biloxi.example.com>",
        Remote_Party_ID="<sip:ceo@biloxi.example.com>;party=calling",
        Subject="hello",
    )
    outcome = decide(r)
    assert outcome.verdict == Pass()
    stripped = outcome.request
    assert stripped is not None
    for name in ("P-Asserted-Identity", "P-Preferred-Identity", "Remote-Party-ID"):
        assert r.has(name)
        assert not stripped.has(name)
    assert stripped.get("Subject") == "hello"
    assert stripped.get("Contact") == CONTACT
    assert b"ceo@" not in stripped.to_bytes()


def test_identities_are_removed_in_dialog_and_when_refusing() -> None:
    in_dialog = req("UPDATE", To="<sip:bob@biloxi.example.com>;tag=9", P_Asserted_Identity=PAI)
    stripped = decide(in_dialog).request
    assert stripped is not None
    assert not stripped.has("P-Asserted-Identity")
    refused = decide(req(uri="sip:x@evil.example.net", P_Asserted_Identity=PAI))
    assert isinstance(refused.verdict, Reject)
    assert refused.request is not None
    assert not refused.request.has("P-Asserted-Identity")


def test_a_malformed_identity_is_removed_without_being_read() -> None:
    # Corpus quirk 002 carries an unbalanced quote in P-Asserted-Identity.
    outcome = decide(req(P_Asserted_Identity='"Dave Horton<sip:dave@10.1.0.2>'))
    assert outcome.request is not None
    assert not outcome.request.has("P-Asserted-Identity")
