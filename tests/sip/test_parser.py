"""parse_message: start lines, header fields, bodies, limits, errors and round trips.

Each grammar element has its accepted and refused spellings; every refusal names its
status, its reason, and whether the message held enough to be answered.
"""

from __future__ import annotations

import pytest

from sipguard.sip import (
    DEFAULT_LIMITS,
    ParseLimits,
    Request,
    Response,
    SipParseError,
    SipUri,
    TelUri,
    parse_message,
)
from sipguard.sip.names import COMPACT_FORMS, SINGLETON_HEADERS
from tests.helpers.sipmsg import (
    ACCESSORS,
    CALL_ID,
    VIA,
    assemble,
    fastest_seconds,
    parse_error,
    parse_request,
    parse_response,
    request,
    request_headers,
    response,
)


def refused(
    data: bytes,
    status: int,
    reason: str,
    *,
    answerable: bool,
    limits: ParseLimits = DEFAULT_LIMITS,
) -> SipParseError:
    err = parse_error(data, limits)
    assert (err.status, err.reason, err.answerable) == (status, reason, answerable)
    if answerable:
        assert isinstance(err.partial, Request)
    else:
        assert not isinstance(err.partial, Request)
    return err


# -- start lines --------------------------------------------------------------------


def test_request_parts():
    msg = parse_request(request("OPTIONS", "sips:carol@chicago.example.com;transport=tls"))
    assert msg.method == "OPTIONS"
    assert msg.uri == SipUri(
        "sips",
        "chicago.example.com",
        user="carol",
        params=(("transport", "tls"),),
        raw="sips:carol@chicago.example.com;transport=tls",
    )
    assert msg.version == "SIP/2.0"
    assert msg.start_line() == "OPTIONS sips:carol@chicago.example.com;transport=tls SIP/2.0"
    assert msg.via.branch == "z9hG4bK776asdhds"
    assert msg.call_id == CALL_ID
    assert (msg.cseq.seq, msg.cseq.method) == (314159, "OPTIONS")
    assert msg.max_forwards == 70
    assert msg.content_length == 0
    assert msg.body == b""


@pytest.mark.parametrize(
    "method",
    ["INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "PRACK", "NEWMETHOD", "x.y-z!"],
)
def test_known_and_unknown_methods(method):
    msg = parse_request(request(method))
    assert msg.method == msg.cseq.method == method


@pytest.mark.parametrize(
    ("method", "cseq"),
    [("INVITE", "1 BYE"), ("INVITE", "1 invite"), ("invite", "1 INVITE"), ("ACK", "1 INVITE")],
)
def test_cseq_method_must_match_the_request_method(method, cseq):
    # RFC 3261 §8.1.1.7 / §12.2.1.1: methods are case-sensitive; ACK carries its own.
    data = request(method, headers={"CSeq": cseq})
    refused(data, 400, "CSeq Method Mismatch", answerable=True)


@pytest.mark.parametrize("version", ["SIP/3.0", "SIP/1.0", "SIP/2.1", "SIP/10.0"])
def test_other_sip_versions_get_505(version):
    refused(request(version=version), 505, "Version Not Supported", answerable=True)


def test_sip_version_is_case_insensitive():
    # RFC 3261 §7.1: "The SIP-Version string is case-insensitive".
    assert parse_request(request(version="sip/2.0")).version == "sip/2.0"


@pytest.mark.parametrize(
    "start",
    [
        "INVITE  sip:bob@biloxi.example.com SIP/2.0",
        "INVITE sip:bob@biloxi.example.com  SIP/2.0",
        "INVITE sip:bob@biloxi.example.com SIP/2.0 ",
        " INVITE sip:bob@biloxi.example.com SIP/2.0",
        "INVITE\tsip:bob@biloxi.example.com\tSIP/2.0",
        "INVITE sip:bob@biloxi.example.com",
        "INVITE SIP/2.0",
        "INVITE",
        "INVITE sip:bob@biloxi.example.com SIP/2.0 extra",
        "INVITE sip:bob@biloxi.example.com HTTP/1.1",
        "INVITE sip:bob@biloxi.example.com SIP/2",
        "INVITE sip:bob@biloxi.example.com SIP/2.0.1",
        "INV@ITE sip:bob@biloxi.example.com SIP/2.0",
    ],
)
def test_malformed_request_lines(start):
    data = assemble(start, [f"{k}: {v}" for k, v in request_headers().items()])
    refused(data, 400, "Malformed Request-Line", answerable=True)


# -- Request-URI --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "user", "host"),
    [
        ("sip:%75se%72@example.com", "%75se%72", "example.com"),  # RFC 4475 esc01
        ("sip:sips%3Auser%40example.com@example.net", "sips%3Auser%40example.com", "example.net"),
        ("sip:null-%00-null@example.com", "null-%00-null", "example.com"),
        ("sip:bob@[2001:db8::1]:5060", "bob", "[2001:db8::1]"),
        ("sip:bob@[::ffff:192.0.2.1]", "bob", "[::ffff:192.0.2.1]"),
        ("sip:bob@sip.194.213.29.100", "bob", "sip.194.213.29.100"),  # liberal
        ("SIP:bob@biloxi.example.com", "bob", "biloxi.example.com"),
        ("sips:bob@biloxi.example.com;;lr;", "bob", "biloxi.example.com"),  # liberal
    ],
)
def test_request_uris(uri, user, host):
    msg = parse_request(request(uri=uri))
    assert isinstance(msg.uri, SipUri)
    assert (msg.uri.user, msg.uri.host) == (user, host)
    assert str(msg.uri) == uri


