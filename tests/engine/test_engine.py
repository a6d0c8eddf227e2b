"""The engine without sockets: bytes and peers in, actions out (the one place malformed
input is answered or dropped)."""

from __future__ import annotations

import dataclasses
import itertools
import random
from pathlib import Path

import pytest

from sipguard.config import (
    Config,
    DispatcherConfig,
    ListenConfig,
    ServerConfig,
    TransportName,
    UpstreamConfig,
)
from sipguard.engine import Engine, EngineAction, Persist, Resolve, Transmit
from sipguard.engine.registering import PendingRegisters
from sipguard.guard import AclPolicy
from sipguard.guard.digest import Algorithm, expected_response, response_matches
from sipguard.proxy.identity import ListenAddress, LocalIdentity
from sipguard.proxy.location import Location
from sipguard.sip import Request, Response, SipUri, parse_message, parse_uri
from sipguard.transport.base import Inbound, Peer

UDP = TransportName.UDP
ME = Peer(UDP, "192.0.2.1", 5060)
PHONE = Peer(UDP, "198.51.100.7", 5062)
PBX = Peer(UDP, "10.0.0.5", 5070)
NOW, WALL = 100.0, 1_700_000_000.0
MD5 = Algorithm.MD5


def uri(text: str) -> SipUri:
    parsed = parse_uri(text)
    assert isinstance(parsed, SipUri)
    return parsed


def engine(*upstreams: str, stateless: bool = False, trusted: bool = True) -> Engine:
    # The phone's network is trusted unless a test says otherwise: these tests are about
    # proxying, tests/engine/test_guards.py about the guards in front of it.
    config = Config(
        source=Path("test.toml"),
        server=ServerConfig(domain="example.com", stateless=stateless),
        listen=(ListenConfig(UDP, "192.0.2.1", 5060),),
        upstream=tuple(UpstreamConfig(uri(u)) for u in upstreams),
        dispatcher=DispatcherConfig(probe_interval=0),
        acl=AclPolicy(trusted=("198.51.100.0/24",) if trusted else ()),
    )
    identity = LocalIdentity("example.com", (ListenAddress(UDP, "192.0.2.1", 5060),))
    ids = itertools.count()
    return Engine(
        config, identity, Location(), unique=lambda: f"u{next(ids)}",
        rng=random.Random(7), now=NOW,
    )  # fmt: skip


