"""Room fan-out straight to the socket: the `Sink`s a room subscription attaches.

A publish to 1,000 subscribers used to wake 1,000 tasks, one after the other, each of which
framed the same message again and awaited its own write: ~30 µs of server CPU per delivery,
and the last subscriber served ~30 ms after the first. A sink instead writes, inside the
publish, bytes framed once per publish (`RoomMessage.frames`) to each connection's transport:
no task, no await, one `transport.write` per subscriber.

Writing to the transport bypasses aiohttp's writers, which is safe only where they add
nothing to the bytes: an uncompressed WebSocket (a server frame is unmasked, so the same
bytes serve every client) and an uncompressed event stream (chunked or not). Elsewhere
(`permessage-deflate`, a compressed stream) `ws_sink` / `sse_sink` return None and the
subscription keeps its queue and its reader task. Every write here is a whole frame or event
with no await inside, so it never splits a frame that aiohttp writes (a ping, a close, an
error answer).

Slow consumers: aiohttp stops the writer at the transport's high-water mark and the queue
then held up to `--room-queue` messages. A sink allows the same backlog in bytes: the
high-water mark plus `--room-queue` frames of the message at hand. Beyond it `deliver`
returns False and the hub drops the subscriber, who gets close 1008 or `event: dropped`.

A reader that stops reading is cut after `--ws-send-timeout` / `--sse-send-timeout`, as
when a write waited that long for it: the first write that leaves the backlog above the
high-water mark (where aiohttp's write would start waiting) arms one timer for the
connection; if the backlog is still above the low-water mark (where that write would have
resumed) when it fires, the connection is aborted and counted as `send_timeout`. No timer
exists while the client keeps up.
"""

import asyncio
from collections.abc import Callable

from aiohttp import hdrs, web

from server import keys
from server.core.metrics import ProtocolCounters
from server.core.notices import Notice
from server.core.protocols import WireProtocol
from server.core.refusals import Reason
from server.core.rooms import Delivery, RoomMessage
from server.wire.sse import EventStream
from server.wire.ws import WsConnection

_WS_TEXT = 0x81  # FIN + text opcode (RFC 6455 §5.2)
_Build = Callable[[RoomMessage], bytes]


def ws_text_frame(payload: bytes) -> bytes:
    """An unmasked, final text frame (server to client) carrying `payload`."""
    length = len(payload)
    if length < 126:
        head = bytes((_WS_TEXT, length))
    elif length < 1 << 16:
        head = bytes((_WS_TEXT, 126)) + length.to_bytes(2, "big")
    else:
        head = bytes((_WS_TEXT, 127)) + length.to_bytes(8, "big")
    return head + payload


def sse_event(item: Delivery) -> bytes:
    """The event block for a room message (`id:` is its cursor) or a notice."""
    if isinstance(item, Notice):
        return f"event: {item.kind.value}\r\ndata: {item.data}\r\n\r\n".encode()
    return f"id: {item.cursor}\r\nevent: message\r\ndata: {item.wire}\r\n\r\n".encode()