def test_tel_request_uri():
    msg = parse_request(request(uri="tel:+1-201-555-0123"))
    assert msg.uri == TelUri("+1-201-555-0123", raw="tel:+1-201-555-0123")


@pytest.mark.parametrize(
    "uri", ["mailto:bob@example.com", "http://example.com/", "urn:service:sos", "im:bob@b.com"]
)
def test_other_request_uri_schemes_get_416(uri):
    refused(request(uri=uri), 416, "Unsupported URI Scheme", answerable=True)


@pytest.mark.parametrize(
    "uri",
    [
        "<sip:bob@biloxi.example.com>",  # RFC 4475 ltgtruri
        "biloxi.example.com",
        "sip:",
        "sip:bob@256.1.1.1",  # RFC 5954 §4.1
        "sip:bob@01.2.3.4",
        "sip:bob@[2001:db8:::192.0.2.1]",  # RFC 5954 §3.1
        "sip:bob@[2001:db8::1",
        "sip:bob@host:65536",
        "sip:b%zzob@host",
        "tel:not a number",
    ],
)
def test_malformed_request_uris(uri):
    if " " in uri:
        refused(request(uri=uri), 400, "Malformed Request-Line", answerable=True)
    else:
        refused(request(uri=uri), 400, "Malformed Request-URI", answerable=True)


def test_uri_headers_are_not_allowed_in_the_request_uri():
    # RFC 3261 §19.1.1 table: headers are not allowed in a Request-URI.
    data = request(uri="sip:bob@biloxi.example.com?Route=%3Csip:evil%3E")
    refused(data, 400, "Headers Not Allowed In Request-URI", answerable=True)


def test_unknown_schemes_in_headers_are_kept_opaque():
    msg = parse_request(request(headers={"To": "<urn:service:sos>", "Contact": "<im:a@b.com>"}))
    assert (msg.to.uri.scheme, str(msg.to.uri)) == ("urn", "urn:service:sos")
    assert [str(c.uri) for c in msg.contacts] == ["im:a@b.com"]


# -- header fields ------------------------------------------------------------------


def test_folded_headers_are_unfolded():
    data = request(
        headers={
            "Subject": "I know you're there,\r\n pick up the phone\r\n\t and talk to me!",
            "Via": "SIP/2.0/UDP pc33.atlanta.example.com\r\n ;branch=z9hG4bK1",
            "From": "Alice\r\n\t<sip:alice@atlanta.example.com>\r\n ;tag=88",
        }
    )
    msg = parse_request(data)
    assert msg.get("Subject") == "I know you're there, pick up the phone and talk to me!"
    assert msg.via.branch == "z9hG4bK1"
    assert (msg.from_.display_name, msg.from_.tag) == ("Alice", "88")
    assert msg.to_bytes() == data