def invite(branch: str = "z9hG4bKph1", *, cseq: str = "1 INVITE") -> bytes:
    return (
        "INVITE sip:2001@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 198.51.100.7:5062;branch={branch}\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:1001@example.com>;tag=f1\r\n"
        "To: <sip:2001@example.com>\r\nCall-ID: call-1@198.51.100.7\r\n"
        f"CSeq: {cseq}\r\nContact: <sip:1001@198.51.100.7:5062>\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def receive(eng: Engine, data: bytes, peer: Peer = PHONE) -> list[EngineAction]:
    return eng.receive(Inbound(data, peer, ME, None, NOW), NOW, WALL)


def sent(actions: list[EngineAction]) -> list[tuple[Peer, Request | Response]]:
    return [(a.dest, parse_message(a.data)) for a in actions if isinstance(a, Transmit)]


def test_an_answerable_malformed_request_gets_400_back_to_its_source() -> None:
    out = receive(engine("sip:10.0.0.5:5070"), invite(cseq="x INVITE"))
    assert len(out) == 1
    assert isinstance(out[0], Transmit)
    assert out[0].dest == PHONE
    # The reply echoes the CSeq as written (RFC 3261 §8.2.6.2), malformed or not.
    assert out[0].data.startswith(b"SIP/2.0 400 Invalid CSeq\r\n")
    assert b"\r\nCSeq: x INVITE\r\n" in out[0].data


def test_unanswerable_bytes_are_dropped_and_counted() -> None:
    eng = engine("sip:10.0.0.5:5070")
    assert receive(eng, b"\x16\x03\x01 garbage\r\n\r\n") == []
    assert receive(eng, invite().replace(b"Via: ", b"Vya: ")) == []
    assert eng.dropped == 2


def test_an_invite_is_trying_at_once_and_forwarded_upstream() -> None:
    out = sent(receive(engine("sip:10.0.0.5:5070"), invite()))
    assert [(d, getattr(m, "status", None) or getattr(m, "method", None)) for d, m in out] == [
        (PHONE, 100),
        (PBX, "INVITE"),
    ]
    forwarded = out[1][1]
    assert isinstance(forwarded, Request)
    assert forwarded.via.host == "192.0.2.1"
    assert forwarded.max_forwards == 69


def test_an_upstream_by_name_asks_for_resolution_then_forwards() -> None:
    eng = engine("sip:pbx.example.net")
    actions = receive(eng, invite())
    resolves = [a for a in actions if isinstance(a, Resolve)]
    assert [str(r.uri) for r in resolves] == ["sip:pbx.example.net"]
    assert [m.status for _, m in sent(actions) if isinstance(m, Response)] == [100]
    later = sent(eng.resolved(resolves[0].token, [PBX], NOW + 0.01, WALL))
    assert [(d, m.method) for d, m in later if isinstance(m, Request)] == [(PBX, "INVITE")]


def test_nothing_resolved_is_a_503() -> None:
    eng = engine("sip:pbx.example.net")
    token = next(a for a in receive(eng, invite()) if isinstance(a, Resolve)).token
    out = sent(eng.resolved(token, [], NOW + 0.01, WALL))
    assert [m.status for _, m in out if isinstance(m, Response)] == [503]


def test_draining_refuses_new_requests_with_503() -> None:
    eng = engine("sip:10.0.0.5:5070")
    eng.draining = True
    (reply,) = [m for _, m in sent(receive(eng, invite()))]
    assert isinstance(reply, Response)
    assert (reply.status, reply.get("Retry-After")) == (503, "30")


def test_stateless_mode_keeps_no_transaction_and_a_stable_branch() -> None:
    eng = engine("sip:10.0.0.5:5070", stateless=True)
    first = sent(receive(eng, invite()))
    again = sent(receive(eng, invite()))  # a retransmission
    assert [d for d, _ in first] == [PBX]  # no 100 Trying: nothing to absorb it with
    assert first[0][1].via.branch == again[0][1].via.branch
    assert eng.core.transactions == (0, 0)


REGISTER = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bKreg1\r\n"
    b"Max-Forwards: 70\r\nFrom: <sip:1001@example.com>;tag=r1\r\n"
    b"To: <sip:1001@example.com>\r\nCall-ID: reg-1@198.51.100.7\r\nCSeq: 1 REGISTER\r\n"
    b"Contact: <sip:1001@198.51.100.7:5062>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n"
)


def contacts_of(eng: Engine, aor: str = "sip:1001@example.com") -> list[str]:
    return [b.contact for b in eng.location.lookup(aor, WALL)]


def test_a_registration_is_visible_and_answered_only_once_the_store_has_it() -> None:
    # RFC 3261 §10.3 step 7: committed (visible to the proxy) iff the store write succeeds.
    eng = engine()
    actions = receive(eng, REGISTER)
    (persist,) = [a for a in actions if isinstance(a, Persist)]
    assert len(persist.changes) == 1
    assert persist.token is not None
    assert [m.status for _, m in sent(actions) if isinstance(m, Response)] == []
    assert contacts_of(eng) == []  # tentative: not visible yet
    answered = eng.persisted(persist.token, True, NOW, WALL)
    ((dest, reply),) = sent(answered)
    assert dest == PHONE
    assert isinstance(reply, Response)
    assert reply.status == 200
    assert [str(c.uri) for c in reply.contacts] == ["sip:1001@198.51.100.7:5062"]
    assert contacts_of(eng) == ["sip:1001@198.51.100.7:5062"]
    assert eng.persisted(persist.token, True, NOW, WALL) == []  # settled once
    assert eng.expire_bindings(WALL + 601) != []


def test_a_registration_the_store_cannot_write_gets_500_and_changes_nothing() -> None:
    eng = engine()
    (persist,) = [a for a in receive(eng, REGISTER) if isinstance(a, Persist)]
    assert persist.token is not None
    ((_, reply),) = sent(eng.persisted(persist.token, False, NOW, WALL))
    assert isinstance(reply, Response)
    assert (reply.status, reply.reason) == (500, "Server Internal Error")
    assert contacts_of(eng) == []
    # The retransmission is absorbed by the transaction: the 500 again, no second write.
    again = receive(eng, REGISTER)
    assert [a for a in again if isinstance(a, Persist)] == []
    assert [m.status for _, m in sent(again) if isinstance(m, Response)] == [500]


