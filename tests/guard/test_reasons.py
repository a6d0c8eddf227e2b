"""One scenario per Reason, each through the real pipeline the engine builds from the
embedded default policy (``engine.guard_pipeline``): every reason a refusal can carry is
reachable, from the stage that owns it. A new Reason without a scenario here fails."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from sipguard.config import Config, TransportName, load_config
from sipguard.engine import GuardSetup, guard_pipeline
from sipguard.guard import (
    AclPolicy,
    Challenge,
    Decision,
    GuardContext,
    MemorySink,
    Pipeline,
    RateLimitPolicy,
    Reason,
)
from sipguard.guard.digest import Algorithm, expected_response, ha1
from sipguard.proxy.identity import ListenAddress, LocalIdentity
from sipguard.sip import Request, parse_message
from sipguard.sip.headers import parse_auth
from sipguard.transport.base import Peer

UDP, TCP = TransportName.UDP, TransportName.TCP
LISTENER = Peer(UDP, "192.0.2.1", 5060)
SOURCE = Peer(UDP, "203.0.113.10", 5062)
WALL = 1_800_000_000.0
PASSWORD = "correct horse"  # noqa: S105 - the test user's
WRONG = "wrong horse"  # what an attacker guesses
IDENTITY = LocalIdentity("example.com", (ListenAddress(UDP, "192.0.2.1", 5060),))


class Users:
    def ha1(self, user: str, realm: str, algorithm: Algorithm) -> str | None:
        return ha1(user, realm, PASSWORD, algorithm) if user in ("1001", "1002") else None


def pipeline(**sections: Any) -> Pipeline:
    """The engine's pipeline over the default policy, with ``sections`` replaced."""
    base = load_config(None)
    server = dataclasses.replace(base.server, domain="example.com")
    acl = dataclasses.replace(base.acl, plaintext_methods=("*",))  # these run over UDP
    config: Config = dataclasses.replace(base, server=server, **{"acl": acl, **sections})
    return guard_pipeline(config, IDENTITY, GuardSetup(Users(), b"s" * 32))


def request(  # noqa: PLR0913 - what the scenarios vary, by keyword
    method: str = "INVITE",
    target: str = "sip:2001@example.com",
    *,
    user: str = "1001",
    call: str = "c1",
    extra: tuple[str, ...] = (),
    contact: bool = True,
) -> Request:
    to = f"<sip:{user}@example.com>" if method == "REGISTER" else f"<{target}>"
    lines = [
        f"{method} {target} SIP/2.0",
        f"Via: SIP/2.0/UDP 203.0.113.10:5062;branch=z9hG4bK{call}",
        "Max-Forwards: 70",
        f"From: <sip:{user}@example.com>;tag=f{call}",
        f"To: {to}",
        f"Call-ID: {call}",
        f"CSeq: 1 {method}",
        *([f"Contact: <sip:{user}@203.0.113.10:5062>"] if contact else []),
        *extra,
        "Content-Length: 0",
        "",
        "",
    ]
    message = parse_message("\r\n".join(lines).encode())
    assert isinstance(message, Request)
    return message


def ctx(now: float = 0.0, source: Peer = SOURCE) -> GuardContext:
    return GuardContext(source, LISTENER, now, WALL + now)


def authed(  # noqa: PLR0913 - the knobs of one authentication
    pipe: Pipeline,
    req: Request,
    *,
    user: str = "1001",
    password: str = PASSWORD,
    nc: int = 1,
    later: float = 0.0,
    challenge: Challenge | None = None,
) -> Decision:
    """Send ``req``, answer its challenge as ``user`` (MD5), return the second decision."""
    if challenge is None:
        first = pipe.decide(req, ctx())
        assert isinstance(first.verdict, Challenge), first.verdict
        challenge = first.verdict
    name, value = next((n, v) for n, v in challenge.headers if "MD5" in v and "-sess" not in v)
    params = parse_auth(value, name).params
    nc_text = f"{nc:08x}"
    digest = expected_response(
        ha1(user, params["realm"], password, Algorithm.MD5), params["nonce"], nc_text,
        "abc123", "auth", req.method, str(req.uri), Algorithm.MD5,
    )  # fmt: skip
    header = "Authorization" if challenge.status == 401 else "Proxy-Authorization"
    credentials = (
        f'Digest username="{user}", realm="{params["realm"]}", nonce="{params["nonce"]}", '
        f'uri="{req.uri}", response="{digest}", algorithm=MD5, qop=auth, nc={nc_text}, '
        'cnonce="abc123"'
    )
    return pipe.decide(req.with_header(header, credentials), ctx(later))


