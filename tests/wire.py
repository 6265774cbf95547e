"""A raw WebSocket peer for tests that must send what a well-behaved client never would.

aiohttp's client refuses to send invalid close codes or broken UTF-8, so protocol-error tests
speak RFC 6455 framing directly over a TCP stream.
"""

import asyncio
import base64
import contextlib
import os
import socket
import struct
from dataclasses import dataclass

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA


@dataclass(frozen=True)
class Frame:
    """One frame as received from the server (servers never mask)."""

    opcode: int
    payload: bytes
    compressed: bool = False  # RSV1: a permessage-deflate message (RFC 7692 §6)

    @property
    def close_code(self) -> int:
        """The status code of a Close frame (1005 when it carries none, as §7.1.5 says)."""
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else 1005


class RawWebSocket:
    """A minimal client: handshake, masked frames out, frames in."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes = b""
    ) -> None:
        self.reader, self.writer = reader, writer
        self.head = head  # the server's 101 response head

    def header(self, name: str) -> str | None:
        """A header of the server's 101 response (the first of that name), or None."""
        for line in self.head.decode("latin-1").split("\r\n")[1:]:
            field, _, value = line.partition(":")
            if field.strip().lower() == name.lower():
                return value.strip()
        return None

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        path: str,
        origin: str | None = None,
        sock: socket.socket | None = None,
        extensions: str | None = None,
    ) -> "RawWebSocket":
        """Open a TCP connection (or use `sock`, already connected) and complete the upgrade,
        offering `extensions` (`Sec-WebSocket-Extensions`) if given; raises if the server
        refuses it."""
        if sock is None:
            reader, writer = await asyncio.open_connection(host, port)
        else:
            reader, writer = await asyncio.open_connection(sock=sock)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if origin:
            lines.append(f"Origin: {origin}")
        if extensions:
            lines.append(f"Sec-WebSocket-Extensions: {extensions}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        if not head.startswith(b"HTTP/1.1 101"):
            writer.close()
            await writer.wait_closed()
            raise ConnectionError(head.decode(errors="replace"))
        return cls(reader, writer, head)

    def send_frame(
        self,
        opcode: int,
        payload: bytes,
        *,
        fin: bool = True,
        rsv: int = 0,
        masked: bool = True,
        length: int | None = None,
    ) -> None:
        """Send one frame, whatever its contents: by default masked, as a client must.

        `rsv` sets the three reserved bits (0-7), `masked=False` breaks §5.1, and `length`
        declares a payload length other than the real one (a lie, or a frame cut short).
        """
        first = (0x80 if fin else 0) | (rsv & 0x7) << 4 | opcode
        declared = len(payload) if length is None else length
        mask_bit = 0x80 if masked else 0
        if declared < 126:
            header = struct.pack("!BB", first, mask_bit | declared)
        elif declared < 65536:
            header = struct.pack("!BBH", first, mask_bit | 126, declared)
        else:
            header = struct.pack("!BBQ", first, mask_bit | 127, declared)
        if masked:
            mask = os.urandom(4)
            body = mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        else:
            body = payload
        self.writer.write(header + body)

    def send_close(self, code: int, reason: bytes = b"") -> None:
        """Send a Close frame carrying `code`."""
        self.send_frame(OP_CLOSE, struct.pack("!H", code) + reason)

    async def read_frame(self, wait_s: float = 5) -> Frame:
        """The next frame from the server."""
        async with asyncio.timeout(wait_s):
            first, second = await self.reader.readexactly(2)
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
            payload = await self.reader.readexactly(length)
            return Frame(first & 0x0F, payload, compressed=bool(first & 0x40))

    async def read_until_closed(self, wait_s: float = 5) -> bytes:
        """Everything the server sends until it closes the TCP connection."""
        async with asyncio.timeout(wait_s):
            return await self.reader.read()

    async def close(self) -> None:
        """Drop the TCP connection."""
        self.writer.close()
        # The server may have cut the connection already: that is what some tests expect.
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()
