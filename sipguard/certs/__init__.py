"""Certificates for TLS and mutual TLS: a private CA, server and client certificates,
a self-signed fallback, and the identity of a peer's certificate.

Rules of this package: a library (no argparse, no printing, no logging); callers import
from ``sipguard.certs``, never from its modules. Keys are EC P-256, written as unencrypted
PKCS#8 PEM; certificates are PEM and signed with ECDSA-SHA256. Files are written
atomically with their final modes (keys 0600, certificates 0644, directories 0700), and
an existing key or certificate is never replaced unless ``force=True``.

Modules: ``names`` (checks on client names, server host names and addresses), ``files``
(paths, modes, reading a key pair back, atomic writes), ``issue`` (CA, server, client and
self-signed certificates), ``read`` (fingerprints, a peer's identity, summaries).
"""

from sipguard.certs.files import (
    CERT_MODE,
    DIR_MODE,
    KEY_MODE,
    CertFileError,
    CertPaths,
    ca_paths,
    check_absent,
    client_paths,
    server_paths,
)
from sipguard.certs.issue import (
    CLOCK_SKEW,
    create_ca,
    issue_client,
    issue_server,
    self_signed,
)
from sipguard.certs.names import check_server_names
from sipguard.certs.read import (
    CertSummary,
    PeerIdentity,
    fingerprint,
    peer_identity,
    read_certificates,
    summary,
)

__all__ = [
    "CERT_MODE",
    "CLOCK_SKEW",
    "DIR_MODE",
    "KEY_MODE",
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
