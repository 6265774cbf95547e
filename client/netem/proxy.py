"""The shaping proxy: an asyncio TCP proxy that makes loopback behave like a real network.

For each client connection it opens one to the target server and moves bytes both ways
through, per direction::

    read -> [requests: control / strip Upgrade] -> [down: buffer] -> delay line -> rate -> write

* the delay line timestamps each chunk as it is read and releases it at read time + delay
  (+ jitter), never before the chunk before it, so byte order is kept;
* the rate is a token bucket per direction, so a big message holds up the small ones
  behind it on the same connection;
* a connection that carried no byte either way for the idle timeout is cut, as load
  balancers and NATs do;
* conditions can be changed while it runs (`/_netem`, answered by the proxy itself) and
  apply at once to every connection.

Bounded: at most `max_connections` at once (more get 503), `MAX_QUEUED` bytes waiting in each
delay line (reading pauses, so TCP pushes back on the sender), and `MAX_BUFFER` bytes held.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from yarl import URL

from client.netem.conditions import PRESETS, Conditions, ConditionsError, parse_spec
from client.netem.http1 import CONTROL_PATH, ControlRequest, RequestScanner, ResponseTracker
from client.netem.shaping import Buffer, DelayClock, TokenBucket

__all__ = ["MAX_QUEUED", "LinkReport", "NetemProxy"]

MAX_QUEUED = 1024 * 1024
_CHUNK = 64 * 1024


@dataclass(slots=True)
class LinkReport:
    """The counters of one relayed connection, reported when it ends."""

    number: int
    peer: str
    started: float = field(default_factory=time.monotonic)
    up: int = 0
    down: int = 0
    stripped: int = 0
    control: int = 0
    held_releases: int = 0
    ended: str = "closed"
    seconds: float = 0.0

    def line(self) -> str:
        """``#3 127.0.0.1:5123 2.1 s: up 512 B, down 10,240 B (idle timeout)``."""
        extras = []
        if self.stripped:
            extras.append(f"{self.stripped} Upgrade stripped")
        if self.control:
            extras.append(f"{self.control} control request(s)")
        if self.held_releases:
            extras.append(f"buffer released {self.held_releases} time(s)")
        more = f", {', '.join(extras)}" if extras else ""
        return (
            f"#{self.number} {self.peer} {self.seconds:.1f} s: up {self.up:,} B, "
            f"down {self.down:,} B{more} ({self.ended})"
        )

    def to_json(self) -> dict[str, Any]:
        """The counters as a JSON object."""
        return {
            "connection": self.number,
            "peer": self.peer,
            "seconds": round(self.seconds, 3),
            "up_bytes": self.up,
            "down_bytes": self.down,
            "stripped": self.stripped,
            "control_requests": self.control,
            "ended": self.ended,
        }


