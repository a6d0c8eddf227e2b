"""Header edits the proxy needs beyond ``Message``'s own: one list element changed.

Rules of this file: only the line holding the element is re-rendered; every other
line keeps its exact text and place (RFC 3261 §16.6 step 1: the copy SHOULD keep the
order of the header fields and MUST NOT reorder values of a common name). The result
is a new message; the input is never changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sipguard.sip import Request, Response
from sipguard.sip.fields import Field
from sipguard.sip.grammar import split_unquoted
from sipguard.sip.names import header_key

__all__ = ["insert_values", "replace_element"]

M = TypeVar("M", Request, Response)


def replace_element(message: M, name: str, position: int, value: str | None) -> M:
    """A copy of ``message`` whose ``position``-th element of header ``name`` (counted
    over all its lines, comma-separated; negative counts from the end) is ``value``,
    or is removed when ``value`` is None (its line goes when it held nothing else).

    Returns ``message`` itself when the header has no such element.
    """
    key = header_key(name) or name.lower()
    fields: list[Field] = [(f.key, f.name, f.value, f.raw) for f in message.fields]
    spots = [
        (i, j)
        for i, f in enumerate(fields)
        if f[0] == key
        for j, piece in enumerate(split_unquoted(f[2], ","))
        if piece.strip(" \t")
    ]
    if not -len(spots) <= position < len(spots):
        return message
    line, element = spots[position]
    f = fields[line]
    pieces = [p.strip(" \t") for p in split_unquoted(f[2], ",")]
    if value is None:
        del pieces[element]
    else:
        pieces[element] = value
    kept = [p for p in pieces if p]
    if kept:
        fields[line] = (f[0], f[1], ", ".join(kept), None)
    else:
        del fields[line]
    return _rebuild(message, fields)


def insert_values(message: M, name: str, values: Sequence[str], *, first: bool) -> M:
    """A copy of ``message`` with one new ``name`` line per value, in the given order:
    above the first ``name`` line (``first``) or below the last one; when ``message``
    has no ``name`` line, below the last Via line (so Via stays on top)."""
    if not values:
        return message
    key = header_key(name) or name.lower()
    fields: list[Field] = [(f.key, f.name, f.value, f.raw) for f in message.fields]
    lines = [i for i, f in enumerate(fields) if f[0] == key]
    at: int
    if lines:
        at = lines[0] if first else lines[-1] + 1
    else:
        vias = [i for i, f in enumerate(fields) if f[0] == "via"]
        at = vias[-1] + 1 if vias else 0
    new: list[Field] = [(key, name, value, None) for value in values]
    return _rebuild(message, [*fields[:at], *new, *fields[at:]])


def _rebuild(message: M, fields: list[Field]) -> M:
    if isinstance(message, Request):
        return Request(message.method, message.uri, fields, message.body, version=message.version)
    return Response(message.status, message.reason, fields, message.body, version=message.version)
