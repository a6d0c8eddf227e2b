"""What one ws/wss listener accepts: the WebSocket codec's only configuration.

Rules of this file:
- One frozen value, checked when built: a policy that exists can be used as it is.
- Sizes are in bytes and bound what the codec holds for one connection; the Origin and path
  checks are carried out by ``ws_handshake``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipguard.transport.ws_frames import MAX_CONTROL_PAYLOAD

__all__ = ["WebSocketPolicy"]


@dataclass(frozen=True, slots=True)
class WebSocketPolicy:
    """What one ws/wss listener accepts."""

    allowed_origins: tuple[str, ...] = ()
    """Empty: any Origin, or none. Otherwise an exact, case-insensitive match is required
    (``https://app.example.com``); a request without Origin is then refused (403)."""
    max_message_size: int = 65_535
    """A reassembled message (text or binary), in bytes."""
    max_frame_size: int = 65_535
    """The payload of one frame, in bytes."""
    max_handshake_size: int = 8_192
    """The HTTP upgrade request, request line through the empty line, in bytes."""
    path: str | None = None
    """None: any request-target. Otherwise the target's path must equal it (else 404)."""

    def __post_init__(self) -> None:
        if min(self.max_message_size, self.max_handshake_size) <= 0:
            raise ValueError("WebSocket sizes must be positive")
        if self.max_frame_size < MAX_CONTROL_PAYLOAD:
            raise ValueError(f"max_frame_size must be at least {MAX_CONTROL_PAYLOAD}")
        if self.path is not None and not self.path.startswith("/"):
            raise ValueError("path must start with '/'")
