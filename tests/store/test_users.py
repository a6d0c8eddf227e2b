"""The SQLite user store: round trips across reopen, HA1 only on disk, validation."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from sipguard.guard.digest import Algorithm, ha1, supported
from sipguard.store.base import StoreError
from sipguard.store.users import (
    NoSuchUserError,
    SqliteUserStore,
    UserExistsError,
    UserStore,
    UserTable,
    UserValueError,
    validate_name,
)

REALM = "example.com"
PHRASE = "Tr0ub4dor&3-horse"  # a password long and odd enough to grep for


def run(body: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(10):
            await body()

    asyncio.run(bounded())


def test_add_list_remove_round_trip_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state" / "users.sqlite"

    async def body() -> None:
        store: UserStore = await SqliteUserStore.open(path)  # the protocol, structurally
        await store.add("bob", REALM, "pw-bob")
        await store.add("alice", REALM, PHRASE)
        await store.add("alice", "other.example.net", "pw-other")
        await store.close()

        store = await SqliteUserStore.open(path)
        assert await store.list(REALM) == ["alice", "bob"]
        assert await store.list("other.example.net") == ["alice"]
        table = await store.load()
        assert len(table) == 3
        for algorithm in (Algorithm.MD5, Algorithm.SHA256):
            assert table.ha1("alice", REALM, algorithm) == ha1("alice", REALM, PHRASE, algorithm)
        assert table.ha1("alice", REALM, Algorithm.SHA256_SESS) == table.ha1(
            "alice", REALM, Algorithm.SHA256
        )
        assert table.ha1("carol", REALM, Algorithm.MD5) is None
        await store.remove("bob", REALM)
        await store.close()

        store = await SqliteUserStore.open(path)
        assert await store.list(REALM) == ["alice"]
        assert (await store.load()).names(REALM) == ["alice"]
        await store.close()

    run(body)


@pytest.mark.skipif(not supported(Algorithm.SHA512_256), reason="no SHA-512/256 in OpenSSL")
def test_every_algorithm_is_stored(tmp_path: Path) -> None:
    async def body() -> None:
        store = await SqliteUserStore.open(tmp_path / "u.sqlite")
        await store.add("alice", REALM, PHRASE)
        table = await store.load()
        await store.close()
        for algorithm in (Algorithm.MD5, Algorithm.SHA256, Algorithm.SHA512_256):
            assert table.ha1("alice", REALM, algorithm) == ha1("alice", REALM, PHRASE, algorithm)

    run(body)


def test_the_password_never_reaches_the_file(tmp_path: Path) -> None:
    path = tmp_path / "users.sqlite"

    async def body() -> None:
        store = await SqliteUserStore.open(path)
        await store.add("alice", REALM, PHRASE)
        await store.add("alice", REALM, PHRASE + "-2", replace=True)
        await store.close()

    run(body)
    files = list(tmp_path.iterdir())
    data = b"".join(f.read_bytes() for f in files)
    assert PHRASE.encode() not in data
    assert ha1("alice", REALM, PHRASE + "-2", Algorithm.MD5).encode() in data
    # secure_delete: the replaced HA1 is not left behind in a free page either.
    assert ha1("alice", REALM, PHRASE, Algorithm.MD5).encode() not in data
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_add_existing_needs_replace_and_remove_missing_fails(tmp_path: Path) -> None:
    async def body() -> None:
        store = await SqliteUserStore.open(tmp_path / "u.sqlite")
        try:
            await store.add("alice", REALM, "one")
            with pytest.raises(UserExistsError):
                await store.add("alice", REALM, "two")
            table = await store.load()
            assert table.ha1("alice", REALM, Algorithm.MD5) == ha1(
                "alice", REALM, "one", Algorithm.MD5
            )
            await store.add("alice", REALM, "two", replace=True)
            table = await store.load()
            assert table.ha1("alice", REALM, Algorithm.MD5) == ha1(
                "alice", REALM, "two", Algorithm.MD5
            )
            with pytest.raises(NoSuchUserError):
                await store.remove("carol", REALM)
            with pytest.raises(UserValueError):
                await store.add("carol", REALM, "")
            assert await store.list(REALM) == ["alice"]
        finally:
            await store.close()

    run(body)


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "users.sqlite"
    path.write_bytes(b"this is not a database, just text that is long enough" * 20)

    async def body() -> None:
        with pytest.raises(StoreError, match=r"users\.sqlite"):
            await SqliteUserStore.open(path)

    run(body)


@pytest.mark.parametrize("name", ["alice", "1001", "+15551234", "first.last", "a-b_c!~*'()&=+$"])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "alice@example.com", "al ice", "al\tice", "al\x00ice", "caf\u00e9", "a%40b", "a" * 129,
     "anonymous", "Anonymous", 'al"ice', "al\\ice", "<alice>"],
)  # fmt: skip
def test_invalid_names(name: str) -> None:
    with pytest.raises(UserValueError):
        validate_name(name)


def test_invalid_realm_is_refused(tmp_path: Path) -> None:
    async def body() -> None:
        store = await SqliteUserStore.open(tmp_path / "u.sqlite")
        try:
            with pytest.raises(UserValueError):
                await store.add("alice", 'bad"realm', "pw")
        finally:
            await store.close()

    run(body)


def test_user_table_is_a_plain_view() -> None:
    table = UserTable({("a", "r", Algorithm.MD5): "x", ("b", "r", Algorithm.MD5): "y"})
    assert (table.names("r"), table.names("s"), len(table)) == (["a", "b"], [], 2)
