"""`bench rtt`: N sequential round trips of SIZE bytes over each protocol.

* ws: a text frame to `/ws/echo` and its echo, on one upgraded connection;
* http: `POST /http/echo` and its response, on one kept-alive connection;
* sse: `POST /http/room/{room}?via=sse` and the same message arriving on the room's event
  stream `/sse/room/{room}`: how an SSE client does a round trip, since it cannot send on
  its stream. The server rate-limits room posts per client address; 429s are waited out
  (Retry-After), counted in `throttled`, and left out of the latencies and msgs/s.

Each sample is from the start of the (successful) send to the arrival of the reply.
"""

from __future__ import annotations

import asyncio
import secrets
import time

from client.bench.context import BenchContext, CpuMeter
from client.bench.results import BenchResult
from client.errors import ClientError
from client.messages import text_payload
from client.stats import throughput
from client.transports import MAX_ROOM_TEXT, HttpEcho, SseRoomEcho, Transport, WsEcho

__all__ = ["run"]


async def run(ctx: BenchContext) -> list[BenchResult]:
    """One row per protocol and client count."""
    args = ctx.args
    room = args.room or f"bench-{secrets.token_hex(4)}"
    results = ctx.results  # shared, so an interrupted run can still report them
    for protocol in args.protocols:
        if protocol == "sse" and not 1 <= args.size <= MAX_ROOM_TEXT:
            ctx.warn(f"sse: skipped, room messages carry 1-{MAX_ROOM_TEXT} characters")
            continue
        for clients in args.clients:
            try:
                results.append(await _measure(ctx, protocol, clients, room))
            except ClientError as exc:
                ctx.warn(f"rtt {protocol}: not measured: {exc}")
    return results


def _transport(ctx: BenchContext, protocol: str, room: str) -> Transport:
    if protocol == "ws":
        return WsEcho(ctx.session, ctx.base, binary=False)
    if protocol == "http":
        return HttpEcho(ctx.session, ctx.base)
    return SseRoomEcho(ctx.session, ctx.base, room)


async def _measure(ctx: BenchContext, protocol: str, clients: int, room: str) -> BenchResult:
    args = ctx.args
    rooms = [room if clients == 1 else f"{room}-{index}" for index in range(clients)]
    transports = [_transport(ctx, protocol, name) for name in rooms]
    payload = text_payload(args.size).encode()
    label = protocol if clients == 1 else f"{protocol} x{clients}"
    advance = ctx.progress.task(f"rtt {label}", args.count * clients)
    try:
        await asyncio.gather(
            *(ctx.within_timeout(t.open(), f"{label}: connect") for t in transports)
        )
        with CpuMeter() as meter:
            started = time.perf_counter()
            per_client = await asyncio.gather(
                *(_round_trips(ctx, t, payload, advance, label) for t in transports)
            )
            wall_s = time.perf_counter() - started
    finally:
        await asyncio.gather(*(t.close() for t in transports), return_exceptions=True)
    samples = [sample for samples in per_client for sample in samples]
    throttled_s = max((_throttling(t)[1] for t in transports), default=0.0)
    throttled = sum(_throttling(t)[0] for t in transports)
    metrics: dict[str, int | float | None] = {
        "msgs_per_s": throughput(len(samples), max(wall_s - throttled_s, 1e-9)),
        "client_cpu_pct": ctx.check_cpu(f"rtt {label}", meter),
    }
    if protocol == "sse":
        metrics["throttled"] = throttled
        if throttled:
            ctx.warn(
                f"rtt {label}: the server rate-limited the room posts {throttled} time(s) "
                f"(waited {throttled_s:.1f} s; the waits are left out of latencies and "
                "msgs/s). For an unthrottled run restart the server with --room-rate 0 "
                "(or a larger --room-burst), or send fewer messages than its --room-burst"
            )
    return BenchResult(
        "rtt",
        protocol,
        len(samples),
        args.size,
        clients=clients if len(args.clients) > 1 or clients != 1 else None,
        samples_ms=samples,
        metrics=metrics,
    )


async def _round_trips(
    ctx: BenchContext, transport: Transport, payload: bytes, advance: object, label: str
) -> list[float]:
    samples: list[float] = []
    for _ in range(ctx.args.count):
        started = await ctx.within_timeout(transport.send(payload), f"{label}: send")
        delivery = await ctx.within_timeout(transport.receive(), f"{label}: reply")
        samples.append((delivery.at - started) * 1000)
        advance(1)  # type: ignore[operator]
    return samples


def _throttling(transport: Transport) -> tuple[int, float]:
    if isinstance(transport, SseRoomEcho):
        return transport.throttling.times, transport.throttling.seconds
    return 0, 0.0