def test_continuation_line_right_after_the_start_line_is_refused():
    data = assemble(
        "INVITE sip:bob@biloxi.example.com SIP/2.0",
        [" folded", *(f"{k}: {v}" for k, v in request_headers().items())],
    )
    refused(data, 400, "Malformed Header Line", answerable=False)


@pytest.mark.parametrize("line", ["NoColon", "Bad Name: x", ": no name", "X(1): y", "Via"])
def test_malformed_header_lines(line):
    data = assemble("OPTIONS sip:b@c SIP/2.0", [f"{k}: {v}" for k, v in request_headers().items()])
    data = data.replace(b"\r\n\r\n", f"\r\n{line}\r\n\r\n".encode())
    refused(data, 400, "Malformed Header Line", answerable=False)


@pytest.mark.parametrize("value", ["", " ", "\t"])
def test_empty_header_values_are_accepted(value):
    data = request().replace(b"\r\n\r\n", f"\r\nSubject:{value}\r\n\r\n".encode())
    msg = parse_request(data)
    assert msg.get("Subject") == ""
    assert msg.has("subject")


def test_unknown_headers_are_kept_verbatim():
    lines = ["X-Weird_Header.1:   spaced   value  ", "x-lower: a,b;c=<d>", 'X-Q: "q, \\" r"']
    data = request().replace(b"\r\n\r\n", ("\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode())
    msg = parse_request(data)
    assert msg.get("x-weird_header.1") == "spaced   value"
    assert msg.get_all("X-LOWER") == ["a,b;c=<d>"]
    fields = [f for f in msg.fields if f.key.startswith("x-")]
    assert [f.name for f in fields] == ["X-Weird_Header.1", "x-lower", "X-Q"]
    assert [f.raw for f in fields] == lines
    assert msg.to_bytes() == data


@pytest.mark.parametrize(
    "spelling",
    ["Via", "VIA", "via", "vIa", "v", "V"],
)
def test_header_names_are_case_insensitive(spelling):
    headers = request_headers()
    del headers["Via"]
    lines = [f"{spelling}: {VIA}", *(f"{k.upper()}: {v}" for k, v in headers.items())]
    msg = parse_request(assemble("INVITE sip:bob@biloxi.example.com SIP/2.0", lines))
    assert msg.via.branch == "z9hG4bK776asdhds"
    assert msg.get("via") == msg.get("V") == VIA
    assert msg.call_id == CALL_ID


def test_whitespace_before_the_colon():
    # HCOLON = *( SP / HTAB ) ":" SWS
    data = request(headers={"Max-Forwards": None, "Max-Forwards \t": "69"})
    assert parse_request(data).max_forwards == 69


# RFC 3261 §7.3.3 and later registrations: the compact form and a value for it.
COMPACT_SAMPLES = {
    "a": "*;audio",
    "b": "<sip:referrer@example.com>",
    "c": "application/sdp",
    "d": "proxy",
    "e": "gzip",
    "f": "<sip:alice@atlanta.example.com>;tag=1",
    "i": "compact-call-id@host",
    "j": "*;video",
    "k": "100rel",
    "l": "0",
    "m": "<sip:alice@192.0.2.1>",
    "o": "presence",
    "r": "<sip:carol@example.com>",
    "s": "hello",
    "t": "<sip:bob@biloxi.example.com>",
    "u": "talk",
    "v": "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKc",
    "x": "1800",
    "y": "eyJhbGciOi",
}


def test_compact_forms_map_to_their_long_names():
    assert set(COMPACT_SAMPLES) == set(COMPACT_FORMS)
    start = "MESSAGE sip:bob@biloxi.example.com SIP/2.0"
    lines = [f"{c}: {v}" for c, v in COMPACT_SAMPLES.items()] + ["CSeq: 1 MESSAGE"]
    msg = parse_request(assemble(start, lines))
    for compact, value in COMPACT_SAMPLES.items():
        assert msg.get(COMPACT_FORMS[compact]) == value, compact
        assert msg.get(compact.upper()) == value, compact
    assert {f.key for f in msg.fields} == {*COMPACT_FORMS.values(), "cseq"}
    assert msg.call_id == "compact-call-id@host"
    assert msg.contacts[0].sip_uri == SipUri("sip", "192.0.2.1", "alice", raw="sip:alice@192.0.2.1")


SINGLETON_SAMPLES = {
    "Call-ID": CALL_ID,
    "Content-Length": "0",
    "Content-Type": "application/sdp",
    "CSeq": "314159 INVITE",
    "Expires": "60",
    "From": "Alice <sip:alice@atlanta.example.com>;tag=1928301774",
    "Max-Forwards": "70",
    "Min-Expires": "60",
    "To": "Bob <sip:bob@biloxi.example.com>",
}


@pytest.mark.parametrize(("name", "value"), SINGLETON_SAMPLES.items())
def test_duplicated_singleton_headers_are_refused(name, value):
    assert {n.lower() for n in SINGLETON_SAMPLES} == SINGLETON_HEADERS
    # Even two identical lines: RFC 3261 §7.3.1 allows repeats of list headers only.
    err = parse_error(request(headers={name: [value, value]}))
    assert (err.status, err.reason, err.answerable) == (400, f"Duplicate {name} Header", True)


@pytest.mark.parametrize(
    ("long", "compact", "value"),
    [("From", "f", "<sip:x@y>;tag=2"), ("Call-ID", "i", "other"), ("Content-Length", "l", "0")],
)
def test_singleton_duplicated_through_its_compact_form(long, compact, value):
    data = request().replace(b"\r\n\r\n", f"\r\n{compact}: {value}\r\n\r\n".encode())
    err = parse_error(data)
    assert (err.status, err.answerable) == (400, True)
    assert err.reason.startswith("Duplicate ")
    assert err.partial is not None
    assert len(err.partial.get_all(long)) == 2


def test_duplicated_singleton_in_a_response_is_not_answerable():
    data = response(headers={"Expires": ["60", "70"]})
    refused(data, 400, "Duplicate Expires Header", answerable=False)


@pytest.mark.parametrize(
    "header", ["Via", "Route", "Record-Route", "Contact", "Require", "Supported", "X-Custom"]
)
def test_list_and_unknown_headers_may_repeat(header):
    value = VIA if header == "Via" else "<sip:a@b;lr>"
    msg = parse_request(request(headers={header: [value, value]}))
    assert len(msg.get_all(header)) == 2


# -- mixed line ends and control characters -----------------------------------------


@pytest.mark.parametrize("separator", ["\n", "\r"])
@pytest.mark.parametrize("header", ["Subject", "From", "X-Custom"])
def test_lone_line_break_inside_a_header_is_refused(separator, header):
    # A header smuggled behind a lone CR or LF would be seen by an LF-tolerant next hop.
    smuggled = f"<sip:a@b>;x=1{separator}Via: SIP/2.0/UDP evil.example.com;branch=z9hG4bKevil"
    err = parse_error(request(headers={header: smuggled}))
    assert err.status == 400


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x7f"])
def test_control_characters_in_call_id_are_refused(char):
    data = request(headers={"Call-ID": f"abc{char}def@host"})
    refused(data, 400, "Invalid Call-ID", answerable=True)


@pytest.mark.parametrize("call_id", ["a b", "", "a\tb"])
def test_invalid_call_ids(call_id):
    # The four echoed headers need only be present for the request to be answerable.
    refused(request(headers={"Call-ID": call_id}), 400, "Invalid Call-ID", answerable=True)


# -- Max-Forwards, CSeq, Content-Length ---------------------------------------------


@pytest.mark.parametrize(("value", "number"), [("0", 0), ("70", 70), ("255", 255), ("0070", 70)])
def test_valid_max_forwards(value, number):
    assert parse_request(request(headers={"Max-Forwards": value})).max_forwards == number


def test_missing_max_forwards_is_accepted():
    assert parse_request(request(headers={"Max-Forwards": None})).max_forwards is None


@pytest.mark.parametrize(
    "value", ["256", "300", "99999999999999999999", "-1", "+5", "abc", "1.5", "7 0", "\u0667\u0660"]
)
def test_invalid_max_forwards(value):
    # RFC 3261 §20.22: Max-Forwards = 1*DIGIT, "an integer in the range 0-255".
    refused(request(headers={"Max-Forwards": value}), 400, "Invalid Max-Forwards", answerable=True)


@pytest.mark.parametrize(
    "value",
    ["-1 INVITE", "4294967296 INVITE", "99999999999999999999 INVITE", "314159", "INVITE", "x Y"],
)
def test_invalid_cseq_in_a_message(value):
    refused(request(headers={"CSeq": value}), 400, "Invalid CSeq", answerable=True)


def test_cseq_at_its_maximum():
    msg = parse_request(request(headers={"CSeq": "4294967295 INVITE"}))
    assert msg.cseq.seq == 2**32 - 1


@pytest.mark.parametrize(
    "value",
    ["-1", "-0", "+5", "abc", "1e3", "5 5", "0x10", "99999999999999999999", "\u0665", "\uff15"],
)
def test_invalid_content_length(value):
    data = request(headers={"Content-Length": value}, body=b"hello")
    refused(data, 400, "Invalid Content-Length", answerable=True)


@pytest.mark.parametrize("declared", [6, 10, 1000])
def test_content_length_beyond_the_bytes_present(declared):
    data = request(headers={"Content-Length": str(declared)}, body=b"hello")
    refused(data, 400, "Content-Length Exceeds Message", answerable=True)


def test_bytes_after_the_body_are_dropped():
    data = request(headers={"Content-Type": "text/plain"}, body=b"hello")
    msg = parse_request(data + b"EXTRA BYTES\r\n\r\n")
    assert msg.body == b"hello"
    assert msg.content_length == 5
    assert msg.to_bytes() == data


def test_body_without_content_length_runs_to_the_datagram_end():
    # RFC 3261 §18.3: on a datagram the body is everything after the empty line.
    data = request(headers={"Content-Length": None}) + b"v=0\r\n"
    msg = parse_request(data)
    assert (msg.body, msg.content_length) == (b"v=0\r\n", None)


def test_body_holding_an_empty_line():
    body = b"v=0\r\n\r\nINVITE sip:x SIP/2.0\r\n\r\n"
    msg = parse_request(request(body=body, headers={"Content-Type": "text/plain"}))
    assert msg.body == body


# -- liberal readings -----------------------------------------------------------------


def test_missing_tags_and_branch_are_accepted():
    data = request(
        headers={
            "From": "<sip:alice@atlanta.example.com>",
            "To": "sip:bob@biloxi.example.com",
            "Via": "SIP/2.0/UDP 192.0.2.1",
        }
    )
    msg = parse_request(data)
    assert (msg.from_.tag, msg.to.tag, msg.via.branch) == (None, None, None)


def test_branch_without_magic_cookie_is_accepted():
    msg = parse_request(request(headers={"Via": "SIP/2.0/UDP 192.0.2.1;branch=1234"}))
    assert msg.via.branch == "1234"


def test_bare_lf_line_ends_are_accepted():
    crlf = request(headers={"Subject": "a\r\n b", "Content-Type": "text/plain"}, body=b"x\r\ny")
    head, _, body = crlf.partition(b"\r\n\r\n")
    data = head.replace(b"\r\n", b"\n") + b"\n\n" + body
    msg = parse_request(data)
    assert msg == parse_request(crlf)
    assert msg.get("Subject") == "a b"
    assert msg.body == b"x\r\ny"
    assert msg.to_bytes() == data


def test_bare_lf_message_with_crlf_in_its_body():
    body = b"v=0\r\n\r\nx"
    crlf = request(headers={"Content-Type": "text/plain"}, body=body)
    head = crlf[: crlf.index(b"\r\n\r\n") + 4]
    data = head.replace(b"\r\n", b"\n") + body
    assert parse_request(data).body == body


def test_datagram_without_the_final_empty_line():
    data = request()
    msg = parse_request(data[:-2])
    assert msg == parse_request(data)
    assert msg.body == b""


def test_leading_crlfs_before_the_start_line_are_ignored():
    # RFC 3261 §7.5: ignore CRLFs before the start line; they are not part of the message.
    data = request()
    msg = parse_request(b"\r\n\r\n\r\n" + data)
    assert msg == parse_request(data)
    assert msg.to_bytes() == data


@pytest.mark.parametrize(
    "header",
    [
        "Jürgen Müller <sip:juergen@example.com>;tag=1",
        "José <sip:jose@example.com>;tag=1",
        '"日本語" <sip:nihongo@example.com>;tag=1',
    ],
)
def test_utf8_display_names(header):
    msg = parse_request(request(headers={"From": header}))
    assert msg.from_.display_name == header.split(" <")[0].strip('"')
    assert msg.to_bytes() == request(headers={"From": header})


@pytest.mark.parametrize(
    ("uri", "params"),
    [
        ("sip:bob@biloxi.example.com;", ()),
        ("sip:bob@biloxi.example.com;;lr", (("lr", None),)),
        ("sip:bob@biloxi.example.com;transport=udp;;", (("transport", "udp"),)),
    ],
)
def test_empty_uri_parameters_are_accepted(uri, params):
    msg = parse_request(request(uri=uri, headers={"To": f"<{uri}>"}))
    assert isinstance(msg.uri, SipUri)
    assert msg.uri.params == params
    assert msg.to.uri == msg.uri


# -- answerable and partial -----------------------------------------------------------


def test_partial_holds_the_headers_needed_to_answer():
    data = request(headers={"Max-Forwards": "300", "X-Extra": "kept"})
    err = refused(data, 400, "Invalid Max-Forwards", answerable=True)
    partial = err.partial
    assert isinstance(partial, Request)
    assert partial.via.branch == "z9hG4bK776asdhds"
    assert partial.from_.tag == "1928301774"
    assert partial.to.tag is None
    assert partial.call_id == CALL_ID
    assert partial.cseq.seq == 314159
    assert partial.method == "INVITE"
    assert partial.get("X-Extra") == "kept"


@pytest.mark.parametrize("missing", ["Via", "From", "To", "Call-ID", "CSeq"])
def test_missing_answer_header_is_not_answerable(missing):
    err = parse_error(request(headers={missing: None}))
    assert (err.status, err.answerable, err.partial) == (400, False, None)
    assert err.reason == f"Missing {missing} Header"


@pytest.mark.parametrize("via", ["junk", "SIP/2.0/UDP", "SIP/2.0/UDP host:99999", ""])
def test_unreadable_top_via_is_not_answerable(via):
    err = parse_error(request(headers={"Via": via}))
    assert (err.status, err.answerable, err.partial) == (400, False, None)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("From", "< sip:alice@atlanta.example.com>"),
        ("To", "Bob <sip:bob@biloxi.example.com"),
        ("CSeq", "abc INVITE"),
        ("Call-ID", "two words"),
    ],
)
def test_present_but_malformed_echoed_header_is_answerable(header, value):
    # parser.py: a 400 echoes From, To, Call-ID and CSeq as written, so being present
    # (with a readable top Via) is enough to answer.
    err = parse_error(request(headers={header: value}))
    assert (err.status, err.answerable) == (400, True)
    assert err.reason == f"Invalid {header}"
    assert err.partial is not None
    assert err.partial.get(header) == value


