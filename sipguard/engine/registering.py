"""REGISTERs waiting for their binding changes to be written: visible and answered only then.

RFC 3261 §10.3 step 7: "The binding updates MUST be committed (that is, made visible to the
proxy or redirect server) if and only if all binding updates and additions succeed. If any
one of them fails (for example, because the back-end database commit failed), the request
MUST fail with a 500 (Server Error) response and all tentative binding updates MUST be
removed." So the engine asks for a ``Persist`` carrying a token, holds the REGISTER here,
and applies the changes to the location index (and sends the 200) only when
``Engine.persisted`` says the store wrote them; a failed write gets a 500 and changes
nothing.

Rules of this file: values and a bounded table; no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipguard.proxy.events import Hop
from sipguard.sip import Request, Response
from sipguard.store.base import BindingChange

__all__ = ["MAX_PENDING_REGISTERS", "PendingRegister", "PendingRegisters"]

MAX_PENDING_REGISTERS = 4096
"""REGISTERs waiting for the store at once; past it a REGISTER gets 500 (the store lags)."""


@dataclass(frozen=True, slots=True)
class PendingRegister:
    """One REGISTER whose changes are being written."""

    context: int | None  # the server transaction, None when answered statelessly
    source: Hop
    request: Request
    response: Response  # the 200 to send once written (its Contacts include the changes)
    changes: tuple[BindingChange, ...]


class PendingRegisters:
    """Token -> the REGISTER waiting for that ``Persist``."""

    def __init__(self, limit: int = MAX_PENDING_REGISTERS) -> None:
        self._held: dict[int, PendingRegister] = {}
        self._limit = limit

    def hold(self, token: int, pending: PendingRegister) -> bool:
        """Keep ``pending`` until ``settle(token)``; False (kept nothing) when full."""
        if len(self._held) >= self._limit:
            return False
        self._held[token] = pending
        return True

    def settle(self, token: int) -> PendingRegister | None:
        """The REGISTER waiting for ``token``, no longer held (None: unknown or settled)."""
        return self._held.pop(token, None)

    def __len__(self) -> int:
        return len(self._held)
