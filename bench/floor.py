"""How fast can pure Python go? A floor for bench/parse.py's work, beside sipguard's time.

Invariant: ``floor_reads`` does the same reads as parse.py's ``read_sipguard`` (every Via's host,
port and branch; Route, From, To and Contact URIs; From/To tags; Max-Forwards; Call-ID; CSeq;
Authorization username and response) and returns the same values for the two bench messages —
checked before timing — but validates nothing: no limits, no character classes, no
duplicate or CR/LF checks, no error statuses, plain tuples instead of typed values. No real
parser can be faster than this in CPython, so it bounds what any pure-Python rewrite can gain.

Usage: python bench/floor.py [--number N] [--repeat N]
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/reads.py, also when loaded by path
from reads import (
    EXPECTED,
    MESSAGES,
    MESSAGES_DIR,
    Reads,
    parse_sipguard,
    read_sipguard,
    roundtrip_sipguard,
)

_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact"}
_VIA = re.compile(r"SIP/2\.0/[A-Za-z]+ ([^;:]+)(?::([0-9]+))?(.*)")
_NAME_ADDR = re.compile(r"[^<]*<sips?:(?:([^@>]*)@)?([^;:>]+)(?::([0-9]+))?[^>]*>(.*)")
_AUTH = re.compile(r'([a-z]+)="?([^",]*)"?')


def _params(text: str) -> dict[str, str]:
    return dict(p.partition("=")[::2] for p in text[1:].split(";")) if text else {}


def _uri(m: re.Match[str]) -> tuple[str | None, str, int | None]:
    user, host, port = m.group(1, 2, 3)
    return user, host, int(port) if port else None


def floor_reads(data: bytes) -> Any:
    """Split, index and read the headers with the fewest operations: no validation."""
    head = data[: data.find(b"\r\n\r\n")].decode()
    index: dict[str, list[str]] = {}
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        key = name.rstrip().lower()
        index.setdefault(_COMPACT.get(key, key), []).append(value.strip())
    vias = []
    for value in (v for line in index["via"] for v in line.split(",")):
        host, port, params = _VIA.match(value.strip()).groups()  # type: ignore[union-attr]
        vias.append((host, int(port) if port else None, _params(params).get("branch")))
    addresses = {}
    for key in ("route", "from", "to", "contact"):
        found = [_NAME_ADDR.match(v) for line in index.get(key, ()) for v in line.split(",")]
        addresses[key] = [(_uri(m), _params(m.group(4)).get("tag")) for m in found if m]
    seq, method = index["cseq"][0].split()
    auth = [dict(_AUTH.findall(a)) for a in index.get("authorization", ())]
    return Reads(
        tuple(vias),
        tuple(u for u, _ in addresses["route"]),
        int(index["max-forwards"][0]),
        addresses["from"][0][0],
        addresses["from"][0][1],
        addresses["to"][0][0],
        addresses["to"][0][1],
        index["call-id"][0],
        (int(seq), method),
        tuple(u for u, _ in addresses["contact"]),
        tuple((a["username"], a["response"]) for a in auth),
    )


def _median_us(fn: Callable[[bytes], object], data: bytes, number: int, repeat: int) -> float:
    runs = timeit.repeat(lambda: fn(data), number=number, repeat=repeat)
    return sorted(runs)[len(runs) // 2] / number * 1e6


def main() -> int:
    """Check both implementations against EXPECTED, then time them in turn."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--number", type=int, default=5000, help="calls per timing run")
    ap.add_argument("--repeat", type=int, default=9, help="timing runs; the median is kept")
    args = ap.parse_args()
    print(f"bench/floor.py: median of {args.repeat} runs x {args.number} calls")
    print(f"CPython {platform.python_version()} on {platform.system()} {platform.machine()}")
    print(f"{'message':10} {'floor µs':>10} {'sipguard µs':>12} {'sipguard / floor':>17}")
    for name in MESSAGES:
        data = (MESSAGES_DIR / f"{name}.sip").read_bytes()
        expected = EXPECTED[name]
        if floor_reads(data) != expected:
            print(f"{name}: the floor's reads differ from EXPECTED: {floor_reads(data)}")
            return 1

        def run_sipguard(data: bytes = data) -> Any:
            return read_sipguard(parse_sipguard(data))

        if run_sipguard() != expected:
            print(f"{name}: sipguard's reads differ from EXPECTED")
            return 1
        times = {
            "floor": _median_us(floor_reads, data, args.number, args.repeat),
            "sipguard": _median_us(roundtrip_sipguard, data, args.number, args.repeat),
        }
        ratio = times["sipguard"] / times["floor"]
        print(f"{name:10} {times['floor']:10.2f} {times['sipguard']:12.2f} {ratio:17.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
