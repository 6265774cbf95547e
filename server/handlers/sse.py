"""Server-Sent Events handlers: `GET /sse/stream`.

An SSE response is one long HTTP response of `text/event-stream` text (WHATWG HTML §9.2).
`aiohttp-sse` formats events and sends keep-alive comments; this module decides what to send.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response

from server import keys
from server.core.protocols import WireProtocol
from server.core.ticks import TickParams, first_tick, tick_payload

SSE = WireProtocol.SSE


class LabEventStream(EventSourceResponse):
    """An event stream that can be told to stop while its handler waits between events."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stopped = asyncio.Event()

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

    Raises `ConnectionLimitReached` (a 503) before anything is sent when the server is full.
    """
    app = request.app
    settings, metrics = app[keys.SETTINGS], app[keys.METRICS]
    app[keys.LIVE_CONNECTIONS].check_capacity()
    async with sse_response(
        request,
        ping_interval=settings.sse_ping_interval,
        send_timeout=settings.sse_send_timeout or None,
        response_cls=LabEventStream,
    ) as sse:
        with ExitStack() as stack:
            stack.enter_context(app[keys.LIVE_CONNECTIONS].stream(sse))
            metrics.opened(SSE)
            stack.callback(metrics.closed, SSE)
            # A block with only `retry:` sets the reconnection time and dispatches no event.
            await sse.write(f"retry: {settings.sse_retry}\r\n\r\n".encode())
            yield sse


async def send_event(
    request: web.Request, sse: EventSourceResponse, event: str, data: object, event_id: int
) -> None:
    """Send one event with a JSON body; counts it in the metrics."""
    text = json.dumps(data, separators=(",", ":"))
    await sse.send(text, id=str(event_id), event=event)
    request.app[keys.METRICS].sent(SSE, len(text.encode()))


async def sse_stream(request: web.Request) -> web.StreamResponse:
    """Tick events 1..count, `interval` ms apart, resuming after `Last-Event-ID`.

    A finished finite stream answers a resume past its end with 204, which tells an
    EventSource to stop reconnecting (WHATWG HTML §9.2.3).
    """
    params = TickParams.from_query(request.query)
    seq = first_tick(request.headers.get("Last-Event-ID"))
    if params.is_finished(seq):
        return web.Response(status=204)
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
