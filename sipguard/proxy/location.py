"""The location service: the in-memory index of bindings the proxy routes with.

Rules of this file:
- Sans-I/O: ``now`` is a parameter; the store behind this index is written by the
  caller (engine), never from here, so routing a call needs no await.
- The index is the runtime truth (Kamailio's usrloc model: memory with write-through);
  it is filled once from the store with ``load`` and changed only through ``apply``
  with the same ``BindingChange`` values the store persists, so both stay equal.
- An expired binding is invisible to ``bindings``/``lookup`` at once; ``expire`` removes
  it and returns the deletions for the store.

Theory of operation: bindings live in ``aor -> contact text -> Binding`` dicts. A heap of
``(expires_at, aor, contact)`` entries lets ``expire`` pop only what is due; an entry
made stale by a refresh or a removal is recognised (the binding it names is gone or
has another ``expires_at``) and dropped when it reaches the top. Phones refresh long
before expiry, so stale entries pile up; when they outnumber the live ones the heap is
rebuilt from the index (amortised O(1) per change).
"""

from __future__ import annotations

import heapq
import ipaddress
from collections.abc import Iterable

from sipguard.sip import SipUri
from sipguard.sip.grammar import unescape
from sipguard.store.base import Binding, BindingChange, DeleteAor, DeleteBinding, PutBinding

__all__ = ["Location", "aor_of", "by_preference", "host_key"]

# A binding registered without a q-value ranks as q=1.0, the top of the 0-1 range
# (RFC 3261 §20.10 leaves the default open; 1.0 is HTTP's and most registrars' reading).
_DEFAULT_Q = 1.0
# Stale heap entries tolerated beyond the live count before a rebuild.
_HEAP_SLACK = 64


def host_key(host: str) -> str:
    """``host`` in the form used to compare it: lower case, IPv6 compressed and
    bracketed, a trailing dot removed (RFC 3261 §19.1.4 host comparison, RFC 5954 §4.2)."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        return host.lower().rstrip(".")
    return f"[{ip.compressed}]" if ip.version == 6 else ip.compressed


def aor_of(uri: SipUri) -> str:
    """The canonical address-of-record of a sip/sips URI (RFC 3261 §10.3 step 5).

    ``sip:`` or ``sips:`` (never equivalent, §19.1.4), the user part unescaped, the
    host by ``host_key``. URI parameters (``user=phone`` included) and headers are
    removed as step 5 says; so are the password (deprecated by §19.1.1, never stored)
    and the port: only hosts we serve are indexed, so the port names our listener,
    not the user, and ``sip:alice@example.com:5060`` must find ``sip:alice@example.com``.
    """
    user = f"{unescape(uri.user)}@" if uri.user is not None else ""
    return f"{uri.scheme}:{user}{host_key(uri.host)}"


def by_preference(bindings: Iterable[Binding]) -> tuple[Binding, ...]:
    """``bindings`` with the highest q first, then the most recently updated (then by
    contact text, so the order never depends on insertion)."""
    return tuple(sorted(bindings, key=_rank))


def _rank(binding: Binding) -> tuple[float, float, str]:
    q = binding.q if binding.q is not None else _DEFAULT_Q
    return (-q, -binding.updated_at, binding.contact)


_FLOW_TRANSPORTS = ("ws:", "wss:")
"""Sources whose bindings live and die with their connection."""


class Location:
    """Bindings by address-of-record, in memory."""

    __slots__ = ("_aors", "_count", "_flows", "_heap")

    def __init__(self) -> None:
        self._aors: dict[str, dict[str, Binding]] = {}
        self._heap: list[tuple[float, str, str]] = []
        self._count = 0
        self._flows: dict[str, set[tuple[str, str]]] = {}
        """WebSocket sources -> the bindings registered over them (RFC 7118 flows)."""

    def load(self, bindings: Iterable[Binding]) -> None:
        """Add ``bindings`` (from ``LocationStore.load``), replacing equal keys."""
        for binding in bindings:
            self._put(binding)

    def bindings(self, aor: str, now: float) -> tuple[Binding, ...]:
        """Unexpired bindings of ``aor``, in the order they were first registered."""
        contacts = self._aors.get(aor)
        if not contacts:
            return ()
        return tuple(b for b in contacts.values() if b.expires_at > now)

    def lookup(self, aor: str, now: float) -> tuple[Binding, ...]:
        """Unexpired bindings of ``aor``: highest q first, then the most recently updated."""
        return by_preference(self.bindings(aor, now))

    def apply(self, changes: Iterable[BindingChange]) -> None:
        """Apply ``changes`` in order (the same values the store is given)."""
        for change in changes:
            match change:
                case PutBinding(binding):
                    self._put(binding)
                case DeleteBinding(aor, contact):
                    self._delete(aor, contact)
                case DeleteAor(aor):
                    for binding in self._aors.pop(aor, {}).values():
                        self._count -= 1
                        self._unflow(binding)

    def expire(self, now: float) -> list[BindingChange]:
        """Remove every binding with ``expires_at <= now``; returns their deletions."""
        removed: list[BindingChange] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            expires_at, aor, contact = heapq.heappop(heap)
            binding = self._aors.get(aor, {}).get(contact)
            if binding is not None and binding.expires_at == expires_at:
                self._delete(aor, contact)
                removed.append(DeleteBinding(aor, contact))
        return removed

    def flow_closed(self, source: str) -> list[BindingChange]:
        """The WebSocket connection ``source`` (``format_source``) closed: its bindings
        are unreachable now (a browser takes no new connections, RFC 7118 §5), so they
        go; returns their deletions."""
        removed: list[BindingChange] = []
        for aor, contact in sorted(self._flows.get(source, ())):
            self._delete(aor, contact)
            removed.append(DeleteBinding(aor, contact))
        return removed

    def count(self) -> int:
        """Bindings held, expired ones not yet removed by ``expire`` included."""
        return self._count

    def _put(self, binding: Binding) -> None:
        contacts = self._aors.setdefault(binding.aor, {})
        old = contacts.get(binding.contact)
        if old is None:
            self._count += 1
        else:
            self._unflow(old)
        contacts[binding.contact] = binding
        if binding.source.startswith(_FLOW_TRANSPORTS):
            self._flows.setdefault(binding.source, set()).add((binding.aor, binding.contact))
        heapq.heappush(self._heap, (binding.expires_at, binding.aor, binding.contact))
        if len(self._heap) > 2 * self._count + _HEAP_SLACK:
            self._heap = [
                (b.expires_at, b.aor, b.contact) for c in self._aors.values() for b in c.values()
            ]
            heapq.heapify(self._heap)

    def _delete(self, aor: str, contact: str) -> None:
        contacts = self._aors.get(aor)
        old = contacts.pop(contact, None) if contacts is not None else None
        if contacts is not None and old is not None:
            self._count -= 1
            self._unflow(old)
            if not contacts:
                del self._aors[aor]

    def _unflow(self, binding: Binding) -> None:
        keys = self._flows.get(binding.source)
        if keys is not None:
            keys.discard((binding.aor, binding.contact))
            if not keys:
                del self._flows[binding.source]