def test_garbage_start_line_with_good_headers_is_answerable():
    data = assemble("HELLO", [f"{k}: {v}" for k, v in request_headers().items()])
    refused(data, 400, "Malformed Request-Line", answerable=True)


@pytest.mark.parametrize(
    "data",
    [b"", b"\r\n", b"\r\n\r\n", b"\x00" * 10, b"INVITE", b"INVITE sip:a@b SIP/2.0", b"\xff\xfe"],
)
def test_fragments_are_not_answerable(data):
    err = parse_error(data)
    assert (err.status, err.answerable, err.partial) == (400, False, None)


# -- responses ------------------------------------------------------------------------


def test_response_parts():
    msg = parse_response(response(180, "Ringing"))
    assert (msg.status, msg.reason, msg.version) == (180, "Ringing", "SIP/2.0")
    assert msg.to.tag == "a6c85cf"
    assert msg.start_line() == "SIP/2.0 180 Ringing"


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (100, "Trying"),
        (699, "Whatever"),
        (200, ""),
        (200, "OK with  spaces and   more"),
        (603, "Décliné ☎"),
        (486, "Busy Here; try later, please"),
    ],
)
def test_status_codes_and_reason_phrases(status, reason):
    data = response(status, reason)
    msg = parse_response(data)
    assert (msg.status, msg.reason) == (status, reason)
    assert msg.to_bytes() == data


