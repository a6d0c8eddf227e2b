"""The authentication stage: challenges, verification, anti-enumeration, replay, identity."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipguard.config import TransportName
from sipguard.guard import (
    BanOrder,
    Challenge,
    GuardContext,
    GuardState,
    MemorySink,
    Offence,
    OffenceKind,
    Outcome,
    Pass,
    Pipeline,
    Reason,
    Reject,
    UseNonce,
)
from sipguard.guard.auth import AuthMode, AuthPolicy, AuthStage
from sipguard.guard.calls import CallTable
from sipguard.guard.digest import Algorithm, expected_response, ha1, supported
from sipguard.guard.nonce import NonceCounts, NonceFactory
from sipguard.sip import Request, SipParseError, parse_message
from sipguard.sip.headers import parse_auth
from sipguard.store.users import UserTable
from sipguard.transport.base import Peer
from tests.helpers.sipmsg import parse_request, request

DOMAIN = "example.com"
SOURCE = Peer(TransportName.UDP, "203.0.113.5", 5060)
CTX = GuardContext(SOURCE, Peer(TransportName.UDP, "192.0.2.1", 5060), now=10.0, wall=1.7e9)
ALL = tuple(a for a in (Algorithm.SHA512_256, Algorithm.SHA256, Algorithm.MD5) if supported(a))
RIGHT, WRONG = "secret", "guess"  # alice's password, and an attacker's guess
USERS = UserTable(
    {("alice", DOMAIN, a): ha1("alice", DOMAIN, RIGHT, a) for a in ALL}
    | {("bob", DOMAIN, a): ha1("bob", DOMAIN, "hunter2", a) for a in ALL}
)
NONCES = NonceFactory(b"s" * 32)


@dataclass
class Tables:
    """The state tables this stage does not use: inert, recording offences."""

    offences: list[tuple[OffenceKind, str, bool]] = field(default_factory=list)

    def is_banned(self, host: str, wall: float) -> bool:
        return False

    def ban(self, order: BanOrder) -> None:
        raise AssertionError("no ban expected")

    def available(self, key: str, rate: float, burst: float, now: float) -> float:
        return burst

    def consume(self, key: str, tokens: float, now: float) -> None:
        return None

    def distinct(self, source: str, now: float) -> int:
        return 0

    def see(self, source: str, what: str, now: float) -> None:
        return None

    def offence(
        self, kind: OffenceKind, source: str, verified: bool, wall: float
    ) -> BanOrder | None:
        self.offences.append((kind, source, verified))
        return None


def new_state() -> GuardState:
    tables = Tables()
    return GuardState(tables, tables, NonceCounts(), tables, tables, CallTable())


def stage(**policy: object) -> AuthStage:
    return AuthStage(AuthPolicy(**policy), USERS, NONCES, DOMAIN)  # type: ignore[arg-type]


def make(
    method: str = "REGISTER",
    uri: str | None = None,
    user: str = "alice",
    to_user: str | None = None,
    extra: dict[str, str] | None = None,
) -> Request:
    uri = uri or (f"sip:{DOMAIN}" if method == "REGISTER" else f"sip:carol@{DOMAIN}")
    to = f"<sip:{to_user or (user if method == 'REGISTER' else 'carol')}@{DOMAIN}>"
    headers = {"From": f"<sip:{user}@{DOMAIN}>;tag=f1", "To": to, **(extra or {})}
    return parse_request(request(method, uri, headers))


def answer(  # noqa: PLR0913 - what a phone varies, by keyword
    challenge: str,
    req: Request,
    *,
    user: str = "alice",
    phrase: str = RIGHT,
    nc: int = 1,
    cnonce: str = "0a4f113b",
) -> str:
    """The credentials a phone computes for ``challenge`` (a header value)."""
    params = parse_auth(challenge, "WWW-Authenticate").params
    algorithm = Algorithm.parse(params["algorithm"])
    nc_text = f"{nc:08x}"
    uri = str(req.uri)
    response = expected_response(
        ha1(user, params["realm"], phrase, algorithm),
        params["nonce"],
        nc_text,
        cnonce,
        "auth",
        req.method,
        uri,
        algorithm,
    )
    return (
        f'Digest username="{user}", realm="{params["realm"]}", nonce="{params["nonce"]}", '
        f'uri="{uri}", response="{response}", algorithm={algorithm.value}, '
        f'cnonce="{cnonce}", qop=auth, nc={nc_text}'
    )


def challenge_of(outcome: Outcome) -> Challenge:
    assert isinstance(outcome.verdict, Challenge), outcome
    return outcome.verdict


def with_credentials(req: Request, value: str) -> Request:
    name = "Authorization" if req.method == "REGISTER" else "Proxy-Authorization"
    return req.with_header(name, value)


def authenticate(
    auth: AuthStage, req: Request, ctx: GuardContext = CTX, index: int = 0, **kw: object
) -> tuple[Request, Outcome]:
    """Challenge ``req``, answer the ``index``-th challenge, decide again."""
    state = new_state()
    first = challenge_of(auth.decide(req, ctx, state))
    signed = with_credentials(req, answer(first.headers[index][1], req, **kw))  # type: ignore[arg-type]
    return signed, auth.decide(signed, ctx, state)


# --- challenges ---------------------------------------------------------------------------


def test_register_is_challenged_with_401_and_every_algorithm_strongest_first() -> None:
    outcome = stage().decide(make("REGISTER"), CTX, new_state())
    verdict = challenge_of(outcome)
    assert (verdict.status, verdict.reason, outcome.effects) == (401, Reason.AUTH_REQUIRED, ())
    assert [name for name, _ in verdict.headers] == ["WWW-Authenticate"] * len(ALL)
    values = [parse_auth(v, "WWW-Authenticate") for _, v in verdict.headers]
    assert [v.params["algorithm"] for v in values] == [a.value for a in ALL]
    assert {v.params["nonce"] for v in values} == {values[0].params["nonce"]}
    for value in values:
        assert value.scheme == "Digest"
        assert (value.params["realm"], value.params["qop"]) == (DOMAIN, "auth")
        assert "stale" not in value.params
        # RFC 7616 §3.3: realm, nonce and qop quoted; algorithm and stale not.
        assert value.quoted == {"realm", "nonce", "qop"}
    assert verdict.headers[0][1].startswith('Digest realm="example.com", nonce="')


@pytest.mark.parametrize("method", ["INVITE", "MESSAGE", "SUBSCRIBE", "REFER", "OPTIONS"])
def test_other_requests_get_407_proxy_authenticate(method: str) -> None:
    verdict = challenge_of(stage().decide(make(method), CTX, new_state()))
    assert verdict.status == 407
    assert {name for name, _ in verdict.headers} == {"Proxy-Authenticate"}


def test_policy_order_is_kept() -> None:
    auth = stage(algorithms=(Algorithm.MD5, Algorithm.SHA256))
    verdict = challenge_of(auth.decide(make(), CTX, new_state()))
    assert [parse_auth(v, "x").params["algorithm"] for _, v in verdict.headers] == [
        "MD5",
        "SHA-256",
    ]


# --- success ------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(ALL)))
def test_register_succeeds_with_each_algorithm(index: int) -> None:
    signed, outcome = authenticate(stage(), make("REGISTER"), index=index)
    assert outcome.verdict == Pass()
    assert outcome.context is not None
    assert (outcome.context.user, outcome.context.verified) == ("alice", True)
    nonce = signed.authorization[0].params["nonce"]
    assert outcome.effects == (UseNonce(nonce, 1),)


def test_invite_succeeds_with_proxy_authorization() -> None:
    signed, outcome = authenticate(stage(), make("INVITE"))
    assert signed.has("Proxy-Authorization")
    assert outcome.verdict == Pass()
    assert outcome.context is not None
    assert outcome.context.user == "alice"


def test_credentials_in_the_other_header_are_read_too() -> None:
    req = make("INVITE")
    first = challenge_of(stage().decide(req, CTX, new_state()))
    signed = req.with_header("Authorization", answer(first.headers[0][1], req))
    assert stage().decide(signed, CTX, new_state()).verdict == Pass()


# --- failures and anti-enumeration -----------------------------------------------------------


def _masked(outcome: Outcome) -> Outcome:
    verdict = challenge_of(outcome)
    headers = tuple((n, re.sub(r'nonce="[^"]*"', 'nonce="*"', v)) for n, v in verdict.headers)
    return replace(outcome, verdict=replace(verdict, headers=headers))


def test_wrong_password_and_unknown_user_get_the_same_answer() -> None:
    _, wrong = authenticate(stage(), make("REGISTER"), phrase=WRONG)
    _, unknown = authenticate(
        stage(), make("REGISTER", user="mallory"), user="mallory", phrase=WRONG
    )
    verdict = challenge_of(wrong)
    assert (verdict.status, verdict.reason) == (401, Reason.AUTH_FAILED)
    assert wrong.effects == (Offence(OffenceKind.AUTH_FAILURE, SOURCE.host, True),)
    assert wrong.context is not None
    assert (wrong.context.verified, wrong.context.user) == (True, None)
    assert _masked(wrong) == _masked(unknown)


def test_unknown_user_with_the_dummy_password_fails() -> None:
    # The dummy HA1 is H(":realm:"): a user "" with password "" must not pass.
    req = make("REGISTER")
    first = challenge_of(stage().decide(req, CTX, new_state()))
    value = answer(first.headers[0][1], req, user="", phrase="")
    outcome = stage().decide(with_credentials(req, value), CTX, new_state())
    assert challenge_of(outcome).reason == Reason.AUTH_FAILED


def test_a_nonce_not_ours_is_challenged_and_counts_unverified() -> None:
    req = make("INVITE")
    value = (
        'Digest username="alice", realm="example.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",'
        ' uri="sip:carol@example.com", response="6629fae49393a05397450978507c4ef1",'
        ' algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001'
    )
    outcome = stage().decide(with_credentials(req, value), CTX, new_state())
    verdict = challenge_of(outcome)
    assert (verdict.status, verdict.reason, verdict.detail) == (
        407,
        Reason.AUTH_FAILED,
        "nonce not ours",
    )
    assert outcome.effects == (Offence(OffenceKind.AUTH_FAILURE, SOURCE.host, False),)
    assert outcome.context is not None
    assert not outcome.context.verified


def test_stale_nonce_with_right_digest_gets_stale_true_and_no_offence() -> None:
    later = replace(CTX, wall=CTX.wall + 301)
    req = make("REGISTER")
    first = challenge_of(stage().decide(req, CTX, new_state()))
    signed = with_credentials(req, answer(first.headers[0][1], req))
    outcome = stage().decide(signed, later, new_state())
    verdict = challenge_of(outcome)
    assert (verdict.reason, outcome.effects) == (Reason.AUTH_STALE, ())
    assert all(v.endswith(", stale=true") for _, v in verdict.headers)
    assert all(parse_auth(v, "x").params["stale"] == "true" for _, v in verdict.headers)
    assert signed.authorization[0].params["nonce"] not in verdict.headers[0][1]


def test_stale_nonce_with_wrong_digest_is_a_plain_failure() -> None:
    later = replace(CTX, wall=CTX.wall + 301)
    req = make("REGISTER")
    first = challenge_of(stage().decide(req, CTX, new_state()))
    signed = with_credentials(req, answer(first.headers[0][1], req, phrase=WRONG))
    outcome = stage().decide(signed, later, new_state())
    verdict = challenge_of(outcome)
    assert verdict.reason == Reason.AUTH_FAILED
    assert "stale" not in verdict.headers[0][1]
    assert outcome.effects == (Offence(OffenceKind.AUTH_FAILURE, SOURCE.host, False),)


def test_a_nonce_fetched_elsewhere_cannot_get_a_forged_source_banned() -> None:
    attacker = replace(CTX, source=Peer(TransportName.UDP, "198.51.100.7", 5060))
    req = make("REGISTER")
    first = challenge_of(stage().decide(req, attacker, new_state()))
    guess = with_credentials(req, answer(first.headers[0][1], req, phrase=WRONG))
    outcome = stage().decide(guess, CTX, new_state())  # sent with the victim's address
    assert challenge_of(outcome).reason == Reason.AUTH_FAILED
    assert outcome.effects == (Offence(OffenceKind.AUTH_FAILURE, SOURCE.host, False),)
    assert outcome.context is not None
    assert not outcome.context.verified
    # A phone that moved to another address with the right password just gets stale=true.
    right = with_credentials(req, answer(first.headers[0][1], req))
    moved = stage().decide(right, CTX, new_state())
    assert (challenge_of(moved).reason, moved.effects) == (Reason.AUTH_STALE, ())


def test_algorithm_not_offered_is_refused() -> None:
    req = make("REGISTER")
    first = challenge_of(stage().decide(req, CTX, new_state()))
    md5 = next(v for _, v in first.headers if "algorithm=MD5" in v)
    signed = with_credentials(req, answer(md5, req))
    outcome = stage(algorithms=(Algorithm.SHA256,)).decide(signed, CTX, new_state())
    assert challenge_of(outcome).detail == "algorithm not offered"


@pytest.mark.parametrize(
    "value",
    [
        'Digest username="alice", realm="other.example.net", nonce="x", uri="sip:a",'
        ' response="00", qop=auth, nc=00000001, cnonce="c"',
        "Basic YWxpY2U6c2VjcmV0",  # RFC 3261 §22: never accepted
        "Bearer abc.def",
    ],
)
def test_credentials_not_for_our_realm_are_ignored(value: str) -> None:
    outcome = stage().decide(with_credentials(make(), value), CTX, new_state())
    assert (challenge_of(outcome).reason, outcome.effects) == (Reason.AUTH_REQUIRED, ())


def test_malformed_credentials_are_a_failure() -> None:
    value = 'Digest username="alice", realm="example.com", nc=1'
    outcome = stage().decide(with_credentials(make(), value), CTX, new_state())
    assert challenge_of(outcome).reason == Reason.AUTH_FAILED
    assert outcome.effects == (Offence(OffenceKind.AUTH_FAILURE, SOURCE.host, False),)


# --- replay ---------------------------------------------------------------------------------


def test_replayed_nonce_count_is_refused_and_a_higher_one_passes() -> None:
    tables = Tables()
    state = GuardState(tables, tables, NonceCounts(), tables, tables, CallTable())
    sink = MemorySink()
    auth = stage()
    run = Pipeline([auth], state, sink)
    req = make("INVITE")
    first = challenge_of(auth.decide(req, CTX, state))
    signed = with_credentials(req, answer(first.headers[0][1], req, nc=1))
    assert run.decide(signed, CTX).verdict == Pass()

    again = run.decide(signed, CTX)  # the same packet, captured and sent again
    verdict = again.verdict
    assert isinstance(verdict, Challenge)
    assert (verdict.reason, verdict.status) == (Reason.AUTH_REPLAY, 407)
    assert verdict.headers[0][1].endswith("stale=true")
    assert tables.offences == [(OffenceKind.AUTH_FAILURE, SOURCE.host, False)]
    assert sink.events[-1].reason == Reason.AUTH_REPLAY

    next_one = with_credentials(req, answer(first.headers[0][1], req, nc=2))
    assert run.decide(next_one, CTX).verdict == Pass()
    lower = with_credentials(req, answer(first.headers[0][1], req, nc=1, cnonce="other"))
    assert challenge_of(auth.decide(lower, CTX, state)).reason == Reason.AUTH_REPLAY


# --- identity ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "from_user", "to_user"),
    [
        ("INVITE", "bob", None),  # calling as bob
        ("REGISTER", "bob", "alice"),
        ("REGISTER", "alice", "bob"),  # registering bob's address
        ("MESSAGE", "alice-2", None),
    ],
)
def test_identity_mismatch_is_403(method: str, from_user: str, to_user: str | None) -> None:
    req = make(method, user=from_user, to_user=to_user)
    signed, outcome = authenticate(stage(), req, user="alice")
    assert isinstance(outcome.verdict, Reject)
    assert (outcome.verdict.status, outcome.verdict.reason) == (403, Reason.IDENTITY_MISMATCH)
    assert outcome.context is not None
    assert outcome.context.user == "alice"  # the audit line names who tried
    nonce = (signed.authorization or signed.proxy_authorization)[0].params["nonce"]
    assert outcome.effects == (UseNonce(nonce, 1),)


def test_from_in_a_foreign_domain_is_a_mismatch() -> None:
    req = make("INVITE", extra={"From": "<sip:alice@evil.example.net>;tag=1"})
    _, outcome = authenticate(stage(), req)
    assert isinstance(outcome.verdict, Reject)


def test_domain_aliases_and_anonymous_callers() -> None:
    aliased = make("REGISTER", extra={"From": "<sip:alice@192.0.2.1>;tag=1"})
    aliased = aliased.with_header("To", "<sip:alice@192.0.2.1>")
    assert isinstance(authenticate(stage(), aliased)[1].verdict, Reject)
    assert authenticate(stage(domains=("192.0.2.1",)), aliased)[1].verdict == Pass()
    anonymous = make(
        "INVITE", extra={"From": '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1'}
    )
    assert authenticate(stage(), anonymous)[1].verdict == Pass()  # RFC 3323


# --- what is not authenticated ----------------------------------------------------------------


def test_trusted_sources_skip_authentication() -> None:
    outcome = stage().decide(make("INVITE"), replace(CTX, trusted=True), new_state())
    assert outcome == Outcome(Pass())


@pytest.mark.parametrize("method", ["ACK", "CANCEL"])
def test_ack_and_cancel_are_never_challenged(method: str) -> None:
    assert stage().decide(make(method), CTX, new_state()) == Outcome(Pass())  # RFC 3261 §22.1


def test_in_dialog_requests_pass_unless_policy_asks() -> None:
    route = {"Route": "<sip:192.0.2.1;lr>"}
    bye = make("BYE", extra={"To": f"<sip:carol@{DOMAIN}>;tag=t9", **route})
    assert stage().decide(bye, CTX, new_state()) == Outcome(Pass())
    assert (
        challenge_of(stage(authenticate_in_dialog=True).decide(bye, CTX, new_state())).status == 407
    )


def test_a_to_tag_without_a_route_is_challenged() -> None:
    forged = make("INVITE", extra={"To": f"<sip:carol@{DOMAIN}>;tag=guessed"})
    assert challenge_of(stage().decide(forged, CTX, new_state())).status == 407


def test_options_keepalive_to_the_server_passes() -> None:
    keepalive = make("OPTIONS", uri=f"sip:{DOMAIN}")
    assert stage().decide(keepalive, CTX, new_state()) == Outcome(Pass())
    assert (
        challenge_of(stage(options_keepalive=False).decide(keepalive, CTX, new_state())).status
        == 407
    )


def test_upstream_mode_passes_everything() -> None:
    auth = stage(mode=AuthMode.UPSTREAM)
    assert auth.decide(make("INVITE"), CTX, new_state()) == Outcome(Pass())


def test_policy_realm_overrides_the_domain() -> None:
    auth = AuthStage(AuthPolicy(realm="voice"), USERS, NONCES, DOMAIN)
    verdict = challenge_of(auth.decide(make(), CTX, new_state()))
    assert 'realm="voice"' in verdict.headers[0][1]


# --- property -----------------------------------------------------------------------------

_PLAUSIBLE = {
    "username": "alice",
    "realm": DOMAIN,
    "nonce": NONCES.issue(
        DOMAIN, CTX.wall, SOURCE.host
    ),  # a valid nonce, so the deeper checks run too
    "uri": f"sip:{DOMAIN}",
    "response": "0" * 64,
    "algorithm": "SHA-256",
    "cnonce": "0a4f113b",
    "qop": "auth",
    "nc": "00000001",
}
_VALUES = st.one_of(
    st.sampled_from(["alice", DOMAIN, "auth", "MD5", "SHA-256", "00000001", "", "0" * 32]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=70),
)
# Each parameter: the plausible value, a random one, or left out; quoted or bare.
_PARAMS = st.tuples(
    *(
        st.tuples(
            st.just(name), st.one_of(st.just(v), st.just(v), _VALUES, st.none()), st.booleans()
        )
        for name, v in _PLAUSIBLE.items()
    )
).map(lambda ps: [(n, v, q) for n, v, q in ps if v is not None])
_FREE = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x7FF), max_size=200)
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")


def _render(params: list[tuple[str, str, bool]]) -> str:
    parts = []
    for name, value, quoted in params:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        bare = not quoted and _TOKEN_RE.match(value)  # a bare value must be a token
        parts.append(f"{name}={value}" if bare else f'{name}="{escaped}"')
    return "Digest " + ", ".join(parts)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.one_of(_PARAMS.map(_render), _FREE), method=st.sampled_from(["REGISTER", "INVITE"]))
def test_any_credentials_value_gives_a_verdict(value: str, method: str) -> None:
    raw = request(method, f"sip:{DOMAIN}", {"Authorization": value, "Proxy-Authorization": value})
    try:
        req = parse_message(raw)
    except SipParseError:
        return
    assert isinstance(req, Request)
    outcome = stage().decide(req, CTX, new_state())
    assert isinstance(outcome.verdict, Pass | Challenge | Reject)
