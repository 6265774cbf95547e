"""One `Transport` shape for every protocol, so `bench` runs the same loop over each.

A transport is one client of one protocol: ``open()``, then ``send(payload)`` (for the
request/response workloads) and ``receive()`` (every workload), then ``close()``.

========== ============================== ====================================================
protocol   request/response (`rtt`)       push (`push`, `fanout`, `reconnect`)
========== ============================== ====================================================
ws         `WsEcho`: frame up, echo down  `WsStream`: ticks from /ws/stream (resume: after=)
http       `HttpEcho`: POST /http/echo    --
sse        `SseRoomEcho`: POST to a room, `SseStream`: ticks from /sse/stream
           receive it on /sse/room/...    (resume: Last-Event-ID)
longpoll   --                             `LongPoll`: GET /http/tick?after=SEQ&wait=S
poll       --                             `Poll`: GET /http/tick every --poll-interval ms
========== ============================== ====================================================

Push transports number what they deliver (`Delivery.seq`) and carry the server's timestamp
(`Delivery.ts_ms`); after a lost connection, :meth:`Transport.open` reconnects and, if
``resume`` is set, asks to continue after the last tick seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp
from yarl import URL

from client.errors import ConnectionLost, ProtocolFailure, StreamEnded, describe
from client.eventsource import DEFAULT_RETRY_MS, iter_events, open_event_stream
from client.rooms import retry_after_s
from client.sse_parser import EventStreamParser
from client.urls import endpoint
from client.wsconn import close_reason, connect_websocket

__all__ = [
    "Delivery",
    "HttpEcho",
    "LongPoll",
    "Poll",
    "PushParams",
    "SseRoomEcho",
    "SseStream",
    "Transport",
    "WsEcho",
    "WsStream",
    "push_transport",
]

_NETWORK_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)
MAX_ROOM_TEXT = 4096


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as it arrived: its bytes, when, and on which connection."""

    data: bytes
    at: float  # time.perf_counter() on arrival, for round-trip times
    wall_ms: float  # time.time() in ms on arrival, to compare with server timestamps
    seq: int | None = None
    ts_ms: float | None = None
    connection: int = 0

    @property
    def delay_ms(self) -> float | None:
        """Arrival minus the server's timestamp (meaningful when both share a clock)."""
        return None if self.ts_ms is None else self.wall_ms - self.ts_ms


def arrived(data: bytes, connection: int, *, tick: bool = False) -> Delivery:
    """A `Delivery` stamped now; with ``tick`` the tick JSON's seq and ts are read."""
    at, wall_ms = time.perf_counter(), time.time() * 1000
    if not tick:
        return Delivery(data, at, wall_ms, connection=connection)
    try:
        payload = json.loads(data)
        seq, ts = int(payload["seq"]), float(payload["ts"])
    except (ValueError, KeyError, TypeError):
        raise ProtocolFailure(f"not a tick: {data[:80]!r}") from None
    return Delivery(data, at, wall_ms, seq, ts, connection)


class Transport(ABC):
    """One client of one protocol (see the module docstring for the table)."""

    protocol: ClassVar[str]

    def __init__(self, session: aiohttp.ClientSession, base: URL) -> None:
        self.session = session
        self.base = base
        self.connection = 0  # incremented by every successful open()

    @abstractmethod
    async def open(self) -> None:
        """Connect (or reconnect); raises `ConnectionLost` or `ProtocolFailure`."""

    async def send(self, payload: bytes) -> float:
        """Send one message; returns the `perf_counter()` time the successful attempt began."""
        raise ProtocolFailure(f"{self.protocol} is receive-only here")

    @abstractmethod
    async def receive(self) -> Delivery:
        """The next message; raises `ConnectionLost` when the connection breaks."""

    @abstractmethod
    async def close(self) -> None:
        """Release the connection; never raises for network errors."""

    def retry_hint_s(self) -> float | None:
        """A reconnection delay the server asked for (SSE `retry:`), or None."""
        return None


async def _check(response: aiohttp.ClientResponse, expected: int = 200) -> bytes:
    """The body of `response`; raises `ProtocolFailure` for an unexpected status."""
    body = await response.read()
    if response.status != expected:
        text = " ".join(body.decode(errors="replace").split())[:200]
        raise ProtocolFailure(f"HTTP {response.status} from {response.url.path}: {text}")
    return body


