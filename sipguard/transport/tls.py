"""TLS for stream connections: the contexts (what is accepted), the peer's identity, and
the per-source handshake budget.

Rules of this file:
- Every context sipguard makes comes from here: TLS 1.2 at least (1.3 preferred, and
  ``[tls] min_version = "1.3"`` for 1.3 only), forward-secret ECDHE suites with AEAD
  ciphers only (TLS 1.3 suites all are), no compression, no renegotiation.
- A server context asks for client certificates only when ``[tls] ca`` names the CA that
  signs them: "optional" lets a client without one in (untrusted), "required" refuses it
  at the handshake. A client context verifies the server (CA and host name) unless
  ``verify_upstreams`` is off.
- ``TlsSetup`` is what the listeners and outbound connections read at each new
  handshake; ``reload`` swaps in new contexts, so new handshakes use new certificates
  and connections already up stay as they are.
- Handshakes are the expensive part of a flood: ``HandshakeBudget`` is a token bucket per
  source IP, bounded in memory, consulted before a handshake starts.
"""

from __future__ import annotations

import contextlib
import ssl
from dataclasses import dataclass
from pathlib import Path

from sipguard.certs import peer_identity
from sipguard.config import TlsConfig
from sipguard.guard.buckets import TokenBuckets
from sipguard.sip.transports import TlsPeer

__all__ = [
    "FORWARD_SECRET_CIPHERS",
    "HandshakeBudget",
    "TlsSession",
    "TlsSetup",
    "client_context",
    "server_context",
    "tls_peer",
]

FORWARD_SECRET_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"  # noqa: S105 - a cipher list
"""TLS 1.2 suites: ephemeral ECDH key exchange (forward secrecy) with an AEAD cipher."""
MAX_HANDSHAKE_SOURCES = 65_536
"""Sources whose handshake budget is remembered at once (LRU)."""

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def _harden(context: ssl.SSLContext, config: TlsConfig) -> ssl.SSLContext:
    context.minimum_version = _VERSIONS[config.min_version]
    context.set_ciphers(FORWARD_SECRET_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    return context


def server_context(config: TlsConfig, cert: Path, key: Path) -> ssl.SSLContext:
    """The context of TLS listeners, serving ``cert``/``key``.

    Raises:
        OSError, ssl.SSLError: a file is missing or not PEM, or the key does not fit.
    """
    context = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), config)
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    context.load_cert_chain(cert, key)
    if config.ca is not None and config.verify_clients != "none":
        context.load_verify_locations(cafile=config.ca)
        required = config.verify_clients == "required"
        context.verify_mode = ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL
    return context


def client_context(config: TlsConfig, cert: Path | None, key: Path | None) -> ssl.SSLContext:
    """The context of outbound TLS (to upstreams and phones), presenting ``cert`` (mutual
    TLS towards an upstream that asks for it) when given.

    Raises:
        OSError, ssl.SSLError: a file is missing or not PEM.
    """
    context = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), config)
    if config.verify_upstreams:
        if config.ca is not None:
            context.load_verify_locations(cafile=config.ca)
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert is not None and key is not None:
        context.load_cert_chain(cert, key)
    return context


def tls_peer(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> TlsPeer | None:
    """The verified certificate the peer presented, or None (no certificate, or one that
    was not verified: only a verified certificate identifies anybody)."""
    if ssl_object is None or ssl_object.context.verify_mode == ssl.CERT_NONE:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    try:
        identity = peer_identity(der)
    except ValueError:
        return None
    return TlsPeer(identity.fingerprint, (*identity.dns_names, *identity.uris))


class TlsSession:
    """The server side of one TLS connection over memory buffers: ciphertext in, plaintext
    and ciphertext out. The same on every event loop, and the connection decides when
    the handshake starts (after its admission checks), not the loop."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self.ssl_object = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self.established = False
        """The handshake is done."""
        self.closed = False
        """The peer sent close_notify."""

    def receive(self, data: bytes) -> tuple[bytes, bytes]:
        """Feed ``data`` from the peer: (plaintext for us, ciphertext to send back).

        Raises:
            ssl.SSLError: the handshake failed (version, cipher, certificate) or a record
            is bad; the connection must go.
        """
        self._incoming.write(data)
        if not self.established:
            try:
                self.ssl_object.do_handshake()
            except ssl.SSLWantReadError:
                return b"", self._outgoing.read()
            self.established = True
        plain: list[bytes] = []
        while not self.closed:
            try:
                chunk = self.ssl_object.read(65_536)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.closed = True
                break
            if not chunk:  # SSLObject.read returns b"" for the peer's close_notify
                self.closed = True
                break
            plain.append(chunk)
        return b"".join(plain), self._outgoing.read()

    def send(self, data: bytes) -> bytes:
        """``data`` encrypted, to write to the peer."""
        self.ssl_object.write(data)
        return self._outgoing.read()

    def close(self) -> bytes:
        """Our close_notify, to write before closing (best effort)."""
        if self.established:
            with contextlib.suppress(ssl.SSLError):  # the peer's close_notify is not awaited
                self.ssl_object.unwrap()
        return self._outgoing.read()


class HandshakeBudget:
    """``rate`` handshakes per second per source IP, with a burst of twice that."""

    def __init__(self, rate: float, max_sources: int = MAX_HANDSHAKE_SOURCES) -> None:
        self.rate = rate
        self._buckets = TokenBuckets(max_sources)

    def allow(self, host: str, now: float) -> bool:
        """True (and one token taken) when ``host`` may start a handshake at ``now``."""
        if self.rate <= 0:
            return True
        if self._buckets.available(host, self.rate, 2 * self.rate, now) < 1:
            return False
        self._buckets.consume(host, 1, now)
        return True

    def __len__(self) -> int:
        return len(self._buckets)


@dataclass(slots=True)
class TlsSetup:
    """What TLS connections read at each new handshake (swapped whole on reload)."""

    server: ssl.SSLContext | None
    """None when there is no TLS listener."""
    client: ssl.SSLContext
    handshake_timeout: float
    budget: HandshakeBudget

    @classmethod
    def of(cls, config: TlsConfig, cert: Path | None, key: Path | None) -> TlsSetup:
        """Contexts for ``config``; ``cert``/``key`` are the files actually served (the
        configured ones, or the generated self-signed pair).

        Raises:
            OSError, ssl.SSLError: a certificate file cannot be used.
        """
        server = server_context(config, cert, key) if cert and key else None
        client = client_context(config, config.cert and cert, config.key and key)
        budget = HandshakeBudget(config.handshakes_per_source)
        return cls(server, client, config.handshake_timeout, budget)

    def reload(self, new: TlsSetup) -> None:
        """Take ``new``'s contexts for the handshakes to come (the budget stays)."""
        self.server, self.client = new.server, new.client
        self.handshake_timeout = new.handshake_timeout
        self.budget.rate = new.budget.rate
