"""Conformance: real-world captures, RFC 4475 torture messages, and tool captures.

Each sample carries its expected outcome (a sidecar TOML or the table below), as
fail2ban's sample tests do: a message that parses must read cleanly and write back
byte for byte; one that must not parse must fail with the right status.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from sipguard.sip import Request, Response, SipParseError, parse_message
from tests.helpers.corpus import (
    FIXTURES,
    read_status,
    realworld_files,
    realworld_params,
    require_realworld,
)


def _parse_ok(data: bytes) -> Request | Response:
    msg = parse_message(data)
    assert msg.to_bytes() == data, "an untouched message must serialise byte for byte"
    assert parse_message(msg.to_bytes()) == msg
    return msg


# -- ../shared/corpus/realworld: every valid message parses and round-trips exactly ----


@pytest.mark.parametrize("path", realworld_params(), ids=lambda p: getattr(p, "name", p))
def test_realworld_message_parses_and_round_trips(path: Path) -> None:
    msg = _parse_ok(path.read_bytes())
    assert read_status(msg) == 0


def test_realworld_corpus_is_complete() -> None:
    require_realworld()
    assert len(realworld_files()) == 95
    assert len(realworld_files("quirks")) == 14


# The quirks folder: each real-world deviation gets a deliberate outcome.
# (file prefix, outcome): "ok" parses and reads; ("read", header) parses but reading
# that header raises 400; (status, answerable) parse_message refuses it.
QUIRKS: dict[str, object] = {
    "001": "ok",  # truncated multipart body: the body is opaque to a proxy
    "002": ("read", "P-Asserted-Identity"),  # unterminated quote: 400 when PAI is read
    "003": "ok",  # scanner OPTIONS, no empty line, branch without cookie
    "004": "ok",  # no Max-Forwards: read as absent (the proxy adds 70)
    "005": "ok",  # no From tag (RFC 2543 peer)
    "006": "ok",  # no Max-Forwards, no From tag
    "007": "ok",  # Via without branch: RFC 2543 transaction matching
    "008": "ok",  # received=ip:port, base64 branch with "/" and "="
    "009": "ok",  # numeric top label in a hostname
    "010": ("read", "Contact"),  # whitespace inside <...>: 400 when Contact is read
    "011": "ok",  # empty trailing URI parameter
    "012": "ok",  # 401 without To tag or branch
    "013": (400, True),  # URI headers in the Request-URI: refused, answerable
    "014": "ok",  # compact forms, no branch, no tag, no Content-Length
}


@pytest.mark.parametrize("path", realworld_params("quirks"), ids=lambda p: getattr(p, "name", p))
def test_quirk_gets_its_deliberate_outcome(path: Path) -> None:
    outcome = QUIRKS[path.name[:3]]
    data = path.read_bytes()
    if isinstance(outcome, tuple) and isinstance(outcome[0], int):
        with pytest.raises(SipParseError) as info:
            parse_message(data)
        assert (info.value.status, info.value.answerable) == outcome
        return
    msg = _parse_ok(data)
    if outcome == "ok":
        assert read_status(msg) == 0
    else:
        assert isinstance(outcome, tuple)
        with pytest.raises(SipParseError) as info:
            msg.addresses(str(outcome[1]))
        assert info.value.status == 400


def test_every_quirk_has_an_outcome() -> None:
    require_realworld()
    assert {p.name[:3] for p in realworld_files("quirks")} == set(QUIRKS)


def test_quirk_details_are_read_liberally() -> None:
    require_realworld()
    by_prefix = {
        p.name[:3]: parse_message(p.read_bytes())
        for p in realworld_files("quirks")
        if QUIRKS[p.name[:3]] == "ok"
    }
    assert by_prefix["004"].max_forwards is None
    assert by_prefix["005"].from_.tag is None
    assert by_prefix["007"].via.branch is None
    assert by_prefix["008"].vias[1].param("received") == "220.240.255.198:64193"
    contact_uri = by_prefix["011"].contacts[0].sip_uri
    assert contact_uri is not None
    assert contact_uri.param("comp") == "sigcomp"
    assert by_prefix["014"].call_id == "e2d02388-01d6-0352-13c6-00e0bb36ca69"
    assert by_prefix["014"].body == b""


# -- RFC 4475 torture messages ------------------------------------------------------------

RFC4475 = FIXTURES / "rfc4475"
RFC4475_EXPECTED: dict[str, dict[str, object]] = tomllib.loads(
    (RFC4475 / "expected.toml").read_text(encoding="utf-8")
)


@pytest.mark.parametrize("name", sorted(RFC4475_EXPECTED))
def test_rfc4475_message(name: str) -> None:
    want = RFC4475_EXPECTED[name]
    data = (RFC4475 / f"{name}.sip").read_bytes()
    if not want["parses"]:
        with pytest.raises(SipParseError) as info:
            parse_message(data)
        if want["status"]:
            assert info.value.status == want["status"], info.value.reason
        assert info.value.answerable is want["answerable"], info.value.reason
        return
    msg = parse_message(data)
    assert read_status(msg) == want["read_status"]
    assert parse_message(msg.to_bytes()) == msg


def test_rfc4475_files_and_expectations_pair_up() -> None:
    assert {p.stem for p in RFC4475.glob("*.sip")} == set(RFC4475_EXPECTED)


def test_rfc4475_wsinv_reads_through_the_folding() -> None:
    msg = parse_message((RFC4475 / "wsinv.sip").read_bytes())
    assert isinstance(msg, Request)
    assert msg.max_forwards == 68
    assert msg.cseq.seq == 9
    assert msg.cseq.method == "INVITE"
    assert msg.to.tag == "1918181833n"
    assert msg.from_.display_name == 'J Rosenberg \\"'
    assert msg.from_.tag == "98asjd8"
    assert [v.transport for v in msg.vias] == ["UDP", "TCP", "UDP"]
    assert msg.vias[1].host == "spindle.example.com"
    assert msg.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert msg.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert msg.get("Subject") == ""


def test_rfc4475_dblreq_drops_the_bytes_after_the_body() -> None:
    data = (RFC4475 / "dblreq.sip").read_bytes()
    msg = parse_message(data)
    assert msg.body == b""
    assert data.startswith(msg.to_bytes())
    assert len(msg.to_bytes()) < len(data)


# -- SIPp and SIPVicious captures ---------------------------------------------------------

CAPTURES = FIXTURES / "captures"
CAPTURES_EXPECTED: dict[str, dict[str, object]] = tomllib.loads(
    (CAPTURES / "expected.toml").read_text(encoding="utf-8")
)


@pytest.mark.parametrize("name", sorted(CAPTURES_EXPECTED))
def test_tool_capture_parses(name: str) -> None:
    want = CAPTURES_EXPECTED[name]
    msg = _parse_ok((CAPTURES / name).read_bytes())
    assert read_status(msg) == 0
    kind = msg.method if isinstance(msg, Request) else str(msg.status)
    assert kind == want["kind"]
    assert (msg.get("User-Agent") or "") == want["user_agent"]


def test_tool_captures_and_expectations_pair_up() -> None:
    assert {p.name for p in CAPTURES.glob("*.sip")} == set(CAPTURES_EXPECTED)
