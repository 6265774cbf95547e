"""Server-Sent Events handlers: `GET /sse/stream` and `GET /sse/room/{room}`.

An SSE response is one long HTTP response of `text/event-stream` text (WHATWG HTML §9.2).
`aiohttp-sse` formats events and sends keep-alive comments; this module decides what to send.

Streams are bounded like WebSockets: a client that stops reading is cut after
`--sse-send-timeout` s, and every stream ends after `--sse-max-lifetime` s. Ending is safe
here: EventSource reconnects by itself after the `retry:` delay and sends `Last-Event-ID`,
from which both streams resume exactly (ticks by number, rooms from history). The lifetime
bounds what one connection can hold for ever, and moves clients onto a fresh server after
a deploy.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from typing import Any

from aiohttp import hdrs, web
from aiohttp_sse import EventSourceResponse, sse_response

from server import keys
from server.core.protocols import WireProtocol
from server.core.rooms import DropReason, Replay, SubscriberDropped, Subscription
from server.core.ticks import TickParams, first_tick, tick_payload
from server.handlers import chat

SSE = WireProtocol.SSE
logger = logging.getLogger(__name__)


class LabEventStream(EventSourceResponse):
    """An event stream that can be told to stop while its handler waits between events."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stopped = asyncio.Event()
        self.send_timeout: float | None = kwargs.get("send_timeout")

    def stop_streaming(self) -> None:
        """Stop pings and wake the handler, which then ends the response (shutdown)."""
        self.stopped.set()
        super().stop_streaming()

    async def stopped_within(self, seconds: float) -> bool:
        """Wait up to `seconds`; True if the stream was stopped meanwhile."""
        # Not `sse.wait()`: cancelling that wait on timeout would cancel the ping task too.
        try:
            async with asyncio.timeout(seconds):
                await self.stopped.wait()
        except TimeoutError:
            return False
        return True


@asynccontextmanager
async def open_stream(request: web.Request) -> AsyncIterator[LabEventStream]:
    """Start an event stream, registered and counted, that begins with a `retry:` field.

    Raises `ConnectionLimitReached` (a 503) before anything is sent when the server, or the
    client's address, holds its limit of connections. The block is cancelled when the
    stream reaches `--sse-max-lifetime`; the stream then ends with a comment saying why.
    """
    app = request.app
    settings, metrics = app[keys.SETTINGS], app[keys.METRICS]
    with app[keys.LIVE_CONNECTIONS].hold(request.remote or "unknown") as place:
        async with sse_response(
            request,
            ping_interval=settings.sse_ping_interval,
            send_timeout=settings.sse_send_timeout or None,
            response_cls=LabEventStream,
        ) as sse:
            place.attach(sse, request.transport)
            with ExitStack() as stack:
                metrics.opened(SSE)
                stack.callback(metrics.closed, SSE)
                # A block with only `retry:` sets the reconnection time and dispatches no event.
                await sse.write(f"retry: {settings.sse_retry}\r\n\r\n".encode())
                lifetime = asyncio.timeout(settings.sse_max_lifetime or None)
                try:
                    async with lifetime:
                        yield sse
                except TimeoutError:
                    if lifetime.expired():
                        metrics.refused("sse_lifetime")
                        await end_of_life(sse, settings.sse_max_lifetime)
                    else:  # the client stopped reading; aiohttp-sse aborted the socket
                        metrics.refused("send_timeout")
                except ConnectionResetError:  # the client left mid-write: nothing to answer
                    pass
                except Exception:  # headers are sent: a 500 is impossible, so end the stream
                    logger.exception("unexpected error in %s %s", request.method, request.path)


async def end_of_life(sse: LabEventStream, lifetime: float) -> None:
    """Say why the stream ends, in a comment that EventSource ignores (for humans and logs)."""
    comment = f": stream lifetime of {lifetime:g} s reached; reconnect with Last-Event-ID\r\n\r\n"
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        async with asyncio.timeout(sse.send_timeout):
            await sse.write(comment.encode())


async def send_event(
    request: web.Request,
    sse: EventSourceResponse,
    event: str,
    data: object,
    event_id: int | None = None,
) -> None:
    """Send one event with a JSON body (and an `id:` unless `event_id` is None); counted."""
    text = json.dumps(data, separators=(",", ":"))
    await sse.send(text, id=None if event_id is None else str(event_id), event=event)
    request.app[keys.METRICS].sent(SSE, len(text.encode()))


def head_of_stream() -> web.Response:
    """The answer to HEAD: the headers a GET would get, no stream (and no connection held)."""
    return web.Response(
        status=200, content_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


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
    async with open_stream(request) as sse:
        started = loop.time()
        for index, tick in enumerate(_ticks_from(seq, params)):
            # Deadlines from the start, not sleeps after each send, so ticks do not drift.
            deadline = started + index * params.interval_ms / 1000
            if index and await sse.stopped_within(max(0.0, deadline - loop.time())):
                break
            await send_event(request, sse, "tick", tick_payload(tick, params.size), tick)
    return sse


def _ticks_from(seq: int, params: TickParams) -> range:
    if params.count:
        return range(seq, params.count + 1)
    return range(seq, 2**63)


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
    subscription, replay = hub.subscribe(room, SSE, after_id=after)
    try:
        async with open_stream(request) as sse:
            await send_replay(request, sse, replay)
            await relay_room(request, sse, subscription)
    finally:
        hub.unsubscribe(subscription)
    return sse


async def send_replay(request: web.Request, sse: EventSourceResponse, replay: Replay) -> None:
    """The `gap` notice, if history lost messages, then the messages still in history."""
    if replay.lost:
        await send_event(request, sse, "gap", {"lost": replay.lost})
    for message in replay.messages:
        await send_event(request, sse, "message", message.to_json(), message.id)


async def relay_room(
    request: web.Request, sse: EventSourceResponse, subscription: Subscription
) -> None:
    """Forward live messages until the client leaves, the server stops or the hub drops us."""
    try:
        async for message in subscription:
            await send_event(request, sse, "message", message.to_json(), message.id)
    except SubscriberDropped as exc:
        if exc.reason is DropReason.SLOW_CONSUMER:
            await send_event(request, sse, "dropped", {"reason": str(exc.reason)})
