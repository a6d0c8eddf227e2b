"""Invariants of parse_message.

(a) A valid message, however it is spelled (compact or long names in any case, HCOLON
    spacing, folding, LF line ends), parses; every generated header value and typed value
    comes back; the untouched message renders to its exact bytes; and a message re-rendered
    after a change (or not) parses back equal: ``parse(m.to_bytes()) == m``.
(b) Any bytes, and valid messages after byte flips, insertions, deletions, truncations and
    duplicated lines: parse_message returns a message or raises SipParseError and nothing
    else; every typed accessor of the message (or of the error's partial) raises nothing but
    SipParseError; and each call stays within 5 ms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipguard.sip import Message, Request, Response, SipParseError, parse_message
from tests.helpers.sipmsg import fastest_seconds, read_every_accessor

BUDGET = 0.005  # seconds per call

# Generating a valid message costs ~20 ms (it is hundreds of draws), so these counts keep
# the file near 15 s; the long runs belong in fuzz/. deadline=None: the 5 ms bound on the
# parser is asserted explicitly, not on hypothesis' timing of generation plus checks.
SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large]
VALID = settings(max_examples=150, deadline=None, suppress_health_check=SLOW)
MUTATED = settings(max_examples=250, deadline=None, suppress_health_check=SLOW)
BYTES = settings(max_examples=1000, deadline=None)

ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# RFC 3261 §25.1 token: alphanumerics and - . ! % * _ + ` ' ~
TOKEN = st.text(ALNUM + "-.!%*_+`'~", min_size=1, max_size=12)
HEX = st.text("0123456789abcdefABCDEF", min_size=2, max_size=2).map("%{}".format)


def _uri_text(chars: str, *, min_size: int = 1) -> st.SearchStrategy[str]:
    """1*( chars / escaped ): a run of ``chars`` with maybe an escape inside."""
    run = st.text(chars, max_size=6)
    return st.builds("{}{}{}".format, run, st.just("") | HEX, run).filter(
        lambda t: len(t) >= min_size
    )


# RFC 3261 §25.1 user: unreserved, escaped or user-unreserved; password: fewer marks.
USER = _uri_text(ALNUM + "-_.!~*'()" + "&=+$,;?/")
PASSWORD = _uri_text(ALNUM + "-_.!~*'()" + "&=+$,", min_size=0)
# RFC 3261 §25.1 paramchar: param-unreserved, unreserved or escaped characters.
PARAMCHARS = _uri_text(ALNUM + "-_.!~*'()" + "[]/:&+$")
LOWER = "abcdefghijklmnopqrstuvwxyz"
# RFC 3261 §25.1 hostname labels: no "-" at either end; the top label starts with a letter.
LABEL = st.text(LOWER + "0123456789-", min_size=1, max_size=8).map(lambda t: t.strip("-") or "a")
TOPLABEL = st.builds("{}{}".format, st.sampled_from(LOWER), LABEL).map(lambda t: t.rstrip("-"))


def _random_case(draw: st.DrawFn, text: str) -> str:
    flips = draw(st.integers(0, 2 ** len(text) - 1))
    return "".join(c.upper() if flips >> i & 1 else c.lower() for i, c in enumerate(text))


@st.composite
def hostnames(draw: st.DrawFn) -> str:
    labels = draw(st.lists(LABEL, max_size=3))
    return _random_case(draw, ".".join([*labels, draw(TOPLABEL)]))


HOSTS = st.one_of(
    hostnames(),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map("[{}]".format),
)
PORTS = st.none() | st.integers(1, 65535)


@st.composite
def sip_uris(draw: st.DrawFn, *, params: bool = True) -> str:
    scheme = draw(st.sampled_from(["sip", "sips", "SIP", "Sips"]))
    userinfo = ""
    if draw(st.booleans()):
        userinfo = draw(USER)
        if draw(st.integers(0, 4)) == 0:
            userinfo += ":" + draw(PASSWORD)
        userinfo += "@"
    port = draw(PORTS)
    text = f"{scheme}:{userinfo}{draw(HOSTS)}" + ("" if port is None else f":{port}")
    if params:
        for name, value in draw(st.lists(st.tuples(PARAMCHARS, st.none() | PARAMCHARS))):
            text += f";{name}" if value is None else f";{name}={value}"
    return text


def _quote(draw: st.DrawFn, text: str) -> str:
    """``text`` as a quoted-string, escaping the characters that must be and some others."""
    extra = draw(st.integers(0, 2 ** len(text) - 1)) & draw(st.integers(0, 2 ** len(text) - 1))
    out = [
        "\\" + c if c in '"\\' or (c.isascii() and extra >> i & 1) else c
        for i, c in enumerate(text)
    ]
    return '"' + "".join(out) + '"'


# qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII (a DQUOTE or "\" is escaped)
PRINTABLE = "".join(map(chr, range(0x20, 0x7F)))
QUOTED_TEXT = st.text(PRINTABLE + "éü☎日本", max_size=16)
# Header values of unknown headers: anything visible, spaces inside.
FREE_TEXT = st.text(PRINTABLE + "éü☎", max_size=30).map(lambda s: s.strip(" "))


@dataclass
class Address:
    """What a name-addr / addr-spec was generated from, and its text."""

    display: str | None
    uri: str
    params: list[tuple[str, str | None]]
    text: str


@st.composite
def addresses(draw: st.DrawFn, *, tag: bool | None) -> Address:
    """From / To / Contact values; ``tag`` True adds one, None maybe, False never."""
    form = draw(st.sampled_from(["addr-spec", "bare", "tokens", "quoted"]))
    uri = draw(sip_uris(params=form != "addr-spec"))
    if form == "addr-spec" and any(c in uri for c in ",;?"):
        form = "bare"  # RFC 3261 §20.10: such a URI needs the name-addr form
    values = TOKEN | QUOTED_TEXT.map(_plain_quote)
    params: list[tuple[str, str | None]] = []
    if tag or (tag is None and draw(st.booleans())):
        params.append(("tag", draw(TOKEN)))
    for name, value in draw(st.lists(st.tuples(TOKEN, st.none() | values), max_size=2)):
        if name.lower() != "tag":
            params.append((name, value))
    param_text = "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params)
    display: str | None = None
    if form == "addr-spec":
        text = uri + param_text
    elif form == "bare":
        text = f"<{uri}>{param_text}"
    elif form == "tokens":
        words = draw(st.lists(TOKEN, min_size=1, max_size=3))
        display = " ".join(words)
        spaces = draw(st.lists(st.sampled_from([" ", "  ", "\t"]), min_size=3, max_size=3))
        text = "".join(w + s for w, s in zip(words, spaces, strict=False)) + f"<{uri}>{param_text}"
    else:
        display = draw(QUOTED_TEXT)
        gap = draw(st.sampled_from(["", " ", "  "]))
        text = f"{_quote(draw, display)}{gap}<{uri}>{param_text}"
    return Address(display, uri, params, text)


def _plain_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class Generated:
    """A generated message: its bytes and the values it was built from."""

    data: bytes = b""
    eol: str = "\r\n"
    start: str = ""
    vias: list[tuple[str, str, int | None, str]] = field(default_factory=list)
    from_: Address | None = None
    to: Address | None = None
    call_id: str = ""
    cseq: tuple[int, str] = (0, "")
    max_forwards: int | None = None
    contacts: list[Address] = field(default_factory=list)
    supported: list[str] = field(default_factory=list)
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    """(long name, value) of every header line, in wire order."""


METHODS = st.sampled_from(
    ["INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "MESSAGE", "SUBSCRIBE", "NOTIFY"]
) | TOKEN.filter(lambda t: t.upper() != t.lower() or len(t) > 1)
TRANSPORTS = st.sampled_from(["UDP", "TCP", "TLS", "SCTP", "WS", "WSS", "udp", "tcp"])
COMPACT = {
    "via": "v",
    "from": "f",
    "to": "t",
    "call-id": "i",
    "contact": "m",
    "supported": "k",
    "content-length": "l",
    "content-type": "c",
}
SPELLING = {"call-id": "Call-ID", "cseq": "CSeq"}
HCOLON = st.sampled_from([": ", ":", " : ", ":\t", ":  ", "\t:  "])
# RFC 3261 §25.1 callid: word [ "@" word ]
WORD = st.text(ALNUM + "-.!%*_+`'~()<>:\\\"/[]?{}", min_size=1, max_size=16)
CALL_IDS = st.builds("{}{}".format, WORD, st.just("") | WORD.map("@{}".format))


@st.composite
def header_name(draw: st.DrawFn, key: str) -> str:
    if key in COMPACT and draw(st.integers(0, 2)) == 0:
        return _random_case(draw, COMPACT[key])
    long = SPELLING.get(key, "-".join(w.capitalize() for w in key.split("-")))
    return draw(st.sampled_from([long, long.lower(), long.upper(), _random_case(draw, long)]))


@st.composite
def via_values(draw: st.DrawFn) -> tuple[tuple[str, str, int | None, str], str]:
    transport, host, port = draw(TRANSPORTS), draw(HOSTS), draw(PORTS)
    branch = "z9hG4bK" + draw(TOKEN)
    params = [f"branch={branch}"]
    params += draw(
        st.lists(
            st.sampled_from(["rport", "rport=5060", "received=192.0.2.9", "ttl=16"])
            | st.builds("{}={}".format, TOKEN, TOKEN | QUOTED_TEXT.map(_plain_quote)),
            max_size=3,
        )
    )
    params = draw(st.permutations(params))
    sent_by = host if port is None else f"{host}:{port}"
    text = f"SIP/2.0/{transport} {sent_by};" + ";".join(params)
    return (transport.upper(), host, port, branch), text


def _fold(draw: st.DrawFn, value: str) -> str:
    """Maybe replace one lone space of ``value`` by a line fold (same value unfolded)."""
    padded = f"x{value}x"
    spots = [i for i in range(len(value)) if padded[i : i + 3] == f"{padded[i]} {padded[i + 2]}"]
    spots = [i for i in spots if not padded[i].isspace() and not padded[i + 2].isspace()]
    if not spots or draw(st.booleans()):
        return value
    i = draw(st.sampled_from(spots))
    return value[:i] + draw(st.sampled_from(["\r\n ", "\r\n\t"])) + value[i + 1 :]


@st.composite
def valid_messages(draw: st.DrawFn) -> Generated:
    gen = Generated()
    request = draw(st.booleans())
    method = draw(METHODS)
    if request:
        gen.start = f"{method} {draw(sip_uris())} SIP/2.0"
    else:
        reason = draw(FREE_TEXT)
        gen.start = f"SIP/2.0 {draw(st.integers(100, 699))} {reason}"
    entries: list[tuple[str, str]] = []  # (key, value) before names are chosen

    vias = draw(st.lists(via_values(), min_size=1, max_size=4))
    gen.vias = [v for v, _ in vias]
    via_texts = [t for _, t in vias]
    while via_texts:  # one or more values per line
        take = draw(st.integers(1, len(via_texts)))
        entries.append(("via", ", ".join(via_texts[:take])))
        via_texts = via_texts[take:]

    gen.from_ = draw(addresses(tag=True))
    gen.to = draw(addresses(tag=None))
    gen.call_id = draw(CALL_IDS)
    gen.cseq = (draw(st.integers(0, 2**32 - 1)), method)
    entries += [
        ("from", gen.from_.text),
        ("to", gen.to.text),
        ("call-id", gen.call_id),
        ("cseq", f"{gen.cseq[0]} {method}"),
    ]
    if request and draw(st.booleans()):
        gen.max_forwards = draw(st.integers(0, 255))
        entries.append(("max-forwards", str(gen.max_forwards)))
    contacts = draw(st.lists(addresses(tag=False), max_size=3))
    gen.contacts = contacts
    while contacts:
        take = draw(st.integers(1, len(contacts)))
        entries.append(("contact", ", ".join(c.text for c in contacts[:take])))
        contacts = contacts[take:]
    gen.supported = draw(st.lists(TOKEN, max_size=3))
    if gen.supported:
        entries.append(("supported", ", ".join(gen.supported)))
    for name, value in draw(st.lists(st.tuples(TOKEN, FREE_TEXT), max_size=4)):
        entries.append((f"x-{name.lower()}", _fold(draw, value)))
    gen.eol = draw(st.sampled_from(["\r\n", "\r\n", "\n"]))
    gen.body = draw(st.binary(max_size=200))
    if gen.body:
        entries.append(("content-type", "application/octet-stream"))
    entries.append(("content-length", str(len(gen.body))))

    entries = _shuffle(draw, entries)
    lines = [f"{draw(header_name(key))}{draw(HCOLON)}{value}" for key, value in entries]
    gen.headers = [(key, re.sub(r"[ \t]*\r\n[ \t]+", " ", v)) for key, v in entries]
    head = gen.eol.join([gen.start, *lines]) + gen.eol * 2
    if gen.eol == "\n":
        head = head.replace("\r\n", "\n")
    gen.data = head.encode() + gen.body
    return gen


def _shuffle(draw: st.DrawFn, entries: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``entries`` in a random order, except that Via and Contact lines keep theirs."""
    shuffled = draw(st.permutations(entries))
    ordered = {key: iter([e for e in entries if e[0] == key]) for key in ("via", "contact")}
    return [next(ordered[e[0]]) if e[0] in ordered else e for e in shuffled]


