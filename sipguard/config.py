"""The one configuration tree: typed, frozen sections built once from a TOML policy file.

Rules of this file: every section is a frozen dataclass with typed defaults and units in
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
"""

from __future__ import annotations

import ipaddress
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass
from enum import Enum, StrEnum
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from sipguard.guard.acl import AclPolicy, ListenerAcl, ip_set
from sipguard.guard.auth import AuthPolicy
from sipguard.guard.fraud import FraudPolicy
from sipguard.guard.jail import JailPolicy
from sipguard.guard.ratelimit import RateLimitPolicy
from sipguard.guard.relay import RelayPolicy
from sipguard.guard.sanity import SanityPolicy
from sipguard.guard.scanner import ScannerPolicy
from sipguard.sip import SipParseError, SipUri, parse_uri
from sipguard.sip.limits import DEFAULT_LIMITS, ParseLimits
from sipguard.sip.timers import TimerConfig
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

SECONDS = 1.0
MINUTES = 60 * SECONDS
HOURS = 60 * MINUTES
KIB = 1024

_T = TypeVar("_T")
_E = TypeVar("_E", bound=Enum)
KeyPath = tuple[str | int, ...]
"""Where a value sits in the policy: ``("listen", 1, "address")`` is ``listen[1].address``."""
Converter = Callable[[object, KeyPath], object]
"""Turns a TOML value at a key path into its typed value, or raises ``_KeyValueError``."""


class ConfigError(Exception):
    """A policy file that cannot be used; ``str()`` is one line naming the file and the key."""

    def __init__(self, file: str, key: str | None, problem: str) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        where = f"{file}: {key}: " if key else f"{file}: "
        super().__init__(_one_line(where + problem))


class _KeyValueError(Exception):
    """Raised by converters, which know the key but not the file."""

    def __init__(self, path: KeyPath, problem: str) -> None:
        super().__init__(problem)
        self.path = path
        self.problem = problem


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


# Foreign sections (defined in sipguard.sip) cannot carry metadata: their rules live here.
_FOREIGN: dict[tuple[type, str], Setting] = {
    (ParseLimits, name): Setting(ge=1) for name in ParseLimits.__dataclass_fields__
}

# hostname = *( domainlabel "." ) toplabel [ "." ]  (RFC 3261 §25.1)
_HOSTNAME_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?\Z"
)


def _hostname(value: object, path: KeyPath) -> str:
    if isinstance(value, str) and (_HOSTNAME_RE.match(value) or _ip_or_none(value)):
        return value
    raise _KeyValueError(path, f"expected a host name or IP address, got {_show(value)}")


class Mode(StrEnum):
    """What the proxy does with a request the guards let through."""

    EDGE = "edge"
    """Forward everything to the upstream PBX set (the main use)."""
    REGISTRAR = "registrar"
    """Registrar here; calls between users registered here."""
    REDIRECT = "redirect"
    """Answer 302 with the registered Contacts (RFC 3261 §8.3)."""


