"""Topology hiding as the engine applies it: which peers are inside, and the hider for
everything else (``proxy/topology.py`` does the sealing).

Rules of this file: built from the policy once per (re)configuration; no state.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipguard.config import Config
from sipguard.guard.acl import CidrSet, ip_set, source_address
from sipguard.proxy.identity import LocalIdentity, normalize_ip
from sipguard.proxy.topology import PARAM, USER_PREFIX, TopologyHider
from sipguard.sip import Request, Response
from sipguard.transport.base import Peer

__all__ = ["Hiding"]

_MARKS = (PARAM.encode(), USER_PREFIX.encode())


@dataclass(frozen=True, slots=True)
class Hiding:
    """The hider and the inside networks of ``[topology]`` (None when hiding is off)."""

    hider: TopologyHider
    inside: CidrSet

    @classmethod
    def of(cls, config: Config, identity: LocalIdentity, secret: bytes) -> Hiding | None:
        """The hiding ``config`` asks for; None when ``[topology] hide`` is off."""
        policy = config.topology
        if not policy.hide:
            return None
        inside = policy.inside or tuple(
            str(ip) for up in config.upstream if (ip := normalize_ip(up.uri.host_bare)) is not None
        )
        return cls(TopologyHider(secret, identity), ip_set(inside, "topology.inside"))

    def outgoing(self, message: Request | Response, peer: Peer) -> Request | Response:
        """``message`` as it may be sent to ``peer`` (sealed unless ``peer`` is inside).

        Raises:
            SipParseError: a header to rewrite is malformed.
        """
        if source_address(peer.host) in self.inside:
            return message
        return self.hider.hide(message, peer)

    def incoming(self, message: Request | Response, data: bytes) -> Request | Response:
        """``message`` (whose wire form is ``data``) with what we sealed put back.

        Raises:
            SipParseError: a header to read is malformed.
        """
        if not any(mark in data for mark in _MARKS):  # the cheap test for plain traffic
            return message
        return self.hider.reveal(message)
