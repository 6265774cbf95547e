"""A deadline for the request head: the slowloris guard that aiohttp does not have.

aiohttp bounds a connection that has not completed a request head only by its keep-alive
timer, which starts when the connection opens (or the last response is done) and is 3630 s
by default; bytes arriving meanwhile do not matter. A client that sends one header byte every
few seconds ("slowloris") thus holds a socket and a file descriptor for an hour, and a few
thousand such clients hold all of them.

So each connection's protocol is wrapped in `HeadDeadlineProtocol`, which gives a client
`--header-timeout` seconds to deliver a whole request head, counted from the moment the
connection opens (a client that connects and says nothing) or from the first byte of each
later request on a keep-alive connection. The `head_received` middleware tells it when a
request has reached the application; while a request is being handled (a long-poll, a
WebSocket, an SSE stream) there is no deadline. A client that sent part of a head gets
`408 Request Timeout`; one that sent nothing is simply disconnected. Idle keep-alive time
between requests is `--keepalive-timeout`, aiohttp's own timer.

The TLS handshake comes before any of this and is bounded by the same number, through
`loop.create_server(ssl_handshake_timeout=...)`.
"""

import asyncio
import json
import logging
import ssl
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler

logger = logging.getLogger(__name__)

# A listen backlog for bursts of new connections (the default 128 drops SYNs under load).
BACKLOG = 1024


def _timeout_response(seconds: float) -> bytes:
    body = json.dumps({"error": f"request head not received within {seconds:g} s"}).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


class HeadDeadlineProtocol(asyncio.Protocol):
    """aiohttp's `RequestHandler` for one connection, with a deadline for request heads.

    Every protocol callback is passed on unchanged; the wrapper only watches the clock.
    """

    def __init__(
        self, inner: web.RequestHandler, timeout: float, on_expired: Callable[[], None]
    ) -> None:
        self._inner = inner
        self._timeout = timeout
        self._on_expired = on_expired
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._in_request = False
        self._partial_head = False

    # -- asyncio.Protocol, passed on ---------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._inner.connection_made(transport)
        self._arm()  # a client that connects and sends nothing is bounded too

    def data_received(self, data: bytes) -> None:
        if not self._in_request:
            self._partial_head = True
            if self._timer is None:
                self._arm()
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    # -- the deadline --------------------------------------------------------------------------
    def request_started(self) -> None:
        """A whole head arrived and its request reached the application: no deadline now."""
        self._in_request = True
        self._partial_head = False
        self._disarm()

    def request_finished(self) -> None:
        """The handler is done; the next request's first byte starts the next deadline."""
        self._in_request = False

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._timeout, self._expire)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        transport = self._transport
        if self._in_request or transport is None or transport.is_closing():
            return
        self._on_expired()
        peer = transport.get_extra_info("peername")
        if self._partial_head:
            logger.info("%s sent no whole request head in %g s: 408", peer, self._timeout)
            transport.write(_timeout_response(self._timeout))
        transport.close()


def _guard_of(request: web.BaseRequest) -> HeadDeadlineProtocol | None:
    transport = request.transport
    protocol = transport.get_protocol() if transport is not None else None
    return protocol if isinstance(protocol, HeadDeadlineProtocol) else None


@web.middleware
async def head_received(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Lift the connection's head deadline while its request is being handled."""
    guard = _guard_of(request)
    if guard is None:  # served without the guard (e.g. aiohttp's TestServer)
        return await handler(request)
    guard.request_started()
    try:
        return await handler(request)
    finally:
        guard.request_finished()


class GuardedTCPSite(web.BaseSite):
    """`web.TCPSite` whose connections get a head deadline (and a TLS handshake timeout)."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        header_timeout: float,
        on_expired: Callable[[], None],
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=BACKLOG)
        self._host = host
        self._port = port
        self._header_timeout = header_timeout
        self._on_expired = on_expired

    @property
    def name(self) -> str:
        """The URL this site serves, as aiohttp names its sites."""
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self._port}"

    async def start(self) -> None:
        """Listen; each accepted connection gets aiohttp's handler inside a deadline guard."""
        await super().start()
        server = self._runner.server
        assert server is not None, "runner.setup() comes first"

        def make_protocol() -> HeadDeadlineProtocol:
            return HeadDeadlineProtocol(server(), self._header_timeout, self._on_expired)

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            make_protocol,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            ssl_handshake_timeout=self._header_timeout if self._ssl_context else None,
        )
