"""`bench overhead`: bytes on the wire per message, measured by a counting TCP relay.

Every protocol's traffic goes through `client.relay.CountingRelay` on 127.0.0.1. Each is run
twice on fresh connections, once with 1 message and once with N+1, so

    per message = (bytes(N+1) - bytes(1)) / N        (each direction)
    handshake   = bytes(1) - per message              (up + down)

The first line cancels everything that is paid once per connection (the WebSocket upgrade,
the SSE response head and `retry:` block, close frames, the chunked-encoding terminator); the
second line is exactly that once-per-connection cost. TCP/IP headers are not counted.

* ws: text frames to `/ws/echo` and back (client frames are masked: +4 bytes);
* http: `POST /http/echo` and its response on a kept-alive connection: the request line and
  headers up, status line and headers down, every time;
* sse: ticks from `/sse/stream` (count=k, no delay): `id:`/`event:`/`data:` lines plus
  chunked-encoding framing; nothing goes up per message;
* longpoll: one `GET /http/tick?after=..&wait=..` request and response per tick.
"""

from __future__ import annotations

from statistics import fmean

from yarl import URL

from client.bench.context import BenchContext, CpuMeter
from client.bench.relayed import run_relayed, through
from client.bench.results import BenchResult
from client.messages import text_payload
from client.relay import ByteCounts, CountingRelay
from client.transports import Delivery, HttpEcho, LongPoll, PushParams, SseStream, WsEcho

__all__ = ["run"]

_LONG_POLL_INTERVAL_MS = 10  # tick spacing for the long-poll run: short, to keep it quick


async def run(ctx: BenchContext) -> list[BenchResult]:
    """One row per protocol."""
    return await run_relayed(ctx, "overhead", _measure)


async def _measure(ctx: BenchContext, relay: CountingRelay, protocol: str) -> BenchResult:
    n = ctx.args.count
    advance = ctx.progress.task(f"overhead {protocol}", n + 2)
    base = through(relay, ctx.base)
    with CpuMeter() as meter:
        one, _ = await _exchange(ctx, relay, base, protocol, 1)
        advance(1)
        many, deliveries = await _exchange(ctx, relay, base, protocol, n + 1)
        advance(n + 1)
    up = (many.up - one.up) / n
    down = (many.down - one.down) / n
    payload = (
        ctx.args.size if protocol in ("ws", "http") else fmean(len(d.data) for d in deliveries)
    )
    return BenchResult(
        "overhead",
        protocol,
        n,
        ctx.args.size,
        metrics={
            "up_bytes_per_msg": up,
            "down_bytes_per_msg": down,
            "handshake_bytes": round(one.up + one.down - up - down),
            "payload_bytes": payload,
            "client_cpu_pct": ctx.check_cpu(f"overhead {protocol}", meter),
        },
    )


async def _exchange(
    ctx: BenchContext, relay: CountingRelay, base: URL, protocol: str, k: int
) -> tuple[ByteCounts, list[Delivery]]:
    """Run `k` messages of `protocol` on a fresh connection; bytes relayed meanwhile."""
    before = relay.counts()
    deliveries = await ctx.within_timeout(_messages(ctx, base, protocol, k), f"{protocol}")
    return relay.counts() - before, deliveries


async def _messages(ctx: BenchContext, base: URL, protocol: str, k: int) -> list[Delivery]:
    size, session = ctx.args.size, ctx.session
    payload = text_payload(size).encode()
    deliveries: list[Delivery] = []
    if protocol in ("ws", "http"):
        echo = WsEcho(session, base, binary=False) if protocol == "ws" else HttpEcho(session, base)
        await echo.open()
        try:
            for _ in range(k):
                await echo.send(payload)
                deliveries.append(await echo.receive())
        finally:
            await echo.close()  # the close handshake is part of what `handshake` counts
        return deliveries
    if protocol == "sse":
        stream = SseStream(session, base, PushParams(interval_ms=0, size=size, count=k))
        await stream.open()
        try:
            deliveries = [await stream.receive() for _ in range(k)]
            await stream.drain()  # to the end of the body: a fixed amount of framing
        finally:
            await stream.close()
        return deliveries
    poll = LongPoll(session, base, PushParams(interval_ms=_LONG_POLL_INTERVAL_MS, size=size))
    await poll.open()
    return [await poll.receive() for _ in range(k)]
