"""Key and certificate files: where they are, how they are read back and written.

Rules of this file: the only module of ``sipguard.certs`` that writes to disk. Keys are
unencrypted PKCS#8 PEM, certificates PEM. Every file is written atomically: a temp file in
the same directory, created with its final mode (keys 0600, certificates 0644) and renamed
over the target, so a reader (or a reloading server) sees the old file or the new one,
never half of one, and a key is never readable by others, even for an instant. A
directory created here is 0700. Nothing here decides whether to replace a file: callers
run ``check_absent`` on every pair first unless told to force.

File names: ``ca.key``/``ca.crt``, ``server.key``/``server.crt`` and ``<name>.key``/
``<name>.crt`` for clients (``ca_paths``, ``server_paths``, ``client_paths``).
"""

from __future__ import annotations

import errno
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sipguard.certs.names import client_name

KEY_MODE = 0o600
CERT_MODE = 0o644
DIR_MODE = 0o700


class CertFileError(ValueError):
    """A key or certificate file that cannot be used (not PEM, or the key does not match)."""


@dataclass(frozen=True, slots=True)
class CertPaths:
    """Where a certificate and its private key are."""

    cert: Path
    key: Path


def ca_paths(directory: Path) -> CertPaths:
    """The CA's files in ``directory``."""
    return _paths(directory, "ca")


def server_paths(directory: Path) -> CertPaths:
    """The server certificate's files in ``directory``."""
    return _paths(directory, "server")


def client_paths(directory: Path, name: str) -> CertPaths:
    """The files of client ``name`` in ``directory``.

    Raises:
        ValueError: ``name`` is not a DNS-style name usable as a file name, or is
            ``ca``/``server``.
    """
    return _paths(directory, client_name(name))


def check_absent(*pairs: CertPaths) -> None:
    """Raise ``FileExistsError`` (naming the file) if any file of ``pairs`` exists."""
    for pair in pairs:
        for path in (pair.key, pair.cert):
            if path.exists() or path.is_symlink():
                raise FileExistsError(errno.EEXIST, "exists (use force to replace it)", str(path))


def load_pair(paths: CertPaths) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The PEM certificate and EC private key at ``paths``.

    Raises:
        OSError: a file cannot be read.
        CertFileError: a file is not PEM, or the key is not the certificate's EC key.
    """
    cert_data = paths.cert.read_bytes()
    key_data = paths.key.read_bytes()
    try:
        cert = x509.load_pem_x509_certificate(cert_data)
    except ValueError:
        raise CertFileError(f"{paths.cert}: not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_data, password=None)
    except (ValueError, TypeError):
        raise CertFileError(f"{paths.key}: not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise CertFileError(f"{paths.key}: not the EC key of {paths.cert}")
    return cert, key


def write_pair(paths: CertPaths, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    """Write the key (0600) then the certificate (0644), each atomically."""
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_atomic(paths.key, key_pem, KEY_MODE)
    _write_atomic(paths.cert, cert.public_bytes(serialization.Encoding.PEM), CERT_MODE)


def _paths(directory: Path, stem: str) -> CertPaths:
    return CertPaths(cert=directory / f"{stem}.crt", key=directory / f"{stem}.key")


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` through a temp file born with ``mode``; then rename."""
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(temp, flags, mode)
    try:
        with os.fdopen(fd, "wb") as file:
            # The umask may have taken bits away; set the exact mode before any byte is
            # written (this never widens a key beyond 0600).
            os.fchmod(file.fileno(), mode)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
