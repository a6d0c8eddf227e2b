"""In-process fuzzer for the SIP core's byte entry points.

Invariant: for any bytes, ``parse_message`` returns a message or raises SipParseError;
reading every typed header view of the result (or of the error's ``partial``) raises
nothing but SipParseError; the stream framer, fed the same bytes whole or in random
chunks, raises nothing but SipParseError; and no single input takes longer than
``--budget-ms``. Anything else is a bug: the input is saved under ``--crash-dir`` and
the run exits non-zero.

Bounded by ``--count`` inputs and ``--seconds`` of wall time, whichever comes first;
``--seed`` makes a run repeatable. No network.

    python fuzz/inprocess.py --seed 1 --count 20000 --seconds 60
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sipguard.sip import (  # noqa: E402 - the checkout's package, not an installed one
    NEED_DATA,
    Message,
    Request,
    SipParseError,
    StreamClosed,
    StreamFramer,
    parse_message,
)

SEED_DIRS = (
    ROOT.parent / "shared" / "corpus" / "realworld",
    ROOT.parent / "shared" / "corpus" / "realworld" / "quirks",
    ROOT / "tests" / "fixtures" / "rfc4475",
    ROOT / "tests" / "fixtures" / "captures",
)
# Bytes that sit on the parser's decision points.
INTERESTING = (
    b"\r\n", b"\n", b"\r", b" ", b"\t", b",", b";", b":", b'"', b"\\", b"<", b">", b"%",
    b"=", b"@", b"[", b"]", b"?", b"\x00", b"\xff", b"\xc3\xa9", b"\r\n ", b"\r\n\r\n",
    b"9" * 12, b"-1", b"z9hG4bK", b"sip:", b"sips:", b"tel:", b"SIP/2.0", b"Content-Length: ",
    b"l: 99999999999", b"Via: SIP/2.0/UDP [::1]", b" " * 3000, b"a" * 3000, b";" * 500,
)  # fmt: skip


def load_seeds() -> list[bytes]:
    """Every .sip file of the corpora found beside the checkout."""
    seeds = [p.read_bytes() for d in SEED_DIRS if d.is_dir() for p in sorted(d.glob("*.sip"))]
    if not seeds:
        seeds = [b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n"]
    return seeds


def mutate(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    """One to four random edits: flip, insert, delete, duplicate a line, splice, truncate."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(buf) + 1)
        kind = rng.randrange(6)
        if kind == 0 and buf:
            buf[min(at, len(buf) - 1)] = rng.randrange(256)
        elif kind == 1:
            buf[at:at] = rng.choice(INTERESTING)
        elif kind == 2:
            del buf[at : at + rng.randint(1, 32)]
        elif kind == 3:
            lines = bytes(buf).split(b"\r\n")
            line = rng.randrange(len(lines))
            lines.insert(line, lines[line])
            buf = bytearray(b"\r\n".join(lines))
        elif kind == 4:
            other = rng.choice(seeds)
            cut = rng.randrange(len(other) + 1)
            buf[at:] = other[cut:]
        else:
            del buf[at:]
    return bytes(buf)


def read_views(msg: Message) -> None:
    """Every typed accessor of a message."""
    _ = (msg.via, msg.vias, msg.from_, msg.to, msg.call_id, msg.cseq, msg.max_forwards)
    _ = (msg.content_length, msg.expires, msg.routes, msg.record_routes, msg.paths)
    _ = (msg.contacts, msg.authorization, msg.proxy_authorization, msg.www_authenticate)
    _ = (msg.proxy_authenticate, msg.tokens("Require"), msg.tokens("Supported"))
    _ = msg.to_bytes()
    if isinstance(msg, Request):
        _ = msg.uri


def read_views_guarded(msg: Message) -> None:
    """read_views, where SipParseError is an expected outcome."""
    with contextlib.suppress(SipParseError):
        read_views(msg)


class RoundTripError(Exception):
    """A parsed message did not read back equal from its own bytes."""


def check_parser(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except SipParseError as exc:
        if exc.partial is not None:
            read_views_guarded(exc.partial)
        return
    read_views_guarded(msg)
    if parse_message(msg.to_bytes()) != msg:
        raise RoundTripError(repr(data))


def check_framer(data: bytes, rng: random.Random) -> None:
    framer = StreamFramer()
    pos = 0
    try:
        while pos < len(data):
            step = rng.randint(1, 64)
            framer.receive_data(data[pos : pos + step])
            pos += step
            while framer.next_event() is not NEED_DATA:
                pass
        framer.receive_data(b"")
        while not isinstance(framer.next_event(), StreamClosed):
            pass
    except SipParseError:
        return


def run(seed: int, count: int, seconds: float, budget_ms: float, crash_dir: Path) -> int:
    rng = random.Random(seed)
    seeds = load_seeds()
    deadline = time.monotonic() + seconds
    done = slow = 0
    for done in range(1, count + 1):  # noqa: B007 - the count is reported
        if time.monotonic() > deadline:
            break
        data = mutate(rng, rng.choice(seeds), seeds)
        start = time.perf_counter()
        try:
            check_parser(data)
            check_framer(data, rng)
        except Exception:  # noqa: BLE001 - any other exception is the bug we hunt
            return save_crash(crash_dir, data, traceback.format_exc())
        elapsed_ms = (time.perf_counter() - start) * 1000
        if elapsed_ms > budget_ms:
            # Re-time once: a GC pause or a busy machine is not a finding.
            start = time.perf_counter()
            check_parser(data)
            if (time.perf_counter() - start) * 1000 > budget_ms:
                slow += 1
                save_crash(crash_dir, data, f"slow: {elapsed_ms:.1f} ms")
    print(f"seed {seed}: {done} inputs, {slow} slow, 0 crashes")
    return 1 if slow else 0


def save_crash(crash_dir: Path, data: bytes, why: str, prefix: str = "crash") -> int:
    """Keep a finding as ``<prefix>-<hash>.sip`` with a ``.txt`` saying why (every fuzzer
    here uses this); the run's exit status (1)."""
    crash_dir.mkdir(parents=True, exist_ok=True)
    path = crash_dir / f"{prefix}-{abs(hash(data)) % 10**12:012d}.sip"
    path.write_bytes(data)
    path.with_suffix(".txt").write_text(why)
    print(f"finding: {path}\n{why}", file=sys.stderr)
    return 1


def bounded_run_args(description: str) -> argparse.Namespace:
    """--seed, --count and --seconds of engine.py and accel.py (the same bounds)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=90.0)
    return parser.parse_args()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--budget-ms", type=float, default=20.0)
    parser.add_argument("--crash-dir", type=Path, default=ROOT / "fuzz" / "crashes")
    args = parser.parse_args()
    return run(args.seed, args.count, args.seconds, args.budget_ms, args.crash_dir)


if __name__ == "__main__":
    raise SystemExit(main())
