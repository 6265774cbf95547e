"""WebSocket handlers: `GET /ws/echo`, `GET /ws/stream` and `GET /ws/room/{room}`.

Shape of every WebSocket handler here: upgrade, register (limits, metrics, shutdown), loop,
clean up. We read close frames ourselves (`autoclose=False`) because the answer to a Close
depends on its code (RFC 6455 §7.4), which aiohttp does not check fully.

Every way a peer can hold the server is bounded:

* a peer that does not read: each send may wait `--ws-send-timeout` s, then the connection
  is cut (a graceful close would wait on the same full buffer);
* a peer that vanished (half-open TCP): the heartbeat pings every `--ws-heartbeat` s and cuts
  a peer whose pong does not come within half that;
* a peer that is connected but silent: `/ws/echo` and `/ws/room` close it with 1000
  "idle timeout" after `--ws-idle-timeout` s without a message. Pings and pongs do not count
  as activity (they prove the path is alive, which is the heartbeat's job, not that anyone
  uses it). `/ws/stream` is exempt: its client only listens, by design;
* bad input: over `--ws-max-size` 1009, broken frames 1002, invalid UTF-8 1007 (aiohttp
  detects the last two).
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
from server.core.protocols import WireProtocol
from server.core.ratelimit import RateLimited
from server.core.rooms import (
    DropReason,
    HubClosed,
    RoomError,
    RoomLimitReached,
    SubscriberDropped,
    Subscription,
)
from server.core.ticks import TickParams, tick_payload
from server.core.validation import ValidationError, parse_int_param
from server.guard import guard_of
from server.handlers import chat

WS = WireProtocol.WS
IDLE_REASON = "idle timeout"
# How long our Close waits for the peer's (RFC 6455 §7.1.1 asks for the reply, not for a
# wait of any length). aiohttp's 10 s would let a flood of refused upgrades that never
# answer hold a handler each for 10 s.
CLOSE_HANDSHAKE_S = 2.0
logger = logging.getLogger(__name__)

# What aiohttp's close code for bad input means, as a key of `/api/stats` `refused`.
_INPUT_ERRORS = {
    WSCloseCode.PROTOCOL_ERROR: "ws_protocol_error",
    WSCloseCode.INVALID_TEXT: "ws_invalid_data",
    WSCloseCode.MESSAGE_TOO_BIG: "ws_message_too_big",
}


async def accept_websocket(request: web.Request) -> web.WebSocketResponse:
    """Complete the upgrade with a `WebSocketResponse` configured from the settings."""
    settings = request.app[keys.SETTINGS]
    # aiohttp refuses a plain frame whose length *equals* max_msg_size but lets a compressed
    # one of max_msg_size + 1 through; we give it one byte of slack and apply the exact
    # limit in `too_big`. 0 stays 0 (unlimited).
    max_msg_size = settings.ws_max_size + 1 if settings.ws_max_size else 0
    ws = web.WebSocketResponse(
        timeout=CLOSE_HANDSHAKE_S,
        heartbeat=settings.ws_heartbeat or None,
        max_msg_size=max_msg_size,
        compress=settings.ws_compress,
        autoclose=False,
    )
    # Before the 101 goes out, so the guard sees the first frame's first byte (server/guard.py).
    if (guard := guard_of(request)) is not None:
        guard.expect_websocket_frames()
    await ws.prepare(request)
    return ws


@asynccontextmanager
async def registered(request: web.Request, ws: web.WebSocketResponse) -> AsyncIterator[bool]:
    """Count `ws` and hold it in the live-connection registry for the block.

    Yields False when `--max-connections` or `--max-connections-per-ip` is reached: the
    socket is then closed with 1013 (try again later), which a browser can show, unlike a
    refused upgrade. An unexpected error in the block is logged and the socket closed with
    1011 (internal error).
    """
    metrics = request.app[keys.METRICS]
    with ExitStack() as stack:
        try:
            place = stack.enter_context(
                request.app[keys.LIVE_CONNECTIONS].hold(request.remote or "unknown")
            )
        except ConnectionLimitReached as exc:
            metrics.refused(exc.reason.value)
            await close_or_abort(request, ws, WSCloseCode.TRY_AGAIN_LATER, str(exc))
            yield False
            return
        place.attach(ws, request.transport)
        metrics.opened(WS)
        stack.callback(metrics.closed, WS)
        try:
            yield True
        except Exception:  # the upgrade is done: answer with 1011, not an HTTP 500
            logger.exception("unexpected error in %s %s", request.method, request.path)
            await close_or_abort(request, ws, WSCloseCode.INTERNAL_ERROR, "internal server error")


class IdleDeadline:
    """When a silent client is closed: `seconds` after its last message (0 = never)."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self.when: float | None = None
        self.reset()

    def reset(self) -> None:
        """The client sent a message: the clock starts again."""
        if self._seconds:
            self.when = asyncio.get_running_loop().time() + self._seconds


