"""Header fields as the parser stores them, and their index by key.

A field is a plain tuple ``(key, name, value, raw)``: the lower-case long name, the
name as written, the unfolded value, and the exact line (``None`` once the field was
changed). Building a NamedTuple per line would cost more than reading the line, so
``HeaderField`` is only what the public ``Message.fields`` hands out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from sipguard.sip.names import header_key

__all__ = ["Field", "HeaderField", "fields_from", "index_fields"]

Field = tuple[str, str, str, "str | None"]


class HeaderField(NamedTuple):
    """One header line: its key (lower-case long name), name as written, value, raw line."""

    key: str
    name: str
    value: str
    raw: str | None


def index_fields(fields: Iterable[Field]) -> dict[str, list[int]]:
    """Key -> positions of its lines, in order."""
    index: dict[str, list[int]] = {}
    for i, f in enumerate(fields):
        index.setdefault(f[0], []).append(i)
    return index


def fields_from(headers: Iterable[tuple[str, str]]) -> list[Field]:
    """Fields for (name, value) pairs written by code rather than read off the wire."""
    return [(header_key(name) or name.lower(), name, value, None) for name, value in headers]
