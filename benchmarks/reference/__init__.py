"""Minimal reference servers with the project's benchmarked endpoints, run beside it.

Each serves what it can of `GET /ws/echo`, `GET /sse/stream?interval=MS&size=N`,
`POST /http/echo` and `GET /healthz`, byte for byte like the project (same event fields,
same JSON tick), and nothing else: no limits, no metrics, no access log. They are baselines,
not examples to deploy.

    python -m benchmarks.reference.aiohttp_app --port 8081 [--loop uvloop]
    python -m benchmarks.reference.starlette_app --port 8082
    python -m benchmarks.reference.websockets_app --port 8083
"""

import argparse
import json
import time


def parse_args(description: str, loops: bool = False) -> argparse.Namespace:
    """`--host`, `--port` (and `--loop` where the server lets us choose it)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    if loops:
        parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    return parser.parse_args()


def tick_json(seq: int, size: int) -> str:
    """The project's tick body (server/core/ticks.py), compact JSON."""
    payload = {"seq": seq, "ts": int(time.time() * 1000), "pad": "x" * size}
    return json.dumps(payload, separators=(",", ":"))


def sse_event(seq: int, size: int) -> bytes:
    """One tick event framed as aiohttp-sse frames it for the project."""
    return f"id: {seq}\r\nevent: tick\r\ndata: {tick_json(seq, size)}\r\n\r\n".encode()
