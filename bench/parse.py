"""Parse + header reads + re-serialise: sipguard's SIP parser against two Python peers.

Invariant: every implementation is timed doing the same work, checked before any timing starts:
its parsed accessors return exactly EXPECTED for each message, and the bytes it serialises parse
back (with the same implementation) to the same values, with the body intact and Content-Length
matching it. A failed check stops the run; nothing is timed doing less work.

One call of ``roundtrip_<impl>(data)`` = parse the wire bytes, read every header a proxy consults
(all Vias: host, port, branch; Route URIs; Max-Forwards as int; From and To URI and tag; Call-ID;
CSeq number and method; Contact URIs; Authorization username and response) through the library's
own parsed accessors, then serialise the message back to bytes.

Peers (``pip install -r bench/requirements.txt``):
  sippy       the SIP stack of sippy/b2bua: ``sippy.SipRequest.SipRequest(buf=str)``
  sipmessage  ``sipmessage.Message.parse(bytes)``

Usage: python bench/parse.py [--batches N] [--batch-size N] [--impl NAME ...] [--json]
Default run: 21 batches x 200 calls per (implementation, message), a few seconds in all.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib
import importlib.metadata
import json
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/reads.py, also when loaded by path
from reads import (
    EXPECTED,
    MESSAGES,
    MESSAGES_DIR,
    SIPGUARD_MISSING,
    Reads,
    parse_sipguard,
    read_sipguard,
    roundtrip_sipguard,
)

REFERENCE = "sipguard"
TIMES = "\N{MULTIPLICATION SIGN}"

try:
    import sipmessage

    # sippy ships no type information (no py.typed); importing it by name types it as Any
    # without needing a mypy override for a benchmark-only dependency.
    SippyRequest: Any = importlib.import_module("sippy.SipRequest").SipRequest
    SippyResponse: Any = importlib.import_module("sippy.SipResponse").SipResponse
except ImportError as exc:
    raise SystemExit(
        f"bench/parse.py needs the peer parsers: pip install -r bench/requirements.txt ({exc})"
    ) from exc


# -- sippy (sippy/b2bua) ---------------------------------------------------------------------
# sippy works on str: its transaction manager decodes datagrams with bytes.decode() and picks
# SipResponse when the text starts with "SIP/2.0 ". Header bodies are parsed lazily, on
# getHFBody()/getHFBodys(); str(msg) re-renders the parsed ones.


def parse_sippy(data: bytes) -> Any:
    text = data.decode()
    if text.startswith("SIP/2.0 "):
        return SippyResponse(buf=text)
    return SippyRequest(buf=text)


def read_sippy(msg: Any) -> Reads:
    from_, to = msg.getHFBody("from"), msg.getHFBody("to")
    from_url, to_url = from_.getUrl(), to.getUrl()
    routes = [r.getUrl() for r in msg.getHFBodys("route")]
    contacts = [c.getUrl() for c in msg.getHFBodys("contact")]
    max_forwards = msg.getHFBodys("max-forwards")
    return Reads(
        tuple([(v.hostname, v.port, v.getBranch()) for v in msg.getHFBodys("via")]),
        tuple([(u.username, u.host, u.port) for u in routes]),
        max_forwards[0].getNum() if max_forwards else None,
        (from_url.username, from_url.host, from_url.port),
        from_.getTag(),
        (to_url.username, to_url.host, to_url.port),
        to.getTag(),
        str(msg.getHFBody("call-id")),
        msg.getHFBody("cseq").getCSeq(),
        tuple([(u.username, u.host, u.port) for u in contacts]),
        tuple([(a.username, a.response) for a in msg.getHFBodys("authorization")]),
    )


def roundtrip_sippy(data: bytes) -> bytes:
    msg = parse_sippy(data)
    read_sippy(msg)
    return str(msg).encode()


# -- sipmessage ------------------------------------------------------------------------------
# sipmessage keeps header values as text and parses them on each property access, so every
# property is read once. bytes(msg) writes the stored header text back.


def parse_sipmessage(data: bytes) -> Any:
    return sipmessage.Message.parse(data)


def read_sipmessage(msg: Any) -> Reads:
    from_, to = msg.from_address, msg.to_address
    cseq, auth = msg.cseq, msg.authorization
    credentials = (
        () if auth is None else ((auth.parameters["username"], auth.parameters["response"]),)
    )
    return Reads(
        tuple([(v.host, v.port, v.parameters.get("branch")) for v in msg.via]),
        tuple([(r.uri.user, r.uri.host, r.uri.port) for r in msg.route]),
        msg.max_forwards,
        (from_.uri.user, from_.uri.host, from_.uri.port),
        from_.parameters.get("tag"),
        (to.uri.user, to.uri.host, to.uri.port),
        to.parameters.get("tag"),
        msg.call_id,
        (cseq.sequence, cseq.method),
        tuple([(c.uri.user, c.uri.host, c.uri.port) for c in msg.contact]),
        credentials,
    )


def roundtrip_sipmessage(data: bytes) -> bytes:
    msg = parse_sipmessage(data)
    read_sipmessage(msg)
    return bytes(msg)


# -- the implementations table ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Impl:
    name: str
    parse: Callable[[bytes], Any]
    read: Callable[[Any], Reads]
    roundtrip: Callable[[bytes], bytes]
    version: str


def _dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "source tree"


IMPLS: dict[str, Impl] = {
    "sipguard": Impl(
        "sipguard", parse_sipguard, read_sipguard, roundtrip_sipguard, _dist_version("sipguard")
    ),
    "sippy": Impl("sippy", parse_sippy, read_sippy, roundtrip_sippy, _dist_version("sippy")),
    "sipmessage": Impl(
        "sipmessage",
        parse_sipmessage,
        read_sipmessage,
        roundtrip_sipmessage,
        _dist_version("sipmessage"),
    ),
}


# -- the check, once, before timing ----------------------------------------------------------


class CheckError(Exception):
    """An implementation returned other values than EXPECTED, or serialised a broken message."""


_CONTENT_LENGTH = re.compile(
    rb"^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*$", re.IGNORECASE | re.MULTILINE
)


def _compare(impl: str, message: str, stage: str, got: Reads) -> None:
    expected = EXPECTED[message]
    wrong = [
        f"  {field}: expected {want!r}, got {have!r}"
        for field, want, have in zip(Reads._fields, expected, got, strict=True)
        if want != have
    ]
    if wrong:
        raise CheckError(f"{impl} / {message} ({stage}):\n" + "\n".join(wrong))


def _check_framing(impl: str, message: str, data: bytes, out: bytes) -> None:
    head, sep, body = out.partition(b"\r\n\r\n")
    lengths = _CONTENT_LENGTH.findall(head)
    problems = []
    if not sep or body != data.partition(b"\r\n\r\n")[2]:
        problems.append("body not preserved")
    if lengths != [str(len(body)).encode()]:
        problems.append(f"Content-Length {lengths!r} for a {len(body)}-byte body")
    if out.split(b"\r\n", 1)[0] != data.split(b"\r\n", 1)[0]:
        problems.append("start line changed")
    if problems:
        raise CheckError(f"{impl} / {message} (serialised output): " + "; ".join(problems))


def check(impl: Impl, message: str, data: bytes) -> int:
    """Verify one implementation on one message; return the size of its serialised output."""
    _compare(impl.name, message, "parse", impl.read(impl.parse(data)))
    out = impl.roundtrip(data)
    _check_framing(impl.name, message, data, out)
    _compare(impl.name, message, "re-parse of its own output", impl.read(impl.parse(out)))
    return len(out)


# -- timing ----------------------------------------------------------------------------------


def measure(
    cases: Sequence[tuple[Impl, str, bytes]], batches: int, batch_size: int
) -> list[list[float]]:
    """Time every case in interleaved batches; return µs per call for each batch of each case.

    Batches of different cases alternate (in a rotating order) so that drift in clock speed or
    machine load over the run hits every implementation alike.
    """
    for impl, _, data in cases:  # warm up: imports, caches, the interpreter's specialisation
        for _ in range(batch_size):
            impl.roundtrip(data)
    samples: list[list[float]] = [[] for _ in cases]
    gc.collect()
    for batch in range(batches):
        for offset in range(len(cases)):
            index = (batch + offset) % len(cases)
            roundtrip, data = cases[index][0].roundtrip, cases[index][2]
            start = time.perf_counter_ns()
            for _ in range(batch_size):
                roundtrip(data)
            elapsed = time.perf_counter_ns() - start
            samples[index].append(elapsed / batch_size / 1000)
    return samples


# -- report ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Result:
    impl: str
    message: str
    size: int
    out_size: int
    median_us: float
    min_us: float
    max_us: float


def ratios(results: Sequence[Result]) -> dict[str, dict[str, float]]:
    """Per message: each peer's median divided by sipguard's (above 1 = sipguard faster)."""
    by_key = {(r.impl, r.message): r.median_us for r in results}
    table: dict[str, dict[str, float]] = {}
    for message in MESSAGES:
        reference = by_key.get((REFERENCE, message))
        if reference is None:
            continue
        table[message] = {
            impl: median / reference
            for (impl, msg), median in by_key.items()
            if msg == message and impl != REFERENCE
        }
    return table


def _ratio_words(ratio: float, peer: str) -> str:
    if ratio >= 1:
        return f"{ratio:.2f}{TIMES} faster than {peer}"
    return f"{1 / ratio:.2f}{TIMES} slower than {peer}"


def render_text(results: Sequence[Result], meta: dict[str, Any]) -> str:
    lines = [
        (
            "bench/parse.py: parse + header reads + serialise, median of "
            f"{meta['batches']} batches {TIMES} {meta['batch_size']} calls"
        ),
        f"{meta['python']}; " + "; ".join(f"{k} {v}" for k, v in meta["versions"].items()),
        "",
        f"{'impl':<12}{'message':<10}{'bytes':>7}{'out':>7}{'median µs':>12}{'min µs':>10}",
    ]
    lines += [
        f"{r.impl:<12}{r.message:<10}{r.size:>7}{r.out_size:>7}{r.median_us:>12.2f}{r.min_us:>10.2f}"
        for r in results
    ]
    lines.append("")
    for message, peers in ratios(results).items():
        if not peers:
            continue
        words = "; ".join(_ratio_words(ratio, peer) for peer, ratio in peers.items())
        fastest = min(peers, key=peers.__getitem__)
        lines.append(f"{message}: sipguard is {words}")
        lines.append(
            f"{message}: fastest peer {fastest}; its time / sipguard's = {peers[fastest]:.2f}"
        )
    for note in meta["skipped"]:
        lines.append(f"skipped {note}")
    lines.append(f"wall time {meta['wall_seconds']:.1f} s")
    return "\n".join(lines)


def render_json(results: Sequence[Result], meta: dict[str, Any]) -> str:
    table = ratios(results)
    fastest = {m: min(p, key=p.__getitem__) for m, p in table.items() if p}
    return json.dumps(
        {
            **meta,
            "results": [dataclasses.asdict(r) for r in results],
            "ratios": table,
            "fastest_peer": {m: {"impl": p, "ratio": table[m][p]} for m, p in fastest.items()},
        },
        indent=2,
    )


# -- command line ----------------------------------------------------------------------------


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--batches", type=_positive, default=21, help="timed batches (21)")
    parser.add_argument("--batch-size", type=_positive, default=200, help="calls per batch (200)")
    parser.add_argument(
        "--impl",
        action="append",
        choices=sorted(IMPLS),
        help="run only this implementation (repeatable; default: all that import)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser.parse_args(argv)


def _selected(names: Sequence[str] | None, skipped: list[str]) -> list[Impl]:
    chosen = [IMPLS[name] for name in (names or IMPLS)]
    if SIPGUARD_MISSING is not None and IMPLS[REFERENCE] in chosen:
        skipped.append(f"sipguard: cannot import sipguard.sip ({SIPGUARD_MISSING}); no ratios")
        chosen.remove(IMPLS[REFERENCE])
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    skipped: list[str] = []
    impls = _selected(args.impl, skipped)
    messages = {m: (MESSAGES_DIR / f"{m}.sip").read_bytes() for m in MESSAGES}
    cases = [(impl, m, data) for impl in impls for m, data in messages.items()]
    try:
        out_sizes = [check(impl, m, data) for impl, m, data in cases]
    except CheckError as exc:
        print(f"check failed, nothing timed: {exc}", file=sys.stderr)
        print("(--impl NAME times only the implementations named)", file=sys.stderr)
        return 1
    samples = measure(cases, args.batches, args.batch_size)
    results = [
        Result(impl.name, m, len(data), out, statistics.median(s), min(s), max(s))
        for (impl, m, data), out, s in zip(cases, out_sizes, samples, strict=True)
    ]
    meta = {
        "batches": args.batches,
        "batch_size": args.batch_size,
        "python": f"{platform.python_implementation()} {platform.python_version()} "
        f"on {platform.system()} {platform.machine()}",
        "versions": {impl.name: impl.version for impl in impls},
        "skipped": skipped,
        "wall_seconds": time.perf_counter() - started,
    }
    print(render_json(results, meta) if args.json else render_text(results, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
