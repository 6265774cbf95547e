"""The load generator for WebSocket and SSE: raw sockets, one process, as little work as it can.

    python -m benchmarks.loadgen ws-echo --url http://127.0.0.1:8080 --server-pid PID
    python -m benchmarks.loadgen sse --url ... --server-pid PID
    python -m benchmarks.loadgen idle --url ... --ws 1000 --sse 1000   (held until stdin says)
    python -m benchmarks.loadgen fanout --url ... --ws 500 --sse 500 --server-pid PID
    python -m benchmarks.loadgen fanout ... --deflate   (WebSockets offer permessage-deflate)

It speaks the wire by hand (asyncio protocols on uvloop, no client library) so that it costs
less per message than any server it drives: a WebSocket echo is one precomputed masked frame
out and a two-byte header parsed in, an SSE event is counted with `bytes.count`. It measures
its own window: it reads the server's CPU time (`/proc/PID/task/*/schedstat`) and its own at
the start and end of the measured seconds, after a warm-up, and prints one JSON object on
stdout. Loopback only: it connects to the URL it is given and nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import re
import ssl
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

from benchmarks.procfs import cpu_ns, raise_open_file_limit, rss_kib, run_wait_ns, stat_cpu_s

MASK = b"\x37\xfa\x21\x3d"  # any key will do: RFC 6455 asks for masking, not for secrecy
CONNECT_CONCURRENCY = 200  # handshakes in flight at once: more overflows the accept queue
HANDSHAKE_TIMEOUT_S = 60.0
SSE_TOKEN = b"data:"  # one per event: each tick event has exactly one data line
TS_FIELD = re.compile(rb'"ts":(\d+)')
TEXT_STAMP = re.compile(rb'"text":"(\d+):(\d+)"')
# What Chromium offers on every WebSocket (RFC 7692): compression, with context takeover.
DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"
# The end of a sync-flushed deflate block, which the sender strips (RFC 7692 §7.2.1) and the
# receiver puts back before inflating (§7.2.2).
DEFLATE_TAIL = b"\x00\x00\xff\xff"


def masked_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A final client frame (RFC 6455 §5.2) carrying `payload`, masked with MASK."""
    length = len(payload)
    if length < 126:
        head = bytes([0x80 | opcode, 0x80 | length])
    elif length < 1 << 16:
        head = bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + length.to_bytes(8, "big")
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return head + MASK + masked


CLOSE_FRAME = masked_frame((1000).to_bytes(2, "big"), opcode=0x8)


@dataclass
class Target:
    """Where to connect: host, port, TLS or not, and the Host header."""

    host: str
    port: int
    tls: ssl.SSLContext | None

    @classmethod
    def from_url(cls, url: str) -> Target:
        parts = urlsplit(url)
        tls = None
        if parts.scheme == "https":
            # Loopback to a server this run started with its own certificate: encryption is
            # what is measured, not the trust chain.
            tls = ssl.create_default_context()
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE
        return cls(parts.hostname or "127.0.0.1", parts.port or 80, tls)

    def request_head(self, method: str, path: str, extra: str = "") -> bytes:
        return (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{extra}\r\n"
        ).encode()


def ws_upgrade(target: Target, path: str, extensions: str = "") -> bytes:
    """The upgrade request; `extensions` is offered in Sec-WebSocket-Extensions if given."""
    offer = f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else ""
    return target.request_head(
        "GET",
        path,
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + offer,
    )


def deflate_accepted(head: bytes) -> bool:
    """Whether a 101 response head accepts permessage-deflate (RFC 7692 §5)."""
    for line in head.lower().split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip() == b"sec-websocket-extensions" and b"permessage-deflate" in value:
            return True
    return False