def test_too_many_registrations_waiting_for_the_store_get_500_at_once() -> None:
    eng = engine()
    eng._registering = PendingRegisters(limit=1)
    first = receive(eng, REGISTER)
    assert [a for a in first if isinstance(a, Persist)] != []
    other = REGISTER.replace(b"z9hG4bKreg1", b"z9hG4bKreg2").replace(b"reg-1@", b"reg-2@")
    second = receive(eng, other)
    assert [a for a in second if isinstance(a, Persist)] == []
    assert [m.status for _, m in sent(second) if isinstance(m, Response)] == [500]


def test_reconfigure_swaps_the_upstream_set() -> None:
    eng = engine("sip:10.0.0.5:5070")
    new = dataclasses.replace(eng.config, upstream=(UpstreamConfig(uri("sip:10.0.0.6:5070")),))
    eng.reconfigure(new, NOW)
    out = sent(receive(eng, invite()))
    assert [d.host for d, m in out if isinstance(m, Request)] == ["10.0.0.6"]


def test_a_via_naming_a_transport_we_do_not_listen_on_is_not_believed() -> None:
    # The request came over UDP; its Via says TCP (a TLS-terminating hop in front, or a
    # lie). We listen on UDP only: one Record-Route, facing the way out, and no crash.
    lying = invite().replace(b"Via: SIP/2.0/UDP", b"Via: SIP/2.0/TCP")
    out = sent(receive(engine("sip:10.0.0.5:5070"), lying))
    forwarded = next(m for d, m in out if d == PBX)
    assert isinstance(forwarded, Request)
    assert [str(r.uri) for r in forwarded.record_routes] == ["sip:192.0.2.1:5060;lr"]


@pytest.mark.parametrize("stateless", [False, True])
def test_a_sips_request_is_never_forwarded_over_a_plain_transport(stateless: bool) -> None:
    # RFC 5630 §5.3: the upstream is reached over UDP, so the SIPS request cannot go there.
    sips = invite().replace(b"INVITE sip:2001@", b"INVITE sips:2001@")
    out = sent(receive(engine("sip:10.0.0.5:5070", stateless=stateless), sips))
    assert all(d != PBX for d, _ in out)
    final = [m for _, m in out if isinstance(m, Response) and m.status >= 200]
    assert [(m.status, m.get("Warning")) for m in final] == [
        (480, '380 example.com "SIPS Not Allowed"')
    ]


def test_a_sip_request_still_goes_over_udp() -> None:
    out = sent(receive(engine("sip:10.0.0.5:5070"), invite()))
    assert any(d == PBX for d, _ in out)


def test_a_tls_upstream_named_by_host_is_checked_for_that_name() -> None:
    tls = TransportName.TLS
    config = Config(
        source=Path("test.toml"),
        server=ServerConfig(domain="example.com"),
        listen=(ListenConfig(UDP, "192.0.2.1", 5060), ListenConfig(tls, "192.0.2.1", 5061)),
        upstream=(UpstreamConfig(uri("sip:pbx.example.net;transport=tls")),),
        dispatcher=DispatcherConfig(probe_interval=0),
        acl=AclPolicy(trusted=("198.51.100.0/24",)),
    )
    listeners = (ListenAddress(UDP, "192.0.2.1", 5060), ListenAddress(tls, "192.0.2.1", 5061))
    eng = Engine(
        config, LocalIdentity("example.com", listeners), Location(), unique=lambda: "u1",
        rng=random.Random(7), now=NOW,
    )  # fmt: skip
    token = next(a for a in receive(eng, invite()) if isinstance(a, Resolve)).token
    later = eng.resolved(token, [Peer(tls, "10.0.0.5", 5061)], NOW, WALL)
    (to_pbx,) = [a for a in later if isinstance(a, Transmit) and a.dest.host == "10.0.0.5"]
    assert to_pbx.server_name == "pbx.example.net"
    assert to_pbx.data.startswith(b"INVITE ")


