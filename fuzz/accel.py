"""The C accelerator against the pure-Python parser, on mutated messages.

Invariant: for any bytes, ``parse_message`` with the accelerator has the same outcome as
without it: the same SipParseError (status, reason, and the same partial message), or a
message equal in start line, fields, body, wire bytes and every typed view (each equal, or
raising the same error), compared by ``repr`` so the types of values count too. And every
value-level fast path (Via, name-addr, SIP URI, CSeq, auth) returns None or exactly what the
Python parser returns for that header value; where Python refuses the value, C returns None.

    python fuzz/accel.py [--seed 1] [--count 20000] [--seconds 90]

Seeds and mutations are the parser fuzzer's (``inprocess.py``). A finding is saved as
``fuzz/crashes/accel-*.sip`` with both outcomes, and the run exits 1. ``fuzz/asan.sh`` runs
this under AddressSanitizer; ``tests/sip/test_accel.py`` runs a few thousand inputs.
"""

from __future__ import annotations

import contextlib
import random
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from inprocess import bounded_run_args, load_seeds, mutate, save_crash  # noqa: E402 - the sibling script

from sipguard.sip import accel, credentials, grammar, headers, uri  # noqa: E402
from sipguard.sip.errors import SipParseError  # noqa: E402
from sipguard.sip.message import Message, Request  # noqa: E402
from sipguard.sip.parser import parse_message  # noqa: E402

# Every fast path the parser calls as ``accel.<name>(...)`` (GET_PARAM always answers).
FAST_PATHS = tuple(name for name in accel.__all__ if name.islower() and name != "header_names")
VIEWS = (
    "via",
    "vias",
    "from_",
    "to",
    "call_id",
    "cseq",
    "max_forwards",
    "content_length",
    "expires",
    "routes",
    "record_routes",
    "paths",
    "contacts",
    "contact_is_star",
    "authorization",
    "proxy_authorization",
    "www_authenticate",
    "proxy_authenticate",
)
NAME_ADDR_HEADERS = ("from", "to", "contact", "route", "record-route", "path")
AUTH_HEADERS = ("authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate")


def _unsure(*_args: object) -> None:
    return None


@contextlib.contextmanager
def pure_python() -> Iterator[None]:
    """Within: every fast path of ``accel`` answers None, as when the extension is absent."""
    saved = {name: getattr(accel, name) for name in FAST_PATHS}
    try:
        for name in FAST_PATHS:
            setattr(accel, name, _unsure)
        yield
    finally:
        for name, function in saved.items():
            setattr(accel, name, function)


def _read(get: Callable[[], Any]) -> str:
    try:
        return repr(get())
    except SipParseError as exc:
        return f"SipParseError({exc.status}, {exc.reason!r})"


def describe(msg: Message) -> list[str]:
    """Everything a caller can read of a message, as text that compares types too."""
    out = [type(msg).__name__, repr(msg.fields), repr(msg.body), repr(msg.to_bytes())]
    if isinstance(msg, Request):
        out += [msg.method, repr(msg.uri), msg.version]
    else:
        out += [repr(getattr(msg, name)) for name in ("status", "reason", "version")]
    out += [f"{name}={_read(partial(getattr, msg, name))}" for name in VIEWS]
    out.append(_read(lambda: msg.tokens("Require")))
    return out


def outcome(data: bytes) -> list[str]:
    """parse_message's outcome for ``data``, described."""
    try:
        msg = parse_message(data)
    except SipParseError as exc:
        partial = describe(exc.partial) if exc.partial is not None else ["no partial"]
        return [f"SipParseError({exc.status}, {exc.reason!r})", *partial]
    return describe(msg)


def value_mismatches(msg: Message) -> list[str]:
    """Header values of ``msg`` where a C fast path disagrees with the Python parser."""
    found: list[str] = []
    for value in msg.get_all("via"):
        for part in [value, *value.split(",")]:
            found += _compare("via", part, lambda t: accel.via(t, headers.Via), headers._parse_via)
    for key in NAME_ADDR_HEADERS:
        for value in [part for line in msg.get_all(key) for part in [line, *line.split(",")]]:
            found += _compare(
                "name_addr",
                value,
                lambda t: accel.name_addr(t, headers.NameAddr, uri.SipUri),
                headers._name_addr,
            )
    for value in msg.get_all("cseq"):
        found += _compare("cseq", value, lambda t: accel.cseq(t, headers.CSeq), headers._parse_cseq)
    for key in AUTH_HEADERS:
        for value in msg.get_all(key):
            found += _compare(
                "auth",
                value,
                lambda t: accel.auth(t, credentials.AuthValue),
                lambda t: credentials._parse_auth(t, "Authorization"),
            )
    if isinstance(msg, Request):
        text = msg.start_line().split(" ")[1] if msg.start_line().count(" ") >= 2 else ""
        found += _compare("sip_uri", text, lambda t: accel.sip_uri(t, uri.SipUri), uri._parse_uri)
    return found + _param_mismatches(msg)


def _param_mismatches(msg: Message) -> list[str]:
    # get_param in C always answers (it is not a fast path): it must equal grammar's.
    c_get_param = accel.GET_PARAM
    if c_get_param is None:
        return []
    found = []
    with contextlib.suppress(SipParseError):
        values: list[headers.Via | headers.NameAddr] = [*msg.vias, msg.from_, msg.to]
        for value in values + list(msg.contacts):
            names = ["branch", "tag", "BRANCH", "Tag"] + [k.swapcase() for k, _ in value.params]
            for name in names:
                got = c_get_param(value.params, name)
                expected = grammar._get_param(value.params, name)
                if got != expected:
                    found.append(f"get_param({value.params!r}, {name!r}): C {got!r}, {expected!r}")
    return found


def _compare(
    what: str, text: str, fast: Callable[[str], Any], reference: Callable[[str], Any]
) -> list[str]:
    got = fast(text)
    if got is None:
        return []
    try:
        expected = repr(reference(text))
    except SipParseError as exc:
        expected = f"SipParseError({exc.status}, {exc.reason!r})"
    if repr(got) == expected:
        return []
    return [f"{what}({text!r}): C {got!r}, Python {expected}"]


def check(data: bytes) -> list[str]:
    """What differs between the accelerated and the pure-Python parser on ``data``."""
    fast = outcome(data)
    with pure_python():
        slow = outcome(data)
        try:
            msg: Message | None = parse_message(data)
        except SipParseError as exc:
            msg = exc.partial
    diffs = [f"C:      {a}\nPython: {b}" for a, b in zip(fast, slow, strict=False) if a != b]
    if len(fast) != len(slow):
        diffs.append(f"outcomes differ in length: {fast[:1]} vs {slow[:1]}")
    if msg is not None:
        diffs += value_mismatches(msg)
    return diffs


def run(seed: int, count: int, seconds: float, crash_dir: Path) -> int:
    """Compare on ``count`` mutated messages (at most ``seconds``); 1 on a difference."""
    rng = random.Random(seed)
    seeds = load_seeds()
    deadline = time.monotonic() + seconds
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        data = mutate(rng, rng.choice(seeds), seeds)
        diffs = check(data)
        if diffs:
            return save_crash(crash_dir, data, "\n".join(diffs), "accel")
    return 0


def main() -> int:
    args = bounded_run_args(__doc__.splitlines()[0])
    if not accel.ACCELERATED:
        print("the C accelerator is not built: nothing to compare", file=sys.stderr)
        return 1
    status = run(args.seed, args.count, args.seconds, ROOT / "fuzz" / "crashes")
    print("no finding" if status == 0 else "finding saved")
    return status


if __name__ == "__main__":
    sys.exit(main())
