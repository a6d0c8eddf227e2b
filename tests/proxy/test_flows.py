"""Flow tokens: a WebSocket connection named in our Record-Route, and read back."""

from __future__ import annotations

from sipguard.config import TransportName
from sipguard.proxy.flows import FlowTokens
from sipguard.proxy.identity import ListenAddress, LocalIdentity
from sipguard.sip import Request, parse_message
from sipguard.sip.transports import Peer

WSS = TransportName.WSS
BROWSER = Peer(WSS, "198.51.100.7", 40000)
IDENTITY = LocalIdentity(
    "example.com",
    (ListenAddress(TransportName.UDP, "192.0.2.1", 5060), ListenAddress(WSS, "192.0.2.1", 443)),
)
TOKENS = FlowTokens(b"s" * 32)


def bye(*routes: str) -> Request:
    lines = ["BYE sip:x@df7jal23ls0d.invalid;transport=ws SIP/2.0",
             "Via: SIP/2.0/UDP 203.0.113.9;branch=z9hG4bKb1",
             *(f"Route: {r}" for r in routes),
             "From: <sip:b@example.com>;tag=1", "To: <sip:a@example.com>;tag=2",
             "Call-ID: f1", "CSeq: 2 BYE", "Content-Length: 0", "", ""]  # fmt: skip
    message = parse_message("\r\n".join(lines).encode())
    assert isinstance(message, Request)
    return message


def test_a_token_names_its_connection_and_only_ours_are_read() -> None:
    token = TOKENS.token(BROWSER)
    assert TOKENS.peer(token) == BROWSER
    assert FlowTokens(b"t" * 32).peer(token) is None  # another node's secret
    assert TOKENS.peer(token[:-2] + ("AA" if token[-2:] != "AA" else "BB")) is None
    assert TOKENS.peer("!!") is None


def test_the_last_of_our_routes_decides_where_the_request_goes() -> None:
    facing_udp = "<sip:192.0.2.1:5060;lr>"
    facing_ws = TOKENS.mark("<sip:192.0.2.1:443;transport=wss;lr>", BROWSER)
    assert ";sgflow=" in facing_ws
    # From the UDP side towards the browser: its entry comes last.
    assert TOKENS.next_hops(bye(facing_udp, facing_ws), IDENTITY) == (BROWSER,)
    # From the browser towards the UDP side: the flow entry is not the last of ours.
    assert TOKENS.next_hops(bye(facing_ws, facing_udp), IDENTITY) == ()
    # A Route that is not ours ends the run of ours.
    assert TOKENS.next_hops(bye("<sip:203.0.113.1;lr>", facing_ws), IDENTITY) == ()
    assert TOKENS.next_hops(bye(), IDENTITY) == ()


def test_one_entry_can_name_both_ends_of_a_browser_to_browser_call() -> None:
    other = Peer(WSS, "203.0.113.50", 50000)
    entry = TOKENS.mark(TOKENS.mark("<sip:192.0.2.1:443;transport=wss;lr>", BROWSER), other)
    assert entry.count("sgflow=") == 1
    assert TOKENS.next_hops(bye(entry), IDENTITY) == (BROWSER, other)
    forged = entry.replace("sgflow=", "sgflow=AAAA.")  # a bad token among good ones
    assert TOKENS.next_hops(bye(forged), IDENTITY) == (BROWSER, other)
