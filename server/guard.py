"""Connection-level guards that aiohttp does not have: a deadline for the request head
(slowloris), and the RFC 6455 rule that client frames are masked.

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
from the first byte of each later request on a keep-alive connection. The `head_received`
middleware tells it when a request has reached the application; while a request is being
handled (a long-poll, a WebSocket, an SSE stream) there is no deadline. A client that sent
part of a head gets `408 Request Timeout`; one that sent nothing is simply disconnected.
Idle keep-alive time between requests is `--keepalive-timeout`, aiohttp's own timer.

The TLS handshake comes before any of this and is bounded by the same number, through
`loop.create_server(ssl_handshake_timeout=...)`.

Responses to readers that do not read
-------------------------------------
aiohttp writes a handler's response after the handler returns, and waits for a client that
does not read for as long as the client likes, holding the response meanwhile (up to
`--http-max-body` for an echo). The `write_in_time` middleware writes it itself, within
`--http-send-timeout`, and cuts the connection when that passes.

Requests that are not HTTP
--------------------------
aiohttp answers a request it cannot parse (a bad request line or header, a head over 8190
bytes, a body encoding it cannot decode) itself, before any middleware: with a plain-text
400 that quotes the client's bytes back, and an error with a traceback in the log.
`JsonErrorRequestHandler` answers those with the JSON body every other error has, logs one
line, and counts them in `/api/stats` `refused` as `bad_request`.

Masked frames
-------------
Once a WebSocket handler announces the upgrade (`expect_websocket_frames`, just before the
101 is sent), every byte from the client goes through `server.core.frames.MaskCheck` before
aiohttp sees it; the first unmasked frame gets a Close 1002 and the connection is closed.
"""

import asyncio
import json
import logging
import ssl
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError, HttpProcessingError, LineTooLong
from aiohttp.typedefs import Handler

from server import keys
from server.core.frames import MaskCheck

logger = logging.getLogger(__name__)

# A listen backlog for bursts of new connections (the default 128 drops SYNs under load).
BACKLOG = 1024
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

    def __init__(self, inner: web.RequestHandler, timeout: float, refuse: Refuse) -> None:
        self._inner = inner
        self._timeout = timeout
        self._refuse = refuse
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._in_request = False
        self._partial_head = False
        self._frames: MaskCheck | None = None

    # -- asyncio.Protocol, passed on ---------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._inner.connection_made(transport)
        self._arm()  # a client that connects and sends nothing is bounded too

    def data_received(self, data: bytes) -> None:
        if self._frames is not None:
            if not self._frames.feed(data):
                self._refuse_unmasked()
                return
        elif not self._in_request:
            self._partial_head = True
            if self._timer is None:
                self._arm()
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
        """A whole head arrived and its request reached the application: no deadline now."""
        self._in_request = True
        self._partial_head = False
        self._disarm()

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

    def _refuse_unmasked(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self._refuse("ws_protocol_error")
        logger.info("%s sent an unmasked frame: 1002", transport.get_extra_info("peername"))
        transport.write(_UNMASKED_CLOSE)
        transport.close()

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
        self._refuse("header_timeout")
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


@web.middleware
async def head_received(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Lift the connection's head deadline while its request is being handled."""
    guard = guard_of(request)
    if guard is None:  # served without the guard (e.g. aiohttp's TestServer)
        return await handler(request)
    guard.request_started()
    try:
        return await handler(request)
    finally:
        guard.request_finished()


@web.middleware
async def write_in_time(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Send the handler's response within `--http-send-timeout`, or cut the connection.

    Streams (SSE, WebSocket) were prepared by their handler and bound their own writes.
    """
    response = await handler(request)
    seconds = request.app[keys.SETTINGS].http_send_timeout
    if not seconds or response.prepared:
        return response
    try:
        async with asyncio.timeout(seconds):
            await response.prepare(request)
            await response.write_eof()
    except TimeoutError:
        request.app[keys.METRICS].refused("send_timeout")
        logger.info("%s did not read its response in %g s: cut", request.remote, seconds)
        if request.transport is not None:
            request.transport.abort()
    # aiohttp finishes what is left; an aborted connection it just notes as gone.
    return response


def describe_bad_request(exc: BaseException | None, message: str | None) -> str:
    """What was wrong with a request aiohttp could not parse, without echoing its bytes."""
    if isinstance(exc, ContentEncodingError):
        return "malformed request: the body could not be decoded with its Content-Encoding"
    if isinstance(exc, LineTooLong):
        return f"malformed request: a request line or header is longer than {exc.args[1]} bytes"
    if isinstance(exc, HttpProcessingError):
        message = exc.message
    first_line = (message or "").strip().splitlines()[0:1]
    what = first_line[0].rstrip(":").strip() if first_line else ""
    return f"malformed request: {what}" if what else "malformed request"


class JsonErrorRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, with its own error responses in this server's format."""

    __slots__ = ("_refuse",)

    def __init__(self, manager: web.Server, *, refuse: Refuse, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._refuse = refuse

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A JSON error for a request that could not be parsed (400) or handled (5xx)."""
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
            text = "internal server error" if status == 500 else HTTPStatus(status).phrase.lower()
        else:
            self._refuse("bad_request")
            text = describe_bad_request(exc, message)
            logger.info("%s: %d %s", request.remote, status, text)
        if request.writer.output_size > 0:  # a response has begun: too late for another
            raise ConnectionError("response already started; cannot send an error response")
        response = web.json_response({"error": text}, status=status)
        response.force_close()
        return response

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        """Send `resp`; an HTTP error raised where no middleware runs (aiohttp's answer to an
        `Expect` header it does not know, 417) gets the JSON body too."""
        if isinstance(resp, web.HTTPException) and resp.status >= 400 and not resp.prepared:
            text = resp.text if resp.text else resp.reason
            logger.info("%s %s -> %d %s", request.method, request.path, resp.status, text)
            resp = web.json_response({"error": text}, status=resp.status)
        return await super().finish_response(request, resp, start_time)

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """Log an error with its traceback, unless it is the client's: after a body that
        could not be decoded (answered 400 by the handler), aiohttp meets the same error
        again while draining the rest of it."""
        exc = kw.get("exc_info")
        if isinstance(exc, web.RequestPayloadError | HttpProcessingError):
            logger.info("a client's request body could not be read: %s", exc)
            return
        super().log_exception(*args, **kw)


class GuardedTCPSite(web.BaseSite):
    """`web.TCPSite` whose connections are guarded (and get a TLS handshake timeout)."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        header_timeout: float,
        refuse: Refuse,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=BACKLOG)
        self._host = host
        self._port = port
        self._header_timeout = header_timeout
        self._refuse = refuse

    @property
    def name(self) -> str:
        """The URL this site serves, as aiohttp names its sites."""
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self._port}"

    async def start(self) -> None:
        """Listen; each accepted connection gets aiohttp's handler inside a guard."""
        await super().start()
        server = self._runner.server
        assert server is not None, "runner.setup() comes first"

        loop = asyncio.get_running_loop()

        def make_protocol() -> GuardedProtocol:
            # What `server()` does, with our handler class (`server._kwargs` are the
            # runner's handler options, e.g. keepalive_timeout).
            inner = JsonErrorRequestHandler(
                server, loop=loop, refuse=self._refuse, **server._kwargs
            )
            return GuardedProtocol(inner, self._header_timeout, self._refuse)

        self._server = await loop.create_server(
            make_protocol,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            ssl_handshake_timeout=self._header_timeout if self._ssl_context else None,
        )
