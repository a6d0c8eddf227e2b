"""Certificates for TLS and mutual TLS: a private CA, server and client certificates,
a self-signed fallback, and the identity of a peer's certificate.

Rules of this file: a library (no argparse, no printing, no logging). Keys are EC P-256,
written as unencrypted PKCS#8 PEM; certificates are PEM and signed with ECDSA-SHA256.
Every file is written atomically: a temp file in the same directory, created with its
final mode (keys 0600, certificates 0644) and renamed over the target, so a reader (or a
reloading server) sees the old file or the new one, never half of one, and a key is never
readable by others, even for an instant. An existing key or certificate is never
replaced unless ``force=True``; the check covers both files before either is written.
A directory created here is 0700.

File names: ``ca.key``/``ca.crt``, ``server.key``/``server.crt`` and ``<name>.key``/
``<name>.crt`` for clients (``ca_paths``, ``server_paths``, ``client_paths``).

``now`` parameters exist for tests (backdated or expired certificates); callers leave
them unset and the current UTC time is used.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CertFileError",
    "CertPaths",
    "CertSummary",
    "PeerIdentity",
    "ca_paths",
    "check_absent",
    "check_server_names",
    "client_paths",
    "create_ca",
    "fingerprint",
    "issue_client",
    "issue_server",
    "peer_identity",
    "read_certificates",
    "self_signed",
    "server_paths",
    "summary",
]

KEY_MODE = 0o600
CERT_MODE = 0o644
DIR_MODE = 0o700
CLOCK_SKEW = timedelta(minutes=5)
"""Certificates start this long before they are made, for peers whose clocks are behind."""
_MAX_CN = 64  # RFC 5280 ub-common-name

# A client name is a file name and a DNS SAN: dot-separated LDH labels (RFC 1035 §2.3.1).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_NAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# Server host names may also be a wildcard ("*.example.com", RFC 6125 §6.4.3).
_HOST_RE = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*")
_RESERVED = frozenset({"ca", "server"})  # a client named so would replace those files


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
    return _paths(directory, _client_name(name))


def check_absent(*pairs: CertPaths) -> None:
    """Raise ``FileExistsError`` (naming the file) if any file of ``pairs`` exists."""
    for pair in pairs:
        for path in (pair.key, pair.cert):
            if path.exists() or path.is_symlink():
                raise FileExistsError(errno.EEXIST, "exists (use force to replace it)", str(path))


def check_server_names(hostnames: Sequence[str], addresses: Sequence[str]) -> None:
    """Check names for ``issue_server``/``self_signed`` before anything is written.

    Raises:
        ValueError: a bad host name or address, or neither given.
    """
    _server_sans(hostnames, addresses)


def create_ca(
    directory: Path,
    common_name: str,
    *,
    days: int = 3650,
    force: bool = False,
    now: datetime | None = None,
) -> CertPaths:
    """Create a private CA (``ca.key``, ``ca.crt``) in ``directory``.

    The CA signs end-entity certificates only (path length 0).

    Raises:
        FileExistsError: ``ca.key`` or ``ca.crt`` exists and ``force`` is false.
        ValueError: ``common_name`` is empty or longer than 64 characters, or ``days`` < 1.
    """
    if not 0 < len(common_name) <= _MAX_CN:
        raise ValueError(f"CA common name must be 1..{_MAX_CN} characters: {common_name!r}")
    paths = ca_paths(directory)
    if not force:
        check_absent(paths)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start, end = _validity(now, days)
    usage = _key_usage(digital_signature=False, key_cert_sign=True)
    builder = (
        _builder(name, name, key.public_key(), start, end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
    )
    cert = builder.sign(key, hashes.SHA256())
    _write_pair(paths, cert, key)
    return paths


def issue_server(  # noqa: PLR0913 -- keyword-only options with defaults
    directory: Path,
    ca: CertPaths,
    *,
    hostnames: Sequence[str],
    addresses: Sequence[str],
    days: int = 825,
    force: bool = False,
    now: datetime | None = None,
) -> CertPaths:
    """Issue ``server.key``/``server.crt`` in ``directory``, signed by ``ca``.

    The certificate names every host name (DNS SAN) and address (IP SAN) given and is
    good for serverAuth and clientAuth (sipguard also dials upstreams over mutual TLS).
    Its validity never outlasts the CA's.

    Raises:
        FileNotFoundError: a CA file is missing.
        CertFileError: a CA file cannot be read, or its key does not match.
        FileExistsError: ``server.key`` or ``server.crt`` exists and ``force`` is false.
        ValueError: a bad host name or address, neither given, or ``days`` < 1.
    """
    sans = _server_sans(hostnames, addresses)
    paths = server_paths(directory)
    if not force:
        check_absent(paths)
    ca_cert, ca_key = _load_pair(ca)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _subject(sans)
    start, end = _validity(now, days, not_after=ca_cert.not_valid_after_utc)
    eku = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = _leaf(subject, ca_cert.subject, key, ca_key, start=start, end=end, sans=sans, eku=eku)
    _write_pair(paths, cert, key)
    return paths


def issue_client(  # noqa: PLR0913 -- keyword-only options with defaults
    directory: Path,
    ca: CertPaths,
    name: str,
    *,
    days: int = 825,
    force: bool = False,
    now: datetime | None = None,
) -> CertPaths:
    """Issue ``<name>.key``/``<name>.crt`` in ``directory``: CN and DNS SAN ``name``,
    clientAuth only, signed by ``ca``.

    Raises:
        ValueError: ``name`` is not a safe file name / DNS-style name, or ``days`` < 1.
        FileNotFoundError, CertFileError, FileExistsError: as ``issue_server``.
    """
    paths = client_paths(directory, name)
    if not force:
        check_absent(paths)
    ca_cert, ca_key = _load_pair(ca)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start, end = _validity(now, days, not_after=ca_cert.not_valid_after_utc)
    sans: list[x509.GeneralName] = [x509.DNSName(name)]
    eku = [ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = _leaf(subject, ca_cert.subject, key, ca_key, start=start, end=end, sans=sans, eku=eku)
    _write_pair(paths, cert, key)
    return paths


def self_signed(
    directory: Path,
    *,
    hostnames: Sequence[str],
    addresses: Sequence[str],
    days: int = 825,
    now: datetime | None = None,
) -> CertPaths:
    """A self-signed server certificate in ``directory`` (``server.key``/``server.crt``),
    for a first run without a CA.

    Existing files are returned unchanged when the certificate has not expired and the
    key is its key (so a restart keeps the same fingerprint); otherwise both are replaced.

    Raises:
        ValueError: a bad host name or address, neither given, or ``days`` < 1.
    """
    sans = _server_sans(hostnames, addresses)
    paths = server_paths(directory)
    at = now or datetime.now(UTC)
    if _still_good(paths, at):
        return paths
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _subject(sans)
    start, end = _validity(at, days)
    eku = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = _leaf(subject, subject, key, key, start=start, end=end, sans=sans, eku=eku)
    _write_pair(paths, cert, key)
    return paths


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerIdentity:
    """What a TLS peer's certificate says about who it is (to match against policy)."""

    fingerprint: str
    """``SHA256:AB:CD:...`` of the DER certificate."""
    dns_names: tuple[str, ...]
    """DNS names of the subjectAltName, as written."""
    uris: tuple[str, ...]
    """URIs of the subjectAltName."""
    common_name: str | None
    """The subject's first CN, if any (for logs: trust decisions use the SANs)."""


