"""Conversion of the merged TOML tree into typed sections, driven by the field types.

Rules of this file: ``_convert`` picks a converter from the field's type: the field's own
``setting(convert=...)``, then ``_BY_TYPE``, then tuples (arrays), nested dataclasses
(tables), enums and the scalars of ``_SCALARS``; a type with none is a bug (``TypeError``).
A table refuses an unknown key and a missing required one; numbers are >= 0 and strings
non-empty without control characters unless the field's ``Setting`` says otherwise.
Every refusal is a ``_KeyValueError`` carrying the key path.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, fields, is_dataclass
from enum import Enum
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from sipguard.config.errors import (
    KeyPath,
    _choices,
    _has_control,
    _KeyValueError,
    _num,
    _render,
    _show,
)
from sipguard.config.sections import ListenConfig
from sipguard.config.setting import _NO_SETTING, _SETTING, Converter, Setting
from sipguard.config.values import _dns_server, _host_port, _named_patterns, _upstream_uri
from sipguard.guard.acl import ListenerAcl
from sipguard.sip import SipUri
from sipguard.sip.limits import ParseLimits
from sipguard.sip.transports import TransportName

_T = TypeVar("_T")
_E = TypeVar("_E", bound=Enum)

# Foreign sections (defined in sipguard.sip) cannot carry metadata: their rules live here.
_FOREIGN: dict[tuple[type, str], Setting] = {
    (ParseLimits, name): Setting(ge=1) for name in ParseLimits.__dataclass_fields__
}


def _convert(hint: Any, value: object, path: KeyPath, spec: Setting) -> object:
    if get_origin(hint) in (Union, UnionType):  # X | None: TOML has no null; absent is None
        (hint,) = (arg for arg in get_args(hint) if arg is not NoneType)
    special = spec.convert or _BY_TYPE.get(hint)
    if special is not None:
        return special(value, path)
    if get_origin(hint) is tuple:
        return _convert_array(get_args(hint)[0], value, path, spec)
    if isinstance(hint, type) and is_dataclass(hint):
        return _convert_table(hint, value, path)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return _convert_enum(hint, value, path)
    if hint not in _SCALARS:
        raise TypeError(f"config: no converter for {hint!r} at {_render(path)}")
    return _SCALARS[hint](value, path, spec)


def _convert_table(
    cls: type[_T], value: object, path: KeyPath, given: Mapping[str, object] | None = None
) -> _T:
    given = given or {}
    entries = [f for f in fields(cls) if f.name not in given]  # type: ignore[arg-type]
    table = _expect_table(value, path, [f.name for f in entries])
    hints = get_type_hints(cls)
    kwargs = dict(given)
    for f in entries:
        if f.name in table:
            spec = f.metadata.get(_SETTING) or _FOREIGN.get((cls, f.name), _NO_SETTING)
            kwargs[f.name] = _convert(hints[f.name], table[f.name], (*path, f.name), spec)
        elif _is_required(f):
            raise _KeyValueError((*path, f.name), "required key missing")
    return _build(cls, kwargs, path)


def _expect_table(value: object, path: KeyPath, known: list[str]) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise _KeyValueError(path, f"expected a table, got {_show(value)}")
    for key in value:
        if key not in known:
            raise _KeyValueError((*path, key), f"unknown key (known: {', '.join(known)})")
    return value


def _is_required(f: Field[Any]) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def _build(cls: type[_T], kwargs: dict[str, object], path: KeyPath) -> _T:
    try:
        return cls(**kwargs)
    except ValueError as exc:  # a section's own __post_init__ check (TimerConfig)
        text = str(exc)
        named = [(text.find(k), k) for k in kwargs if re.search(rf"\b{re.escape(k)}\b", text)]
        key = min(named)[1] if named else None
        raise _KeyValueError((*path, key) if key else path, text) from None


def _convert_array(item: Any, value: object, path: KeyPath, spec: Setting) -> tuple[object, ...]:
    if not isinstance(value, list):
        raise _KeyValueError(path, f"expected an array, got {_show(value)}")
    return tuple(_convert(item, v, (*path, i), spec) for i, v in enumerate(value))


def _convert_enum(cls: type[_E], value: object, path: KeyPath) -> _E:
    allowed = [member.value for member in cls]
    if isinstance(value, str) and value in allowed:
        return cls(value)
    raise _KeyValueError(path, f"expected one of {_choices(allowed)}, got {_show(value)}")


def _str(value: object, path: KeyPath, spec: Setting) -> str:
    if spec.choices:
        if isinstance(value, str) and value in spec.choices:
            return value
        raise _KeyValueError(path, f"expected one of {_choices(spec.choices)}, got {_show(value)}")
    if not isinstance(value, str) or not value or _has_control(value):
        raise _KeyValueError(path, f"expected a non-empty string, got {_show(value)}")
    return value


def _path(value: object, path: KeyPath, spec: Setting) -> Path:
    return Path(_str(value, path, spec))


def _bool(value: object, path: KeyPath, spec: Setting) -> bool:
    if not isinstance(value, bool):
        raise _KeyValueError(path, f"expected true or false, got {_show(value)}")
    return value


def _int(value: object, path: KeyPath, spec: Setting) -> int:
    # bool is an int subclass in Python but not in TOML.
    if type(value) is not int or not _in_bounds(value, spec):
        raise _KeyValueError(path, f"expected an integer{_bounds_text(spec)}, got {_show(value)}")
    return value


def _float(value: object, path: KeyPath, spec: Setting) -> float:
    ok = type(value) in (int, float) and math.isfinite(value)  # type: ignore[arg-type]
    if not ok or not _in_bounds(value, spec):  # type: ignore[arg-type]
        raise _KeyValueError(path, f"expected a number{_bounds_text(spec)}, got {_show(value)}")
    return float(value)  # type: ignore[arg-type]


_SCALARS: dict[Any, Callable[[object, KeyPath, Setting], object]] = {
    str: _str,
    Path: _path,
    bool: _bool,
    int: _int,
    float: _float,
}


def _in_bounds(number: float, spec: Setting) -> bool:
    ge = 0 if spec.ge is None and spec.gt is None else spec.ge
    return not (
        (ge is not None and number < ge)
        or (spec.gt is not None and number <= spec.gt)
        or (spec.le is not None and number > spec.le)
    )


def _bounds_text(spec: Setting) -> str:
    ge = 0 if spec.ge is None and spec.gt is None else spec.ge
    if ge is not None and spec.le is not None:
        return f" in {_num(ge)}..{_num(spec.le)}"
    low = f" >= {_num(ge)}" if ge is not None else f" > {_num(spec.gt or 0)}"
    return low + (f" and <= {_num(spec.le)}" if spec.le is not None else "")


# --- the special types that need the converters above ------------------------------------


def _listen(value: object, path: KeyPath) -> ListenConfig:
    table = _expect_table(value, path, ["transport", "address"])
    for key in ("transport", "address"):
        if key not in table:
            raise _KeyValueError((*path, key), "required key missing")
    transport = _convert_enum(TransportName, table["transport"], (*path, "transport"))
    host, port = _host_port(table["address"], (*path, "address"), None)
    if not 0 <= port <= 65535:
        problem = f"expected a port in 0..65535, got {_show(table['address'])}"
        raise _KeyValueError((*path, "address"), problem)
    if ipaddress.ip_address(host).is_unspecified:
        # Our Via and Record-Route carry the listener's address: 0.0.0.0 or :: there
        # would tell peers nothing they can reach, so each address is listed on its own.
        problem = f"expected a specific IP address (not a wildcard), got {_show(table['address'])}"
        raise _KeyValueError((*path, "address"), problem)
    return ListenConfig(transport, host, port)


def _listener_acls(value: object, path: KeyPath) -> Mapping[str, ListenerAcl]:
    # [acl.listeners."udp"] or [acl.listeners."udp:192.0.2.10:5060"]: per-listener overrides.
    if not isinstance(value, dict):
        raise _KeyValueError(path, f"expected a table, got {_show(value)}")
    return {key: _convert_table(ListenerAcl, item, (*path, key)) for key, item in value.items()}


_BY_TYPE: dict[Any, Converter] = {
    tuple[tuple[str, str], ...]: _named_patterns,
    Mapping[str, ListenerAcl]: _listener_acls,
    ListenConfig: _listen,
    SipUri: _upstream_uri,
    tuple[str, int]: _dns_server,
}
