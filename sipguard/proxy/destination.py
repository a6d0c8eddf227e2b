"""Where a URI says to send a request, before DNS (RFC 3263 §4.1, RFC 3261 §16.6 step 7).

Rules of this file: no look-ups. ``maddr`` overrides the host, a ``transport``
parameter fixes the transport, a sips URI (or a SIPS Request-URI) asks for TLS. When
the URI leaves the transport to NAPTR (a host name without port or transport
parameter), ``transport`` is None and the resolver decides; a missing port stays None
for the resolver's SRV or default port.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipguard.config import TransportName
from sipguard.proxy.errors import ProxyError
from sipguard.proxy.identity import normalize_ip
from sipguard.sip import SipUri
from sipguard.sip.grammar import unescape

__all__ = ["Destination", "destination_of"]

_T = TransportName


@dataclass(frozen=True, slots=True)
class Destination:
    """A next hop as its URI fixes it: ``host`` is an IP literal (no brackets) or a name."""

    transport: TransportName | None
    """None: not fixed by the URI, NAPTR decides (RFC 3263 §4.1)."""
    host: str
    port: int | None
    """None: the resolver's SRV answer or the transport's default port."""
    secure: bool
    """TLS is required (sips, or a SIPS Request-URI: RFC 3261 §16.6 step 7)."""


def destination_of(uri: SipUri, *, sips: bool = False) -> Destination:
    """The next hop ``uri`` names; ``sips`` when the Request-URI is SIPS (RFC 3261
    §16.6 step 7: "as if the input URI were a SIPS URI").

    Raises:
        ProxyError: 400 for a sips URI with transport=udp, 503 for a transport we
            do not speak.
    """
    secure = sips or uri.scheme == "sips"
    maddr = uri.param("maddr")
    # RFC 3263 §4: "the TARGET is the maddr parameter of the URI, if present".
    host = unescape(maddr) if maddr else uri.host_bare
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    param = uri.transport
    if param is not None:
        transport: TransportName | None = _from_param(param, secure=secure)
    elif normalize_ip(host) is not None or uri.port is not None:
        # RFC 3263 §4.1: a numeric TARGET or an explicit port: UDP for sip, TLS for sips.
        transport = _T.TLS if secure else _T.UDP
    else:
        transport = None
    return Destination(transport, host, uri.port, secure or transport in (_T.TLS, _T.WSS))


def _from_param(param: str, *, secure: bool) -> TransportName:
    if param == "udp":
        if secure:  # RFC 3261 §26.2.2: SIPS needs TLS, which does not run over UDP
            raise ProxyError(400, "SIPS URI with transport=udp")
        return _T.UDP
    if param in ("tcp", "tls"):
        return _T.TLS if secure or param == "tls" else _T.TCP
    if param in ("ws", "wss"):
        # RFC 7118 §5.5: transport=ws in a SIPS URI means WebSocket over TLS.
        return _T.WSS if secure or param == "wss" else _T.WS
    # A fixed phrase: the parameter is attacker text and may unescape to CR LF.
    raise ProxyError(503, "Unsupported Transport")
