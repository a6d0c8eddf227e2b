"""RFC 3261 §16.7: the response context forwards what it must, when it must."""

from __future__ import annotations

import pytest

from sipguard.proxy.context import ResponseContext, best_response
from sipguard.sip import Response
from tests.helpers.sipmsg import parse_request, parse_response, request, response

INVITE = parse_request(request("INVITE"))
OPTIONS = parse_request(request("OPTIONS"))


def resp(status: int, *, method: str = "INVITE", extra: dict[str, str] | None = None) -> Response:
    return parse_response(response(status, "X", extra, method=method))


def test_no_final_means_408() -> None:
    assert best_response(INVITE, []).status == 408


def test_a_6xx_beats_everything() -> None:
    chosen = best_response(INVITE, [resp(404), resp(200), resp(603), resp(486)])
    assert chosen.status == 603


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ((503, 404, 486), 404),  # lowest class: 4xx
        ((503, 302), 302),
        ((404, 407, 486), 407),  # 4xx: prefer what helps a resubmission
        ((486, 415), 415),
        ((500, 503), 500),  # within 5xx a 503 is the last choice
    ],
)
def test_lowest_class_with_preferences(statuses: tuple[int, ...], expected: int) -> None:
    assert best_response(INVITE, [resp(s) for s in statuses]).status == expected


def test_a_lone_503_goes_up_as_500() -> None:
    chosen = best_response(INVITE, [resp(503), resp(503)])
    assert chosen.status == 500
    assert chosen.to.tag is not None  # our own final response carries our tag


def test_challenges_are_aggregated() -> None:
    a = resp(401, extra={"WWW-Authenticate": 'Digest realm="a", nonce="1"'})
    b = resp(407, extra={"Proxy-Authenticate": 'Digest realm="b", nonce="2"'})
    chosen = best_response(INVITE, [resp(486), a, b])
    assert chosen.status == 401
    assert chosen.get_all("WWW-Authenticate") == ['Digest realm="a", nonce="1"']
    assert chosen.get_all("Proxy-Authenticate") == ['Digest realm="b", nonce="2"']


def test_provisional_goes_up_except_100() -> None:
    ctx = ResponseContext(INVITE)
    ctx.add_branch(1)
    assert ctx.on_provisional(1, resp(100)).response is None
    ringing = resp(180)
    assert ctx.on_provisional(1, ringing).response is ringing


def test_every_2xx_to_invite_goes_up_and_cancels_the_others() -> None:
    ctx = ResponseContext(INVITE)
    for b in (1, 2, 3):
        ctx.add_branch(b)
    first = ctx.on_final(1, resp(200))
    assert first.response is not None
    assert set(first.cancel) == {2, 3}
    second = ctx.on_final(2, resp(200))
    assert second.response is not None  # a second 2xx also goes up (forked dialogs)
    assert second.cancel == ()
    assert ctx.on_final(3, resp(487)).response is None


def test_only_one_final_for_a_non_invite() -> None:
    ctx = ResponseContext(OPTIONS)
    ctx.add_branch(1)
    ctx.add_branch(2)
    assert ctx.on_final(1, resp(200, method="OPTIONS")).response is not None
    assert ctx.on_final(2, resp(200, method="OPTIONS")).response is None


def test_best_final_waits_for_every_branch() -> None:
    ctx = ResponseContext(INVITE)
    ctx.add_branch(1)
    ctx.add_branch(2)
    assert ctx.on_final(1, resp(503)).response is None
    reply = ctx.on_final(2, resp(486))
    assert reply.response is not None
    assert reply.response.status == 486


def test_a_6xx_cancels_pending_branches_and_wins() -> None:
    ctx = ResponseContext(INVITE)
    ctx.add_branch(1)
    ctx.add_branch(2)
    ctx.on_provisional(2, resp(180))
    reply = ctx.on_final(1, resp(603))
    assert reply.cancel == (2,)
    assert reply.response is None  # branch 2 still owes its final
    assert ctx.on_final(2, resp(487)).response.status == 603  # type: ignore[union-attr]


def test_more_targets_hold_the_answer_back() -> None:
    ctx = ResponseContext(INVITE)
    ctx.add_branch(1)
    ctx.more_targets = True
    assert ctx.on_final(1, resp(503)).response is None
    ctx.more_targets = False
    assert ctx.answer_now() is not None


def test_failures_count_as_408_and_503() -> None:
    ctx = ResponseContext(INVITE)
    ctx.add_branch(1)
    ctx.add_branch(2)
    assert ctx.on_failure(1, 408).response is None
    reply = ctx.on_failure(2, 503)
    assert reply.response is not None
    assert reply.response.status == 408  # 4xx is the lowest class
    assert ctx.on_failure(2, 503).response is None  # reported twice: ignored
