"""The doctor's verdict, a pure function of what it found and the server's settings."""

from __future__ import annotations

import asyncio
import contextlib
import time

from yarl import URL

from client.doctor import Findings, IdleProbe, Step, find_idle_timeout, recommend

CONFIG = {"ws_heartbeat": 20.0, "sse_ping_interval": 15.0}


def _findings(
    *, ws: bool = True, buffered: bool = False, idle: float | None = None, **config: float
) -> Findings:
    steps = [Step("http", True, 1, ""), Step("websocket", ws, 1, ""), Step("sse", True, 1, "")]
    steps.append(Step("long-poll", True, 1, ""))
    probe = IdleProbe(budget_s=30, cut_s=idle) if idle is not None else None
    return Findings(steps=steps, config={**CONFIG, **config}, sse_buffered=buffered, idle=probe)


def test_a_clean_path_gets_websocket() -> None:
    assert recommend(_findings()).transport == "WebSocket"


def test_a_stripped_upgrade_gets_sse_and_a_buffered_stream_long_poll() -> None:
    assert recommend(_findings(ws=False)).transport == "SSE + POST"
    assert recommend(_findings(ws=False, buffered=True)).transport == "HTTP long-poll"


def test_keepalives_must_beat_the_idle_timeout() -> None:
    verdict = recommend(_findings(idle=10.0))
    assert not verdict.survivors["ws"][0]
    assert "--ws-heartbeat below 10" in verdict.survivors["ws"][1]
    assert verdict.transport == "HTTP long-poll with wait=8"
    fast = recommend(_findings(idle=10.0, ws_heartbeat=3.0, sse_ping_interval=3.0))
    assert fast.survivors["ws"][0]
    assert fast.survivors["sse"][0]
    assert fast.transport == "WebSocket"


def test_silent_drops_are_bracketed() -> None:
    probe = IdleProbe(budget_s=20, alive_s=5.0, dead_s=7.5)
    assert probe.timeout_s == 7.5
    assert "between 5.0 and 7.5 s" in probe.text()


async def test_a_silent_drop_is_found_by_bisection() -> None:
    """A path that forgets quiet connections without closing them (a NAT): requests after
    0.5 s of quiet go nowhere. The doctor brackets the timeout instead of seeing a close."""
    forget_after_s = 0.5

    async def forgetful(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        last = time.monotonic()
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while await reader.readuntil(b"\r\n\r\n"):
                if time.monotonic() - last > forget_after_s:
                    continue  # forgotten: the request is swallowed, nothing is closed
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
                last = time.monotonic()
        writer.close()

    server = await asyncio.start_server(forgetful, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        base = URL.build(scheme="http", host="127.0.0.1", port=port)
        probe = await find_idle_timeout(base, budget_s=2.0, answer_s=1.0)
    assert probe.cut_s is None  # nothing was closed on us
    assert probe.alive_s < forget_after_s  # a connection that lived was quiet for less
    assert probe.dead_s is not None
    assert probe.alive_s < probe.dead_s <= 2.0