class Conn(asyncio.Protocol):
    """One raw connection: sends a request head, then hands the body to `on_body`.

    `ready` resolves once the response head is in and has the expected status; subclasses
    parse what follows. Kept flat and small: this is the hot path of the load generator.
    """

    expected_status = b" 101 "

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.head = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.ready.done():
            self.on_body(data)
            return
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            return
        status_line = self.head[: self.head.find(b"\r\n")]
        if self.expected_status not in status_line + b" ":
            self.ready.set_exception(ConnectionError(f"refused: {status_line.decode()!r}"))
            return
        self.on_head(self.head[:end])
        rest = self.head[end + 4 :]
        self.head = b""
        self.ready.set_result(None)
        if rest:
            self.on_body(rest)

    def on_head(self, head: bytes) -> None:
        """The accepted response head (status line and headers), once."""

    def on_body(self, data: bytes) -> None:
        """Bytes after the response head."""

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionError("closed before the response head"))
        if not self.closed.done():
            self.closed.set_result(None)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class WsConn(Conn):
    """A WebSocket client: parses server frames, answers pings, hands messages over."""

    def __init__(self, request: bytes, on_message: Callable[[WsConn, bytes], None]) -> None:
        super().__init__(request)
        self.buffer = bytearray()
        self.on_message = on_message
        self.close_code: int | None = None
        self.frame_head = 0  # first byte of the data frame handed to `on_message`

    def on_body(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        start = 0
        end = len(buffer)
        while end - start >= 2:
            first = buffer[start]
            opcode = first & 0x0F
            length = buffer[start + 1] & 0x7F
            offset = start + 2
            if length == 126:
                if end - offset < 2:
                    break
                length = int.from_bytes(buffer[offset : offset + 2], "big")
                offset += 2
            elif length == 127:
                if end - offset < 8:
                    break
                length = int.from_bytes(buffer[offset : offset + 8], "big")
                offset += 8
            if end - offset < length:
                break
            start = offset + length
            if opcode in (0x1, 0x2, 0x0):
                self.frame_head = first  # FIN and RSV1, for a receiver that inflates
                self.on_message(self, bytes(buffer[offset:start]))
            elif opcode == 0x9:  # ping: answer with the same payload (RFC 6455 §5.5.3)
                assert self.transport is not None
                self.transport.write(masked_frame(bytes(buffer[offset:start]), opcode=0xA))
            elif opcode == 0x8:
                self.close_code = int.from_bytes(buffer[offset : offset + 2], "big") or 1005
        del buffer[:start]

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(CLOSE_FRAME)  # a polite goodbye; we do not wait for the echo
            self.transport.close()


class EchoConn(WsConn):
    """Keeps `inflight` messages of the same payload travelling; times each round trip."""

    def __init__(self, request: bytes, frame: bytes, inflight: int, stats: EchoStats) -> None:
        super().__init__(request, self._count)
        self.frame = frame
        self.inflight = inflight
        self.stats = stats
        self.sent_at: collections.deque[int] = collections.deque()
        self.stopping = False
        self.paced = False  # True: `pace` sends, replies do not
        self.replies = 0

    def start(self) -> None:
        assert self.transport is not None
        now = time.perf_counter_ns()
        self.sent_at.extend([now] * self.inflight)
        self.transport.write(self.frame * self.inflight)

    def _count(self, conn: WsConn, payload: bytes) -> None:
        self.replies += 1

    def on_body(self, data: bytes) -> None:
        self.replies = 0
        super().on_body(data)
        count = self.replies
        if not count:
            return
        now = time.perf_counter_ns()
        stats = self.stats
        stats.received += count
        popleft = self.sent_at.popleft
        if stats.timing:
            samples = stats.rtt_ns
            for _ in range(count):
                samples.append(now - popleft())
        else:
            for _ in range(count):
                popleft()
        if not self.paced and not self.stopping and self.transport is not None:
            self.sent_at.extend([now] * count)
            self.transport.write(self.frame * count)

    def send(self, count: int) -> int:
        """Paced mode: up to `count` more messages, never more than `inflight` unanswered
        (a server that falls behind is not buried); how many were sent."""
        count = min(count, self.inflight - len(self.sent_at))
        if count <= 0 or self.stopping or self.transport is None:
            return 0
        self.sent_at.extend([time.perf_counter_ns()] * count)
        self.transport.write(self.frame * count)
        return count


@dataclass
class EchoStats:
    received: int = 0
    timing: bool = False
    rtt_ns: list[int] = field(default_factory=list)


class SseConn(Conn):
    """An event stream: counts events with one C-level scan per read, samples their age."""

    expected_status = b" 200 "

    def __init__(self, request: bytes, stats: SseStats) -> None:
        super().__init__(request)
        self.stats = stats
        self.tail = b""

    def on_body(self, data: bytes) -> None:
        stats = self.stats
        # A token cut between two reads is found in tail + data; the 4-byte tail cannot hold
        # a whole token, so none is counted twice.
        stats.events += (self.tail + data).count(SSE_TOKEN)
        self.tail = data[-(len(SSE_TOKEN) - 1) :]
        if stats.timing:
            at = data.rfind(b'"ts":')
            if at >= 0:
                match = TS_FIELD.match(data, at)
                if match and match.end() < len(data):  # the number is complete
                    stats.age_ms.append(time.time() * 1000 - int(match.group(1)))


@dataclass
class SseStats:
    events: int = 0
    timing: bool = False
    age_ms: list[float] = field(default_factory=list)


async def open_all(
    target: Target, factories: list[Callable[[], Conn]]
) -> tuple[list[Conn], list[str]]:
    """Open every connection, CONNECT_CONCURRENCY at a time; (those that opened, errors)."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    opened: list[Conn] = []
    errors: list[str] = []

    async def one(factory: Callable[[], Conn]) -> None:
        async with gate:
            try:
                async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
                    _, conn = await loop.create_connection(
                        factory, target.host, target.port, ssl=target.tls
                    )
                    await conn.ready
                opened.append(conn)
            except (OSError, TimeoutError, ConnectionError) as exc:
                errors.append(repr(exc))

    await asyncio.gather(*(one(factory) for factory in factories))
    return opened, errors


class Window:
    """CPU of the server and of this process over the measured seconds."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.me = os.getpid()

    def __enter__(self) -> Window:
        self.t0 = time.perf_counter()
        self.server0, self.me0 = cpu_ns(self.server_pid), cpu_ns(self.me)
        self.stat0 = stat_cpu_s(self.server_pid)
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self.t0
        self.server_cpu_s = (cpu_ns(self.server_pid) - self.server0) / 1e9
        self.client_cpu_s = (cpu_ns(self.me) - self.me0) / 1e9
        self.server_stat_cpu_s = stat_cpu_s(self.server_pid) - self.stat0

    def as_json(self) -> dict[str, float]:
        return {
            "wall_s": round(self.wall_s, 4),
            "server_cpu_s": round(self.server_cpu_s, 6),
            "server_stat_cpu_s": round(self.server_stat_cpu_s, 3),
            "client_cpu_s": round(self.client_cpu_s, 6),
        }


def quantiles(samples: list[float]) -> dict[str, float | None]:
    """p50/p99/max of `samples` (None when there are none)."""
    if not samples:
        return {"p50": None, "p99": None, "max": None}
    ordered = sorted(samples)
    last = len(ordered) - 1
    return {
        "p50": ordered[int(0.50 * last)],
        "p99": ordered[int(0.99 * last)],
        "max": ordered[last],
    }


PACE_TICK_S = 0.002  # paced sends go out in ticks this far apart
PACE_CATCH_UP_S = 0.02  # a late tick makes up at most this much of the rate


async def pace(echoes: list[EchoConn], rate: float) -> None:
    """Offer `rate` messages a second in all, spread over the connections in turn.

    Each tick sends what the rate owes since the last one, so a tick that comes late (a
    busy machine) is made up; but never more than PACE_CATCH_UP_S of it, so a server that
    fell behind is not handed a burst that would change what is measured."""
    loop = asyncio.get_running_loop()
    last = loop.time()
    debt = 0.0
    turn = 0
    while True:
        now = loop.time()
        debt = min(debt + (now - last) * rate, PACE_CATCH_UP_S * rate)
        last = now
        owed = int(debt)
        # One message per connection per pass, so no connection is favoured; a pass that
        # places nothing (every connection at its in-flight cap) ends the tick.
        while owed > 0:
            placed = 0
            for _ in range(len(echoes)):
                if owed <= 0:
                    break
                turn = (turn + 1) % len(echoes)
                got = echoes[turn].send(1)
                placed += got
                owed -= got
            if not placed:
                break
            debt -= placed
        await asyncio.sleep(PACE_TICK_S)


async def ws_echo(args: argparse.Namespace) -> dict[str, Any]:
    target = Target.from_url(args.url)
    stats = EchoStats()
    frame = masked_frame(b"x" * args.size)
    request = ws_upgrade(target, "/ws/echo")
    conns, errors = await open_all(
        target,
        [lambda: EchoConn(request, frame, args.inflight, stats) for _ in range(args.conns)],
    )
    echoes = [c for c in conns if isinstance(c, EchoConn)]
    pacer = None
    if args.rate:
        for conn in echoes:
            conn.paced = True
        pacer = asyncio.create_task(pace(echoes, args.rate))
    else:
        for conn in echoes:
            conn.start()
    await asyncio.sleep(args.warmup)  # warm-up traffic runs meanwhile
    start_count = stats.received
    stats.timing = True
    with Window(args.server_pid) as window:
        await asyncio.sleep(args.duration)  # the measured window: traffic runs meanwhile
        count = stats.received - start_count
    stats.timing = False
    if pacer is not None:
        pacer.cancel()
    for conn in echoes:
        conn.stopping = True
        conn.close()
    rtt = quantiles([ns / 1e6 for ns in stats.rtt_ns])
    return {
        "operations": count,
        "total_operations": stats.received,  # warm-up included: to compare with the server's
        "connections": len(echoes),
        "errors": errors[:5],
        "latency_ms": rtt,
        **window.as_json(),
    }


async def sse(args: argparse.Namespace) -> dict[str, Any]:
    target = Target.from_url(args.url)
    stats = SseStats()
    request = target.request_head("GET", f"/sse/stream?interval={args.interval}&size={args.size}")
    conns, errors = await open_all(target, [lambda: SseConn(request, stats)] * args.conns)
    await asyncio.sleep(args.warmup)  # warm-up: the streams flow meanwhile
    start_count = stats.events
    stats.timing = True
    with Window(args.server_pid) as window:
        await asyncio.sleep(args.duration)  # the measured window: the streams flow meanwhile
        count = stats.events - start_count
    total = stats.events
    for conn in conns:
        conn.close()
    return {
        "operations": count,
        "total_operations": total,  # warm-up included: to compare with the server's
        "connections": len(conns),
        "errors": errors[:5],
        "latency_ms": quantiles(stats.age_ms),
        **window.as_json(),
    }


async def idle(args: argparse.Namespace) -> dict[str, Any]:
    """Open `--ws` WebSockets and `--sse` slow streams, say so, hold them until told."""
    target = Target.from_url(args.url)
    ws_request = ws_upgrade(target, "/ws/echo")
    # One tick a minute: the stream is open and quiet, as an idle EventSource is.
    sse_request = target.request_head("GET", "/sse/stream?interval=60000")
    started = time.perf_counter()
    ws_conns, ws_errors = await open_all(
        target, [lambda: WsConn(ws_request, lambda c, m: None)] * args.ws
    )
    sse_conns, sse_errors = await open_all(
        target, [lambda: SseConn(sse_request, SseStats())] * args.sse
    )
    held = {
        "ws": len(ws_conns),
        "sse": len(sse_conns),
        "open_s": round(time.perf_counter() - started, 3),
        "errors": (ws_errors + sse_errors)[:5],
        "error_count": len(ws_errors) + len(sse_errors),
    }
    print(json.dumps({"held": held}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # the harness says when to release
    conns = ws_conns + sse_conns
    dropped = sum(c.closed.done() for c in conns)  # closed by the server while held
    for conn in conns:
        conn.close()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(30):
            await asyncio.gather(*(c.closed for c in conns))
    return {**held, "dropped_while_held": dropped}


class Publisher(Conn):
    """HTTP/1.1 keep-alive POSTs of room messages; one response awaited at a time."""

    expected_status = b""

    def __init__(self, target: Target, path: str) -> None:
        super().__init__(b"")
        self.target = target
        self.path = path
        self.buffer = b""
        self.waiter: asyncio.Future[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.ready.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        match = re.search(rb"(?i)content-length: *(\d+)", self.buffer[:end])
        length = int(match.group(1)) if match else 0
        if len(self.buffer) < end + 4 + length:
            return
        head = self.buffer[:end]
        self.buffer = self.buffer[end + 4 + length :]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(head)

    async def publish(self, body: bytes) -> None:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(
            self.target.request_head(
                "POST",
                self.path,
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n",
            )
            + body
        )
        status_line = (await self.waiter).split(b"\r\n", 1)[0]
        if b" 201 " not in status_line:
            raise ConnectionError(f"publish refused: {status_line.decode()!r}")


class Deliveries:
    """Who received which published message, and how long after it was published."""

    def __init__(self, subscribers: int) -> None:
        self.subscribers = subscribers
        self.count: dict[int, int] = {}
        self.complete: dict[int, asyncio.Future[None]] = {}
        self.delays_ms: list[float] = []
        self.timing = False

    def expect(self, seq: int) -> asyncio.Future[None]:
        future = asyncio.get_running_loop().create_future()
        self.complete[seq] = future
        return future

    def found(self, chunk: bytes) -> None:
        """Count the publish stamps in `chunk`, timed at this read. Kept lean (`findall`, a
        plain dict): it runs once per delivery, and its cost delays every later read."""
        now = time.monotonic_ns()
        count = self.count
        for seq_text, stamp in TEXT_STAMP.findall(chunk):
            seq = int(seq_text)
            if self.timing:
                self.delays_ms.append((now - int(stamp)) / 1e6)
            seen = count[seq] = count.get(seq, 0) + 1
            if seen == self.subscribers:
                future = self.complete.pop(seq, None)
                if future is not None and not future.done():
                    future.set_result(None)


class WsRoomConn(WsConn):
    """A WebSocket room subscriber. A read that is exactly one short text frame (the usual
    case: one message per read) goes straight to `found`, whose pattern skips the 2-byte
    header; anything else takes the full frame parser (pings, close, split frames)."""

    def __init__(self, request: bytes, deliveries: Deliveries) -> None:
        super().__init__(request, lambda _conn, payload: deliveries.found(payload))
        self.deliveries = deliveries

    def on_body(self, data: bytes) -> None:
        if not self.buffer and len(data) > 2 and data[0] == 0x81 and len(data) == 2 + data[1]:
            self.deliveries.found(data)  # FIN text frame, length < 126, nothing else
            return
        super().on_body(data)


class WsDeflateRoomConn(WsRoomConn):
    """A browser-like WebSocket room subscriber: offers permessage-deflate as Chromium does
    (DEFLATE_OFFER) and, when the 101 accepts it, inflates every compressed message
    (RFC 7692 §7.2.2) before looking for its stamp; otherwise it is a WsRoomConn.

    One raw-inflate stream per connection, kept across messages, as a browser keeps it: with
    context takeover a message may refer to bytes of earlier ones (room connections are
    answered without it, and a kept stream inflates those too). The usual read, one
    whole compressed text frame, is inflated in one call; anything else takes the frame
    parser (which hands over FIN and RSV1 in `frame_head`)."""

    def __init__(self, request: bytes, deliveries: Deliveries) -> None:
        super().__init__(request, deliveries)
        self.on_message = self._on_frame
        self.inflater: zlib._Decompress | None = None  # set once deflate is negotiated
        self.compressing = False  # whether the message whose frames arrive is compressed
        self.inflated = 0  # compressed messages received

    def on_head(self, head: bytes) -> None:
        if deflate_accepted(head):
            self.inflater = zlib.decompressobj(-15)

    def on_body(self, data: bytes) -> None:
        inflater = self.inflater
        if (
            inflater is not None
            and not self.buffer
            and len(data) > 2
            and data[0] == 0xC1  # FIN + RSV1 + text, length < 126, nothing else in the read
            and len(data) == 2 + data[1]
        ):
            self.inflated += 1
            self.deliveries.found(inflater.decompress(data[2:] + DEFLATE_TAIL))
            return
        super().on_body(data)

    def _on_frame(self, _conn: WsConn, payload: bytes) -> None:
        head = self.frame_head
        if head & 0x0F:  # a message's first frame: its RSV1 says if the message is compressed
            self.compressing = bool(head & 0x40)
        if self.compressing and self.inflater is not None:
            if head & 0x80:  # the message's last frame: close its deflate block
                payload += DEFLATE_TAIL
                self.inflated += 1
            payload = self.inflater.decompress(payload)
        self.deliveries.found(payload)


class SseRoomConn(SseConn):
    """An SSE room subscriber: finds publish stamps in whole events."""

    def __init__(self, request: bytes, deliveries: Deliveries) -> None:
        super().__init__(request, SseStats())
        self.deliveries = deliveries
        self.pending = b""
        self.dropped = False

    def on_body(self, data: bytes) -> None:
        if not self.pending and data.endswith(b"\r\n\r\n"):  # whole events only: as is
            if b"event: dropped" in data:
                self.dropped = True
            self.deliveries.found(data)
            return
        data = self.pending + data
        end = data.rfind(b"\r\n\r\n")  # events end with a blank line; keep a partial one
        if end < 0:
            self.pending = data
            return
        self.pending = data[end + 4 :]
        whole = data[:end]
        if b"event: dropped" in whole:
            self.dropped = True
        self.deliveries.found(whole)


class Phase:
    """CPU time and run-queue wait of the server and of this process over one phase, and
    this process's event-loop lag: how late a 2 ms timer fires, which is how late this
    process can be to read a socket that is ready (its own delay added to every delivery)."""

    TICK_S = 0.002

    def __init__(self, server_pid: int) -> None:
        self.pids = {"server": server_pid, "loadgen": os.getpid()}
        self.lag_ms: list[float] = []

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.TICK_S
            await asyncio.sleep(self.TICK_S)
            self.lag_ms.append((loop.time() - due) * 1000)

    async def __aenter__(self) -> Phase:
        self.t0 = time.perf_counter()
        self.cpu0 = {k: cpu_ns(p) for k, p in self.pids.items() if p}
        self.wait0 = {k: run_wait_ns(p) for k, p in self.pids.items() if p}
        self.prober = asyncio.create_task(self._probe())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.prober.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.prober
        self.wall_s = time.perf_counter() - self.t0
        self.cpu_s = {k: (cpu_ns(self.pids[k]) - v) / 1e9 for k, v in self.cpu0.items()}
        self.wait_s = {k: (run_wait_ns(self.pids[k]) - v) / 1e9 for k, v in self.wait0.items()}

    def as_json(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall_s, 4),
            "cpu_s": {k: round(v, 6) for k, v in self.cpu_s.items()},
            "run_wait_s": {k: round(v, 6) for k, v in self.wait_s.items()},
            "loop_lag_ms": quantiles(self.lag_ms),
        }


async def fanout(args: argparse.Namespace) -> dict[str, Any]:
    """Room fan-out: latency of one message to every subscriber, then the sustained rate."""
    target = Target.from_url(args.url)
    total = args.ws + args.sse
    deliveries = Deliveries(total)
    room = f"/room/{args.room}"

    # The server's memory before anyone joins, and after the run with everyone still there.
    rss_before = rss_kib(args.server_pid) if args.server_pid else None
    ws_request = ws_upgrade(target, "/ws" + room, DEFLATE_OFFER if args.deflate else "")
    sse_request = target.request_head("GET", "/sse" + room)
    subscriber = WsDeflateRoomConn if args.deflate else WsRoomConn
    ws_subs, ws_errors = await open_all(
        target, [lambda: subscriber(ws_request, deliveries)] * args.ws
    )
    sse_subs, sse_errors = await open_all(
        target, [lambda: SseRoomConn(sse_request, deliveries)] * args.sse
    )
    if ws_errors or sse_errors:
        raise SystemExit(f"subscribers could not connect: {(ws_errors + sse_errors)[:3]}")
    loop = asyncio.get_running_loop()
    # One keep-alive connection per message in flight: with a single one, the next POST
    # would wait for the previous response, which the server sends only after writing to
    # every subscriber, and the rate would measure that round trip, not the fan-out.
    publishers: list[Publisher] = []
    for _ in range(max(1, args.window)):
        _, publisher = await loop.create_connection(
            lambda: Publisher(target, f"/http{room}?via=http"),
            target.host,
            target.port,
            ssl=target.tls,
        )
        assert isinstance(publisher, Publisher)
        publishers.append(publisher)
    idle_publishers = list(publishers)
    seq = 0

    async def publish_one() -> asyncio.Future[None]:
        nonlocal seq
        seq += 1
        done = deliveries.expect(seq)
        text = f"{seq}:{time.monotonic_ns()}"
        publisher = idle_publishers.pop()
        try:
            await publisher.publish(json.dumps({"user": "bench", "text": text}).encode())
        finally:
            idle_publishers.append(publisher)
        return done

    # Subscriptions are registered by the server a moment after the handshake: publish until
    # one message reaches every subscriber, then measure.
    async with asyncio.timeout(60):
        while True:
            done = await publish_one()
            try:
                async with asyncio.timeout(1.0):
                    await done
                break
            except TimeoutError:
                deliveries.complete.pop(seq, None)
    warmup_messages = seq

    deliveries.timing = True
    incomplete = 0
    async with Phase(args.server_pid) as timed:
        for _ in range(args.messages):
            done = await publish_one()
            try:
                async with asyncio.timeout(10):
                    await done
            except TimeoutError:
                incomplete += 1
    deliveries.timing = False
    latency = quantiles(deliveries.delays_ms)
    latency_count = len(deliveries.delays_ms)

    # Sustained: keep at most `window` messages not yet delivered to everyone.
    window = asyncio.Semaphore(args.window)
    outstanding: set[asyncio.Future[None]] = set()
    completed = 0

    def finished(future: asyncio.Future[None]) -> None:
        nonlocal completed
        completed += 1
        outstanding.discard(future)
        window.release()

    with Window(args.server_pid) as measured:
        stop_at = loop.time() + args.duration

        async def keep_publishing() -> None:
            while loop.time() < stop_at:
                await window.acquire()
                done = await publish_one()
                outstanding.add(done)
                done.add_done_callback(finished)

        await asyncio.gather(*(keep_publishing() for _ in publishers))
        published = seq
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                while outstanding:
                    await asyncio.wait(set(outstanding))
    subs: list[Conn] = [*ws_subs, *sse_subs]
    dropped = sum(isinstance(c, WsConn) and c.close_code is not None for c in subs) + sum(
        isinstance(c, SseRoomConn) and c.dropped for c in subs
    )
    inflating = [c for c in ws_subs if isinstance(c, WsDeflateRoomConn)]
    rss_after = rss_kib(args.server_pid) if args.server_pid else None
    for publisher in publishers:
        publisher.close()
    for conn in subs:
        conn.close()
    return {
        "subscribers": {"ws": len(ws_subs), "sse": len(sse_subs)},
        "ws_deflate": {
            "offered": args.deflate,
            "negotiated": sum(c.inflater is not None for c in inflating),
            "compressed_messages": sum(c.inflated for c in inflating),
        },
        "warmup_messages": warmup_messages,
        "latency_messages": args.messages,
        "latency_deliveries": latency_count,
        "incomplete_messages": incomplete,
        "latency_ms": latency,
        "latency_phase": timed.as_json(),
        "sustained_published": published - warmup_messages - args.messages,
        "sustained_completed": completed,
        "dropped_subscribers": dropped,
        "server_rss_kib": {"before": rss_before, "after": rss_after},
        "window": args.window,
        **measured.as_json(),
    }


MODES = {"ws-echo": ws_echo, "sse": sse, "idle": idle, "fanout": fanout}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT (https for TLS)")
    parser.add_argument("--server-pid", type=int, default=0, help="whose CPU to read")
    parser.add_argument("--conns", type=int, default=50)
    parser.add_argument(
        "--inflight", type=int, default=16, help="ws-echo: messages in flight (paced: at most)"
    )
    parser.add_argument(
        "--rate", type=float, default=0, help="ws-echo: messages/s offered in all (0: flat out)"
    )
    parser.add_argument(
        "--interval", type=int, default=0, help="sse: ms between events (0: flat out)"
    )
    parser.add_argument("--size", type=int, default=32, help="payload or pad bytes")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--ws", type=int, default=0, help="idle/fanout: WebSockets")
    parser.add_argument("--sse", type=int, default=0, help="idle/fanout: SSE streams")
    parser.add_argument("--room", default="bench")
    parser.add_argument("--messages", type=int, default=100, help="fanout: timed messages")
    parser.add_argument("--window", type=int, default=8, help="fanout: messages in flight")
    parser.add_argument(
        "--deflate",
        action="store_true",
        help=f"fanout: WebSockets offer {DEFLATE_OFFER!r} as browsers do, and inflate",
    )
    return parser


def main() -> None:
    args = build_parser().parse_args()
    raise_open_file_limit(args.conns + args.ws + args.sse + 256)
    try:
        import uvloop

        run: Callable[[Any], Any] = uvloop.run
    except ImportError:  # uvloop is a Linux dependency; elsewhere the default loop does
        run = asyncio.run
    result = run(MODES[args.mode](args))
    result["client_rss_kib"] = rss_kib(os.getpid())
    print(json.dumps({"result": result}), flush=True)


if __name__ == "__main__":
    main()
