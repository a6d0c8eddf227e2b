"""Where parse time goes: each stage of parse_message and each typed view, timed alone.

    python bench/micro.py [bench/messages/register.sip] [--number 5000] [--repeat 7]

Prints the best-of-``repeat`` µs per call for every stage, the whole parse, and the
typed views a proxy reads, each read from a fresh cache. The stages are private
functions of ``sipguard.sip.parser``: this script is a profiling aid for the parser's
authors, not an API, and it changes when the parser does.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sipguard.sip import Request, parse_message  # noqa: E402 - the checkout's package
from sipguard.sip import parser as stages  # noqa: E402
from sipguard.sip.limits import DEFAULT_LIMITS  # noqa: E402

VIEWS = ("via", "vias", "from_", "to", "call_id", "cseq", "max_forwards", "routes",
         "contacts", "authorization")  # fmt: skip


def best_us(fn: Callable[[], object], number: int, repeat: int) -> float:
    """Best of ``repeat`` runs of ``number`` calls, in µs per call."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def stage_timings(data: bytes) -> list[tuple[str, Callable[[], object]]]:
    """(name, call) for each stage of parse_message on ``data``, in order."""
    limits = DEFAULT_LIMITS
    head, _, lf_only = stages._split_head(data, 0, len(data), limits)
    lines = stages._header_lines(head, lf_only, limits)
    lines = stages._read_fields(lines, limits)[0]
    msg = parse_message(data)

    def fresh(name: str) -> Callable[[], object]:
        def read() -> object:
            msg.__dict__.clear()
            return getattr(msg, name)

        return read

    out: list[tuple[str, Callable[[], object]]] = [
        ("split head", lambda: stages._split_head(data, 0, len(data), limits)),
        ("header lines", lambda: stages._header_lines(head, lf_only, limits)),
        ("fields + index", lambda: stages._read_fields(lines, limits)),
    ]
    if isinstance(msg, Request):
        out.append(("request line + URI", lambda: stages._check_request_line(msg, lines[0])))
    out += [(f"view {name}", fresh(name)) for name in VIEWS]
    out.append(("parse_message (whole)", lambda: parse_message(data)))
    out.append(("to_bytes (untouched)", msg.to_bytes))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("message", nargs="?", type=Path, default=ROOT / "bench/messages/invite.sip")
    parser.add_argument("--number", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    data = args.message.read_bytes()
    print(f"{args.message.name}: {len(data)} bytes, best of {args.repeat} x {args.number}")
    for name, fn in stage_timings(data):
        print(f"  {name:28s} {best_us(fn, args.number, args.repeat):8.2f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
