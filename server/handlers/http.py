"""Plain HTTP handlers: `GET /http/echo` and `POST /http/echo`.

One request, one response: the protocol every other one here is compared with.
"""

import time
from collections.abc import Awaitable, Callable
from functools import wraps

from aiohttp import web

from server import keys
from server.core.protocols import WireProtocol

HTTP = WireProtocol.HTTP
HttpHandler = Callable[[web.Request], Awaitable[web.Response]]


def counted(handler: HttpHandler) -> HttpHandler:
    """Count the request and its response (body bytes) in the HTTP metrics."""

    @wraps(handler)
    async def wrapper(request: web.Request) -> web.Response:
        metrics = request.app[keys.METRICS]
        metrics.opened(HTTP)
        try:
            metrics.received(HTTP, request.content_length or 0)
            response = await handler(request)
            metrics.sent(HTTP, len(response.body) if isinstance(response.body, bytes) else 0)
            return response
        finally:
            metrics.closed(HTTP)

    return wrapper


def now_ms() -> int:
    """Server time in milliseconds since the epoch, as in every `ts` field."""
    return time.time_ns() // 1_000_000


@counted
async def http_echo_get(request: web.Request) -> web.Response:
    """Describe the request: method, query parameters (lists when repeated) and server time."""
    query = {
        name: values[0] if len(values) == 1 else values
        for name in request.query
        for values in [request.query.getall(name)]
    }
    return web.json_response({"method": request.method, "query": query, "ts": now_ms()})


@counted
async def http_echo_post(request: web.Request) -> web.Response:
    """Send the body back verbatim, with the request's Content-Type."""
    body = await request.read()
    content_type = request.headers.get("Content-Type", "application/octet-stream")
    return web.Response(body=body, headers={"Content-Type": content_type})
