"""The SQLite ban store: bans survive a reopen; expired ones do not come back."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from sipguard.guard import BanOrder
from sipguard.guard.banlist import InvalidNetworkError
from sipguard.store.bans import SqliteBanStore
from sipguard.store.base import StoreError

T0 = 1_700_000_000.0
T = TypeVar("T")


def run(body: Coroutine[Any, Any, T]) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(10):
            return await body

    return asyncio.run(bounded())


async def reopen_and_load(path: Path, wall: float) -> list[BanOrder]:
    store = await SqliteBanStore.open(path)
    try:
        return await store.load(wall)
    finally:
        await store.close()


def test_save_and_load_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state" / "bans.sqlite"

    async def body() -> list[BanOrder]:
        store = await SqliteBanStore.open(path)
        try:
            await store.save(BanOrder("203.0.113.5", T0 + 3600, "auth", 5))
            await store.save(BanOrder("2001:DB8::7/64", T0 + 86400, "scanner", 1))
            await store.save(BanOrder("198.51.100.1", T0 - 1, "flood", 20))  # already over
        finally:
            await store.close()
        return await reopen_and_load(path, T0)

    assert run(body()) == [
        BanOrder("2001:db8::/64", T0 + 86400, "scanner", 1),
        BanOrder("203.0.113.5", T0 + 3600, "auth", 5),
    ]


def test_expired_bans_are_not_loaded_and_can_be_purged(tmp_path: Path) -> None:
    path = tmp_path / "bans.sqlite"

    async def body() -> tuple[list[BanOrder], int, list[BanOrder]]:
        store = await SqliteBanStore.open(path)
        try:
            await store.save(BanOrder("203.0.113.5", T0 + 10, "auth", 5))
            await store.save(BanOrder("203.0.113.6", T0 + 20, "auth", 5))
            later = await store.load(T0 + 15)
            purged = await store.purge_expired(T0 + 15)
            everything = await store.load(0.0)
        finally:
            await store.close()
        return later, purged, everything

    later, purged, everything = run(body())
    assert [o.network for o in later] == ["203.0.113.6"]
    assert purged == 1
    assert [o.network for o in everything] == ["203.0.113.6"]


def test_save_extends_never_shortens_and_remove(tmp_path: Path) -> None:
    path = tmp_path / "bans.sqlite"

    async def body() -> tuple[list[BanOrder], bool, bool, list[BanOrder]]:
        store = await SqliteBanStore.open(path)
        try:
            await store.save(BanOrder("203.0.113.5", T0 + 100, "auth", 5))
            await store.save(BanOrder("203.0.113.5", T0 + 50, "manual", 0))
            await store.save(BanOrder("203.0.113.5", T0 + 200, "scanner", 1))
            held = await store.load(T0)
            removed = await store.remove("203.0.113.5/32")
            again = await store.remove("203.0.113.5")
            left = await store.load(T0)
        finally:
            await store.close()
        return held, removed, again, left

    held, removed, again, left = run(body())
    assert held == [BanOrder("203.0.113.5", T0 + 200, "scanner", 1)]
    assert (removed, again, left) == (True, False, [])


def test_bad_networks_are_refused(tmp_path: Path) -> None:
    async def body() -> None:
        store = await SqliteBanStore.open(tmp_path / "bans.sqlite")
        try:
            with pytest.raises(InvalidNetworkError):
                await store.save(BanOrder("example.com", T0, "auth", 1))
        finally:
            await store.close()

    run(body())


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bans.sqlite"
    path.write_bytes(b"this is not a database, just text that is long enough" * 4)
    with pytest.raises(StoreError, match="not a usable ban store"):
        run(SqliteBanStore.open(path))


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bans.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(StoreError, match="schema version 99"):
        run(SqliteBanStore.open(path))


def test_a_malformed_row_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bans.sqlite"
    run(reopen_and_load(path, T0))  # creates the schema
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO bans VALUES ('203.0.113.5', ?, 'auth', 'five')", (T0 + 10,))
    db.close()
    with pytest.raises(StoreError, match="malformed"):
        run(reopen_and_load(path, T0))
