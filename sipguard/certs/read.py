"""Reading certificates: fingerprints, a TLS peer's identity, and what an operator is shown.

Rules of this file: read-only and pure apart from ``read_certificates`` (which reads one
file). Nothing here decides trust: it reports what a certificate says (fingerprint, SANs,
CN) and policy code matches that. Fingerprints are ``SHA256:AB:CD:...`` of the DER bytes,
upper case, the form ``sipguard certs show`` prints and the policy's trusted fingerprints
use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from sipguard.certs.files import CertFileError


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
