"""Server-Sent Events handlers: `GET /sse/stream` and `GET /sse/room/{room}`.

An SSE response is one long HTTP response of `text/event-stream` text (WHATWG HTML §9.2).
`open_stream` (server/wire/sse.py) opens it within the connection limits, bounds its writes
and its lifetime, and counts it; this module decides what to send.

Every stream may end (a client that stops reading, `--sse-max-lifetime`, shutdown), and
ending is safe: EventSource reconnects by itself after the `retry:` delay and sends
`Last-Event-ID`, from which both streams resume exactly (ticks by number, rooms from history).
"""

import asyncio

from aiohttp import hdrs, web

from server import keys
from server.core.notices import Notice
from server.core.protocols import WireProtocol
from server.core.rooms import Delivery, DropReason, Replay, SubscriberDropped, Subscription
from server.core.ticks import TickParams, TickText, first_tick
from server.handlers import chat
from server.wire.fanout import sse_sink
from server.wire.sse import EventStream, head_of_stream, open_stream

SSE = WireProtocol.SSE


async def sse_stream(request: web.Request) -> web.StreamResponse:
    """Tick events 1..count, `interval` ms apart, resuming after `Last-Event-ID`.

    A finished finite stream answers a resume past its end with 204, which tells an
    EventSource to stop reconnecting (WHATWG HTML §9.2.3).
    """
    params = TickParams.from_query(request.query)
    seq = first_tick(request.headers.get("Last-Event-ID"))
    if params.is_finished(seq):
        return web.Response(status=204)
    if request.method == hdrs.METH_HEAD:
        return head_of_stream()
    loop = asyncio.get_running_loop()
    tick_text = TickText(params.size)
    async with open_stream(request) as stream:
        started = loop.time()
        first = seq
        # A plain loop, not `enumerate(range(...))`: an idle stream holds its frame for long,
        # and the two iterators would add ~180 bytes to each.
        while not params.is_finished(seq):
            # Deadlines from the start, not sleeps after each send, so ticks do not drift.
            deadline = started + (seq - first) * params.interval_ms / 1000
            if seq != first:
                await stream.pause(deadline - loop.time())
                if stream.stopped:
                    break
            await stream.send_json_text("tick", tick_text(seq), seq)
            seq += 1
    return stream.response


async def sse_room(request: web.Request) -> web.StreamResponse:
    """Room messages as `event: message` with `id: <message id>`, resuming after Last-Event-ID.

    A resume first replays what history still holds after the id (preceded by `event: gap`
    when some is gone), then continues live: subscription and replay are taken together, so
    nothing is missed or sent twice. A subscriber too slow to keep up gets `event: dropped`.
    """
    room = chat.room_name(request)
    after = chat.cursor(request, "after", header="Last-Event-ID")
    if request.method == hdrs.METH_HEAD:
        return head_of_stream()
    hub = request.app[keys.HUB]
    subscription, replay = await hub.subscribe(room, SSE, after=after)
    try:
        async with open_stream(request) as stream:
            await send_replay(stream, replay)
            await relay_room(stream, subscription)
    finally:
        hub.unsubscribe(subscription)
    return stream.response


async def send_replay(stream: EventStream, replay: Replay) -> None:
    """The `reset` and `gap` notices that apply, then the messages still in history."""
    items: list[Delivery] = [*replay.notices(), *replay.messages]
    for item in items:
        await send_item(stream, item)


async def send_item(stream: EventStream, item: Delivery) -> None:
    """A room message (`id:` is its cursor, data encoded once at publish) or a notice."""
    if isinstance(item, Notice):
        await stream.send_json_text(item.kind.value, item.data)
    else:
        await stream.send_json_text("message", item.wire, str(item.cursor))


async def relay_room(stream: EventStream, subscription: Subscription) -> None:
    """Forward live messages until the client leaves, the server stops or the hub drops us.

    The publish itself writes them through a sink (server/wire/fanout.py) when the stream is
    not compressed; this task then only waits for the end.
    """
    queue = stream.request.app[keys.SETTINGS].room_queue
    if (sink := sse_sink(stream, queue)) is not None:
        subscription.attach(sink)
    try:
        async for item in subscription:
            await send_item(stream, item)
    except SubscriberDropped as exc:
        if exc.reason is DropReason.SLOW_CONSUMER:
            await stream.send_event("dropped", {"reason": str(exc.reason)})
