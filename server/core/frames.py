"""Following the frame headers of a client's WebSocket byte stream, to enforce masking.

RFC 6455 §5.1: "a client MUST mask all frames that it sends to the server ... The server
MUST close the connection upon receiving a frame that is not masked ... with a status code
of 1002 (protocol error)". aiohttp unmasks masked frames but accepts unmasked ones, so the
server checks the mask bit itself, on the raw bytes, before aiohttp sees them.

Only headers are read (2 to 14 bytes a frame); `feed` jumps from one header to the next by
the frame's length, so the cost is a few integer operations per frame, whatever its size, and
nothing is copied unless a header is split between two chunks. No I/O here: `feed` bytes,
get a verdict.
"""

# The second header byte of a masked frame is 0x80 | length code (RFC 6455 §5.2): below 0x80
# the mask bit is clear; 0x80-0xFD carry the payload length itself (0-125), 0xFE says a 16-bit
# length follows, 0xFF a 64-bit one. The mask key (4 bytes) comes after the length.
_MASKED = 0x80
_LENGTH_16 = 0xFE
_SHORT_FRAME_OVERHEAD = 2 + 4 - _MASKED  # header and key, minus the mask bit in `second`


class MaskCheck:
    """Follows frame boundaries in client-to-server bytes; sticky once an unmasked frame is
    seen."""

    __slots__ = ("_partial", "_skip", "violated")

    def __init__(self) -> None:
        self._partial = b""  # the start of a header that the last chunk cut off
        self._skip = 0  # bytes of the current frame (key and payload) still to come
        self.violated = False

    def feed(self, data: bytes) -> bool:
        """Take the next bytes of the stream; False once any frame was unmasked."""
        if self.violated:
            return False
        if self._partial:
            data = self._partial + data
            self._partial = b""
        position = self._end_of_whole_headers(data, self._skip)
        if self.violated:
            return False
        size = len(data)
        if position >= size:
            self._skip = position - size
        else:  # a header cut off at the end of the chunk: keep its start for the next one
            self._partial = bytes(data[position:])
            self._skip = 0
        return True

    def _end_of_whole_headers(self, data: bytes, position: int) -> int:
        """Jump from header to header, starting at `position`; the hot loop, kept to a few
        integer operations per frame. Returns where the next (possibly cut) header starts,
        or a position past the data."""
        size = len(data)
        while position < size:
            try:
                second = data[position + 1]
            except IndexError:  # only the first header byte is here
                return position
            if second < _MASKED:
                self.violated = True
                return position
            if second < _LENGTH_16:
                position += second + _SHORT_FRAME_OVERHEAD
            elif second == _LENGTH_16:
                if position + 4 > size:
                    return position
                position += (data[position + 2] << 8 | data[position + 3]) + 2 + 2 + 4
            else:
                if position + 10 > size:
                    return position
                position += int.from_bytes(data[position + 2 : position + 10]) + 2 + 8 + 4
        return position
