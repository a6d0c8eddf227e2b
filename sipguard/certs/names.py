"""Names that go into certificates: client names, server host names and addresses.

Rules of this file: pure checks, no files and no keys. A bad name raises ``ValueError``
with the name in the message, before anything is generated or written. A client name is
also a file name (``<name>.key``/``<name>.crt``), so it is a DNS-style name and never one
of the reserved stems (``ca``, ``server``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from cryptography import x509

MAX_CN = 64  # RFC 5280 ub-common-name

# A client name is a file name and a DNS SAN: dot-separated LDH labels (RFC 1035 §2.3.1).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_NAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# Server host names may also be a wildcard ("*.example.com", RFC 6125 §6.4.3).
_HOST_RE = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*")
_RESERVED = frozenset({"ca", "server"})  # a client named so would replace those files


def check_server_names(hostnames: Sequence[str], addresses: Sequence[str]) -> None:
    """Check names for ``issue_server``/``self_signed`` before anything is written.

    Raises:
        ValueError: a bad host name or address, or neither given.
    """
    server_sans(hostnames, addresses)


def server_sans(hostnames: Iterable[str], addresses: Iterable[str]) -> list[x509.GeneralName]:
    """The subjectAltName entries of a server certificate: DNS names, then IP addresses,
    lower-cased and without duplicates.

    Raises:
        ValueError: a bad host name or address, or neither given.
    """
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


def client_name(name: str) -> str:
    """``name``, checked as a client name (DNS-style, at most 64 characters, not reserved).

    Raises:
        ValueError: ``name`` is not a safe file name / DNS-style name, or is ``ca``/``server``.
    """
    if len(name) > 253 or not _NAME_RE.fullmatch(name):
        raise ValueError(f"client name must be a DNS-style name (letters, digits, -, .): {name!r}")
    if len(name) > MAX_CN:
        raise ValueError(f"client name must be at most {MAX_CN} characters: {name!r}")
    if name.lower() in _RESERVED:
        raise ValueError(f"client name {name!r} is reserved for the {name.lower()} files")
    return name
