"""Following the frame headers of a client's WebSocket byte stream, to enforce masking.

RFC 6455 §5.1: "a client MUST mask all frames that it sends to the server ... The server
MUST close the connection upon receiving a frame that is not masked ... with a status code
of 1002 (protocol error)". aiohttp unmasks masked frames but accepts unmasked ones, so the
server checks the mask bit itself, on the raw bytes, before aiohttp sees them.

Only headers are read (2 to 14 bytes a frame); payloads are skipped by their length, so the
cost does not grow with message size. No I/O here: `feed` bytes, get a verdict.
"""

_MASK_KEY_SIZE = 4


class MaskCheck:
    """Follows frame boundaries in client-to-server bytes; sticky once an unmasked frame is
    seen."""

    __slots__ = ("_header", "_skip", "violated")

    def __init__(self) -> None:
        self._header = bytearray()
        self._skip = 0  # bytes of the current frame's mask key and payload still to come
        self.violated = False

    def feed(self, data: bytes) -> bool:
        """Take the next bytes of the stream; False once any frame was unmasked."""
        position, size = 0, len(data)
        while position < size and not self.violated:
            if self._skip:
                step = min(self._skip, size - position)
                self._skip -= step
                position += step
                continue
            self._header.append(data[position])
            position += 1
            self._parse_header()
        return not self.violated

    def _parse_header(self) -> None:
        header = self._header
        if len(header) < 2:
            return
        if not header[1] & 0x80:
            self.violated = True
            return
        short_length = header[1] & 0x7F
        extended = {126: 2, 127: 8}.get(short_length, 0)
        if len(header) < 2 + extended:
            return
        length = int.from_bytes(header[2 : 2 + extended]) if extended else short_length
        self._skip = _MASK_KEY_SIZE + length
        header.clear()
