"""Lifespan of one sipguard process: start, serve until a signal, shut down in a fixed order.

Theory of operation: ``Node`` owns every I/O object (transport manager, store, resolver)
and one ``Engine``. Transport callbacks call the engine synchronously (one event-loop
hop per datagram) and carry out the actions it returns at once: bytes go to the
transport, binding changes to a single writer task (so they reach SQLite in order),
name look-ups to tasks that call the engine back. One loop timer is re-armed to the
engine's next deadline after every batch.

Order of start: store → location loaded → listeners bound → engine. Order of stop
(SIGTERM/SIGINT): new requests refused with 503 → running transactions drain (bounded
by ``shutdown_grace``) → listeners closed → pending writes flushed → store closed.
SIGHUP reloads the policy file; a bad file is refused with one log line and the running
configuration stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import signal
import time
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

from sipguard.config import Config, ConfigError, load_config
from sipguard.engine import (
    Engine,
    EngineAction,
    GuardSetup,
    Notice,
    Persist,
    PersistBan,
    Resolve,
    Transmit,
)
from sipguard.guard import BanList, BanOrder
from sipguard.proxy.identity import ListenAddress, LocalIdentity
from sipguard.proxy.location import Location
from sipguard.store.bans import SqliteBanStore
from sipguard.store.base import StoreError
from sipguard.store.sqlite import SqliteLocationStore
from sipguard.store.users import SqliteUserStore
from sipguard.tls_files import TlsFiles, load_tls
from sipguard.transport.base import Inbound, Peer, SendFailed, TransportError
from sipguard.transport.loop import run as run_loop
from sipguard.transport.manager import TransportManager
from sipguard.transport.resolver import Resolver
from sipguard.transport.srv import ResolveError
from sipguard.transport.websocket import WebSocketPolicy


class _SyncBans:
    """A writer-queue item: re-read bans.sqlite into the running ban list (SIGHUP)."""


_SYNC_BANS = _SyncBans()
_Write = Persist | BanOrder | _SyncBans | None
"""What the one writer task does, in order: binding changes, a ban, a ban sync, stop."""

__all__ = ["Node", "serve"]

log = logging.getLogger("sipguard.server")

NONCE_SECRET_BYTES = 32
EXPIRY_SWEEP = 5.0
"""Seconds between sweeps that drop expired registrations from memory and the store."""


class Node:
    """The running process: I/O objects around one engine."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.store: SqliteLocationStore | None = None
        self.manager: TransportManager | None = None
        self.engine: Engine | None = None
        self.resolver = Resolver(config.dns)
        self._writes: asyncio.Queue[_Write] = asyncio.Queue()
        self.bans_store: SqliteBanStore | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._stopping = asyncio.Event()
        self._reload = asyncio.Event()
        self._tls_files: TlsFiles | None = None
        self.draining = False

    async def start(self) -> None:
        """Open the store, load registrations, bind the listeners, build the engine.

        Raises:
            StoreError: when the store cannot be opened.
            TransportError: when a listener cannot be bound.
        """
        loop = asyncio.get_running_loop()
        state_dir = self.config.server.state_dir
        self.store = await SqliteLocationStore.open(state_dir / "location.sqlite")
        location = Location()
        location.load(await self.store.load(time.time()))
        guard = await self._open_guard_stores(state_dir)
        tls, self._tls_files = load_tls(self.config)
        ws = self.config.websocket
        self.manager = TransportManager(
            self.config.transport,
            self._on_message,
            self._on_failed,
            tls=tls,
            websocket=WebSocketPolicy(
                allowed_origins=ws.allowed_origins, max_message_size=ws.max_message_size
            ),
            ws_ping_interval=ws.ping_interval,
            on_closed=self._on_closed,
        )
        await self.manager.start(self.config.listen)
        listeners = tuple(
            ListenAddress(p.transport, p.host, p.port) for p in self.manager.listeners
        )
        identity = LocalIdentity(self.config.server.domain, listeners)
        self.engine = Engine(
            self.config,
            identity,
            location,
            unique=lambda: secrets.token_hex(8),
            rng=random.Random(),  # noqa: S311 - load balancing, not security
            now=loop.time(),
            guard=guard,
        )
        self._spawn(self._writer(), "writer")
        self._spawn(self._sweep())
        self._rearm()
        for peer in self.manager.listeners:
            log.info("listening %s %s", peer.transport, peer.hostport)
        log.info(
            "sipguard started: mode %s, %d registrations loaded",
            self.config.mode,
            location.count(),
        )

    async def _open_guard_stores(self, state_dir: Path) -> GuardSetup:
        # Users are read once (SIGHUP reads them again); bans are restored so that a
        # restart does not free an attacker; the nonce secret survives restarts so the
        # nonces phones hold stay valid.
        users_store = await SqliteUserStore.open(state_dir / "users.sqlite")
        try:
            users = await users_store.load()
        finally:
            await users_store.close()
        self.bans_store = await SqliteBanStore.open(state_dir / "bans.sqlite")
        bans = BanList()
        for order in await self.bans_store.load(time.time()):
            bans.ban(order)
        return GuardSetup(users, _nonce_secret(state_dir / "nonce.key"), bans)

    @property
    def listeners(self) -> tuple[Peer, ...]:
        """The bound addresses (ports chosen by the OS where the config said 0)."""
        return self.manager.listeners if self.manager else ()

    async def run_until_stopped(self) -> None:
        """Serve until ``stop()`` (or a signal) asks to stop; reload on request."""
        while not self._stopping.is_set():
            reload_wait = asyncio.ensure_future(self._reload.wait())
            stop_wait = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait({reload_wait, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            reload_wait.cancel()
            stop_wait.cancel()
            if self._reload.is_set() and not self._stopping.is_set():
                self._reload.clear()
                await self.reload()

    def stop(self) -> None:
        """Ask the node to shut down (idempotent)."""
        self._stopping.set()

    def request_reload(self) -> None:
        """Ask the node to re-read its policy file."""
        self._reload.set()

    async def reload(self) -> None:
        """Re-read the policy file and the users; keep the old policy when the new one is bad."""
        try:
            new = load_config(self.config.source)
        except ConfigError as exc:
            log.error("reload refused, keeping the running policy: %s", exc)  # noqa: TRY400 - one line
            return
        if new.listen != self.config.listen:
            log.warning("reload: listener changes take effect at the next restart")
            new = replace(new, listen=self.config.listen)
        self.config = new
        if self.engine is not None:
            try:
                # `sipguard users add` while running takes effect here.
                store = await SqliteUserStore.open(new.server.state_dir / "users.sqlite")
                try:
                    self.engine.guard.users = await store.load()
                finally:
                    await store.close()
            except StoreError as exc:
                log.error("reload: users not re-read, the old ones stay: %s", exc)  # noqa: TRY400
            self.engine.reconfigure(new, asyncio.get_running_loop().time())
            self._reload_tls()
            # `sipguard bans add|remove` while running: re-read after pending ban writes.
            self._writes.put_nowait(_SYNC_BANS)
        log.info("policy reloaded from %s", new.source)

    async def shutdown(self) -> None:
        """Drain transactions (bounded), then close listeners, writes and the store."""
        loop = asyncio.get_running_loop()
        self.draining = True
        if self.engine is not None:
            self.engine.draining = True
            deadline = loop.time() + self.config.server.shutdown_grace
            while self.engine.core.unanswered and loop.time() < deadline:  # noqa: ASYNC110 - polled
                await asyncio.sleep(0.05)
        if self._timer is not None:
            self._timer.cancel()
        if self.manager is not None:
            await self.manager.stop(grace=1.0)
        await self._writes.put(None)
        for task in list(self._tasks):
            if task.get_name() == "writer":
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), 5.0)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.resolver.aclose()
        if self.store is not None:
            await self.store.close()
        if self.bans_store is not None:
            await self.bans_store.close()
        log.info("sipguard stopped")

    # -- transport callbacks ----------------------------------------------------------

    def _on_message(self, inbound: Inbound) -> None:
        if self.engine is None:
            return
        now = asyncio.get_running_loop().time()
        try:
            actions = self.engine.receive(inbound, now, time.time())
        except Exception:  # a bug must cost one message, not the listener
            # The engine answers every bad input itself; reaching here is a bug in it.
            # Log it with the source, drop the message, keep serving everyone else.
            log.exception("internal error on a message from %s", inbound.peer.hostport)
            return
        self._carry_out(actions)

    def _on_failed(self, failed: SendFailed) -> None:
        if self.engine is None:
            return
        now = asyncio.get_running_loop().time()
        self._carry_out(self.engine.send_failed(failed, now, time.time()))

    def _on_closed(self, connection_id: int, peer: Peer) -> None:
        # A WebSocket's registrations go with it (RFC 7118 flows).
        if self.engine is not None:
            self._carry_out(self.engine.connection_closed(peer))

    # -- actions ----------------------------------------------------------------------

    def _carry_out(self, actions: list[EngineAction]) -> None:
        manager = self.manager
        for action in actions:
            if isinstance(action, Transmit):
                if manager is not None:
                    manager.send(
                        action.dest,
                        action.data,
                        connection_id=action.connection_id,
                        server_name=action.server_name,
                    )
            elif isinstance(action, Persist):
                self._writes.put_nowait(action)
            elif isinstance(action, PersistBan):
                self._writes.put_nowait(action.order)
            elif isinstance(action, Resolve):
                self._spawn(self._resolve(action))
            elif isinstance(action, Notice):
                fields = " ".join(f"{k}={v}" for k, v in action.fields)
                log.info("%s %s", action.event, fields)
        self._rearm()

    def _rearm(self) -> None:
        if self.engine is None:
            return
        deadline = self.engine.next_deadline()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = asyncio.get_running_loop().call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        if self.engine is None:
            return
        now = asyncio.get_running_loop().time()
        self._carry_out(self.engine.handle_timer(now, time.time()))

    async def _resolve(self, action: Resolve) -> None:
        assert self.engine is not None  # noqa: S101 - only spawned by the engine's actions
        try:
            targets = await self.resolver.resolve(action.uri, self.engine.supported)
            peers = [Peer(t.transport, t.host, t.port) for t in targets]
        except ResolveError as exc:
            log.warning("cannot resolve %s: %s", action.uri, exc.reason)
            peers = []
        now = asyncio.get_running_loop().time()
        self._carry_out(self.engine.resolved(action.token, peers, now, time.time()))

    async def _writer(self) -> None:
        # One writer: binding changes reach SQLite in the order the engine made them.
        while True:
            item = await self._writes.get()
            if item is None or self.store is None:
                return
            if isinstance(item, Persist):
                await self._persist(self.store, item)
                continue
            try:
                if isinstance(item, _SyncBans):
                    await self._sync_bans()
                elif self.bans_store is not None:
                    await self.bans_store.save(item)
            except StoreError as exc:
                log.error("ban store write failed, memory keeps the ban: %s", exc)  # noqa: TRY400

    async def _persist(self, store: SqliteLocationStore, item: Persist) -> None:
        # A REGISTER's changes (with a token) become visible, and it is answered, only
        # once written (RFC 3261 §10.3); expiries and closed flows are written behind.
        try:
            await store.apply(item.changes)
            ok = True
        except StoreError as exc:
            ok = False
            if item.token is None:
                log.error("location store write failed, memory keeps the change: %s", exc)  # noqa: TRY400
            else:
                log.error("location store write failed, the REGISTER gets 500: %s", exc)  # noqa: TRY400
        if item.token is not None and self.engine is not None:
            now = asyncio.get_running_loop().time()
            self._carry_out(self.engine.persisted(item.token, ok, now, time.time()))

    async def _sync_bans(self) -> None:
        # The ban list becomes what bans.sqlite holds: bans removed there are lifted,
        # bans added there are in force (the writer queue ran every pending save first).
        if self.engine is None or self.bans_store is None:
            return
        wall = time.time()
        stored = {order.network: order for order in await self.bans_store.load(wall)}
        bans = self.engine.guard.bans
        for order in bans.entries(wall):
            if order.network not in stored:
                bans.unban(order.network)
        for order in stored.values():
            bans.ban(order)
        log.info("bans re-read: %d in force", len(stored))

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(EXPIRY_SWEEP)
            if self.engine is not None:
                self._carry_out(self.engine.expire_bindings(time.time()))
            if self._tls_files is not None and self._tls_files.changed(self.config):
                self._reload_tls()

    def _reload_tls(self) -> None:
        # New handshakes use the new certificate; connections already up keep theirs.
        if self.manager is None or self.manager.tls is None:
            return
        try:
            tls, self._tls_files = load_tls(self.config, announce=False)
        except TransportError as exc:
            log.error("TLS not reloaded, the old certificate stays: %s", exc)  # noqa: TRY400
            return
        self.manager.tls.reload(tls)
        log.info("TLS certificate loaded from %s", self._tls_files.cert)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str | None = None) -> None:
        task = asyncio.ensure_future(coro)
        if name is not None:
            task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _nonce_secret(path: Path) -> bytes:
    """The HMAC key of our nonces: made once (32 random bytes, mode 0600), then reused."""
    try:
        secret = path.read_bytes()
    except FileNotFoundError:
        secret = b""
    if len(secret) < NONCE_SECRET_BYTES:
        secret = secrets.token_bytes(NONCE_SECRET_BYTES)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secret)
    return secret


async def _serve(config: Config) -> int:
    node = Node(config)
    try:
        await node.start()
    except (StoreError, TransportError, OSError) as exc:
        log.error("cannot start: %s", exc)  # noqa: TRY400 - one line, not a traceback
        await node.shutdown()
        return 1
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, node.stop)
    loop.add_signal_handler(signal.SIGHUP, node.request_reload)
    try:
        await node.run_until_stopped()
    finally:
        await node.shutdown()
    return 0


def serve(config: Config) -> int:
    """Run sipguard with ``config`` until SIGTERM or SIGINT; the process exit status."""
    return run_loop(_serve(config))
