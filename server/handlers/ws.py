"""WebSocket handlers: `GET /ws/echo`, `GET /ws/stream` and `GET /ws/room/{room}`.

Shape of every WebSocket handler here: accept, loop over the messages, delegate, clean up.
`WsConnection` (server/wire/ws.py) does the rest: the connection limits, the metrics, the
idle and send deadlines, the size limit, and answering the peer's Close (RFC 6455 §7.4).
"""

import asyncio

from aiohttp import web

from server import keys
from server.core.cursors import Cursor
from server.core.notices import Notice
from server.core.protocols import WireProtocol
from server.core.refusals import CloseCode, Refusal, SlowConsumer
from server.core.rooms import Delivery, DropReason, SubscriberDropped, Subscription
from server.core.ticks import TickParams, TickText
from server.core.validation import parse_int_param
from server.handlers import chat
from server.wire.fanout import ws_sink
from server.wire.ws import SHUTDOWN_REASON, WsConnection

WS = WireProtocol.WS


async def ws_echo(request: web.Request) -> web.WebSocketResponse:
    """Echo every text and binary message back verbatim until the peer closes.

    The echo is sent before the next message is read, so a client that sends but never
    reads stops being read too: TCP flow control pushes back on it, and the server holds at
    most one message for it until `--ws-send-timeout` cuts it off.
    """
    async with await WsConnection.accept(request, idle=True) as conn:
        async for data in conn:
            if not await conn.send(data):
                break
    return conn.response


async def ws_stream(request: web.Request) -> web.WebSocketResponse:
    """Push tick messages like `/sse/stream`, as WebSocket text frames.

    `count`, `interval` and `size` mean what they mean for SSE. WebSocket has no
    Last-Event-ID: a client that wants to resume must say so itself, with `after=SEQ`.
    A finite stream ends with close 1000. What the client sends is read and ignored
    (the client only listens, so it is never closed for idling).
    """
    params = TickParams.from_query(request.query)
    after = parse_int_param(
        "after", request.query.get("after"), default=0, minimum=0, maximum=2**62
    )
    async with await WsConnection.accept(request) as conn:
        if conn.admitted:
            pusher = asyncio.create_task(push_ticks(conn, params, after + 1))
            try:
                async for _ in conn:
                    pass
            finally:
                pusher.cancel()
                await asyncio.gather(pusher, return_exceptions=True)
    return conn.response


async def push_ticks(conn: WsConnection, params: TickParams, first: int) -> None:
    """Send ticks `first`.. on the `interval` schedule, then close 1000 if the stream ends."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    seq = first
    tick_text = TickText(params.size)
    while not params.is_finished(seq):
        if not await conn.send(tick_text(seq)):
            return
        seq += 1
        # Deadlines from the start, not sleeps after each send, so ticks do not drift.
        await asyncio.sleep(
            max(0.0, started + (seq - first) * params.interval_ms / 1000 - loop.time())
        )
    await conn.close(CloseCode.NORMAL, "stream complete")


async def ws_room(request: web.Request) -> web.WebSocketResponse:
    """Join a room: send `{"user", "text"}`, receive every room message as JSON.

    `after=ID` first replays history after ID. Bad input gets an `{"error": ...}` frame and
    the connection stays open. A reader too slow for the room is closed with 1008.
    """
    room = chat.room_name(request)
    after = chat.cursor(request, "after")
    async with await WsConnection.accept(request, idle=True, broadcast=True) as conn:
        if conn.admitted:
            await serve_room(conn, room, after)
    return conn.response


async def serve_room(conn: WsConnection, room: str, after: Cursor | None) -> None:
    """Subscribe, forward room messages in a task, publish what the client sends."""
    hub = conn.request.app[keys.HUB]
    try:
        subscription, replay = await hub.subscribe(room, WS, after=after)
    except Refusal as refusal:  # no room left, or the server is shutting down
        await conn.refuse(refusal)
        return
    outgoing: list[Delivery] = [*replay.notices(), *replay.messages]
    forwarder = asyncio.create_task(forward_room(conn, subscription, outgoing))
    try:
        await publish_incoming(conn, room)
    finally:
        hub.unsubscribe(subscription)
        forwarder.cancel()
        await asyncio.gather(forwarder, return_exceptions=True)


async def forward_room(
    conn: WsConnection, subscription: Subscription, replay: list[Delivery]
) -> None:
    """Send the replay, then live messages and notices (each message's JSON was encoded
    once, at publish); close 1008 (1001 on shutdown) when dropped.

    Live messages are written by the publish itself through a sink (server/wire/fanout.py);
    this task then only waits for the end. Without a sink it sends them.
    """
    try:
        for item in replay:
            if not await conn.send(wire_text(item)):
                return
        if (sink := ws_sink(conn, subscription_limit(conn))) is not None:
            subscription.attach(sink)
        async for item in subscription:
            if not await conn.send(wire_text(item)):
                return
    except SubscriberDropped as exc:
        if exc.reason is DropReason.SLOW_CONSUMER:
            # Counted by the hub's drop callback (server/app.py), so not by `refuse`.
            await conn.close(SlowConsumer.close_code, str(SlowConsumer(subscription_limit(conn))))
        else:
            await conn.close(CloseCode.GOING_AWAY, SHUTDOWN_REASON)


def wire_text(item: Delivery) -> str:
    """The text frame for a room message or a notice (`{"gap": ...}`, `{"reset": ...}`)."""
    return item.frame if isinstance(item, Notice) else item.wire


def subscription_limit(conn: WsConnection) -> int:
    """How far a subscriber may fall behind (the room queue size)."""
    return conn.request.app[keys.SETTINGS].room_queue


async def publish_incoming(conn: WsConnection, room: str) -> None:
    """Publish each message the client sends; answer a refused one with an error frame."""
    limiter = chat.new_limiter(conn.request)
    async for data in conn:
        try:
            await chat.publish(conn.request, data, WS, limiter, room)
        except Refusal as refusal:
            if not await conn.answer(refusal):
                return
