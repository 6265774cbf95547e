"""`bench survive`: which long-lived connection outlives a quiet spell on this path?

Each protocol holds what it would hold while nothing happens, for `--hold` seconds, all at
once, in a fresh room where nobody speaks:

* ws: a WebSocket on `/ws/room/R`; only the server's heartbeat pings (`--ws-heartbeat`) cross;
* sse: an event stream `/sse/room/R`; only keep-alive comments (`--sse-ping-interval`) cross;
* longpoll: `GET /http/room/R?since=0&wait=W` (W = 25 s, as `room --via http` and the page
  ask, or `--hold` if shorter), asked again whenever it comes back empty.

Then a message is posted to the room: a connection that is still alive delivers it. Run it
with `--netem "idle-timeout=5s"` to play a load balancer, and with the server's keep-alive
settings below or above that timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import aiohttp

from client.bench.context import BenchContext
from client.bench.netem import add_netem_option
from client.bench.results import BenchResult
from client.errors import ClientError, describe
from client.urls import endpoint

__all__ = ["add_parser", "run"]

PROTOCOLS = ("ws", "sse", "longpoll")
LONG_POLL_WAIT_S = 25.0
_NETWORK_ERRORS = (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, OSError)


def add_parser(scenarios: Any, common: argparse.ArgumentParser) -> None:
    """Register `bench survive`."""
    parser = scenarios.add_parser(
        "survive",
        parents=[common],
        help="hold a quiet ws, sse and long-poll connection: which one outlives the path?",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--hold",
        type=float,
        default=10.0,
        metavar="S",
        help="how long each connection stays quiet, in seconds (default: 10)",
    )
    parser.add_argument("--csv", type=Path, metavar="FILE", help="also write the rows as CSV")
    add_netem_option(parser)
    parser.set_defaults(count=1, size=0, plot=None, protocols=list(PROTOCOLS), timeout=10.0)


async def run(ctx: BenchContext) -> list[BenchResult]:
    """One row per protocol: survived (1/0) and how long it lived (s)."""
    hold = ctx.args.hold
    if not 0.5 <= hold <= 300:
        raise ClientError("--hold must be 0.5 to 300 seconds")
    room = f"survive-{secrets.token_hex(4)}"
    holders = {"ws": _ws, "sse": _sse, "longpoll": _long_poll}
    tasks = {
        name: asyncio.create_task(_timed(holders[name](ctx, room, hold))) for name in PROTOCOLS
    }
    try:
        await _post_after(ctx, room, hold, tasks)
        outcomes = await asyncio.gather(*tasks.values(), return_exceptions=True)
    finally:
        for task in tasks.values():
            task.cancel()
    for name, outcome in zip(tasks, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            ctx.warn(f"survive {name}: not measured: {describe(outcome)}")
            continue
        survived, lived_s, how = outcome
        if not survived:
            ctx.warn(f"survive {name}: {how} after {lived_s:.1f} s of quiet")
        metrics: dict[str, int | float | None] = {"survived": int(survived), "lived_s": lived_s}
        ctx.results.append(BenchResult("survive", name, 1, 0, metrics=metrics))
    return ctx.results


async def _timed(holding: Coroutine[Any, Any, str | None]) -> tuple[bool, float, str]:
    """(delivered the message?, seconds it lived, how it ended if it did not)."""
    started = time.perf_counter()
    ended = await holding
    return ended is None, time.perf_counter() - started, ended or ""


async def _post_after(
    ctx: BenchContext,
    room: str,
    hold: float,
    tasks: dict[str, asyncio.Task[tuple[bool, float, str]]],
) -> None:
    """Wait the hold (or until every holder has died), then post the message they wait for."""
    done, _ = await asyncio.wait(tasks.values(), timeout=hold)
    if len(done) == len(tasks):
        return
    url = endpoint(ctx.base, f"/http/room/{room}")
    async with ctx.session.post(url, json={"user": "bench", "text": _PROBE}) as response:
        response.raise_for_status()


_PROBE = "still there?"


async def _ws(ctx: BenchContext, room: str, hold: float) -> str | None:
    """None once the probe arrives; else how the socket ended."""
    async with ctx.session.ws_connect(endpoint(ctx.base, f"/ws/room/{room}")) as ws:
        async with asyncio.timeout(hold + ctx.args.timeout):
            while True:  # aiohttp answers the server's pings by itself
                message = await ws.receive()
                if message.type is aiohttp.WSMsgType.TEXT and _PROBE in message.data:
                    return None
                if message.type in _WS_ENDS:
                    return f"closed (code {ws.close_code})"


_WS_ENDS = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


async def _sse(ctx: BenchContext, room: str, hold: float) -> str | None:
    """None once the probe arrives; else how the stream ended."""
    async with ctx.session.get(endpoint(ctx.base, f"/sse/room/{room}")) as response:
        response.raise_for_status()
        async with asyncio.timeout(hold + ctx.args.timeout):
            try:
                async for line in response.content:
                    if _PROBE.encode() in line:
                        return None
            except _NETWORK_ERRORS:
                return "the stream was cut"
    return "the stream ended"


async def _long_poll(ctx: BenchContext, room: str, hold: float) -> str | None:
    """None once the probe arrives; else how the held request ended.

    On its own socket, not the session's: aiohttp quietly repeats a GET whose connection
    broke, which would hide the very cut this measures.
    """
    wait = min(LONG_POLL_WAIT_S, hold)
    url = endpoint(ctx.base, f"/http/room/{room}", since=0, wait=f"{wait:g}")
    request = f"GET {url.raw_path_qs} HTTP/1.1\r\nHost: {url.raw_authority}\r\n\r\n".encode()
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        async with asyncio.timeout(hold + wait + ctx.args.timeout):
            while True:
                writer.write(request)
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                    body = await reader.readexactly(_content_length(head))
                except (asyncio.IncompleteReadError, OSError):
                    return f"a {wait:g} s wait was cut"
                if _PROBE.encode() in body:
                    return None
    finally:
        writer.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ClientError("a long-poll answer without Content-Length")
