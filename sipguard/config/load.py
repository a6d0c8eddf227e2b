"""The root of the tree, ``Config``, and ``load_config``: default policy + overlay -> Config.

Rules of this file: the embedded default is read first and the operator's file overlays it
(tables merge key by key; arrays, including arrays of tables, are replaced whole); the
merged tree is converted (``convert.py``), then the cross-field checks run (``checks.py``).
Every failure leaves as one ``ConfigError`` naming the operator's file and the key.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sipguard.config.checks import _CHECKS
from sipguard.config.convert import _convert_table
from sipguard.config.errors import ConfigError, _KeyValueError, _render
from sipguard.config.sections import (
    DispatcherConfig,
    DnsConfig,
    ListenConfig,
    LogConfig,
    Mode,
    RegistrarConfig,
    ServerConfig,
    TlsConfig,
    TopologyConfig,
    TransportConfig,
    UpstreamConfig,
    WebSocketConfig,
)
from sipguard.guard.acl import AclPolicy
from sipguard.guard.auth import AuthPolicy
from sipguard.guard.fraud import FraudPolicy
from sipguard.guard.jail import JailPolicy
from sipguard.guard.ratelimit import RateLimitPolicy
from sipguard.guard.relay import RelayPolicy
from sipguard.guard.sanity import SanityPolicy
from sipguard.guard.scanner import ScannerPolicy
from sipguard.sip.timers import TimerConfig


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration of one sipguard process."""

    source: Path
    """The file it was read from (not a TOML key)."""
    server: ServerConfig = field(default_factory=ServerConfig)
    listen: tuple[ListenConfig, ...] = ()
    upstream: tuple[UpstreamConfig, ...] = ()
    dispatcher: DispatcherConfig = field(default_factory=DispatcherConfig)
    registrar: RegistrarConfig = field(default_factory=RegistrarConfig)
    transport: TransportConfig = field(default_factory=TransportConfig)
    timers: TimerConfig = field(default_factory=TimerConfig)
    dns: DnsConfig = field(default_factory=DnsConfig)
    log: LogConfig = field(default_factory=LogConfig)
    topology: TopologyConfig = field(default_factory=TopologyConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)
    websocket: WebSocketConfig = field(default_factory=WebSocketConfig)
    # The guard pipeline's stages, in the order they run (guard/pipeline.py), one
    # top-level table each: [sanity], [acl], [scanner], [ratelimit], [jail], [auth], [relay],
    # [fraud].
    sanity: SanityPolicy = field(default_factory=SanityPolicy)
    acl: AclPolicy = field(default_factory=AclPolicy)
    scanner: ScannerPolicy = field(default_factory=ScannerPolicy)
    ratelimit: RateLimitPolicy = field(default_factory=RateLimitPolicy)
    jail: JailPolicy = field(default_factory=JailPolicy)
    auth: AuthPolicy = field(default_factory=AuthPolicy)
    relay: RelayPolicy = field(default_factory=RelayPolicy)
    fraud: FraudPolicy = field(default_factory=FraudPolicy)

    @property
    def mode(self) -> Mode:
        """The routing mode in effect."""
        if self.server.mode is not None:
            return self.server.mode
        return Mode.EDGE if self.upstream else Mode.REGISTRAR


# --- loading -----------------------------------------------------------------------------

# The wheel carries policies/default.toml as sipguard/_policies/default.toml (pyproject's
# force-include); an editable install has none beside the sources: the source tree's copy.
_PACKAGED_DEFAULT = Path(__file__).parent.parent / "_policies" / "default.toml"
_SOURCE_DEFAULT = Path(__file__).resolve().parents[2] / "policies" / "default.toml"


def default_policy_path() -> Path:
    """The embedded default policy: the wheel's copy, else the source tree's (editable)."""
    return _PACKAGED_DEFAULT if _PACKAGED_DEFAULT.is_file() else _SOURCE_DEFAULT


def load_config(path: Path | None = None) -> Config:
    """Read the default policy, overlay ``path`` (if given) and build the Config.

    Raises:
        ConfigError: the file is missing or not TOML, or a key is unknown or its value
            wrong; the message names the operator's file (the default is valid by test).
    """
    default = default_policy_path()
    tree = _read_toml(default)
    source = default
    if path is not None:
        tree = _overlay(tree, _read_toml(path))
        source = path
    try:
        config = _convert_table(Config, tree, (), given={"source": source})
        for check in _CHECKS:
            check(config)
    except _KeyValueError as exc:
        raise ConfigError(str(source), _render(exc.path), exc.problem) from None
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), None, f"invalid TOML (not UTF-8: {exc.reason})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where, problem = _toml_position(str(exc))
        raise ConfigError(str(path), where, f"invalid TOML ({problem})") from None


def _toml_position(message: str) -> tuple[str | None, str]:
    m = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", message, re.DOTALL)
    if m:
        return f"line {m[2]}", f"{m[1]}, column {m[3]}"
    m = re.fullmatch(r"(.*) \(at end of document\)", message, re.DOTALL)
    if m:
        return "end of file", m[1]
    return None, message


def _overlay(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; anything else in ``top`` (arrays too) replaces ``base``'s."""
    merged = dict(base)
    for key, value in top.items():
        below = merged.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            merged[key] = _overlay(below, value)
        else:
            merged[key] = value
    return merged