# -- (a) valid messages ---------------------------------------------------------------


def _check_values(msg: Message, gen: Generated) -> None:
    assert [(v.transport, v.host, v.port, v.branch) for v in msg.vias] == gen.vias
    for got, want in ((msg.from_, gen.from_), (msg.to, gen.to)):
        assert want is not None
        assert got.display_name == want.display
        assert str(got.uri) == want.uri
        assert list(got.params) == want.params
    assert msg.call_id == gen.call_id
    assert (msg.cseq.seq, msg.cseq.method) == gen.cseq
    assert msg.max_forwards == gen.max_forwards
    assert [(c.display_name, str(c.uri)) for c in msg.contacts] == [
        (c.display, c.uri) for c in gen.contacts
    ]
    assert list(msg.tokens("Supported")) == gen.supported
    assert msg.content_length == len(gen.body)
    assert msg.body == gen.body
    for key in {k for k, _ in gen.headers}:
        assert msg.get_all(key) == [v for k, v in gen.headers if k == key], key


@VALID
@given(valid_messages())
def test_valid_message_keeps_every_value_and_round_trips(gen: Generated) -> None:
    msg = parse_message(gen.data)
    assert isinstance(msg, Request if gen.start[:4] != "SIP/" else Response)
    assert msg.start_line() == gen.start
    _check_values(msg, gen)
    assert msg.to_bytes() == gen.data
    assert parse_message(msg.to_bytes()) == msg


