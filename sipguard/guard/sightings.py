"""What each source asked for recently: the memory behind scanner-behaviour detection.

Theory of operation: a source (an IP literal, or an IPv6 prefix) maps to the things it
asked for (users), each with the last time it was seen. ``distinct`` counts the ones
seen within the window; ``see`` records one. Time is a parameter (monotonic seconds).

Rules of this file: bounded in memory whatever the input: at most ``max_sources``
sources (the least recently seen is forgotten first, so a flood of spoofed addresses
evicts only itself and older quiet sources) and at most ``max_per_source`` things per
source (the oldest forgotten first). ``distinct`` never changes anything; ``see`` is
the write side the pipeline calls when it applies a ``Sighting`` effect. It satisfies
``sipguard.guard.state.Sightings`` structurally.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["SightingTable"]


class SightingTable:
    """Distinct things per source within a sliding window, in bounded memory.

    ``window`` is in seconds. A count can never exceed ``max_per_source``: keep it
    above the largest threshold a stage compares ``distinct`` with.
    """

    __slots__ = ("_sources", "max_per_source", "max_sources", "window")

    def __init__(self, window: float, max_sources: int, max_per_source: int) -> None:
        if window <= 0:
            raise ValueError(f"window must be positive seconds, not {window!r}")
        if max_sources < 1 or max_per_source < 1:
            raise ValueError("max_sources and max_per_source must be at least 1")
        self.window = window
        self.max_sources = max_sources
        self.max_per_source = max_per_source
        # source -> (what -> last seen); both ordered oldest first.
        self._sources: OrderedDict[str, OrderedDict[str, float]] = OrderedDict()

    def __len__(self) -> int:
        """How many sources are remembered (never more than ``max_sources``)."""
        return len(self._sources)

    def entries(self) -> int:
        """How many (source, what) pairs are remembered, in total."""
        return sum(len(seen) for seen in self._sources.values())

    def distinct(self, source: str, now: float) -> int:
        """How many distinct things ``source`` asked for within the window before ``now``."""
        seen = self._sources.get(source)
        if not seen:
            return 0
        horizon = now - self.window
        count = 0
        # Newest last: walk back until the first one outside the window.
        for when in reversed(seen.values()):
            if when <= horizon:
                break
            count += 1
        return count

    def see(self, source: str, what: str, now: float) -> None:
        """Record that ``source`` asked for ``what`` at ``now``."""
        seen = self._sources.get(source)
        if seen is None:
            seen = self._sources[source] = OrderedDict()
        else:
            self._sources.move_to_end(source)
        seen[what] = now
        seen.move_to_end(what)
        self._expire(seen, now)
        while len(seen) > self.max_per_source:
            seen.popitem(last=False)
        while len(self._sources) > self.max_sources:
            self._sources.popitem(last=False)

    def _expire(self, seen: OrderedDict[str, float], now: float) -> None:
        # Entries outside the window count for nothing: free them as we pass by.
        horizon = now - self.window
        while seen:
            first = next(iter(seen.values()))
            if first > horizon:
                break
            seen.popitem(last=False)
