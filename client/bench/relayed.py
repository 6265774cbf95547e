"""Running a scenario with every protocol's traffic through one counting relay."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from client.bench.context import BenchContext
from client.bench.results import BenchResult
from client.errors import ClientError
from client.relay import CountingRelay

Measure = Callable[[BenchContext, CountingRelay, str], Awaitable[BenchResult]]


async def run_relayed(ctx: BenchContext, scenario: str, measure: Measure) -> list[BenchResult]:
    """One row per protocol, each measured by `measure` through a relay to the server.

    A protocol that cannot be measured is reported as a warning and skipped. The relay is
    restored after each protocol, so one that was cut cannot spoil the next.
    """
    if ctx.base.scheme != "http" or ctx.base.host is None:
        raise ClientError(
            f"{scenario} relays plain TCP to count and cut it: give an http:// --url"
        )
    results = ctx.results  # shared, so an interrupted run can still report them
    async with CountingRelay(ctx.base.host, ctx.base.port or 80) as relay:
        for protocol in ctx.args.protocols:
            try:
                results.append(await measure(ctx, relay, protocol))
            except ClientError as exc:
                ctx.warn(f"{scenario} {protocol}: not measured: {exc}")
            finally:
                await relay.restore()
    return results
