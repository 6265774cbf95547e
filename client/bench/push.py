"""`bench push`: the server ticks at --rate; how late does each tick reach the client?

Delay = arrival time - the tick's `ts` (both on this machine's clock when the server runs
here). Over WebSocket (`/ws/stream`) and SSE (`/sse/stream`) the server sends each tick as it
happens, so the delay is the cost of delivery. Long-polling (`/http/tick?after=SEQ&wait=S`)
adds a request per tick, but the server answers as the tick happens. Polling
(`/http/tick` every --poll-interval P ms) finds a tick only at the next poll: on average
P/2 late, and ticks that come and go between two polls are `lost`.

`fanout` runs the same measurement with C clients at once (see `measure_push`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from client.bench.context import BenchContext, CpuMeter
from client.bench.results import BenchResult
from client.errors import ClientError, describe
from client.stats import check_sequence, throughput
from client.transports import PushParams, PushTransport, push_transport

__all__ = ["measure_push", "run"]


async def run(ctx: BenchContext) -> list[BenchResult]:
    """One row per protocol (and per client count, if several are given)."""
    return await measure_push(ctx, "push")


@dataclass(slots=True)
class ClientRun:
    """What one client received."""

    delays_ms: list[float] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)


async def measure_push(ctx: BenchContext, scenario: str) -> list[BenchResult]:
    """Rows for every protocol in `--protocols` and client count in `--clients`."""
    results = ctx.results  # shared, so an interrupted run can still report them
    for protocol in ctx.args.protocols:
        for clients in ctx.args.clients:
            try:
                results.append(await _measure(ctx, scenario, protocol, clients))
            except ClientError as exc:
                ctx.warn(f"{scenario} {protocol} x{clients}: not measured: {exc}")
    return results


def push_params(ctx: BenchContext) -> PushParams:
    """Tick spacing from `--rate`, padding from `--size`, polling from `--poll-interval`."""
    args = ctx.args
    return PushParams(
        interval_ms=max(1, round(1000 / args.rate)),
        size=args.size,
        poll_interval_ms=getattr(args, "poll_interval", 45),
        wait_s=min(30.0, args.timeout),
    )


async def _measure(ctx: BenchContext, scenario: str, protocol: str, clients: int) -> BenchResult:
    args = ctx.args
    params = push_params(ctx)
    label = f"{protocol} x{clients}"
    advance = ctx.progress.task(f"{scenario} {label}", args.count * clients)
    transports = [push_transport(protocol, ctx.session, ctx.base, params) for _ in range(clients)]
    # Filled as ticks arrive, so that Ctrl-C mid-row still has what was measured.
    runs = [ClientRun() for _ in transports]
    try:
        with CpuMeter() as meter:
            clients_done = (
                _one_client(ctx, transport, run, advance, label)
                for transport, run in zip(transports, runs, strict=True)
            )
            outcomes = await asyncio.gather(*clients_done, return_exceptions=True)
    except asyncio.CancelledError:
        if any(run.delays_ms for run in runs):
            received = sum(len(run.delays_ms) for run in runs)
            ctx.warn(
                f"{scenario} {label}: interrupted; its row has the {received} of "
                f"{args.count * clients} tick(s) that arrived before Ctrl-C"
            )
            ctx.results.append(_row(ctx, scenario, protocol, clients, runs, [], meter))
        raise
    failures = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    finished = [run for run, outcome in zip(runs, outcomes, strict=True) if outcome is None]
    if not finished:
        raise ClientError(describe(failures[0]) if failures else "no client ran")
    if failures:
        ctx.warn(
            f"{scenario} {label}: {len(failures)} client(s) failed: {describe(failures[0])}. "
            "If the server refused them (503, close 1013), it holds a limit on long-lived "
            "connections: restart it with --max-connections-per-ip 0 --max-connections 0"
        )
    return _row(ctx, scenario, protocol, clients, finished, failures, meter)


def _row(
    ctx: BenchContext,
    scenario: str,
    protocol: str,
    clients: int,
    runs: list[ClientRun],
    failures: list[Exception],
    meter: CpuMeter,
) -> BenchResult:
    """The row of `runs`: delays over all clients, losses and duplicates per client."""
    args = ctx.args
    checks = [check_sequence(run.seqs) for run in runs]
    delays = [delay for run in runs for delay in run.delays_ms]
    show_clients = scenario == "fanout" or len(args.clients) > 1 or clients != 1
    return BenchResult(
        scenario,
        protocol,
        len(delays),
        args.size,
        clients=clients if show_clients else None,
        samples_ms=delays,
        metrics={
            "msgs_per_s": throughput(len(delays), meter.wall_s),
            "lost": sum(check.lost for check in checks),
            "duplicated": sum(check.duplicated for check in checks),
            "errors": len(failures) if show_clients else None,
            "client_cpu_pct": ctx.check_cpu(f"{scenario} {protocol} x{clients}", meter),
        },
    )


async def _one_client(
    ctx: BenchContext,
    transport: PushTransport,
    run: ClientRun,
    advance: Callable[[int], None],
    label: str,
) -> None:
    """Receive `--count` ticks into `run`."""
    try:
        await ctx.within_timeout(transport.open(), f"{label}: connect")
        for _ in range(ctx.args.count):
            delivery = await ctx.within_timeout(transport.receive(), f"{label}: tick")
            if delivery.delay_ms is not None and delivery.seq is not None:
                run.delays_ms.append(delivery.delay_ms)
                run.seqs.append(delivery.seq)
            advance(1)
    finally:
        await transport.close()
