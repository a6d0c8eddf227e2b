"""Typed SIP errors: each carries the answer a server should give.

Rules of this file: the parser and the transaction layer raise only these; the
engine alone turns them into responses (or silent drops when the message held too
little to answer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sipguard.sip.message import Request

__all__ = ["SipError", "SipParseError", "TransactionStateError"]


class SipError(Exception):
    """A SIP-level failure with the status and reason phrase to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


class SipParseError(SipError):
    """Bytes that are not a valid SIP message (or a header that is not valid).

    ``partial`` holds the request as far as it could be read when it held enough
    (a readable top Via; From, To, Call-ID and CSeq present) to build a response; it
    is ``None`` otherwise (and always for responses, which are never answered), in
    which case the only sane reaction is a silent drop.
    """

    def __init__(self, status: int, reason: str, partial: Request | None = None) -> None:
        super().__init__(status, reason)
        self.partial = partial

    @property
    def answerable(self) -> bool:
        """True when ``partial`` holds a request a response can be built for."""
        return self.partial is not None


class TransactionStateError(SipError):
    """An input a transaction cannot take in its current state.

    Either the caller misused the machine (a second ``start``, a response from the TU
    after the final one) or a message arrived that the RFC gives no meaning in this
    state (an ACK before any final response). The transaction is left exactly as it
    was; ``detail`` says what happened. Answering with 500 is only right when the
    input was a request from the network.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(500, "Server Internal Error")
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.status} {self.reason}: {self.detail}"