def test_response_cseq_method_is_not_compared():
    msg = parse_response(response(200, "OK", method="BYE"))
    assert msg.cseq.method == "BYE"


@pytest.mark.parametrize("status", ["99", "700", "000", "abc", "2000", "20", "-200", "2 0"])
def test_invalid_status_codes(status):
    err = parse_error(response(status, "X"))
    assert (err.status, err.answerable, err.partial) == (400, False, None)


@pytest.mark.parametrize(
    ("header", "value"), [("Call-ID", None), ("CSeq", "x"), ("Content-Length", "-1")]
)
def test_response_errors_are_never_answerable(header, value):
    err = parse_error(response(headers={header: value}))
    assert (err.status, err.answerable, err.partial) == (400, False, None)


# -- limits -----------------------------------------------------------------------------


def test_ten_megabyte_blob_is_refused_fast():
    blob = request() + b"x" * 10_000_000
    seconds = fastest_seconds(lambda: parse_message(blob), budget=0.005)
    assert seconds < 0.005
    refused(blob, 513, "Message Too Large", answerable=False)


def test_endless_header_section_is_refused_fast():
    blob = b"INVITE sip:a@b SIP/2.0\r\nX: " + b"a" * 10_000_000
    limits = ParseLimits(max_message_size=20_000_000)
    seconds = fastest_seconds(lambda: parse_message(blob, limits), budget=0.005)
    assert seconds < 0.005
    refused(blob, 513, "Message Too Large", answerable=False, limits=limits)


