"""Show the bytes a WebSocket, an SSE stream and an HTTP request put on the wire.

    python docs/labs/tools/wire.py ws   [--url URL] [--text TEXT] [--deflate]
    python docs/labs/tools/wire.py sse  [--url URL] [--count N]
    python docs/labs/tools/wire.py http [--url URL] [--text TEXT]

It talks to the server over a plain TCP socket, with no HTTP or WebSocket library in between,
and prints every byte it sends (`>>`) and receives (`<<`). Text is shown line by line with
the line ends made visible (`\\r\\n`); WebSocket frames are shown in hex and then decoded
field by field, following the frame diagram of RFC 6455 §5.2. Used by docs/protocols.md and
lab 02; tests/docs/test_wire_tool.py checks the shape of what it prints.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import socket
import struct
import sys
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

# RFC 6455 §1.3: the server proves it read our key by hashing it with this fixed GUID.
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OPCODES = {0x0: "continuation", 0x1: "text", 0x2: "binary", 0x8: "close", 0x9: "ping", 0xA: "pong"}
TIMEOUT_S = 5.0


class WireError(Exception):
    """The server did not answer as the protocol says it must."""


def show(direction: str, data: bytes, title: str) -> None:
    """Print `data` as text lines with visible line ends, preceded by a title with its size."""
    print(f"{direction} {title} ({len(data)} bytes)")
    for line in data.decode("utf-8", "replace").splitlines(keepends=True):
        visible = line.replace("\r", "\\r").replace("\n", "\\n")
        print(f"{direction}   {visible}")


def show_hex(direction: str, data: bytes, title: str) -> None:
    """Print `data` in hex, 16 bytes a line, preceded by a title with its size."""
    print(f"{direction} {title} ({len(data)} bytes)")
    for start in range(0, len(data), 16):
        print(f"{direction}   {data[start : start + 16].hex(' ')}")


class Connection:
    """A TCP connection that reads exactly what it is asked for, with a timeout."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT_S)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        """Send all of `data`."""
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise WireError("the server closed the connection")
        self.buffer += chunk

    def read_until(self, marker: bytes) -> bytes:
        """Bytes up to and including the first `marker`."""
        while marker not in self.buffer:
            self._fill()
        end = self.buffer.index(marker) + len(marker)
        data, self.buffer = self.buffer[:end], self.buffer[end:]
        return data

    def read_exactly(self, size: int) -> bytes:
        """Exactly `size` bytes."""
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


def connect(url: str) -> tuple[Connection, str]:
    """A connection to the server of `url` and the value for the `Host` header."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None:
        raise WireError(f"--url must look like http://127.0.0.1:8080, got {url!r}")
    port = parts.port or 80
    return Connection(parts.hostname, port), f"{parts.hostname}:{port}"


def content_length(head: bytes) -> int:
    """The Content-Length of a response head (0 if absent)."""
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return int(value.strip())
    return 0


# ---------------------------------------------------------------- WebSocket


@dataclass(frozen=True, slots=True)
class Frame:
    """One WebSocket frame as RFC 6455 §5.2 lays it out."""

    fin: bool
    rsv1: bool
    opcode: int
    mask: bytes | None
    payload: bytes  # as on the wire: still masked, still compressed

    def encode(self) -> bytes:
        """The bytes of the frame."""
        first = (0x80 if self.fin else 0) | (0x40 if self.rsv1 else 0) | self.opcode
        mask_bit = 0x80 if self.mask else 0
        size = len(self.payload)
        if size < 126:
            head = bytes([first, mask_bit | size])
        elif size < 65536:
            head = bytes([first, mask_bit | 126]) + struct.pack("!H", size)
        else:
            head = bytes([first, mask_bit | 127]) + struct.pack("!Q", size)
        return head + (self.mask or b"") + self.payload

    def unmasked(self) -> bytes:
        """The payload with the mask removed (§5.3: XOR with the key, byte by byte)."""
        if self.mask is None:
            return self.payload
        return bytes(b ^ self.mask[i % 4] for i, b in enumerate(self.payload))


