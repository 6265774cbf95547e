"""`make bench`: the project against bare aiohttp and its peers, side by side.

`python -m benchmarks` runs the scenarios in `benchmarks/scenarios/` and writes
docs/performance.md; `benchmarks/load.py` is the older steady-traffic run it keeps, and
`benchmarks/broker.py` measures the room hubs across processes (docs/scale-out.md).
"""
