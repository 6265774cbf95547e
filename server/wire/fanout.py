"""Room fan-out straight to the socket: the `Sink`s a room subscription attaches.

A publish to 1,000 subscribers used to wake 1,000 tasks, one after the other, each of which
framed the same message again and awaited its own write: ~30 µs of server CPU per delivery,
and the last subscriber served ~30 ms after the first. A sink instead writes, inside the
publish, bytes framed once per publish (`RoomMessage.frames`) to each connection's transport:
no task, no await, one `transport.write` per subscriber.

Writing to the transport bypasses aiohttp's writers, which is safe only where the bytes
do not depend on the connection: an uncompressed WebSocket (a server frame is unmasked, so
the same bytes serve every client), a permessage-deflate WebSocket that compresses each
message on its own (negotiated without context takeover for room subscribers,
`SelfContainedDeflateResponse`: compressed once per publish and window size, the deflate
stream is fresh for every message), and an uncompressed event stream (chunked or not).
Elsewhere (a compressed event stream) `sse_sink` returns None and the subscription keeps its
queue and its reader task. Every write here is a whole frame or event with no await inside,
so it never splits a frame that aiohttp writes (a ping, a close, an error answer).

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
import zlib
from collections.abc import Callable
from functools import partial

from aiohttp import hdrs, web

from server import keys
from server.core.metrics import ProtocolCounters
from server.core.notices import Notice
from server.core.protocols import WireProtocol
from server.core.refusals import Reason
from server.core.rooms import Delivery, RoomMessage
from server.edge.aiohttp_private import self_contained_deflate_window
from server.wire.sse import EventStream
from server.wire.ws import WsConnection

_WS_TEXT = 0x81  # FIN + text opcode (RFC 6455 §5.2)
_RSV1 = 0x40  # set on a compressed message's first frame (RFC 7692 §6)
# What a sync flush ends with, and a compressed message leaves out (RFC 7692 §7.2.1).
_DEFLATE_TAIL = b"\x00\x00\xff\xff"
_Build = Callable[[RoomMessage], bytes]
# A delivery's bytes on the wire, and the size of its payload (for the metrics).
Framer = Callable[[Delivery], tuple[bytes, int]]


def ws_text_frame(payload: bytes, first_byte: int = _WS_TEXT) -> bytes:
    """An unmasked, final text frame (server to client) carrying `payload`."""
    length = len(payload)
    if length < 126:
        head = bytes((first_byte, length))
    elif length < 1 << 16:
        head = bytes((first_byte, 126)) + length.to_bytes(2, "big")
    else:
        head = bytes((first_byte, 127)) + length.to_bytes(8, "big")
    return head + payload


def deflated_text_frame(text: bytes, window_bits: int) -> bytes:
    """`text` as one compressed text message that refers to no earlier one (RFC 7692 §7.2.1
    without context takeover): a fresh raw deflate stream, sync-flushed, its tail left out.

    The level is aiohttp's own (fastest). Compressing happens once per publish, in the
    event loop, as aiohttp does for messages of up to 16 KiB; a room message is bounded by
    `--max-text` (4,096 characters by default), and compressing even the largest takes a
    fraction of a millisecond."""
    compressor = zlib.compressobj(zlib.Z_BEST_SPEED, zlib.DEFLATED, -window_bits)
    payload = compressor.compress(text) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return ws_text_frame(payload.removesuffix(_DEFLATE_TAIL), _WS_TEXT | _RSV1)


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
        frames: Framer,
        queue: int,
        counters: ProtocolCounters,
        is_open: "_IsOpen",
        send_timeout: float | None,
        on_send_timeout: Callable[[], None],
    ) -> None:
        self._transport = transport
        self._frames = frames
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


def _ws_deflated(window_bits: int, item: Delivery) -> tuple[bytes, int]:
    if isinstance(item, Notice):
        text = item.frame
        return deflated_text_frame(text.encode(), window_bits), _payload_size(text)
    framed = _cached(
        item,
        f"ws-deflate-{window_bits}",
        lambda m: deflated_text_frame(m.wire.encode(), window_bits),
    )
    return framed, _payload_size(item.wire)


def _sse_chunked(item: Delivery) -> tuple[bytes, int]:
    if isinstance(item, Notice):
        return chunk(sse_event(item)), _payload_size(item.data)
    return _cached(item, "sse-chunked", lambda m: chunk(sse_event(m))), _payload_size(item.wire)


def _sse_plain(item: Delivery) -> tuple[bytes, int]:
    if isinstance(item, Notice):
        return sse_event(item), _payload_size(item.data)
    return _cached(item, "sse", sse_event), _payload_size(item.wire)


def ws_sink(conn: WsConnection, queue: int) -> TransportSink | None:
    """A sink for a WebSocket room subscriber; None where aiohttp must frame (a connection
    whose compression depends on what it sent before)."""
    response, transport = conn.response, conn.request.transport
    if transport is None:
        return None
    frames: Framer = _ws
    if response.compress:
        window_bits = self_contained_deflate_window(response)
        if not window_bits:
            return None
        frames = partial(_ws_deflated, window_bits)
    app = conn.request.app
    counters = app[keys.METRICS].counters(WireProtocol.WS)
    send_timeout = app[keys.SETTINGS].ws_send_timeout or None

    def cut() -> None:  # what WsConnection.send does when its write times out
        app[keys.METRICS].refused(Reason.SEND_TIMEOUT)
        conn.abort()

    return TransportSink(transport, frames, queue, counters, _IsOpen(response), send_timeout, cut)


def sse_sink(stream: EventStream, queue: int) -> TransportSink | None:
    """A sink for an SSE room subscriber, or None where aiohttp must encode (compression)."""
    response, transport = stream.response, stream.request.transport
    if response.compression or transport is None:
        return None
    chunked = response.headers.get(hdrs.TRANSFER_ENCODING, "").lower() == "chunked"
    app = stream.request.app
    counters = app[keys.METRICS].counters(WireProtocol.SSE)
    send_timeout = app[keys.SETTINGS].sse_send_timeout or None
    frames = _sse_chunked if chunked else _sse_plain

    def cut() -> None:
        app[keys.METRICS].refused(Reason.SEND_TIMEOUT)
        response.stop_streaming()
        transport.abort()

    return TransportSink(transport, frames, queue, counters, _IsOpen(response), send_timeout, cut)
