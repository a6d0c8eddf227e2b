"""Mutated messages through the whole engine: the guards, topology hiding, flows, the
proxy core and the registrar, in this process, with no network.

Invariant: for any bytes from any source, ``Engine.receive`` and ``Engine.handle_timer``
return actions and raise nothing (an odd message is answered or dropped, never an
exception the server would log as an internal error).

    python fuzz/engine.py [--seed 1] [--count 20000] [--seconds 90]

Seeds: the parser fuzzer's (``inprocess.py``) plus messages the engine itself sends,
so sealed topology values and flow tokens of ours get mutated too. A finding is saved
as ``fuzz/crashes/engine-*.sip`` with the traceback, and the run exits 1.
"""

from __future__ import annotations

import itertools
import random
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from inprocess import bounded_run_args, load_seeds, mutate, save_crash  # noqa: E402 - the sibling script

from sipguard.config import (  # noqa: E402
    Config,
    DispatcherConfig,
    ListenConfig,
    ServerConfig,
    TopologyConfig,
    TransportName,
    UpstreamConfig,
)
from sipguard.engine import Engine, Transmit  # noqa: E402
from sipguard.guard import AclPolicy  # noqa: E402
from sipguard.proxy.identity import ListenAddress, LocalIdentity  # noqa: E402
from sipguard.proxy.location import Location  # noqa: E402
from sipguard.sip import SipUri, parse_uri  # noqa: E402
from sipguard.transport.base import Inbound, Peer  # noqa: E402

UDP, WSS = TransportName.UDP, TransportName.WSS
ME = Peer(UDP, "192.0.2.1", 5060)
SOURCES = (
    Peer(UDP, "198.51.100.7", 5062),  # trusted
    Peer(UDP, "10.0.0.5", 5070),  # the upstream, trusted
    Peer(UDP, "203.0.113.9", 5060),  # a stranger
    Peer(WSS, "203.0.113.10", 40000),  # a browser
)
OURS = (b";sgth=", b"sip:sgh-", b";sgflow=", b"Route: <sip:192.0.2.1;lr;sgflow=AA.BB>\r\n",
        b"sips:", b"tel:+4490123", b"\xdb", b";transport=ws")  # fmt: skip


def build_engine() -> Engine:
    """An edge node with every optional path on: hiding, a wss listener, guards."""
    upstream = parse_uri("sip:10.0.0.5:5070")
    assert isinstance(upstream, SipUri)  # noqa: S101 - a literal
    config = Config(
        source=Path("fuzz.toml"),
        server=ServerConfig(domain="example.com"),
        listen=(ListenConfig(UDP, "192.0.2.1", 5060), ListenConfig(WSS, "192.0.2.1", 443)),
        upstream=(UpstreamConfig(upstream),),
        dispatcher=DispatcherConfig(probe_interval=0),
        acl=AclPolicy(trusted=("198.51.100.0/24", "10.0.0.0/24")),
        topology=TopologyConfig(hide=True, inside=("10.0.0.0/24",)),
    )
    listeners = (ListenAddress(UDP, "192.0.2.1", 5060), ListenAddress(WSS, "192.0.2.1", 443))
    ids = itertools.count()
    return Engine(
        config, LocalIdentity("example.com", listeners), Location(),
        unique=lambda: f"u{next(ids)}", rng=random.Random(7), now=0.0,
    )  # fmt: skip


def run(seed: int, count: int, seconds: float, crash_dir: Path) -> int:
    """Feed ``count`` mutated messages (at most ``seconds``); 1 when something raised."""
    rng = random.Random(seed)
    engine = build_engine()
    seeds = load_seeds()
    deadline = time.monotonic() + seconds
    for i in range(count):
        if time.monotonic() > deadline:
            break
        data = mutate(rng, rng.choice(seeds), seeds)
        if rng.random() < 0.3:
            at = rng.randrange(len(data) + 1)
            data = data[:at] + rng.choice(OURS) + data[at:]
        now = i * 0.01
        try:
            actions = engine.receive(Inbound(data, rng.choice(SOURCES), ME, None, now), now, now)
            actions += engine.handle_timer(now, now)
        except Exception:  # noqa: BLE001 - any exception is the finding
            return save_crash(crash_dir, data, traceback.format_exc(), "engine")
        sent = [a.data for a in actions if isinstance(a, Transmit)]
        if sent and rng.random() < 0.2:
            seeds.append(rng.choice(sent))  # our own output, tokens included, mutated next
            del seeds[: max(0, len(seeds) - 2000)]
    return 0


def main() -> int:
    args = bounded_run_args(__doc__.splitlines()[0])
    status = run(args.seed, args.count, args.seconds, ROOT / "fuzz" / "crashes")
    print("no finding" if status == 0 else "finding saved")
    return status


if __name__ == "__main__":
    sys.exit(main())
