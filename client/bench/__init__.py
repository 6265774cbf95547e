"""`bench`: the same workload over each protocol, measured the same way.

`runner` collects the metadata, runs one scenario module (`rtt`, `push`, `fanout`,
`overhead`, `reconnect`) and hands its `BenchResult`s to `client.report`. Scenario modules
export ``async def run(ctx: BenchContext) -> list[BenchResult]``.
"""
