"""Bans on SQLite (through aiosqlite): a ban survives a restart.

Rules of this file:
- One table in its own file (``state_dir / "bans.sqlite"``), so the ban list can be
  managed (``sipguard bans``) without touching the location store. The schema is small
  enough to live here; ``PRAGMA user_version`` carries its version and a newer one is
  refused.
- Every query is parameterised. Networks are stored in canonical form
  (``canonical_network``), the key the ban list uses, so ``remove`` finds what ``save``
  wrote whatever spelling the operator typed.
- ``save`` extends, never shortens, as ``BanList.ban`` does; ``load`` returns only bans
  still running at ``wall``.
- WAL journal: the server and the ``sipguard bans`` command may open the file at once.
- Every database error leaves as ``StoreError`` naming the file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Self

import aiosqlite

from sipguard.guard.banlist import canonical_network
from sipguard.guard.state import BanOrder
from sipguard.store.base import StoreError
from sipguard.store.database import DB_ERRORS, connect

__all__ = ["BANS_SCHEMA_VERSION", "SqliteBanStore"]

BANS_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS bans (
    network   TEXT PRIMARY KEY,  -- canonical address or CIDR
    until     REAL NOT NULL,     -- wall-clock UNIX seconds
    jail      TEXT NOT NULL,     -- the jail that ordered it, or "manual"
    offences  INTEGER NOT NULL   -- offences counted when it was ordered
);
CREATE INDEX IF NOT EXISTS bans_until ON bans (until);
"""
_UPSERT = (
    "INSERT INTO bans (network, until, jail, offences) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (network) DO UPDATE SET until = excluded.until, jail = excluded.jail, "
    "offences = excluded.offences WHERE excluded.until > bans.until"
)
_SELECT = "SELECT network, until, jail, offences FROM bans WHERE until > ? ORDER BY network"


class SqliteBanStore:
    """Bans in one SQLite file; build with ``await SqliteBanStore.open(path)``."""

    __slots__ = ("_db", "_path")

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self._path = path

    @classmethod
    async def open(cls, path: Path) -> Self:
        """Open (or create) the ban store at ``path``, creating its directory.

        Raises:
            StoreError: the directory cannot be made, or the file is not a usable ban
                store (not SQLite, unreadable, a newer schema).
        """
        try:
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the state directory: {exc}", path) from exc
        db = await connect(path, "ban store", lambda db: _initialise(db, path))
        return cls(db, path)

    async def load(self, wall: float) -> list[BanOrder]:
        """The bans with ``until > wall``, ordered by network."""
        try:
            cursor = await self._db.execute(_SELECT, (wall,))
            rows = await cursor.fetchall()
            await cursor.close()
        except DB_ERRORS as exc:
            raise StoreError(f"cannot read bans: {exc}", self._path) from exc
        return [_order(tuple(row), self._path) for row in rows]

    async def save(self, order: BanOrder) -> None:
        """Store ``order``, or extend the stored ban on its network.

        Raises:
            InvalidNetworkError: ``order.network`` is not an address or network.
            StoreError: the write failed.
        """
        row = (canonical_network(order.network), order.until, order.jail, order.offences)
        await self._write(_UPSERT, row)

    async def remove(self, network: str) -> bool:
        """Delete the ban on exactly ``network``; False when there was none.

        Raises:
            InvalidNetworkError: ``network`` is not an address or network.
            StoreError: the write failed.
        """
        sql = "DELETE FROM bans WHERE network = ?"
        return await self._write(sql, (canonical_network(network),)) > 0

    async def purge_expired(self, wall: float) -> int:
        """Delete the bans with ``until <= wall``; returns how many."""
        return await self._write("DELETE FROM bans WHERE until <= ?", (wall,))

    async def close(self) -> None:
        """Close the connection (and its thread); calling it twice is harmless."""
        await self._db.close()

    async def _write(self, sql: str, params: Sequence[object]) -> int:
        try:
            cursor = await self._db.execute(sql, params)
            count = cursor.rowcount
            await cursor.close()
        except DB_ERRORS as exc:
            raise StoreError(f"cannot write bans: {exc}", self._path) from exc
        return count


async def _initialise(db: aiosqlite.Connection, path: Path) -> None:
    try:
        # The first statement reads the file header: a non-SQLite file fails here.
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = NORMAL")
        cursor = await db.execute("PRAGMA user_version")
        row = await cursor.fetchone()
        await cursor.close()
        version = row[0] if row is not None else 0
        if version == 0:
            await db.executescript(
                f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version = {BANS_SCHEMA_VERSION}; COMMIT;"
            )
            version = BANS_SCHEMA_VERSION
    except DB_ERRORS as exc:
        raise StoreError(f"not a usable ban store: {exc}", path) from exc
    if version != BANS_SCHEMA_VERSION:
        raise StoreError(
            f"ban store schema version {version}; this sipguard knows {BANS_SCHEMA_VERSION}",
            path,
        )


def _order(row: Sequence[object], path: Path) -> BanOrder:
    network, until, jail, offences = row
    if (
        not isinstance(network, str)
        or isinstance(until, bool)
        or not isinstance(until, int | float)
        or not isinstance(jail, str)
        or not isinstance(offences, int)
    ):
        raise StoreError(f"a ban row is malformed: {row!r}", path)
    return BanOrder(network, float(until), jail, offences)