async def receive(
    request: web.Request, ws: web.WebSocketResponse, idle: IdleDeadline | None = None
) -> aiohttp.WSMessage | None:
    """The next message from the peer, with its bad input counted in the metrics.

    Returns None when the peer was closed for idling (1000 "idle timeout"). Pings and pongs
    are answered inside `ws.receive()` and never reach here, so they do not reset `idle`.
    """
    try:
        async with asyncio.timeout_at(idle.when if idle else None):
            msg = await ws.receive()
    except TimeoutError:
        request.app[keys.METRICS].refused("idle_timeout")
        await close_or_abort(request, ws, WSCloseCode.OK, IDLE_REASON)
        return None
    if msg.type is WSMsgType.ERROR and isinstance(msg.data, aiohttp.WebSocketError):
        reason = _INPUT_ERRORS.get(WSCloseCode(msg.data.code)) if msg.data.code else None
        if reason:
            request.app[keys.METRICS].refused(reason)
    elif msg.type in (WSMsgType.TEXT, WSMsgType.BINARY) and idle:
        idle.reset()
    return msg


async def send(request: web.Request, ws: web.WebSocketResponse, data: str | bytes) -> bool:
    """Send one message; counted. Returns False if the peer is gone or did not take it within
    `--ws-send-timeout` s, in which case the connection has been cut."""
    try:
        async with asyncio.timeout(request.app[keys.SETTINGS].ws_send_timeout or None):
            if isinstance(data, str):
                await ws.send_str(data)
            else:
                await ws.send_bytes(data)
    except TimeoutError:
        request.app[keys.METRICS].refused("send_timeout")
        abort(request)
        return False
    except ConnectionResetError:  # the peer left while we were answering it
        return False
    request.app[keys.METRICS].sent(
        WS, len(data) if isinstance(data, bytes) else len(data.encode())
    )
    return True


async def answer_close(
    request: web.Request, ws: web.WebSocketResponse, msg: aiohttp.WSMessage
) -> None:
    """Answer the peer's Close frame with the code RFC 6455 asks for."""
    await close_or_abort(request, ws, close_codes.reply_to_close(msg.data), "")


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


def payload_size(msg: aiohttp.WSMessage) -> int:
    """Bytes of a text or binary message's payload."""
    return len(msg.data) if isinstance(msg.data, bytes) else len(msg.data.encode())


async def too_big(request: web.Request, ws: web.WebSocketResponse, size: int) -> bool:
    """Close with 1009 and return True if a message of `size` bytes is over the limit."""
    limit = request.app[keys.SETTINGS].ws_max_size
    if not limit or size <= limit:
        return False
    request.app[keys.METRICS].refused("ws_message_too_big")
    reason = f"message of {size} bytes is over the limit of {limit}"
    await close_or_abort(request, ws, WSCloseCode.MESSAGE_TOO_BIG, reason)
    return True


async def ws_echo(request: web.Request) -> web.WebSocketResponse:
    """Echo every text and binary message back verbatim until the peer closes."""
    ws = await accept_websocket(request)
    async with registered(request, ws) as admitted:
        if admitted:
            await echo_until_closed(ws, request)
    return ws


