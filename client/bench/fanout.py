"""`bench fanout`: the `push` measurement with C clients per protocol at once.

Every client has its own connection and receives every tick (ws/sse streams are per
connection; long-polls all wake at the same tick of the server's clock grid, the classic
thundering herd). As C grows, look at the delay percentiles (queueing in the server, the
network stack and this client) and at msgs/s, which should grow as C x rate until something
saturates -- quite possibly this single-threaded client: watch `client_cpu_pct`.
"""

from __future__ import annotations

from client.bench.context import BenchContext
from client.bench.push import measure_push
from client.bench.results import BenchResult

__all__ = ["run"]


async def run(ctx: BenchContext) -> list[BenchResult]:
    """One row per protocol and client count."""
    return await measure_push(ctx, "fanout")