@VALID
@given(valid_messages(), st.sampled_from(["append", "prepend-via", "replace-max-forwards"]))
def test_changed_message_rerenders_and_parses_back(gen: Generated, change: str) -> None:
    msg = parse_message(gen.data)
    if change == "append":
        changed = msg.with_header_appended("X-Touched", "1")
    elif change == "prepend-via":
        changed = msg.with_header_prepended("Via", "SIP/2.0/TLS proxy.example;branch=z9hG4bKp")
    else:
        changed = msg.with_header("Max-Forwards", "69")
    out = changed.to_bytes()
    assert parse_message(out) == changed
    _check_values(parse_message(out), _after(gen, change))
    if gen.eol == "\r\n":
        assert out.split(b"\r\n") == _expected_lines(msg, gen.data, change)


def _expected_lines(msg: Message, data: bytes, change: str) -> list[bytes]:
    """The lines of ``data`` with only the changed ones changed."""
    lines = data.split(b"\r\n")
    end_of_headers = lines.index(b"")
    raw = {f.key: (f.raw or "").split("\r\n")[0].encode() for f in reversed(msg.fields)}
    if change == "append":
        lines.insert(end_of_headers, b"X-Touched: 1")
    elif change == "prepend-via":
        at = lines.index(raw["via"])
        lines.insert(at, b"Via: SIP/2.0/TLS proxy.example;branch=z9hG4bKp")
    elif "max-forwards" in raw:
        at = lines.index(raw["max-forwards"])
        lines[at] = lines[at].partition(b":")[0] + b": 69"
    else:
        lines.insert(end_of_headers, b"Max-Forwards: 69")
    return lines


