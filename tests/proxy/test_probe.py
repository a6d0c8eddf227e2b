"""OPTIONS probes: the request (RFC 3261 §11.1, §8.1.1) and when each target is due."""

from __future__ import annotations

import pytest

from sipguard.config import DispatcherConfig, UpstreamConfig
from sipguard.proxy.balancer import Balancer, Target
from sipguard.proxy.probe import ProbeSchedule, build_probe
from sipguard.sip import Request, SipUri, parse_message, parse_uri, uri_equal

BRANCH = "z9hG4bK-probe-5f3a"


def sip_uri(text: str) -> SipUri:
    uri = parse_uri(text)
    assert isinstance(uri, SipUri)
    return uri


def probe(target: str = "sip:pbx.example.com:5070", **overrides: str) -> Request:
    args = {
        "local": "192.0.2.1:5060",
        "transport": "udp",
        "branch": BRANCH,
        "call_id": "probe-81b2c9@192.0.2.1",
        "from_tag": "t-4411",
        "domain": "edge.example.com",
        "server_name": "sipguard/1.0",
    }
    args.update(overrides)
    return build_probe(sip_uri(target), **args)


def reparsed(request: Request) -> Request:
    again = parse_message(request.to_bytes())
    assert isinstance(again, Request)
    assert again == request
    return again


def test_probe_is_a_valid_options_request() -> None:
    req = reparsed(probe())
    assert req.method == "OPTIONS"
    assert uri_equal(req.uri, sip_uri("sip:pbx.example.com:5070"))
    (via,) = req.vias
    assert (via.transport, via.host, via.port, via.branch) == ("UDP", "192.0.2.1", 5060, BRANCH)
    assert req.max_forwards == 70
    assert str(req.from_.uri) == "sip:sipguard@edge.example.com"
    assert req.from_.tag == "t-4411"
    assert uri_equal(req.to.uri, req.uri)
    assert req.to.tag is None
    assert req.call_id == "probe-81b2c9@192.0.2.1"
    assert (req.cseq.seq, req.cseq.method) == (1, "OPTIONS")
    assert req.content_length == 0
    assert req.body == b""
    assert req.get("User-Agent") == "sipguard/1.0"
    assert req.get("Accept") == "application/sdp"
    assert str(req.contacts[0].uri) == "sip:sipguard@192.0.2.1:5060"


@pytest.mark.parametrize(
    ("transport", "via", "contact"),
    [
        ("udp", "UDP", "sip:sipguard@[::1]:5060"),
        ("tcp", "TCP", "sip:sipguard@[::1]:5060;transport=tcp"),
        ("TLS", "TLS", "sips:sipguard@[::1]:5060"),
        ("ws", "WS", "sip:sipguard@[::1]:5060;transport=ws"),
        ("wss", "WSS", "sips:sipguard@[::1]:5060;transport=ws"),
    ],
)
def test_transport_shapes_via_and_contact(transport: str, via: str, contact: str) -> None:
    req = reparsed(probe("sip:[2001:db8::5]:5070", local="[::1]:5060", transport=transport))
    assert req.vias[0].transport == via
    assert req.vias[0].host == "[::1]"
    assert str(req.contacts[0].uri) == contact


def test_uri_headers_are_dropped_from_the_request_uri() -> None:
    req = reparsed(probe("sip:pbx.example.com;transport=tcp?X-Foo=bar"))
    assert isinstance(req.uri, SipUri)
    assert req.uri.headers == ()
    assert req.uri.transport == "tcp"


def test_branch_without_magic_cookie_is_refused() -> None:
    with pytest.raises(ValueError, match="z9hG4bK"):
        probe(branch="abc123")


def test_unknown_transport_is_refused() -> None:
    with pytest.raises(ValueError, match="transport"):
        probe(transport="sctp")


# -- schedule ----------------------------------------------------------------------------


def targets(n: int) -> tuple[Target, ...]:
    ups = [UpstreamConfig(sip_uri(f"sip:127.0.0.1:{5001 + i}")) for i in range(n)]
    return Balancer(ups, DispatcherConfig()).targets


def test_first_probes_are_due_at_start_then_every_interval() -> None:
    a, b = targets(2)
    sched = ProbeSchedule([a, b], 10.0, start=100.0)
    assert sched.next_deadline() == 100.0
    assert sched.due(99.9) == []
    assert sched.due(100.0) == [a, b]
    assert sched.in_flight(a)
    sched.finished(a)
    sched.finished(b)
    assert not sched.in_flight(a)
    assert sched.next_deadline() == 110.0
    assert sched.due(109.0) == []
    assert sched.due(110.5) == [a, b]
    sched.finished(a)
    assert sched.next_deadline() == 120.5


def test_no_second_probe_while_one_is_in_flight() -> None:
    a, b = targets(2)
    sched = ProbeSchedule([a, b], 10.0, start=0.0)
    assert sched.due(0.0) == [a, b]
    sched.finished(b)
    assert sched.due(0.0) == []
    # a's probe is still waiting (a UDP timeout takes 32 s): only b is probed meanwhile.
    assert sched.due(15.0) == [b]
    assert sched.due(30.0) == []
    assert sched.next_deadline() is None  # both in flight: nothing to wake for
    sched.finished(a)
    # a is overdue when its probe ends: due at once.
    assert sched.next_deadline() == 10.0
    assert sched.due(32.0) == [a]


def test_a_late_wakeup_probes_once_not_once_per_missed_interval() -> None:
    (a,) = targets(1)
    sched = ProbeSchedule([a], 5.0, start=0.0)
    assert sched.due(0.0) == [a]
    sched.finished(a)
    assert sched.due(60.0) == [a]
    sched.finished(a)
    assert sched.next_deadline() == 65.0


def test_interval_zero_disables_probing() -> None:
    (a,) = targets(1)
    sched = ProbeSchedule([a], 0.0, start=0.0)
    assert not sched.enabled
    assert sched.next_deadline() is None
    assert sched.due(0.0) == []
    assert sched.due(1e9) == []


def test_no_targets_means_nothing_due() -> None:
    sched = ProbeSchedule([], 10.0, start=0.0)
    assert sched.next_deadline() is None
    assert sched.due(100.0) == []


def test_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="interval"):
        ProbeSchedule(targets(1), -1.0, start=0.0)


def test_finishing_a_probe_that_was_not_sent_is_an_error() -> None:
    (a,) = targets(1)
    sched = ProbeSchedule([a], 10.0, start=0.0)
    with pytest.raises(ValueError, match="no probe in flight"):
        sched.finished(a)
