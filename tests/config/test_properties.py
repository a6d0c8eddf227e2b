"""Property: any TOML document built from the known keys, with values of any type,
loads to a Config or raises ConfigError with one line naming the file; nothing else."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sipguard.config import Config, ConfigError, load_config
from sipguard.sip.limits import ParseLimits

_TABLES = {
    f.name: [k.name for k in dataclasses.fields(type(getattr(Config(Path("x")), f.name)))]
    for f in dataclasses.fields(Config)
    if f.name not in ("source", "listen", "upstream")
}
_ARRAYS = {"listen": ["transport", "address"], "upstream": ["uri", "priority", "weight"]}
# Plausible values get the loader past the type checks into the deeper rules.
_PLAUSIBLE = ["udp", "tcp", "edge", "registrar", "127.0.0.1:5060", "[::1]:0", "sip:192.0.2.1",
              "sip:a@b", "json", "debug", "localhost", "priority", "::1"]  # fmt: skip

_text = st.text(st.characters(codec="utf-8"), max_size=12)
_scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, 1, 53, 5060, 65536, 400, 603]),
    st.floats(),
    st.booleans(),
    _text,
    st.sampled_from(_PLAUSIBLE),
    st.dates(),
    st.datetimes(),
    st.times(),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)


def _table(keys: list[str]) -> st.SearchStrategy[dict[str, object]]:
    return st.dictionaries(st.sampled_from([*keys, "bogus"]), _values, max_size=len(keys) + 1)


def _section(name: str) -> st.SearchStrategy[object]:
    if name in _ARRAYS:
        return st.lists(_table(_ARRAYS[name]), max_size=3) | _values
    if name not in _TABLES:
        return _values
    table = _table(_TABLES[name])
    if name == "transport":
        limits = _table([f.name for f in dataclasses.fields(ParseLimits)])
        table = st.builds(lambda t, lim: {**t, "limits": lim}, table, limits) | table
    return table | _values


_documents = st.fixed_dictionaries(
    {}, optional={name: _section(name) for name in [*_TABLES, *_ARRAYS, "bogus"]}
)


def _toml_value(value: object) -> str:
    """A TOML rendering of ``value`` (inline tables and arrays only)."""
    for kind, render in _RENDERERS:
        if isinstance(value, kind):
            return render(value)
    raise AssertionError(f"no TOML rendering for {value!r}")


def _toml_float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)


def _toml_string(value: str) -> str:
    # JSON string escapes are TOML basic-string escapes; TOML also wants DEL escaped.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_table(value: dict[object, object]) -> str:
    pairs = (f"{_toml_string(str(k))} = {_toml_value(v)}" for k, v in value.items())
    return "{" + ", ".join(pairs) + "}"


_RENDERERS: tuple[tuple[type | tuple[type, ...], Callable[[Any], str]], ...] = (
    (bool, lambda v: "true" if v else "false"),  # before int: bool is an int subclass
    (float, _toml_float),
    (int, str),
    (str, _toml_string),
    ((datetime.date, datetime.time), lambda v: v.isoformat()),
    (list, lambda v: "[" + ", ".join(_toml_value(item) for item in v) + "]"),
    (dict, _toml_table),
)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=_documents)
def test_any_document_gives_a_config_or_one_config_error(
    tmp_path: Path, document: dict[str, object]
) -> None:
    text = "".join(f"{key} = {_toml_value(value)}\n" for key, value in document.items())
    tomllib.loads(text)  # the generator writes valid TOML: the loader sees typed values
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    try:
        config = load_config(path)
    except ConfigError as exc:
        message = str(exc)
        event("ConfigError")
        assert message.startswith(f"{path}: ")
        assert "\n" not in message
        assert "\r" not in message
    else:
        event("Config")
        assert config.listen
        assert config.source == path
