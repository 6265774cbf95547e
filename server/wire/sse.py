"""`EventStream`: one live Server-Sent Events response, with everything but the conversation.

    async with open_stream(request) as stream:
        await stream.send_event("tick", {"seq": 1}, event_id=1)
    return stream.response

An SSE response is one long HTTP response of `text/event-stream` text (WHATWG HTML §9.2).
`aiohttp-sse` prepares it (headers, chunked encoding, the TCP user timeout); the keep-alive
comments come from the stream's one timer (`EventStream`), and the events themselves are
formatted here, because every event this server sends has a JSON body,
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
import math
from collections.abc import Awaitable
from types import TracebackType
from typing import Any

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp_sse import EventSourceResponse
from multidict import istr

from server import keys
from server.connections import Place
from server.core.metrics import Metrics
from server.core.protocols import WireProtocol
from server.core.refusals import Reason, StreamLifetime
from server.edge.protocol import guard_of
from server.request_head import report_request_head

SSE = WireProtocol.SSE
X_ACCEL_BUFFERING = istr("X-Accel-Buffering")
# What a stream's response starts with: aiohttp-sse's headers, in its order, with our
# Cache-Control (tests/server/test_sse_lean.py holds them to aiohttp-sse's). Names are
# `istr`s, as aiohttp's own (`hdrs`): see `LabEventStream.__init__`.
EVENT_STREAM_HEADERS = {
    hdrs.CONTENT_TYPE: "text/event-stream",
    hdrs.CACHE_CONTROL: "no-cache, no-transform",
    hdrs.CONNECTION: "keep-alive",
    X_ACCEL_BUFFERING: "no",
}
# The answer to HEAD: the same, but no stream holds the connection open.
STREAM_HEADERS = {
    name: value for name, value in EVENT_STREAM_HEADERS.items() if name != hdrs.CONNECTION
}
logger = logging.getLogger(__name__)


PING = b": ping\r\n\r\n"
# A wait between events this long or longer runs on the stream's own timer (see
# `EventStream.pause`).
LONG_WAIT_S = 1.0


class LabEventStream(EventSourceResponse):
    """aiohttp-sse's response (headers, chunked encoding, the TCP user timeout), with this
    server's headers, that can be told to stop while its handler waits between events.

    aiohttp-sse pings from a task of its own per stream (a task, its coroutine, a sleep
    future and a timer for each idle stream); here `EventStream` pings from the one timer
    each stream has anyway (for its lifetime), so `prepare` starts no task.
    """

    def __init__(self, *, ping_interval: float, send_timeout: float | None) -> None:
        super().__init__(ping_interval=ping_interval, send_timeout=send_timeout)
        # The same headers as aiohttp-sse's, but named by `istr`s: aiohttp-sse names them by
        # plain strings, and a case-insensitive multidict keeps a lower-cased copy of each
        # plain name and makes an `istr` of it again when the headers are written, copies
        # that every open stream would hold (~0.7 KiB). An `istr` makes its copy only once.
        self.headers.clear()
        self.headers.extend(EVENT_STREAM_HEADERS)
        self.stopped = False
        # What the handler awaits between events (`EventStream.pause`), if anything.
        self.waiting: asyncio.Future[None] | None = None

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        """Send the headers: aiohttp-sse's prepare, without its ping task."""
        if self.prepared:
            return await super().prepare(request)
        if request.method != hdrs.METH_GET:
            raise web.HTTPMethodNotAllowed(request.method, (hdrs.METH_GET,))
        self._set_tcp_user_timeout(request)
        writer = await web.StreamResponse.prepare(self, request)
        self.enable_chunked_encoding()
        return writer

    def is_connected(self) -> bool:
        """True from `prepare` until the stream is stopped."""
        return self.prepared and not self.stopped

    def stop_streaming(self) -> None:
        """Wake the handler, which then ends the response (shutdown, a client not reading)."""
        self.stopped = True
        self.wake()

    def wake(self) -> None:
        """End the handler's wait between events, if it is waiting."""
        waiting, self.waiting = self.waiting, None
        if waiting is not None:
            end_wait(waiting)

    async def wait(self) -> None:
        """Nothing to wait for: no ping task (aiohttp-sse waits for its own here)."""