@pytest.mark.parametrize(
    ("header", "value", "accessor"),
    [
        ("To", "a" + " " * 4000 + "b", "to"),
        ("Contact", "<sip:a@b>," + " " * 300 + "b", "contacts"),
        ("Route", "<sip:p;lr>," + " " * 300 + "b", "routes"),
    ],
)
def test_addresses_with_whitespace_runs_are_read_fast(header, value, accessor):
    data = request("REGISTER", headers={header: value})
    read = ACCESSORS[accessor]

    def parse_and_read() -> None:
        read(parse_message(data))

    assert fastest_seconds(parse_and_read, budget=0.005) < 0.005


def test_message_size_limit_boundary():
    data = request()
    parse_request(data, ParseLimits(max_message_size=len(data)))
    refused(
        data,
        513,
        "Message Too Large",
        answerable=False,
        limits=ParseLimits(max_message_size=len(data) - 1),
    )


def test_header_section_limit_boundary():
    # The header section counts through its empty line (as the stream framer counts it).
    data = request(body=b"x" * 100, headers={"Content-Type": "text/plain"})
    head = data.index(b"\r\n\r\n") + 4
    parse_request(data, ParseLimits(max_header_size=head))
    limits = ParseLimits(max_header_size=head - 1)
    refused(data, 513, "Message Too Large", answerable=False, limits=limits)