def nated_invite() -> bytes:
    # The phone sits behind a NAT: its Contact names its private address.
    return invite().replace(
        b"Contact: <sip:1001@198.51.100.7:5062>", b"Contact: <sip:1001@192.168.1.20:5062>"
    )


def in_dialog(method: str, uri: str, route: str, via: str, cseq: int) -> bytes:
    return (
        f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch=z9hG4bK{method}{cseq}\r\n"
        f"Route: {route}\r\nMax-Forwards: 70\r\nFrom: <sip:2001@example.com>;tag=pbx\r\n"
        f"To: <sip:1001@example.com>;tag=f1\r\nCall-ID: call-1@198.51.100.7\r\n"
        f"CSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def test_requests_to_a_phone_behind_a_nat_go_to_its_public_address() -> None:
    eng = engine("sip:10.0.0.5:5070")
    out = sent(receive(eng, nated_invite()))
    forwarded = next(m for d, m in out if d == PBX)
    assert isinstance(forwarded, Request)
    (route,) = forwarded.get_all("Record-Route")
    assert ";sgflow=" in route  # our entry remembers where the phone really is
    # The PBX hangs up: Request-URI the private Contact, Route our entry.
    bye = in_dialog("BYE", "sip:1001@192.168.1.20:5062", route, "10.0.0.5:5070", 2)
    out = sent(receive(eng, bye, PBX))
    assert [d for d, m in out if isinstance(m, Request)] == [PHONE]
    # The phone's own in-dialog request is not sent back to it.
    reinvite = in_dialog("OPTIONS", "sip:2001@10.0.0.5:5070", route, "198.51.100.7:5062", 3)
    out = sent(receive(eng, reinvite, PHONE))
    assert [d for d, m in out if isinstance(m, Request)] == [PBX]


def test_a_phone_reachable_at_its_contact_gets_no_flow() -> None:
    out = sent(receive(engine("sip:10.0.0.5:5070"), invite()))
    forwarded = next(m for d, m in out if d == PBX)
    assert isinstance(forwarded, Request)
    assert "sgflow" not in (forwarded.get("Record-Route") or "")


@pytest.mark.parametrize(
    "damage",
    [
        # Bytes that are not UTF-8 in a malformed request (found by fuzzing the engine):
        # the 400's To tag is a hash of header text that must keep them as they came.
        (b"From: <sip:1001@example.com>;tag=f1", b"From: <sip:1001@example.com>;tag\xdb=f1"),
        # A Via naming no transport we know: the 400 goes back to the sender.
        (b"Via: SIP/2.0/UDP", b"Via: SIP/2.0/UD%P"),
    ],
)
def test_a_malformed_request_with_odd_bytes_is_answered_not_crashed_on(
    damage: tuple[bytes, bytes],
) -> None:
    broken = invite().replace(*damage).replace(b"CSeq: 1 INVITE", b"CSeq: x INVITE")
    out = receive(engine("sip:10.0.0.5:5070"), broken)
    (answer,) = [a for a in out if isinstance(a, Transmit)]
    assert answer.dest == PHONE
    assert answer.data.startswith(b"SIP/2.0 400 ")


def test_digest_text_with_bytes_that_are_not_utf8_is_hashed_and_compared_as_received() -> None:
    # The parser keeps undecodable bytes as surrogates; a phone's cnonce or response can
    # carry them, and digest code must neither crash nor match them by accident.
    odd = b"\xdb\xdb".decode("utf-8", "surrogateescape")
    assert not response_matches("ab" * 16, odd)
    value = expected_response("0" * 32, "n", "00000001", odd, "auth", "INVITE", "sip:x", MD5)
    assert len(value) == 32


@pytest.mark.parametrize("route", ["<sip:203.0.113.1;transport=tls;lr>", "<sip:[2001:db8::1];lr>"])
def test_a_route_we_hold_no_listener_for_is_answered_503(route: str) -> None:
    # Found by fuzzing the engine: we listen on UDP over IPv4 only, and a trusted peer's
    # Route names TLS, or IPv6. The request cannot leave; it must not raise either.
    routed = invite().replace(b"Content-Length", f"Route: {route}\r\nContent-Length".encode())
    out = sent(receive(engine("sip:10.0.0.5:5070"), routed))
    finals = [m.status for _, m in out if isinstance(m, Response) and m.status >= 200]
    assert finals == [503]
