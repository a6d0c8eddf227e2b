"""The topology hider alone: tokens, and each header sealed then restored."""

from __future__ import annotations

import pytest

from sipguard.config import TransportName
from sipguard.proxy.identity import ListenAddress, LocalIdentity
from sipguard.proxy.topology import TopologyHider
from sipguard.sip import Request, Response, SipUri, parse_message
from sipguard.transport.base import Peer

UDP, TCP = TransportName.UDP, TransportName.TCP
IDENTITY = LocalIdentity(
    "example.com", (ListenAddress(UDP, "192.0.2.1", 5060), ListenAddress(TCP, "192.0.2.1", 5060))
)
HIDER = TopologyHider(b"k" * 32, IDENTITY)
OUTSIDE = Peer(UDP, "198.51.100.7", 5062)


def request(text: str) -> Request:
    message = parse_message(text.replace("\n", "\r\n").encode())
    assert isinstance(message, Request)
    return message


def response(text: str) -> Response:
    message = parse_message(text.replace("\n", "\r\n").encode())
    assert isinstance(message, Response)
    return message


# An INVITE from the PBX, as the core forwards it outside: our Via and Record-Route on top.
FROM_PBX = """INVITE sip:1001@198.51.100.7:5062 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKout1
Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKin1, SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKpbx
Record-Route: <sip:192.0.2.1;lr>
Record-Route: <sip:10.0.0.9;lr>
Max-Forwards: 69
From: <sip:2001@example.com>;tag=p1
To: <sip:1001@example.com>
Call-ID: c1
CSeq: 1 INVITE
Contact: "PBX" <sip:2001@10.0.0.5:5070;ob>;expires=60
Content-Length: 0

"""


def test_a_token_opens_to_what_was_sealed_and_only_with_the_key() -> None:
    token = HIDER.seal(["sip:a@10.0.0.5", "SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKx"])
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert HIDER.open(token) == ["sip:a@10.0.0.5", "SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKx"]
    assert HIDER.seal(["x"]) == HIDER.seal(["x"])  # deterministic: retransmissions match
    assert TopologyHider(b"j" * 32, IDENTITY).open(token) is None
    flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    assert HIDER.open(flipped) is None
    assert HIDER.open("not base64 !") is None


def test_a_request_sent_outside_keeps_only_our_via_and_record_route() -> None:
    hidden = HIDER.hide(request(FROM_PBX), OUTSIDE)
    text = hidden.to_bytes()
    assert b"10.0.0." not in text
    assert [v.host for v in hidden.vias] == ["192.0.2.1"]
    assert [r.uri.host for r in hidden.record_routes if isinstance(r.uri, SipUri)] == ["192.0.2.1"]
    contact = hidden.contacts[0]
    assert contact.display_name == "PBX"
    assert contact.param("expires") == "60"  # header parameters stay
    assert isinstance(contact.uri, SipUri)
    assert (contact.uri.host, contact.uri.port) == ("192.0.2.1", 5060)


def test_the_callees_answer_gets_back_every_via_and_record_route() -> None:
    hidden = HIDER.hide(request(FROM_PBX), OUTSIDE)
    assert isinstance(hidden, Request)
    answer = response(
        "SIP/2.0 200 OK\n"
        + "".join(f"Via: {v}\n" for v in hidden.get_all("Via"))
        + "".join(f"Record-Route: {r}\n" for r in hidden.get_all("Record-Route"))
        + "From: <sip:2001@example.com>;tag=p1\nTo: <sip:1001@example.com>;tag=c\n"
        "Call-ID: c1\nCSeq: 1 INVITE\nContact: <sip:1001@198.51.100.7:5062>\n"
        "Content-Length: 0\n\n"
    )
    restored = HIDER.reveal(answer)
    assert [v.branch for v in restored.vias] == ["z9hG4bKout1", "z9hG4bKin1", "z9hG4bKpbx"]
    assert [str(r.uri) for r in restored.record_routes] == ["sip:192.0.2.1;lr", "sip:10.0.0.9;lr"]
    assert b"sgth" not in restored.to_bytes()  # the inside never sees our parameters


def test_a_request_to_a_contact_token_gets_the_contact_back() -> None:
    hidden = HIDER.hide(request(FROM_PBX), OUTSIDE)
    token_uri = hidden.contacts[0].uri
    route = hidden.get_all("Record-Route")[0]
    bye = request(
        f"BYE {token_uri} SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bKb\n"
        f"Route: {route}\nFrom: <sip:1001@example.com>;tag=c\n"
        "To: <sip:2001@example.com>;tag=p1\nCall-ID: c1\nCSeq: 2 BYE\nContent-Length: 0\n\n"
    )
    restored = HIDER.reveal(bye)
    assert isinstance(restored, Request)
    assert str(restored.uri) == "sip:2001@10.0.0.5:5070;ob"
    assert [str(r.uri) for r in restored.routes] == ["sip:192.0.2.1;lr", "sip:10.0.0.9;lr"]


def test_a_register_answer_is_not_hidden_and_its_contacts_are_restored() -> None:
    register = HIDER.hide(
        request(
            "REGISTER sip:carrier.example.net SIP/2.0\n"
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKr\n"
            "Via: SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKpbxr\n"
            "From: <sip:trunk@carrier.example.net>;tag=r\nTo: <sip:trunk@carrier.example.net>\n"
            "Call-ID: r1\nCSeq: 1 REGISTER\nContact: <sip:trunk@10.0.0.5:5070>\n"
            "Content-Length: 0\n\n"
        ),
        Peer(TCP, "203.0.113.9", 5060),
    )
    assert b"10.0.0." not in register.to_bytes()
    contact = register.contacts[0].uri
    assert isinstance(contact, SipUri)
    assert contact.transport == "tcp"  # the token routes back over the way it left
    ok = response(
        "SIP/2.0 200 OK\n"
        + "".join(f"Via: {v}\n" for v in register.get_all("Via"))
        + "From: <sip:trunk@carrier.example.net>;tag=r\n"
        "To: <sip:trunk@carrier.example.net>;tag=x\nCall-ID: r1\nCSeq: 1 REGISTER\n"
        f"Contact: <{contact}>;expires=300\nContent-Length: 0\n\n"
    )
    restored = HIDER.reveal(ok)
    assert str(restored.contacts[0].uri) == "sip:trunk@10.0.0.5:5070"
    assert restored.contacts[0].param("expires") == "300"
    # Our own registrar's 200 lists a phone's Contacts: hiding must leave them alone.
    again = HIDER.hide(restored, OUTSIDE)
    assert str(again.contacts[0].uri) == "sip:trunk@10.0.0.5:5070"


@pytest.mark.parametrize(
    "text",
    [
        "OPTIONS sip:192.0.2.1 SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKo\n"
        "From: <sip:a@b>;tag=1\nTo: <sip:192.0.2.1>\nCall-ID: o\nCSeq: 1 OPTIONS\n\n",
        "BYE sip:sgh-AAAA@192.0.2.1 SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKo\n"
        "Route: <sip:192.0.2.1;lr;sgth=garbage>\n"
        "From: <sip:a@b>;tag=1\nTo: <sip:192.0.2.1>;tag=2\nCall-ID: o\nCSeq: 1 BYE\n\n",
    ],
)
def test_reveal_leaves_what_it_did_not_seal_alone(text: str) -> None:
    message = request(text)
    assert HIDER.reveal(message).to_bytes() == message.to_bytes()
