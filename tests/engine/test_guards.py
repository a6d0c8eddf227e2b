"""The guards in front of the proxy, through the engine: what an untrusted source meets."""

from __future__ import annotations

import dataclasses

from sipguard.config import TransportName
from sipguard.engine import Engine, Notice, PersistBan, Transmit
from sipguard.guard import AclPolicy, AuthMode, AuthPolicy
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


def upstream_engine() -> Engine:
    eng = engine("sip:10.0.0.5:5070", trusted=False)
    config = dataclasses.replace(eng.config, auth=AuthPolicy(mode=AuthMode.UPSTREAM))
    eng.reconfigure(config, NOW)
    return eng


def pbx_answer(eng: Engine, forwarded: Request, status: int, extra: str = "") -> list[object]:
    """The PBX answers the request sipguard forwarded to it."""
    lines = [f"SIP/2.0 {status} X"]
    lines += [f"Via: {v}" for v in forwarded.get_all("Via")]
    lines += [
        f"From: {forwarded.get('From')}",
        f"To: {forwarded.get('To')};tag=pbx1",
        f"Call-ID: {forwarded.call_id}",
        f"CSeq: {forwarded.get('CSeq')}",
    ]
    if extra:
        lines.append(extra)
    data = ("\r\n".join([*lines, "Content-Length: 0", "", ""])).encode()
    return list(eng.receive(Inbound(data, PBX, ME, None, NOW), NOW, WALL))


def test_upstream_auth_failures_from_a_source_that_read_the_challenge_ban_it() -> None:
    eng = upstream_engine()
    challenge = 'Proxy-Authenticate: Digest realm="pbx", nonce="n-from-pbx", qop="auth"'
    banned = False
    for attempt in range(1, 6):
        branch = f"z9hG4bKtry{attempt}"
        if attempt == 1:
            first = [m for d, m in sent(receive(eng, invite(branch), STRANGER)) if d == PBX]
            assert isinstance(first[0], Request)  # upstream mode: the PBX challenges
            relayed = pbx_answer(eng, first[0], 407, challenge)
            assert any(isinstance(a, Transmit) and a.dest == STRANGER for a in relayed)
        creds = (
            'Proxy-Authorization: Digest username="1001", realm="pbx", nonce="n-from-pbx", '
            'uri="sip:2001@example.com", response="00000000000000000000000000000000", '
            f'qop=auth, nc=0000000{attempt}, cnonce="c"\r\nContent-Length'
        )
        retry = invite(branch + "b", cseq=f"{attempt + 1} INVITE")
        retry = retry.replace(b"Content-Length", creds.encode(), 1)
        forwarded = [m for d, m in sent(receive(eng, retry, STRANGER)) if d == PBX]
        if not forwarded:
            banned = True
            break
        assert isinstance(forwarded[0], Request)
        actions = pbx_answer(eng, forwarded[0], 403)
        if any(isinstance(a, PersistBan) for a in actions):
            banned = True
            break
    assert banned  # the auth jail: 5 verified failures
    assert not eng.pipeline.admit(STRANGER.host, WALL)


def test_upstream_failures_with_a_nonce_the_source_never_saw_do_not_ban() -> None:
    eng = upstream_engine()
    for attempt in range(1, 30):
        creds = (
            'Proxy-Authorization: Digest username="1001", realm="pbx", nonce="guessed", '
            'uri="sip:2001@example.com", response="00000000000000000000000000000000", '
            'qop=auth, nc=00000001, cnonce="c"\r\nContent-Length'
        )
        data = invite(f"z9hG4bKforged{attempt}").replace(b"Content-Length", creds.encode(), 1)
        forwarded = [m for d, m in sent(receive(eng, data, STRANGER)) if d == PBX]
        assert forwarded
        assert isinstance(forwarded[0], Request)
        assert not any(isinstance(a, PersistBan) for a in pbx_answer(eng, forwarded[0], 403))
    assert eng.pipeline.admit(STRANGER.host, WALL)  # forged-looking evidence never bans
