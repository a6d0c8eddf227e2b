"""The digest user store: per-realm HA1 values in SQLite (never the password), and the
in-memory table the authentication stage reads without awaiting.

Rules of this file:
- ``add`` hashes the password into one HA1 per digest algorithm this Python can compute
  (RFC 7616 §5.2: store H(user:realm:password), not the password) and forgets it.
- User names are RFC 3261 user parts (§25.1 ``user``) without escapes: no "@", spaces or
  control characters; "anonymous" is reserved (RFC 3261 §22.1, RFC 3323 anonymity).
- Every query is parameterised; every database error leaves as ``StoreError`` naming the
  file. The file is created readable by its owner only: an HA1 is enough to answer a
  challenge of its realm, so it is as secret as the password for sipguard's realm.
- ``secure_delete`` is on: a removed user's HA1 is overwritten, not left in free pages.
"""

from __future__ import annotations

import asyncio
import builtins
import os
import re
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, Self

import aiosqlite

from sipguard.guard.digest import Algorithm, ha1, supported
from sipguard.store.base import StoreError
from sipguard.store.database import DB_ERRORS, connect

__all__ = [
    "STORED_ALGORITHMS",
    "USERS_SCHEMA_VERSION",
    "NoSuchUserError",
    "SqliteUserStore",
    "UserExistsError",
    "UserStore",
    "UserTable",
    "UserValueError",
    "validate_name",
    "validate_realm",
]

USERS_SCHEMA_VERSION = 1
STORED_ALGORITHMS = (Algorithm.MD5, Algorithm.SHA256, Algorithm.SHA512_256)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name       TEXT NOT NULL,
    realm      TEXT NOT NULL,
    algorithm  TEXT NOT NULL,  -- "MD5", "SHA-256", "SHA-512-256"
    ha1        TEXT NOT NULL,  -- lower-case hex of H(name ":" realm ":" password)
    PRIMARY KEY (name, realm, algorithm)
);
"""
# user = 1*( unreserved / escaped / user-unreserved )  (RFC 3261 §25.1), escapes left out:
# the digest username is the unescaped name, and one spelling per user keeps lookups exact.
# (unreserved: alphanumerics and - _ . ! ~ * ' ( ); user-unreserved: & = + $ , ; ? /).
_NAME_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/]{1,128}\Z")
_REALM_BAD_RE = re.compile(r'[\x00-\x1f\x7f"\\]')
_RESERVED = frozenset({"anonymous"})
_Row = tuple[str, str, str, str]  # name, realm, algorithm, ha1


class UserValueError(ValueError):
    """A user name, realm or password that cannot be stored."""


class UserExistsError(Exception):
    """``add`` of a user that exists, without ``replace``."""


class NoSuchUserError(Exception):
    """``remove`` of a user that does not exist."""


def validate_name(name: str) -> str:
    """``name`` when it can be a digest user name here.

    Raises:
        UserValueError: empty, too long, a character outside the RFC 3261 user part, or
            the reserved "anonymous".
    """
    if not _NAME_RE.match(name):
        raise UserValueError(
            f"invalid user name {name!r}: use letters, digits and -_.!~*'()&=+$,;?/ only"
        )
    if name.lower() in _RESERVED:
        raise UserValueError(f"the user name {name!r} is reserved")
    return name


def validate_realm(realm: str) -> str:
    """``realm`` when it can be quoted in a challenge.

    Raises:
        UserValueError: empty, or holding a control character, a quote or a backslash.
    """
    if not realm or _REALM_BAD_RE.search(realm):
        raise UserValueError(f"invalid realm {realm!r}")
    return realm


class UserTable:
    """Every stored HA1, in memory: the ``UserView`` the authentication stage reads."""

    __slots__ = ("_ha1",)

    def __init__(self, entries: Mapping[tuple[str, str, Algorithm], str]) -> None:
        """``entries``: (name, realm, algorithm) → HA1."""
        self._ha1 = dict(entries)

    def ha1(self, user: str, realm: str, algorithm: Algorithm) -> str | None:
        """HA1 of ``user`` in ``realm`` for ``algorithm`` (its non-session form), or None."""
        return self._ha1.get((user, realm, algorithm.base))

    def names(self, realm: str) -> list[str]:
        """The users of ``realm``, sorted."""
        return sorted({name for name, r, _ in self._ha1 if r == realm})

    def __len__(self) -> int:
        """How many (user, realm) pairs are stored."""
        return len({(name, realm) for name, realm, _ in self._ha1})


class UserStore(Protocol):
    """Where users live (SQLite now; a shared backend later)."""

    async def add(self, name: str, realm: str, password: str, *, replace: bool = False) -> None:
        """Store ``name``'s HA1 values for ``realm``."""

    async def remove(self, name: str, realm: str) -> None:
        """Delete ``name`` from ``realm``."""

    async def list(self, realm: str) -> builtins.list[str]:
        """The user names of ``realm``, sorted."""

    async def load(self) -> UserTable:
        """Every user of every realm, for the authentication stage."""

    async def close(self) -> None:
        """Release the store."""


