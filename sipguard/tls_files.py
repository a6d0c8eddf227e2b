"""The TLS material a node serves: the files ``[tls]`` names, or a self-signed pair made
once in ``state_dir/certs`` when a TLS listener has none; and their change stamps, so a
renewed certificate (an ACME client replacing the files) is picked up without a restart.

Rules of this file: file I/O only at start and at reload; a file that cannot be used is
one ``TransportError`` line naming it and the key it came from.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

from sipguard.certs import fingerprint, read_certificates, self_signed
from sipguard.config import Config, TransportName
from sipguard.transport.base import TransportError
from sipguard.transport.tls import TlsSetup

__all__ = ["TlsFiles", "load_tls"]

log = logging.getLogger("sipguard.tls")

_SECURE = (TransportName.TLS, TransportName.WSS)


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The certificate and key in use, and what their files looked like when read."""

    cert: Path | None
    key: Path | None
    stamp: tuple[float, ...]
    """Modification times of cert, key and ca (-1: missing): a change means reload."""

    def changed(self, config: Config) -> bool:
        """True when a file differs from when it was read."""
        return _stamp(self.cert, self.key, config.tls.ca) != self.stamp


def load_tls(config: Config, *, announce: bool = True) -> tuple[TlsSetup, TlsFiles]:
    """The TLS contexts for ``config`` and the files behind them.

    Raises:
        TransportError: a file cannot be read or used (one line naming it).
    """
    cert, key = config.tls.cert, config.tls.key
    if (cert is None) != (key is None):
        raise TransportError("[tls] cert and key go together: set both or neither")
    if cert is None and any(listen.transport in _SECURE for listen in config.listen):
        cert, key = _self_signed(config, announce=announce)
    try:
        setup = TlsSetup.of(config.tls, cert, key)
    except (OSError, ssl.SSLError, ValueError) as exc:
        what = f"[tls] cert {cert} / key {key}" if cert else f"[tls] ca {config.tls.ca}"
        raise TransportError(f"{what}: {getattr(exc, 'strerror', None) or exc}") from None
    return setup, TlsFiles(cert, key, _stamp(cert, key, config.tls.ca))


def _self_signed(config: Config, *, announce: bool) -> tuple[Path, Path]:
    directory = config.server.state_dir / "certs"
    addresses = sorted({listen.host for listen in config.listen})
    domain = config.server.domain
    hostnames = [] if _is_ip(domain) else [domain]
    if _is_ip(domain):
        addresses = sorted({*addresses, domain})
    try:
        paths = self_signed(directory, hostnames=hostnames, addresses=addresses)
        thumbprint = fingerprint(read_certificates(paths.cert)[0])
    except (OSError, ValueError) as exc:
        raise TransportError(f"[tls] self-signed certificate in {directory}: {exc}") from None
    if announce:
        log.warning(
            "no [tls] cert configured: serving the self-signed certificate %s "
            "(fingerprint %s); clients must be told to trust it, or set [tls] cert and key",
            paths.cert,
            thumbprint,
        )
    return paths.cert, paths.key


def _stamp(*paths: Path | None) -> tuple[float, ...]:
    out = []
    for path in paths:
        try:
            out.append(path.stat().st_mtime if path is not None else -1.0)
        except OSError:
            out.append(-1.0)
    return tuple(out)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