class EventStream:
    """One open event stream: admitted, counted, bounded; sends events within the send
    deadline. Made by `open_stream`, used as `async with`.

    A class rather than a generator-based context manager: each idle stream holds this one
    object, not a generator frame and two context-manager wrappers. One timer per stream
    does all its timed work: the end of the handler's wait between events
    (`pause`), the `: ping` comment every `--sse-ping-interval` s, and the end at
    `--sse-max-lifetime` (which cancels the handler, as `asyncio.timeout` would).
    """

    __slots__ = (
        "_cancelling",
        "_ends_at",
        "_expired",
        "_high_water",
        "_metrics",
        "_next_ping",
        "_pinging",
        "_place",
        "_send_timeout",
        "_task",
        "_timer",
        "_wake_at",
        "request",
        "response",
    )

    def __init__(self, request: web.Request) -> None:
        settings = request.app[keys.SETTINGS]
        self.request = request
        self.response = LabEventStream(
            ping_interval=settings.sse_ping_interval,
            send_timeout=settings.sse_send_timeout or None,
        )
        self._metrics: Metrics = request.app[keys.METRICS]
        self._send_timeout = settings.sse_send_timeout or None
        self._high_water = 0
        self._place: Place | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._pinging: asyncio.Task[None] | None = None
        self._next_ping = math.inf
        self._ends_at = math.inf
        self._wake_at = math.inf
        self._expired = False
        self._task: asyncio.Task[Any] | None = None
        self._cancelling = 0

    async def __aenter__(self) -> "EventStream":
        request = self.request
        app = request.app
        settings = app[keys.SETTINGS]
        connections = app[keys.LIVE_CONNECTIONS]
        self._place = place = connections.admit(request.remote or "unknown")
        try:
            report_request_head(request, self.response)
            await self.response.prepare(request)
        except BaseException:
            connections.release(place)
            raise
        transport = request.transport
        self._high_water = transport.get_write_buffer_limits()[1] if transport else 0
        guard = guard_of(request)
        if guard is not None:
            guard.long_lived()
        place.attach(self.say_goodbye, transport)
        self._metrics.opened(SSE)
        try:
            # A block with only `retry:` sets the reconnection time and dispatches no event.
            await self.write(f"retry: {settings.sse_retry}\r\n\r\n".encode())
        except BaseException:
            await self._close()
            raise
        self._start_timer(settings.sse_ping_interval, settings.sse_max_lifetime)
        return self

    def _start_timer(self, ping_interval: float, lifetime: float) -> None:
        now = asyncio.get_running_loop().time()
        self._next_ping = now + ping_interval
        if lifetime:
            self._task = task = asyncio.current_task()
            assert task is not None
            self._cancelling = task.cancelling()
            self._ends_at = now + lifetime
        self._set_timer()

    def _set_timer(self) -> None:
        """Have the timer fire at the next thing due; it is moved only to an earlier time
        (one that is later it finds, fires for nothing, and moves on)."""
        when = min(self._next_ping, self._ends_at, self._wake_at)
        timer = self._timer
        if timer is not None:
            if timer.when() <= when:
                return
            timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(when, self._due)

    def _due(self) -> None:
        """The timer fired: end the stream if its lifetime is over, else wake the handler
        and ping if due, and set the timer for what comes next."""
        self._timer = None
        if self.response.stopped:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now >= self._ends_at and self._task is not None:
            self._expired = True
            self._task.cancel()
            return
        if now >= self._wake_at:
            self._wake_at = math.inf
            self.response.wake()
        if now >= self._next_ping:
            self._next_ping = now + self.request.app[keys.SETTINGS].sse_ping_interval
            if self._pinging is None:  # a ping the client has not taken yet is not doubled
                self._pinging = loop.create_task(self._ping())
        self._set_timer()

    @property
    def stopped(self) -> bool:
        """True once the stream was told to stop (shutdown, a client not reading)."""
        return self.response.stopped

    def pause(self, seconds: float) -> Awaitable[None]:
        """Wait up to `seconds`, less if the stream is stopped meanwhile (see `stopped`).

        What `asyncio.sleep` does (a future and a timer), woken early by `stop_streaming`;
        but the handler awaits the future itself, not a coroutine around it, so that an idle
        stream holds no frame for its wait (~0.3 KiB). A wait that is already due (or a
        stopped stream) only yields to the other connections once, as `asyncio.sleep(0)`
        does. A long wait (an idle stream) runs on the stream's own timer, so that an idle
        stream holds one timer; a short one (a fast stream) gets a timer of its own, as
        moving the stream's timer there and back would cost two timers per event.
        """
        response = self.response
        if seconds <= 0 or response.stopped:
            return asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        response.waiting = waiting = loop.create_future()
        wake_at = loop.time() + seconds
        if seconds < LONG_WAIT_S:
            # Left to fire when the wait ends early (the stream stopped): bound to this
            # wait's future, it then finds it done and does nothing.
            loop.call_at(wake_at, end_wait, waiting)
        else:
            self._wake_at = wake_at
            self._set_timer()
        return waiting

    async def _ping(self) -> None:
        """A comment that EventSource ignores, so that idle streams show they are alive (and
        proxies do not time them out); a client that does not take it is cut (`write`)."""
        try:
            await self.write(PING)
        except (TimeoutError, ConnectionResetError, RuntimeError):  # cut, gone, or ended
            self._next_ping = math.inf
        finally:
            self._pinging = None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        """End the stream; a stream that ended for a reason of its own (lifetime, a client
        gone or not reading, an error after the headers) ends quietly."""
        try:
            if self._expired and self._task is not None:
                # The lifetime's cancellation, unless someone else cancelled the task too.
                alone = self._task.uncancel() <= self._cancelling
                if alone and exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
                    exc = TimeoutError()
            return await self._ended_by(exc)
        finally:
            await self._close()

    async def _ended_by(self, exc: BaseException | None) -> bool:
        """Count and answer why the block ended; True if that was the stream's own end."""
        if isinstance(exc, TimeoutError):
            if self._expired:
                self._metrics.refused(Reason.SSE_LIFETIME)
                settings = self.request.app[keys.SETTINGS]
                await end_of_life(self, StreamLifetime(settings.sse_max_lifetime))
            else:  # the client stopped reading; the socket was aborted
                self._metrics.refused(Reason.SEND_TIMEOUT)
            return True
        if isinstance(exc, ConnectionResetError):  # the client left mid-write
            return True
        if isinstance(exc, Exception):  # headers are sent: a 500 is impossible, so end it
            logger.exception(
                "unexpected error in %s %s", self.request.method, self.request.path, exc_info=exc
            )
            return True
        return False

    async def _close(self) -> None:
        self._metrics.closed(SSE)
        self.response.stop_streaming()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            if self._pinging is not None:
                self._pinging.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._pinging
        finally:
            if self._place is not None:
                self.request.app[keys.LIVE_CONNECTIONS].release(self._place)
                self._place = None

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
        if self._may_block(len(frame)):
            await self._write_in_time(frame)
        else:  # the hot path: the write cannot wait on the client, so no deadline
            await self.response.write(frame)
        self._metrics.sent(SSE, len(text) if text.isascii() else len(text.encode()))

    async def write(self, frame: bytes) -> None:
        """Write raw stream bytes, with a deadline only if the write can block."""
        if self._may_block(len(frame)):
            await self._write_in_time(frame)
        else:
            await self.response.write(frame)

    async def _write_in_time(self, frame: bytes) -> None:
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


def end_wait(waiting: "asyncio.Future[None]") -> None:
    """End a wait between events (`EventStream.pause`) unless it already ended."""
    if not waiting.done():
        waiting.set_result(None)


def open_stream(request: web.Request) -> EventStream:
    """An event stream to use as `async with`: registered and counted, it begins with a
    `retry:` field.

    Entering raises `ConnectionLimitReached` (a 503) before anything is sent when the server,
    or the client's address, holds its limit of connections. The block is cancelled when the
    stream reaches `--sse-max-lifetime`; the stream then ends with a comment saying why.
    A client that leaves, or stops reading, simply ends the stream.
    """
    return EventStream(request)


async def end_of_life(stream: EventStream, why: StreamLifetime) -> None:
    """Say why the stream ends, in a comment that EventSource ignores (for humans and logs)."""
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        await stream.write(f": {why}\r\n\r\n".encode())


def head_of_stream() -> web.Response:
    """The answer to HEAD: the headers a GET would get, no stream (and no connection held)."""
    return web.Response(status=200, headers=STREAM_HEADERS)
