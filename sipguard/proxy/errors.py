"""The proxy's typed refusals: each carries the response the engine sends back.

Rules of this file: a proxy step raises ``ProxyError`` (or a subclass) when RFC 3261
§16 tells it to answer as a UAS with an error (§16.3: "the element MUST behave as a
user agent server ... and respond with an error code"); ``engine.py`` alone turns it
into a response, with ``headers`` added (``Unsupported`` for a 420, for instance).
"""

from __future__ import annotations

from collections.abc import Iterable

from sipguard.sip import SipError, reason_phrase

__all__ = ["ProxyError", "TooManyHopsError"]


class ProxyError(SipError):
    """A request the proxy refuses: answer ``status`` ``reason`` plus ``headers``.

    ``reason`` defaults to the standard phrase of ``status``; ``headers`` are
    ``(name, value)`` pairs to add to the response, in order.

    Raises:
        ValueError: when ``status`` is not a final error status (300-699).
    """

    def __init__(
        self, status: int, reason: str | None = None, *, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        if not 300 <= status <= 699:
            raise ValueError(f"a proxy refusal needs a 3xx-6xx status, not {status}")
        super().__init__(status, reason if reason is not None else reason_phrase(status))
        self.headers: tuple[tuple[str, str], ...] = tuple(headers)


class TooManyHopsError(ProxyError):
    """Max-Forwards reached 0: 483, or, for OPTIONS, the element may answer itself.

    RFC 3261 §16.3 step 3: "If the request was for OPTIONS, the element MAY act as the
    final recipient and respond per Section 11." ``options`` says so; an engine that
    does not take up the offer just answers 483 like any other ``ProxyError``.
    """

    def __init__(self, *, options: bool) -> None:
        super().__init__(483)
        self.options = options