class Algorithm(StrEnum):
    """How the dispatcher picks an upstream target."""

    PRIORITY = "priority"
    """The up target with the lowest priority number; the others in order on failure."""
    ROUND_ROBIN = "round-robin"
    """Rotate over the up targets of the best priority group."""
    WEIGHTED = "weighted"
    """Random over the up targets of the best priority group, in proportion to weight."""
    CALL_ID_HASH = "call-id-hash"
    """Hash of the Call-ID over the up targets of the best priority group (dialog stickiness)."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """``[server]``: who this server is and where its state lives."""

    domain: str = setting("localhost", convert=_hostname)
    """The local SIP domain; also the digest realm."""
    state_dir: Path = Path("sipguard-state")
    """Directory for the SQLite store; a relative path is relative to the working directory."""
    mode: Mode | None = None
    """None: edge when ``[[upstream]]`` tables exist, else registrar."""
    stateless: bool = False
    """Forward statelessly (RFC 3261 §16.11) instead of through transactions."""
    record_route: bool = True
    """Insert Record-Route (with ``lr``) so in-dialog requests come back through us."""
    server_name: str = "sipguard"
    """Value of the Server / User-Agent header on responses and requests we originate."""
    shutdown_grace: float = 32 * SECONDS
    """On SIGTERM, how long running transactions may take to finish."""


@dataclass(frozen=True, slots=True)
class ListenConfig:
    """One ``[[listen]]`` table: a transport on an address (TOML: ``address = "host:port"``)."""

    transport: TransportName
    host: str
    """An IP literal without brackets (``127.0.0.1``, ``::1``), in canonical form."""
    port: int
    """0 asks the OS for any free port (useful in tests)."""


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """One ``[[upstream]]`` table: a PBX the edge forwards to."""

    uri: SipUri
    """``sip:127.0.0.1:5070``, ``sip:pbx.example.com;transport=tcp``; a host name is
    resolved by RFC 3263. No user part, no URI headers."""
    priority: int = 1
    """Lower is preferred."""
    weight: int = setting(1, ge=1)
    """Share within its priority group (weighted algorithm)."""


@dataclass(frozen=True, slots=True)
class DispatcherConfig:
    """``[dispatcher]``: choosing and health-checking upstream targets."""

    algorithm: Algorithm = Algorithm.PRIORITY
    probe_interval: float = 10 * SECONDS
    """Seconds between OPTIONS probes to each target; 0 disables probing."""
    down_after: int = setting(2, ge=1)
    """Consecutive failed probes (or failed transactions) before a target is marked down."""
    up_after: int = setting(1, ge=1)
    """Consecutive answered probes before a down target is marked up again."""
    # 400..599 only: a 6xx means "do not try elsewhere" (RFC 3261 §21.6).
    failover_statuses: tuple[int, ...] = setting((408, 503), ge=400, le=599)
    """Final responses that make a transaction try the next target before answering."""


@dataclass(frozen=True, slots=True)
class RegistrarConfig:
    """``[registrar]``: REGISTER handling (RFC 3261 §10.3)."""

    min_expires: int = setting(60, ge=1)
    """Shorter non-zero requests get 423 Interval Too Brief with this Min-Expires."""
    max_expires: int = setting(3600, ge=1)
    """Longer requests are shortened to this."""
    default_expires: int = setting(3600, ge=1)
    """Used when neither the Contact nor the request says."""
    max_contacts: int = setting(10, ge=1)
    """Bindings per address-of-record; more are refused with 403."""


@dataclass(frozen=True, slots=True)
class TransportConfig:
    """``[transport]``: limits on connections and buffers."""

    tcp_idle_timeout: float = setting(10 * MINUTES, gt=0)
    """A stream connection with no traffic for this long is closed."""
    tcp_connect_timeout: float = setting(5 * SECONDS, gt=0)
    max_connections: int = setting(4096, ge=1)
    """Stream connections open at once, in and out."""
    max_connections_per_source: int = setting(32, ge=1)
    """Inbound stream connections from one IP address."""
    limits: ParseLimits = DEFAULT_LIMITS
    """Message size limits, for datagrams and the stream framer alike (``[transport.limits]``)."""


@dataclass(frozen=True, slots=True)
class DnsConfig:
    """``[dns]``: the resolver used for RFC 3263 look-ups."""

    servers: tuple[tuple[str, int], ...] = ()
    """(IP, port) of name servers; empty: the system's (/etc/resolv.conf).
    TOML: ``["127.0.0.1:5353", "::1", "[::1]:53"]``; the port defaults to 53."""
    timeout: float = setting(2 * SECONDS, gt=0)
    max_ttl: float = 1 * HOURS
    """Cached answers live for their TTL, at most this long."""


@dataclass(frozen=True, slots=True)
class LogConfig:
    """``[log]``: one line per event."""

    format: str = setting("text", choices=("text", "json"))
    """"text" or "json"."""
    level: str = setting("info", choices=("debug", "info", "warning", "error"))
    """debug, info, warning or error."""


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """``[tls]``: certificates and the rules of every TLS listener and outbound connection."""

    cert: Path | None = None
    """PEM certificate chain (leaf first); unset: a self-signed certificate is generated
    in ``state_dir/certs`` on first run (and logged)."""
    key: Path | None = None
    """PEM private key of ``cert`` (mode 0600)."""
    ca: Path | None = None
    """PEM CA bundle that signs client certificates (mutual TLS) and, when set, the
    upstreams' certificates; unset: upstreams are checked against the system's CAs."""
    verify_clients: str = setting("optional", choices=("none", "optional", "required"))
    """Ask TLS clients for a certificate signed by ``ca``: "none", "optional" (a client
    without one is untrusted but served) or "required" (refused at the handshake)."""
    min_version: str = setting("1.2", choices=("1.2", "1.3"))
    """The oldest TLS version accepted, in and out."""
    handshake_timeout: float = setting(10 * SECONDS, gt=0)
    """A handshake not finished by then is closed."""
    handshakes_per_source: float = 10.0
    """New TLS handshakes one source IP may start per second (burst: twice that);
    more connections are closed before the handshake. 0: no limit."""
    verify_upstreams: bool = True
    """Check the certificate and host name of upstreams reached over TLS."""


@dataclass(frozen=True, slots=True)
class WebSocketConfig:
    """``[websocket]``: every ws and wss listener (RFC 7118)."""

    allowed_origins: tuple[str, ...] = ()
    """Origins (``https://phone.example.com``) whose pages may connect; empty: any, and
    none (a non-browser client). A browser's Origin cannot be forged by its page."""
    max_message_size: int = setting(65_535, ge=1024)
    """Bytes of one SIP message (all its frames together); more closes with 1009."""
    ping_interval: float = setting(30 * SECONDS, gt=0)
    """A connection silent this long gets a WebSocket Ping (keep-alive through NATs)."""


@dataclass(frozen=True, slots=True)
class TopologyConfig:
    """``[topology]``: hide the inside's addresses from everything outside it
    (``proxy/topology.py``)."""

    hide: bool = False
    """Rewrite Via, Record-Route and Contact on messages sent outside ``inside``."""
    inside: tuple[str, ...] = ()
    """CIDRs of the hidden side (PBXs, inside proxies); empty: the IP addresses of the
    ``[[upstream]]`` URIs."""


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

_PACKAGED_DEFAULT = Path(__file__).parent / "_policies" / "default.toml"
_SOURCE_DEFAULT = Path(__file__).resolve().parent.parent / "policies" / "default.toml"


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


# --- conversion: field type -> converter -------------------------------------------------


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


# --- the special types: addresses and URIs -------------------------------------------------

_ADDRESS = 'expected "host:port" with an IP address (IPv6 in brackets)'


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


def _dns_server(value: object, path: KeyPath) -> tuple[str, int]:
    host, port = _host_port(value, path, 53)
    if not 1 <= port <= 65535:
        raise _KeyValueError(path, f"expected a port in 1..65535, got {_show(value)}")
    return host, port


def _host_port(value: object, path: KeyPath, default_port: int | None) -> tuple[str, int]:
    """``"192.0.2.1:5060"``, ``"[::1]:5060"``; with a default port also a bare IP."""
    expected = _ADDRESS if default_port is None else _ADDRESS.replace('"host:port"', '"IP[:port]"')
    if isinstance(value, str):
        bare = _ip_or_none(value)
        if bare is not None and default_port is not None:
            return bare, default_port
        m = re.fullmatch(r"\[([^\]]+)\]:([0-9]{1,5})|([^:\[\]]+):([0-9]{1,5})", value)
        if m is not None:
            host = _ip_or_none(m[1] or m[3])
            if host is not None and (m[1] is None or ":" in host):
                return host, int(m[2] or m[4])
    raise _KeyValueError(path, f"{expected}, got {_show(value)}")


def _ip_or_none(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _upstream_uri(value: object, path: KeyPath) -> SipUri:
    expected = "expected a sip: or sips: URI without user part or headers"
    try:
        uri = parse_uri(value) if isinstance(value, str) else None
    except SipParseError:
        uri = None
    if not isinstance(uri, SipUri) or uri.user is not None or uri.headers:
        raise _KeyValueError(path, f"{expected}, got {_show(value)}")
    if uri.port == 0:
        raise _KeyValueError(path, f"expected a port in 1..65535, got {_show(value)}")
    allowed = [t.value for t in TransportName]
    if uri.transport is not None and uri.transport not in allowed:
        problem = f"expected ;transport= one of {_choices(allowed)}, got {_show(uri.transport)}"
        raise _KeyValueError(path, problem)
    return uri


def _listener_acls(value: object, path: KeyPath) -> Mapping[str, ListenerAcl]:
    # [acl.listeners."udp"] or [acl.listeners."udp:192.0.2.10:5060"]: per-listener overrides.
    if not isinstance(value, dict):
        raise _KeyValueError(path, f"expected a table, got {_show(value)}")
    return {key: _convert_table(ListenerAcl, item, (*path, key)) for key, item in value.items()}


def _named_patterns(value: object, path: KeyPath) -> tuple[tuple[str, str], ...]:
    # [fraud.destinations]: name = "regular expression", in the order written.
    if not isinstance(value, dict):
        raise _KeyValueError(path, f"expected a table, got {_show(value)}")
    out = []
    for name, pattern in value.items():
        if not isinstance(pattern, str):
            raise _KeyValueError((*path, name), f"expected a string, got {_show(pattern)}")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise _KeyValueError((*path, name), f"invalid regular expression: {exc}") from None
        out.append((name, pattern))
    return tuple(out)


_BY_TYPE: dict[Any, Converter] = {
    tuple[tuple[str, str], ...]: _named_patterns,
    Mapping[str, ListenerAcl]: _listener_acls,
    ListenConfig: _listen,
    SipUri: _upstream_uri,
    tuple[str, int]: _dns_server,
}


# --- cross-field rules ---------------------------------------------------------------------


def _check_listeners(config: Config) -> None:
    if not config.listen:
        raise _KeyValueError(("listen",), "expected at least one [[listen]] table, got []")
    seen: dict[tuple[TransportName, str, int], int] = {}
    for i, item in enumerate(config.listen):
        key = (item.transport, item.host, item.port)
        if item.port != 0 and key in seen:  # port 0: each gets its own free port
            what = f"{item.transport} {_address(item.host, item.port)}"
            raise _KeyValueError(
                ("listen", i), f"duplicate listener {what} (as listen[{seen[key]}])"
            )
        seen.setdefault(key, i)


def _check_upstream(config: Config) -> None:
    if config.mode is Mode.EDGE and not config.upstream:
        raise _KeyValueError(
            ("upstream",), "expected at least one [[upstream]] in edge mode, got []"
        )


def _check_expiries(config: Config) -> None:
    reg = config.registrar
    if reg.max_expires < reg.min_expires:
        problem = f"expected >= registrar.min_expires ({reg.min_expires}), got {reg.max_expires}"
        raise _KeyValueError(("registrar", "max_expires"), problem)
    if not reg.min_expires <= reg.default_expires <= reg.max_expires:
        span = f"{reg.min_expires}..{reg.max_expires}"
        problem = f"expected within min_expires..max_expires ({span}), got {reg.default_expires}"
        raise _KeyValueError(("registrar", "default_expires"), problem)


def _check_cidrs(config: Config) -> None:
    # Every CIDR list, checked where it is written: a typo there would open or shut a door.
    lists: list[tuple[KeyPath, tuple[str, ...]]] = [
        (("acl", name), getattr(config.acl, name)) for name in ("allow", "deny", "trusted")
    ]
    lists.append((("jail", "ignore"), config.jail.ignore))
    lists.append((("topology", "inside"), config.topology.inside))
    lists += [
        (("acl", "listeners", key, "allow"), item.allow)
        for key, item in config.acl.listeners.items()
        if item.allow is not None
    ]
    for path, entries in lists:
        for i, entry in enumerate(entries):
            try:
                ip_set([entry], _render(path))
            except ValueError:
                problem = f"expected an IP address or CIDR (no host bits set), got {entry!r}"
                raise _KeyValueError((*path, i), problem) from None


def _check_topology(config: Config) -> None:
    # Hiding needs us on the dialog's path (Record-Route) and something to hide.
    if not config.topology.hide:
        return
    if not config.server.record_route:
        raise _KeyValueError(("topology", "hide"), "needs server.record_route = true")
    if not config.topology.inside and not any(
        _ip_or_none(up.uri.host_bare) for up in config.upstream
    ):
        problem = "expected CIDRs of the hidden side (no [[upstream]] has an IP address), got []"
        raise _KeyValueError(("topology", "inside"), problem)


def _check_tls(config: Config) -> None:
    tls = config.tls
    if (tls.cert is None) != (tls.key is None):
        missing = "key" if tls.key is None else "cert"
        raise _KeyValueError(("tls", missing), "cert and key go together: set both or neither")
    if tls.verify_clients == "required" and tls.ca is None:
        raise _KeyValueError(("tls", "ca"), 'needed for verify_clients = "required"')


_CHECKS: tuple[Callable[[Config], None], ...] = (
    _check_listeners,
    _check_upstream,
    _check_expiries,
    _check_cidrs,
    _check_topology,
    _check_tls,
)


# --- rendering -----------------------------------------------------------------------------


def _render(path: KeyPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else _quote(part)
            out += f".{key}" if out else key
    return out


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _quote(text: str) -> str:
    return '"' + text.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def _choices(values: list[str] | tuple[str, ...]) -> str:
    return ", ".join(f'"{v}"' for v in values)


def _num(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")