def test_body_size_limit_boundary():
    data = request(body=b"x" * 100, headers={"Content-Type": "text/plain"})
    parse_request(data, ParseLimits(max_body_size=100))
    refused(data, 513, "Message Too Large", answerable=True, limits=ParseLimits(max_body_size=99))


def test_header_count_limit_boundary():
    data = request(headers={"X-N": [str(i) for i in range(20)]})
    count = len(parse_message(data).fields)
    parse_request(data, ParseLimits(max_headers=count))
    limits = ParseLimits(max_headers=count - 1)
    refused(data, 400, "Too Many Headers", answerable=False, limits=limits)


def test_many_headers_under_default_limits():
    data = request(headers={"X-N": ["1"] * (DEFAULT_LIMITS.max_headers + 1)})
    refused(data, 400, "Too Many Headers", answerable=False)


@pytest.mark.parametrize("folded", [False, True])
def test_header_line_limit_boundary(folded):
    value = "a" * 40 + ("\r\n " if folded else " ") + "b" * 40
    line = f"X-Long: {value}"
    data = request(headers={"X-Long": value})
    parse_request(data, ParseLimits(max_header_line=len(line)))
    limits = ParseLimits(max_header_line=len(line) - 1)
    refused(data, 400, "Header Too Long", answerable=False, limits=limits)


