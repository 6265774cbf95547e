"""WebSocket handlers: `GET /ws/echo`, `GET /ws/stream` and `GET /ws/room/{room}`.

Shape of every WebSocket handler here: upgrade, register (limits, metrics, shutdown), loop,
clean up. We read close frames ourselves (`autoclose=False`) because the answer to a Close
depends on its code (RFC 6455 §7.4), which aiohttp does not check fully.
"""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager

import aiohttp
from aiohttp import WSCloseCode, WSMsgType, web

from server import keys
from server.connections import ConnectionLimitReached
from server.core import close_codes
from server.core.metrics import Metrics
from server.core.protocols import WireProtocol
from server.core.ratelimit import RateLimited
from server.core.rooms import DropReason, HubClosed, RoomError, SubscriberDropped, Subscription
from server.core.ticks import TickParams, tick_payload
from server.core.validation import ValidationError, parse_int_param
from server.handlers import chat

WS = WireProtocol.WS
logger = logging.getLogger(__name__)


async def accept_websocket(request: web.Request) -> web.WebSocketResponse:
    """Complete the upgrade with a `WebSocketResponse` configured from the settings."""
    settings = request.app[keys.SETTINGS]
    # aiohttp refuses a plain frame whose length *equals* max_msg_size but lets a compressed
    # one of max_msg_size + 1 through; we give it one byte of slack and apply the exact
    # limit in `too_big`. 0 stays 0 (unlimited).
    max_msg_size = settings.ws_max_size + 1 if settings.ws_max_size else 0
    ws = web.WebSocketResponse(
        heartbeat=settings.ws_heartbeat or None,
        max_msg_size=max_msg_size,
        compress=settings.ws_compress,
        autoclose=False,
    )
    await ws.prepare(request)
    return ws


@asynccontextmanager
async def registered(request: web.Request, ws: web.WebSocketResponse) -> AsyncIterator[bool]:
    """Count `ws` and hold it in the live-connection registry for the block.

    Yields False when `--max-connections` is reached: the socket is then closed with 1013
    (try again later), which a browser can show, unlike a refused upgrade. An unexpected
    error in the block is logged and the socket closed with 1011 (internal error).
    """
    metrics = request.app[keys.METRICS]
    with ExitStack() as stack:
        try:
            stack.enter_context(request.app[keys.LIVE_CONNECTIONS].websocket(ws))
        except ConnectionLimitReached as exc:
            metrics.refused("max_connections")
            await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=str(exc).encode()[:123])
            yield False
            return
        metrics.opened(WS)
        stack.callback(metrics.closed, WS)
        try:
            yield True
        except Exception:  # the upgrade is done: answer with 1011, not an HTTP 500
            logger.exception("unexpected error in %s %s", request.method, request.path)
            await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"internal server error")


async def ws_echo(request: web.Request) -> web.WebSocketResponse:
    """Echo every text and binary message back verbatim until the peer closes."""
    ws = await accept_websocket(request)
    async with registered(request, ws) as admitted:
        if admitted:
            await echo_until_closed(ws, request)
    return ws


async def echo_until_closed(ws: web.WebSocketResponse, request: web.Request) -> None:
    """The echo loop. aiohttp itself closes on bad input (oversize 1009, bad UTF-8 1007)."""
    metrics = request.app[keys.METRICS]
    while True:
        msg = await ws.receive()
        if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            size = payload_size(msg)
            if await too_big(request, ws, size):
                return
            metrics.received(WS, size)
            if msg.type is WSMsgType.TEXT:
                await ws.send_str(msg.data)
            else:
                await ws.send_bytes(msg.data)
            metrics.sent(WS, size)
        elif msg.type is WSMsgType.CLOSE:
            await ws.close(code=close_codes.reply_to_close(msg.data))
            return
        else:  # CLOSING (we started the close), CLOSED or ERROR: already answered.
            return


def payload_size(msg: aiohttp.WSMessage) -> int:
    """Bytes of a text or binary message's payload."""
    return len(msg.data) if isinstance(msg.data, bytes) else len(msg.data.encode())


async def too_big(request: web.Request, ws: web.WebSocketResponse, size: int) -> bool:
    """Close with 1009 and return True if a message of `size` bytes is over the limit."""
    limit = request.app[keys.SETTINGS].ws_max_size
    if not limit or size <= limit:
        return False
    reason = f"message of {size} bytes is over the limit of {limit}"
    await ws.close(code=WSCloseCode.MESSAGE_TOO_BIG, message=reason.encode())
    return True


async def ws_stream(request: web.Request) -> web.WebSocketResponse:
    """Push tick messages like `/sse/stream`, as WebSocket text frames.

    `count`, `interval` and `size` mean what they mean for SSE. WebSocket has no
    Last-Event-ID: a client that wants to resume must say so itself, with `after=SEQ`.
    A finite stream ends with close 1000.
    """
    params = TickParams.from_query(request.query)
    after = parse_int_param(
        "after", request.query.get("after"), default=0, minimum=0, maximum=2**62
    )
    ws = await accept_websocket(request)
    async with registered(request, ws) as admitted:
        if admitted:
            metrics = request.app[keys.METRICS]
            pusher = asyncio.create_task(push_ticks(ws, params, after + 1, metrics))
            try:
                await drain_until_closed(ws)
            finally:
                pusher.cancel()
                await asyncio.gather(pusher, return_exceptions=True)
    return ws


