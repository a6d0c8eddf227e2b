"""The one configuration tree: typed, frozen sections built once from a TOML policy file.

Rules of this package: every section is a frozen dataclass with typed defaults and units in
seconds; the loader (``load_config``) refuses an unknown key or a bad value with one line
naming the file and the key; nothing downstream reads TOML or a dict.

Theory of operation: the embedded default policy is read, the operator's file overlays
it (tables merge key by key; arrays, including arrays of tables, are replaced whole),
and the merged tree is converted by walking the dataclass fields: each field's type
picks a converter (``_BY_TYPE`` for the special ones, then enums, tuples, nested
dataclasses and scalars), and ``setting(...)`` metadata adds bounds or choices. A new
section is a new dataclass and a field on ``Config``; nothing else changes.
Numbers are >= 0 and strings non-empty without control characters unless a field says
otherwise. Cross-field rules run last (``_CHECKS``).

Where things are, in import order (each module imports only those before it; ``checks.py``
names ``Config`` for the type checker only):
``errors.py`` (ConfigError, how keys and values are shown), ``setting.py`` (field rules),
``values.py`` (host names, addresses, URIs), ``sections.py`` (the section dataclasses),
``convert.py`` (field type -> converter), ``checks.py`` (cross-field rules) and
``load.py`` (``Config``, ``load_config``, ``default_policy_path``).
"""

from sipguard.config.errors import ConfigError
from sipguard.config.load import Config, default_policy_path, load_config
from sipguard.config.sections import (
    Algorithm,
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
from sipguard.config.setting import Setting, setting
from sipguard.sip.transports import TransportName

__all__ = [
    "Algorithm",
    "Config",
    "ConfigError",
    "DispatcherConfig",
    "DnsConfig",
    "ListenConfig",
    "LogConfig",
    "Mode",
    "RegistrarConfig",
    "ServerConfig",
    "Setting",
    "TlsConfig",
    "TopologyConfig",
    "TransportConfig",
    "TransportName",
    "UpstreamConfig",
    "WebSocketConfig",
    "default_policy_path",
    "load_config",
    "setting",
]