class SqliteUserStore:
    """Users in one SQLite file; build with ``await SqliteUserStore.open(path)``."""

    __slots__ = ("_db", "_path")

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self._path = path

    @classmethod
    async def open(cls, path: Path) -> Self:
        """Open (or create, mode 0600) the store at ``path``.

        Raises:
            StoreError: not a SQLite file, unreadable, or a newer schema.
        """
        await asyncio.to_thread(_prepare, path)
        db = await connect(path, "user store", lambda db: _initialise(db, path))
        return cls(db, path)

    async def add(self, name: str, realm: str, password: str, *, replace: bool = False) -> None:
        """Store the HA1 values of ``name`` in ``realm`` (``replace``: change a password).

        Raises:
            UserValueError: a bad name or realm, or an empty password.
            UserExistsError: ``name`` exists and ``replace`` is false.
            StoreError: the database failed.
        """
        rows = [(name, realm, a.value, h) for a, h in _ha1_values(name, realm, password)]
        try:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                await self._put(name, realm, rows, replace=replace)
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")
        except DB_ERRORS as exc:
            raise StoreError(f"cannot write users: {exc}", self._path) from exc

    async def remove(self, name: str, realm: str) -> None:
        """Delete ``name`` from ``realm``.

        Raises:
            NoSuchUserError: there is no such user.
            StoreError: the database failed.
        """
        try:
            count = await self._delete(name, realm)
        except DB_ERRORS as exc:
            raise StoreError(f"cannot write users: {exc}", self._path) from exc
        if count == 0:
            raise NoSuchUserError(f"no user {name} in realm {realm}")

    async def list(self, realm: str) -> builtins.list[str]:
        """The user names of ``realm``, sorted."""
        rows = await self._select(
            "SELECT DISTINCT name FROM users WHERE realm = ? ORDER BY name", (realm,)
        )
        return [str(row[0]) for row in rows]

    async def load(self) -> UserTable:
        """Every stored HA1 (rows of an algorithm this version does not know are skipped)."""
        rows = await self._select("SELECT name, realm, algorithm, ha1 FROM users", ())
        known = {a.value: a for a in STORED_ALGORITHMS}
        entries = {
            (str(name), str(realm), known[str(alg)]): str(value)
            for name, realm, alg, value in rows
            if str(alg) in known
        }
        return UserTable(entries)

    async def close(self) -> None:
        """Close the connection (and its thread); calling it twice is harmless."""
        await self._db.close()

    async def _put(
        self,
        name: str,
        realm: str,
        rows: builtins.list[tuple[str, str, str, str]],
        *,
        replace: bool,
    ) -> None:
        if not replace and await self._exists(name, realm):
            raise UserExistsError(f"user {name} already exists in realm {realm}")
        await self._delete(name, realm)
        await self._db.executemany(
            "INSERT INTO users (name, realm, algorithm, ha1) VALUES (?, ?, ?, ?)", rows
        )

    async def _exists(self, name: str, realm: str) -> bool:
        cursor = await self._db.execute(
            "SELECT 1 FROM users WHERE name = ? AND realm = ? LIMIT 1", (name, realm)
        )
        row = await cursor.fetchone()
        await cursor.close()
        return row is not None

    async def _delete(self, name: str, realm: str) -> int:
        cursor = await self._db.execute(
            "DELETE FROM users WHERE name = ? AND realm = ?", (name, realm)
        )
        count = cursor.rowcount
        await cursor.close()
        return count

    async def _select(self, query: str, args: tuple[str, ...]) -> builtins.list[sqlite3.Row]:
        try:
            cursor = await self._db.execute(query, args)
            rows = await cursor.fetchall()
            await cursor.close()
        except DB_ERRORS as exc:
            raise StoreError(f"cannot read users: {exc}", self._path) from exc
        return builtins.list(rows)


def _ha1_values(name: str, realm: str, password: str) -> builtins.list[tuple[Algorithm, str]]:
    validate_name(name)
    validate_realm(realm)
    if not password:
        raise UserValueError("empty password")
    return [(a, ha1(name, realm, password, a)) for a in STORED_ALGORITHMS if supported(a)]


def _prepare(path: Path) -> None:
    # Runs in a worker thread. The file is created 0600 before SQLite opens it; SQLite
    # gives its journal the database file's permissions.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
    except OSError as exc:
        raise StoreError(f"cannot create the user store: {exc}", path) from exc


async def _initialise(db: aiosqlite.Connection, path: Path) -> None:
    try:
        cursor = await db.execute("PRAGMA user_version")  # reads the header: fails on junk
        row = await cursor.fetchone()
        await cursor.close()
        version = int(row[0]) if row is not None else 0
        if version > USERS_SCHEMA_VERSION:
            raise StoreError(
                f"user store schema version {version}; this sipguard knows {USERS_SCHEMA_VERSION}",
                path,
            )
        await db.execute("PRAGMA secure_delete = ON")
        await db.executescript(
            f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version = {USERS_SCHEMA_VERSION}; COMMIT;"
        )
    except DB_ERRORS as exc:
        raise StoreError(f"not a usable user store: {exc}", path) from exc
