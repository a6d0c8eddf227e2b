"""SQLite specifics: a restart keeps the bindings, the file's format, typed failures."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from pathlib import Path
from typing import TypeVar

import pytest

from sipguard.store import (
    SCHEMA_VERSION,
    DeleteBinding,
    PutBinding,
    SqliteLocationStore,
    StoreError,
)
from tests.store.bindings import NOW, binding

T = TypeVar("T")


def run(body: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        async with asyncio.timeout(10):
            return await body()

    return asyncio.run(main())


def _raw(path: Path, *statements: str) -> list[tuple[object, ...]]:
    """Run ``statements`` in one committed transaction; the rows of the last."""
    with closing(sqlite3.connect(path)) as db, db:
        rows: list[tuple[object, ...]] = []
        for sql in statements:
            rows = db.execute(sql).fetchall()
        return rows


def test_bindings_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "location.db"
    live = [
        binding(contact="sip:a@192.0.2.1", q=1.0, path=("<sip:edge;lr>",)),
        binding(aor="sip:bob@example.com", contact="sip:b@[2001:db8::1]:5061;transport=tls"),
    ]
    dead = binding(contact="sip:old@192.0.2.9", expires_at=NOW - 1)

    async def first_run() -> None:
        store = await SqliteLocationStore.open(path)
        await store.apply([PutBinding(b) for b in (*live, dead)])
        await store.close()

    async def second_run() -> list[object]:
        store = await SqliteLocationStore.open(path)
        try:
            return list(await store.load(NOW))
        finally:
            await store.close()

    run(first_run)
    assert sorted(run(second_run), key=str) == sorted(live, key=str)


def test_file_has_wal_schema_version_and_unique_key(tmp_path: Path) -> None:
    path = tmp_path / "location.db"

    async def body() -> None:
        store = await SqliteLocationStore.open(path)
        await store.close()

    run(body)
    assert _raw(path, "PRAGMA journal_mode") == [("wal",)]
    assert _raw(path, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    insert = "INSERT INTO bindings VALUES ('a', 'c', 1, NULL, 'i', 1, '[]', 's', NULL, 1)"
    _raw(path, insert)
    with pytest.raises(sqlite3.IntegrityError):
        _raw(path, insert)


def test_reopen_keeps_one_schema_version_row(tmp_path: Path) -> None:
    path = tmp_path / "location.db"

    async def body() -> None:
        for _ in range(3):
            store = await SqliteLocationStore.open(path)
            await store.close()

    run(body)
    assert _raw(path, "SELECT count(*) FROM schema_version") == [(1,)]


def test_a_failed_apply_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "location.db"
    kept = binding(contact="sip:kept@192.0.2.1")
    new = binding(contact="sip:new@192.0.2.2")
    # An integer SQLite cannot hold fails the third statement of the transaction.
    bad = binding(contact="sip:bad@192.0.2.3", cseq=2**70)

    async def body() -> list[object]:
        store = await SqliteLocationStore.open(path)
        try:
            await store.apply([PutBinding(kept)])
            with pytest.raises(StoreError, match=str(path)):
                await store.apply(
                    [PutBinding(new), DeleteBinding(kept.aor, kept.contact), PutBinding(bad)]
                )
            # The connection is still usable after the rollback.
            await store.apply([PutBinding(new)])
            return list(await store.load(NOW))
        finally:
            await store.close()

    assert sorted(run(body), key=str) == sorted([kept, new], key=str)


def test_a_file_that_is_not_sqlite_raises_store_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "location.db"
    path.write_bytes(b"this is a text file, not a database\n" * 200)

    async def body() -> None:
        await SqliteLocationStore.open(path)

    with pytest.raises(StoreError) as info:
        run(body)
    assert info.value.path == path
    assert str(path) in str(info.value)
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)


def test_a_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "location.db"
    _raw(
        path,
        "CREATE TABLE schema_version (version INTEGER NOT NULL)",
        "INSERT INTO schema_version VALUES (999)",
    )

    async def body() -> None:
        await SqliteLocationStore.open(path)

    with pytest.raises(StoreError, match="schema version"):
        run(body)


def test_a_directory_that_cannot_be_created_raises_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")

    async def body() -> None:
        await SqliteLocationStore.open(blocker / "location.db")

    with pytest.raises(StoreError, match="state directory"):
        run(body)


def test_a_hand_edited_row_raises_store_error(tmp_path: Path) -> None:
    path = tmp_path / "location.db"

    async def create() -> None:
        store = await SqliteLocationStore.open(path)
        await store.apply([PutBinding(binding())])
        await store.close()

    run(create)
    _raw(path, "UPDATE bindings SET path = 'not json'")

    async def load() -> None:
        store = await SqliteLocationStore.open(path)
        try:
            await store.load(NOW)
        finally:
            await store.close()

    with pytest.raises(StoreError, match="malformed"):
        run(load)
