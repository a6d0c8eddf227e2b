"""A TCP-to-TLS relay on loopback, for SIPp builds without TLS (Debian's sip-tester).

SIPp speaks TCP to the relay; the relay opens one real TLS connection to sipguard per
SIPp connection (verifying sipguard's certificate against ``cafile``) and copies bytes
both ways. sipguard sees a TLS client; SIPp sees its TCP peer answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ssl.SSLError, ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def _serve(
    port: int, target: tuple[str, int], context: ssl.SSLContext, ready: queue.Queue[int],
    done: threading.Event,
) -> None:  # fmt: skip
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(
                *target, ssl=context, server_hostname="localhost"
            )
        except (OSError, ssl.SSLError):
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    ready.put(server.sockets[0].getsockname()[1])
    async with server:
        await asyncio.to_thread(done.wait)


@contextlib.contextmanager
def tls_relay(target: tuple[str, int], cafile: Path, port: int = 0) -> Iterator[int]:
    """Relay from 127.0.0.1:``port`` (0: any) to ``target`` over TLS; yields the port."""
    context = ssl.create_default_context(cafile=str(cafile))
    ready: queue.Queue[int] = queue.Queue()
    done = threading.Event()
    thread = threading.Thread(
        target=asyncio.run, args=(_serve(port, target, context, ready, done),), daemon=True
    )
    thread.start()
    try:
        yield ready.get(timeout=10)
    finally:
        done.set()
        thread.join(timeout=10)


def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
