"""Issuing certificates: a private CA, server and client certificates, a self-signed
fallback.

Rules of this file: a library (no argparse, no printing, no logging). Keys are EC P-256;
certificates are signed with ECDSA-SHA256. Names are checked (``names.py``) and, unless
``force=True``, both files of the pair are checked absent (``files.check_absent``) before
a key is generated or anything is written; writing is ``files.write_pair``'s job. A leaf
never outlives its CA. ``now`` parameters exist for tests (backdated or expired
certificates); callers leave them unset and the current UTC time is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sipguard.certs.files import (
    CertFileError,
    CertPaths,
    ca_paths,
    check_absent,
    client_paths,
    load_pair,
    server_paths,
    write_pair,
)
from sipguard.certs.names import MAX_CN, server_sans

CLOCK_SKEW = timedelta(minutes=5)
"""Certificates start this long before they are made, for peers whose clocks are behind."""


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
    if not 0 < len(common_name) <= MAX_CN:
        raise ValueError(f"CA common name must be 1..{MAX_CN} characters: {common_name!r}")
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
    write_pair(paths, cert, key)
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
    sans = server_sans(hostnames, addresses)
    paths = server_paths(directory)
    if not force:
        check_absent(paths)
    ca_cert, ca_key = load_pair(ca)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _subject(sans)
    start, end = _validity(now, days, not_after=ca_cert.not_valid_after_utc)
    eku = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = _leaf(subject, ca_cert.subject, key, ca_key, start=start, end=end, sans=sans, eku=eku)
    write_pair(paths, cert, key)
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
    ca_cert, ca_key = load_pair(ca)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start, end = _validity(now, days, not_after=ca_cert.not_valid_after_utc)
    sans: list[x509.GeneralName] = [x509.DNSName(name)]
    eku = [ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = _leaf(subject, ca_cert.subject, key, ca_key, start=start, end=end, sans=sans, eku=eku)
    write_pair(paths, cert, key)
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
    sans = server_sans(hostnames, addresses)
    paths = server_paths(directory)
    at = now or datetime.now(UTC)
    if _still_good(paths, at):
        return paths
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _subject(sans)
    start, end = _validity(at, days)
    eku = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = _leaf(subject, subject, key, key, start=start, end=end, sans=sans, eku=eku)
    write_pair(paths, cert, key)
    return paths


def _still_good(paths: CertPaths, now: datetime) -> bool:
    try:
        cert, _ = load_pair(paths)
    except (OSError, CertFileError):
        return False
    return cert.not_valid_before_utc <= now < cert.not_valid_after_utc


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


def _subject(sans: Sequence[x509.GeneralName]) -> x509.Name:
    # The CN repeats the first name for humans; clients check the SANs (RFC 6125 §6.4.4).
    first = str(sans[0].value)
    if len(first) > MAX_CN:
        return x509.Name([])
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, first)])
