"""The guards in front of the proxy, through the engine: what an untrusted source meets."""

from __future__ import annotations

import dataclasses

from sipguard.config import TransportName
from sipguard.engine import Notice, PersistBan, Transmit
from sipguard.guard import AclPolicy
from sipguard.sip import Request, Response, parse_message
from sipguard.transport.base import Inbound, Peer
from tests.engine.test_engine import ME, NOW, PBX, WALL, engine, invite, receive, sent

STRANGER = Peer(TransportName.UDP, "203.0.113.66", 5062)
STRANGER_TCP = Peer(TransportName.TCP, "203.0.113.67", 40000)


def test_an_untrusted_invite_is_challenged_407_before_anything_is_forwarded() -> None:
    out = sent(receive(engine("sip:10.0.0.5:5070", trusted=False), invite()))
    assert len(out) == 1
    dest, reply = out[0]
    assert dest == Peer(TransportName.UDP, "198.51.100.7", 5062)
    assert isinstance(reply, Response)
    assert reply.status == 407
    assert reply.get_all("Proxy-Authenticate")
    assert all(d != PBX for d, _ in out)  # nothing reached the PBX


def test_a_retransmission_of_a_forwarded_request_is_not_judged_again() -> None:
    eng = engine("sip:10.0.0.5:5070")
    receive(eng, invite())
    before = eng.pipeline.state.rates
    again = sent(receive(eng, invite()))
    assert [m.status for _, m in again if isinstance(m, Response)] == [100]  # the txn answered
    assert eng.pipeline.state.rates is before


def test_a_scanner_user_agent_is_dropped_in_silence() -> None:
    eng = engine("sip:10.0.0.5:5070", trusted=False)
    scan = invite().replace(b"Content-Length", b"User-Agent: friendly-scanner\r\nContent-Length")
    assert receive(eng, scan, STRANGER) == []
    assert eng.dropped == 1
    (event,) = eng.pipeline.audit.events  # type: ignore[attr-defined]
    assert (event.stage, event.action) == ("scanner", "drop")


def test_a_verified_scanner_is_banned_persisted_and_then_refused_before_parsing() -> None:
    eng = engine("sip:10.0.0.5:5070", trusted=False)
    scan = invite().replace(b"Content-Length", b"User-Agent: sipvicious\r\nContent-Length")
    # Over TCP the address is real: one scanner offence fills the scanner jail.
    actions = eng.receive(Inbound(scan, STRANGER_TCP, ME, 3, NOW), NOW, WALL)
    bans = [a for a in actions if isinstance(a, PersistBan)]
    assert [b.order.network for b in bans] == ["203.0.113.67"]
    assert any(isinstance(a, Notice) and a.event == "banned" for a in actions)
    # Banned: even a well-formed request from there costs one look-up and gets nothing.
    later = eng.receive(Inbound(invite(), STRANGER_TCP, ME, 3, NOW + 1), NOW + 1, WALL + 1)
    assert later == []


def test_trusted_sources_skip_authentication() -> None:
    eng = engine("sip:10.0.0.5:5070", trusted=False)
    config = dataclasses.replace(eng.config, acl=AclPolicy(trusted=("203.0.113.0/24",)))
    eng.reconfigure(config, NOW)
    out = sent(receive(eng, invite(), STRANGER))
    assert [(d, m.method) for d, m in out if isinstance(m, Request)] == [(PBX, "INVITE")]


def test_an_ack_refused_by_the_guards_gets_no_answer() -> None:
    eng = engine("sip:10.0.0.5:5070", trusted=False)
    ack = invite().replace(b"INVITE sip:", b"ACK sip:").replace(b"1 INVITE", b"1 ACK")
    ack = ack.replace(b"To: <sip:2001@example.com>", b"To: <sip:2001@example.com>;tag=x")
    assert isinstance(parse_message(ack), Request)
    actions = receive(eng, ack, STRANGER)
    assert not [a for a in actions if isinstance(a, Transmit) and a.dest == STRANGER]


def test_the_ack_for_our_own_challenge_goes_nowhere() -> None:
    eng = engine("sip:10.0.0.5:5070", trusted=False)
    (reply,) = [m for _, m in sent(receive(eng, invite())) if isinstance(m, Response)]
    assert reply.status == 407
    ack = invite().replace(b"INVITE sip:", b"ACK sip:").replace(b"1 INVITE", b"1 ACK")
    ack = ack.replace(b"To: <sip:2001@example.com>", f"To: {reply.get('To')}".encode())
    assert receive(eng, ack) == []
