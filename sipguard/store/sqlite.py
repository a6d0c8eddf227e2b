"""The location store on SQLite (through aiosqlite): bindings survive a restart.

Rules of this file:
- Every query is parameterised; the schema lives in ``schema.sql`` next to this file
  and carries a ``schema_version`` row; a file with a newer version is refused.
- WAL journal with ``synchronous=NORMAL``: a crash loses at most the last commits,
  never the file's consistency; phones re-register anyway.
- ``apply`` runs in one explicit transaction (the connection is in autocommit mode, so
  BEGIN/COMMIT/ROLLBACK are ours alone).
- Every database error leaves as ``StoreError`` naming the file.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Self, overload

import aiosqlite

from sipguard.store.base import (
    Binding,
    BindingChange,
    DeleteAor,
    DeleteBinding,
    PutBinding,
    StoreError,
)
from sipguard.store.database import DB_ERRORS, connect

__all__ = ["SCHEMA_VERSION", "SqliteLocationStore"]

SCHEMA_VERSION = 1
# Column order of _UPSERT's values and _SELECT's result: the order of Binding's fields.
_UPSERT = (
    "INSERT INTO bindings (aor, contact, expires_at, q, call_id, cseq, path, source, "
    "user_agent, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (aor, contact) DO UPDATE SET expires_at = excluded.expires_at, "
    "q = excluded.q, call_id = excluded.call_id, cseq = excluded.cseq, path = excluded.path, "
    "source = excluded.source, user_agent = excluded.user_agent, "
    "updated_at = excluded.updated_at"
)
_SELECT = (
    "SELECT aor, contact, expires_at, q, call_id, cseq, path, source, user_agent, updated_at "
    "FROM bindings WHERE expires_at > ? ORDER BY aor, contact"
)
Row = tuple[str, str, float, float | None, str, int, str, str, str | None, float]


class SqliteLocationStore:
    """Bindings in one SQLite file; build with ``await SqliteLocationStore.open(path)``."""

    __slots__ = ("_db", "_path")

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self._path = path

    @classmethod
    async def open(cls, path: Path) -> Self:
        """Open (or create) the store at ``path``, creating its directory and schema.

        Raises:
            StoreError: when the file is not a SQLite database, is unreadable, or has a
                newer schema than this version knows.
        """
        schema = await asyncio.to_thread(_prepare, path)
        db = await connect(path, "location store", lambda db: _initialise(db, schema, path))
        return cls(db, path)

    async def load(self, now: float) -> list[Binding]:
        """Every binding with ``expires_at > now``, ordered by (aor, contact)."""
        try:
            cursor = await self._db.execute(_SELECT, (now,))
            rows = await cursor.fetchall()
            await cursor.close()
        except DB_ERRORS as exc:
            raise StoreError(f"cannot read bindings: {exc}", self._path) from exc
        try:
            return [_binding(tuple(row)) for row in rows]
        except (_BadRowError, ValueError) as exc:
            raise StoreError(f"a binding row is malformed: {exc}", self._path) from exc

    async def apply(self, changes: Sequence[BindingChange]) -> None:
        """Apply ``changes`` in order in one transaction (all or nothing)."""
        if not changes:
            return
        try:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                for change in changes:
                    await self._apply_one(change)
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")
        except DB_ERRORS as exc:
            raise StoreError(f"cannot write bindings: {exc}", self._path) from exc

    async def _apply_one(self, change: BindingChange) -> None:
        match change:
            case PutBinding(binding):
                await self._db.execute(_UPSERT, _row(binding))
            case DeleteBinding(aor, contact):
                await self._db.execute(
                    "DELETE FROM bindings WHERE aor = ? AND contact = ?", (aor, contact)
                )
            case DeleteAor(aor):
                await self._db.execute("DELETE FROM bindings WHERE aor = ?", (aor,))

    async def purge_expired(self, now: float) -> int:
        """Delete the bindings with ``expires_at <= now``; returns how many."""
        try:
            cursor = await self._db.execute("DELETE FROM bindings WHERE expires_at <= ?", (now,))
            count = cursor.rowcount
            await cursor.close()
        except DB_ERRORS as exc:
            raise StoreError(f"cannot purge bindings: {exc}", self._path) from exc
        return count

    async def close(self) -> None:
        """Close the connection (and its thread); calling it twice is harmless."""
        await self._db.close()


def _prepare(path: Path) -> str:
    # Runs in a worker thread: directory creation and the schema read block.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the state directory: {exc}", path) from exc
    return Path(__file__).with_name("schema.sql").read_text(encoding="utf-8")


async def _initialise(db: aiosqlite.Connection, schema: str, path: Path) -> None:
    try:
        # The first statement reads the file header: a non-SQLite file fails here.
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = NORMAL")
        await db.executescript(f"BEGIN IMMEDIATE; {schema} COMMIT;")
        cursor = await db.execute("SELECT max(version) FROM schema_version")
        row = await cursor.fetchone()
        await cursor.close()
    except DB_ERRORS as exc:
        raise StoreError(f"not a usable location store: {exc}", path) from exc
    version = row[0] if row is not None else None
    if version != SCHEMA_VERSION:
        raise StoreError(
            f"location store schema version {version}; this sipguard knows {SCHEMA_VERSION}",
            path,
        )


def _row(b: Binding) -> Row:
    path = json.dumps(list(b.path))
    return (
        b.aor,
        b.contact,
        b.expires_at,
        b.q,
        b.call_id,
        b.cseq,
        path,
        b.source,
        b.user_agent,
        b.updated_at,
    )


class _BadRowError(Exception):
    """A row whose column holds a value of the wrong type (a hand-edited file)."""


def _binding(row: Sequence[object]) -> Binding:
    aor, contact, expires_at, q, call_id, cseq, path, source, user_agent, updated_at = row
    values = json.loads(_text(path))
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _BadRowError("path")
    return Binding(
        aor=_text(aor),
        contact=_text(contact),
        expires_at=_real(expires_at),
        q=None if q is None else _real(q),
        call_id=_text(call_id),
        cseq=_real(cseq, integer=True),
        path=tuple(values),
        source=_text(source),
        user_agent=None if user_agent is None else _text(user_agent),
        updated_at=_real(updated_at),
    )


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise _BadRowError(repr(value))
    return value


@overload
def _real(value: object) -> float: ...
@overload
def _real(value: object, *, integer: Literal[True]) -> int: ...
def _real(value: object, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _BadRowError(repr(value))
    if integer:
        if not isinstance(value, int):
            raise _BadRowError(repr(value))
        return value
    return float(value)
