"""What the SQLite stores share: the errors to catch and opening a file safely.

Rules of this file: a store's ``open`` calls ``connect`` with its own schema step; a
failure anywhere becomes one ``StoreError`` naming the file, and a half-opened
connection is always closed (aiosqlite's thread would otherwise keep the process alive).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosqlite

from sipguard.store.base import StoreError

__all__ = ["DB_ERRORS", "connect"]

DB_ERRORS = (sqlite3.Error, ValueError, OverflowError)
"""sqlite3's errors; ValueError from aiosqlite once the connection is closed;
OverflowError for an integer beyond SQLite's 64 bits."""


async def connect(
    path: Path, what: str, initialise: Callable[[aiosqlite.Connection], Awaitable[None]]
) -> aiosqlite.Connection:
    """An autocommit connection to ``path`` after ``initialise`` ran on it.

    Raises:
        StoreError: "cannot open the <what>" when SQLite refuses the file; whatever
            ``initialise`` raises (the connection is closed first).
    """
    try:
        db = await aiosqlite.connect(path, isolation_level=None)
    except DB_ERRORS as exc:
        raise StoreError(f"cannot open the {what}: {exc}", path) from exc
    try:
        await initialise(db)
    except BaseException:
        await db.close()
        raise
    return db