def _after(gen: Generated, change: str) -> Generated:
    headers = list(gen.headers)
    vias = list(gen.vias)
    max_forwards = gen.max_forwards
    if change == "append":
        headers.append(("x-touched", "1"))
    elif change == "prepend-via":
        headers.insert(0, ("via", "SIP/2.0/TLS proxy.example;branch=z9hG4bKp"))
        vias.insert(0, ("TLS", "proxy.example", None, "z9hG4bKp"))
    else:
        headers = [h for h in headers if h[0] != "max-forwards"] + [("max-forwards", "69")]
        max_forwards = 69
    return Generated(
        from_=gen.from_,
        to=gen.to,
        call_id=gen.call_id,
        cseq=gen.cseq,
        vias=vias,
        max_forwards=max_forwards,
        contacts=gen.contacts,
        supported=gen.supported,
        body=gen.body,
        headers=headers,
    )


# -- (b) any bytes, mutated messages ---------------------------------------------------


def _outcome(data: bytes) -> Message | SipParseError:
    try:
        return parse_message(data)
    except SipParseError as exc:
        return exc


def _check_any(data: bytes) -> None:
    seconds = fastest_seconds(lambda: parse_message(data), BUDGET)
    assert seconds < BUDGET, f"parse took {seconds * 1000:.1f} ms"
    outcome = _outcome(data)
    if isinstance(outcome, SipParseError):
        assert outcome.status in (400, 416, 505, 513)
        if outcome.answerable:
            # An answer routes on the top Via and echoes the other four as written.
            assert isinstance(outcome.partial, Request)
            assert outcome.partial.via is not None
            assert all(outcome.partial.has(h) for h in ("From", "To", "Call-ID", "CSeq"))
            read_every_accessor(outcome.partial)
        return
    assert isinstance(outcome, Request | Response)
    read_every_accessor(outcome)
    seconds = fastest_seconds(lambda: read_every_accessor(parse_message(data)), BUDGET)
    assert seconds < BUDGET, f"parse and reading took {seconds * 1000:.1f} ms"


@BYTES
@given(st.binary(max_size=2000))
def test_any_bytes_parse_or_raise_sip_parse_error(data: bytes) -> None:
    _check_any(data)


INTERESTING = st.sampled_from(
    [b"\r\n", b"\n", b"\r", b" ", b"\t", b",", b";", b":", b'"', b"\\", b"<", b">", b"%",
     b"=", b"@", b"[", b"]", b"\x00", b"\xff", b"\xc3", b"\r\n ", b"\r\n\r\n", b"9" * 12,
     b" " * 500, b"a" * 500, b";" * 200, b'"' + b"x" * 500]
)  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(valid_messages()).data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "dup", "swap"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(INTERESTING | st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "truncate":
            del data[at:]
        else:
            lines = bytes(data).split(b"\r\n")
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            if kind == "dup":
                lines.insert(j, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            data = bytearray(b"\r\n".join(lines))
    return bytes(data)


@MUTATED
@given(mutated())
def test_mutated_messages_parse_or_raise_sip_parse_error(data: bytes) -> None:
    _check_any(data)
