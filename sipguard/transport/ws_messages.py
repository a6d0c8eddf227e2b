"""WebSocket message assembly (RFC 6455 §5.4, §5.6): data frames in, whole messages out.

Rules of this file:
- Sans-I/O and pure of the wire format: it gets frame headers and unmasked payloads from
  ``WebSocketServer`` and holds only the fragments of the one message in progress.
- ``check`` runs on a data frame's header, before its payload is waited for: a frame out of
  sequence, or one that would take the frame or the message past its limit, is refused
  without a byte of it buffered. Control frames are not its business (they may arrive
  between the fragments of a message, §5.4).
- A text message must be UTF-8 as a whole (§8.1: fragments may split a character).
- Violations raise ``FrameError``; ``WebSocketServer`` turns it into ``Failed``.
"""

from __future__ import annotations

from sipguard.transport.ws_frames import CloseCode, FrameError, FrameHeader, Opcode, is_utf8

__all__ = ["MessageAssembler"]


class MessageAssembler:
    """The data frames of one connection, joined into messages within size limits."""

    def __init__(self, max_frame_size: int, max_message_size: int) -> None:
        self._max_frame_size = max_frame_size
        self._max_message_size = max_message_size
        self._opcode: Opcode | None = None  # set while a fragmented message is open
        self._fragments = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes held: the fragments of an unfinished message."""
        return len(self._fragments)

    @property
    def in_message(self) -> bool:
        """True while a fragmented message is open (possibly with nothing buffered)."""
        return self._opcode is not None

    def check(self, header: FrameHeader) -> None:
        """Refuse a data frame out of sequence or too big, before its payload is buffered."""
        if header.opcode >= Opcode.CLOSE:
            return
        if header.opcode is Opcode.CONTINUATION and self._opcode is None:
            raise FrameError(CloseCode.PROTOCOL_ERROR, "continuation without a message")
        if header.opcode is not Opcode.CONTINUATION and self._opcode is not None:
            # §5.4: fragments of one message MUST NOT be interleaved with another's.
            raise FrameError(CloseCode.PROTOCOL_ERROR, "new message inside a fragmented one")
        if header.length > self._max_frame_size:
            raise FrameError(CloseCode.TOO_BIG, "frame too big")
        if len(self._fragments) + header.length > self._max_message_size:
            raise FrameError(CloseCode.TOO_BIG, "message too big")

    def add(self, header: FrameHeader, payload: bytes) -> bytes | None:
        """Take a checked data frame: the whole message once ``header`` is final, else None.

        Raises FrameError for a text message that is not UTF-8.
        """
        if header.opcode is not Opcode.CONTINUATION:
            self._opcode = header.opcode
        self._fragments += payload
        if not header.fin:
            return None
        data, opcode = bytes(self._fragments), self._opcode
        self.reset()
        if opcode is Opcode.TEXT and not is_utf8(data):
            # §8.1: invalid UTF-8 in a text message MUST fail the connection.
            raise FrameError(CloseCode.INVALID_DATA, "text message is not UTF-8")
        return data

    def reset(self) -> None:
        """Forget the message in progress."""
        self._fragments = bytearray()
        self._opcode = None
