"""Topology hiding through the engine: the inside's addresses never reach the outside, and
everything sealed comes back so that dialogs still work (proxy/topology.py)."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

from sipguard.config import (
    Config,
    DispatcherConfig,
    ListenConfig,
    ServerConfig,
    TopologyConfig,
    TransportName,
    UpstreamConfig,
)
from sipguard.engine import Engine, EngineAction, Transmit
from sipguard.guard import AclPolicy
from sipguard.proxy.identity import ListenAddress, LocalIdentity
from sipguard.proxy.location import Location
from sipguard.sip import Request, Response, SipUri, parse_message, parse_uri
from sipguard.transport.base import Inbound, Peer

UDP = TransportName.UDP
ME = Peer(UDP, "192.0.2.1", 5060)
PHONE = Peer(UDP, "198.51.100.7", 5062)
PBX = Peer(UDP, "10.0.0.5", 5070)
INSIDE_PROXY = Peer(UDP, "10.0.0.9", 5060)
NOW, WALL = 100.0, 1_700_000_000.0


def engine(*, hide: bool = True, inside: tuple[str, ...] = ("10.0.0.0/24",)) -> Engine:
    up = parse_uri("sip:10.0.0.5:5070")
    assert isinstance(up, SipUri)
    config = Config(
        source=Path("test.toml"),
        server=ServerConfig(domain="example.com"),
        listen=(ListenConfig(UDP, "192.0.2.1", 5060),),
        upstream=(UpstreamConfig(up),),
        dispatcher=DispatcherConfig(probe_interval=0),
        acl=AclPolicy(trusted=("198.51.100.0/24", "10.0.0.0/24")),
        topology=TopologyConfig(hide=hide, inside=inside),
    )
    identity = LocalIdentity("example.com", (ListenAddress(UDP, "192.0.2.1", 5060),))
    ids = itertools.count()
    return Engine(
        config, identity, Location(), unique=lambda: f"u{next(ids)}",
        rng=random.Random(7), now=NOW,
    )  # fmt: skip


def receive(eng: Engine, data: bytes, peer: Peer) -> list[Transmit]:
    actions: list[EngineAction] = eng.receive(Inbound(data, peer, ME, None, NOW), NOW, WALL)
    return [a for a in actions if isinstance(a, Transmit)]


def headers(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[0]


INVITE = (
    b"INVITE sip:2001@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bKph1\r\n"
    b"Max-Forwards: 70\r\nFrom: <sip:1001@example.com>;tag=f1\r\n"
    b"To: <sip:2001@example.com>\r\nCall-ID: th-1\r\nCSeq: 1 INVITE\r\n"
    b"Contact: <sip:1001@198.51.100.7:5062>\r\nContent-Length: 0\r\n\r\n"
)


def answer_from_pbx(forwarded: Request) -> bytes:
    # The PBX answers behind an inside proxy that record-routed above us.
    vias = "".join(f"Via: {v}\r\n" for v in forwarded.get_all("Via"))
    return (
        "SIP/2.0 200 OK\r\n" + vias
        + "Record-Route: <sip:10.0.0.9;lr>\r\n"
        + "".join(f"Record-Route: {r}\r\n" for r in forwarded.get_all("Record-Route"))
        + "From: <sip:1001@example.com>;tag=f1\r\nTo: <sip:2001@example.com>;tag=pbx1\r\n"
        + "Call-ID: th-1\r\nCSeq: 1 INVITE\r\nContact: <sip:2001@10.0.0.5:5070>\r\n"
        + "Content-Length: 0\r\n\r\n"
    ).encode()  # fmt: skip


def call_answered(eng: Engine) -> Response:
    """The phone calls the PBX; the 200 as the phone receives it."""
    out = receive(eng, INVITE, PHONE)
    forwarded = next(parse_message(t.data) for t in out if t.dest == PBX)
    assert isinstance(forwarded, Request)
    assert b"sgth" not in headers(forwarded.to_bytes())  # the inside sees the truth
    back = receive(eng, answer_from_pbx(forwarded), PBX)
    assert [t.dest for t in back] == [PHONE]
    assert b"10.0.0." not in headers(back[0].data)
    response = parse_message(back[0].data)
    assert isinstance(response, Response)
    return response


def test_the_answer_reaching_the_phone_names_no_inside_address() -> None:
    response = call_answered(engine())
    contact = response.contacts[0].uri
    assert isinstance(contact, SipUri)
    assert (contact.host, contact.port) == ("192.0.2.1", 5060)
    assert contact.user is not None
    assert contact.user.startswith("sgh-")
    routes = response.record_routes
    assert len(routes) == 1  # ours; the inside proxy's entry sealed into it
    assert isinstance(routes[0].uri, SipUri)
    assert routes[0].uri.host == "192.0.2.1"
    assert routes[0].uri.param("sgth")
    assert [str(v.host) for v in response.vias] == ["198.51.100.7"]


def test_the_phones_in_dialog_request_finds_the_inside_again() -> None:
    eng = engine()
    response = call_answered(eng)
    route = response.record_routes[0]
    bye = (
        f"BYE {response.contacts[0].uri} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bKbye1\r\n"
        f"Route: {route}\r\nMax-Forwards: 70\r\n"
        "From: <sip:1001@example.com>;tag=f1\r\nTo: <sip:2001@example.com>;tag=pbx1\r\n"
        "Call-ID: th-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    out = receive(eng, bye, PHONE)
    assert [t.dest for t in out] == [INSIDE_PROXY]  # the sealed Route, restored
    forwarded = parse_message(out[0].data)
    assert isinstance(forwarded, Request)
    assert str(forwarded.uri) == "sip:2001@10.0.0.5:5070"  # the PBX's Contact, restored
    assert [str(r.uri) for r in forwarded.routes] == ["sip:10.0.0.9;lr"]


def test_the_pbxs_request_leaves_with_our_via_only_and_its_answer_comes_back() -> None:
    eng = engine()
    call_answered(eng)
    bye = (
        b"BYE sip:1001@198.51.100.7:5062 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKin1\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKpbx1\r\n"
        b"Route: <sip:192.0.2.1;lr>\r\nMax-Forwards: 69\r\n"
        b"From: <sip:2001@example.com>;tag=pbx1\r\nTo: <sip:1001@example.com>;tag=f1\r\n"
        b"Call-ID: th-1\r\nCSeq: 1 BYE\r\nContact: <sip:2001@10.0.0.5:5070>\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    out = receive(eng, bye, INSIDE_PROXY)
    assert [t.dest for t in out] == [PHONE]
    assert b"10.0.0." not in headers(out[0].data)
    to_phone = parse_message(out[0].data)
    assert isinstance(to_phone, Request)
    assert len(to_phone.vias) == 1
    ok = (
        "SIP/2.0 200 OK\r\n"
        f"Via: {to_phone.get_all('Via')[0]}\r\n"
        "From: <sip:2001@example.com>;tag=pbx1\r\nTo: <sip:1001@example.com>;tag=f1\r\n"
        "Call-ID: th-1\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    back = receive(eng, ok, PHONE)
    assert [t.dest for t in back] == [INSIDE_PROXY]
    restored = parse_message(back[0].data)
    assert isinstance(restored, Response)
    assert [(v.host, v.branch) for v in restored.vias] == [
        ("10.0.0.9", "z9hG4bKin1"),
        ("10.0.0.5", "z9hG4bKpbx1"),
    ]


def test_a_forged_token_is_not_opened() -> None:
    eng = engine()
    response = call_answered(eng)
    contact = response.contacts[0].uri
    assert isinstance(contact, SipUri)
    assert contact.user is not None
    forged_user = contact.user[:-4] + ("AAAA" if contact.user[-4:] != "AAAA" else "BBBB")
    bye = (
        f"BYE sip:{forged_user}@192.0.2.1:5060 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bKbye2\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:1001@example.com>;tag=f1\r\n"
        "To: <sip:2001@example.com>;tag=pbx1\r\nCall-ID: th-1\r\nCSeq: 3 BYE\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    for transmit in receive(eng, bye, PHONE):
        message = parse_message(transmit.data)
        if isinstance(message, Request):
            assert "10.0.0.5:5070" not in str(message.uri)


def test_without_hiding_the_inside_shows() -> None:
    eng = engine(hide=False)
    out = receive(eng, INVITE, PHONE)
    forwarded = next(parse_message(t.data) for t in out if t.dest == PBX)
    assert isinstance(forwarded, Request)
    back = receive(eng, answer_from_pbx(forwarded), PBX)
    assert b"10.0.0.5" in headers(back[0].data)