@dataclass(frozen=True, slots=True)
class CertSummary:
    """A certificate as ``sipguard certs show`` prints it."""

    subject: str
    issuer: str
    dns_names: tuple[str, ...]
    addresses: tuple[str, ...]
    uris: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    fingerprint: str
    is_ca: bool


def fingerprint(cert: x509.Certificate | bytes) -> str:
    """SHA-256 of a certificate (or its DER bytes) as ``SHA256:AB:CD:...``, upper case."""
    der = cert if isinstance(cert, bytes) else cert.public_bytes(serialization.Encoding.DER)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return "SHA256:" + digest.finalize().hex(":").upper()


def peer_identity(der: bytes) -> PeerIdentity:
    """The identity in a DER certificate (``SSLObject.getpeercert(binary_form=True)``).

    Raises:
        ValueError: ``der`` is not a DER certificate, or its extensions are malformed.
    """
    cert = x509.load_der_x509_certificate(der)
    sans = _sans(cert)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if names else None
    return PeerIdentity(
        fingerprint=fingerprint(der),
        dns_names=tuple(sans.get_values_for_type(x509.DNSName)) if sans else (),
        uris=tuple(sans.get_values_for_type(x509.UniformResourceIdentifier)) if sans else (),
        common_name=common_name,
    )