def last(pipe: Pipeline, requests: list[Request], source: Peer = SOURCE) -> Decision:
    decision = None
    for i, req in enumerate(requests):
        decision = pipe.decide(req, ctx(i * 0.001, source))
    assert decision is not None
    return decision


def replayed() -> Decision:
    pipe = pipeline()
    req = request()
    challenge = pipe.decide(req, ctx()).verdict
    assert isinstance(challenge, Challenge)
    authed(pipe, req, challenge=challenge)
    return authed(pipe, req, challenge=challenge)


def banned() -> Reason:
    pipe = pipeline()
    audit = pipe.audit
    assert isinstance(audit, MemorySink)
    for i in range(5):  # the auth jail: 5 verified failures
        authed(pipe, request(call=f"c{i}"), password=WRONG)
    assert not pipe.admit(SOURCE.host, WALL + 1)
    return next(e.reason for e in audit.events if e.action == "ban")


def two_calls(**fraud: object) -> Decision:
    base = load_config(None).fraud
    pipe = pipeline(fraud=dataclasses.replace(base, **fraud))  # type: ignore[arg-type]
    authed(pipe, request(call="a"))
    return authed(pipe, request(call="b"))


SCENARIOS: dict[Reason, Callable[[], Decision | Reason]] = {
    Reason.OK: lambda: pipeline().decide(request("OPTIONS", "sip:192.0.2.1", contact=False), ctx()),
    Reason.BANNED: banned,
    Reason.MALFORMED: lambda: pipeline().decide(request(contact=False), ctx()),
    Reason.BAD_DIAL_STRING: lambda: pipeline().decide(
        request(target="sip:2001';DROP@example.com"), ctx()
    ),
    Reason.ACL_DENIED: lambda: pipeline(acl=AclPolicy(deny=("203.0.113.0/24",))).decide(
        request(), ctx()
    ),
    Reason.NOT_ALLOWED: lambda: pipeline(acl=AclPolicy(allow=("198.51.100.0/24",))).decide(
        request(), ctx()
    ),
    Reason.SCANNER_USER_AGENT: lambda: pipeline().decide(
        request(extra=("User-Agent: friendly-scanner",)), ctx()
    ),
    Reason.SCANNER_BEHAVIOUR: lambda: last(
        pipeline(), [request("REGISTER", "sip:example.com", user=f"{100 + i}") for i in range(25)]
    ),
    Reason.RATE_LIMITED: lambda: last(
        pipeline(),
        [request("OPTIONS", "sip:192.0.2.1", call=f"o{i}", contact=False) for i in range(31)],
    ),
    Reason.FLOOD: lambda: last(
        pipeline(), [request("OPTIONS", "sip:192.0.2.1", contact=False)] * 300
    ),
    Reason.OVERLOAD: lambda: last(
        pipeline(ratelimit=RateLimitPolicy(overload_rate=1.0, overload_burst=1.0)),
        [request(call="x"), request(call="y")],
    ),
    Reason.AUTH_REQUIRED: lambda: pipeline().decide(request(), ctx()),
    Reason.AUTH_STALE: lambda: authed(pipeline(), request(), later=3600.0),
    Reason.AUTH_FAILED: lambda: authed(pipeline(), request(), password=WRONG),
    Reason.AUTH_REPLAY: replayed,
    Reason.IDENTITY_MISMATCH: lambda: authed(pipeline(), request(user="1002"), user="1001"),
    Reason.RELAY_DENIED: lambda: authed(pipeline(), request(target="sip:1@foreign.example.net")),
    Reason.FOREIGN_REGISTER: lambda: authed(
        pipeline(), request("REGISTER", "sip:foreign.example.net")
    ),
    Reason.ROUTE_INJECTION: lambda: authed(
        pipeline(), request(extra=("Route: <sip:evil.example.net;lr>",))
    ),
    Reason.DIAL_DENIED: lambda: authed(pipeline(), request(target="sip:+449012345678@example.com")),
    Reason.CALL_LIMIT: lambda: two_calls(max_concurrent=1),
    Reason.CALL_RATE: lambda: two_calls(calls_per_minute=1.0),
    Reason.TLS_REQUIRED: lambda: pipeline(acl=load_config(None).acl).decide(  # the default
        request("REGISTER", "sip:example.com"), ctx()
    ),
}


def test_every_reason_has_a_scenario() -> None:
    assert set(SCENARIOS) == set(Reason)


@pytest.mark.parametrize("reason", list(Reason), ids=str)
def test_the_scenario_ends_with_its_reason(reason: Reason) -> None:
    outcome = SCENARIOS[reason]()
    got = outcome if isinstance(outcome, Reason) else outcome.verdict.reason
    assert got is reason, outcome
