"""`GuardedRequestHandler`: aiohttp's connection handler, extended to enforce what aiohttp
does not: a deadline for the request head (slowloris), and the RFC 6455 rule that client
frames are masked.

Both need the raw bytes of a connection, so each connection's protocol is
`GuardedRequestHandler`, a subclass of aiohttp's `RequestHandler` (in this server's
JSON-error flavour, server/edge/aiohttp_private.py) that watches each chunk before aiohttp
parses it.

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
from time import monotonic
from typing import Any

from aiohttp import web

from server.core.frames import MaskCheck
from server.core.refusals import Reason
from server.edge.aiohttp_private import JsonErrorRequestHandler, Refuse

logger = logging.getLogger(__name__)

# Close frame, 1002 "unmasked frame" (RFC 6455 §5.5.1; servers send frames unmasked).
_UNMASKED_CLOSE = b"\x88\x10\x03\xea" + b"unmasked frame"


def _timeout_response(seconds: float) -> bytes:
    body = json.dumps({"error": f"request head not received within {seconds:g} s"}).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


class GuardedRequestHandler(JsonErrorRequestHandler):
    """aiohttp's `RequestHandler` for one connection (with this server's JSON errors), with a
    deadline for request heads and a mask check on WebSocket frames.

    A subclass rather than a wrapper around aiohttp's protocol: one object per connection
    instead of two, and each chunk received is one call deeper, not two.
    """

    __slots__ = (
        "_frames",
        "_head_pending",
        "_head_since",
        "_head_timeout",
        "_head_timer",
        "_in_request",
        "_partial_head",
        "chunks",
    )

    def __init__(
        self, manager: web.Server, *, head_timeout: float, refuse: Refuse, **kwargs: Any
    ) -> None:
        super().__init__(manager, refuse=refuse, **kwargs)
        self._head_timeout = head_timeout
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_request = False
        self._head_pending = False  # a head is due: since the connection opened or its 1st byte
        self._head_since = 0.0
        self._partial_head = False
        self._frames: MaskCheck | None = None
        # Chunks received: evidence of life for the WebSocket heartbeat (server/wire/ws.py)
        # that costs one addition per chunk.
        self.chunks = 0

    # -- asyncio.Protocol: watched, then aiohttp's own -------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
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
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

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
        transport = self.transport
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
        if self._head_timer is None:
            self._head_timer = asyncio.get_running_loop().call_later(
                self._head_timeout, self._expire
            )

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _expire(self) -> None:
        """The timer fired: cut the connection if its head is late, else move the timer to
        the head now due (or leave it off until one is)."""
        self._head_timer = None
        transport = self.transport
        if not self._head_pending or self._in_request:
            return
        left = self._head_since + self._head_timeout - monotonic()
        if left > 0:
            self._head_timer = asyncio.get_running_loop().call_later(left, self._expire)
            return
        if transport is None or transport.is_closing():
            return
        self._refuse(Reason.HEADER_TIMEOUT)
        peer = transport.get_extra_info("peername")
        if self._partial_head:
            logger.info("%s sent no whole request head in %g s: 408", peer, self._head_timeout)
            transport.write(_timeout_response(self._head_timeout))
        transport.close()


def guard_of(request: web.BaseRequest) -> GuardedRequestHandler | None:
    """The guard of the request's connection; None when served without one (TestServer)."""
    protocol = request.protocol
    return protocol if isinstance(protocol, GuardedRequestHandler) else None
