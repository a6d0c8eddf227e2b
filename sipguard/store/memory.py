"""A location store kept in process memory: no persistence.

Rules of this file: the same semantics as the SQLite store (keys, atomic ``apply``,
expiry), so engine tests can use it in its place; a node configured without a state
directory uses it too. It never fails except after ``close``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sipguard.store.base import (
    Binding,
    BindingChange,
    DeleteAor,
    DeleteBinding,
    PutBinding,
    StoreError,
)

__all__ = ["MemoryLocationStore"]


class MemoryLocationStore:
    """Bindings in a dict keyed by (aor, contact)."""

    __slots__ = ("_bindings", "_closed")

    def __init__(self, bindings: Sequence[Binding] = ()) -> None:
        self._bindings: dict[tuple[str, str], Binding] = {(b.aor, b.contact): b for b in bindings}
        self._closed = False

    async def load(self, now: float) -> list[Binding]:
        """Every unexpired binding, ordered by (aor, contact)."""
        self._check_open()
        return [b for _, b in sorted(self._bindings.items()) if b.expires_at > now]

    async def apply(self, changes: Sequence[BindingChange]) -> None:
        """Apply ``changes`` in order (atomic: nothing here can fail half-way)."""
        self._check_open()
        for change in changes:
            match change:
                case PutBinding(binding):
                    self._bindings[binding.aor, binding.contact] = binding
                case DeleteBinding(aor, contact):
                    self._bindings.pop((aor, contact), None)
                case DeleteAor(aor):
                    for key in [k for k in self._bindings if k[0] == aor]:
                        del self._bindings[key]

    async def purge_expired(self, now: float) -> int:
        """Delete the bindings with ``expires_at <= now``; returns how many."""
        self._check_open()
        expired = [k for k, b in self._bindings.items() if b.expires_at <= now]
        for key in expired:
            del self._bindings[key]
        return len(expired)

    async def close(self) -> None:
        """Forget everything; later calls raise StoreError."""
        self._bindings.clear()
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the memory store is closed")
