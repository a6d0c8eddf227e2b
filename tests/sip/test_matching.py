"""Transaction identity: RFC 3261 §17.1.3 (client) and §17.2.3 (server, with RFC 2543)."""

from __future__ import annotations

import pytest

from sipguard.sip.build import build_ack_for_non2xx, build_cancel, build_response
from sipguard.sip.matching import (
    TransactionKey,
    ack_matches_invite,
    cancel_target_key,
    client_key,
    server_key,
)
from sipguard.sip.message import Request
from sipguard.sip.uri import SipUri
from tests.helpers.corpus import REALWORLD
from tests.helpers.sipmsg import TO, VIA, parse_request
from tests.helpers.transactions import make_request, make_response

BRANCH = "z9hG4bK776asdhds"
QUIRKS = REALWORLD / "quirks"


def quirk(name: str) -> Request:
    path = QUIRKS / name
    if not path.is_file():
        pytest.skip(f"corpus file not found: {path}")
    return parse_request(path.read_bytes())


def test_cookie_branch_key_is_branch_sent_by_and_method() -> None:
    key = server_key(make_request())
    assert key == TransactionKey("INVITE", BRANCH.lower(), "pc33.atlanta.example.com", 5060)
    assert key.legacy == ()
    assert server_key(make_request()) == key  # a retransmission
    assert hash(server_key(make_request())) == hash(key)


def test_sent_by_host_compares_case_insensitively() -> None:
    upper = make_request(headers={"Via": VIA.replace("pc33.atlanta", "PC33.Atlanta")})
    assert server_key(upper) == server_key(make_request())


def test_a_different_sent_by_or_method_is_another_transaction() -> None:
    # §17.2.3: the sent-by guards against a branch copied by another client.
    other_host = make_request(headers={"Via": VIA.replace("pc33", "evil")})
    other_port = make_request(headers={"Via": VIA.replace(":5060", ":5070")})
    invite = server_key(make_request())
    assert server_key(other_host) != invite
    assert server_key(other_port) != invite
    assert server_key(make_request("OPTIONS")) != invite


def test_ack_for_a_non_2xx_matches_its_invite_server_transaction() -> None:
    invite = make_request()
    ack = build_ack_for_non2xx(invite, make_response(486, headers={"To": f"{TO};tag=x"}))
    assert server_key(ack) == server_key(invite)
    assert ack_matches_invite(ack, invite, "x")


def test_ack_for_a_2xx_carries_a_new_branch_and_matches_nothing() -> None:
    invite = make_request()
    ack = make_request("ACK", {"Via": VIA.replace(BRANCH, "z9hG4bKnew2xxack")})
    assert server_key(ack) != server_key(invite)
    assert not ack_matches_invite(ack, invite, None)


def test_cancel_is_its_own_transaction_but_targets_the_invite() -> None:
    invite = make_request()
    cancel = build_cancel(invite)
    assert server_key(cancel) != server_key(invite)
    assert server_key(cancel).method == "CANCEL"
    assert cancel_target_key(cancel) == server_key(invite)
    assert cancel_target_key(cancel, "OPTIONS") == server_key(make_request("OPTIONS"))
    with pytest.raises(ValueError, match="CANCEL"):
        cancel_target_key(invite)
    with pytest.raises(ValueError, match="ACK"):
        cancel_target_key(cancel, "ACK")


def test_client_key_is_branch_and_cseq_method() -> None:
    invite = make_request()
    assert client_key(invite) == TransactionKey("INVITE", BRANCH.lower())
    assert client_key(make_response(180)) == client_key(invite)
    assert client_key(make_response(486)) == client_key(invite)
    other = make_response(200, headers={"Via": VIA.replace(BRANCH, "z9hG4bKother")})
    assert client_key(other) != client_key(invite)


def test_cancel_200_and_invite_487_go_to_different_client_transactions() -> None:
    # §17.1.3 rule 2: the CANCEL shares the INVITE's branch; the CSeq method tells them apart.
    invite = make_request()
    cancel = build_cancel(invite)
    cancel_ok = build_response(cancel, 200, to_tag="uas")
    terminated = build_response(invite, 487, to_tag="uas")
    assert client_key(cancel_ok) == client_key(cancel)
    assert client_key(terminated) == client_key(invite)
    assert client_key(cancel_ok) != client_key(terminated)


def test_rfc2543_register_without_branch_uses_the_legacy_fields() -> None:
    register = quirk("007-ms-rtc-register-no-branch.sip")
    key = server_key(register)
    assert key.branch == ""
    assert key.legacy != ()
    assert "aeb2c6c905a84610a54de60bb6ef476c" in key.legacy
    assert server_key(quirk("007-ms-rtc-register-no-branch.sip")) == key  # retransmission
    again = register.with_header("Via", "SIP/2.0/UDP 192.168.1.10:15796")
    assert server_key(again) == key
    for name, value in [
        ("Call-ID", "another-call"),
        ("CSeq", "418 REGISTER"),
        ("From", "<sip:user@sip.blueface.ie>;tag=other"),
        ("Via", "SIP/2.0/UDP 192.168.1.11:15796"),
    ]:
        assert server_key(register.with_header(name, value)) != key, name
    assert isinstance(register.uri, SipUri)
    rewritten = register.with_uri(register.uri.with_changes(host="SIP.BLUEFACE.IE"))
    assert server_key(rewritten) == key  # URI hosts compare case-insensitively


def test_rfc2543_compact_register_without_branch_or_tags() -> None:
    register = quirk("014-3com-register-compact-no-branch-no-tag.sip")
    key = server_key(register)
    assert key.branch == ""
    assert key.host == "172.20.3.20"
    assert key.port == 5060
    assert server_key(register.with_header("To", "<sip:3170@10.1.1.11>;tag=x")) != key
    assert server_key(quirk("014-3com-register-compact-no-branch-no-tag.sip")) == key


def test_rfc2543_ack_matches_by_the_tag_of_the_response_sent() -> None:
    no_branch = "SIP/2.0/UDP pc33.atlanta.example.com:5060"
    invite = make_request(headers={"Via": no_branch})
    busy = build_response(invite, 486, to_tag="uas-tag")
    ack = build_ack_for_non2xx(invite, busy)
    assert server_key(ack) == server_key(invite)
    assert ack_matches_invite(ack, invite, "uas-tag")
    # §17.2.3: the To tag helps tell an ACK for another response apart.
    assert not ack_matches_invite(ack, invite, "another-tag")
    assert isinstance(invite.uri, SipUri)
    other_uri = ack.with_uri(invite.uri.with_changes(user="carol"))
    assert not ack_matches_invite(other_uri, invite, "uas-tag")
    assert not ack_matches_invite(invite, invite, None)  # not an ACK
