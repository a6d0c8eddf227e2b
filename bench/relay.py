"""The reference element for bench/sipp_edge.py: a minimal UDP relay on uvloop.

It forwards every datagram from the caller to the PBX and every datagram from the PBX
to the last caller address seen, parsing nothing. Any SIP element does at least this
much work per message, so its CPU time per call is the floor sipguard is compared to.

Usage: python bench/relay.py LISTEN_PORT PBX_PORT   (loopback only; stops on SIGTERM)
"""

from __future__ import annotations

import asyncio
import signal
import sys

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
    uvloop = None  # type: ignore[assignment]


class Relay(asyncio.DatagramProtocol):
    """Caller <-> PBX, addresses learnt from traffic."""

    def __init__(self, pbx: tuple[str, int]) -> None:
        self.pbx = pbx
        self.caller: tuple[str, int] | None = None
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is None:
            return
        if addr == self.pbx:
            if self.caller is not None:
                self.transport.sendto(data, self.caller)
        else:
            self.caller = addr
            self.transport.sendto(data, self.pbx)


async def main(listen_port: int, pbx_port: int) -> None:
    """Relay until SIGTERM."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    transport, _ = await loop.create_datagram_endpoint(
        lambda: Relay(("127.0.0.1", pbx_port)), local_addr=("127.0.0.1", listen_port)
    )
    print("relay ready", flush=True)
    await stop.wait()
    transport.close()


if __name__ == "__main__":
    if uvloop is not None:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