def read_certificates(path: Path) -> tuple[x509.Certificate, ...]:
    """The certificates in a PEM file (a chain: leaf first) or a DER file.

    Raises:
        OSError: the file cannot be read.
        CertFileError: it holds no certificate.
    """
    data = path.read_bytes()
    try:
        if b"-----BEGIN" in data:
            return tuple(x509.load_pem_x509_certificates(data))
        return (x509.load_der_x509_certificate(data),)
    except ValueError:
        raise CertFileError(f"{path}: not a PEM or DER certificate") from None


def summary(cert: x509.Certificate) -> CertSummary:
    """The fields of ``cert`` worth showing to an operator."""
    sans = _sans(cert)
    try:
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        basic = None
    ips = sans.get_values_for_type(x509.IPAddress) if sans else []
    return CertSummary(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        dns_names=tuple(sans.get_values_for_type(x509.DNSName)) if sans else (),
        addresses=tuple(str(ip) for ip in ips),
        uris=tuple(sans.get_values_for_type(x509.UniformResourceIdentifier)) if sans else (),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        fingerprint=fingerprint(cert),
        is_ca=basic is not None and basic.ca,
    )


def _sans(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


# --- building ------------------------------------------------------------------------------


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public: ec.EllipticCurvePublicKey,
    start: datetime,
    end: datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )


def _leaf(  # noqa: PLR0913 -- the parts of an end-entity certificate
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    signer: ec.EllipticCurvePrivateKey,
    *,
    start: datetime,
    end: datetime,
    sans: Sequence[x509.GeneralName],
    eku: Sequence[x509.ObjectIdentifier],
) -> x509.Certificate:
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key())
    builder = (
        _builder(subject, issuer, key.public_key(), start, end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, key_cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        .add_extension(aki, critical=False)
        # RFC 5280 §4.2.1.6: critical when the subject is empty.
        .add_extension(x509.SubjectAlternativeName(sans), critical=not subject)
    )
    return builder.sign(signer, hashes.SHA256())


def _key_usage(*, digital_signature: bool, key_cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=key_cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _validity(
    now: datetime | None, days: int, *, not_after: datetime | None = None
) -> tuple[datetime, datetime]:
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    start = (now or datetime.now(UTC)) - CLOCK_SKEW
    end = start + CLOCK_SKEW + timedelta(days=days)
    return start, end if not_after is None else min(end, not_after)


def _server_sans(hostnames: Iterable[str], addresses: Iterable[str]) -> list[x509.GeneralName]:
    sans: list[x509.GeneralName] = []
    for host in dict.fromkeys(h.lower().rstrip(".") for h in hostnames):
        if len(host) > 253 or not _HOST_RE.fullmatch(host):
            raise ValueError(f"not a DNS host name: {host!r}")
        sans.append(x509.DNSName(host))
    for text in dict.fromkeys(addresses):
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise ValueError(f"not an IP address: {text!r}") from None
        if address.is_unspecified:
            raise ValueError(f"not a usable address for a certificate: {text!r}")
        ip = x509.IPAddress(address)
        if ip not in sans:
            sans.append(ip)
    if not sans:
        raise ValueError("a server certificate needs at least one host name or address")
    return sans


def _subject(sans: Sequence[x509.GeneralName]) -> x509.Name:
    # The CN repeats the first name for humans; clients check the SANs (RFC 6125 §6.4.4).
    first = str(sans[0].value)
    if len(first) > _MAX_CN:
        return x509.Name([])
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, first)])


def _client_name(name: str) -> str:
    if len(name) > 253 or not _NAME_RE.fullmatch(name):
        raise ValueError(f"client name must be a DNS-style name (letters, digits, -, .): {name!r}")
    if len(name) > _MAX_CN:
        raise ValueError(f"client name must be at most {_MAX_CN} characters: {name!r}")
    if name.lower() in _RESERVED:
        raise ValueError(f"client name {name!r} is reserved for the {name.lower()} files")
    return name


# --- files ---------------------------------------------------------------------------------


def _paths(directory: Path, stem: str) -> CertPaths:
    return CertPaths(cert=directory / f"{stem}.crt", key=directory / f"{stem}.key")


def _load_pair(paths: CertPaths) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
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


def _still_good(paths: CertPaths, now: datetime) -> bool:
    try:
        cert, _ = _load_pair(paths)
    except (OSError, CertFileError):
        return False
    return cert.not_valid_before_utc <= now < cert.not_valid_after_utc


def _write_pair(paths: CertPaths, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_atomic(paths.key, key_pem, KEY_MODE)
    _write_atomic(paths.cert, cert.public_bytes(serialization.Encoding.PEM), CERT_MODE)


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