# --- request/response --------------------------------------------------------------------------


class WsEcho(Transport):
    """WebSocket echo: each message is one frame up and the same frame back."""

    protocol = "ws"

    def __init__(self, session: aiohttp.ClientSession, base: URL, *, binary: bool = True):
        super().__init__(session, base)
        self._binary = binary
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    async def open(self) -> None:
        self._ws = await connect_websocket(self.session, endpoint(self.base, "/ws/echo"))
        self.connection += 1

    async def send(self, payload: bytes) -> float:
        assert self._ws is not None, "open() first"
        started = time.perf_counter()
        try:
            if self._binary:
                await self._ws.send_bytes(payload)
            else:
                await self._ws.send_str(payload.decode())
        except _NETWORK_ERRORS as exc:
            raise ConnectionLost(describe(exc)) from None
        return started

    async def receive(self) -> Delivery:
        assert self._ws is not None, "open() first"
        message = await self._ws.receive()
        if message.type is aiohttp.WSMsgType.BINARY:
            return arrived(message.data, self.connection)
        if message.type is aiohttp.WSMsgType.TEXT:
            return arrived(message.data.encode(), self.connection)
        raise ConnectionLost(close_reason(self._ws.close_code, str(message.extra or "")))

    async def close(self) -> None:
        if self._ws is not None and not self._ws.closed:
            with contextlib.suppress(*_NETWORK_ERRORS):
                await self._ws.close()


class HttpEcho(Transport):
    """HTTP POST echo: each message is a whole request and response on a kept-alive socket."""

    protocol = "http"

    def __init__(self, session: aiohttp.ClientSession, base: URL) -> None:
        super().__init__(session, base)
        self._url = endpoint(base, "/http/echo")
        self._responses: deque[Delivery] = deque()

    async def open(self) -> None:
        self.connection += 1  # connections are made by the session's pool, on demand

    async def send(self, payload: bytes) -> float:
        started = time.perf_counter()
        headers = {"Content-Type": "application/octet-stream"}
        try:
            async with self.session.post(self._url, data=payload, headers=headers) as response:
                body = await _check(response)
        except _NETWORK_ERRORS as exc:
            raise ConnectionLost(describe(exc)) from None
        self._responses.append(arrived(body, self.connection))
        return started

    async def receive(self) -> Delivery:
        if not self._responses:
            raise ProtocolFailure("receive() before send(): HTTP answers only requests")
        return self._responses.popleft()

    async def close(self) -> None:
        # The kept-alive connection stays in the session's pool, as a browser's would.
        self._responses.clear()


@dataclass(slots=True)
class Throttling:
    """How often, and for how long, the server's rate limit held our requests back."""

    times: int = 0
    seconds: float = 0.0


