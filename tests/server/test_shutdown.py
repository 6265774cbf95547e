"""`python -m server` as a user runs it: it prints its URL and stops promptly on Ctrl-C."""

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import WSMsgType

from client.sse_parser import EventStreamParser
from tests.processes import ServerProcess


@pytest.fixture
async def running_server() -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """`python -m server --port 0` in a subprocess, and the URL its banner named."""
    server = ServerProcess()
    await server.start()
    assert server.process is not None
    yield server.process, server.url
    await server.stop(signal.SIGKILL)


async def test_ctrl_c_with_open_connections_of_every_kind(running_server) -> None:
    process, url = running_server
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{url}/ws/echo")
        stream = await session.get(f"{url}/sse/stream?interval=60000")
        await stream.content.readuntil(b"\r\n\r\n")  # the retry field: the stream is live
        async with session.get(f"{url}/http/echo") as response:  # an idle keep-alive socket
            assert response.status == 200
        # A client that left without closing: its SSE handler sleeps between ticks.
        departed = await session.get(f"{url}/sse/stream?interval=60000")
        departed.close()

        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.CLOSE
        assert msg.data == aiohttp.WSCloseCode.GOING_AWAY
        assert msg.extra == "server shutting down"
        rest = await asyncio.wait_for(stream.content.read(), 5)  # ends, not hangs
        # Tick 1 goes out at once, the next one only after a minute: the stream ends after it.
        events = EventStreamParser().feed(rest)
        assert [(event.type, event.last_event_id) for event in events] == [("tick", "1")]
        assert await asyncio.wait_for(process.wait(), 5) == 0
        assert time.monotonic() - started < 3
        await ws.close()
        stream.close()


async def test_banner_and_port_zero(running_server) -> None:
    _, url = running_server
    assert not url.endswith(":0")
    async with aiohttp.ClientSession() as session, session.get(f"{url}/healthz") as response:
        assert await response.text() == "ok"


async def test_port_in_use_is_one_line_error(running_server) -> None:
    _, url = running_server
    port = url.rsplit(":", 1)[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        "--port",
        port,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 1
    assert b"Traceback" not in stderr
    assert b"error:" in stderr
