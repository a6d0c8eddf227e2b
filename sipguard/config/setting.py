"""Validation rules attached to a section's fields: ``field = setting(default, ge=1, ...)``.

Rules of this file: a rule lives next to the field it constrains, as dataclass field
metadata under ``_SETTING``; a field without one gets ``_NO_SETTING`` (numbers >= 0,
strings non-empty). The converters (``convert.py``) read the rules; nothing here converts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sipguard.config.errors import KeyPath

_T = TypeVar("_T")

Converter = Callable[[object, KeyPath], object]
"""Turns a TOML value at a key path into its typed value, or raises ``_KeyValueError``."""


@dataclass(frozen=True, slots=True)
class Setting:
    """Validation attached to a dataclass field with ``setting(...)``."""

    ge: float | None = None
    """Numbers (also the items of an array of numbers) must be >= this; default 0."""
    gt: float | None = None
    """Numbers must be > this."""
    le: float | None = None
    """Numbers must be <= this."""
    choices: tuple[str, ...] = ()
    """A string must be one of these."""
    convert: Converter | None = None
    """Replaces the converter chosen by the field's type."""


_SETTING = "sipguard.setting"
_NO_SETTING = Setting()


def setting(  # noqa: PLR0913 -- keyword-only rules, one per Setting field
    default: _T,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    choices: tuple[str, ...] = (),
    convert: Converter | None = None,
) -> _T:
    """A dataclass field default carrying validation for the loader."""
    spec = Setting(ge=ge, gt=gt, le=le, choices=choices, convert=convert)
    return field(default=default, metadata={_SETTING: spec})