class SseRoomEcho(Transport):
    """HTTP POST to a room, delivered back on the room's event stream (`via=sse`).

    This is how an SSE client "sends": SSE has no upstream, so the round trip is a POST up
    and an event down, on two connections. The server rate-limits room posts per client
    address; a 429 is waited out as Retry-After says and counted in `throttling`.
    """

    protocol = "sse"

    def __init__(self, session: aiohttp.ClientSession, base: URL, room: str) -> None:
        super().__init__(session, base)
        self.room = room
        self.throttling = Throttling()
        self._parser = EventStreamParser()
        self._response: aiohttp.ClientResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._arrivals: dict[int, Delivery] = {}
        self._waiters: dict[int, asyncio.Future[Delivery]] = {}
        self._expected: int | None = None

    async def open(self) -> None:
        url = endpoint(self.base, f"/sse/room/{self.room}")
        try:
            self._response = await open_event_stream(self.session, url, self._parser)
        except ProtocolFailure as exc:
            if "HTTP 404" in str(exc):
                raise ProtocolFailure(f"this server has no rooms yet ({exc})") from None
            raise
        self.connection += 1
        self._reader = asyncio.create_task(self._read(self._response), name="sse-room-reader")
        # The subscription is live once a message posted now comes back on the stream.
        await self.send(b"warm-up")
        await self.receive()

    async def _read(self, response: aiohttp.ClientResponse) -> None:
        failure: Exception = ConnectionLost("the room stream ended")
        try:
            async for event in iter_events(response, self._parser):
                # The event id is the room cursor `<epoch>-<id>`; the bench matches the id.
                seq = event.last_event_id.rpartition("-")[2]
                if event.type != "message" or not seq.isdigit():
                    continue
                delivery = arrived(event.data.encode(), self.connection)
                message_id = int(seq)
                waiter = self._waiters.pop(message_id, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(delivery)
                else:
                    self._arrivals[message_id] = delivery
        except ConnectionLost as exc:
            failure = exc
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(failure)

    async def send(self, payload: bytes) -> float:
        url = endpoint(self.base, f"/http/room/{self.room}", via="sse")
        body = {"user": "bench", "text": payload.decode()}
        while True:
            started = time.perf_counter()
            try:
                async with self.session.post(url, json=body) as response:
                    if response.status == 429:
                        await self._wait_out(response)
                        continue
                    message = json.loads(await _check(response, 201))
            except _NETWORK_ERRORS as exc:
                raise ConnectionLost(describe(exc)) from None
            self._expected = int(message["id"])
            return started

    async def _wait_out(self, response: aiohttp.ClientResponse) -> None:
        delay = retry_after_s(response.headers.get("Retry-After"))
        self.throttling.times += 1
        self.throttling.seconds += delay
        await asyncio.sleep(delay)  # the wait the server asked for

    async def receive(self) -> Delivery:
        expected = self._expected
        if expected is None:
            raise ProtocolFailure("receive() before send()")
        for stale in [key for key in self._arrivals if key < expected]:
            del self._arrivals[stale]
        if (delivery := self._arrivals.pop(expected, None)) is not None:
            return delivery
        if self._reader is None or self._reader.done():
            raise ConnectionLost("the room stream ended")
        waiter: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()
        self._waiters[expected] = waiter
        return await waiter

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._response is not None:
            self._response.close()


# --- push --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PushParams:
    """What every push transport is asked for: tick spacing, padding, and resumption."""

    interval_ms: int
    size: int
    count: int = 0  # 0: an endless stream
    resume: bool = True
    poll_interval_ms: int = 45
    wait_s: float = 30.0


class PushTransport(Transport):
    """A transport that receives numbered ticks and can resume after the last one."""

    def __init__(self, session: aiohttp.ClientSession, base: URL, params: PushParams) -> None:
        super().__init__(session, base)
        self.params = params
        self.last_seq: int | None = None

    def resume_after(self) -> int | None:
        """The tick to continue after on (re)connection, if resuming."""
        return self.last_seq if self.params.resume else None

    def _seen(self, delivery: Delivery) -> Delivery:
        self.last_seq = delivery.seq
        return delivery


class WsStream(PushTransport):
    """Ticks as WebSocket text frames from `/ws/stream`; resumes with ``after=``."""

    protocol = "ws"
    _ws: aiohttp.ClientWebSocketResponse | None = None

    async def open(self) -> None:
        await self.close()
        url = endpoint(
            self.base,
            "/ws/stream",
            interval=self.params.interval_ms,
            size=self.params.size,
            count=self.params.count or None,
            after=self.resume_after(),
        )
        self._ws = await connect_websocket(self.session, url)
        self.connection += 1

    async def receive(self) -> Delivery:
        assert self._ws is not None, "open() first"
        message = await self._ws.receive()
        if message.type is aiohttp.WSMsgType.TEXT:
            return self._seen(arrived(message.data.encode(), self.connection, tick=True))
        code = self._ws.close_code
        if code == 1000:
            raise StreamEnded("the stream is complete")
        raise ConnectionLost(close_reason(code, str(message.extra or "")))

    async def close(self) -> None:
        if self._ws is not None and not self._ws.closed:
            with contextlib.suppress(*_NETWORK_ERRORS):
                await self._ws.close()


class SseStream(PushTransport):
    """Ticks as events from `/sse/stream`; resumes with ``Last-Event-ID`` like EventSource."""

    protocol = "sse"

    def __init__(self, session: aiohttp.ClientSession, base: URL, params: PushParams) -> None:
        super().__init__(session, base, params)
        self._parser = EventStreamParser()
        self._retry_ms: int | None = None
        self._response: aiohttp.ClientResponse | None = None
        self._events: AsyncIterator[Any] | None = None

    async def open(self) -> None:
        await self.close()
        if not self.params.resume:  # a naive client forgets the id (but not the retry time)
            self._retry_ms = self._parser.retry_ms or self._retry_ms
            self._parser = EventStreamParser()
        url = endpoint(
            self.base,
            "/sse/stream",
            interval=self.params.interval_ms,
            size=self.params.size,
            count=self.params.count or None,
        )
        self._response = await open_event_stream(self.session, url, self._parser)
        self._events = aiter(iter_events(self._response, self._parser))
        self.connection += 1

    async def receive(self) -> Delivery:
        assert self._events is not None, "open() first"
        while True:
            try:
                event = await anext(self._events)
            except StopAsyncIteration:
                if self.params.count and self.last_seq == self.params.count:
                    raise StreamEnded("the stream is complete") from None
                raise ConnectionLost("the server ended the stream") from None
            if event.type == "tick":
                return self._seen(arrived(event.data.encode(), self.connection, tick=True))

    async def drain(self) -> None:
        """Read a finished finite stream to its end, so every byte of it has crossed."""
        if self._events is None:
            return
        async for _ in self._events:
            pass

    async def close(self) -> None:
        events, self._events = self._events, None
        if events is not None:
            await events.aclose()  # type: ignore[attr-defined]
        if self._response is not None:
            self._response.close()
            self._response = None

    def retry_hint_s(self) -> float | None:
        retry_ms = self._parser.retry_ms or self._retry_ms
        return (DEFAULT_RETRY_MS if retry_ms is None else retry_ms) / 1000


class _TickGetter(PushTransport):
    """Shared by the two HTTP pollers: GET /http/tick and read the tick."""

    async def get_tick(self, **query: int | float | None) -> Delivery:
        url = endpoint(
            self.base,
            "/http/tick",
            interval=self.params.interval_ms,
            size=self.params.size,
            **query,
        )
        try:
            async with self.session.get(url) as response:
                body = await _check(response)
        except _NETWORK_ERRORS as exc:
            raise ConnectionLost(describe(exc)) from None
        return arrived(body, self.connection, tick=True)

    async def close(self) -> None:
        # Nothing is held open between requests; a pending one is cancelled with its task.
        return None

    async def open(self) -> None:
        # Learn where the clock grid is; that first answer is not a delivery.
        current = await self.get_tick()
        if self.resume_after() is None:
            self.last_seq = current.seq
        self.connection += 1


class LongPoll(_TickGetter):
    """HTTP long-poll: `GET /http/tick?after=SEQ&wait=S` is held until the next tick."""

    protocol = "longpoll"

    async def receive(self) -> Delivery:
        while True:
            delivery = await self.get_tick(after=self.last_seq, wait=self.params.wait_s)
            if self.last_seq is None or (delivery.seq or 0) > self.last_seq:
                return self._seen(delivery)


class Poll(_TickGetter):
    """HTTP polling: `GET /http/tick` every `poll_interval_ms`, keeping only new ticks.

    The first poll is at a random phase, so many pollers do not all ask at once.
    """

    protocol = "poll"
    _next_at: float = 0.0

    async def open(self) -> None:
        await super().open()
        period = self.params.poll_interval_ms / 1000
        self._next_at = time.monotonic() + random.uniform(0, period)

    async def receive(self) -> Delivery:
        period = self.params.poll_interval_ms / 1000
        while True:
            now = time.monotonic()
            if self._next_at < now - period:  # fell behind (a slow loop): do not burst
                self._next_at = now
            await asyncio.sleep(max(0.0, self._next_at - now))  # polling *is* a timer
            self._next_at += period
            delivery = await self.get_tick()
            if self.last_seq is None or (delivery.seq or 0) > self.last_seq:
                return self._seen(delivery)


_PUSH: dict[str, type[PushTransport]] = {
    "ws": WsStream,
    "sse": SseStream,
    "longpoll": LongPoll,
    "poll": Poll,
}


def push_transport(
    protocol: str, session: aiohttp.ClientSession, base: URL, params: PushParams
) -> PushTransport:
    """The push transport for `protocol` (ws, sse, longpoll or poll)."""
    return _PUSH[protocol](session, base, params)
