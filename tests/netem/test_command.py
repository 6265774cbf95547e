"""`python -m client netem` as a user runs it: banner, traffic, counters, Ctrl-C."""

from __future__ import annotations

import re
import signal
import time

import aiohttp
import pytest

from tests.processes import ServerProcess, finish, start_client


@pytest.mark.slow
async def test_netem_command_relays_with_delay_and_reports_connections() -> None:
    server = ServerProcess()
    await server.start()
    try:
        process, lines = await start_client(
            "netem", "--listen", "127.0.0.1:0", "--to", server.url, "--delay", "25ms"
        )
        banner = await lines.until(lambda line: line.startswith("netem: listening on"))
        assert "delay 25 ms each way" in banner
        found = re.search(r"http://127\.0\.0\.1:(\d+)", banner)
        assert found is not None
        proxy = f"http://127.0.0.1:{found[1]}"
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"{proxy}/ws/echo") as ws,
        ):
            started = time.perf_counter()
            await ws.send_str("ping")
            assert (await ws.receive(timeout=10)).data == "ping"
            assert time.perf_counter() - started >= 2 * 0.025
        counters = await lines.until(lambda line: line.startswith("#1 "))
        assert re.search(r"up \d+ B, down \d+ B", counters)
        process.send_signal(signal.SIGINT)
        summary = await lines.until(lambda line: "connection(s)" in line)
        assert summary.startswith("netem: 1 connection(s)")
        assert await finish(process) == 130
    finally:
        await server.stop()


async def test_bad_conditions_are_usage_errors() -> None:
    process, lines = await start_client("netem", "--delay", "fast")
    output = await lines.rest()
    assert await finish(process) == 2
    assert any("expected a duration" in line for line in output)
