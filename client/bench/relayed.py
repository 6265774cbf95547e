"""Running a scenario with every protocol's traffic through one counting relay."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from yarl import URL

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
    if ctx.base.scheme not in ("http", "https") or ctx.base.host is None:
        raise ClientError(f"{scenario} relays TCP to count and cut it: give an http(s):// --url")
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


def through(relay: CountingRelay, base: URL) -> URL:
    """`base` as reached through `relay`: the relay's port, the server's scheme and path.

    TLS passes through the relay untouched (it counts the encrypted bytes), so the server's
    certificate must name 127.0.0.1, whatever the port: the local CA's does.
    """
    return relay.url.with_scheme(base.scheme).with_path(base.path)
