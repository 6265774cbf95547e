"""Just enough HTTP/1.1 framing (RFC 9112) for the shaping proxy to act like a middlebox.
Pure, no I/O: each parser is fed the bytes of one direction of one connection, in order.

* `RequestScanner` (client to server) finds request heads: it answers the proxy's own
  control requests (`/_netem`), and strips ``Upgrade`` from heads when told to, as old
  proxies do. After a forwarded Upgrade request the connection is a tunnel: opaque bytes.
* `ResponseTracker` (server to client) finds where each response ends (Content-Length,
  chunked, or close), so a buffering proxy can hold a response until it is complete.

What they do not follow (they give up and pass bytes through untouched): chunked request
bodies, heads over `MAX_HEAD` bytes, responses to HEAD requests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum, auto

__all__ = ["CONTROL_PATH", "MAX_HEAD", "ControlRequest", "RequestScanner", "ResponseTracker"]

CONTROL_PATH = "/_netem"
MAX_HEAD = 64 * 1024
MAX_CONTROL_BODY = 16 * 1024
_HOP_BY_HOP_UPGRADE = (b"upgrade",)
# The start of a request line: a method token, then a space (or not arrived yet).
_METHOD = re.compile(rb"^[A-Z]{1,20}( |$)")


@dataclass(frozen=True, slots=True)
class ControlRequest:
    """A request for the proxy itself. `body` is None when it was over `MAX_CONTROL_BODY`."""

    method: str
    target: str
    content_type: str
    body: bytes | None


@dataclass(frozen=True, slots=True)
class _Head:
    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]

    def get(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


def _parse_head(raw: bytes) -> _Head | None:
    lines = raw.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
        return None
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            return None
        headers.append((name, value.strip()))
    return _Head(parts[0], parts[1], headers)


def _content_length(head: _Head) -> int | None:
    value = head.get(b"content-length")
    if value is None:
        return 0
    return int(value) if value.isdigit() else None


class _Up(Enum):
    HEAD = auto()
    BODY = auto()
    CONTROL_BODY = auto()
    TUNNEL = auto()


class RequestScanner:
    """Feeds on client-to-server bytes; returns what to forward and the control requests.

    `stripped` counts the heads whose Upgrade was removed.
    """

    def __init__(self) -> None:
        self._state = _Up.HEAD
        self._buffer = bytearray()
        self._remaining = 0
        self._control: _Head | None = None
        self.stripped = 0

    @property
    def tunnel(self) -> bool:
        """True once the connection carries opaque bytes (after an Upgrade request)."""
        return self._state is _Up.TUNNEL

    def feed(self, data: bytes, *, strip_upgrade: bool) -> list[bytes | ControlRequest]:
        """Bytes to forward (possibly rewritten) and control requests, in stream order."""
        out: list[bytes | ControlRequest] = []
        view = memoryview(data)
        while view:
            if self._state is _Up.TUNNEL:
                out.append(bytes(view))
                break
            if self._state is _Up.BODY:
                taken = view[: self._remaining]
                self._remaining -= len(taken)
                out.append(bytes(taken))
                view = view[len(taken) :]
                if self._remaining == 0:
                    self._state = _Up.HEAD
                continue
            if self._state is _Up.CONTROL_BODY:
                view = self._control_body(view, out)
                continue
            view = self._head(view, out, strip_upgrade=strip_upgrade)
        return out

    def _head(
        self, view: memoryview, out: list[bytes | ControlRequest], *, strip_upgrade: bool
    ) -> memoryview:
        start = len(self._buffer)
        self._buffer += view
        end = self._buffer.find(b"\r\n\r\n", max(0, start - 3))
        if not _METHOD.match(self._buffer.lstrip(b"\r\n")[:16]):
            end, self._state = -1, _Up.TUNNEL  # not HTTP: relay it untouched
        if end < 0:
            if len(self._buffer) > MAX_HEAD or self._state is _Up.TUNNEL:
                out.append(bytes(self._buffer))
                self._buffer.clear()
                self._state = _Up.TUNNEL
            return view[len(view) :]
        raw, rest = bytes(self._buffer[: end + 4]), bytes(self._buffer[end + 4 :])
        self._buffer.clear()
        leading = len(raw) - len(raw.lstrip(b"\r\n"))  # blank lines between requests
        head = _parse_head(raw[leading:-4])
        if head is None:
            out.append(raw)
            self._state = _Up.TUNNEL
            return memoryview(rest)
        self._after_head(head, raw, out, strip_upgrade=strip_upgrade)
        return memoryview(rest)

    def _after_head(
        self, head: _Head, raw: bytes, out: list[bytes | ControlRequest], *, strip_upgrade: bool
    ) -> None:
        length = _content_length(head)
        chunked = b"chunked" in (head.get(b"transfer-encoding") or b"").lower()
        path = head.target.split(b"?", 1)[0]
        if path == CONTROL_PATH.encode() or path.startswith(CONTROL_PATH.encode() + b"/"):
            self._control = head
            if length is None or chunked or length > MAX_CONTROL_BODY:
                out.append(self._control_request(None))
                self._state = _Up.TUNNEL  # the proxy closes this connection after answering
                return
            self._remaining = length
            self._state = _Up.CONTROL_BODY
            if length == 0:
                out.append(self._control_request(b""))
                self._state = _Up.HEAD
            return
        if head.get(b"upgrade") is not None:
            if strip_upgrade:
                self.stripped += 1
                raw = _without_upgrade(head)
            else:
                out.append(raw)
                self._state = _Up.TUNNEL  # the server may switch protocols: stop parsing
                return
        out.append(raw)
        if chunked or length is None:
            self._state = _Up.TUNNEL
        elif length:
            self._remaining = length
            self._state = _Up.BODY

    def _control_body(self, view: memoryview, out: list[bytes | ControlRequest]) -> memoryview:
        taken = view[: self._remaining]
        self._buffer += taken
        self._remaining -= len(taken)
        if self._remaining == 0:
            out.append(self._control_request(bytes(self._buffer)))
            self._buffer.clear()
            self._state = _Up.HEAD
        return view[len(taken) :]

    def _control_request(self, body: bytes | None) -> ControlRequest:
        head = self._control
        assert head is not None  # set by _after_head just before
        self._control = None
        return ControlRequest(
            head.method.decode("latin-1"),
            head.target.decode("latin-1"),
            (head.get(b"content-type") or b"").decode("latin-1"),
            body,
        )


def _without_upgrade(head: _Head) -> bytes:
    """The head with ``Upgrade`` removed and ``upgrade`` dropped from ``Connection``."""
    lines = [b" ".join((head.method, head.target, b"HTTP/1.1"))]
    for name, value in head.headers:
        lower = name.lower()
        if lower == b"upgrade":
            continue
        if lower == b"connection":
            tokens = [t.strip() for t in value.split(b",")]
            kept = [t for t in tokens if t.lower() not in _HOP_BY_HOP_UPGRADE]
            if not kept:
                continue
            value = b", ".join(kept)
        lines.append(name + b": " + value)
    return b"\r\n".join(lines) + b"\r\n\r\n"


class _Down(Enum):
    HEAD = auto()
    LENGTH = auto()
    CHUNK_SIZE = auto()
    CHUNK_DATA = auto()
    TRAILERS = auto()
    UNTIL_CLOSE = auto()
    TUNNEL = auto()


class ResponseTracker:
    """Feeds on server-to-client bytes; says where each response ends.

    `tunnel` is true after a 101 (or bytes it cannot follow): from then on nothing ends
    until the connection closes.
    """

    def __init__(self) -> None:
        self._state = _Down.HEAD
        self._line = bytearray()
        self._remaining = 0

    @property
    def tunnel(self) -> bool:
        """True once the connection carries opaque bytes (after 101 Switching Protocols)."""
        return self._state is _Down.TUNNEL

    def feed(self, data: bytes) -> list[int]:
        """Offsets in `data` just after the last byte of each response that ends in it."""
        ends: list[int] = []
        position = 0
        while position < len(data):
            if self._state in (_Down.TUNNEL, _Down.UNTIL_CLOSE):
                break
            if self._state in (_Down.LENGTH, _Down.CHUNK_DATA):
                taken = min(self._remaining, len(data) - position)
                position += taken
                self._remaining -= taken
                if self._remaining == 0:
                    if self._state is _Down.LENGTH:
                        self._state = _Down.HEAD
                        ends.append(position)
                    else:  # the CRLF after chunk data: read as an empty "size line"
                        self._state = _Down.CHUNK_SIZE
                        self._line = bytearray(b"-")
                continue
            position = self._line_state(data, position, ends)
        return ends

    def _line_state(self, data: bytes, position: int, ends: list[int]) -> int:
        """HEAD, CHUNK_SIZE and TRAILERS gather lines; returns the new position."""
        terminator = b"\r\n\r\n" if self._state is _Down.HEAD else b"\r\n"
        start = len(self._line)
        self._line += data[position:]
        end = self._line.find(terminator, max(0, start - len(terminator) + 1))
        if end < 0:
            if len(self._line) > MAX_HEAD:
                self._state = _Down.TUNNEL
            return len(data)
        used = end + len(terminator) - start  # bytes of `data` consumed by this line
        line = bytes(self._line[:end])
        self._line.clear()
        position += used
        if self._state is _Down.HEAD:
            self._on_head(line.lstrip(b"\r\n"), position, ends)
        elif self._state is _Down.CHUNK_SIZE:
            self._on_chunk_size(line)
        elif not line:  # TRAILERS: an empty line ends them, and the response
            self._state = _Down.HEAD
            ends.append(position)
        return position

    def _on_head(self, raw: bytes, position: int, ends: list[int]) -> None:
        status_line, _, rest = raw.partition(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            self._state = _Down.TUNNEL
            return
        status = int(parts[1])
        head = _parse_head(b"GET / HTTP/1.1\r\n" + rest if rest else b"GET / HTTP/1.1")
        if status == 101 or head is None:
            self._state = _Down.TUNNEL
            return
        if 100 <= status < 200:
            return  # an interim response: the real one follows
        if status in (204, 304):
            ends.append(position)
            return
        if b"chunked" in (head.get(b"transfer-encoding") or b"").lower():
            self._state = _Down.CHUNK_SIZE
            return
        length = head.get(b"content-length")
        if length is None or not length.isdigit():
            self._state = _Down.UNTIL_CLOSE
        elif int(length) == 0:
            ends.append(position)
        else:
            self._remaining = int(length)
            self._state = _Down.LENGTH

    def _on_chunk_size(self, line: bytes) -> None:
        if line == b"-":  # the CRLF that follows chunk data
            return
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            self._state = _Down.TUNNEL
            return
        if size == 0:
            self._state = _Down.TRAILERS
        else:
            self._remaining = size
            self._state = _Down.CHUNK_DATA
