"""A raw WebSocket peer for tests that must send what a well-behaved client never would.

aiohttp's client refuses to send invalid close codes or broken UTF-8, so protocol-error tests
speak RFC 6455 framing directly over a TCP stream.
"""

import asyncio
import base64
import os
import struct
from dataclasses import dataclass

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA


@dataclass(frozen=True)
class Frame:
    """One frame as received from the server (servers never mask)."""

    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int:
        """The status code of a Close frame (1005 when it carries none, as §7.1.5 says)."""
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else 1005


class RawWebSocket:
    """A minimal client: handshake, masked frames out, frames in."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(
        cls, host: str, port: int, path: str, origin: str | None = None
    ) -> "RawWebSocket":
        """Open a TCP connection and complete the upgrade; raises if the server refuses it."""
        reader, writer = await asyncio.open_connection(host, port)
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
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        if not head.startswith(b"HTTP/1.1 101"):
            writer.close()
            await writer.wait_closed()
            raise ConnectionError(head.decode(errors="replace"))
        return cls(reader, writer)

    def send_frame(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        """Send one masked frame, whatever its contents."""
        first = (0x80 if fin else 0) | opcode
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", first, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", first, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", first, 0x80 | 127, length)
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self.writer.write(header + mask + masked)

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
            return Frame(first & 0x0F, await self.reader.readexactly(length))

    async def close(self) -> None:
        """Drop the TCP connection."""
        self.writer.close()
        await self.writer.wait_closed()