def chunk(data: bytes) -> bytes:
    """`data` as one chunk of a chunked HTTP/1.1 body (RFC 9112 §7.1)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


class TransportSink:
    """Writes framed deliveries to one connection's transport; see the module docstring.

    `send_timeout` (seconds, None: no limit) and `on_send_timeout` (cuts the connection and
    counts it) bound a reader that stops reading.
    """

    __slots__ = (
        "_counters",
        "_deadline",
        "_frames",
        "_high_water",
        "_is_open",
        "_low_water",
        "_on_send_timeout",
        "_queue",
        "_send_timeout",
        "_transport",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        frame_key: str,
        queue: int,
        counters: ProtocolCounters,
        is_open: "_IsOpen",
        send_timeout: float | None,
        on_send_timeout: Callable[[], None],
    ) -> None:
        self._transport = transport
        self._frames = _FRAMERS[frame_key]
        self._low_water, self._high_water = transport.get_write_buffer_limits()
        self._queue = queue
        self._counters = counters
        self._is_open = is_open
        self._send_timeout = send_timeout
        self._on_send_timeout = on_send_timeout
        self._deadline: asyncio.TimerHandle | None = None

    def deliver(self, item: Delivery) -> bool:
        """See `server.core.rooms.Sink`: write `item` unless the backlog is over the limit."""
        transport = self._transport
        if transport.is_closing() or not self._is_open():
            raise ConnectionResetError("the connection is closing")
        framed, payload_size = self._frames(item)
        if transport.get_write_buffer_size() > self._high_water + self._queue * len(framed):
            return False
        transport.write(framed)
        counters = self._counters
        counters.messages_out += 1
        counters.bytes_out += payload_size
        if (
            self._deadline is None
            and self._send_timeout is not None
            and transport.get_write_buffer_size() > self._high_water
        ):
            self._deadline = asyncio.get_running_loop().call_later(
                self._send_timeout, self._check_progress
            )
        return True

    def _check_progress(self) -> None:
        """The send deadline: cut a reader whose backlog did not fall to the low-water mark."""
        self._deadline = None
        transport = self._transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() > self._low_water:
            self._on_send_timeout()


class _IsOpen:
    """Whether the protocol layer still sends on this connection (no data after a Close
    frame, no chunk after the end of a stream)."""

    def __init__(self, response: web.StreamResponse) -> None:
        self._response = response

    def __call__(self) -> bool:
        response = self._response
        if isinstance(response, web.WebSocketResponse):
            return not response.closed
        return not getattr(response, "stopped", False)


def _cached(item: RoomMessage, key: str, build: _Build) -> bytes:
    framed = item.frames.get(key)
    if framed is None:
        framed = item.frames[key] = build(item)
    return framed


def _payload_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def _ws(item: Delivery) -> tuple[bytes, int]:
    if isinstance(item, Notice):
        text = item.frame
        return ws_text_frame(text.encode()), _payload_size(text)
    return _cached(item, "ws", lambda m: ws_text_frame(m.wire.encode())), _payload_size(item.wire)


def _sse_chunked(item: Delivery) -> tuple[bytes, int]:
    if isinstance(item, Notice):
        return chunk(sse_event(item)), _payload_size(item.data)
    return _cached(item, "sse-chunked", lambda m: chunk(sse_event(m))), _payload_size(item.wire)


def _sse_plain(item: Delivery) -> tuple[bytes, int]:
    if isinstance(item, Notice):
        return sse_event(item), _payload_size(item.data)
    return _cached(item, "sse", sse_event), _payload_size(item.wire)


_FRAMERS = {"ws": _ws, "sse-chunked": _sse_chunked, "sse": _sse_plain}


def ws_sink(conn: WsConnection, queue: int) -> TransportSink | None:
    """A sink for a WebSocket room subscriber, or None where aiohttp must frame (deflate)."""
    response, transport = conn.response, conn.request.transport
    if response.compress or transport is None:
        return None
    app = conn.request.app
    counters = app[keys.METRICS].counters(WireProtocol.WS)
    send_timeout = app[keys.SETTINGS].ws_send_timeout or None

    def cut() -> None:  # what WsConnection.send does when its write times out
        app[keys.METRICS].refused(Reason.SEND_TIMEOUT)
        conn.abort()

    return TransportSink(transport, "ws", queue, counters, _IsOpen(response), send_timeout, cut)


def sse_sink(stream: EventStream, queue: int) -> TransportSink | None:
    """A sink for an SSE room subscriber, or None where aiohttp must encode (compression)."""
    response, transport = stream.response, stream.request.transport
    if response.compression or transport is None:
        return None
    chunked = response.headers.get(hdrs.TRANSFER_ENCODING, "").lower() == "chunked"
    app = stream.request.app
    counters = app[keys.METRICS].counters(WireProtocol.SSE)
    send_timeout = app[keys.SETTINGS].sse_send_timeout or None
    key = "sse-chunked" if chunked else "sse"

    def cut() -> None:
        app[keys.METRICS].refused(Reason.SEND_TIMEOUT)
        response.stop_streaming()
        transport.abort()

    return TransportSink(transport, key, queue, counters, _IsOpen(response), send_timeout, cut)