async def push_ticks(
    ws: web.WebSocketResponse, params: TickParams, first: int, metrics: Metrics
) -> None:
    """Send ticks `first`.. on the `interval` schedule, then close 1000 if the stream ends."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    seq = first
    while not params.is_finished(seq):
        text = json.dumps(tick_payload(seq, params.size), separators=(",", ":"))
        await ws.send_str(text)
        metrics.sent(WS, len(text))
        seq += 1
        # Deadlines from the start, not sleeps after each send, so ticks do not drift.
        await asyncio.sleep(
            max(0.0, started + (seq - first) * params.interval_ms / 1000 - loop.time())
        )
    await ws.close(code=WSCloseCode.OK, message=b"stream complete")


async def drain_until_closed(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the client sends, answering its Close, until the socket closes."""
    while True:
        msg = await ws.receive()
        if msg.type is WSMsgType.CLOSE:
            await ws.close(code=close_codes.reply_to_close(msg.data))
            return
        if msg.type in (WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return


async def ws_room(request: web.Request) -> web.WebSocketResponse:
    """Join a room: send `{"user", "text"}`, receive every room message as JSON.

    `after=ID` first replays history after ID. Bad input gets an `{"error": ...}` frame and
    the connection stays open. A reader too slow for the room is closed with 1008.
    """
    room = chat.room_name(request)
    after = chat.cursor(request, "after")
    ws = await accept_websocket(request)
    async with registered(request, ws) as admitted:
        if admitted:
            await serve_room(request, ws, room, after)
    return ws


async def serve_room(
    request: web.Request, ws: web.WebSocketResponse, room: str, after: int | None
) -> None:
    """Subscribe, forward room messages in a task, publish what the client sends."""
    hub = request.app[keys.HUB]
    try:
        subscription, replay = hub.subscribe(room, WS, after_id=after)
    except RoomError as exc:
        code = (
            WSCloseCode.GOING_AWAY if isinstance(exc, HubClosed) else WSCloseCode.TRY_AGAIN_LATER
        )
        await ws.close(code=code, message=str(exc).encode()[:123])
        return
    outgoing = [message.to_json() for message in replay.messages]
    if replay.lost:
        outgoing.insert(0, {"gap": {"lost": replay.lost}})
    forwarder = asyncio.create_task(forward_room(request, ws, subscription, outgoing))
    try:
        await publish_incoming(request, ws, room)
    finally:
        hub.unsubscribe(subscription)
        forwarder.cancel()
        await asyncio.gather(forwarder, return_exceptions=True)


async def forward_room(
    request: web.Request,
    ws: web.WebSocketResponse,
    subscription: Subscription,
    replay: list[dict[str, object]],
) -> None:
    """Send the replay, then live messages; close 1008 (1001 on shutdown) when dropped."""
    try:
        for item in replay:
            await send_room_json(request, ws, item)
        async for message in subscription:
            await send_room_json(request, ws, message.to_json())
    except SubscriberDropped as exc:
        slow = exc.reason is DropReason.SLOW_CONSUMER
        code = WSCloseCode.POLICY_VIOLATION if slow else WSCloseCode.GOING_AWAY
        reason = f"too slow: fell more than {subscription_limit(request)} messages behind"
        await close_or_abort(request, ws, code, reason if slow else "server shutting down")
    except TimeoutError:
        request.app[keys.METRICS].refused("send_timeout")
        abort(request)


def subscription_limit(request: web.Request) -> int:
    """How far a subscriber may fall behind (the room queue size)."""
    return request.app[keys.SETTINGS].room_queue


async def send_room_json(
    request: web.Request, ws: web.WebSocketResponse, data: dict[str, object]
) -> None:
    """Send one JSON frame, giving up (TimeoutError) on a peer that stopped reading."""
    text = json.dumps(data, separators=(",", ":"))
    async with asyncio.timeout(request.app[keys.SETTINGS].ws_send_timeout or None):
        await ws.send_str(text)
    request.app[keys.METRICS].sent(WS, len(text.encode()))


async def close_or_abort(
    request: web.Request, ws: web.WebSocketResponse, code: int, reason: str
) -> None:
    """Close with `code`, or cut the connection if the peer does not even take the Close."""
    try:
        async with asyncio.timeout(request.app[keys.SETTINGS].ws_send_timeout or None):
            await ws.close(code=code, message=reason.encode()[:123])
    except TimeoutError:
        abort(request)


def abort(request: web.Request) -> None:
    """Drop the TCP connection at once: a stalled peer would never drain a graceful close."""
    if request.transport is not None:
        request.transport.abort()


async def publish_incoming(request: web.Request, ws: web.WebSocketResponse, room: str) -> None:
    """Publish each message the client sends; answer mistakes with an error frame."""
    metrics = request.app[keys.METRICS]
    limiter = chat.new_limiter(request)
    while True:
        msg = await ws.receive()
        if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            if await too_big(request, ws, payload_size(msg)):
                return
            metrics.received(WS, payload_size(msg))
            try:
                await chat.publish(request, msg.data, WS, limiter, room)
            except (ValidationError, RateLimited, RoomError) as exc:
                if isinstance(exc, RateLimited):
                    metrics.refused("rate_limit")
                await ws.send_str(json.dumps({"error": str(exc)}))
        elif msg.type is WSMsgType.CLOSE:
            await ws.close(code=close_codes.reply_to_close(msg.data))
            return
        else:
            return
