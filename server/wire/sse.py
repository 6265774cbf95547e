"""`EventStream`: one live Server-Sent Events response, with everything but the conversation.

    async with open_stream(request) as stream:
        await stream.send_event("tick", {"seq": 1}, event_id=1)
    return stream.response

An SSE response is one long HTTP response of `text/event-stream` text (WHATWG HTML §9.2).
`aiohttp-sse` prepares it (headers, chunked encoding) and sends the keep-alive comments; the
events themselves are formatted here, because every event this server sends has a JSON body,
and JSON text never contains a line break: the event is always one `data:` line, with no
need to split it.

Streams are bounded like WebSockets: a client that stops reading is cut after
`--sse-send-timeout` s (a write gets that deadline only when it can block at all: when the
socket's write buffer could pass its high-water mark), and every stream ends after
`--sse-max-lifetime` s. Ending is safe here: EventSource reconnects by itself after the
`retry:` delay and sends `Last-Event-ID`, from which both streams resume exactly.

Proxies must neither buffer nor transform the stream: `Cache-Control: no-cache, no-transform`
and `X-Accel-Buffering: no` (nginx's switch) say so.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp_sse import EventSourceResponse

from server import keys
from server.core.metrics import Metrics
from server.core.protocols import WireProtocol
from server.core.refusals import Reason, StreamLifetime

SSE = WireProtocol.SSE
STREAM_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
}
logger = logging.getLogger(__name__)


class LabEventStream(EventSourceResponse):
    """aiohttp-sse's response, with this server's headers, that can be told to stop while its
    handler waits between events."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.headers.update(STREAM_HEADERS)
        self.stopped = False
        self._pause: asyncio.Future[None] | None = None

    def stop_streaming(self) -> None:
        """Stop pings and wake the handler, which then ends the response (shutdown)."""
        self.stopped = True
        if self._pause is not None and not self._pause.done():
            self._pause.set_result(None)
        super().stop_streaming()

    async def stopped_within(self, seconds: float) -> bool:
        """Wait up to `seconds`; True if the stream was stopped meanwhile.

        What `asyncio.sleep` does (a future and a timer), plus a wake-up by
        `stop_streaming`: no task, no timeout object. Not `sse.wait()`: cancelling that wait
        would cancel the ping task too.
        """
        if self.stopped:
            return True
        loop = asyncio.get_running_loop()
        self._pause = pause = loop.create_future()
        timer = loop.call_later(max(0.0, seconds), _wake, pause)
        try:
            await pause
        finally:
            timer.cancel()
            self._pause = None
        return self.stopped


def _wake(pause: asyncio.Future[None]) -> None:
    if not pause.done():
        pause.set_result(None)


class EventStream:
    """One open event stream: sends events within the send deadline, counted."""

    __slots__ = ("_high_water", "_metrics", "_send_timeout", "request", "response")

    def __init__(self, request: web.Request, response: LabEventStream) -> None:
        self.request = request
        self.response = response
        self._metrics: Metrics = request.app[keys.METRICS]
        self._send_timeout = request.app[keys.SETTINGS].sse_send_timeout or None
        transport = request.transport
        self._high_water = transport.get_write_buffer_limits()[1] if transport else 0

    async def send_event(self, event: str, data: object, event_id: int | None = None) -> None:
        """Send one event with a JSON body (and an `id:` unless `event_id` is None); counted.

        Raises `TimeoutError` (the connection is then cut) when the client did not take it
        within `--sse-send-timeout`, and `ConnectionResetError` when it left.
        """
        text = json.dumps(data, separators=(",", ":"))
        await self.send_json_text(event, text, event_id)

    async def send_json_text(
        self, event: str, text: str, event_id: int | str | None = None
    ) -> None:
        """`send_event` for a body already encoded as JSON text (encoded once, sent to many)."""
        head = (
            f"event: {event}\r\n" if event_id is None else f"id: {event_id}\r\nevent: {event}\r\n"
        )
        frame = f"{head}data: {text}\r\n\r\n".encode()
        await self.write(frame)
        self._metrics.sent(SSE, len(text) if text.isascii() else len(text.encode()))

    async def write(self, frame: bytes) -> None:
        """Write raw stream bytes, with a deadline only if the write can block."""
        if not self._may_block(len(frame)):
            await self.response.write(frame)
            return
        try:
            async with asyncio.timeout(self._send_timeout):
                await self.response.write(frame)
        except TimeoutError:
            self.response.stop_streaming()
            if self.request.transport is not None:  # a graceful end would wait on the peer
                self.request.transport.abort()
            raise

    def _may_block(self, size: int) -> bool:
        if self._send_timeout is None:
            return False
        transport = self.request.transport
        if transport is None:
            return False
        # + chunk-size line and CRLF of the chunked encoding
        return transport.get_write_buffer_size() + size + 32 > self._high_water

    async def say_goodbye(self, _grace_s: float) -> None:
        """Shutdown: stop the stream; its handler wakes and ends the response."""
        self.response.stop_streaming()


@asynccontextmanager
async def open_stream(request: web.Request) -> AsyncIterator[EventStream]:
    """Start an event stream, registered and counted, that begins with a `retry:` field.

    Raises `ConnectionLimitReached` (a 503) before anything is sent when the server, or the
    client's address, holds its limit of connections. The block is cancelled when the
    stream reaches `--sse-max-lifetime`; the stream then ends with a comment saying why.
    A client that leaves, or stops reading, simply ends the stream.
    """
    app = request.app
    settings, metrics = app[keys.SETTINGS], app[keys.METRICS]
    with app[keys.LIVE_CONNECTIONS].hold(request.remote or "unknown") as place:
        response = LabEventStream(
            ping_interval=settings.sse_ping_interval,
            send_timeout=settings.sse_send_timeout or None,
        )
        await response.prepare(request)
        stream = EventStream(request, response)
        place.attach(stream.say_goodbye, request.transport)
        metrics.opened(SSE)
        try:
            # A block with only `retry:` sets the reconnection time and dispatches no event.
            await stream.write(f"retry: {settings.sse_retry}\r\n\r\n".encode())
            lifetime = asyncio.timeout(settings.sse_max_lifetime or None)
            async with lifetime:
                yield stream
        except TimeoutError:
            if lifetime.expired():
                metrics.refused(Reason.SSE_LIFETIME)
                await end_of_life(stream, StreamLifetime(settings.sse_max_lifetime))
            else:  # the client stopped reading; the socket was aborted
                metrics.refused(Reason.SEND_TIMEOUT)
        except ConnectionResetError:  # the client left mid-write: nothing to answer
            pass
        except Exception:  # headers are sent: a 500 is impossible, so end the stream
            logger.exception("unexpected error in %s %s", request.method, request.path)
        finally:
            metrics.closed(SSE)
            await _finish(response)


async def _finish(response: LabEventStream) -> None:
    """Stop the pings, as aiohttp-sse's context manager does; aiohttp then ends the response."""
    response.stop_streaming()
    await response.wait()


async def end_of_life(stream: EventStream, why: StreamLifetime) -> None:
    """Say why the stream ends, in a comment that EventSource ignores (for humans and logs)."""
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        await stream.write(f": {why}\r\n\r\n".encode())


def head_of_stream() -> web.Response:
    """The answer to HEAD: the headers a GET would get, no stream (and no connection held)."""
    return web.Response(status=200, headers=STREAM_HEADERS)
