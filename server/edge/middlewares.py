"""Every middleware of the app, in the one list that holds their order: `MIDDLEWARES`
(`middlewares_for(settings)` leaves out the ones the settings make idle).

Outermost first:

1. `trust_forwarded` (server/forwarded.py): a request from a trusted proxy is seen as its
   client sent it, so that everything after it (limits, logs, the Origin check) sees the
   real client.
2. `edge`: three steps in one middleware, in this order:
   a. deadlines: the connection's request-head deadline (server/edge/protocol.py) is lifted
      while the request is handled, and the response, error responses too, is written
      within `--http-send-timeout` (`write_in_time`), and the response gets its
      `X-Request-Head-Bytes` (server/request_head.py);
   b. JSON errors (`answer_error`, server/errors.py): refusals and errors raised inside
      become JSON `{"error": ...}` with their status;
   c. the Origin check (`check_origin`, server/origin_check.py): a foreign page's WebSocket
      upgrade or POST is refused before any handler runs.
   One middleware for the three: each middleware is one more call and one more coroutine
   frame per request (aiohttp builds the chain of `functools.partial`s once per route and
   caches it), and a WebSocket or an event stream keeps that frame for its whole life.
"""

import asyncio
import logging

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from server import keys
from server.core.refusals import Reason
from server.edge.protocol import guard_of
from server.errors import answer_error, departed
from server.forwarded import trust_forwarded
from server.origin_check import check_origin
from server.request_head import report_request_head
from server.settings import Settings

logger = logging.getLogger(__name__)


@web.middleware
async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Deadlines, JSON errors and the Origin check (see the module docstring), outermost
    first; and `X-Request-Head-Bytes` on the response (server/request_head.py)."""
    guard = guard_of(request)  # None when served without it (e.g. aiohttp's TestServer)
    if guard is not None:
        guard.request_started()
    try:
        try:
            check_origin(request)
            response = await handler(request)
        except Exception as exc:
            response = answer_error(request, exc)
        if response.prepared:  # a stream its handler prepared (with the header)
            return response
        report_request_head(request, response)
        # The common case (a small body, see `fits_in_buffer`) costs no coroutine here.
        seconds = request.app[keys.SETTINGS].http_send_timeout
        if not seconds or fits_in_buffer(request, response):
            return response
        return await write_in_time(request, response, seconds)
    finally:
        if guard is not None:
            guard.request_finished()


async def write_in_time(
    request: web.Request, response: web.StreamResponse, seconds: float
) -> web.StreamResponse:
    """Send `response` within `seconds` (`--http-send-timeout`), or cut the connection.

    aiohttp writes a handler's response after the handler returns, and waits for a client
    that does not read for as long as the client likes, holding the response meanwhile (up
    to `--http-max-body` for an echo). A response that fits under the socket's write-buffer
    high-water mark cannot wait (the buffer takes it whole), so `edge` leaves it to aiohttp
    and it costs no timer; a bigger one (or a file) is written here, within the deadline.
    Streams (SSE, WebSocket) were prepared by their handler and bound their own writes.
    """
    try:
        async with asyncio.timeout(seconds):
            response = await _write_whole(request, response)
    except TimeoutError:
        request.app[keys.METRICS].refused(Reason.SEND_TIMEOUT)
        logger.info("%s did not read its response in %g s: cut", request.remote, seconds)
        if request.transport is not None:
            request.transport.abort()
    except ConnectionError:  # the client left meanwhile: normal, not an error
        return departed(request)
    # aiohttp finishes what is left; an aborted connection it just notes as gone.
    return response


# The pieces a big body is written in (see `_write_whole`).
_PIECE = 64 * 1024


async def _write_whole(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Prepare and send `response`; returns the response that went out.

    A big bytes body goes out in pieces, through a `StreamResponse` with the same status and
    headers: TLS encrypts whatever it is given at once and hands it all to the socket's
    buffer, so one big write never waits, and its deadline would never act (a 6 MB echo
    would sit in memory until the keep-alive timeout). Written in pieces, flow control
    pushes back after the first ones.
    """
    body = response.body if isinstance(response, web.Response) else None
    if not isinstance(body, bytes) or len(body) <= _PIECE:
        await response.prepare(request)
        await response.write_eof()
        return response
    pieces = web.StreamResponse(status=response.status, reason=response.reason)
    pieces.headers.extend(response.headers)
    pieces.content_length = len(body)
    await pieces.prepare(request)
    view = memoryview(body)
    for start in range(0, len(body), _PIECE):
        await pieces.write(view[start : start + _PIECE])
    await pieces.write_eof()
    return pieces


# Room for the status line and headers of a response, beside its body.
_HEAD_ALLOWANCE = 4096


def fits_in_buffer(request: web.Request, response: web.StreamResponse) -> bool:
    """True if writing `response` whole cannot wait on the client (see `write_in_time`)."""
    body = response.body if isinstance(response, web.Response) else None  # files: None
    transport = request.transport
    if transport is None or not isinstance(body, bytes):
        return False
    high_water = transport.get_write_buffer_limits()[1]
    return transport.get_write_buffer_size() + len(body) + _HEAD_ALLOWANCE <= high_water


MIDDLEWARES: tuple[Middleware, ...] = (trust_forwarded, edge)


def middlewares_for(settings: Settings) -> tuple[Middleware, ...]:
    """`MIDDLEWARES` for an app with `settings`: `trust_forwarded` only when some proxy is
    trusted (without, it would pass every request on unchanged, one call deeper)."""
    if settings.trusted_proxies:
        return MIDDLEWARES
    return tuple(m for m in MIDDLEWARES if m is not trust_forwarded)