async def echo_until_closed(ws: web.WebSocketResponse, request: web.Request) -> None:
    """The echo loop. aiohttp itself closes on bad input (oversize 1009, bad UTF-8 1007).

    The echo is sent before the next message is read, so a client that sends but never
    reads stops being read too: TCP flow control pushes back on it, and the server holds at
    most one message for it until `--ws-send-timeout` cuts it off.
    """
    metrics = request.app[keys.METRICS]
    idle = IdleDeadline(request.app[keys.SETTINGS].ws_idle_timeout)
    while (msg := await receive(request, ws, idle)) is not None:
        if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            size = payload_size(msg)
            if await too_big(request, ws, size):
                return
            metrics.received(WS, size)
            if not await send(request, ws, msg.data):
                return
        elif msg.type is WSMsgType.CLOSE:
            await answer_close(request, ws, msg)
            return
        else:  # CLOSING (we started the close), CLOSED or ERROR: already answered.
            return


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
            pusher = asyncio.create_task(push_ticks(request, ws, params, after + 1))
            try:
                await drain_until_closed(request, ws)
            finally:
                pusher.cancel()
                await asyncio.gather(pusher, return_exceptions=True)
    return ws


async def push_ticks(
    request: web.Request, ws: web.WebSocketResponse, params: TickParams, first: int
) -> None:
    """Send ticks `first`.. on the `interval` schedule, then close 1000 if the stream ends."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    seq = first
    while not params.is_finished(seq):
        text = json.dumps(tick_payload(seq, params.size), separators=(",", ":"))
        if not await send(request, ws, text):
            return
        seq += 1
        # Deadlines from the start, not sleeps after each send, so ticks do not drift.
        await asyncio.sleep(
            max(0.0, started + (seq - first) * params.interval_ms / 1000 - loop.time())
        )
    await close_or_abort(request, ws, WSCloseCode.OK, "stream complete")


async def drain_until_closed(request: web.Request, ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the client sends, answering its Close, until the socket closes."""
    while (msg := await receive(request, ws)) is not None:
        if msg.type is WSMsgType.CLOSE:
            await answer_close(request, ws, msg)
            return
        if msg.type in (WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return
        if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY) and await too_big(
            request, ws, payload_size(msg)
        ):
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
        if isinstance(exc, RoomLimitReached):
            request.app[keys.METRICS].refused("max_rooms")
        code = (
            WSCloseCode.GOING_AWAY if isinstance(exc, HubClosed) else WSCloseCode.TRY_AGAIN_LATER
        )
        await close_or_abort(request, ws, code, str(exc))
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
            if not await send_json(request, ws, item):
                return
        async for message in subscription:
            if not await send_json(request, ws, message.to_json()):
                return
    except SubscriberDropped as exc:
        slow = exc.reason is DropReason.SLOW_CONSUMER
        code = WSCloseCode.POLICY_VIOLATION if slow else WSCloseCode.GOING_AWAY
        reason = f"too slow: fell more than {subscription_limit(request)} messages behind"
        await close_or_abort(request, ws, code, reason if slow else "server shutting down")


def subscription_limit(request: web.Request) -> int:
    """How far a subscriber may fall behind (the room queue size)."""
    return request.app[keys.SETTINGS].room_queue


async def send_json(
    request: web.Request, ws: web.WebSocketResponse, data: dict[str, object]
) -> bool:
    """Send one JSON text frame (see `send`)."""
    return await send(request, ws, json.dumps(data, separators=(",", ":")))


async def publish_incoming(request: web.Request, ws: web.WebSocketResponse, room: str) -> None:
    """Publish each message the client sends; answer mistakes with an error frame."""
    metrics = request.app[keys.METRICS]
    limiter = chat.new_limiter(request)
    idle = IdleDeadline(request.app[keys.SETTINGS].ws_idle_timeout)
    while (msg := await receive(request, ws, idle)) is not None:
        if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            if await too_big(request, ws, payload_size(msg)):
                return
            metrics.received(WS, payload_size(msg))
            try:
                await chat.publish(request, msg.data, WS, limiter, room)
            except (ValidationError, RateLimited, RoomError) as exc:
                if isinstance(exc, RateLimited):
                    metrics.refused("rate_limit")
                elif isinstance(exc, RoomLimitReached):
                    metrics.refused("max_rooms")
                if not await send_json(request, ws, {"error": str(exc)}):
                    return
        elif msg.type is WSMsgType.CLOSE:
            await answer_close(request, ws, msg)
            return
        else:
            return
