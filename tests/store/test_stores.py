"""The LocationStore contract, run against every implementation (memory, SQLite)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from sipguard.store import (
    DeleteAor,
    DeleteBinding,
    LocationStore,
    MemoryLocationStore,
    PutBinding,
    SqliteLocationStore,
    StoreError,
)
from tests.store.bindings import NOW, binding

Opener = Callable[[Path], Awaitable[LocationStore]]


async def _memory(_: Path) -> LocationStore:
    return MemoryLocationStore()


async def _sqlite(tmp: Path) -> LocationStore:
    return await SqliteLocationStore.open(tmp / "state" / "location.db")


@pytest.fixture(params=[_memory, _sqlite], ids=["memory", "sqlite"])
def opener(request: pytest.FixtureRequest) -> Opener:
    return request.param  # type: ignore[no-any-return]


def run(opener: Opener, tmp: Path, body: Callable[[LocationStore], Awaitable[None]]) -> None:
    async def main() -> None:
        async with asyncio.timeout(10):
            store = await opener(tmp)
            try:
                await body(store)
            finally:
                await store.close()

    asyncio.run(main())


def test_put_then_load_returns_the_binding(opener: Opener, tmp_path: Path) -> None:
    b = binding(q=0.5, path=("<sip:edge.example.com;lr>", '<sip:p2.example.com;lr;x="a,b">'))

    async def body(store: LocationStore) -> None:
        await store.apply([PutBinding(b)])
        assert await store.load(NOW) == [b]

    run(opener, tmp_path, body)


def test_put_replaces_the_same_aor_and_contact(opener: Opener, tmp_path: Path) -> None:
    first, second = binding(cseq=1), binding(cseq=2, expires_at=NOW + 60)

    async def body(store: LocationStore) -> None:
        await store.apply([PutBinding(first)])
        await store.apply([PutBinding(second)])
        assert await store.load(NOW) == [second]

    run(opener, tmp_path, body)


def test_load_skips_expired_bindings(opener: Opener, tmp_path: Path) -> None:
    live = binding(contact="sip:a@192.0.2.1", expires_at=NOW + 1)
    dead = binding(contact="sip:b@192.0.2.1", expires_at=NOW)

    async def body(store: LocationStore) -> None:
        await store.apply([PutBinding(live), PutBinding(dead)])
        assert await store.load(NOW) == [live]
        assert await store.load(NOW + 1) == []

    run(opener, tmp_path, body)


def test_delete_binding_and_delete_aor(opener: Opener, tmp_path: Path) -> None:
    a1 = binding(contact="sip:a@192.0.2.1")
    a2 = binding(contact="sip:a@192.0.2.2")
    b1 = binding(aor="sip:bob@example.com", contact="sip:b@192.0.2.3")

    async def body(store: LocationStore) -> None:
        await store.apply([PutBinding(a1), PutBinding(a2), PutBinding(b1)])
        await store.apply([DeleteBinding(a1.aor, a1.contact)])
        assert await store.load(NOW) == [a2, b1]
        await store.apply([DeleteAor(a2.aor), DeleteBinding("sip:nobody@x", "sip:none")])
        assert await store.load(NOW) == [b1]

    run(opener, tmp_path, body)


def test_changes_apply_in_order(opener: Opener, tmp_path: Path) -> None:
    b = binding()

    async def body(store: LocationStore) -> None:
        await store.apply([PutBinding(b), DeleteAor(b.aor), PutBinding(b)])
        assert await store.load(NOW) == [b]
        await store.apply([PutBinding(b), DeleteBinding(b.aor, b.contact)])
        assert await store.load(NOW) == []

    run(opener, tmp_path, body)


def test_purge_expired_counts_and_removes(opener: Opener, tmp_path: Path) -> None:
    old = [binding(contact=f"sip:a@192.0.2.{i}", expires_at=NOW - i) for i in range(3)]
    live = binding(contact="sip:a@192.0.2.99", expires_at=NOW + 10)

    async def body(store: LocationStore) -> None:
        await store.apply([PutBinding(b) for b in (*old, live)])
        assert await store.purge_expired(NOW) == 3
        assert await store.purge_expired(NOW) == 0
        # Nothing expired is left behind, even for a load at an earlier time.
        assert await store.load(NOW - 100) == [live]

    run(opener, tmp_path, body)


def test_use_after_close_raises_store_error(opener: Opener, tmp_path: Path) -> None:
    async def main() -> None:
        async with asyncio.timeout(10):
            store = await opener(tmp_path)
            await store.close()
            with pytest.raises(StoreError):
                await store.load(NOW)
            with pytest.raises(StoreError):
                await store.apply([PutBinding(binding())])
            await store.close()  # twice is harmless

    asyncio.run(main())