def client_frame(opcode: int, payload: bytes, *, rsv1: bool = False) -> Frame:
    """A frame as a client must send it: masked with a fresh random key (§5.3)."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return Frame(True, rsv1, opcode, mask, masked)


def read_frame(conn: Connection) -> Frame:
    """Read one frame."""
    first, second = conn.read_exactly(2)
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", conn.read_exactly(2))[0]
    elif size == 127:
        size = struct.unpack("!Q", conn.read_exactly(8))[0]
    mask = conn.read_exactly(4) if second & 0x80 else None
    payload = conn.read_exactly(size)
    return Frame(bool(first & 0x80), bool(first & 0x40), first & 0x0F, mask, payload)


def describe(frame: Frame, deflate: bool) -> str:
    """The frame's fields in words, and its payload decoded."""
    payload = frame.unmasked()
    if frame.rsv1 and deflate:
        # RFC 7692 §7.2.2: the sender removed the final 00 00 ff ff; put it back to inflate.
        payload = zlib.decompressobj(-zlib.MAX_WBITS).decompress(payload + b"\x00\x00\xff\xff")
    name = OPCODES.get(frame.opcode, f"opcode {frame.opcode}")
    header = len(frame.encode()) - len(frame.payload)
    parts = [
        f"FIN={int(frame.fin)}",
        f"RSV1={int(frame.rsv1)}",
        f"opcode={frame.opcode:#x} ({name})",
        f"MASK={int(frame.mask is not None)}",
        f"length={len(frame.payload)}",
    ]
    if frame.mask:
        parts.append(f"key={frame.mask.hex()}")
    if frame.opcode == 0x8 and len(payload) >= 2:
        code = struct.unpack("!H", payload[:2])[0]
        body = f"code={code} reason={payload[2:].decode('utf-8', 'replace')!r}"
    else:
        body = f"payload={payload.decode('utf-8', 'replace')!r}"
    return f"{' '.join(parts)} -> {header} header bytes, {body}"


def run_ws(url: str, text: str, deflate: bool) -> None:
    """Open /ws/echo, send one text message and a Close, print every byte."""
    conn, host = connect(url)
    # A random 16-byte nonce, base64 encoded (§4.1); the answer must hash it (§4.2.2).
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET /ws/echo HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        f"Origin: {url.rstrip('/')}",
    ]
    if deflate:
        lines.append("Sec-WebSocket-Extensions: permessage-deflate")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    conn.send(request)
    show(">>", request, "opening handshake, request")
    response = conn.read_until(b"\r\n\r\n")
    show("<<", response, "opening handshake, response")
    if not response.startswith(b"HTTP/1.1 101"):
        raise WireError("the server did not switch protocols")
    expected = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    if f"Sec-WebSocket-Accept: {expected}".encode() not in response:
        raise WireError("Sec-WebSocket-Accept does not match our key")
    print(f"   Sec-WebSocket-Accept = base64(SHA-1(key + GUID)) = {expected}: it matches")
    agreed = deflate and b"permessage-deflate" in response

    payload = text.encode()
    if agreed:
        compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        outgoing = client_frame(0x1, body[:-4], rsv1=True)
    else:
        outgoing = client_frame(0x1, payload)
    for direction, frame, title in [
        (">>", outgoing, "text frame"),
        ("<<", None, "echo frame"),
        (">>", client_frame(0x8, struct.pack("!H", 1000)), "close frame"),
        ("<<", None, "close frame"),
    ]:
        if frame is None:
            frame = read_frame(conn)
        else:
            conn.send(frame.encode())
        show_hex(direction, frame.encode(), title)
        print(f"{direction}   {describe(frame, agreed)}")
    conn.close()


# ---------------------------------------------------------------- SSE and HTTP


def run_sse(url: str, count: int) -> None:
    """GET a finite /sse/stream and print the response as it arrives, chunk by chunk."""
    conn, host = connect(url)
    path = f"/sse/stream?count={count}&interval=100"
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()
    conn.send(request)
    show(">>", request, "request")
    head = conn.read_until(b"\r\n\r\n")
    show("<<", head, "response head")
    # Transfer-Encoding: chunked (RFC 9112 §7.1): each piece is "<hex size>\r\n<data>\r\n",
    # and a piece of size 0 ends the response. The connection stays open for the next request.
    while True:
        size_line = conn.read_until(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        chunk = size_line + conn.read_exactly(size + 2)
        show("<<", chunk, "chunk" if size else "last chunk: the response is complete")
        if size == 0:
            break
    conn.close()


def run_http(url: str, text: str) -> None:
    """POST /http/echo twice on one keep-alive connection and print both exchanges."""
    conn, host = connect(url)
    body = text.encode()
    request = (
        f"POST /http/echo HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    for attempt in (1, 2):
        conn.send(request)
        show(">>", request, f"request {attempt}")
        head = conn.read_until(b"\r\n\r\n")
        response = head + conn.read_exactly(content_length(head))
        show("<<", response, f"response {attempt}")
    conn.close()


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python docs/labs/tools/wire.py",
        description="Print the bytes one exchange of each protocol puts on the wire.",
    )
    parser.add_argument("protocol", choices=["ws", "sse", "http"])
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the server")
    parser.add_argument("--text", default="hello", help="message for ws and http")
    parser.add_argument("--count", type=int, default=2, help="events for sse")
    parser.add_argument(
        "--deflate", action="store_true", help="ws: offer permessage-deflate (RFC 7692)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one capture; 1 with a one-line message if the server misbehaves or is absent."""
    args = build_parser().parse_args(argv)
    try:
        if args.protocol == "ws":
            run_ws(args.url, args.text, args.deflate)
        elif args.protocol == "sse":
            run_sse(args.url, args.count)
        else:
            run_http(args.url, args.text)
    except (OSError, WireError) as exc:
        print(f"wire.py: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
