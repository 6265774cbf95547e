"""`GuardedProtocol`: aiohttp's connection handler wrapped to enforce what aiohttp does not:
a deadline for the request head (slowloris), and the RFC 6455 rule that client frames are
masked.

Both need the raw bytes of a connection, so each connection's protocol is wrapped in
`GuardedProtocol`, which passes every callback on to aiohttp's `RequestHandler` and watches.

Head deadline
-------------
aiohttp bounds a connection that has not completed a request head only by its keep-alive
timer, which starts when the connection opens (or the last response is done) and is 3630 s
by default; bytes arriving meanwhile do not matter. A client that sends one header byte every
few seconds ("slowloris") thus holds a socket and a file descriptor for an hour, and a few
thousand such clients hold all of them.

So the guard gives a client `--header-timeout` seconds to deliver a whole request head,
counted from the moment the connection opens (a client that connects and says nothing) or
from the first byte of each later request on a keep-alive connection. The `edge`
middleware (server/edge/middlewares.py) tells it when a request has reached the
application; while a request is being handled (a long-poll, a WebSocket, an SSE stream)
there is no deadline. A client that sent part of a head gets `408 Request Timeout`; one that
sent nothing is simply disconnected. Idle keep-alive time between requests is
`--keepalive-timeout`, aiohttp's own timer. One timer per connection, armed only while a
head is awaited: nothing per request once it has arrived.

The TLS handshake comes before any of this and is bounded by the same number, through
`loop.create_server(ssl_handshake_timeout=...)`.

Masked frames
-------------
Once a WebSocket handler announces the upgrade (`expect_websocket_frames`, just before the
101 is sent), every chunk from the client goes through `server.core.frames.MaskCheck` before
aiohttp sees it; the first unmasked frame gets a Close 1002 and the connection is closed.
`MaskCheck` jumps from frame header to frame header (a few integer operations per frame, the
payload is never touched), which costs a few percent of aiohttp's own parsing (see
tests/core/test_frames.py and the report in docs/performance.md).
"""

import asyncio
import json
import logging
from collections.abc import Callable
from time import monotonic
from typing import cast

from aiohttp import web

from server.core.frames import MaskCheck
from server.core.refusals import Reason

logger = logging.getLogger(__name__)

# Close frame, 1002 "unmasked frame" (RFC 6455 §5.5.1; servers send frames unmasked).
_UNMASKED_CLOSE = b"\x88\x10\x03\xea" + b"unmasked frame"

Refuse = Callable[[str], None]  # counts a refusal by its reason


def _timeout_response(seconds: float) -> bytes:
    body = json.dumps({"error": f"request head not received within {seconds:g} s"}).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


class GuardedProtocol(asyncio.Protocol):
    """aiohttp's `RequestHandler` for one connection, with a deadline for request heads and
    a mask check on WebSocket frames.

    Every protocol callback is passed on unchanged; the wrapper only watches.
    """

    __slots__ = (
        "_frames",
        "_head_pending",
        "_head_since",
        "_in_request",
        "_inner",
        "_partial_head",
        "_refuse",
        "_timeout",
        "_timer",
        "_transport",
        "chunks",
    )

    def __init__(self, inner: web.RequestHandler, timeout: float, refuse: Refuse) -> None:
        self._inner = inner
        self._timeout = timeout
        self._refuse = refuse
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._in_request = False
        self._head_pending = False  # a head is due: since the connection opened or its 1st byte
        self._head_since = 0.0
        self._partial_head = False
        self._frames: MaskCheck | None = None
        # Chunks received: evidence of life for the WebSocket heartbeat (server/wire/ws.py)
        # that costs one addition per chunk.
        self.chunks = 0

    # -- asyncio.Protocol, passed on ---------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have asyncio.Transport's methods but not its class.
        self._transport = cast(asyncio.Transport, transport)
        self._inner.connection_made(transport)
        self._head_is_due()  # a client that connects and sends nothing is bounded too

    def data_received(self, data: bytes) -> None:
        self.chunks += 1
        if self._frames is not None:
            if not self._frames.feed(data):
                self._refuse_unmasked()
                return
        elif not self._in_request and not self._partial_head:
            self._partial_head = True
            if not self._head_pending:  # the first byte of a later head: its deadline starts
                self._head_is_due()
        self._inner.data_received(data)

    def eof_received(self) -> None:
        self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    # -- the deadline --------------------------------------------------------------------------
    def request_started(self) -> None:
        """A whole head arrived and its request reached the application: no deadline now.

        The timer is left to fire (it then finds nothing due): cancelling and arming one per
        request would cost a timer per request on a busy keep-alive connection.
        """
        self._in_request = True
        self._head_pending = self._partial_head = False

    def request_finished(self) -> None:
        """The handler is done; the next request's first byte starts the next deadline.

        After a refused upgrade the connection speaks HTTP again, so frames are not expected.
        """
        self._in_request = False
        self._frames = None

    # -- masked frames -------------------------------------------------------------------------
    def expect_websocket_frames(self) -> None:
        """The connection is about to become a WebSocket: check every frame from now on."""
        self._frames = MaskCheck()
        self.long_lived()

    def long_lived(self) -> None:
        """The request will hold the connection for long (a WebSocket, an event stream): its
        head timer, which would find nothing due, is dropped now rather than held until it
        fires. A later request's first byte arms one again."""
        self._disarm()

    def _refuse_unmasked(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self._refuse(Reason.WS_PROTOCOL_ERROR)
        logger.info("%s sent an unmasked frame: 1002", transport.get_extra_info("peername"))
        transport.write(_UNMASKED_CLOSE)
        transport.close()

    def _head_is_due(self) -> None:
        """A head is due within the deadline from now; one timer per connection at most."""
        self._head_pending = True
        self._head_since = monotonic()
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._timeout, self._expire)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        """The timer fired: cut the connection if its head is late, else move the timer to
        the head now due (or leave it off until one is)."""
        self._timer = None
        transport = self._transport
        if not self._head_pending or self._in_request:
            return
        left = self._head_since + self._timeout - monotonic()
        if left > 0:
            self._timer = asyncio.get_running_loop().call_later(left, self._expire)
            return
        if transport is None or transport.is_closing():
            return
        self._refuse(Reason.HEADER_TIMEOUT)
        peer = transport.get_extra_info("peername")
        if self._partial_head:
            logger.info("%s sent no whole request head in %g s: 408", peer, self._timeout)
            transport.write(_timeout_response(self._timeout))
        transport.close()


def guard_of(request: web.BaseRequest) -> GuardedProtocol | None:
    """The guard of the request's connection; None when served without one (TestServer)."""
    transport = request.transport
    protocol = transport.get_protocol() if transport is not None else None
    return protocol if isinstance(protocol, GuardedProtocol) else None
