"""`bench reconnect`: cut the connection under a live stream and watch each protocol recover.

The client's traffic goes through `client.relay.CountingRelay`; after every n/(cuts+1)
messages the relay aborts all connections and refuses new ones for --outage ms (a cut whose
turn comes while messages received before the previous cut are still being read waits until
a message has come over the new connection, so every cut is recovered from). Per protocol:

* `reconnect_ms`: median time from the cut to the first message on a new connection. It
  includes the outage, the reconnection delay (ws, longpoll: exponential backoff with
  jitter from --backoff-base; sse: the server's `retry:` time, as EventSource waits), the
  new handshake, and the wait for the next tick;
* `lost` and `duplicated`: gaps and repeats in the tick numbers. ws resumes with `after=`,
  sse with `Last-Event-ID`, so their streams continue exactly; the long-poll's clock grid
  cannot replay, so ticks that passed during the outage are lost. `--no-resume` reconnects
  like a naive client that forgets where it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time

from client.backoff import Backoff
from client.bench.context import BenchContext, CpuMeter
from client.bench.relayed import run_relayed, through
from client.bench.results import BenchResult
from client.errors import ClientError, ConnectionLost
from client.reconnect import Reconnector
from client.relay import CountingRelay
from client.stats import check_sequence
from client.transports import Delivery, PushParams, PushTransport, push_transport

__all__ = ["receive_resuming", "run"]


async def run(ctx: BenchContext) -> list[BenchResult]:
    """One row per protocol."""
    return await run_relayed(ctx, "reconnect", _measure)


async def receive_resuming(transport: PushTransport, reconnector: Reconnector) -> Delivery:
    """The next message, reconnecting as often as it takes when the connection is lost.

    The delay before each attempt is the server's `retry:` time when it gave one (SSE; plus
    backoff once an attempt has failed, as EventSource may), else exponential backoff.
    """
    while True:
        try:
            return await transport.receive()
        except ConnectionLost as exc:
            reason = str(exc)
        failed_before = False
        while True:
            hint = transport.retry_hint_s()
            await reconnector.wait(
                reason, floor_s=hint or 0.0, backoff=hint is None or failed_before
            )
            try:
                await transport.open()
            except ConnectionLost as exc:
                reason, failed_before = str(exc), True
                continue
            reconnector.connected()
            break


async def _measure(ctx: BenchContext, relay: CountingRelay, protocol: str) -> BenchResult:
    args = ctx.args
    params = PushParams(
        interval_ms=max(1, round(1000 / args.rate)),
        size=args.size,
        resume=not args.no_resume,
        wait_s=min(30.0, args.timeout),
    )
    transport = push_transport(protocol, ctx.session, through(relay, ctx.base), params)
    reconnector = Reconnector(Backoff(base_s=args.backoff_base, cap_s=args.backoff_cap))
    cut_points = [args.count * (i + 1) // (args.cuts + 1) for i in range(args.cuts)]
    advance = ctx.progress.task(f"reconnect {protocol}", args.count)
    seqs: list[int] = []
    recoveries_ms: list[float] = []
    cut: tuple[float, int] | None = None  # (when, connection number) of the pending cut
    restoring: asyncio.Task[None] | None = None
    # Long enough for the outage, a retry: time and a handshake, on top of --timeout.
    patience = ctx.args.timeout + args.outage / 1000 + 5
    with CpuMeter() as meter:
        try:
            await ctx.within_timeout(transport.open(), f"{protocol}: connect")
            while len(seqs) < args.count:
                delivery = await _within(
                    receive_resuming(transport, reconnector), patience, protocol
                )
                if cut is not None and delivery.connection > cut[1]:
                    recoveries_ms.append((delivery.at - cut[0]) * 1000)
                    cut = None
                seqs.append(delivery.seq or 0)
                advance(1)
                if cut is None and cut_points and len(seqs) >= cut_points[0]:
                    cut_points.pop(0)
                    cut = (time.perf_counter(), transport.connection)
                    await relay.cut()
                    restoring = asyncio.create_task(_restore_after(relay, args.outage / 1000))
        finally:
            await transport.close()
            if restoring is not None:
                restoring.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await restoring
    check = check_sequence(seqs)
    return BenchResult(
        "reconnect",
        protocol,
        len(seqs),
        args.size,
        metrics={
            "reconnect_ms": statistics.median(recoveries_ms) if recoveries_ms else None,
            "cuts": len(recoveries_ms),
            "lost": check.lost,
            "duplicated": check.duplicated,
            "client_cpu_pct": ctx.check_cpu(f"reconnect {protocol}", meter),
        },
    )


async def _within(awaitable: object, seconds: float, protocol: str) -> Delivery:
    try:
        async with asyncio.timeout(seconds):
            return await awaitable  # type: ignore[misc, no-any-return]
    except TimeoutError:
        raise ClientError(f"{protocol}: no message for {seconds:g} s") from None


async def _restore_after(relay: CountingRelay, outage_s: float) -> None:
    await asyncio.sleep(outage_s)  # the outage itself
    await relay.restore()