class NetemProxy:
    """Listens on `host`:`port` (0: a free port) and relays to `target` under `conditions`.

    Use ``async with``. `on_close` is called with each connection's `LinkReport`.
    """

    def __init__(
        self,
        target: URL,
        conditions: Conditions | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_connections: int = 256,
        on_close: Callable[[LinkReport], None] | None = None,
        seed: int | None = None,
    ) -> None:
        if target.scheme != "http" or target.host is None:
            raise ValueError(f"the proxy relays plain http:// servers, not {target}")
        self.target = target
        self.conditions = conditions or Conditions()
        self.max_connections = max_connections
        self._listen = (host, port)
        self._on_close = on_close
        self.rng = random.Random(seed)  # jitter; a seed makes a run repeatable
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._numbers = itertools.count(1)
        self.refused = 0
        self._accepted = 0  # connections being set up or relayed

    async def __aenter__(self) -> NetemProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def port(self) -> int:
        """The port it listens on (known after `start`)."""
        return self._listen[1]

    @property
    def url(self) -> URL:
        """``http://127.0.0.1:<port>``: point clients and browsers here."""
        return URL.build(scheme="http", host=self._listen[0], port=self.port)

    @property
    def open_connections(self) -> int:
        """Connections relayed right now."""
        return len(self._links)

    def banner(self) -> str:
        """The one line printed at start: where, to where, and the conditions."""
        return (
            f"netem: listening on {self.url} -> {self.target}; {self.conditions.describe()}; "
            f"control: {self.url}{CONTROL_PATH}"
        )

    def set_conditions(self, conditions: Conditions) -> None:
        """Apply new conditions to every connection, open or future."""
        self.conditions = conditions
        for link in self._links:
            link.touch()  # re-arms (or drops) the idle timer under the new timeout

    async def start(self) -> None:
        """Start listening."""
        self._server = await asyncio.start_server(self._accept, *self._listen)
        self._listen = (self._listen[0], self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and end every connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for link in list(self._links):
            link.cut("proxy stopped")
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def state(self) -> dict[str, Any]:
        """What GET /_netem answers."""
        spec = self.conditions.spec()
        preset = next((name for name, (s, _) in PRESETS.items() if s == spec), None)
        return {
            "conditions": self.conditions.to_json(),
            "preset": preset,
            "presets": [
                {"name": name, "spec": s, "label": label} for name, (s, label) in PRESETS.items()
            ],
            "target": str(self.target),
            "connections": self.open_connections,
        }

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `coroutine` as a task the proxy keeps, and cancels on `close`."""
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._accepted >= self.max_connections:
            self.refused += 1
            await _refuse(writer, HTTPStatus.SERVICE_UNAVAILABLE, "netem: too many connections")
            return
        self._accepted += 1
        try:
            await self._relay(reader, writer)
        finally:
            self._accepted -= 1

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            host, port = self.target.host, self.target.port
            upstream = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        except (OSError, TimeoutError) as exc:
            reason = f"netem: cannot reach {self.target}: {exc.strerror or exc}"
            await _refuse(writer, HTTPStatus.BAD_GATEWAY, reason)
            return
        peer = writer.get_extra_info("peername") or ("?", 0)
        report = LinkReport(next(self._numbers), f"{peer[0]}:{peer[1]}")
        link = _Link(self, report, (reader, writer), upstream)
        self._links.add(link)
        try:
            await link.run()
        finally:
            self._links.discard(link)
            report.seconds = time.monotonic() - report.started
            if self._on_close is not None:
                self._on_close(report)

    def answer(self, request: ControlRequest) -> tuple[int, dict[str, Any]]:
        """Status and JSON body for a request to `/_netem`."""
        if request.target.split("?", 1)[0] != CONTROL_PATH:
            return 404, {"error": f"no such path; the proxy answers {CONTROL_PATH} only"}
        if request.method in ("GET", "HEAD"):
            return 200, self.state()
        if request.method not in ("POST", "PUT"):
            return 405, {"error": "use GET to read the conditions, POST or PUT to change them"}
        if request.body is None:
            return 413, {"error": "the body must be at most 16 KiB, with a Content-Length"}
        if request.content_type.split(";")[0].strip().lower() != "application/json":
            return 415, {"error": "send the new conditions as application/json"}
        try:
            self.set_conditions(_conditions_from(json.loads(request.body)))
        except (ValueError, ConditionsError) as exc:  # JSONDecodeError is a ValueError
            return 400, {"error": str(exc)}
        return 200, self.state()


def _conditions_from(body: object) -> Conditions:
    """``{"preset": "mobile"}`` or ``{"spec": "delay=50ms,rate=1mbit"}`` (replaces all)."""
    if not isinstance(body, dict) or not (body.keys() & {"preset", "spec"}):
        raise ConditionsError('expected {"preset": NAME} or {"spec": "delay=50ms,..."}')
    if "preset" in body:
        name = body["preset"]
        if not isinstance(name, str) or name not in PRESETS:
            raise ConditionsError(f"unknown preset {name!r}: choose from {', '.join(PRESETS)}")
        return parse_spec(PRESETS[name][0])
    spec = body["spec"]
    if not isinstance(spec, str) or len(spec) > 500:
        raise ConditionsError("spec must be a string such as delay=50ms,rate=1mbit")
    return parse_spec(spec)


def http_response(status: int, body: dict[str, Any], *, close: bool = False) -> bytes:
    """A complete HTTP/1.1 response with a JSON body."""
    payload = json.dumps(body).encode()
    head = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        "Cache-Control: no-store",
        "X-Netem: control",
    ]
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


async def _refuse(writer: asyncio.StreamWriter, status: HTTPStatus, reason: str) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        writer.write(http_response(status, {"error": reason}, close=True))
        await writer.drain()
    writer.close()


Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _Link:
    """One relayed connection: two directions, an idle timer, the counters."""

    def __init__(self, proxy: NetemProxy, report: LinkReport, client: Streams, server: Streams):
        self.proxy = proxy
        self.report = report
        self.client_writer = client[1]
        self.server_writer = server[1]
        self.requests = RequestScanner()
        self.responses = ResponseTracker()
        self.buffer = Buffer()
        self.rng = proxy.rng
        self.up = _Line(self, self.server_writer, up=True)
        self.down = _Line(self, self.client_writer, up=False)
        # The kernel completed the client's TCP handshake at once; on a real path it costs a
        # round trip before the first byte can go up. Owe it, so a fresh connection pays 4d.
        conditions = proxy.conditions
        self.up.hold_until(time.monotonic() + conditions.delay_up_s + conditions.delay_down_s)
        self._readers = (client[0], server[0])
        self._last_activity = time.monotonic()
        self._idle: asyncio.TimerHandle | None = None
        self._done = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def run(self) -> None:
        """Relay until both directions are done, or the connection is cut."""
        client_reader, server_reader = self._readers
        self._tasks = [
            self.proxy.spawn(self._pump(client_reader, up=True)),
            self.proxy.spawn(self._pump(server_reader, up=False)),
            self.proxy.spawn(self.up.deliver()),
            self.proxy.spawn(self.down.deliver()),
        ]
        self.touch()
        try:
            await asyncio.gather(*self._tasks[2:], return_exceptions=True)
        finally:
            self._stop_idle_timer()
            for task in self._tasks:
                task.cancel()
            for writer in (self.client_writer, self.server_writer):
                writer.close()
            self.report.stripped = self.requests.stripped
            self.report.held_releases = self.buffer.releases

    def touch(self) -> None:
        """Bytes moved (or conditions changed): the idle clock starts again."""
        self._last_activity = time.monotonic()
        if self._idle is None and self.proxy.conditions.idle_timeout_s is not None:
            timeout = self.proxy.conditions.idle_timeout_s
            self._idle = asyncio.get_running_loop().call_later(timeout, self._check_idle)

    def _check_idle(self) -> None:
        # One timer per connection, moved on lazily: no timer work per chunk.
        self._idle = None
        timeout = self.proxy.conditions.idle_timeout_s
        if timeout is None:
            return
        quiet_until = self._last_activity + timeout
        now = time.monotonic()
        if now >= quiet_until:
            self.cut(f"idle timeout {timeout:g} s")
        else:
            self._idle = asyncio.get_running_loop().call_later(quiet_until - now, self._check_idle)

    def _stop_idle_timer(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def cut(self, reason: str) -> None:
        """End both sides at once, as a middlebox dropping its state would."""
        self.report.ended = reason
        for writer in (self.client_writer, self.server_writer):
            writer.transport.abort()
        for task in self._tasks:
            task.cancel()

    async def _pump(self, reader: asyncio.StreamReader, *, up: bool) -> None:
        line = self.up if up else self.down
        try:
            while chunk := await reader.read(_CHUNK):
                self.touch()
                if up:
                    self.report.up += len(chunk)
                    await self._from_client(chunk)
                else:
                    self.report.down += len(chunk)
                    await self._from_server(chunk)
            if not up:
                await line.put(self.buffer.flush())  # the end of a stream releases what is held
        except (ConnectionError, OSError):
            self.report.ended = "reset"
        finally:
            line.end()  # whatever happened, the writer learns there is no more to come

    async def _from_client(self, chunk: bytes) -> None:
        pieces = self.requests.feed(chunk, strip_upgrade=self.proxy.conditions.strip_upgrade)
        for piece in pieces:
            if isinstance(piece, ControlRequest):
                await self._answer(piece)
            else:
                await self.up.put(piece)

    async def _answer(self, request: ControlRequest) -> None:
        # Answered at once, not through the delay line: the control panel is not the network
        # being studied. A browser sends it only after the previous response arrived, so
        # nothing is overtaken on this connection.
        self.report.control += 1
        status, body = self.proxy.answer(request)
        close = request.body is None
        response = http_response(status, body, close=close)
        if request.method == "HEAD":
            response = response[: response.index(b"\r\n\r\n") + 4]
        self.client_writer.write(response)
        await self.client_writer.drain()
        if close:
            self.cut("control request too large")

    async def _from_server(self, chunk: bytes) -> None:
        conditions = self.proxy.conditions
        if not conditions.buffering or self.responses.tunnel:
            await self.down.put(chunk)
            return
        ends = self.responses.feed(chunk)
        start = 0
        for end in ends:
            await self.down.put(self.buffer.add(chunk[start:end], None, response_ended=True))
            start = end
        if self.responses.tunnel:  # 101: a tunnel now, which buffering proxies pass through
            await self.down.put(self.buffer.add(chunk[start:], None, response_ended=True))
            return
        limit = None if conditions.buffer_until_close else conditions.buffer_bytes
        await self.down.put(self.buffer.add(chunk[start:], limit, response_ended=False))


class _Line:
    """The delay line and rate limit of one direction, and the task that writes it out."""

    def __init__(self, link: _Link, writer: asyncio.StreamWriter, *, up: bool) -> None:
        self._link = link
        self._writer = writer
        self._up = up
        self._clock = DelayClock(link.rng)
        self._bucket = TokenBucket()
        self._queue: deque[tuple[float, bytes | None]] = deque()  # None: the end
        self._queued = 0
        self._ready = asyncio.Event()  # something queued
        self._room = asyncio.Event()  # below MAX_QUEUED
        self._room.set()

    def hold_until(self, moment: float) -> None:
        """Nothing leaves before `moment` (on top of its own delay)."""
        self._clock.hold_until(moment)

    async def put(self, data: bytes) -> None:
        """Queue `data` to go out after the delay; waits while the line is full."""
        if data:
            await self._room.wait()
            self._queued += len(data)
            if self._queued >= MAX_QUEUED:
                self._room.clear()
            self._enqueue(data)

    def end(self) -> None:
        """Queue the end of the stream: it is passed on once the bytes before it are out."""
        self._enqueue(None)

    def _enqueue(self, data: bytes | None) -> None:
        conditions = self._link.proxy.conditions
        delay = conditions.delay_up_s if self._up else conditions.delay_down_s
        release = self._clock.release_at(time.monotonic(), delay, conditions.jitter_s)
        self._queue.append((release, data))
        self._ready.set()

    async def deliver(self) -> None:
        """Write each chunk out at its release time, at the rate; then pass the end on."""
        try:
            while True:
                await self._ready.wait()
                release, data = self._queue.popleft()
                if not self._queue:
                    self._ready.clear()
                if (wait := release - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    break
                await self._write(data)
                self._queued -= len(data)
                if self._queued < MAX_QUEUED:
                    self._room.set()
            if self._writer.can_write_eof():
                self._writer.write_eof()  # HTTP peers may rely on the half-close
        except (ConnectionError, OSError):
            self._link.cut("reset")

    async def _write(self, data: bytes) -> None:
        rate = self._link.proxy.conditions.rate_bps
        if rate is None:
            self._writer.write(data)
            await self._writer.drain()
            return
        step = TokenBucket.burst(rate)
        for start in range(0, len(data), step):
            piece = data[start : start + step]
            if (wait := self._bucket.wait_s(len(piece), rate, time.monotonic())) > 0:
                await asyncio.sleep(wait)
            self._writer.write(piece)
            await self._writer.drain()