def test_header_line_limit_counts_bytes():
    line = "X-Long: " + "é" * 50  # 108 bytes, 58 characters
    data = request(headers={"X-Long": "é" * 50})
    limits = ParseLimits(max_header_line=100)
    assert len(line.encode()) > 100
    refused(data, 400, "Header Too Long", answerable=False, limits=limits)


def test_via_count_limit_boundary_over_lines_and_commas():
    three = request(headers={"Via": [VIA, f"{VIA}, {VIA}"]})
    assert len(parse_request(three, ParseLimits(max_via=3)).vias) == 3
    four = request(headers={"Via": [VIA, f"{VIA}, {VIA}", VIA]})
    refused(four, 400, "Too Many Via Headers", answerable=False, limits=ParseLimits(max_via=3))
    commas = request(headers={"Via": ", ".join([VIA] * 4)})
    refused(commas, 400, "Too Many Via Headers", answerable=False, limits=ParseLimits(max_via=3))


def test_too_many_vias_under_default_limits():
    data = request(headers={"Via": [VIA] * (DEFAULT_LIMITS.max_via + 1)})
    refused(data, 400, "Too Many Via Headers", answerable=False)


# -- round trip and re-rendering -------------------------------------------------------

ROUND_TRIP = {
    "plain": request(),
    "body": request(headers={"Content-Type": "application/sdp"}, body=b"v=0\r\no=- 1 1 IN\r\n"),
    "folded": request(headers={"Subject": "a\r\n\tb"}),
    "compact": request(headers={"Via": None, "v": VIA, "l": "0", "Content-Length": None}),
    "spacing": request(headers={"To": "  Bob   <sip:bob@biloxi.example.com>  ;tag=1  "}),
    "unknown": request("FOO", headers={"X-Y": "z", "Require": "a, b,c"}),
    "lf": request().replace(b"\r\n", b"\n"),
    "no final empty line": request()[:-2],
    "utf8": request(headers={"Subject": "Grüße ☎"}),
    "response": response(404, "Not Found", headers={"Warning": '399 h "x"'}),
}


@pytest.mark.parametrize("data", ROUND_TRIP.values(), ids=ROUND_TRIP.keys())
def test_untouched_message_renders_its_exact_bytes(data):
    msg = parse_message(data)
    assert msg.to_bytes() == data
    assert parse_message(msg.to_bytes()) == msg


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n")


def test_prepended_via_and_replaced_max_forwards_change_only_those_lines():
    data = request(
        headers={"Subject": "a\r\n b", "X-Odd": "  spaced  ", "Content-Type": "text/plain"},
        body=b"body",
    )
    msg = parse_request(data)
    new_via = "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKproxy1"
    changed = msg.with_header_prepended("Via", new_via).with_header("Max-Forwards", "69")
    out = changed.to_bytes()
    expected = _lines(data)
    expected[expected.index(b"Max-Forwards: 70")] = b"Max-Forwards: 69"
    expected.insert(1, f"Via: {new_via}".encode())
    assert _lines(out) == expected
    assert parse_message(out) == changed
    assert [v.branch for v in changed.vias] == ["z9hG4bKproxy1", "z9hG4bK776asdhds"]
    assert changed.max_forwards == 69
    assert msg.to_bytes() == data  # the original is untouched
    assert msg.max_forwards == 70


def test_changed_lf_message_renders_with_crlf_and_parses_back():
    msg = parse_request(request(headers={"Subject": "a\r\n b"}).replace(b"\r\n", b"\n"))
    changed = msg.with_header("Max-Forwards", "10")
    out = changed.to_bytes()
    assert b"\n" not in out.replace(b"\r\n", b"")
    assert parse_message(out) == changed


def test_changed_response_parses_back():
    msg = parse_response(response(200, "OK", body=b"x", headers={"Content-Type": "text/plain"}))
    changed = msg.without_header("Content-Type").with_body(b"")
    assert parse_message(changed.to_bytes()) == changed
    assert isinstance(parse_message(changed.to_bytes()), Response)


def test_messages_differing_in_one_value_are_not_equal():
    a = parse_message(request())
    b = parse_message(request(headers={"Max-Forwards": "69"}))
    c = parse_message(request(body=b"x", headers={"Content-Type": "text/plain"}))
    assert a != b
    assert a != c
    assert a == parse_message(request())
