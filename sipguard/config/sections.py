"""The sections of the policy: one frozen dataclass per TOML table, with typed defaults.

Rules of this file: every field has a default (or is required in its table), a type the
converters know (``convert.py``) and, where the generic rules are not enough, a
``setting(...)`` with bounds, choices or a converter of its own; times are in seconds
(``SECONDS``, ``MINUTES``, ``HOURS``). A docstring under each field says what it means.
The guard stages' sections live with their stage (``sipguard.guard.*``); the root,
``Config``, lives with the loader (``load.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sipguard.config.setting import setting
from sipguard.config.values import _hostname
from sipguard.sip import SipUri
from sipguard.sip.limits import DEFAULT_LIMITS, ParseLimits
from sipguard.sip.transports import TransportName

SECONDS = 1.0
MINUTES = 60 * SECONDS
HOURS = 60 * MINUTES
KIB = 1024


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
