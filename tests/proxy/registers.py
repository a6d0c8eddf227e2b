"""REGISTER requests as literal bytes, and a helper that runs the registrar like the engine."""

from __future__ import annotations

from collections.abc import Sequence

from sipguard.config import RegistrarConfig
from sipguard.proxy import Location, RegisterOutcome, register
from sipguard.proxy.registrar import PathPolicy
from sipguard.sip import Request, Response, parse_message

DOMAIN = "example.com"
LOCAL_HOSTS = frozenset({"192.0.2.1", "2001:db8::1"})
SOURCE = "udp:198.51.100.7:5060"
NOW = 1_700_000_000.0
CONFIG = RegistrarConfig(min_expires=60, max_expires=3600, default_expires=1800, max_contacts=3)
CALL_ID = "reg-a84b4c76e66710@198.51.100.7"


def register_bytes(  # noqa: PLR0913 - one keyword per header a test varies
    *contacts: str,
    uri: str = "sip:example.com",
    to: str = "<sip:alice@example.com>",
    call_id: str = CALL_ID,
    cseq: int = 1,
    expires: int | str | None = None,
    extra: Sequence[tuple[str, str]] = (),
) -> bytes:
    """A REGISTER with one Contact line per ``contacts`` value (none: a query)."""
    lines = [
        f"REGISTER {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-{call_id[:8]}-{cseq}",
        "Max-Forwards: 70",
        f"From: {to};tag=f{cseq}",
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        *(f"Contact: {c}" for c in contacts),
    ]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    lines += [f"{name}: {value}" for name, value in extra]
    lines += ["User-Agent: TestPhone/1.0", "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def request(*contacts: str, **kwargs: object) -> Request:
    """``register_bytes`` parsed."""
    msg = parse_message(register_bytes(*contacts, **kwargs))  # type: ignore[arg-type]
    assert isinstance(msg, Request)
    return msg


def run(
    location: Location,
    req: Request,
    *,
    now: float = NOW,
    config: RegistrarConfig = CONFIG,
    path_policy: PathPolicy = PathPolicy.REJECT,
) -> RegisterOutcome:
    """Decide ``req`` and apply its changes to ``location``, as the engine does."""
    outcome = register(
        req,
        location,
        config=config,
        domain=DOMAIN,
        local_hosts=LOCAL_HOSTS,
        source=SOURCE,
        now=now,
        path_policy=path_policy,
    )
    location.apply(outcome.changes)
    return outcome


def contact_values(response: Response) -> list[str]:
    """The Contact values of a response, in order."""
    return response.values("Contact")
