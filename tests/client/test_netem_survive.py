"""`bench survive --netem idle-timeout=...`: keep-alives below the timeout keep WebSocket and
SSE alive, slower ones do not, and a long-poll that waits longer than the timeout is cut."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from tests.client.conftest import CliRunner, known_settings


async def _survive(cli: CliRunner, url: str) -> dict[str, dict[str, Any]]:
    run = await cli(
        "bench", "survive", "--hold", "2", "--netem", "idle-timeout=1s", "--json", "--url", url
    )
    assert run.code == 0, run.err
    _meta, *rows = run.json_lines()
    return {row["protocol"]: row for row in rows}


@pytest.mark.slow
async def test_fast_keepalives_survive_and_a_long_wait_is_cut(
    cli: CliRunner, start_server: Callable[..., Awaitable[TestServer]]
) -> None:
    server = await start_server(**known_settings(ws_heartbeat=0.3, sse_ping_interval=0.3))
    rows = await _survive(cli, str(server.make_url("")).rstrip("/"))
    assert {name: row["survived"] for name, row in rows.items()} == {
        "ws": 1,
        "sse": 1,
        "longpoll": 0,
    }
    assert rows["longpoll"]["lived_s"] >= 1.0  # never cut before the timeout
    assert all(row["conditions"] == "idle-timeout=1s" for row in rows.values())


@pytest.mark.slow
async def test_slow_keepalives_are_cut_at_the_timeout(cli: CliRunner, url: str) -> None:
    rows = await _survive(cli, url)  # the server pings every 20 s, comments every 15 s
    assert {name: row["survived"] for name, row in rows.items()} == {
        "ws": 0,
        "sse": 0,
        "longpoll": 0,
    }
    assert min(row["lived_s"] for row in rows.values()) >= 1.0
