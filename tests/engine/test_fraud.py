"""Toll-fraud limits through the engine: the call count follows each call's real end (a
final non-2xx, a BYE), and the dial plan refuses before anything reaches the PBX."""

from __future__ import annotations

import dataclasses

from sipguard.engine import Engine, GuardSetup, Transmit
from sipguard.guard import AclPolicy, AuthPolicy, FraudPolicy
from sipguard.guard.digest import Algorithm, expected_response, ha1
from sipguard.sip import Request, Response, parse_message
from sipguard.transport.base import Inbound, Peer
from tests.engine.test_engine import ME, NOW, PBX, PHONE, WALL, engine

PASSWORD = "s3cret-enough"  # noqa: S105 - a test user


class OneUser:
    """The user store: 1001 with PASSWORD."""

    def ha1(self, user: str, realm: str, algorithm: Algorithm) -> str | None:
        return ha1(user, realm, PASSWORD, algorithm) if user == "1001" else None


def fraud_engine(**fraud: object) -> Engine:
    eng = engine("sip:10.0.0.5:5070", trusted=False)
    eng.guard = GuardSetup(OneUser(), b"n" * 32)
    config = dataclasses.replace(
        eng.config,
        acl=AclPolicy(trusted=("10.0.0.0/24",)),  # the PBX
        auth=AuthPolicy(algorithms=(Algorithm.MD5,)),
        fraud=dataclasses.replace(FraudPolicy(), **fraud),  # type: ignore[arg-type]
    )
    eng.reconfigure(config, NOW)
    return eng


def invite(call: str, target: str = "2001", auth: str = "") -> bytes:
    lines = [
        f"INVITE sip:{target}@example.com SIP/2.0",
        f"Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bK{call}{len(auth)}",
        "Max-Forwards: 70",
        "From: <sip:1001@example.com>;tag=f1",
        f"To: <sip:{target}@example.com>",
        f"Call-ID: {call}",
        f"CSeq: {2 if auth else 1} INVITE",
        "Contact: <sip:1001@198.51.100.7:5062>",
        *([auth] if auth else []),
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines).encode()


Sent = list[tuple[Peer, Request | Response]]


def deliver(eng: Engine, data: bytes, peer: Peer = PHONE) -> Sent:
    actions = eng.receive(Inbound(data, peer, ME, None, NOW), NOW, WALL)
    return [(a.dest, parse_message(a.data)) for a in actions if isinstance(a, Transmit)]


def call(eng: Engine, call_id: str, target: str = "2001") -> Sent:
    """An INVITE, its 407, and the INVITE again with the right credentials."""
    (_, challenge), *_ = deliver(eng, invite(call_id, target))
    assert isinstance(challenge, Response)
    assert challenge.status == 407
    params = challenge.proxy_authenticate[0].params
    uri = f"sip:{target}@example.com"
    key = ha1("1001", params["realm"], PASSWORD, Algorithm.MD5)
    digest = expected_response(
        key, params["nonce"], "00000001", "c0ffee", "auth", "INVITE", uri, Algorithm.MD5
    )
    auth = (
        f'Proxy-Authorization: Digest username="1001", realm="{params["realm"]}", '
        f'nonce="{params["nonce"]}", uri="{uri}", response="{digest}", algorithm=MD5, '
        'qop=auth, nc=00000001, cnonce="c0ffee"'
    )
    return deliver(eng, invite(call_id, target, auth))


def forwarded(out: Sent) -> Request | None:
    return next((m for d, m in out if d == PBX and isinstance(m, Request)), None)


def refusal(out: Sent) -> tuple[int, str] | None:
    return next(
        ((m.status, m.reason) for d, m in out if isinstance(m, Response) and m.status >= 300),
        None,
    )


def pbx_answers(eng: Engine, request: Request, status: int) -> None:
    lines = [f"SIP/2.0 {status} X", *(f"Via: {v}" for v in request.get_all("Via"))]
    lines += [f"From: {request.get('From')}", f"To: {request.get('To')};tag=pbx"]
    lines += [f"Call-ID: {request.call_id}", f"CSeq: {request.get('CSeq')}"]
    lines += ["Contact: <sip:2001@10.0.0.5:5070>", "Content-Length: 0", "", ""]
    deliver(eng, "\r\n".join(lines).encode(), PBX)


def test_a_second_call_waits_for_the_first_to_end() -> None:
    eng = fraud_engine(max_concurrent=1)
    first = forwarded(call(eng, "call-a"))
    assert first is not None
    out = call(eng, "call-b")
    assert forwarded(out) is None
    assert refusal(out) == (403, "Too Many Calls")
    pbx_answers(eng, first, 486)  # busy: the first call ends unanswered
    assert forwarded(call(eng, "call-c")) is not None


def test_an_answered_call_counts_until_its_bye() -> None:
    eng = fraud_engine(max_concurrent=1)
    first = forwarded(call(eng, "call-a"))
    assert first is not None
    pbx_answers(eng, first, 200)
    assert refusal(call(eng, "call-b")) == (403, "Too Many Calls")
    bye = (
        b"BYE sip:2001@10.0.0.5:5070 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKpbxbye\r\n"
        b"Max-Forwards: 70\r\nFrom: <sip:2001@example.com>;tag=pbx\r\n"
        b"To: <sip:1001@example.com>;tag=f1\r\nCall-ID: call-a\r\nCSeq: 1 BYE\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    deliver(eng, bye, PBX)  # the PBX hangs up
    assert forwarded(call(eng, "call-c")) is not None


def test_premium_and_international_numbers_never_reach_the_pbx() -> None:
    eng = fraud_engine()
    for number in ("+449012345678", "00972599123456", "1-900-555-0199"):
        out = call(eng, f"call-{number}", number)
        assert forwarded(out) is None
        assert refusal(out) == (403, "Destination Not Allowed")
    assert forwarded(call(eng, "call-911", "911")) is not None  # emergency always goes
    events = [e for e in eng.pipeline.audit.events if e.stage == "fraud"]  # type: ignore[attr-defined]
    assert {e.reason.value for e in events} == {"dial-denied"}
    assert all("449012345678" not in e.detail for e in events)


def test_calls_per_minute() -> None:
    eng = fraud_engine(calls_per_minute=2.0, max_concurrent=0)
    assert forwarded(call(eng, "c1")) is not None
    assert forwarded(call(eng, "c2")) is not None
    assert refusal(call(eng, "c3")) == (403, "Call Rate Exceeded")
