"""Plain HTTP handlers: `/http/echo`, `/http/tick` and `/http/room/{room}`.

One request, one response: the protocol every other one here is compared with.
"""

import asyncio
from collections.abc import Awaitable, Callable
from functools import wraps

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from server import keys
from server.core.cursors import ORIGIN
from server.core.protocols import WireProtocol
from server.core.refusals import BodyTooLarge, Reason
from server.core.ticks import MAX_INTERVAL_MS, MAX_PAD, GridTick, now_ms, tick_payload
from server.core.validation import ValidationError, parse_float_param, parse_int_param
from server.handlers import chat

HTTP = WireProtocol.HTTP
HttpHandler = Callable[[web.Request], Awaitable[web.Response]]


def counted(handler: HttpHandler) -> HttpHandler:
    """Count the request and its response (body bytes) in the HTTP metrics."""

    @wraps(handler)
    async def wrapper(request: web.Request) -> web.Response:
        # Metrics.opened/received/sent/closed, inlined on the counters: once per request.
        counters = request.app[keys.METRICS].counters(HTTP)
        counters.open += 1
        counters.total += 1
        counters.messages_in += 1  # the body's bytes are counted by `read_body`
        try:
            response = await handler(request)
            body = response.body
            counters.messages_out += 1
            counters.bytes_out += len(body) if isinstance(body, bytes) else 0
            return response
        finally:
            counters.open -= 1

    return wrapper


@counted
async def http_echo_get(request: web.Request) -> web.Response:
    """Describe the request: method, query parameters (lists when repeated) and server time."""
    query = {
        name: values[0] if len(values) == 1 else values
        for name in request.query
        for values in [request.query.getall(name)]
    }
    return web.json_response({"method": request.method, "query": query, "ts": now_ms()})


async def read_body(request: web.Request, limit: int | None = None) -> bytes:
    """The request body, whole; a 413 at once if its Content-Length is over the limit
    (`--http-max-body`, or the smaller `limit` of what the route accepts), a 408 if it does
    not arrive within `--body-timeout` (a slow upload would otherwise hold the handler for as
    long as the client likes)."""
    app = request.app  # a property that looks up the match info: once here
    settings = app[keys.SETTINGS]
    max_body = settings.http_max_body
    length = request.content_length  # parsed from the header at each access: once here
    if length is not None and length > max_body:
        # Refused before a byte of it is read: the client need not send (or trickle) it.
        raise web.HTTPRequestEntityTooLarge(max_size=max_body, actual_size=length)
    if limit is not None and limit < max_body:
        if length is not None and length > limit:
            raise BodyTooLarge(limit)
        read = _read_at_most(request, limit)
    else:
        read = request.read()
    seconds = settings.body_timeout
    try:
        if request.content.is_eof() or not seconds:  # all here already: reading cannot wait
            body = await read
        else:
            async with asyncio.timeout(seconds):
                body = await read
    except TimeoutError:
        app[keys.METRICS].refused(Reason.BODY_TIMEOUT)
        raise web.HTTPRequestTimeout(
            text=f"request body not received within {seconds:g} s"
        ) from None
    except web.RequestPayloadError as exc:  # e.g. Content-Encoding: gzip that is not gzip
        app[keys.METRICS].refused(Reason.BAD_REQUEST)
        cause = exc.__cause__
        detail = cause.message if isinstance(cause, HttpProcessingError) else str(exc)
        raise web.HTTPBadRequest(text=f"request body could not be read: {detail}") from None
    app[keys.METRICS].received_bytes(HTTP, len(body))
    return body


async def _read_at_most(request: web.Request, limit: int) -> bytes:
    """The body of a request without a Content-Length (chunked), refused past `limit`."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


@counted
async def http_echo_post(request: web.Request) -> web.Response:
    """Send the body back verbatim, with the request's Content-Type."""
    body = await read_body(request)
    content_type = request.headers.get("Content-Type", "application/octet-stream")
    return web.Response(body=body, headers={"Content-Type": content_type})


MAX_WAIT_S = 30.0


@counted
async def http_tick(request: web.Request) -> web.Response:
    """The latest tick of the `interval` grid; with `after` and `wait`, a long-poll.

    `GET /http/tick?interval=MS` answers at once (polling). Adding `after=SEQ&wait=S` holds
    the request until the tick after SEQ happens, or `wait` seconds pass (long-polling).
    """
    query = request.query
    interval = parse_int_param(
        "interval", query.get("interval"), default=1000, minimum=1, maximum=MAX_INTERVAL_MS
    )
    size = parse_int_param("size", query.get("size"), default=0, minimum=0, maximum=MAX_PAD)
    wait = parse_float_param("wait", query.get("wait"), default=0, minimum=0, maximum=MAX_WAIT_S)
    tick = GridTick.at(now_ms(), interval)
    if "after" in query and wait > 0:
        after = parse_int_param("after", query["after"], default=0, minimum=0, maximum=2**62)
        if tick.seq <= after:
            tick = await _wait_for_tick(GridTick.after(after, interval), interval, wait)
    return web.json_response(tick_payload(tick.seq, size, tick.ts))


async def _wait_for_tick(target: GridTick, interval: int, wait: float) -> GridTick:
    delay = min(wait, max(0.0, (target.ts - now_ms()) / 1000))
    await asyncio.sleep(delay)  # a timer, not synchronisation: the tick is a clock event
    return GridTick.at(now_ms(), interval)


@counted
async def http_room_post(request: web.Request) -> web.Response:
    """Publish `{"user", "text"}` to the room; 201 with the stored message.

    `?via=sse` labels the message as sent by an SSE participant, which has no way to send on
    its stream and so posts here.
    """
    room = chat.room_name(request)
    via = request.query.get("via", "http")
    if via not in (WireProtocol.HTTP, WireProtocol.SSE):
        raise ValidationError(f"via must be http or sse, got {via!r}")
    limiter = request.app[keys.HTTP_RATE_LIMITS].for_key(request.remote or "unknown")
    body = await read_body(request, limit=chat.max_body(request))
    message = await chat.publish(request, body, WireProtocol(via), limiter, room)
    return web.json_response(text=message.wire, status=201)


@counted
async def http_room_get(request: web.Request) -> web.Response:
    """Messages after `since` as a JSON list; with `wait` > 0 a long-poll.

    A long-poll returns as soon as a message arrives, or `[]` after `wait` seconds. When the
    history no longer holds some messages after `since`, `X-Lost-Messages` says how many;
    `X-Room-Reset: 1` says `since` was from another epoch (the list then starts the room's
    current history). `X-Room-Cursor` is the `since` of the next poll.
    """
    room = chat.room_name(request)
    since = chat.cursor(request, "since") or ORIGIN
    wait = parse_float_param(
        "wait", request.query.get("wait"), default=0, minimum=0, maximum=MAX_WAIT_S
    )
    hub = request.app[keys.HUB]
    replay = await hub.wait_for(room, since, wait) if wait > 0 else await hub.since(room, since)
    headers = {"X-Room-Cursor": str(replay.position)}
    if replay.lost:
        headers["X-Lost-Messages"] = str(replay.lost)
    if replay.reset:
        headers["X-Room-Reset"] = "1"
    # Each message's JSON was encoded once, at publish: the list is only joined here.
    body = "[" + ",".join(m.wire for m in replay.messages) + "]"
    return web.json_response(text=body, headers=headers)
