"""The routing modes as one decision (RFC 3261 §16.5): where each kind of request goes."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from sipguard.config import DispatcherConfig, Mode, TransportName, UpstreamConfig
from sipguard.proxy.balancer import Balancer, Target
from sipguard.proxy.identity import ListenAddress, LocalIdentity
from sipguard.proxy.location import Location
from sipguard.proxy.router import Answer, Forward, Register, route_request
from sipguard.sip import Request, SipUri, parse_message, parse_uri
from sipguard.store.base import Binding, PutBinding

ME = LocalIdentity(
    "example.com",
    (
        ListenAddress(TransportName.UDP, "192.0.2.1", 5060),
        ListenAddress(TransportName.TCP, "192.0.2.1", 5060),
    ),
)
NOW = 1_700_000_000.0
PBX = parse_uri("sip:10.0.0.5:5070")
assert isinstance(PBX, SipUri)
UPSTREAMS: Sequence[Target] = Balancer(
    [UpstreamConfig(PBX)], DispatcherConfig(probe_interval=0)
).targets


def req(start: str, *headers: str, to_tag: str | None = None) -> Request:
    method = start.split(maxsplit=1)[0]
    to = "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    lines = [
        start,
        "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK776asdhds",
        "Max-Forwards: 70",
        "From: <sip:alice@example.com>;tag=1928301774",
        f"To: {to}",
        "Call-ID: a84b4c76e66710@198.51.100.7",
        f"CSeq: 2 {method}",
        *headers,
        "Content-Length: 0",
        "",
        "",
    ]
    msg = parse_message("\r\n".join(lines).encode())
    assert isinstance(msg, Request)
    return msg


def decide(
    request: Request,
    mode: Mode,
    *,
    location: Location | None = None,
    loose_routed: bool = False,
    upstreams: Sequence[Target] = UPSTREAMS,
) -> Forward | Answer | Register:
    return route_request(
        request,
        mode=mode,
        identity=ME,
        location=location or Location(),
        upstreams=lambda: upstreams,
        failover=(408, 503),
        now=NOW,
        loose_routed=loose_routed,
    )


def registered(contact: str, source: str, *, path: tuple[str, ...] = ()) -> Location:
    location = Location()
    binding = Binding(
        aor="sip:bob@example.com", contact=contact, expires_at=NOW + 600, q=None,
        call_id="c1", cseq=1, path=path, source=source, user_agent=None, updated_at=NOW,
    )  # fmt: skip
    location.apply([PutBinding(binding)])
    return location


@pytest.mark.parametrize("mode", list(Mode))
def test_a_route_set_wins_in_every_mode(mode: Mode) -> None:
    decision = decide(
        req("BYE sip:bob@203.0.113.9 SIP/2.0", "Route: <sip:p2.example.net;lr>"), mode
    )
    assert isinstance(decision, Forward)
    assert [str(h.uri) for h in decision.hops] == ["sip:p2.example.net;lr"]
    assert decision.hops[0].request_uri is None  # the Request-URI stays


def test_edge_mode_sends_out_of_dialog_requests_upstream_with_failover() -> None:
    decision = decide(req("INVITE sip:bob@example.com SIP/2.0"), Mode.EDGE)
    assert isinstance(decision, Forward)
    assert decision.sequential
    assert decision.failover == {408, 503}
    assert [h.tag for h in decision.hops] == list(UPSTREAMS)


def test_edge_mode_without_an_upstream_answers_503() -> None:
    decision = decide(req("INVITE sip:bob@example.com SIP/2.0"), Mode.EDGE, upstreams=())
    assert decision == Answer(503, "No Upstream Available")


def test_register_goes_to_the_registrar_except_in_edge_mode() -> None:
    register = req("REGISTER sip:example.com SIP/2.0")
    assert isinstance(decide(register, Mode.REGISTRAR), Register)
    assert isinstance(decide(register, Mode.EDGE), Forward)  # the PBX is the registrar


def test_options_to_us_without_a_user_is_answered_here() -> None:
    decision = decide(req("OPTIONS sip:192.0.2.1 SIP/2.0"), Mode.EDGE)
    assert isinstance(decision, Answer)
    assert decision.status == 200
    assert ("Accept", "application/sdp") in decision.headers


def test_no_open_relay_for_foreign_domains_in_registrar_mode() -> None:
    decision = decide(req("INVITE sip:bob@elsewhere.example.org SIP/2.0"), Mode.REGISTRAR)
    assert decision == Answer(403, "Relaying Denied")


def test_unregistered_user_is_480() -> None:
    assert decide(req("INVITE sip:bob@example.com SIP/2.0"), Mode.REGISTRAR) == Answer(480)


def test_udp_registration_is_reached_at_its_source_address() -> None:
    location = registered("sip:bob@10.1.1.20:5062", "udp:203.0.113.50:40123")
    decision = decide(req("INVITE sip:bob@example.com SIP/2.0"), Mode.REGISTRAR, location=location)
    assert isinstance(decision, Forward)
    (hop,) = decision.hops
    assert str(hop.request_uri) == "sip:bob@10.1.1.20:5062"
    assert hop.source is not None
    assert (hop.source.host, hop.source.port) == ("203.0.113.50", 40123)
    assert not decision.sequential  # forking to every binding


def test_tcp_registration_uses_its_contact_unless_behind_a_nat() -> None:
    same = registered("sip:bob@198.51.100.7:5062;transport=tcp", "tcp:198.51.100.7:50000")
    natted = registered("sip:bob@10.1.1.20:5062;transport=tcp", "tcp:203.0.113.50:50000")
    invite = req("INVITE sip:bob@example.com SIP/2.0")
    plain = decide(invite, Mode.REGISTRAR, location=same)
    behind = decide(invite, Mode.REGISTRAR, location=natted)
    assert isinstance(plain, Forward)
    assert isinstance(behind, Forward)
    assert plain.hops[0].source is None
    assert behind.hops[0].source is not None


def test_a_path_is_preloaded_and_its_first_hop_is_next() -> None:
    location = registered(
        "sip:bob@10.1.1.20", "udp:203.0.113.50:5060", path=("<sip:edge.example.net;lr>",)
    )
    decision = decide(req("INVITE sip:bob@example.com SIP/2.0"), Mode.REGISTRAR, location=location)
    assert isinstance(decision, Forward)
    (hop,) = decision.hops
    assert str(hop.uri) == "sip:edge.example.net;lr"
    assert hop.routes == ("<sip:edge.example.net;lr>",)
    assert hop.source is None


def test_redirect_mode_answers_302_with_the_contacts() -> None:
    location = registered("sip:bob@10.1.1.20:5062", "udp:203.0.113.50:40123")
    decision = decide(req("INVITE sip:bob@example.com SIP/2.0"), Mode.REDIRECT, location=location)
    assert decision == Answer(302, headers=(("Contact", "<sip:bob@10.1.1.20:5062>"),))


@pytest.mark.parametrize("mode", list(Mode))
def test_in_dialog_to_a_foreign_target_only_along_our_record_route(mode: Mode) -> None:
    bye = req("BYE sip:pbx@10.0.0.5:5070 SIP/2.0", to_tag="x1")
    followed = decide(bye, mode, loose_routed=True)
    assert isinstance(followed, Forward)
    assert [str(h.uri) for h in followed.hops] == ["sip:pbx@10.0.0.5:5070"]
    assert decide(bye, mode, loose_routed=False) == Answer(403, "Relaying Denied")


def test_the_balancer_is_asked_only_when_the_request_goes_upstream() -> None:
    asked: list[int] = []

    def upstreams() -> Sequence[Target]:
        asked.append(1)
        return UPSTREAMS

    for request in (
        req("OPTIONS sip:192.0.2.1 SIP/2.0"),
        req("BYE sip:bob@203.0.113.9 SIP/2.0", "Route: <sip:p2.example.net;lr>"),
    ):
        route_request(
            request, mode=Mode.EDGE, identity=ME, location=Location(), upstreams=upstreams,
            failover=(), now=NOW,
        )  # fmt: skip
    assert asked == []
